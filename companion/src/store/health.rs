//! Health history: 1 s samples per active target, rolled up into per-minute rows after a few
//! hours and dropped after 90 days.
use rusqlite::params;
use serde::Serialize;

use super::{Store, StoreError};

/// One health sample of one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// Target id.
    pub target_id: String,
    /// Second (Unix).
    pub ts_s: i64,
    /// State name.
    pub state: String,
    /// Bitrate.
    pub kbps: f64,
    /// Frames per second sent.
    pub fps: f64,
    /// Dropped frames so far (the output's counter).
    pub dropped_frames: i64,
    /// Reconnects so far.
    pub reconnects: i64,
}

/// A point of a target's bitrate history.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    /// Unix seconds (minute start for rolled-up points).
    pub ts_s: i64,
    /// Bitrate (average over the minute for rolled-up points).
    pub kbps: f64,
}

impl Store {
    /// Writes one second of samples in one transaction (a repeated second replaces the earlier one).
    pub fn insert_samples(&mut self, samples: &[Sample]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO health_samples
                 (target_id, ts_s, state, kbps, fps, dropped_frames, reconnects)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for s in samples {
                st.execute(params![
                    s.target_id,
                    s.ts_s,
                    s.state,
                    s.kbps,
                    s.fps,
                    s.dropped_frames,
                    s.reconnects
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Rolls samples older than `keep_raw_s` seconds (before `now_s`) up into per-minute rows
    /// and deletes them; drops minutes older than `keep_minutes_s`. Only whole minutes are rolled
    /// up. Counters become per-minute sums of their deltas (a value below the previous one is a
    /// restarted output's count), so a restart inside a minute is not counted as drops. Returns
    /// the number of samples rolled up.
    pub fn roll_up(
        &mut self,
        now_s: i64,
        keep_raw_s: i64,
        keep_minutes_s: i64,
    ) -> Result<usize, StoreError> {
        let cutoff = (now_s - keep_raw_s).div_euclid(60) * 60;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO health_minutes (target_id, minute, samples, live_samples, avg_kbps,
               min_kbps, max_kbps, avg_fps, dropped_frames, reconnects)
             WITH s AS (
               SELECT target_id, ts_s, state, kbps, fps, dropped_frames AS d, reconnects AS r,
                 LAG(dropped_frames) OVER w AS pd, LAG(reconnects) OVER w AS pr
               FROM health_samples WHERE ts_s < ?1
               WINDOW w AS (PARTITION BY target_id ORDER BY ts_s))
             SELECT target_id, (ts_s / 60) * 60, COUNT(*), SUM(state = 'live'), AVG(kbps),
               MIN(kbps), MAX(kbps), AVG(fps),
               SUM(CASE WHEN pd IS NULL THEN 0 WHEN d < pd THEN d ELSE d - pd END),
               SUM(CASE WHEN pr IS NULL THEN 0 WHEN r < pr THEN r ELSE r - pr END)
             FROM s WHERE true GROUP BY target_id, ts_s / 60
             ON CONFLICT (target_id, minute) DO UPDATE SET
               avg_kbps = (avg_kbps * samples + excluded.avg_kbps * excluded.samples)
                          / (samples + excluded.samples),
               avg_fps = (avg_fps * samples + excluded.avg_fps * excluded.samples)
                         / (samples + excluded.samples),
               samples = samples + excluded.samples,
               live_samples = live_samples + excluded.live_samples,
               min_kbps = MIN(min_kbps, excluded.min_kbps),
               max_kbps = MAX(max_kbps, excluded.max_kbps),
               dropped_frames = dropped_frames + excluded.dropped_frames,
               reconnects = reconnects + excluded.reconnects",
            [cutoff],
        )?;
        let n = tx.execute("DELETE FROM health_samples WHERE ts_s < ?1", [cutoff])?;
        tx.execute(
            "DELETE FROM health_minutes WHERE minute < ?1",
            [now_s - keep_minutes_s],
        )?;
        tx.commit()?;
        Ok(n)
    }

    /// A target's bitrate since `since_s`: per-minute averages where the samples were rolled
    /// up, then the 1 s samples.
    pub fn kbps_series(&self, target_id: &str, since_s: i64) -> Result<Vec<Point>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT minute, avg_kbps FROM health_minutes WHERE target_id = ?1 AND minute >= ?2
             UNION ALL
             SELECT ts_s, kbps FROM health_samples WHERE target_id = ?1 AND ts_s >= ?2
             ORDER BY 1",
        )?;
        let rows = st.query_map(params![target_id, since_s], |r| {
            Ok(Point {
                ts_s: r.get(0)?,
                kbps: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Number of 1 s samples and of per-minute rows (tests, metrics).
    pub fn sample_counts(&self) -> Result<(i64, i64), StoreError> {
        let raw = self
            .conn
            .query_row("SELECT COUNT(*) FROM health_samples", [], |r| r.get(0))?;
        let minutes = self
            .conn
            .query_row("SELECT COUNT(*) FROM health_minutes", [], |r| r.get(0))?;
        Ok((raw, minutes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: &str, ts_s: i64, kbps: f64, dropped: i64) -> Sample {
        Sample {
            target_id: id.into(),
            ts_s,
            state: "live".into(),
            kbps,
            fps: 30.0,
            dropped_frames: dropped,
            reconnects: 0,
        }
    }

    #[test]
    fn samples_roll_up_into_minutes_and_keep_the_series() {
        let mut s = Store::open_in_memory().unwrap();
        // Two minutes of samples for one target: 0..120 s, kbps = 1000 + i.
        for i in 0..120 {
            s.insert_samples(&[sample("a", i, 1000.0 + i as f64, i / 10)])
                .unwrap();
        }
        // Keep the last 60 s raw at t = 125: the first minute rolls up.
        let rolled = s.roll_up(125, 60, 86_400).unwrap();
        assert_eq!(rolled, 60);
        assert_eq!(s.sample_counts().unwrap(), (60, 1));
        let series = s.kbps_series("a", 0).unwrap();
        assert_eq!(series.len(), 61);
        assert_eq!(series[0].ts_s, 0);
        assert!((series[0].kbps - 1029.5).abs() < 1e-9, "{:?}", series[0]);
        assert_eq!(
            series[1],
            Point {
                ts_s: 60,
                kbps: 1060.0
            }
        );
        // Rolling up again later merges into the existing minute rows.
        let rolled = s.roll_up(10_000, 60, 86_400).unwrap();
        assert_eq!(rolled, 60);
        assert_eq!(s.sample_counts().unwrap(), (0, 2));
        // Old minutes expire.
        s.roll_up(1_000_000, 60, 3600).unwrap();
        assert_eq!(s.sample_counts().unwrap(), (0, 0));
    }
}
