//! Stream reports and history charts as operations: the report of a session (for the dashboard,
//! the API, `deckcast report` and the `stream.ended` webhook) and the data of a chart over any
//! range of the stored history.
use super::{App, AppError};
use crate::alerts::Alert;
use crate::report::{Chart, MAX_POINTS, MAX_RANGE_MS, SessionReport, TargetReport, TrackPlayed};
use crate::store::HistoryKind;

fn track_of(message: &str) -> String {
    message
        .strip_prefix(super::nowplaying::NOW_PLAYING_PREFIX)
        .unwrap_or(message)
        .to_owned()
}

impl App {
    /// The report of session `id`, or of the newest session without one.
    pub async fn session_report(&self, id: Option<i64>) -> Result<SessionReport, AppError> {
        let now = self.now_ms();
        let report = self
            .db
            .call(move |s| {
                let session = match id {
                    Some(id) => s.session(id)?,
                    None => s.latest_session()?,
                };
                let Some(session) = session else {
                    return Ok(None);
                };
                let end = session.ended_ms.unwrap_or(now);
                let (from_s, to_s) = (session.started_ms / 1000, end / 1000 + 1);
                let names: Vec<_> = s.targets()?;
                let duration = (end - session.started_ms).max(0) as f64 / 1000.0;
                let mut targets = Vec::new();
                let mut ids = s.targets_with_samples(from_s, to_s)?;
                for t in &session.targets {
                    if t != "obs" && !ids.contains(t) {
                        ids.push(t.clone());
                    }
                }
                for id in ids {
                    let stats = s.target_stats(&id, from_s, to_s)?;
                    let meta = names.iter().find(|m| m.id == id);
                    targets.push(TargetReport {
                        name: meta.map(|m| m.name.clone()).unwrap_or_else(|| id.clone()),
                        platform: meta.map(|m| m.platform.clone()).unwrap_or_default(),
                        uptime_share: if duration > 0.0 {
                            (stats.live_sec as f64 / duration).min(1.0)
                        } else {
                            0.0
                        },
                        stats,
                    });
                }
                let alerts = s.alerts_between(session.started_ms, end + 1, 1000)?;
                let tracks = s
                    .events_between(
                        HistoryKind::NowPlaying.as_str(),
                        session.started_ms,
                        end + 1,
                        1000,
                    )?
                    .into_iter()
                    .map(|e| TrackPlayed {
                        ts_ms: e.ts_ms,
                        text: track_of(&e.message),
                    })
                    .collect();
                Ok(Some((session, duration, targets, alerts, tracks)))
            })
            .await?;
        let Some((session, duration_sec, targets, alerts, tracks)) = report else {
            return Err(AppError::NotFound(match id {
                Some(id) => format!("no session {id}"),
                None => "no stream session yet".to_owned(),
            }));
        };
        let mut alerts: Vec<Alert> = alerts.into_iter().filter_map(Alert::from_row).collect();
        alerts.reverse();
        Ok(SessionReport {
            session,
            duration_sec,
            targets,
            alerts,
            tracks,
        })
    }

    /// A chart of `[from_ms, to_ms)` in at most `points` buckets per target.
    pub async fn chart(&self, from_ms: i64, to_ms: i64, points: i64) -> Result<Chart, AppError> {
        if to_ms <= from_ms {
            return Err(AppError::invalid(
                "the range's end must come after its start",
            ));
        }
        if to_ms - from_ms > MAX_RANGE_MS {
            return Err(AppError::invalid("a chart covers at most 90 days"));
        }
        let points = points.clamp(10, MAX_POINTS);
        let bucket_sec = ((to_ms - from_ms) / 1000 / points).max(1);
        let (from_s, to_s) = (from_ms / 1000, to_ms / 1000 + 1);
        let (series, targets, alerts, tracks) = self
            .db
            .call(move |s| {
                Ok((
                    s.series(from_s, to_s, bucket_sec)?,
                    s.targets()?,
                    s.alerts_between(from_ms, to_ms, 1000)?,
                    s.events_between(HistoryKind::NowPlaying.as_str(), from_ms, to_ms, 1000)?,
                ))
            })
            .await?;
        let names = series
            .iter()
            .map(|p| {
                let name = targets
                    .iter()
                    .find(|t| t.id == p.target_id)
                    .map_or_else(|| p.target_id.clone(), |t| t.name.clone());
                (p.target_id.clone(), name)
            })
            .collect();
        let mut alerts: Vec<Alert> = alerts.into_iter().filter_map(Alert::from_row).collect();
        alerts.reverse();
        Ok(Chart {
            from_ms,
            to_ms,
            bucket_sec,
            names,
            points: series,
            alerts,
            tracks: tracks
                .into_iter()
                .map(|e| TrackPlayed {
                    ts_ms: e.ts_ms,
                    text: track_of(&e.message),
                })
                .collect(),
        })
    }
}
