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
use deckcast_protocol::recording::RecordingStatus;
use deckcast_protocol::targets::{TargetState, VideoBitrate};

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
    /// Its dedicated encoder's video bitrate (none: OBS's shared encoder).
    pub video_bitrate: Option<VideoBitrate>,
    /// Active targets on the same encoders, itself included.
    pub encoder_users: u32,
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
    /// Targets protection stopped and holds stopped: (target id, why).
    pub held: &'a [(String, String)],
    /// OBS's recording as the plugin last reported it (none: not known).
    pub recording: Option<&'a RecordingStatus>,
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

/// A target's counters over time, one point per observation: (ms, dropped, frames, reconnects).
type Track = VecDeque<(i64, u64, u64, u32)>;

/// Seconds of history kept (the longest window a rule allows).
const KEEP_MS: i64 = 3_600_000;

/// OBS stops a recording by itself when less than this is free on its disk (50 MiB:
/// `MBYTES_LEFT_STOP_REC` in OBS's UI).
pub const OBS_STOPS_RECORDING_BELOW: u64 = 50 * 1024 * 1024;

/// Frames a window needs before a percentage means anything.
const MIN_FRAMES: u64 = 30;

/// The evaluator's state.
#[derive(Debug, Default)]
pub struct Evaluator {
    conds: BTreeMap<Key, Cond>,
    targets: BTreeMap<String, Track>,
    stats: VecDeque<(i64, ObsStats)>,
    audio_window: VecDeque<(u32, u32)>,
    silent_ms: i64,
    silent_loudest: f64,
    last_block_ms: i64,
    last_ms: Option<i64>,
    seen_connected: bool,
    dead_seen_ms: Option<i64>,
    events: Vec<Happened>,
    /// The running recording's bytes over time: (ms, bytes).
    recorded: VecDeque<(i64, u64)>,
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
                AlertKind::TargetStopped,
            ] {
                let v = if kind == AlertKind::TargetStopped {
                    held_verdict(rules, t, o.held)
                } else if rules.on_for(kind, Some(&t.id)) {
                    self.target_verdict(rules, kind, t)
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
            AlertKind::DiskSpace,
            AlertKind::KeyringLocked,
            AlertKind::WebhooksDead,
            AlertKind::SetFailed,
            AlertKind::RecordingStopped,
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
            let points = self.targets.entry(t.id.clone()).or_default();
            // Counters start over when an output restarts: so does the history.
            if let Some(&(_, d, tot, r)) = points.back()
                && (t.dropped_frames < d || t.total_frames < tot || t.reconnects < r)
            {
                points.clear();
            }
            points.push_back((now, t.dropped_frames, t.total_frames, t.reconnects));
            while points.front().is_some_and(|p| now - p.0 > KEEP_MS) {
                points.pop_front();
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
        match o.recording {
            Some(r) if r.active => {
                if self.recorded.back().is_some_and(|&(_, b)| r.bytes < b) {
                    self.recorded.clear(); // a new recording
                }
                if self.recorded.back().is_none_or(|&(_, b)| r.bytes != b) {
                    self.recorded.push_back((now, r.bytes));
                }
                while self.recorded.front().is_some_and(|p| now - p.0 > 120_000) {
                    self.recorded.pop_front();
                }
            }
            Some(_) => self.recorded.clear(),
            None => {}
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
}

/// Whether protection holds `t` stopped (raised whatever the target's own alert switch says:
/// a target Deckcast stopped must never go unmentioned, unless the rule is off).
fn held_verdict(rules: &AlertRules, t: &TargetSeen, held: &[(String, String)]) -> Verdict {
    match held.iter().find(|(id, _)| *id == t.id) {
        Some((_, why)) if rules.rule(AlertKind::TargetStopped).enabled => Verdict::Bad {
            value: 1.0,
            message: why.clone(),
        },
        Some(_) => Verdict::Good {
            message: "the rule was turned off".into(),
        },
        None => Verdict::Good {
            message: format!("{} was started again", t.name),
        },
    }
}

/// The worse of two values for `kind` (lower is worse for bitrate and disk time left, higher
/// for the rest).
fn worse(kind: AlertKind, a: f64, b: f64) -> f64 {
    if matches!(kind, AlertKind::LowBitrate | AlertKind::DiskSpace) {
        a.min(b)
    } else {
        a.max(b)
    }
}

#[cfg(test)]
mod tests;
mod verdicts;
