//! `deckcast serve`'s OBS side: keeps a link to OBS forever (exponential backoff, 1 s to 30 s),
//! resyncs after every reconnect and every few seconds (obws drops lagged events silently, so
//! events only speed things up; polling makes the picture right), feeds [`Live`], writes history
//! and 1 s health samples to the [`Db`] and pushes keys the plugin lacks from the keyring.
//!
//! Threads: one tokio task ([`Service::run`]); web handlers borrow the current link through
//! [`Service::link`] (a std `Mutex` around an `Arc`, never held across `.await`).
use std::collections::{BTreeSet, HashSet};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deckcast_protocol::PROTOCOL_VERSION;
use deckcast_protocol::targets::{TargetState, TargetView};
use futures_util::StreamExt;
use tokio::sync::watch;

use crate::keys::{self, Keys};
use crate::live::{Live, StateChange, platform_name};
use crate::obs_link::{ConnectOptions, LinkError, LinkEvent, ObsLink};
use crate::store::{Db, Sample, TargetMeta, now_ms};

/// How the service reaches OBS and how long it keeps health data.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// obs-websocket host.
    pub host: String,
    /// obs-websocket port.
    pub port: u16,
    /// Keep 1 s health samples this long before rolling them up per minute.
    pub keep_raw: Duration,
    /// Keep per-minute rows this long.
    pub keep_minutes: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 4455,
            keep_raw: Duration::from_secs(6 * 3600),
            keep_minutes: Duration::from_secs(90 * 86_400),
        }
    }
}

const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct SessionState {
    /// Open session row and the targets seen live in it.
    open: Option<(i64, BTreeSet<String>)>,
}

/// The OBS side of the companion.
#[derive(Debug)]
pub struct Service {
    /// The live picture.
    pub live: Arc<Live>,
    /// The database.
    pub db: Db,
    /// The keyring.
    pub keys: Keys,
    cfg: ServiceConfig,
    link: Mutex<Option<Arc<ObsLink>>>,
    session: Mutex<SessionState>,
    /// Seconds between `health` webhooks.
    pub health_interval_s: std::sync::atomic::AtomicU64,
    /// Bumped when the now-playing sources change.
    pub sources_changed: watch::Sender<u64>,
}

impl Service {
    /// A service that has not connected yet.
    pub fn new(cfg: ServiceConfig, db: Db, keys: Keys) -> Arc<Service> {
        Arc::new(Service {
            live: Arc::new(Live::new()),
            db,
            keys,
            cfg,
            link: Mutex::new(None),
            session: Mutex::new(SessionState::default()),
            health_interval_s: std::sync::atomic::AtomicU64::new(30),
            sources_changed: watch::channel(0).0,
        })
    }

    /// The current link to OBS, if connected.
    pub fn link(&self) -> Option<Arc<ObsLink>> {
        self.link.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_link(&self, link: Option<Arc<ObsLink>>) {
        *self.link.lock().unwrap_or_else(|e| e.into_inner()) = link;
    }

    /// Records a history event; a database failure is logged, never fatal.
    pub async fn record(&self, kind: &'static str, target: Option<String>, message: String) {
        tracing::info!(kind, target = target.as_deref().unwrap_or(""), "{message}");
        let r = self
            .db
            .call(move |s| s.record_event(now_ms(), kind, target.as_deref(), &message))
            .await;
        if let Err(e) = r {
            tracing::error!("history: {e}");
        }
    }

    /// Tells dashboards the schedule changed and queues a `schedule` webhook with the upcoming sets.
    pub fn schedule_changed(&self) {
        self.live.update(|s| s.schedule_version += 1);
        let db = self.db.clone();
        tokio::spawn(async move {
            let r = db
                .call(|s| {
                    let now = now_ms();
                    let upcoming: Vec<_> = s
                        .entries(now, 0)?
                        .into_iter()
                        .filter(|e| e.state == "planned" || e.state == "running")
                        .collect();
                    s.enqueue("schedule", &serde_json::json!({"entries": upcoming}), now)
                })
                .await;
            if let Err(e) = r {
                tracing::error!("webhook outbox: {e}");
            }
        });
    }

    /// Shows `track` in OBS's Now Playing sources (if it changed): `SetNowPlaying`, the live
    /// picture, history and the `nowplaying` webhook. Returns false if it was already shown.
    pub async fn now_playing(&self, track: crate::readers::Track) -> Result<bool, LinkError> {
        let same = {
            let s = self.live.get();
            s.now_playing.artist == track.artist
                && s.now_playing.title == track.title
                && s.now_playing.album == track.album
                && s.now_playing.library_bpm == track.bpm
        };
        if same {
            return Ok(false);
        }
        let link = self
            .link()
            .ok_or_else(|| LinkError::Obs("OBS is not connected".into()))?;
        link.set_now_playing(&crate::obs_link::NowPlaying {
            artist: track.artist.clone(),
            title: track.title.clone(),
            album: track.album.clone(),
            bpm: track.bpm,
        })
        .await?;
        self.live.update(|s| {
            s.now_playing.artist = track.artist.clone();
            s.now_playing.title = track.title.clone();
            s.now_playing.album = track.album.clone();
            s.now_playing.library_bpm = track.bpm;
        });
        self.record(
            "nowplaying",
            None,
            format!("now playing: {} – {}", track.artist, track.title),
        )
        .await;
        self.emit(
            "nowplaying",
            serde_json::json!({"artist": track.artist, "title": track.title, "album": track.album, "bpm": track.bpm}),
        )
        .await;
        Ok(true)
    }

    /// Queues a webhook event (no-op without a configured webhook); failures are logged.
    pub async fn emit(&self, kind: &'static str, data: serde_json::Value) {
        if let Err(e) = self
            .db
            .call(move |s| s.enqueue(kind, &data, now_ms()))
            .await
        {
            tracing::error!("webhook outbox: {e}");
        }
    }

    fn set_obs_state(&self, state: &str, message: Option<String>) {
        self.live.update(|s| {
            if s.obs.state != state {
                s.obs.since_ms = now_ms();
            }
            s.obs.state = state.to_owned();
            s.obs.message = message;
            if state != "connected" {
                s.stats = None;
                s.main_stream = Default::default();
            }
        });
    }

    /// Runs until `shutdown` turns true: connect, follow, reconnect with backoff, forever.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        if let Err(e) = self.db.call(|s| s.close_orphan_sessions()).await {
            tracing::error!("closing sessions left open by the previous run: {e}");
        }
        let mut backoff = BACKOFF_MIN;
        let mut lost_at: Option<i64> = None;
        while !*shutdown.borrow() {
            let keys = self.keys.clone();
            let password = tokio::task::spawn_blocking(move || keys.obs_password())
                .await
                .ok()
                .and_then(|r| {
                    r.map_err(|e| tracing::warn!("obs-websocket password: {e}"))
                        .ok()
                })
                .flatten();
            let opts = ConnectOptions {
                host: self.cfg.host.clone(),
                port: self.cfg.port,
                password,
            };
            let attempt = tokio::select! {
                r = ObsLink::connect(&opts) => r,
                _ = shutdown.changed() => break,
            };
            match attempt {
                Ok(link) => {
                    let link = Arc::new(link);
                    match self.hello(&link).await {
                        Ok(()) => {
                            backoff = BACKOFF_MIN;
                            let message = match lost_at.take() {
                                Some(t) => format!(
                                    "OBS connection back after {:.0} s",
                                    (now_ms() - t) as f64 / 1000.0
                                ),
                                None => "connected to OBS".to_owned(),
                            };
                            self.record("obs_connected", None, message).await;
                            self.set_link(Some(Arc::clone(&link)));
                            self.follow(&link, &mut shutdown).await;
                            self.set_link(None);
                            if *shutdown.borrow() {
                                break;
                            }
                            lost_at = Some(now_ms());
                            self.set_obs_state(
                                "disconnected",
                                Some("lost the connection to OBS; reconnecting".into()),
                            );
                            self.record("obs_lost", None, "lost the connection to OBS".into())
                                .await;
                            self.close_session("obs_lost").await;
                            self.live.update(|s| {
                                for t in &mut s.targets {
                                    t.kbps = 0.0;
                                    t.fps = 0.0;
                                }
                            });
                        }
                        Err(e) => self.link_failed(&e),
                    }
                }
                Err(e) => self.link_failed(&e),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => break,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        self.set_link(None);
        self.close_session("companion_stopped").await;
    }

    fn link_failed(&self, e: &LinkError) {
        let state = match e {
            LinkError::AuthFailed { .. } => "auth_failed",
            LinkError::PluginMissing => "plugin_missing",
            LinkError::Unsupported { .. } => "unsupported",
            _ => "disconnected",
        };
        tracing::warn!("OBS: {e}");
        self.set_obs_state(state, Some(e.to_string()));
    }

    /// Versions and the plugin's protocol, then the first full sync.
    async fn hello(&self, link: &ObsLink) -> Result<(), LinkError> {
        let versions = link.versions().await?;
        let plugin = link.plugin_version().await?;
        let message = (plugin.protocol_version != PROTOCOL_VERSION).then(|| {
            format!(
                "the plugin speaks vendor protocol {} but this companion speaks {}: update the older one",
                plugin.protocol_version, PROTOCOL_VERSION
            )
        });
        self.live.update(|s| {
            s.obs.versions = Some(versions);
            s.obs.plugin_version = Some(plugin.plugin_version.clone());
        });
        self.set_obs_state("connected", message);
        self.resync(link, true).await
    }

    /// Follows events and polls health until the connection ends or shutdown.
    async fn follow(&self, link: &ObsLink, shutdown: &mut watch::Receiver<bool>) {
        let Ok(events) = link.events() else {
            return;
        };
        let mut events = pin!(events);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut n: u64 = 0;
        loop {
            tokio::select! {
                ev = events.next() => match ev {
                    Some(e) => self.on_event(e).await,
                    None => return,
                },
                _ = tick.tick() => {
                    n += 1;
                    if let Err(e) = self.poll(link, n).await {
                        if matches!(e, LinkError::Obs(_) | LinkError::Unreachable { .. }) {
                            tracing::warn!("OBS stopped answering: {e}");
                            return;
                        }
                        tracing::warn!("poll: {e}");
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn on_event(&self, e: LinkEvent) {
        match e {
            LinkEvent::TargetState(c) => {
                let changes = self.live.update(|s| {
                    s.apply_state(&c.id, c.state, c.last_error.clone(), Some(c.reconnects))
                });
                self.publish_state_changes(changes).await;
            }
            LinkEvent::Health(h) => {
                let changes = self.live.update(|s| s.apply_health(&h.targets));
                self.publish_state_changes(changes).await;
            }
            LinkEvent::Tempo {
                bpm,
                confidence,
                audio_source,
            } => self.live.update(|s| {
                s.now_playing.bpm = Some(bpm);
                s.now_playing.confidence = Some(confidence);
                s.now_playing.audio_source = Some(audio_source);
            }),
            LinkEvent::MainStream { active } => {
                self.live.update(|s| s.main_stream.active = active);
                let message = if active {
                    "OBS stream started"
                } else {
                    "OBS stream stopped"
                };
                self.record("main_stream", None, message.into()).await;
                self.track_session().await;
            }
            LinkEvent::Closing => {
                self.record("obs_closing", None, "OBS is shutting down".into())
                    .await;
            }
        }
    }

    /// Once a second: health (and samples); every 5 s: targets, stats, main stream.
    async fn poll(&self, link: &ObsLink, n: u64) -> Result<(), LinkError> {
        let report = link.health().await?;
        let ts_s = now_ms() / 1000;
        let samples: Vec<Sample> = report
            .targets
            .iter()
            .filter(|h| h.state.is_active())
            .map(|h| Sample {
                target_id: h.id.clone(),
                ts_s,
                state: platform_name(&h.state),
                kbps: h.kbps,
                fps: h.fps,
                dropped_frames: h.dropped_frames as i64,
                reconnects: i64::from(h.reconnects),
            })
            .collect();
        let changes = self.live.update(|s| s.apply_health(&report.targets));
        self.publish_state_changes(changes).await;
        if !samples.is_empty()
            && let Err(e) = self.db.call(move |s| s.insert_samples(&samples)).await
        {
            tracing::error!("health samples: {e}");
        }
        let main = link.main_stream().await?;
        let stats = link.stats().await?;
        self.live.update(|s| {
            s.main_stream = main;
            s.stats = Some(stats);
        });
        self.track_session().await;
        let every = self
            .health_interval_s
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(5);
        if n.is_multiple_of(every) {
            let snap = self.live.get();
            if snap.targets.iter().any(|t| t.state.is_active()) || snap.main_stream.active {
                let targets: Vec<_> = snap
                    .targets
                    .iter()
                    .map(|t| serde_json::json!({"id": t.id, "name": t.name, "platform": t.platform,
                        "state": t.state, "kbps": t.kbps, "fps": t.fps, "droppedFrames": t.dropped_frames,
                        "uptimeSec": t.uptime_sec, "reconnects": t.reconnects}))
                    .collect();
                self.emit(
                    "health",
                    serde_json::json!({"targets": targets, "mainStream": snap.main_stream, "obs": snap.stats}),
                )
                .await;
            }
        }
        if n.is_multiple_of(5) {
            self.resync(link, false).await?;
        }
        if n.is_multiple_of(60) {
            let (raw, minutes) = (
                self.cfg.keep_raw.as_secs() as i64,
                self.cfg.keep_minutes.as_secs() as i64,
            );
            if let Err(e) = self.db.call(move |s| s.roll_up(ts_s, raw, minutes)).await {
                tracing::error!("health roll-up: {e}");
            }
        }
        Ok(())
    }

    /// Re-reads the targets (the plugin is the source of truth), mirrors their metadata into the
    /// database and, on a fresh connection, gives the plugin keys it lacks from the keyring.
    pub async fn resync(&self, link: &ObsLink, fresh: bool) -> Result<(), LinkError> {
        let list = link.list_targets().await?;
        let health = link.health().await?;
        let changes = self.live.update(|s| {
            s.obs.key_storage = Some(list.key_storage.clone());
            let mut changes = s.set_targets(&list.targets);
            changes.extend(s.apply_health(&health.targets));
            changes
        });
        self.publish_state_changes(changes).await;
        let metas: Vec<TargetMeta> = list.targets.iter().map(meta_of).collect();
        let r = self
            .db
            .call(move |s| {
                let now = now_ms();
                let present: HashSet<&str> = metas.iter().map(|m| m.id.as_str()).collect();
                for old in s.targets()? {
                    if !present.contains(old.id.as_str()) {
                        s.delete_target(&old.id, now)?;
                    }
                }
                for m in &metas {
                    s.upsert_target(m, now)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = r {
            tracing::error!("target metadata: {e}");
        }
        if fresh {
            for t in list.targets.iter().filter(|t| !t.has_key) {
                self.push_key(link, &t.config.id).await;
            }
        }
        self.track_session().await;
        Ok(())
    }

    /// Gives the plugin the keyring's key for `id`, if the keyring has one.
    pub async fn push_key(&self, link: &ObsLink, id: &str) {
        let key = self
            .keys
            .get_async(&keys::stream_key_account(id))
            .await
            .ok()
            .flatten();
        if let Some(key) = key {
            match link.set_stream_key(id, &key).await {
                Ok(()) => {
                    self.record(
                        "key_pushed",
                        Some(id.to_owned()),
                        "gave the plugin the stream key from the keyring".into(),
                    )
                    .await;
                }
                Err(e) => tracing::warn!("pushing the key of {id}: {e}"),
            }
        }
    }

    /// Applies a target's state from a start/stop answer and publishes the change, if it is one.
    pub async fn observe_state(&self, id: &str, state: TargetState, last_error: Option<String>) {
        let changes = self
            .live
            .update(|s| s.apply_state(id, state, last_error, None));
        self.publish_state_changes(changes).await;
    }

    /// Records and sends (`target.state` webhook) every target state change, however the
    /// companion learnt of it: a `TargetStateChanged` event, a health poll or a resync. The live
    /// picture decides what is a change, so a change seen twice is published once and a lost
    /// event (obws drops lagged ones; OBS 32 once sent them undecodable) is caught by the next poll.
    async fn publish_state_changes(&self, changes: Vec<StateChange>) {
        if changes.is_empty() {
            return;
        }
        for c in changes {
            let message = match (&c.state, &c.last_error) {
                (TargetState::Error, Some(err)) => format!("{}: failed: {err}", c.name),
                (TargetState::Reconnecting, _) => {
                    format!(
                        "{}: reconnecting (reconnect {})",
                        c.name,
                        c.reconnects.max(1)
                    )
                }
                (state, _) => format!("{}: {}", c.name, platform_name(state)),
            };
            self.record("target_state", Some(c.id.clone()), message)
                .await;
            self.emit(
                "target.state",
                serde_json::json!({"id": c.id, "name": c.name, "state": c.state,
                    "previous": c.previous, "lastError": c.last_error, "reconnects": c.reconnects}),
            )
            .await;
        }
        self.track_session().await;
    }

    /// Opens, extends or closes the stream session from the live picture.
    async fn track_session(&self) {
        let snap = self.live.get();
        let mut live: BTreeSet<String> = snap.live_targets().into_iter().collect();
        if snap.main_stream.active {
            live.insert("obs".to_owned());
        }
        enum Action {
            None,
            Open(Vec<String>),
            Extend(i64, Vec<String>),
            Close(i64),
        }
        let action = {
            let mut st = self.session.lock().unwrap_or_else(|e| e.into_inner());
            match (&mut st.open, live.is_empty()) {
                (None, true) => Action::None,
                (None, false) => Action::Open(live.iter().cloned().collect()),
                (Some((id, seen)), false) => {
                    let before = seen.len();
                    seen.extend(live.iter().cloned());
                    if seen.len() != before {
                        Action::Extend(*id, seen.iter().cloned().collect())
                    } else {
                        Action::None
                    }
                }
                (Some((id, _)), true) => {
                    let id = *id;
                    st.open = None;
                    Action::Close(id)
                }
            }
        };
        let r = match action {
            Action::None => return,
            Action::Open(targets) => {
                let seen: BTreeSet<String> = targets.iter().cloned().collect();
                match self
                    .db
                    .call(move |s| s.open_session(now_ms(), &targets))
                    .await
                {
                    Ok(id) => {
                        let outputs: Vec<String> = seen.iter().cloned().collect();
                        self.session.lock().unwrap_or_else(|e| e.into_inner()).open =
                            Some((id, seen));
                        self.emit(
                            "stream.started",
                            serde_json::json!({"sessionId": id, "startedMs": now_ms(), "outputs": outputs}),
                        )
                        .await;
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Action::Extend(id, targets) => {
                self.db
                    .call(move |s| s.set_session_targets(id, &targets))
                    .await
            }
            Action::Close(id) => {
                self.emit(
                    "stream.ended",
                    serde_json::json!({"sessionId": id, "endedMs": now_ms(), "reason": "stopped"}),
                )
                .await;
                self.db
                    .call(move |s| s.close_session(id, now_ms(), "stopped"))
                    .await
            }
        };
        if let Err(e) = r {
            tracing::error!("stream session: {e}");
        }
    }

    async fn close_session(&self, reason: &'static str) {
        let open = self
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open
            .take();
        if let Some((id, _)) = open {
            self.emit(
                "stream.ended",
                serde_json::json!({"sessionId": id, "endedMs": now_ms(), "reason": reason}),
            )
            .await;
            if let Err(e) = self
                .db
                .call(move |s| s.close_session(id, now_ms(), reason))
                .await
            {
                tracing::error!("stream session: {e}");
            }
        }
    }
}

/// The metadata the database keeps of a target.
pub fn meta_of(t: &TargetView) -> TargetMeta {
    TargetMeta {
        id: t.config.id.clone(),
        name: t.config.name.clone(),
        platform: platform_name(&t.config.platform),
        server: t.config.server.clone(),
    }
}
