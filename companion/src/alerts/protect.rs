//! Automatic protection: what Deckcast does, not only says, when a target's link cannot carry
//! its stream. A pure controller fed with the same observations as the evaluator:
//!
//! - **a dedicated encoder** that only this target streams from, and that can change its bitrate
//!   while running: while the target drops frames (more than its dropped-frames threshold over
//!   the last step), its video bitrate goes down one step (`stepPercent` of the config's bitrate)
//!   every `stepSeconds`, never below `floorPercent`. Once it has dropped nothing for
//!   `recoverSeconds` it goes back up a step at a time, to the config's bitrate. A link that drops
//!   again right after a step up doubles the wait before the next one (up to ten minutes), so a
//!   link just below a step does not see-saw.
//! - **a shared encoder** (OBS's own, or a dedicated config several live targets stream from):
//!   lowering it would lower everyone's stream, so nothing changes while the link only struggles
//!   (a bitrate lowered while the target was alone on its encoder goes back to the config's once
//!   another target joins).
//!   A link that has stalled (it dropped at least `stallPercent` of its frames over the last
//!   `stallSeconds`: the viewers there see next to nothing) is stopped, so its backlog cannot disturb
//!   the encoder the others share, and held stopped until it is started again.
//!
//! No I/O and no clock of its own: `now_ms` comes in, [`Act`]s go out (the alert task carries
//! them out and notes them on the alerts).
use std::collections::{BTreeMap, VecDeque};

use deckcast_protocol::targets::{MIN_VIDEO_KBPS, TargetState, VideoBitrate};
use serde::{Deserialize, Serialize};

use super::engine::TargetSeen;

/// The protection settings (part of the alert rules).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Protection {
    /// Lower a dedicated encoder's bitrate while its link drops frames.
    pub lower_bitrate: bool,
    /// One step, in percent of the config's bitrate.
    #[schema(minimum = 5, maximum = 50)]
    pub step_percent: u32,
    /// The lowest bitrate, in percent of the config's.
    #[schema(minimum = 10, maximum = 90)]
    pub floor_percent: u32,
    /// Seconds between steps down (and the window "still dropping" is measured over).
    #[schema(minimum = 3, maximum = 300)]
    pub step_seconds: u32,
    /// Seconds without a dropped frame before a step back up.
    #[schema(minimum = 5, maximum = 3600)]
    pub recover_seconds: u32,
    /// Stop a shared-encoder target whose link has stalled.
    pub stop_stalled: bool,
    /// The share of frames dropped over `stallSeconds` that counts as stalled (%).
    #[schema(minimum = 5, maximum = 100)]
    pub stall_percent: f64,
    /// The window a stall is measured over.
    #[schema(minimum = 3, maximum = 300)]
    pub stall_seconds: u32,
}

impl Default for Protection {
    fn default() -> Protection {
        Protection {
            lower_bitrate: true,
            step_percent: 20,
            floor_percent: 40,
            step_seconds: 10,
            recover_seconds: 30,
            stop_stalled: true,
            stall_percent: 50.0,
            stall_seconds: 10,
        }
    }
}

/// A change to the protection settings: only what is given changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProtectionPatch {
    /// See [`Protection`].
    pub lower_bitrate: Option<bool>,
    /// See [`Protection`].
    #[schema(minimum = 5, maximum = 50)]
    pub step_percent: Option<u32>,
    /// See [`Protection`].
    #[schema(minimum = 10, maximum = 90)]
    pub floor_percent: Option<u32>,
    /// See [`Protection`].
    #[schema(minimum = 3, maximum = 300)]
    pub step_seconds: Option<u32>,
    /// See [`Protection`].
    #[schema(minimum = 5, maximum = 3600)]
    pub recover_seconds: Option<u32>,
    /// See [`Protection`].
    pub stop_stalled: Option<bool>,
    /// See [`Protection`].
    #[schema(minimum = 5, maximum = 100)]
    pub stall_percent: Option<f64>,
    /// See [`Protection`].
    #[schema(minimum = 3, maximum = 300)]
    pub stall_seconds: Option<u32>,
}

fn within<T: PartialOrd + std::fmt::Display + Copy>(
    name: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<T, String> {
    if v >= lo && v <= hi {
        Ok(v)
    } else {
        Err(format!("protect.{name} must be between {lo} and {hi}"))
    }
}

impl Protection {
    /// Applies `p`, checking every value; on error nothing changes.
    pub fn apply(&self, p: ProtectionPatch) -> Result<Protection, String> {
        let mut n = *self;
        if let Some(v) = p.lower_bitrate {
            n.lower_bitrate = v;
        }
        if let Some(v) = p.step_percent {
            n.step_percent = within("stepPercent", v, 5, 50)?;
        }
        if let Some(v) = p.floor_percent {
            n.floor_percent = within("floorPercent", v, 10, 90)?;
        }
        if let Some(v) = p.step_seconds {
            n.step_seconds = within("stepSeconds", v, 3, 300)?;
        }
        if let Some(v) = p.recover_seconds {
            n.recover_seconds = within("recoverSeconds", v, 5, 3600)?;
        }
        if let Some(v) = p.stop_stalled {
            n.stop_stalled = v;
        }
        if let Some(v) = p.stall_percent {
            if !v.is_finite() {
                return Err("protect.stallPercent must be a number".into());
            }
            n.stall_percent = within("stallPercent", v, 5.0, 100.0)?;
        }
        if let Some(v) = p.stall_seconds {
            n.stall_seconds = within("stallSeconds", v, 3, 300)?;
        }
        Ok(n)
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    /// Run the target's dedicated encoder at `kbps` (video).
    SetBitrate {
        /// Target id.
        id: String,
        /// The new video bitrate.
        kbps: u32,
        /// What it ran at.
        from: u32,
        /// The config's bitrate.
        configured: u32,
        /// For people: what happened and what was done.
        why: String,
    },
    /// Stop the target and hold it stopped.
    Stop {
        /// Target id.
        id: String,
        /// Its name.
        name: String,
        /// For people: why.
        why: String,
    },
}

/// The longest wait before a step back up (ms).
const MAX_RECOVER_MS: i64 = 600_000;
/// After a bitrate change, the encoder's backlog at the old rate drains for a moment: drops in
/// this time do not count against the new rate (ms).
const SETTLE_MS: i64 = 2_000;
/// How often a restore of a shared encoder's lowered bitrate is tried again (ms).
const RESTORE_RETRY_MS: i64 = 5_000;
/// History kept per target (ms): the longest window a setting allows.
const KEEP_MS: i64 = 300_000;

#[derive(Debug, Default)]
struct Guard {
    /// (ms, dropped, frames) per observation.
    points: VecDeque<(i64, u64, u64)>,
    /// When the bitrate last changed.
    changed_ms: Option<i64>,
    /// Whether the last change was a step up (a drop right after it backs off).
    last_was_up: bool,
    /// The last time a frame was dropped.
    dropped_ms: Option<i64>,
    /// The current wait before a step up.
    recover_ms: i64,
    /// Already stopped by protection (one stop per episode).
    stopped: bool,
}

/// The controller's state, per target.
#[derive(Debug, Default)]
pub struct Protector {
    guards: BTreeMap<String, Guard>,
}

fn round10(kbps: u32) -> u32 {
    (kbps + 5) / 10 * 10
}

impl Guard {
    /// A guard first seen at `now_ms`: counted as a drop, so a lowered encoder is not raised
    /// before it has been watched for `recoverSeconds` (after a companion restart or a
    /// reconnect, when the link is known to have been bad).
    fn fresh(now_ms: i64) -> Guard {
        Guard {
            dropped_ms: Some(now_ms),
            ..Guard::default()
        }
    }

    /// Dropped and total frames since `from_ms` (the oldest point at or after it, to the newest),
    /// and the time that covers.
    fn since(&self, from_ms: i64) -> Option<(u64, u64, i64)> {
        let (t1, d1, f1) = *self.points.back()?;
        let &(t0, d0, f0) = self.points.iter().find(|p| p.0 >= from_ms)?;
        Some((d1.saturating_sub(d0), f1.saturating_sub(f0), t1 - t0))
    }
}

impl Protector {
    /// A controller with nothing watched yet.
    pub fn new() -> Protector {
        Protector::default()
    }

    /// Protection's stop of `id` did not go through: it may try again.
    pub fn stop_failed(&mut self, id: &str) {
        if let Some(g) = self.guards.get_mut(id) {
            g.stopped = false;
        }
    }

    /// Looks at the targets at `now_ms`. `drops_threshold` gives a target's dropped-frames
    /// threshold (%), the one its alert uses.
    pub fn decide(
        &mut self,
        p: &Protection,
        now_ms: i64,
        targets: &[TargetSeen],
        drops_threshold: impl Fn(&str) -> f64,
    ) -> Vec<Act> {
        self.guards
            .retain(|id, _| targets.iter().any(|t| &t.id == id));
        let mut acts = Vec::new();
        for t in targets {
            let g = self
                .guards
                .entry(t.id.clone())
                .or_insert_with(|| Guard::fresh(now_ms));
            if t.state != TargetState::Live {
                // A stopped or reconnecting output: its counters start over when it is live again.
                if !t.state.is_active() {
                    *g = Guard::fresh(now_ms);
                }
                continue;
            }
            if g.points
                .back()
                .is_some_and(|&(_, d, f)| t.dropped_frames < d || t.total_frames < f)
            {
                *g = Guard::fresh(now_ms);
            }
            if g.points
                .back()
                .is_some_and(|&(_, d, _)| t.dropped_frames > d)
            {
                g.dropped_ms = Some(now_ms);
            }
            g.points
                .push_back((now_ms, t.dropped_frames, t.total_frames));
            while g.points.front().is_some_and(|q| now_ms - q.0 > KEEP_MS) {
                g.points.pop_front();
            }
            let adjustable = t.video_bitrate.filter(|v| v.adjustable);
            let shared = t.video_bitrate.is_none() || t.encoder_users > 1;
            if adjustable.is_some() && t.encoder_users <= 1 {
                if p.lower_bitrate
                    && let Some(act) = lower_or_raise(g, p, now_ms, t, drops_threshold(&t.id))
                {
                    acts.push(act);
                }
            } else if let Some(v) = adjustable
                && v.applied_kbps < v.configured_kbps
                && g.changed_ms.is_none_or(|c| now_ms - c >= RESTORE_RETRY_MS)
            {
                // Lowered while it was the only one; another target now streams from the same
                // encoder, so the bitrate is no longer this link's alone: back to the config's.
                g.changed_ms = Some(now_ms);
                let why = format!(
                    "another target now streams from {}'s encoder too: its video bitrate is back at {} kbit/s (its config)",
                    t.name, v.configured_kbps
                );
                acts.push(set_bitrate(t, v, v.configured_kbps, why));
            } else if shared
                && p.stop_stalled
                && !g.stopped
                && let Some(act) = stop_if_stalled(g, p, now_ms, t)
            {
                g.stopped = true;
                acts.push(act);
            }
        }
        acts
    }
}

/// One step down while a sole dedicated encoder's link drops frames, one up after it recovered.
fn lower_or_raise(
    g: &mut Guard,
    p: &Protection,
    now_ms: i64,
    t: &TargetSeen,
    threshold: f64,
) -> Option<Act> {
    let v = t.video_bitrate?;
    let base_recover = i64::from(p.recover_seconds) * 1000;
    if g.recover_ms == 0 {
        g.recover_ms = base_recover;
    }
    let step_ms = i64::from(p.step_seconds) * 1000;
    let step = (v.configured_kbps * p.step_percent / 100).max(10);
    let floor = (v.configured_kbps * p.floor_percent / 100).max(MIN_VIDEO_KBPS);
    // Measure only what the current bitrate sent (after the old backlog drained).
    let from = match g.changed_ms {
        Some(c) => (c + SETTLE_MS).max(now_ms - step_ms),
        None => now_ms - step_ms,
    };
    let waited = g.changed_ms.is_none_or(|c| now_ms - c >= step_ms);
    if let Some((dropped, frames, span)) = g.since(from)
        && waited
        && span * 2 >= step_ms
        && frames >= 10
    {
        let share = dropped as f64 * 100.0 / frames as f64;
        if share > threshold && v.applied_kbps > floor {
            let kbps = round10(v.applied_kbps.saturating_sub(step).max(floor)).max(floor);
            if g.last_was_up && g.changed_ms.is_some_and(|c| now_ms - c <= 3 * step_ms) {
                g.recover_ms = (g.recover_ms * 2).min(MAX_RECOVER_MS);
            }
            g.changed_ms = Some(now_ms);
            g.last_was_up = false;
            let why = format!(
                "{} dropped {share:.1} % of its frames in the last {} s at {} kbit/s: lowered its encoder's video bitrate to {kbps} kbit/s (its config: {})",
                t.name, p.step_seconds, v.applied_kbps, v.configured_kbps
            );
            return Some(set_bitrate(t, v, kbps, why));
        }
    }
    let quiet = |since: Option<i64>| since.is_none_or(|s| now_ms - s >= g.recover_ms);
    if v.applied_kbps < v.configured_kbps && quiet(g.dropped_ms) && quiet(g.changed_ms) {
        let kbps = round10(v.applied_kbps + step).min(v.configured_kbps);
        let secs = g.recover_ms / 1000;
        // The last step up held: the link carries more again, so the back-off is over.
        if g.last_was_up {
            g.recover_ms = base_recover;
        }
        g.changed_ms = Some(now_ms);
        g.last_was_up = true;
        let why = format!(
            "{} dropped no frames for {secs} s: raised its encoder's video bitrate to {kbps} kbit/s (its config: {})",
            t.name, v.configured_kbps
        );
        return Some(set_bitrate(t, v, kbps, why));
    }
    // Back at the config's bitrate and quiet for a while: the back-off is over too.
    if v.applied_kbps >= v.configured_kbps && quiet(g.dropped_ms) && quiet(g.changed_ms) {
        g.recover_ms = base_recover;
    }
    None
}

fn set_bitrate(t: &TargetSeen, v: VideoBitrate, kbps: u32, why: String) -> Act {
    Act::SetBitrate {
        id: t.id.clone(),
        kbps,
        from: v.applied_kbps,
        configured: v.configured_kbps,
        why,
    }
}

/// Stop for a shared-encoder target whose link has stalled.
fn stop_if_stalled(g: &Guard, p: &Protection, now_ms: i64, t: &TargetSeen) -> Option<Act> {
    let window = i64::from(p.stall_seconds) * 1000;
    let (dropped, frames, span) = g.since(now_ms - window)?;
    // The whole window must be seen (a point at its start), with frames enough to judge.
    if span + 1000 < window || frames < 30 {
        return None;
    }
    let share = dropped as f64 * 100.0 / frames as f64;
    if share < p.stall_percent {
        return None;
    }
    let encoder = match t.video_bitrate {
        None => {
            "OBS's streaming encoder, which OBS's own stream and the other shared targets also use"
                .to_owned()
        }
        Some(_) => format!(
            "a dedicated encoder that {} other live target(s) also stream from",
            t.encoder_users.saturating_sub(1)
        ),
    };
    Some(Act::Stop {
        id: t.id.clone(),
        name: t.name.clone(),
        why: format!(
            "{}'s link stalled: it dropped {share:.0} % of its frames over the last {} s (sending {:.0} kbit/s). It streams from {encoder}, so Deckcast stopped it before its backlog could disturb the others. Start it again once the link is fixed.",
            t.name, p.stall_seconds, t.kbps
        ),
    })
}

#[cfg(test)]
mod tests;
