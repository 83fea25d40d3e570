//! The companion as one set of typed operations. The web handlers, the CLI, the supervisor, the
//! scheduler, the platform pull and the DJ-software readers all call these; none of them runs a
//! workflow of its own.
//!
//! - [`targets`]: targets and keys through the plugin, the live picture, history, sessions;
//! - [`nowplaying`]: the track on air, a tempo measured outside OBS, the configured readers;
//! - [`schedule`]: sets and calendar feeds;
//! - [`platform`]: the streamer's site (webhooks, pull) and the companion's own status;
//! - [`alerts`]: alert rules, alerts and their delivery (desktop, channels, webhook);
//! - [`protect`]: automatic protection carried out (bitrate steps, stopping a stalled target);
//! - [`recording`]: set recording, the recording library, tracklists and their exports;
//! - [`reair`]: a recording played again in OBS, Now Playing following its tracklist;
//! - [`report`]: stream reports and the history charts' data.
//!
//! An [`App`] either follows OBS (`deckcast serve`: the supervisor keeps its link and it records
//! what it observes) or acts once for a command (`deckcast targets ...`), in which case it changes
//! things and records its own actions, but leaves observing (state changes, sessions) to the
//! service.
//!
//! Threads: async on the tokio runtime; std mutexes here are held only to copy or swap a value.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::keys::Keys;
use crate::live::Live;
use crate::obs::ObsLink;
use crate::session::Sessions;
use crate::store::{Db, HistoryKind};
use crate::webhooks::{self, WebhookEvent};

pub mod alerts;
mod error;
pub mod nowplaying;
pub mod platform;
pub mod protect;
pub mod pull;
pub mod reair;
pub mod recording;
pub mod report;
pub mod schedule;
pub mod targets;
#[cfg(test)]
mod tests;

pub use error::AppError;

/// Where the app's time comes from.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The system clock.
    System,
    /// Wall-clock time that advances with tokio's (possibly paused) clock, from `base_ms`.
    Tokio {
        /// Unix ms at `start`.
        base_ms: i64,
        /// When the clock started.
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that starts at the system time now and then follows tokio's clock (unit tests
    /// under `tokio::time::pause()`).
    pub fn tokio() -> Clock {
        Clock::Tokio {
            base_ms: crate::store::now_ms(),
            start: tokio::time::Instant::now(),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => crate::store::now_ms(),
            Clock::Tokio { base_ms, start } => base_ms + start.elapsed().as_millis() as i64,
        }
    }
}

/// How an [`App`] relates to OBS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `deckcast serve`: follows OBS, records and publishes what it observes.
    Service,
    /// A one-off command: acts and records its own actions only.
    Command,
}

/// The companion's state and its operations.
#[derive(Debug)]
pub struct App {
    /// The live picture.
    pub live: Arc<Live>,
    /// The database.
    pub db: Db,
    /// The keyring.
    pub keys: Keys,
    /// HTTP client for calendar feeds and the streamer's site.
    pub http: reqwest::Client,
    role: Role,
    clock: Clock,
    link: Mutex<Option<Arc<ObsLink>>>,
    /// Grows with every new link (so users can tell "the same connection" from "OBS came back").
    link_epoch: AtomicU64,
    sessions: Mutex<Sessions>,
    /// Seconds between `health` webhooks.
    health_interval_s: AtomicU64,
    /// Bumped when the now-playing sources change.
    sources_changed: watch::Sender<u64>,
    /// Held for the whole of a pull from the site.
    pub(crate) pull_lock: tokio::sync::Mutex<()>,
    /// Rules, open alerts, channel status, the desktop connection.
    pub(crate) alerts: alerts::AlertsState,
    /// The recording being followed.
    pub(crate) recording: recording::RecordingState,
    /// The re-air playing.
    pub(crate) reair: reair::ReAirCell,
    /// Sets being finished now (each once, see [`App::finish_set`]).
    ending_sets: std::sync::Mutex<std::collections::HashSet<i64>>,
}

impl App {
    /// An app without a link to OBS yet.
    pub fn new(role: Role, db: Db, keys: Keys, http: reqwest::Client) -> Arc<App> {
        Self::with_clock(role, db, keys, http, Clock::System)
    }

    /// An app on `clock`.
    pub fn with_clock(
        role: Role,
        db: Db,
        keys: Keys,
        http: reqwest::Client,
        clock: Clock,
    ) -> Arc<App> {
        Arc::new(App {
            live: Arc::new(Live::new()),
            db,
            keys,
            http,
            role,
            clock,
            link: Mutex::new(None),
            link_epoch: AtomicU64::new(0),
            sessions: Mutex::new(Sessions::default()),
            health_interval_s: AtomicU64::new(30),
            sources_changed: watch::channel(0).0,
            pull_lock: tokio::sync::Mutex::new(()),
            alerts: alerts::AlertsState::default(),
            recording: recording::RecordingState::default(),
            reair: reair::ReAirCell::default(),
            ending_sets: std::sync::Mutex::new(std::collections::HashSet::new()),
        })
    }

    /// Milliseconds since the Unix epoch, on the app's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Whether this app follows OBS (records and publishes what it observes).
    pub fn follows_obs(&self) -> bool {
        self.role == Role::Service
    }

    /// The current link to OBS, if connected.
    pub fn link(&self) -> Option<Arc<ObsLink>> {
        self.link.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the link (the supervisor on every connect and loss; a command once).
    pub fn set_link(&self, link: Option<Arc<ObsLink>>) {
        let mut guard = self.link.lock().unwrap_or_else(|e| e.into_inner());
        if link.is_some() {
            self.link_epoch.fetch_add(1, Ordering::AcqRel);
        }
        *guard = link;
    }

    /// The current link with its epoch (a number that changes with every new connection).
    pub fn link_with_epoch(&self) -> (Option<Arc<ObsLink>>, u64) {
        let guard = self.link.lock().unwrap_or_else(|e| e.into_inner());
        (guard.clone(), self.link_epoch.load(Ordering::Acquire))
    }

    /// The link, or [`AppError::ObsDown`].
    pub fn obs(&self) -> Result<Arc<ObsLink>, AppError> {
        self.link().ok_or(AppError::ObsDown)
    }

    /// Records a history event; a database failure is logged, never fatal.
    pub async fn record(&self, kind: HistoryKind, target: Option<String>, message: String) {
        tracing::info!(
            kind = kind.as_str(),
            target = target.as_deref().unwrap_or(""),
            "{message}"
        );
        let now = self.now_ms();
        let r = self
            .db
            .call(move |s| s.record_event(now, kind, target.as_deref(), &message))
            .await;
        if let Err(e) = r {
            tracing::error!("history: {e}");
        }
    }

    /// Queues a webhook event (no-op without a configured webhook).
    pub async fn publish(&self, event: WebhookEvent) {
        webhooks::queue(&self.db, event, self.now_ms()).await;
    }

    /// Seconds between `health` webhooks.
    pub fn health_interval_s(&self) -> u64 {
        self.health_interval_s.load(Ordering::Relaxed)
    }

    /// Sets the seconds between `health` webhooks.
    pub fn set_health_interval_s(&self, seconds: u64) {
        self.health_interval_s.store(seconds, Ordering::Relaxed);
    }

    /// Fires whenever the configured now-playing readers change.
    pub fn sources_changed(&self) -> watch::Receiver<u64> {
        self.sources_changed.subscribe()
    }
}
