//! The disk-space guard: while OBS records, the time left on the recording's disk at the
//! bitrate it writes at; with [`STOP_SECONDS_LEFT`] left (before OBS's own stop below
//! [`OBS_STOPS_RECORDING_BELOW`] free, and long before the disk is full) the recording is stopped
//! cleanly, its entry marked `disk_space`, a `recording_stopped` alert raised. Streams are never
//! touched. (The `disk_space` alert warns much earlier, 30 min left by default.)
use std::collections::VecDeque;

use deckcast_protocol::recording::RecordingStatus;

use super::Ending;
use crate::alerts::AlertKind;
use crate::alerts::engine::OBS_STOPS_RECORDING_BELOW;
use crate::app::{App, AppError};
use crate::store::HistoryKind;

/// Stop with this much writing time left (s).
pub const STOP_SECONDS_LEFT: f64 = 60.0;
/// Stop below this many usable bytes whatever the rate (also before a rate is known).
pub const STOP_BYTES_LEFT: u64 = 8 << 20;
/// The bitrate is measured over this long (ms).
const RATE_WINDOW_MS: i64 = 20_000;
/// ... and over at least this long (ms) before it counts.
const RATE_MIN_MS: i64 = 4_000;

/// Why the guard stops a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskFull {
    /// Bytes free where OBS records.
    pub free_bytes: u64,
    /// The rate it wrote at (bytes/s; none before it was known).
    pub bytes_per_s: Option<f64>,
    /// Seconds of writing left before OBS's own stop (none without a rate).
    pub seconds_left: Option<f64>,
}

/// What the guard has seen of the running recording.
#[derive(Debug, Default)]
pub struct DiskGuard {
    /// (Unix ms, bytes written) of the last [`RATE_WINDOW_MS`].
    samples: VecDeque<(i64, u64)>,
    /// The guard stopped the running recording already (asked once).
    stopped: bool,
}

impl DiskGuard {
    /// One reading of OBS's recording (every 2 s): `Some` when it must be stopped now.
    pub fn observe(&mut self, now_ms: i64, r: &RecordingStatus) -> Option<DiskFull> {
        if !r.active {
            *self = DiskGuard::default();
            return None;
        }
        if self.samples.back().is_some_and(|&(_, b)| r.bytes < b) {
            self.samples.clear(); // a new file
            self.stopped = false;
        }
        self.samples.push_back((now_ms, r.bytes));
        while self
            .samples
            .front()
            .is_some_and(|&(t, _)| now_ms - t > RATE_WINDOW_MS)
        {
            self.samples.pop_front();
        }
        let free = r.free_bytes?;
        if self.stopped {
            return None;
        }
        let usable = free.saturating_sub(OBS_STOPS_RECORDING_BELOW);
        let rate = match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, b0)), Some(&(t1, b1))) if t1 - t0 >= RATE_MIN_MS && b1 > b0 => {
                Some((b1 - b0) as f64 * 1000.0 / (t1 - t0) as f64)
            }
            _ => None,
        };
        let seconds_left = rate.map(|bps| usable as f64 / bps);
        let due = usable < STOP_BYTES_LEFT || seconds_left.is_some_and(|s| s <= STOP_SECONDS_LEFT);
        if !due {
            return None;
        }
        self.stopped = true;
        Some(DiskFull {
            free_bytes: free,
            bytes_per_s: rate,
            seconds_left,
        })
    }
}

impl DiskGuard {
    /// The stop it asked for could not be made: ask again at the next reading.
    pub fn stop_failed(&mut self) {
        self.stopped = false;
    }
}

impl App {
    /// The guard's look at OBS's recording (the alert task, every 2 s; service only): stops it
    /// cleanly before its disk is full.
    pub async fn guard_recording_disk(&self, status: &RecordingStatus) {
        if !self.follows_obs() {
            return;
        }
        let now = self.now_ms();
        let Some(full) = self
            .recording
            .guard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(now, status)
        else {
            return;
        };
        let r: Result<(), AppError> = async {
            // The entry is marked before the stop; without one (not adopted yet) the next
            // reading tries again.
            let Some(open) = self.db.call(|s| s.open_recording_row()).await? else {
                return Err(AppError::Conflict(
                    "the recording has no library entry yet".into(),
                ));
            };
            let id = format!("#{}", open.id);
            let where_ = status.directory.as_deref().unwrap_or("the recording folder");
            let left = match (full.seconds_left, full.bytes_per_s) {
                (Some(s), Some(bps)) => format!(
                    "about {s:.0} s of writing left at {:.1} Mbit/s",
                    bps * 8.0 / 1e6
                ),
                _ => "almost no room left".to_owned(),
            };
            let message = format!(
                "Deckcast stopped recording {id}: the disk in {where_} is nearly full ({:.0} MB free, {left}); the file is complete and the streams go on",
                full.free_bytes as f64 / 1e6
            );
            *self.pending_ending() = Some((open.id, Ending::DiskSpace));
            if let Err(e) = self.obs()?.stop_recording().await {
                *self.pending_ending() = None;
                return Err(e.into());
            }
            tracing::warn!("{message}");
            self.report_alert(AlertKind::RecordingStopped, message.clone());
            self.record(HistoryKind::Recording, None, message).await;
            Ok(())
        }
        .await;
        if let Err(e) = r {
            tracing::error!("disk-space guard: stopping the recording: {e}; trying again");
            self.recording
                .guard
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .stop_failed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    fn rec(bytes: u64, free: u64) -> RecordingStatus {
        RecordingStatus {
            active: true,
            directory: Some("/rec".into()),
            file: None,
            bytes,
            free_bytes: Some(free),
            started_by: None,
        }
    }

    #[test]
    fn stops_once_with_a_minute_left_at_the_measured_rate() {
        let mut g = DiskGuard::default();
        let floor = OBS_STOPS_RECORDING_BELOW;
        // 1 MB/s with 200 MB usable: 200 s left, fine.
        let mut free = floor + 200 * MB;
        let mut written = 0;
        let mut t = 0;
        let mut stopped_at = None;
        for _ in 0..100 {
            if let Some(full) = g.observe(t, &rec(written, free)) {
                assert!(stopped_at.is_none(), "stops once");
                stopped_at = Some((t, full));
            }
            t += 2_000;
            written += 2 * MB;
            free -= 2 * MB;
        }
        let (t, full) = stopped_at.expect("stopped");
        let left = full.seconds_left.unwrap();
        assert!(
            left <= STOP_SECONDS_LEFT && left > STOP_SECONDS_LEFT - 3.0,
            "{full:?}"
        );
        assert!((full.bytes_per_s.unwrap() - 1e6).abs() < 1.0, "{full:?}");
        // 140 s in: 60 MB usable left.
        assert!((138_000..=142_000).contains(&t), "{t}");
    }

    #[test]
    fn without_a_rate_only_an_almost_full_disk_stops_it_and_idle_resets() {
        let mut g = DiskGuard::default();
        let floor = OBS_STOPS_RECORDING_BELOW;
        assert_eq!(g.observe(0, &rec(0, floor + 100 * MB)), None);
        // Nothing written yet, the disk nearly at OBS's floor.
        let full = g.observe(2_000, &rec(0, floor + MB)).unwrap();
        assert_eq!(full.seconds_left, None);
        assert_eq!(g.observe(4_000, &rec(0, floor)), None, "asked once");
        // Stopped; a new recording starts fresh.
        assert_eq!(
            g.observe(
                6_000,
                &RecordingStatus {
                    active: false,
                    ..rec(0, floor)
                }
            ),
            None
        );
        assert_eq!(g.observe(8_000, &rec(0, floor + 100 * MB)), None);
        // No free-space reading: nothing to judge.
        let mut unknown = rec(5 * MB, 0);
        unknown.free_bytes = None;
        assert_eq!(g.observe(10_000, &unknown), None);
    }
}
