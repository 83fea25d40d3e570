//! The live picture the dashboard, the API and `/metrics` show: OBS connection, main stream,
//! OBS stats, one tile per target (state, health, a 60-point bitrate sparkline) and now playing.
//!
//! Threads: written by the service's OBS task, read by web handlers; a std `Mutex` guards the
//! snapshot (held only to copy or edit it, never across `.await`) and a `watch` channel carries
//! the sequence number of the newest snapshot to SSE subscribers.
use std::collections::VecDeque;
use std::sync::Mutex;

use deckcast_protocol::targets::{TargetHealth, TargetState, TargetView, VideoBitrate, Warning};
use serde::Serialize;
use tokio::sync::watch;

use crate::obs::{MainStream, ObsStats, ObsVersions};

/// Points in a tile's sparkline (one per second).
pub const SPARK_POINTS: usize = 60;

/// The state of the companion's link to OBS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObsState {
    /// Not connected yet.
    #[default]
    Connecting,
    /// Connected, with the plugin answering.
    Connected,
    /// Lost or not reachable; reconnecting.
    Disconnected,
    /// OBS answers but the Deckcast plugin is not loaded.
    PluginMissing,
    /// OBS refused the websocket password.
    AuthFailed,
    /// OBS or obs-websocket is too old.
    Unsupported,
}

impl ObsState {
    /// The name shown in the API and the dashboard.
    pub fn as_str(self) -> &'static str {
        match self {
            ObsState::Connecting => "connecting",
            ObsState::Connected => "connected",
            ObsState::Disconnected => "disconnected",
            ObsState::PluginMissing => "plugin_missing",
            ObsState::AuthFailed => "auth_failed",
            ObsState::Unsupported => "unsupported",
        }
    }
}

/// The companion's link to OBS.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObsConn {
    /// Where the link is.
    pub state: ObsState,
    /// Why it is not connected (no secrets).
    #[schema(required)]
    pub message: Option<String>,
    /// Since when the state holds (Unix ms).
    pub since_ms: i64,
    /// Versions, once connected.
    #[schema(required)]
    pub versions: Option<ObsVersions>,
    /// The plugin's version.
    #[schema(required)]
    pub plugin_version: Option<String>,
    /// Where the plugin keeps keys (`keyring` or `memory`).
    #[schema(required)]
    pub key_storage: Option<String>,
    /// OBS said it is shutting down (a deliberate exit, not a lost link).
    pub closing: bool,
}

/// One target's tile.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tile {
    /// Target id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Platform.
    pub platform: String,
    /// Server URL (never the key).
    pub server: String,
    /// Included in "start all".
    pub enabled: bool,
    /// A key is set in the plugin.
    pub has_key: bool,
    /// State.
    pub state: TargetState,
    /// Last error (redacted by the plugin).
    #[schema(required)]
    pub last_error: Option<String>,
    /// Bitrate.
    pub kbps: f64,
    /// Frames per second sent.
    pub fps: f64,
    /// Frames dropped by the output.
    pub dropped_frames: u64,
    /// Frames sent.
    pub total_frames: u64,
    /// Seconds live.
    pub uptime_sec: f64,
    /// Reconnects.
    pub reconnects: u32,
    /// Congestion 0–1.
    pub congestion: f64,
    /// Warnings.
    pub warnings: Vec<Warning>,
    /// The bitrate its encoders are set to (video + audio), if the plugin knows it.
    #[schema(required)]
    pub expected_kbps: Option<u32>,
    /// Its dedicated encoder's video bitrate, configured and running (none: OBS's shared
    /// encoder).
    #[schema(required)]
    pub video_bitrate: Option<VideoBitrate>,
    /// Active targets streaming from the same encoders, this one included.
    pub encoder_users: u32,
    /// The last [`SPARK_POINTS`] seconds of bitrate, oldest first.
    #[schema(value_type = Vec<f64>)]
    pub spark: VecDeque<f64>,
}

impl Tile {
    fn from_view(v: &TargetView) -> Tile {
        let mut t = Tile {
            id: String::new(),
            name: String::new(),
            platform: String::new(),
            server: String::new(),
            enabled: false,
            has_key: false,
            state: TargetState::Idle,
            last_error: None,
            kbps: 0.0,
            fps: 0.0,
            dropped_frames: 0,
            total_frames: 0,
            uptime_sec: 0.0,
            reconnects: 0,
            congestion: 0.0,
            warnings: Vec::new(),
            expected_kbps: None,
            video_bitrate: None,
            encoder_users: 0,
            spark: VecDeque::with_capacity(SPARK_POINTS),
        };
        t.apply_view(v);
        t
    }

    /// Takes configuration and state from `ListTargets`; health and sparkline stay.
    fn apply_view(&mut self, v: &TargetView) {
        self.id.clone_from(&v.config.id);
        self.name.clone_from(&v.config.name);
        self.platform = wire_name(&v.config.platform);
        self.server.clone_from(&v.config.server);
        self.enabled = v.config.enabled;
        self.has_key = v.has_key;
        self.state = v.state;
        self.last_error.clone_from(&v.last_error);
    }
}

/// The wire name of a serialised enum (`twitch`, `live`, ...).
pub fn wire_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Webhook delivery to the streamer's site, as the dashboard shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// A webhook URL is set.
    pub configured: bool,
    /// The webhook URL (not a secret).
    #[serde(serialize_with = "crate::fetch::serialize_redacted_opt")]
    #[schema(required)]
    pub webhook_url: Option<String>,
    /// Events waiting for delivery.
    pub pending: i64,
    /// Events given up on (the site refused them for good, or they failed too often).
    pub dead: i64,
    /// When the newest one was given up on (Unix ms).
    #[schema(required)]
    pub last_dead_ms: Option<i64>,
    /// Last successful delivery (Unix ms).
    #[schema(required)]
    pub last_delivered_ms: Option<i64>,
    /// The failure of the oldest waiting event, else of the newest dead letter.
    #[schema(required)]
    pub last_error: Option<String>,
}

/// What the Now Playing sources show, as far as the companion knows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NowPlayingView {
    /// Artist.
    pub artist: String,
    /// Title.
    pub title: String,
    /// Album.
    #[schema(required)]
    pub album: Option<String>,
    /// BPM from the DJ software.
    #[schema(required)]
    pub library_bpm: Option<f64>,
    /// Live BPM from the newest `TempoChanged`.
    #[schema(required)]
    pub bpm: Option<f64>,
    /// Its confidence.
    #[schema(required)]
    pub confidence: Option<f64>,
    /// The audio source it was detected from.
    #[schema(required)]
    pub audio_source: Option<String>,
}

/// A target state change the companion observed (from an event, a health poll or a resync).
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    /// Target id.
    pub id: String,
    /// Target name.
    pub name: String,
    /// The state the companion knew before.
    pub previous: TargetState,
    /// The new state.
    pub state: TargetState,
    /// The target's last error.
    pub last_error: Option<String>,
    /// Reconnect episodes since the last manual start.
    pub reconnects: u32,
}

/// Everything live.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Grows with every change.
    pub seq: u64,
    /// When it last changed (Unix ms).
    pub updated_ms: i64,
    /// The OBS link.
    pub obs: ObsConn,
    /// OBS's own stream.
    pub main_stream: MainStream,
    /// OBS's counters.
    #[schema(required)]
    pub stats: Option<ObsStats>,
    /// Targets, in the plugin's order.
    pub targets: Vec<Tile>,
    /// Now playing.
    pub now_playing: NowPlayingView,
    /// Grows whenever the schedule changes (the dashboard then reloads it).
    pub schedule_version: u64,
    /// Webhook delivery to the streamer's site.
    pub sync: SyncStatus,
    /// Alerts not cleared yet, oldest first.
    pub alerts: Vec<crate::alerts::Alert>,
    /// What the plugin's audio meter heard over the last second (none while not measured).
    #[schema(required)]
    pub audio: Option<AudioView>,
}

/// The audio meter's last second, as the dashboard and `/metrics` show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AudioView {
    /// The source metered (empty: OBS's program mix).
    pub source: String,
    /// The meter hears it.
    pub attached: bool,
    /// Loudest sample of the last second (dBFS).
    pub peak_dbfs: f64,
    /// RMS of the last second (dBFS).
    pub rms_dbfs: f64,
    /// How long the audio has been below the dead-air level (s).
    pub silent_sec: f64,
    /// Frames that clipped in the last second.
    pub clipped_frames: u64,
}

impl Snapshot {
    /// Replaces the target list from `ListTargets`, keeping each tile's health and sparkline.
    /// Returns the state changes of targets the picture already had (new targets are no change).
    pub fn set_targets(&mut self, views: &[TargetView]) -> Vec<StateChange> {
        let before = self.states();
        let mut old: Vec<Tile> = std::mem::take(&mut self.targets);
        self.targets = views
            .iter()
            .map(|v| match old.iter().position(|o| o.id == v.config.id) {
                Some(i) => {
                    let mut t = old.swap_remove(i);
                    t.apply_view(v);
                    t
                }
                None => Tile::from_view(v),
            })
            .collect();
        self.changes_since(&before)
    }

    fn states(&self) -> Vec<(String, TargetState)> {
        self.targets
            .iter()
            .map(|t| (t.id.clone(), t.state))
            .collect()
    }

    /// The targets whose state differs from `before` (targets not in `before` are no change).
    fn changes_since(&self, before: &[(String, TargetState)]) -> Vec<StateChange> {
        self.targets
            .iter()
            .filter_map(|t| {
                let (_, previous) = before.iter().find(|(id, _)| *id == t.id)?;
                (*previous != t.state).then(|| StateChange {
                    id: t.id.clone(),
                    name: t.name.clone(),
                    previous: *previous,
                    state: t.state,
                    last_error: t.last_error.clone(),
                    reconnects: t.reconnects,
                })
            })
            .collect()
    }

    /// Applies one health report (one sparkline point per target per call); returns the state
    /// changes it shows.
    pub fn apply_health(&mut self, report: &[TargetHealth]) -> Vec<StateChange> {
        let before = self.states();
        for h in report {
            if let Some(t) = self.targets.iter_mut().find(|t| t.id == h.id) {
                t.state = h.state;
                t.kbps = h.kbps;
                t.fps = h.fps;
                t.dropped_frames = h.dropped_frames;
                t.total_frames = h.total_frames;
                t.uptime_sec = h.uptime_sec;
                t.reconnects = h.reconnects;
                t.congestion = h.congestion;
                t.last_error = h.last_error.clone();
                t.warnings = h.warnings.clone();
                t.expected_kbps = h.expected_kbps;
                t.video_bitrate = h.video_bitrate;
                t.encoder_users = h.encoder_users;
                if t.spark.len() == SPARK_POINTS {
                    t.spark.pop_front();
                }
                t.spark
                    .push_back(if h.state.is_active() { h.kbps } else { 0.0 });
            }
        }
        self.changes_since(&before)
    }

    /// Applies a target's new state (from a `TargetStateChanged` event or a start/stop answer);
    /// returns the change, if it is one.
    pub fn apply_state(
        &mut self,
        id: &str,
        state: TargetState,
        last_error: Option<String>,
        reconnects: Option<u32>,
    ) -> Vec<StateChange> {
        let before = self.states();
        if let Some(t) = self.targets.iter_mut().find(|t| t.id == id) {
            t.state = state;
            t.last_error = last_error;
            if let Some(n) = reconnects {
                t.reconnects = n;
            }
            if !state.is_active() {
                t.kbps = 0.0;
                t.fps = 0.0;
            }
        }
        self.changes_since(&before)
    }

    /// Ids of targets that are live or reconnecting.
    pub fn live_targets(&self) -> Vec<String> {
        self.targets
            .iter()
            .filter(|t| matches!(t.state, TargetState::Live | TargetState::Reconnecting))
            .map(|t| t.id.clone())
            .collect()
    }
}

/// The shared live state.
#[derive(Debug)]
pub struct Live {
    snap: Mutex<Snapshot>,
    tx: watch::Sender<u64>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    /// An empty picture (OBS connecting).
    pub fn new() -> Live {
        let snap = Snapshot {
            obs: ObsConn {
                state: ObsState::Connecting,
                since_ms: crate::store::now_ms(),
                ..ObsConn::default()
            },
            ..Snapshot::default()
        };
        Live {
            snap: Mutex::new(snap),
            tx: watch::channel(0).0,
        }
    }

    /// A copy of the current picture.
    pub fn get(&self) -> Snapshot {
        self.snap.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Edits the picture and tells subscribers (only if something changed).
    pub fn update<R>(&self, f: impl FnOnce(&mut Snapshot) -> R) -> R {
        let mut snap = self.snap.lock().unwrap_or_else(|e| e.into_inner());
        let before = snap.clone();
        let r = f(&mut snap);
        if *snap != before {
            snap.seq += 1;
            snap.updated_ms = crate::store::now_ms();
            let seq = snap.seq;
            drop(snap);
            self.tx.send_replace(seq);
        }
        r
    }

    /// A receiver that sees every new sequence number.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(id: &str, kbps: f64) -> TargetHealth {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": id, "state": "live", "kbps": kbps, "fps": 30.0, "totalFrames": 10,
            "droppedFrames": 1, "congestion": 0.0, "connectTimeMs": 5, "uptimeSec": 3.0,
            "reconnects": 0, "lastError": null, "warnings": []
        }))
        .unwrap()
    }

    fn view(id: &str) -> TargetView {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": id, "platform": "twitch", "server": "rtmp://x/app", "enabled": true,
            "syncStart": false, "syncStop": false,
            "reconnect": {"retryDelaySec": 2, "maxRetries": 25},
            "encoder": {"mode": "shared"}, "hasKey": true, "keyStorage": "keyring",
            "state": "idle", "lastError": null
        }))
        .unwrap()
    }

    #[test]
    fn sparklines_keep_sixty_points_across_target_refreshes() {
        let live = Live::new();
        let rx = live.subscribe();
        live.update(|s| s.set_targets(&[view("a"), view("b")]));
        assert!(rx.has_changed().unwrap());
        for i in 0..70 {
            live.update(|s| s.apply_health(&[health("a", i as f64)]));
        }
        live.update(|s| s.set_targets(&[view("a")]));
        let snap = live.get();
        assert_eq!(snap.targets.len(), 1);
        let spark = &snap.targets[0].spark;
        assert_eq!(spark.len(), SPARK_POINTS);
        assert_eq!((spark[0], spark[59]), (10.0, 69.0));
        // The refresh carries the plugin's state (idle here); events move it on.
        assert!(snap.live_targets().is_empty());
        let changes = live.update(|s| s.apply_state("a", TargetState::Live, None, None));
        assert_eq!(live.get().live_targets(), vec!["a"]);
        assert_eq!(
            changes
                .iter()
                .map(|c| (c.id.as_str(), c.previous, c.state))
                .collect::<Vec<_>>(),
            [("a", TargetState::Idle, TargetState::Live)]
        );
        // The same state seen again (by the next health poll) is no change.
        assert!(
            live.update(|s| s.apply_health(&[health("a", 5.0)]))
                .is_empty()
        );
        // A change seen only by a poll (its event was lost) is one.
        let mut stopped = health("a", 0.0);
        stopped.state = TargetState::Idle;
        let polled = live.update(|s| s.apply_health(&[stopped]));
        assert_eq!(
            polled
                .iter()
                .map(|c| (c.previous, c.state))
                .collect::<Vec<_>>(),
            [(TargetState::Live, TargetState::Idle)]
        );
        let snap = live.get();
        // No change, no new sequence number.
        let seq = snap.seq;
        live.update(|_| ());
        assert_eq!(live.get().seq, seq);
    }
}
