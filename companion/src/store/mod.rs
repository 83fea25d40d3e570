//! The companion's embedded database (SQLite through rusqlite, bundled): target metadata (never
//! keys), stream sessions, history events, health samples (1 s, rolled up per minute after a few
//! hours), schedule and the platform-sync outbox.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a committed transaction survives `kill -9`
//! of the companion (and a power cut); versioned migrations run in one transaction at open.
//!
//! Threads: [`Store`] is synchronous and owned by [`Db`], which runs every call on tokio's blocking
//! pool behind a std `Mutex` (never held across an `.await`).
//!
//! One file per group of tables, each adding its methods to [`Store`]: [`history`] (targets,
//! sessions, events), [`health`] (1 s samples and minutes), [`settings`], [`outbox`] (webhooks)
//! [`schedule`] (sets and calendar feeds), [`alerts`], [`report`] and [`recordings`] (the
//! recording library and its track changes) with [`uploads`] (recordings on their way to the
//! streamer's site).
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use serde::Serialize;

pub mod alerts;
pub mod health;
pub mod history;
pub mod outbox;
pub mod recordings;
pub mod report;
pub mod schedule;
pub mod settings;
pub mod uploads;

pub use alerts::AlertRow;
pub use health::{Point, Sample};
pub use history::{EndReason, Event, HistoryKind, Session, TargetMeta};
pub use outbox::OutboxItem;
pub use recordings::{LiveTarget, RecordingRow};
pub use report::{SeriesPoint, TargetStats};
pub use uploads::UploadRow;

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
    /// The database file could not be created or protected.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
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
    // 3: what each set started itself (only that is stopped when it ends); webhooks given up on.
    "ALTER TABLE schedule ADD COLUMN started_targets TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE schedule ADD COLUMN started_main INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN dead_ms INTEGER;
    CREATE INDEX outbox_pending ON outbox (next_attempt_ms)
        WHERE delivered_ms IS NULL AND dead_ms IS NULL;",
    // 4: alerts with their measured values.
    "CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        target_id TEXT,
        target_name TEXT,
        message TEXT NOT NULL,
        value REAL NOT NULL,
        worst REAL NOT NULL,
        threshold REAL NOT NULL,
        raised_ms INTEGER NOT NULL,
        acknowledged_ms INTEGER,
        cleared_ms INTEGER,
        cleared_message TEXT,
        action TEXT
    );
    CREATE INDEX alerts_raised ON alerts (raised_ms);
    CREATE INDEX alerts_active ON alerts (id) WHERE cleared_ms IS NULL;",
    // 5: a feed's default set length for events the calendar gives no length (minutes; 0 = do
    // not schedule them).
    "ALTER TABLE feeds ADD COLUMN default_length_min INTEGER NOT NULL DEFAULT 60;",
    // 6: the recording library and the track changes during each recording.
    "CREATE TABLE recordings (
        id INTEGER PRIMARY KEY,
        path TEXT,
        started_ms INTEGER NOT NULL,
        ended_ms INTEGER,
        bytes INTEGER NOT NULL DEFAULT 0,
        set_id INTEGER,
        started_by TEXT NOT NULL,
        targets TEXT NOT NULL DEFAULT '[]',
        chapters TEXT NOT NULL,
        ending TEXT
    );
    CREATE UNIQUE INDEX recordings_one_open ON recordings ((ended_ms IS NULL))
        WHERE ended_ms IS NULL;
    CREATE TABLE recording_tracks (
        recording_id INTEGER NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
        at_ms INTEGER NOT NULL,
        artist TEXT NOT NULL,
        title TEXT NOT NULL
    );
    CREATE INDEX recording_tracks_by ON recording_tracks (recording_id, at_ms);",
    // 7: sets and feeds record (on by default), whether a running set started the recording
    // itself, and a finished recording's SHA-256.
    "ALTER TABLE schedule ADD COLUMN record INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE schedule ADD COLUMN started_record INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE feeds ADD COLUMN record INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE recordings ADD COLUMN sha256 TEXT;",
    // 8: the times a recording was paused (its tracklist's offsets leave them out).
    "CREATE TABLE recording_pauses (
        recording_id INTEGER NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
        from_ms INTEGER NOT NULL,
        until_ms INTEGER
    );
    CREATE INDEX recording_pauses_by ON recording_pauses (recording_id, from_ms);",
    // 9: a recording's upload to the streamer's site (one per recording; a new one replaces it).
    "CREATE TABLE recording_uploads (
        recording_id INTEGER PRIMARY KEY REFERENCES recordings (id) ON DELETE CASCADE,
        state TEXT NOT NULL,
        url TEXT,
        bytes INTEGER NOT NULL,
        offset INTEGER NOT NULL DEFAULT 0,
        sha256 TEXT NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        next_ms INTEGER NOT NULL,
        finished_ms INTEGER
    );",
    // 10: a set's re-air (a recording played again during it).
    "ALTER TABLE schedule ADD COLUMN reair_recording INTEGER;
    ALTER TABLE schedule ADD COLUMN reair_loop INTEGER NOT NULL DEFAULT 0;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

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

/// Creates the data directory (and parents) if needed and makes it private to its owner
/// (0700): history, schedules and calendar URLs are the streamer's business.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it. The file is the
    /// owner's only (0600; SQLite gives its `-wal` and `-shm` files the same mode).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            let io = |e: std::io::Error| StoreError::Io {
                path: path.display().to_string(),
                source: e,
            };
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
            for file in [
                path.to_path_buf(),
                PathBuf::from(format!("{}-wal", path.display())),
                PathBuf::from(format!("{}-shm", path.display())),
            ] {
                if file.exists() {
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                        .map_err(io)?;
                }
            }
        }
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

    #[cfg(unix)]
    #[test]
    fn the_data_dir_and_database_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let root = std::env::temp_dir().join(format!("deckcast-perm-{}", std::process::id()));
        let dir = root.join("a/deckcast");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        // An existing, too open directory and database are tightened.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.join("deckcast.sqlite");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        create_private_dir(&dir).unwrap();
        let s = Store::open(&path).unwrap();
        s.conn.execute("CREATE TABLE t (x)", []).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&path), 0o600);
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        assert!(wal.exists());
        assert_eq!(mode(&wal), 0o600);
        drop(s);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
