//! What stream reports and history charts read: per-target statistics over a time range and a
//! bucketed series, from the 1 s samples where they are still kept and the per-minute rows where
//! they were rolled up. Counters (dropped frames, reconnects) start over when an output restarts,
//! so they are summed as deltas: a value below the previous one is a new output's count.
//! Minute rows carry the sums of their deltas (see `roll_up`).
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Event, Store, StoreError};

/// A target's numbers over a time range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetStats {
    /// Target id.
    pub target_id: String,
    /// Seconds it was live (one per live sample).
    pub live_sec: i64,
    /// Average bitrate while live.
    pub avg_kbps: f64,
    /// Lowest bitrate while live.
    pub min_kbps: f64,
    /// Highest bitrate.
    pub max_kbps: f64,
    /// Frames dropped in the range.
    pub dropped_frames: i64,
    /// Reconnects in the range.
    pub reconnects: i64,
}

/// One bucket of one target's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeriesPoint {
    /// Target id.
    pub target_id: String,
    /// Bucket start (Unix seconds).
    pub ts_s: i64,
    /// Average bitrate in the bucket.
    pub kbps: f64,
    /// Frames dropped in the bucket.
    pub dropped_frames: i64,
}

/// The per-sample deltas of a target's counters in `[from, to)`. The first sample of the range
/// counts nothing (its counter may include what came before the range, or before a roll-up),
/// like the roll-up's first sample: at most one second is missed, nothing is counted twice.
const DELTAS: &str = "WITH s AS (
        SELECT ts_s, kbps, state, dropped_frames AS d, reconnects AS r,
          LAG(dropped_frames) OVER (ORDER BY ts_s) AS pd,
          LAG(reconnects) OVER (ORDER BY ts_s) AS pr
        FROM health_samples WHERE target_id = ?1 AND ts_s >= ?2 AND ts_s < ?3),
      t AS (
        SELECT ts_s, kbps, state,
          CASE WHEN pd IS NULL THEN 0 WHEN d < pd THEN d ELSE d - pd END AS dd,
          CASE WHEN pr IS NULL THEN 0 WHEN r < pr THEN r ELSE r - pr END AS dr
        FROM s)";

/// One part of a target's numbers: live samples, kbps (average, or a sum for minute rows), min,
/// max, dropped frames, reconnects.
type Partial = (i64, Option<f64>, Option<f64>, Option<f64>, i64, i64);

fn partial(r: &rusqlite::Row<'_>) -> rusqlite::Result<Partial> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

impl Store {
    /// Target ids with any sample in `[from_s, to_s)`.
    pub fn targets_with_samples(&self, from_s: i64, to_s: i64) -> Result<Vec<String>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT target_id FROM health_samples WHERE ts_s >= ?1 AND ts_s < ?2
             UNION SELECT target_id FROM health_minutes WHERE minute >= ?1 AND minute < ?2
             ORDER BY 1",
        )?;
        let rows = st.query_map(params![from_s, to_s], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A target's numbers over `[from_s, to_s)`.
    pub fn target_stats(
        &self,
        target_id: &str,
        from_s: i64,
        to_s: i64,
    ) -> Result<TargetStats, StoreError> {
        let raw = self.conn.query_row(
            &format!(
                "{DELTAS} SELECT COALESCE(SUM(state = 'live'), 0),
                   AVG(CASE WHEN state = 'live' THEN kbps END),
                   MIN(CASE WHEN state = 'live' THEN kbps END), MAX(kbps),
                   COALESCE(SUM(dd), 0), COALESCE(SUM(dr), 0) FROM t"
            ),
            params![target_id, from_s, to_s],
            partial,
        )?;
        let minutes = self.conn.query_row(
            "SELECT COALESCE(SUM(live_samples), 0), SUM(avg_kbps * live_samples),
               MIN(min_kbps), MAX(max_kbps), COALESCE(SUM(dropped_frames), 0),
               COALESCE(SUM(reconnects), 0)
             FROM health_minutes WHERE target_id = ?1 AND minute >= ?2 AND minute < ?3",
            params![target_id, from_s, to_s],
            partial,
        )?;
        let live = raw.0 + minutes.0;
        let sum = raw.1.unwrap_or(0.0) * raw.0 as f64 + minutes.1.unwrap_or(0.0);
        let min = [raw.2, minutes.2].into_iter().flatten().reduce(f64::min);
        let max = [raw.3, minutes.3].into_iter().flatten().reduce(f64::max);
        Ok(TargetStats {
            target_id: target_id.to_owned(),
            live_sec: live,
            avg_kbps: if live > 0 { sum / live as f64 } else { 0.0 },
            min_kbps: min.unwrap_or(0.0),
            max_kbps: max.unwrap_or(0.0),
            dropped_frames: raw.4 + minutes.4,
            reconnects: raw.5 + minutes.5,
        })
    }

    /// Every target's history in `[from_s, to_s)` in buckets of `bucket_s` seconds (minute rows
    /// fall into the bucket of their minute), oldest first per target.
    pub fn series(
        &self,
        from_s: i64,
        to_s: i64,
        bucket_s: i64,
    ) -> Result<Vec<SeriesPoint>, StoreError> {
        let bucket = bucket_s.max(1);
        let mut out = Vec::new();
        for id in self.targets_with_samples(from_s, to_s)? {
            let mut st = self.conn.prepare_cached(&format!(
                "{DELTAS}, u AS (
                   SELECT (ts_s / ?4) * ?4 AS b, kbps, dd FROM t
                   UNION ALL
                   SELECT (minute / ?4) * ?4, avg_kbps, dropped_frames FROM health_minutes
                   WHERE target_id = ?1 AND minute >= ?2 AND minute < ?3)
                 SELECT b, AVG(kbps), SUM(dd) FROM u GROUP BY b ORDER BY b"
            ))?;
            let rows = st.query_map(params![id, from_s, to_s, bucket], |r| {
                Ok(SeriesPoint {
                    target_id: id.clone(),
                    ts_s: r.get(0)?,
                    kbps: r.get(1)?,
                    dropped_frames: r.get(2)?,
                })
            })?;
            for p in rows {
                out.push(p?);
            }
        }
        Ok(out)
    }

    /// History events of `kind` in `[from_ms, to_ms)`, oldest first (at most `limit`).
    pub fn events_between(
        &self,
        kind: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT id, ts_ms, kind, target_id, message FROM events
             WHERE kind = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 ORDER BY id LIMIT ?4",
        )?;
        let rows = st.query_map(params![kind, from_ms, to_ms, limit], |r| {
            Ok(Event {
                id: r.get(0)?,
                ts_ms: r.get(1)?,
                kind: r.get(2)?,
                target_id: r.get(3)?,
                message: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Sample;

    fn sample(id: &str, ts_s: i64, kbps: f64, dropped: i64, reconnects: i64) -> Sample {
        Sample {
            target_id: id.into(),
            ts_s,
            state: "live".into(),
            kbps,
            fps: 30.0,
            dropped_frames: dropped,
            reconnects,
        }
    }

    #[test]
    fn stats_sum_counter_deltas_across_output_restarts_and_roll_ups() {
        let mut s = Store::open_in_memory().unwrap();
        // 0..100 s: 2000 kbps, 1 drop every 10 s; the output restarts at 100 s (counters from 0),
        // then 100..160 s at 1000 kbps with 3 drops and one reconnect (at 125 s).
        for i in 0..100 {
            s.insert_samples(&[sample("a", i, 2000.0, i / 10, 0)])
                .unwrap();
        }
        for i in 100..160 {
            let d = if i >= 150 { 3 } else { 0 };
            s.insert_samples(&[sample("a", i, 1000.0, d, i64::from(i >= 125))])
                .unwrap();
        }
        let st = s.target_stats("a", 0, 1000).unwrap();
        assert_eq!(st.live_sec, 160);
        assert_eq!(st.dropped_frames, 9 + 3);
        assert_eq!(st.reconnects, 1);
        assert!((st.avg_kbps - (2000.0 * 100.0 + 1000.0 * 60.0) / 160.0).abs() < 1e-6);
        assert_eq!((st.min_kbps, st.max_kbps), (1000.0, 2000.0));
        // The same after the first two minutes are rolled up.
        s.roll_up(181, 60, 86_400).unwrap();
        let rolled = s.target_stats("a", 0, 1000).unwrap();
        assert_eq!(rolled.live_sec, 160);
        assert!((rolled.avg_kbps - st.avg_kbps).abs() < 1e-6, "{rolled:?}");
        assert_eq!(rolled.min_kbps, 1000.0);
        assert_eq!(
            (rolled.dropped_frames, rolled.reconnects),
            (st.dropped_frames, st.reconnects)
        );

        // A series in 20 s buckets: averages and per-bucket drops.
        let mut fresh = Store::open_in_memory().unwrap();
        for i in 0..60 {
            fresh
                .insert_samples(&[sample("b", i, 100.0 + i as f64, i / 20, 0)])
                .unwrap();
        }
        let series = fresh.series(0, 60, 20).unwrap();
        assert_eq!(series.len(), 3);
        assert_eq!(series[0].ts_s, 0);
        assert!((series[0].kbps - 109.5).abs() < 1e-9);
        assert_eq!(
            series.iter().map(|p| p.dropped_frames).collect::<Vec<_>>(),
            [0, 1, 1]
        );
        assert_eq!(fresh.targets_with_samples(0, 60).unwrap(), ["b"]);
        assert!(fresh.targets_with_samples(100, 200).unwrap().is_empty());
    }
}
