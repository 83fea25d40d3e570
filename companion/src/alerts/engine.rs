//! The evaluator: fed about twice a second with an [`Observation`], it works out for every rule (and
//! every target, for per-target rules) whether the condition is bad, good or in between, and
//! raises or clears alerts with hysteresis:
//!
//! - an alert is raised once the condition has been bad for the rule's duration (window rules,
//!   which already integrate over time, at once);
//! - it clears only after the condition has been good for the rule's `clearSeconds`, where "good"
//!   is stricter than "not bad" (drops below half the threshold, bitrate 10 points above it, ...);
//!   in between nothing changes. A flapping link therefore gives one alert per episode.
//!
//! Pure: no I/O, no clock of its own (`now_ms` comes in), so unit tests drive hours in microseconds.
use std::collections::{BTreeMap, VecDeque};

use deckcast_protocol::audio::AudioBlock;
use deckcast_protocol::targets::TargetState;

use super::rules::{AlertRules, spec};
use super::{AlertKind, Severity};
use crate::obs::{MainStream, ObsStats};

/// What the evaluator needs to know of one target (the alert task fills it from the live
/// picture's tiles).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSeen {
    /// Target id.
    pub id: String,
    /// Name.
    pub name: String,
    /// State.
    pub state: TargetState,
    /// Last error.
    pub last_error: Option<String>,
    /// Bitrate now.
    pub kbps: f64,
    /// What its encoders are set to, if known.
    pub expected_kbps: Option<u32>,
    /// Frames dropped since its output started.
    pub dropped_frames: u64,
    /// Frames sent since its output started.
    pub total_frames: u64,
    /// Reconnects since the last manual start.
    pub reconnects: u32,
    /// Congestion 0–1.
    pub congestion: f64,
    /// Seconds live.
    pub uptime_sec: f64,
}

fn state_name(s: TargetState) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What the plugin's audio meter delivered since the last observation.
#[derive(Debug, Clone, Copy)]
pub enum Audio<'a> {
    /// Nothing is measured (OBS is not connected, or the plugin has no meter).
    Unmeasured,
    /// New blocks (possibly none), and whether the meter hears its source at all.
    Blocks {
        /// False: the chosen source does not exist (the stream hears nothing from it).
        attached: bool,
        /// New blocks, oldest first.
        blocks: &'a [AudioBlock],
    },
}

/// Something that happened once and is worth an alert for a while (a set failed to start).
#[derive(Debug, Clone, PartialEq)]
pub struct Happened {
    /// The rule.
    pub kind: AlertKind,
    /// What happened, for people.
    pub message: String,
    /// When (Unix ms).
    pub at_ms: i64,
}

/// Everything the evaluator looks at, on every tick.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// Now (Unix ms).
    pub now_ms: i64,
    /// The companion is connected to OBS (and the plugin answers).
    pub obs_connected: bool,
    /// OBS said it is shutting down (a deliberate exit is no alert).
    pub obs_closing: bool,
    /// OBS's own stream.
    pub main_stream: &'a MainStream,
    /// OBS's counters.
    pub stats: Option<&'a ObsStats>,
    /// The targets.
    pub targets: &'a [TargetSeen],
    /// The audio meter.
    pub audio: Audio<'a>,
    /// Why the keyring is unusable, if it is.
    pub keyring_problem: Option<&'a str>,
    /// Webhooks given up on so far, and when the newest was (Unix ms).
    pub webhooks_dead: (i64, Option<i64>),
    /// One-off events since the last observation.
    pub happened: &'a [Happened],
}

/// Which alert: a rule, and the target for per-target rules.
pub type Key = (AlertKind, Option<String>);

/// What changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// A new alert.
    Raise {
        /// Which.
        key: Key,
        /// How bad.
        severity: Severity,
        /// The target's name, for per-target rules.
        target_name: Option<String>,
        /// What is wrong, with the measured value.
        message: String,
        /// The measured value.
        value: f64,
        /// The threshold it crossed.
        threshold: f64,
    },
    /// An alert is over.
    Clear {
        /// Which.
        key: Key,
        /// What it came to, with the value now.
        message: String,
        /// The worst value while it held.
        worst: f64,
    },
}

/// One condition's verdict this second.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    /// Bad: counts towards raising.
    Bad { value: f64, message: String },
    /// Good: counts towards clearing.
    Good { message: String },
    /// In the hysteresis band, or not measurable: nothing moves.
    Hold,
}

#[derive(Debug, Clone, Default)]
struct Cond {
    bad_since: Option<i64>,
    good_since: Option<i64>,
    raised: bool,
    worst: f64,
}

/// A target's counters at one observation: dropped frames, frames, reconnects.
type Counters = (u64, u64, u32);

/// Per-target counters over time (one point per observation).
#[derive(Debug, Clone, Default)]
struct TargetTrack {
    name: String,
    points: VecDeque<(i64, u64, u64, u32)>,
}

/// Seconds of history kept (the longest window a rule allows).
const KEEP_MS: i64 = 3_600_000;

/// Frames a window needs before a percentage means anything.
const MIN_FRAMES: u64 = 30;

/// The evaluator's state.
#[derive(Debug, Default)]
pub struct Evaluator {
    conds: BTreeMap<Key, Cond>,
    targets: BTreeMap<String, TargetTrack>,
    stats: VecDeque<(i64, ObsStats)>,
    audio_window: VecDeque<(u32, u32)>,
    silent_ms: i64,
    silent_loudest: f64,
    last_block_ms: i64,
    last_ms: Option<i64>,
    seen_connected: bool,
    dead_seen_ms: Option<i64>,
    events: Vec<Happened>,
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

impl Evaluator {
    /// A fresh evaluator (nothing raised).
    pub fn new() -> Evaluator {
        Evaluator::default()
    }

    /// How long the audio has been below the dead-air level (ms).
    pub fn silent_ms(&self) -> i64 {
        self.silent_ms
    }

    /// Keys of the alerts it holds raised.
    pub fn raised(&self) -> Vec<Key> {
        self.conds
            .iter()
            .filter(|(_, c)| c.raised)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Looks at `o` under `rules`; returns what was raised and cleared.
    pub fn observe(&mut self, rules: &AlertRules, o: &Observation<'_>) -> Vec<Transition> {
        let now = o.now_ms;
        let dt = self.last_ms.map_or(1000, |t| (now - t).clamp(0, 10_000));
        self.last_ms = Some(now);
        self.track(o);
        let mut verdicts: Vec<(Key, Option<String>, Verdict)> = Vec::new();
        for t in o.targets {
            for kind in [
                AlertKind::TargetDrops,
                AlertKind::LowBitrate,
                AlertKind::ReconnectStorm,
                AlertKind::TargetError,
                AlertKind::Congestion,
            ] {
                let v = if rules.on_for(kind, Some(&t.id)) {
                    self.target_verdict(rules, kind, t, now)
                } else {
                    Verdict::Good {
                        message: "alerts for this target are off".into(),
                    }
                };
                verdicts.push(((kind, Some(t.id.clone())), Some(t.name.clone()), v));
            }
        }
        // Targets that are gone: their alerts clear.
        let present: Vec<&str> = o.targets.iter().map(|t| t.id.as_str()).collect();
        for (key, c) in &self.conds {
            if let Some(id) = &key.1
                && !present.contains(&id.as_str())
                && c.raised
            {
                verdicts.push((
                    key.clone(),
                    None,
                    Verdict::Good {
                        message: "the target was deleted".into(),
                    },
                ));
            }
        }
        self.targets.retain(|id, _| present.contains(&id.as_str()));
        for kind in [
            AlertKind::RenderLag,
            AlertKind::EncodeLag,
            AlertKind::ObsDisconnected,
            AlertKind::MainStreamDropped,
            AlertKind::DeadAir,
            AlertKind::Clipping,
            AlertKind::KeyringLocked,
            AlertKind::WebhooksDead,
            AlertKind::SetFailed,
        ] {
            let v = if rules.on_for(kind, None) {
                self.global_verdict(rules, kind, o, dt)
            } else {
                Verdict::Good {
                    message: "the rule was turned off".into(),
                }
            };
            verdicts.push(((kind, None), None, v));
        }
        let mut out = Vec::new();
        for (key, name, v) in verdicts {
            let gone = key
                .1
                .as_ref()
                .is_some_and(|id| !present.contains(&id.as_str()));
            let rule = rules.rule(key.0);
            let threshold = match &key.1 {
                Some(id) => rules.threshold_for(key.0, id),
                None => rule.threshold,
            };
            // Dead air counts its silence itself (in audio blocks, not observations).
            let hold_ms = match spec(key.0).seconds_meaning {
                "duration" if key.0 != AlertKind::DeadAir => i64::from(rule.seconds) * 1000,
                _ => 0,
            };
            let clear_ms = if gone || !rules.on_for(key.0, key.1.as_deref()) {
                0
            } else {
                i64::from(rule.clear_seconds) * 1000
            };
            let c = self.conds.entry(key.clone()).or_default();
            match v {
                Verdict::Bad { value, message } => {
                    c.good_since = None;
                    let since = *c.bad_since.get_or_insert(now);
                    if c.raised {
                        c.worst = worse(key.0, c.worst, value);
                    } else if now - since >= hold_ms {
                        c.raised = true;
                        c.worst = value;
                        out.push(Transition::Raise {
                            key: key.clone(),
                            severity: key.0.severity(),
                            target_name: name,
                            message,
                            value,
                            threshold,
                        });
                    }
                }
                Verdict::Good { message } => {
                    c.bad_since = None;
                    if c.raised {
                        let since = *c.good_since.get_or_insert(now);
                        if now - since >= clear_ms {
                            c.raised = false;
                            c.good_since = None;
                            out.push(Transition::Clear {
                                key: key.clone(),
                                message,
                                worst: c.worst,
                            });
                        }
                    }
                }
                Verdict::Hold => {
                    if c.raised {
                        c.good_since = None;
                    } else {
                        c.bad_since = None;
                    }
                }
            }
        }
        self.conds.retain(|k, c| {
            c.raised || k.1.as_ref().is_none_or(|id| present.contains(&id.as_str()))
        });
        out
    }

    /// Keeps the counters the window rules need.
    fn track(&mut self, o: &Observation<'_>) {
        let now = o.now_ms;
        for t in o.targets {
            let tr = self.targets.entry(t.id.clone()).or_default();
            tr.name.clone_from(&t.name);
            // Counters start over when an output restarts: so does the history.
            if let Some(&(_, d, tot, r)) = tr.points.back()
                && (t.dropped_frames < d || t.total_frames < tot || t.reconnects < r)
            {
                tr.points.clear();
            }
            tr.points
                .push_back((now, t.dropped_frames, t.total_frames, t.reconnects));
            while tr.points.front().is_some_and(|p| now - p.0 > KEEP_MS) {
                tr.points.pop_front();
            }
        }
        if let Some(s) = o.stats {
            if let Some((_, last)) = self.stats.back()
                && (s.render_total_frames < last.render_total_frames
                    || s.output_total_frames < last.output_total_frames)
            {
                self.stats.clear();
            }
            self.stats.push_back((now, s.clone()));
            while self.stats.front().is_some_and(|p| now - p.0 > 300_000) {
                self.stats.pop_front();
            }
        }
        if o.obs_connected {
            self.seen_connected = true;
        }
        // A dead letter given up on since the last look (by time, so old ones read at start are
        // no news) is an event.
        let (dead, last_dead) = o.webhooks_dead;
        if let Some(at) = last_dead
            && self.dead_seen_ms.is_none_or(|seen| at > seen)
            && now - at <= 86_400_000
        {
            if self.dead_seen_ms.is_some() || now - at <= 60_000 {
                self.events.push(Happened {
                    kind: AlertKind::WebhooksDead,
                    message: format!(
                        "webhooks to the streamer's site were given up on ({dead} in the outbox's dead letters)"
                    ),
                    at_ms: at,
                });
            }
            self.dead_seen_ms = Some(at);
        }
        self.events.extend(o.happened.iter().cloned());
        self.events.retain(|e| now - e.at_ms <= 86_400_000);
        if self.events.len() > 100 {
            let cut = self.events.len() - 100;
            self.events.drain(..cut);
        }
    }

    /// The counters `window_ms` ago (the oldest point inside the window) and now.
    fn target_window(&self, id: &str, window_ms: i64) -> Option<(Counters, Counters)> {
        let pts = &self.targets.get(id)?.points;
        let last = pts.back()?;
        let first = pts.iter().find(|p| last.0 - p.0 <= window_ms)?;
        Some(((first.1, first.2, first.3), (last.1, last.2, last.3)))
    }

    fn target_verdict(
        &self,
        rules: &AlertRules,
        kind: AlertKind,
        t: &TargetSeen,
        _now: i64,
    ) -> Verdict {
        let rule = rules.rule(kind);
        let thr = rules.threshold_for(kind, &t.id);
        let active = t.state.is_active();
        match kind {
            AlertKind::TargetDrops => {
                if !active {
                    return Verdict::Good {
                        message: "the target stopped".into(),
                    };
                }
                let Some(((d0, f0, _), (d1, f1, _))) =
                    self.target_window(&t.id, i64::from(rule.seconds) * 1000)
                else {
                    return Verdict::Hold;
                };
                let (dropped, frames) = (d1 - d0, f1 - f0);
                if frames < MIN_FRAMES && dropped == 0 {
                    return Verdict::Hold;
                }
                let p = if frames == 0 {
                    100.0
                } else {
                    pct(dropped, frames)
                };
                if p > thr {
                    Verdict::Bad {
                        value: p,
                        message: format!(
                            "{} dropped {p:.1} % of its frames in the last {} s ({dropped} of {frames}; alert above {thr} %): its link cannot carry the stream",
                            t.name, rule.seconds
                        ),
                    }
                } else if p <= thr / 2.0 {
                    Verdict::Good {
                        message: format!("{} drops {p:.1} % of its frames again", t.name),
                    }
                } else {
                    Verdict::Hold
                }
            }
            AlertKind::LowBitrate => {
                let Some(expected) = t.expected_kbps.filter(|e| *e > 0) else {
                    return Verdict::Hold;
                };
                if t.state != TargetState::Live {
                    return Verdict::Good {
                        message: "the target is not live".into(),
                    };
                }
                if t.uptime_sec < 5.0 {
                    return Verdict::Hold;
                }
                let ratio = t.kbps * 100.0 / f64::from(expected);
                if ratio < thr {
                    Verdict::Bad {
                        value: ratio,
                        message: format!(
                            "{} sends {:.0} kbit/s, {ratio:.0} % of the {expected} kbit/s its encoder makes (alert below {thr} % for {} s)",
                            t.name, t.kbps, rule.seconds
                        ),
                    }
                } else if ratio >= (thr + 10.0).min(100.0) {
                    Verdict::Good {
                        message: format!("{} sends {:.0} kbit/s again", t.name, t.kbps),
                    }
                } else {
                    Verdict::Hold
                }
            }
            AlertKind::ReconnectStorm => {
                let Some(((_, _, r0), (_, _, r1))) =
                    self.target_window(&t.id, i64::from(rule.seconds) * 1000)
                else {
                    return Verdict::Hold;
                };
                let n = f64::from(r1 - r0);
                let message = format!(
                    "{} reconnected {n:.0} times in the last {} s",
                    t.name, rule.seconds
                );
                if n >= thr {
                    Verdict::Bad { value: n, message }
                } else {
                    Verdict::Good { message }
                }
            }
            AlertKind::TargetError => {
                if t.state == TargetState::Error {
                    Verdict::Bad {
                        value: 1.0,
                        message: format!(
                            "{} failed: {}",
                            t.name,
                            t.last_error.as_deref().unwrap_or("no reason given")
                        ),
                    }
                } else {
                    Verdict::Good {
                        message: format!("{} is {}", t.name, state_name(t.state)),
                    }
                }
            }
            AlertKind::Congestion => {
                if !active {
                    return Verdict::Good {
                        message: "the target stopped".into(),
                    };
                }
                if t.congestion >= thr {
                    Verdict::Bad {
                        value: t.congestion,
                        message: format!(
                            "{}'s link is congested ({:.2}, alert at {thr} for {} s)",
                            t.name, t.congestion, rule.seconds
                        ),
                    }
                } else if t.congestion < (thr - 0.2).max(0.0) {
                    Verdict::Good {
                        message: format!("{}'s congestion is {:.2} again", t.name, t.congestion),
                    }
                } else {
                    Verdict::Hold
                }
            }
            _ => Verdict::Hold,
        }
    }

    fn lag_verdict(&self, kind: AlertKind, thr: f64, window_s: u32) -> Verdict {
        let Some((t1, last)) = self.stats.back() else {
            return Verdict::Hold;
        };
        let window_ms = i64::from(window_s) * 1000;
        let Some((t0, first)) = self.stats.iter().find(|(t, _)| t1 - t <= window_ms) else {
            return Verdict::Hold;
        };
        // A window that has only just begun (OBS or the companion starting) says nothing yet:
        // a few frames skipped while outputs start would look like a huge share.
        if t1 - t0 < window_ms / 2 {
            return Verdict::Hold;
        }
        let (what, skipped, total) = if kind == AlertKind::RenderLag {
            (
                "OBS's renderer skipped",
                last.render_skipped_frames
                    .saturating_sub(first.render_skipped_frames),
                last.render_total_frames
                    .saturating_sub(first.render_total_frames),
            )
        } else {
            (
                "OBS's encoder skipped",
                last.output_skipped_frames
                    .saturating_sub(first.output_skipped_frames),
                last.output_total_frames
                    .saturating_sub(first.output_total_frames),
            )
        };
        if u64::from(total) < MIN_FRAMES {
            return Verdict::Hold;
        }
        let p = pct(u64::from(skipped), u64::from(total));
        if p > thr {
            Verdict::Bad {
                value: p,
                message: format!(
                    "{what} {p:.1} % of its frames in the last {window_s} s ({skipped} of {total}): the computer is overloaded"
                ),
            }
        } else if p <= thr / 2.0 {
            Verdict::Good {
                message: format!("{what} {p:.1} % of its frames"),
            }
        } else {
            Verdict::Hold
        }
    }

    fn global_verdict(
        &mut self,
        rules: &AlertRules,
        kind: AlertKind,
        o: &Observation<'_>,
        dt: i64,
    ) -> Verdict {
        let rule = rules.rule(kind);
        let thr = rule.threshold;
        let live = o.main_stream.active || o.targets.iter().any(|t| t.state.is_active());
        let source = if rules.audio_source.is_empty() {
            "the program audio".to_owned()
        } else {
            format!("the audio of {:?}", rules.audio_source)
        };
        match kind {
            AlertKind::RenderLag | AlertKind::EncodeLag => {
                if !o.obs_connected {
                    return Verdict::Hold;
                }
                self.lag_verdict(kind, thr, rule.seconds)
            }
            AlertKind::ObsDisconnected => {
                if o.obs_connected {
                    Verdict::Good {
                        message: "OBS is connected again".into(),
                    }
                } else if self.seen_connected && !o.obs_closing {
                    Verdict::Bad {
                        value: 0.0,
                        message: format!(
                            "the companion lost OBS (for {} s now): targets, alerts and the dashboard know nothing until it is back",
                            rule.seconds
                        ),
                    }
                } else {
                    Verdict::Good {
                        message: "OBS was closed".into(),
                    }
                }
            }
            AlertKind::MainStreamDropped => {
                if !o.obs_connected {
                    return Verdict::Hold;
                }
                if o.main_stream.reconnecting {
                    Verdict::Bad {
                        value: 0.0,
                        message: "OBS's own stream lost its connection and is reconnecting".into(),
                    }
                } else {
                    Verdict::Good {
                        message: if o.main_stream.active {
                            "OBS's own stream is live again".into()
                        } else {
                            "OBS's own stream is not reconnecting any more".into()
                        },
                    }
                }
            }
            AlertKind::DeadAir => {
                match o.audio {
                    Audio::Unmeasured => return Verdict::Hold,
                    Audio::Blocks { attached, blocks } => {
                        if !blocks.is_empty() {
                            self.last_block_ms = o.now_ms;
                        }
                        // Nothing reaches the meter (no such source, or no block for a second):
                        // the stream hears nothing either.
                        if !attached || o.now_ms - self.last_block_ms > 1000 {
                            self.silent_ms += dt;
                        }
                        for b in blocks {
                            if b.peak_dbfs >= thr {
                                self.silent_ms = 0;
                                self.silent_loudest = deckcast_protocol::audio::SILENCE_DBFS;
                            } else {
                                if self.silent_ms == 0 {
                                    self.silent_loudest = deckcast_protocol::audio::SILENCE_DBFS;
                                }
                                self.silent_ms += i64::from(deckcast_protocol::audio::BLOCK_MS);
                                self.silent_loudest = self.silent_loudest.max(b.peak_dbfs);
                            }
                        }
                        if !attached {
                            self.silent_loudest = deckcast_protocol::audio::SILENCE_DBFS;
                        }
                    }
                }
                let silent_s = self.silent_ms as f64 / 1000.0;
                if !live {
                    return Verdict::Good {
                        message: "nothing is live".into(),
                    };
                }
                if self.silent_ms >= i64::from(rule.seconds) * 1000 {
                    let why = match o.audio {
                        Audio::Blocks {
                            attached: false, ..
                        } => " (the meter finds no such source)".to_owned(),
                        _ if self.silent_loudest <= deckcast_protocol::audio::SILENCE_DBFS => {
                            " (digital silence)".to_owned()
                        }
                        _ => format!(", loudest {:.1} dBFS", self.silent_loudest),
                    };
                    Verdict::Bad {
                        value: silent_s,
                        message: format!(
                            "{source} has been below {thr} dBFS for {silent_s:.1} s{why} while live"
                        ),
                    }
                } else if self.silent_ms == 0 {
                    Verdict::Good {
                        message: format!("{source} is back"),
                    }
                } else {
                    Verdict::Hold
                }
            }
            AlertKind::Clipping => {
                let Audio::Blocks { blocks, .. } = o.audio else {
                    return Verdict::Hold;
                };
                for b in blocks {
                    self.audio_window.push_back((b.clipped_frames, b.frames));
                }
                let keep = (rule.seconds as usize * 1000
                    / deckcast_protocol::audio::BLOCK_MS as usize)
                    .max(1);
                while self.audio_window.len() > keep {
                    self.audio_window.pop_front();
                }
                let (clipped, frames) = self
                    .audio_window
                    .iter()
                    .fold((0u64, 0u64), |(c, f), (bc, bf)| {
                        (c + u64::from(*bc), f + u64::from(*bf))
                    });
                if self.audio_window.len() * 2 < keep || frames == 0 {
                    return Verdict::Hold;
                }
                let p = pct(clipped, frames);
                if p > thr {
                    Verdict::Bad {
                        value: p,
                        message: format!(
                            "{source} reached −0.5 dBFS in {p:.1} % of the last {} s (alert above {thr} %)",
                            rule.seconds
                        ),
                    }
                } else if p <= thr / 2.0 {
                    Verdict::Good {
                        message: format!("{source} clips in {p:.2} % of the window"),
                    }
                } else {
                    Verdict::Hold
                }
            }
            AlertKind::KeyringLocked => match o.keyring_problem {
                Some(why) => Verdict::Bad {
                    value: 0.0,
                    message: format!("the OS keyring cannot be used: {why}"),
                },
                None => Verdict::Good {
                    message: "the OS keyring answers again".into(),
                },
            },
            AlertKind::WebhooksDead | AlertKind::SetFailed => {
                let window = i64::from(rule.seconds) * 1000;
                let recent: Vec<&Happened> = self
                    .events
                    .iter()
                    .filter(|e| e.kind == kind && o.now_ms - e.at_ms <= window)
                    .collect();
                match recent.last() {
                    Some(e) => Verdict::Bad {
                        value: recent.len() as f64,
                        message: e.message.clone(),
                    },
                    None => Verdict::Good {
                        message: format!("nothing new in the last {} min", rule.seconds / 60),
                    },
                }
            }
            _ => Verdict::Hold,
        }
    }
}

/// The worse of two values for `kind` (lower is worse for bitrate, higher for the rest).
fn worse(kind: AlertKind, a: f64, b: f64) -> f64 {
    if kind == AlertKind::LowBitrate {
        a.min(b)
    } else {
        a.max(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::RulesPatch;

    fn tile(id: &str) -> TargetSeen {
        TargetSeen {
            id: id.into(),
            name: format!("T-{id}"),
            state: TargetState::Live,
            last_error: None,
            kbps: 2600.0,
            expected_kbps: Some(2660),
            dropped_frames: 0,
            total_frames: 0,
            reconnects: 0,
            congestion: 0.0,
            uptime_sec: 60.0,
        }
    }

    fn block(seq: u64, peak: f64, clipped: u32) -> AudioBlock {
        AudioBlock {
            seq,
            peak_dbfs: peak,
            rms_dbfs: peak - 3.0,
            clipped_frames: clipped,
            frames: 4800,
        }
    }

    /// A rig: targets advance 30 frames a second; one observation per second.
    struct Rig {
        ev: Evaluator,
        rules: AlertRules,
        now: i64,
        targets: Vec<TargetSeen>,
        main: MainStream,
        obs: bool,
        closing: bool,
        seq: u64,
        level: f64,
        clipped: u32,
        happened: Vec<Happened>,
        dead: (i64, Option<i64>),
        keyring: Option<String>,
        stats: ObsStats,
        attached: bool,
        log: Vec<(i64, Transition)>,
    }

    impl Rig {
        fn new(ids: &[&str]) -> Rig {
            Rig {
                ev: Evaluator::new(),
                rules: AlertRules::default(),
                now: 1_000_000,
                targets: ids.iter().map(|i| tile(i)).collect(),
                main: MainStream::default(),
                obs: true,
                closing: false,
                seq: 0,
                level: -12.0,
                clipped: 0,
                happened: Vec::new(),
                dead: (0, None),
                keyring: None,
                stats: ObsStats::default(),
                attached: true,
                log: Vec::new(),
            }
        }

        /// One second: every target sends 30 frames, dropping `drops[id]` of them.
        fn second(&mut self, drops: &[(&str, u64)]) -> Vec<Transition> {
            self.now += 1000;
            for t in &mut self.targets {
                if t.state.is_active() {
                    t.total_frames += 30;
                    t.dropped_frames += drops.iter().find(|(id, _)| *id == t.id).map_or(0, |d| d.1);
                }
            }
            self.stats.render_total_frames += 30;
            self.stats.output_total_frames += 30;
            let blocks: Vec<AudioBlock> = if self.attached {
                (0..10)
                    .map(|_| {
                        self.seq += 1;
                        block(self.seq, self.level, self.clipped)
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let happened = std::mem::take(&mut self.happened);
            let o = Observation {
                now_ms: self.now,
                obs_connected: self.obs,
                obs_closing: self.closing,
                main_stream: &self.main,
                stats: Some(&self.stats),
                targets: &self.targets,
                audio: if self.obs {
                    Audio::Blocks {
                        attached: self.attached,
                        blocks: &blocks,
                    }
                } else {
                    Audio::Unmeasured
                },
                keyring_problem: self.keyring.as_deref(),
                webhooks_dead: self.dead,
                happened: &happened,
            };
            let t = self.ev.observe(&self.rules, &o);
            self.log.extend(t.iter().map(|t| (self.now, t.clone())));
            t
        }

        fn seconds(&mut self, n: usize, drops: &[(&str, u64)]) {
            for _ in 0..n {
                self.second(drops);
            }
        }

        fn raised(&self, kind: AlertKind) -> Vec<(i64, Option<String>)> {
            self.log
                .iter()
                .filter_map(|(at, t)| match t {
                    Transition::Raise { key, .. } if key.0 == kind => Some((*at, key.1.clone())),
                    _ => None,
                })
                .collect()
        }

        fn cleared(&self, kind: AlertKind) -> Vec<(i64, Option<String>)> {
            self.log
                .iter()
                .filter_map(|(at, t)| match t {
                    Transition::Clear { key, .. } if key.0 == kind => Some((*at, key.1.clone())),
                    _ => None,
                })
                .collect()
        }
    }

    #[test]
    fn a_flapping_link_gives_one_alert_per_episode_for_its_target_only() {
        let mut r = Rig::new(&["a", "b", "c"]);
        r.seconds(20, &[]);
        let start = r.now;
        // The link of "b" flaps for a minute: 2 s dropping half, 1 s clean, over and over.
        for i in 0..60 {
            let d = if i % 3 == 2 { 0 } else { 15 };
            r.second(&[("b", d)]);
        }
        let raised = r.raised(AlertKind::TargetDrops);
        assert_eq!(raised.len(), 1, "{:?}", r.log);
        assert_eq!(raised[0].1.as_deref(), Some("b"));
        assert!(
            raised[0].0 - start <= 2000,
            "raised after {} ms",
            raised[0].0 - start
        );
        assert!(r.cleared(AlertKind::TargetDrops).is_empty());
        // The link recovers: the 10 s window empties, then 10 s of good clear it.
        let fixed = r.now;
        r.seconds(40, &[]);
        let cleared = r.cleared(AlertKind::TargetDrops);
        assert_eq!(cleared.len(), 1);
        let after = cleared[0].0 - fixed;
        assert!(
            (10_000..=22_000).contains(&after),
            "cleared {after} ms after the fix"
        );
        if let Some((_, Transition::Clear { worst, .. })) = r
            .log
            .iter()
            .find(|(_, t)| matches!(t, Transition::Clear { .. }))
        {
            assert!(
                (*worst - 33.3).abs() < 0.5 || *worst > 30.0,
                "worst {worst}"
            );
        }
        // A second episode is a second alert.
        r.seconds(5, &[("b", 30)]);
        assert_eq!(r.raised(AlertKind::TargetDrops).len(), 2);
    }

    #[test]
    fn a_few_drops_below_the_threshold_raise_nothing() {
        let mut r = Rig::new(&["a"]);
        // 1 frame in 300 (0.33 %) never crosses 1 %.
        for i in 0..120 {
            r.second(&[("a", u64::from(i % 10 == 0))]);
        }
        assert!(r.raised(AlertKind::TargetDrops).is_empty(), "{:?}", r.log);
    }

    #[test]
    fn a_restarted_output_starts_its_window_over() {
        let mut r = Rig::new(&["a"]);
        r.seconds(5, &[("a", 10)]);
        assert_eq!(r.raised(AlertKind::TargetDrops).len(), 1);
        // The output restarts: counters go back to zero; no bogus huge delta, it clears.
        r.targets[0].dropped_frames = 0;
        r.targets[0].total_frames = 0;
        r.seconds(25, &[]);
        assert_eq!(r.cleared(AlertKind::TargetDrops).len(), 1);
    }

    #[test]
    fn dead_air_is_raised_after_its_duration_only_while_live_and_clears_fast() {
        let mut r = Rig::new(&["a"]);
        r.seconds(3, &[]);
        let muted = r.now;
        r.level = -90.0;
        r.seconds(12, &[]);
        let raised = r.raised(AlertKind::DeadAir);
        assert_eq!(raised.len(), 1);
        let after = raised[0].0 - muted;
        // Default: 8 s below −50 dBFS; blocks come in whole seconds here.
        assert!(
            (8_000..=9_000).contains(&after),
            "raised {after} ms after muting"
        );
        if let Some((_, Transition::Raise { message, .. })) = r
            .log
            .iter()
            .find(|(_, t)| matches!(t, Transition::Raise { .. }))
        {
            assert!(message.contains("below -50 dBFS"), "{message}");
            assert!(message.contains("loudest -90.0 dBFS"), "{message}");
        }
        let back = r.now;
        r.level = -10.0;
        r.seconds(5, &[]);
        let cleared = r.cleared(AlertKind::DeadAir);
        assert_eq!(cleared.len(), 1);
        assert!(cleared[0].0 - back <= 3_000);
        // Silence while nothing is live is no alert.
        r.targets[0].state = TargetState::Idle;
        r.level = -90.0;
        r.seconds(30, &[]);
        assert_eq!(r.raised(AlertKind::DeadAir).len(), 1);
        // Going live into silence that already lasts: raised at once.
        r.targets[0].state = TargetState::Live;
        r.seconds(1, &[]);
        assert_eq!(r.raised(AlertKind::DeadAir).len(), 2);
    }

    #[test]
    fn a_metered_source_that_is_gone_is_dead_air_too() {
        let mut r = Rig::new(&["a"]);
        r.seconds(3, &[]);
        r.attached = false;
        r.seconds(9, &[]);
        let raised: Vec<String> = r
            .log
            .iter()
            .filter_map(|(_, t)| match t {
                Transition::Raise { key, message, .. } if key.0 == AlertKind::DeadAir => {
                    Some(message.clone())
                }
                _ => None,
            })
            .collect();
        assert_eq!(raised.len(), 1, "{:?}", r.log);
        assert!(raised[0].contains("finds no such source"), "{raised:?}");
        r.attached = true;
        r.seconds(4, &[]);
        assert_eq!(r.cleared(AlertKind::DeadAir).len(), 1);
    }

    #[test]
    fn clipping_needs_its_share_of_the_window() {
        let mut r = Rig::new(&["a"]);
        r.clipped = 24; // 0.5 % of each block
        r.seconds(20, &[]);
        assert!(r.raised(AlertKind::Clipping).is_empty());
        r.clipped = 480; // 10 %
        r.seconds(3, &[]);
        assert_eq!(r.raised(AlertKind::Clipping).len(), 1);
        r.clipped = 0;
        r.seconds(20, &[]);
        assert_eq!(r.cleared(AlertKind::Clipping).len(), 1);
    }

    #[test]
    fn low_bitrate_and_congestion_hold_for_their_duration() {
        let mut r = Rig::new(&["a", "b"]);
        r.seconds(2, &[]);
        r.targets[0].kbps = 900.0; // 34 % of 2660
        r.targets[1].congestion = 0.9;
        r.seconds(9, &[]);
        assert!(r.raised(AlertKind::LowBitrate).is_empty());
        assert!(r.raised(AlertKind::Congestion).is_empty());
        r.seconds(2, &[]);
        assert_eq!(
            r.raised(AlertKind::LowBitrate)
                .iter()
                .map(|x| x.1.clone())
                .collect::<Vec<_>>(),
            [Some("a".to_owned())]
        );
        assert_eq!(r.raised(AlertKind::Congestion).len(), 1);
        // In the hysteresis band (55 % < 60 %): still raised.
        r.targets[0].kbps = 1470.0;
        r.seconds(30, &[]);
        assert!(r.cleared(AlertKind::LowBitrate).is_empty());
        r.targets[0].kbps = 2600.0;
        r.seconds(11, &[]);
        assert_eq!(r.cleared(AlertKind::LowBitrate).len(), 1);
        // Per-target overrides: "a" off entirely.
        let p: RulesPatch =
            serde_json::from_value(serde_json::json!({"targets": {"a": {"enabled": false}}}))
                .unwrap();
        r.rules = r.rules.apply(p).unwrap();
        r.targets[0].kbps = 100.0;
        r.seconds(30, &[]);
        assert_eq!(r.raised(AlertKind::LowBitrate).len(), 1);
    }

    #[test]
    fn reconnect_storms_and_errors_are_per_target() {
        let mut r = Rig::new(&["a", "b"]);
        r.seconds(2, &[]);
        for _ in 0..3 {
            r.targets[0].reconnects += 1;
            r.seconds(20, &[]);
        }
        assert_eq!(r.raised(AlertKind::ReconnectStorm).len(), 1);
        r.targets[1].state = TargetState::Error;
        r.targets[1].last_error = Some("the server refused the stream".into());
        r.second(&[]);
        let raised = r.raised(AlertKind::TargetError);
        assert_eq!(raised, [(r.now, Some("b".to_owned()))]);
        // Deleting the target clears its alerts at once.
        r.targets.remove(1);
        r.second(&[]);
        assert_eq!(r.cleared(AlertKind::TargetError).len(), 1);
        assert!(!r.ev.raised().iter().any(|k| k.1.as_deref() == Some("b")));
    }

    #[test]
    fn obs_lost_is_an_alert_but_a_deliberate_exit_is_not() {
        let mut r = Rig::new(&[]);
        r.seconds(2, &[]);
        r.obs = false;
        r.seconds(4, &[]);
        assert!(r.raised(AlertKind::ObsDisconnected).is_empty());
        r.seconds(2, &[]);
        assert_eq!(r.raised(AlertKind::ObsDisconnected).len(), 1);
        r.obs = true;
        r.seconds(4, &[]);
        assert_eq!(r.cleared(AlertKind::ObsDisconnected).len(), 1);
        r.closing = true;
        r.obs = false;
        r.seconds(30, &[]);
        assert_eq!(r.raised(AlertKind::ObsDisconnected).len(), 1);
        // Never connected at all (the companion started before OBS): nothing.
        let mut fresh = Rig::new(&[]);
        fresh.obs = false;
        fresh.seconds(30, &[]);
        assert!(fresh.raised(AlertKind::ObsDisconnected).is_empty());
    }

    #[test]
    fn one_off_events_hold_for_their_window() {
        let mut r = Rig::new(&[]);
        r.seconds(2, &[]);
        r.happened.push(Happened {
            kind: AlertKind::SetFailed,
            message: "set 'Friday': Twitch did not start".into(),
            at_ms: r.now,
        });
        r.second(&[]);
        assert_eq!(r.raised(AlertKind::SetFailed).len(), 1);
        // Webhooks: old dead letters are no news; new ones are.
        r.dead = (2, Some(r.now));
        r.second(&[]);
        assert_eq!(r.raised(AlertKind::WebhooksDead).len(), 1);
        r.seconds(601, &[]);
        assert_eq!(r.cleared(AlertKind::SetFailed).len(), 1);
        assert_eq!(r.cleared(AlertKind::WebhooksDead).len(), 1);
        let mut old = Rig::new(&[]);
        old.dead = (5, Some(old.now - 3_600_000));
        old.seconds(3, &[]);
        assert!(old.raised(AlertKind::WebhooksDead).is_empty());
    }

    #[test]
    fn lag_and_the_keyring_and_turning_a_rule_off() {
        let mut r = Rig::new(&[]);
        r.seconds(3, &[]);
        for _ in 0..5 {
            r.stats.render_skipped_frames += 6;
            r.second(&[]);
        }
        assert_eq!(r.raised(AlertKind::RenderLag).len(), 1);
        assert!(r.raised(AlertKind::EncodeLag).is_empty());
        r.keyring = Some("locked".into());
        r.second(&[]);
        assert_eq!(r.raised(AlertKind::KeyringLocked).len(), 1);
        // Turning a rule off clears its alert right away.
        let p: RulesPatch = serde_json::from_value(
            serde_json::json!({"rules": {"keyring_locked": {"enabled": false}}}),
        )
        .unwrap();
        r.rules = r.rules.apply(p).unwrap();
        r.second(&[]);
        assert_eq!(r.cleared(AlertKind::KeyringLocked).len(), 1);
    }
}
