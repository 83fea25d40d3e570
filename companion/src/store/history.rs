//! History: target metadata (never keys), stream sessions and the event log.
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError, json_list};

macro_rules! names {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)*
        }

        impl $name {
            /// The name stored in the database and shown in the API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }
    };
}

names! {
    /// What a history event is about.
    HistoryKind {
        /// The companion (re)connected to OBS.
        ObsConnected = "obs_connected",
        /// The connection to OBS was lost.
        ObsLost = "obs_lost",
        /// OBS said it is shutting down.
        ObsClosing = "obs_closing",
        /// OBS's own stream started or stopped.
        MainStream = "main_stream",
        /// A target changed state.
        TargetState = "target_state",
        /// A target was created through the companion.
        TargetCreated = "target_created",
        /// A target was deleted through the companion.
        TargetDeleted = "target_deleted",
        /// A stream key was replaced.
        KeySet = "key_set",
        /// A stream key went from the keyring to the plugin.
        KeyPushed = "key_pushed",
        /// The track on air changed.
        NowPlaying = "nowplaying",
        /// A now-playing source was configured or failed.
        NowPlayingSource = "nowplaying_source",
        /// A set was scheduled.
        ScheduleAdded = "schedule_added",
        /// A set started.
        ScheduleStarted = "schedule_started",
        /// A set ended.
        ScheduleEnded = "schedule_ended",
        /// A planned set was cancelled.
        ScheduleCancelled = "schedule_cancelled",
        /// A set's slot passed while the companion was not running.
        ScheduleMissed = "schedule_missed",
        /// Part of a set could not be started.
        ScheduleProblem = "schedule_problem",
        /// A calendar feed changed the schedule.
        ScheduleFeed = "schedule_feed",
        /// Platform settings changed.
        Platform = "platform",
        /// A pull from the streamer's site.
        PlatformPull = "platform_pull",
        /// An alert was raised.
        AlertRaised = "alert_raised",
        /// An alert cleared.
        AlertCleared = "alert_cleared",
        /// Someone acknowledged an alert.
        AlertAcknowledged = "alert_acknowledged",
        /// Alert rules or channels changed.
        AlertSettings = "alert_settings",
        /// Deckcast acted on an alert (automatic protection).
        AlertAction = "alert_action",
        /// A recording started, ended or could not take chapters.
        Recording = "recording",
        /// A re-air started or ended.
        ReAir = "reair",
    }
}

names! {
    /// Why a stream session ended.
    EndReason {
        /// The last output stopped.
        Stopped = "stopped",
        /// The companion lost OBS.
        ObsLost = "obs_lost",
        /// The companion was stopped.
        CompanionStopped = "companion_stopped",
        /// Found open at start: the previous run was killed.
        CompanionRestart = "companion_restart",
    }
}

/// Target metadata kept for history (the plugin owns the live configuration; keys are never here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetMeta {
    /// Target id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Platform (`twitch`, `youtube`, ...).
    pub platform: String,
    /// Server URL (no key).
    pub server: String,
}

/// One stream session: from the first output going live to the last one stopping.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Row id.
    pub id: i64,
    /// Start (Unix ms).
    pub started_ms: i64,
    /// End (Unix ms), `None` while live.
    #[schema(required)]
    pub ended_ms: Option<i64>,
    /// Target ids that were live during the session.
    pub targets: Vec<String>,
    /// Peak viewers, if a platform reported them.
    #[schema(required)]
    pub peak_viewers: Option<i64>,
    /// Why it ended (`stopped`, `obs_lost`, `companion_restart`).
    #[schema(required)]
    pub end_reason: Option<String>,
}

/// A history event (connection changes, target state changes, errors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = HistoryEvent)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Row id.
    pub id: i64,
    /// When (Unix ms).
    pub ts_ms: i64,
    /// Kind (`obs_connected`, `obs_lost`, `target_state`, ...).
    pub kind: String,
    /// The target concerned, if any.
    #[schema(required)]
    pub target_id: Option<String>,
    /// Human-readable text (no secrets).
    pub message: String,
}

impl Store {
    /// Inserts or refreshes a target's metadata (and un-deletes it).
    pub fn upsert_target(&mut self, t: &TargetMeta, now_ms: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO targets (id, name, platform, server, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (id) DO UPDATE SET name = ?2, platform = ?3, server = ?4,
               updated_ms = ?5, deleted_ms = NULL
             WHERE name != ?2 OR platform != ?3 OR server != ?4 OR deleted_ms IS NOT NULL",
            params![t.id, t.name, t.platform, t.server, now_ms],
        )?;
        Ok(())
    }

    /// Marks a target deleted (its history stays).
    pub fn delete_target(&mut self, id: &str, now_ms: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE targets SET deleted_ms = ?2 WHERE id = ?1 AND deleted_ms IS NULL",
            params![id, now_ms],
        )?;
        Ok(())
    }

    /// Targets not deleted, by name.
    pub fn targets(&self) -> Result<Vec<TargetMeta>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT id, name, platform, server FROM targets WHERE deleted_ms IS NULL ORDER BY name",
        )?;
        let rows = st.query_map([], |r| {
            Ok(TargetMeta {
                id: r.get(0)?,
                name: r.get(1)?,
                platform: r.get(2)?,
                server: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Ids of every target ever recorded, deleted ones included.
    pub fn known_target_ids(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut st = self.conn.prepare("SELECT id FROM targets")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Appends a history event.
    pub fn record_event(
        &mut self,
        ts_ms: i64,
        kind: HistoryKind,
        target_id: Option<&str>,
        message: &str,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO events (ts_ms, kind, target_id, message) VALUES (?1, ?2, ?3, ?4)",
            params![ts_ms, kind.as_str(), target_id, message],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The newest `limit` events, newest first.
    pub fn events(&self, limit: u32) -> Result<Vec<Event>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT id, ts_ms, kind, target_id, message FROM events ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st.query_map([limit], |r| {
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

    /// The newest event id, if any (tests).
    pub fn last_event_id(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))
            .optional()?
            .flatten())
    }

    /// Starts a session.
    pub fn open_session(&mut self, started_ms: i64, targets: &[String]) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO sessions (started_ms, targets) VALUES (?1, ?2)",
            params![started_ms, json_list(targets)],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Replaces the list of targets seen live in a session.
    pub fn set_session_targets(&mut self, id: i64, targets: &[String]) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE sessions SET targets = ?2 WHERE id = ?1",
            params![id, json_list(targets)],
        )?;
        Ok(())
    }

    /// Ends a session.
    pub fn close_session(
        &mut self,
        id: i64,
        ended_ms: i64,
        reason: EndReason,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE sessions SET ended_ms = ?2, end_reason = ?3 WHERE id = ?1 AND ended_ms IS NULL",
            params![id, ended_ms, reason.as_str()],
        )?;
        Ok(())
    }

    /// Closes sessions a previous run left open (it was killed), at their last health sample or
    /// their start. Returns how many.
    pub fn close_orphan_sessions(&mut self) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE sessions SET end_reason = 'companion_restart', ended_ms = MAX(started_ms,
               COALESCE((SELECT MAX(ts_s) * 1000 FROM health_samples), started_ms))
             WHERE ended_ms IS NULL",
            [],
        )?)
    }

    /// The newest `limit` sessions, newest first.
    pub fn sessions(&self, limit: u32) -> Result<Vec<Session>, StoreError> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions ORDER BY id DESC LIMIT ?1"
        ))?;
        let rows = st.query_map([limit], session_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One session.
    pub fn session(&self, id: i64) -> Result<Option<Session>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"),
                [id],
                session_row,
            )
            .optional()?)
    }

    /// The newest session.
    pub fn latest_session(&self) -> Result<Option<Session>, StoreError> {
        Ok(self.sessions(1)?.into_iter().next())
    }
}

const SESSION_COLUMNS: &str = "id, started_ms, ended_ms, targets, peak_viewers, end_reason";

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    let targets: String = r.get(3)?;
    Ok(Session {
        id: r.get(0)?,
        started_ms: r.get(1)?,
        ended_ms: r.get(2)?,
        targets: serde_json::from_str(&targets).unwrap_or_default(),
        peak_viewers: r.get(4)?,
        end_reason: r.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Sample;

    #[test]
    fn targets_upsert_and_soft_delete() {
        let mut s = Store::open_in_memory().unwrap();
        let t = TargetMeta {
            id: "a".into(),
            name: "Twitch".into(),
            platform: "twitch".into(),
            server: "rtmp://x/app".into(),
        };
        s.upsert_target(&t, 1).unwrap();
        s.upsert_target(
            &TargetMeta {
                name: "Twitch 2".into(),
                ..t.clone()
            },
            2,
        )
        .unwrap();
        assert_eq!(s.targets().unwrap()[0].name, "Twitch 2");
        s.delete_target("a", 3).unwrap();
        assert!(s.targets().unwrap().is_empty());
        s.upsert_target(&t, 4).unwrap();
        assert_eq!(s.targets().unwrap().len(), 1);
    }

    #[test]
    fn sessions_and_events_form_the_history() {
        let mut s = Store::open_in_memory().unwrap();
        let id = s.open_session(1_000, &["a".into()]).unwrap();
        s.set_session_targets(id, &["a".into(), "b".into()])
            .unwrap();
        s.record_event(1_500, HistoryKind::ObsLost, None, "lost OBS")
            .unwrap();
        s.insert_samples(&[Sample {
            target_id: "a".into(),
            ts_s: 5,
            state: "live".into(),
            kbps: 1.0,
            fps: 30.0,
            dropped_frames: 0,
            reconnects: 0,
        }])
        .unwrap();
        // A crash leaves the session open: the next start closes it at the last sample.
        assert_eq!(s.close_orphan_sessions().unwrap(), 1);
        let sessions = s.sessions(10).unwrap();
        assert_eq!(sessions[0].targets, vec!["a", "b"]);
        assert_eq!(sessions[0].ended_ms, Some(5_000));
        assert_eq!(sessions[0].end_reason.as_deref(), Some("companion_restart"));
        let id2 = s.open_session(6_000, &[]).unwrap();
        s.close_session(id2, 7_000, EndReason::Stopped).unwrap();
        assert_eq!(
            s.sessions(1).unwrap()[0].end_reason.as_deref(),
            Some("stopped")
        );
        assert_eq!(s.events(10).unwrap()[0].kind, "obs_lost");
        assert_eq!(s.last_event_id().unwrap(), Some(1));
    }
}
