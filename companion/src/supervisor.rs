//! OBS supervision for `deckcast serve`: keeps a link to OBS forever (exponential backoff, 1 s to
//! 30 s), resyncs after every reconnect and every few seconds (obws drops lagged events silently,
//! so events only speed things up; polling makes the picture right), polls health once a second
//! into the live picture and the database, and sends the `health` webhook summary.
//!
//! Threads: one tokio task ([`run`]); it hands the current link to the [`App`] so web handlers,
//! the scheduler and the readers can use it.
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use deckcast_protocol::PROTOCOL_VERSION;
use deckcast_protocol::targets::GetTargetHealth;
use deckcast_protocol::version::GetVersion;
use futures_util::StreamExt;
use tokio::sync::watch;

use crate::app::{App, AppError};
use crate::keys::Keys;
use crate::live::{ObsState, wire_name};
use crate::obs::{ConnectOptions, Connector, LinkError, LinkEvent, ObsLink};
use crate::store::{EndReason, HistoryKind, Sample};
use crate::webhooks::{HealthTarget, WebhookEvent};

/// How the supervisor reaches OBS and how long it keeps health data.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// obs-websocket host.
    pub host: String,
    /// obs-websocket port.
    pub port: u16,
    /// Keep 1 s health samples this long before rolling them up per minute.
    pub keep_raw: Duration,
    /// Keep per-minute rows this long.
    pub keep_minutes: Duration,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 4455,
            keep_raw: Duration::from_secs(6 * 3600),
            keep_minutes: Duration::from_secs(90 * 86_400),
        }
    }
}

/// First and longest pause between connection attempts.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest pause between connection attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Where connections come from: obs-websocket with the keyring's password (read again before every
/// attempt, so a password stored while the companion runs is used), or a fixed connector.
#[derive(Debug, Clone)]
pub enum Dialer {
    /// obs-websocket at `host:port`, password from the keyring or `DECKCAST_OBS_PASSWORD`.
    Keyring {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// The keyring.
        keys: Keys,
    },
    /// A connector used as is (unit tests).
    Fixed(Connector),
}

impl Dialer {
    async fn connector(&self) -> Connector {
        match self {
            Dialer::Keyring { host, port, keys } => {
                let keys = keys.clone();
                let password = tokio::task::spawn_blocking(move || keys.obs_password())
                    .await
                    .ok()
                    .and_then(|r| {
                        r.map_err(|e| tracing::warn!("obs-websocket password: {e}"))
                            .ok()
                    })
                    .flatten();
                Connector::Ws(ConnectOptions {
                    host: host.clone(),
                    port: *port,
                    password,
                })
            }
            Dialer::Fixed(c) => c.clone(),
        }
    }
}

/// Runs until `shutdown` turns true: connect, follow, reconnect with backoff, forever.
pub async fn run(
    app: Arc<App>,
    dialer: Dialer,
    cfg: SupervisorConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = app.db.call(|s| s.close_orphan_sessions()).await {
        tracing::error!("closing sessions left open by the previous run: {e}");
    }
    let mut backoff = BACKOFF_MIN;
    let mut lost_at: Option<i64> = None;
    while !*shutdown.borrow() {
        let connector = dialer.connector().await;
        let attempt = tokio::select! {
            r = connector.connect() => r,
            _ = shutdown.changed() => break,
        };
        match attempt {
            Ok(link) => {
                let link = Arc::new(link);
                match hello(&app, &link).await {
                    Ok(()) => {
                        backoff = BACKOFF_MIN;
                        let message = match lost_at.take() {
                            Some(t) => format!(
                                "OBS connection back after {:.0} s",
                                (app.now_ms() - t) as f64 / 1000.0
                            ),
                            None => "connected to OBS".to_owned(),
                        };
                        app.record(HistoryKind::ObsConnected, None, message).await;
                        follow(&app, &link, &cfg, &mut shutdown).await;
                        app.set_link(None);
                        if *shutdown.borrow() {
                            break;
                        }
                        lost_at = Some(app.now_ms());
                        lost(&app).await;
                    }
                    Err(e) => {
                        app.set_link(None);
                        link_failed(&app, &e);
                    }
                }
            }
            Err(e) => link_failed(&app, &AppError::Link(e)),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => break,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
    app.set_link(None);
    app.close_session(EndReason::CompanionStopped).await;
}

fn set_obs_state(app: &App, state: ObsState, message: Option<String>) {
    app.live.update(|s| {
        if s.obs.state != state {
            s.obs.since_ms = app.now_ms();
        }
        s.obs.state = state;
        s.obs.message = message;
        if state != ObsState::Connected {
            s.stats = None;
            s.main_stream = Default::default();
        }
    });
}

async fn lost(app: &App) {
    set_obs_state(
        app,
        ObsState::Disconnected,
        Some("lost the connection to OBS; reconnecting".into()),
    );
    app.record(
        HistoryKind::ObsLost,
        None,
        "lost the connection to OBS".into(),
    )
    .await;
    app.close_session(EndReason::ObsLost).await;
    app.live.update(|s| {
        for t in &mut s.targets {
            t.kbps = 0.0;
            t.fps = 0.0;
        }
    });
}

fn link_failed(app: &App, e: &AppError) {
    let state = match e {
        AppError::Link(LinkError::AuthFailed { .. } | LinkError::NoAuth { .. }) => {
            ObsState::AuthFailed
        }
        AppError::Link(LinkError::PluginMissing) => ObsState::PluginMissing,
        AppError::Link(LinkError::Unsupported { .. }) => ObsState::Unsupported,
        _ => ObsState::Disconnected,
    };
    tracing::warn!("OBS: {e}");
    set_obs_state(app, state, Some(e.to_string()));
}

/// Versions and the plugin's protocol, then the first full sync. The link is handed to the app
/// before the live picture says "connected", so nobody who sees "connected" finds no link.
async fn hello(app: &App, link: &Arc<ObsLink>) -> Result<(), AppError> {
    let versions = link.versions().await?;
    let plugin = link.call(&GetVersion {}).await?;
    let message = (plugin.protocol_version != PROTOCOL_VERSION).then(|| {
        format!(
            "the plugin speaks vendor protocol {} but this companion speaks {}: update the older one",
            plugin.protocol_version, PROTOCOL_VERSION
        )
    });
    app.live.update(|s| {
        s.obs.closing = false;
        s.obs.versions = Some(versions);
        s.obs.plugin_version = Some(plugin.plugin_version.clone());
    });
    app.set_link(Some(Arc::clone(link)));
    set_obs_state(app, ObsState::Connected, message);
    app.resync(link, true).await?;
    // The recording library must never keep the companion from controlling OBS.
    if let Err(e) = app.sync_recording().await {
        tracing::warn!("recording: {e}");
    }
    Ok(())
}

/// Follows events and polls health until the connection ends or shutdown.
async fn follow(
    app: &App,
    link: &ObsLink,
    cfg: &SupervisorConfig,
    shutdown: &mut watch::Receiver<bool>,
) {
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
                Some(e) => on_event(app, e).await,
                None => return,
            },
            _ = tick.tick() => {
                n += 1;
                if let Err(e) = poll(app, link, cfg, n).await {
                    if matches!(&e, AppError::Link(l) if l.is_transport()) {
                        tracing::warn!("OBS stopped answering: {e}");
                        return;
                    }
                    // `Busy` (NotReady) while OBS quits: keep reading its events until it
                    // closes the link, so a last event (a recording's stop) is not lost.
                    tracing::warn!("poll: {e}");
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

async fn on_event(app: &App, e: LinkEvent) {
    match e {
        LinkEvent::TargetState(c) => {
            let changes = app.live.update(|s| {
                s.apply_state(&c.id, c.state, c.last_error.clone(), Some(c.reconnects))
            });
            app.publish_state_changes(changes).await;
        }
        LinkEvent::Health(h) => {
            let changes = app.live.update(|s| s.apply_health(&h.targets));
            app.publish_state_changes(changes).await;
        }
        LinkEvent::Tempo(t) => app.on_tempo(t),
        LinkEvent::MainStream { active } => {
            app.live.update(|s| s.main_stream.active = active);
            let message = if active {
                "OBS stream started"
            } else {
                "OBS stream stopped"
            };
            app.record(HistoryKind::MainStream, None, message.into())
                .await;
            app.track_session().await;
        }
        LinkEvent::Recording { active, path } => app.on_recording_event(active, path).await,
        LinkEvent::RecordingPaused { paused } => app.on_recording_paused(paused).await,
        LinkEvent::Closing => {
            app.live.update(|s| s.obs.closing = true);
            app.record(HistoryKind::ObsClosing, None, "OBS is shutting down".into())
                .await;
        }
    }
}

/// Once a second: health (and samples), OBS's stream and stats; every few seconds the `health`
/// webhook; every 5 s a resync; every minute the roll-up.
async fn poll(app: &App, link: &ObsLink, cfg: &SupervisorConfig, n: u64) -> Result<(), AppError> {
    let report = link.call(&GetTargetHealth::default()).await?;
    let ts_s = app.now_ms() / 1000;
    let samples: Vec<Sample> = report
        .targets
        .iter()
        .filter(|h| h.state.is_active())
        .map(|h| Sample {
            target_id: h.id.clone(),
            ts_s,
            state: wire_name(&h.state),
            kbps: h.kbps,
            fps: h.fps,
            dropped_frames: h.dropped_frames as i64,
            reconnects: i64::from(h.reconnects),
        })
        .collect();
    let changes = app.live.update(|s| s.apply_health(&report.targets));
    app.publish_state_changes(changes).await;
    if !samples.is_empty()
        && let Err(e) = app.db.call(move |s| s.insert_samples(&samples)).await
    {
        tracing::error!("health samples: {e}");
    }
    let main = link.main_stream().await?;
    let stats = link.stats().await?;
    app.live.update(|s| {
        s.main_stream = main;
        s.stats = Some(stats);
    });
    app.track_session().await;
    if n.is_multiple_of(2)
        && let Err(e) = app.sync_recording().await
    {
        tracing::warn!("recording: {e}");
    }
    if n.is_multiple_of(app.health_interval_s().max(5)) {
        let snap = app.live.get();
        if snap.targets.iter().any(|t| t.state.is_active()) || snap.main_stream.active {
            let targets = snap
                .targets
                .iter()
                .map(|t| HealthTarget {
                    id: t.id.clone(),
                    name: t.name.clone(),
                    platform: t.platform.clone(),
                    state: t.state,
                    kbps: t.kbps,
                    fps: t.fps,
                    dropped_frames: t.dropped_frames,
                    uptime_sec: t.uptime_sec,
                    reconnects: t.reconnects,
                })
                .collect();
            app.publish(WebhookEvent::Health {
                targets,
                main_stream: snap.main_stream,
                obs: snap.stats,
            })
            .await;
        }
    }
    if n.is_multiple_of(5) {
        app.resync(link, false).await?;
    }
    if n.is_multiple_of(60) {
        let (raw, minutes) = (
            cfg.keep_raw.as_secs() as i64,
            cfg.keep_minutes.as_secs() as i64,
        );
        if let Err(e) = app.db.call(move |s| s.roll_up(ts_s, raw, minutes)).await {
            tracing::error!("health roll-up: {e}");
        }
    }
    Ok(())
}
