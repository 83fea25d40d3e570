//! What each rule says on one tick: bad (with the measured value), good, or in between. The
//! state machine around it (durations, hysteresis, transitions) is the parent module's.
use deckcast_protocol::targets::TargetState;

use super::{
    Audio, Counters, Evaluator, Happened, MIN_FRAMES, OBS_STOPS_RECORDING_BELOW, Observation,
    TargetSeen, Verdict, pct, state_name,
};
use crate::alerts::AlertKind;
use crate::alerts::rules::AlertRules;

impl Evaluator {
    /// The counters `window_ms` ago (the oldest point inside the window) and now.
    fn target_window(&self, id: &str, window_ms: i64) -> Option<(Counters, Counters)> {
        let pts = self.targets.get(id)?;
        let last = pts.back()?;
        let first = pts.iter().find(|p| last.0 - p.0 <= window_ms)?;
        Some(((first.1, first.2, first.3), (last.1, last.2, last.3)))
    }

    /// A per-target rule's verdict for `t`.
    pub(super) fn target_verdict(
        &self,
        rules: &AlertRules,
        kind: AlertKind,
        t: &TargetSeen,
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

    /// Render or encode lag: skipped frames over the window (held until half of it is seen).
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

    /// Disk space: minutes left (until OBS's own stop at [`OBS_STOPS_RECORDING_BELOW`]) where OBS records, at the bitrate the recording wrote at over
    /// the last `window_s` seconds. Good again at 1.5 × the threshold or when it stops.
    fn disk_verdict(&self, o: &Observation<'_>, minutes: f64, window_s: u32) -> Verdict {
        let Some(r) = o.recording else {
            return Verdict::Hold;
        };
        if !r.active {
            return Verdict::Good {
                message: "the recording stopped".into(),
            };
        }
        let (Some(free), Some(&(t1, b1))) = (r.free_bytes, self.recorded.back()) else {
            return Verdict::Hold;
        };
        let window = i64::from(window_s) * 1000;
        let Some(&(t0, b0)) = self.recorded.iter().find(|p| t1 - p.0 <= window) else {
            return Verdict::Hold;
        };
        // At least a few seconds of writing, or the rate means nothing yet.
        if t1 - t0 < 2_000 || b1 <= b0 {
            return Verdict::Hold;
        }
        let bytes_per_s = (b1 - b0) as f64 * 1000.0 / (t1 - t0) as f64;
        // OBS stops a recording by itself below 50 MiB free: the time left is until then.
        let usable = free.saturating_sub(OBS_STOPS_RECORDING_BELOW);
        let left_min = usable as f64 / bytes_per_s / 60.0;
        let where_ = r.directory.as_deref().unwrap_or("the recording folder");
        let mb = free as f64 / 1e6;
        let mbit = bytes_per_s * 8.0 / 1e6;
        if left_min < minutes {
            Verdict::Bad {
                value: left_min,
                message: format!(
                    "the recording in {where_} has {left_min:.1} min of disk left at {mbit:.1} Mbit/s ({mb:.0} MB free; OBS stops recording below 52 MB; alert below {minutes} min)"
                ),
            }
        } else if left_min >= minutes * 1.5 {
            Verdict::Good {
                message: format!("the recording has {left_min:.0} min of disk left"),
            }
        } else {
            Verdict::Hold
        }
    }

    /// A rule about OBS, the audio, the keyring or one-off events (`dt`: ms since the last tick).
    pub(super) fn global_verdict(
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
            AlertKind::DiskSpace => self.disk_verdict(o, thr, rule.seconds),
            AlertKind::KeyringLocked => match o.keyring_problem {
                Some(why) => Verdict::Bad {
                    value: 0.0,
                    message: format!("the OS keyring cannot be used: {why}"),
                },
                None => Verdict::Good {
                    message: "the OS keyring answers again".into(),
                },
            },
            AlertKind::WebhooksDead | AlertKind::SetFailed | AlertKind::RecordingStopped => {
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
