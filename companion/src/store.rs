//! The companion's embedded database (SQLite through rusqlite, bundled): target metadata (never
//! keys), stream sessions, history events, health samples (1 s, rolled up per minute after a few
//! hours), schedule and the platform-sync outbox.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a committed transaction survives `kill -9`
//! of the companion (and a power cut); versioned migrations run in one transaction at open.
//!
//! Threads: [`Store`] is synchronous and owned by [`Db`], which runs every call on tokio's blocking
//! pool behind a std `Mutex` (never held across an `.await`).
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// A database failure. Messages name the file or the operation, never a secret (none are stored).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file was written by a newer Deckcast.
    #[error(
        "the database {path} has schema version {found}, newer than this deckcast understands ({known}); update deckcast"
    )]
    TooNew {
        /// The file.
        path: String,
        /// Its schema version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
}

/// Schema migrations; entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: everything the companion keeps.
    "CREATE TABLE targets (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        platform TEXT NOT NULL,
        server TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        deleted_ms INTEGER
    );
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        started_ms INTEGER NOT NULL,
        ended_ms INTEGER,
        targets TEXT NOT NULL DEFAULT '[]',
        peak_viewers INTEGER,
        end_reason TEXT
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        ts_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        target_id TEXT,
        message TEXT NOT NULL
    );
    CREATE INDEX events_ts ON events (ts_ms);
    CREATE TABLE health_samples (
        target_id TEXT NOT NULL,
        ts_s INTEGER NOT NULL,
        state TEXT NOT NULL,
        kbps REAL NOT NULL,
        fps REAL NOT NULL,
        dropped_frames INTEGER NOT NULL,
        reconnects INTEGER NOT NULL,
        PRIMARY KEY (target_id, ts_s)
    ) WITHOUT ROWID;
    CREATE INDEX health_samples_ts ON health_samples (ts_s);
    CREATE TABLE health_minutes (
        target_id TEXT NOT NULL,
        minute INTEGER NOT NULL,
        samples INTEGER NOT NULL,
        live_samples INTEGER NOT NULL,
        avg_kbps REAL NOT NULL,
        min_kbps REAL NOT NULL,
        max_kbps REAL NOT NULL,
        avg_fps REAL NOT NULL,
        dropped_frames INTEGER NOT NULL,
        reconnects INTEGER NOT NULL,
        PRIMARY KEY (target_id, minute)
    ) WITHOUT ROWID;
    CREATE TABLE schedule (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        targets TEXT NOT NULL DEFAULT '[]',
        scene TEXT,
        origin TEXT NOT NULL DEFAULT 'local',
        external_id TEXT,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        delivered_ms INTEGER,
        last_error TEXT
    );",
    // 2: schedules that run themselves, iCalendar feeds, settings.
    "ALTER TABLE schedule ADD COLUMN start_main INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE schedule ADD COLUMN state TEXT NOT NULL DEFAULT 'planned';
    ALTER TABLE schedule ADD COLUMN started_ms INTEGER;
    ALTER TABLE schedule ADD COLUMN ended_ms INTEGER;
    ALTER TABLE schedule ADD COLUMN feed_id INTEGER;
    ALTER TABLE schedule ADD COLUMN note TEXT;
    CREATE UNIQUE INDEX schedule_feed_instance ON schedule (feed_id, external_id)
        WHERE feed_id IS NOT NULL;
    CREATE INDEX schedule_start ON schedule (start_ms);
    CREATE TABLE feeds (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        targets TEXT NOT NULL DEFAULT '[]',
        start_main INTEGER NOT NULL DEFAULT 0,
        scene TEXT,
        refresh_s INTEGER NOT NULL DEFAULT 900,
        last_fetch_ms INTEGER,
        last_error TEXT,
        problems TEXT NOT NULL DEFAULT '[]',
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

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
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Row id.
    pub id: i64,
    /// Start (Unix ms).
    pub started_ms: i64,
    /// End (Unix ms), `None` while live.
    pub ended_ms: Option<i64>,
    /// Target ids that were live during the session.
    pub targets: Vec<String>,
    /// Peak viewers, if a platform reported them.
    pub peak_viewers: Option<i64>,
    /// Why it ended (`stopped`, `obs_lost`, `companion_restart`).
    pub end_reason: Option<String>,
}

/// A history event (connection changes, target state changes, errors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Row id.
    pub id: i64,
    /// When (Unix ms).
    pub ts_ms: i64,
    /// Kind (`obs_connected`, `obs_lost`, `target_state`, ...).
    pub kind: String,
    /// The target concerned, if any.
    pub target_id: Option<String>,
    /// Human-readable text (no secrets).
    pub message: String,
}

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
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    /// Unix seconds (minute start for rolled-up points).
    pub ts_s: i64,
    /// Bitrate (average over the minute for rolled-up points).
    pub kbps: f64,
}

/// Integrity and row counts of a database file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreCheck {
    /// SQLite's `integrity_check` (`ok` when healthy).
    pub integrity: String,
    /// Schema version.
    pub schema_version: i64,
    /// Target rows (deleted ones included).
    pub targets: i64,
    /// Sessions.
    pub sessions: i64,
    /// History events.
    pub events: i64,
    /// 1 s health samples.
    pub health_samples: i64,
    /// Per-minute health rows.
    pub health_minutes: i64,
    /// Newest event id.
    pub last_event_id: Option<i64>,
}

/// The synchronous store.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn, &path.display().to_string())
    }

    /// An in-memory database (unit tests).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?, ":memory:")
    }

    fn init(mut conn: Connection, path: &str) -> Result<Store, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_owned(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        let tx = conn.transaction()?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
        }
        tx.commit()?;
        Ok(Store { conn })
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// SQLite's `PRAGMA integrity_check` result (`ok` when healthy).
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "integrity_check", |r| r.get(0))?)
    }

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

    /// Appends a history event.
    pub fn record_event(
        &mut self,
        ts_ms: i64,
        kind: &str,
        target_id: Option<&str>,
        message: &str,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO events (ts_ms, kind, target_id, message) VALUES (?1, ?2, ?3, ?4)",
            params![ts_ms, kind, target_id, message],
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
        reason: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE sessions SET ended_ms = ?2, end_reason = ?3 WHERE id = ?1 AND ended_ms IS NULL",
            params![id, ended_ms, reason],
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
        let mut st = self.conn.prepare(
            "SELECT id, started_ms, ended_ms, targets, peak_viewers, end_reason FROM sessions
             ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st.query_map([limit], |r| {
            let targets: String = r.get(3)?;
            Ok(Session {
                id: r.get(0)?,
                started_ms: r.get(1)?,
                ended_ms: r.get(2)?,
                targets: serde_json::from_str(&targets).unwrap_or_default(),
                peak_viewers: r.get(4)?,
                end_reason: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

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
    /// up. Returns the number of samples rolled up.
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
             SELECT target_id, (ts_s / 60) * 60, COUNT(*), SUM(state = 'live'), AVG(kbps),
               MIN(kbps), MAX(kbps), AVG(fps), MAX(dropped_frames) - MIN(dropped_frames),
               MAX(reconnects) - MIN(reconnects)
             FROM health_samples WHERE ts_s < ?1 GROUP BY target_id, ts_s / 60
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

    /// What `deckcast db check` reports.
    pub fn check(&self) -> Result<StoreCheck, StoreError> {
        let count = |table: &str| -> Result<i64, StoreError> {
            Ok(self
                .conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
        };
        Ok(StoreCheck {
            integrity: self.integrity_check()?,
            schema_version: self.schema_version()?,
            targets: count("targets")?,
            sessions: count("sessions")?,
            events: count("events")?,
            health_samples: count("health_samples")?,
            health_minutes: count("health_minutes")?,
            last_event_id: self.last_event_id()?,
        })
    }

    /// The newest event id, if any (tests).
    pub fn last_event_id(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))
            .optional()?
            .flatten())
    }
}

/// A list of strings as the JSON text the database keeps.
pub(crate) fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

/// The store shared by the async parts: every call runs on the blocking pool.
#[derive(Debug, Clone)]
pub struct Db {
    inner: Arc<Mutex<Store>>,
}

impl Db {
    /// Wraps an open store.
    pub fn new(store: Store) -> Db {
        Db {
            inner: Arc::new(Mutex::new(store)),
        }
    }

    /// Runs `f` with the store on tokio's blocking pool.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut store = inner.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut store)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
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
    fn migrations_run_once_and_refuse_newer_files() {
        let dir = std::env::temp_dir().join(format!("deckcast-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.sqlite");
        let _ = std::fs::remove_file(&path);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(s.integrity_check().unwrap(), "ok");
        drop(s);
        // Opening again does not re-run migration 1 (it would fail on CREATE TABLE).
        let s = Store::open(&path).unwrap();
        s.conn
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(s);
        let err = Store::open(&path).unwrap_err().to_string();
        assert!(err.contains("newer than this deckcast"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

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

    #[test]
    fn sessions_and_events_form_the_history() {
        let mut s = Store::open_in_memory().unwrap();
        let id = s.open_session(1_000, &["a".into()]).unwrap();
        s.set_session_targets(id, &["a".into(), "b".into()])
            .unwrap();
        s.record_event(1_500, "obs_lost", None, "lost OBS").unwrap();
        s.insert_samples(&[sample("a", 5, 1.0, 0)]).unwrap();
        // A crash leaves the session open: the next start closes it at the last sample.
        assert_eq!(s.close_orphan_sessions().unwrap(), 1);
        let sessions = s.sessions(10).unwrap();
        assert_eq!(sessions[0].targets, vec!["a", "b"]);
        assert_eq!(sessions[0].ended_ms, Some(5_000));
        assert_eq!(sessions[0].end_reason.as_deref(), Some("companion_restart"));
        let id2 = s.open_session(6_000, &[]).unwrap();
        s.close_session(id2, 7_000, "stopped").unwrap();
        assert_eq!(
            s.sessions(1).unwrap()[0].end_reason.as_deref(),
            Some("stopped")
        );
        assert_eq!(s.events(10).unwrap()[0].kind, "obs_lost");
        assert_eq!(s.last_event_id().unwrap(), Some(1));
    }
}
