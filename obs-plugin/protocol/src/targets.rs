//! Multistream targets: configuration, state, health, and the request/response/event payloads.
//!
//! Field names are camelCase on the wire. Stream keys travel only in requests (`key` in
//! [`CreateTarget`], [`UpdateTarget`], [`SetStreamKey`]); no response or event ever contains one.
use serde::{Deserialize, Serialize};

/// Streaming platform presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Twitch.
    Twitch,
    /// YouTube Live.
    Youtube,
    /// Facebook Live (RTMPS only).
    Facebook,
    /// TikTok LIVE (server URL comes with each stream key).
    Tiktok,
    /// Kick (RTMPS).
    Kick,
    /// Any RTMP/RTMPS server.
    #[default]
    Custom,
}

/// What a platform accepts; used to fill the server URL and to warn about settings it would reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PlatformPreset {
    /// The preset.
    pub platform: Platform,
    /// Default ingest server, if the platform has a fixed one.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub default_server: Option<&'static str>,
    /// Highest video bitrate the platform accepts (kbps).
    pub max_video_kbps: u32,
    /// Largest frame height it accepts.
    pub max_height: u32,
    /// Highest frame rate.
    pub max_fps: u32,
    /// Longest keyframe interval it accepts (seconds).
    pub max_keyint_sec: u32,
}

impl Platform {
    /// Every platform, in UI order.
    pub const ALL: [Platform; 6] = [
        Platform::Twitch,
        Platform::Youtube,
        Platform::Facebook,
        Platform::Tiktok,
        Platform::Kick,
        Platform::Custom,
    ];

    /// The preset's server and limits (from the platforms' published ingest guidelines).
    pub fn preset(self) -> PlatformPreset {
        let (default_server, max_video_kbps, max_height, max_fps, max_keyint_sec) = match self {
            Platform::Twitch => (Some("rtmp://live.twitch.tv/app"), 8_000, 1080, 60, 2),
            Platform::Youtube => (Some("rtmp://a.rtmp.youtube.com/live2"), 51_000, 2160, 60, 4),
            Platform::Facebook => (
                Some("rtmps://live-api-s.facebook.com:443/rtmp/"),
                9_000,
                1080,
                60,
                2,
            ),
            Platform::Tiktok => (None, 6_000, 1920, 60, 2),
            Platform::Kick => (
                Some("rtmps://fa723fc1b171.global-contribute.live-video.net/app"),
                8_000,
                1080,
                60,
                2,
            ),
            Platform::Custom => (None, 100_000, 4320, 240, 10),
        };
        PlatformPreset {
            platform: self,
            default_server,
            max_video_kbps,
            max_height,
            max_fps,
            max_keyint_sec,
        }
    }
}

/// How a target reconnects after losing its server (passed to libobs per output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReconnectPolicy {
    /// Seconds before the first retry (libobs backs off ×1.5 from there). 1–60.
    pub retry_delay_sec: u32,
    /// Retries before the target gives up and ends in `error`. 0 disables reconnecting; at most 1000.
    pub max_retries: u32,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            retry_delay_sec: 2,
            max_retries: 20,
        }
    }
}

/// Which encoders feed a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum EncoderChoice {
    /// OBS's own streaming encoders: N shared targets cost one encode.
    #[default]
    Shared,
    /// A dedicated encoder pair from an [`EncoderConfig`] (targets naming the same config share it).
    Dedicated {
        /// The [`EncoderConfig::id`].
        #[serde(rename = "configId")]
        config_id: String,
    },
}

/// Settings of a dedicated video + audio encoder pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EncoderConfig {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// OBS video encoder id (`obs_x264`, `ffmpeg_nvenc`, ...).
    pub encoder: String,
    /// Video bitrate (kbps, CBR).
    pub bitrate_kbps: u32,
    /// Keyframe interval (seconds).
    pub keyint_sec: u32,
    /// Encoder preset (x264: `ultrafast` ... `veryslow`).
    pub preset: String,
    /// Scaled output width (`None`: OBS's output size).
    #[cfg_attr(feature = "openapi", schema(required))]
    pub width: Option<u32>,
    /// Scaled output height.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub height: Option<u32>,
    /// Frame rate divisor (1 = OBS's frame rate, 2 = half, ...).
    pub fps_divisor: u32,
    /// Audio bitrate (kbps, AAC).
    pub audio_bitrate_kbps: u32,
    /// OBS audio track (1–6).
    pub audio_track: u32,
}

/// Optional fields of an [`EncoderConfig`] in requests; missing ones take defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncoderConfigInput {
    /// See [`EncoderConfig::name`].
    pub name: Option<String>,
    /// See [`EncoderConfig::encoder`] (default `obs_x264`).
    pub encoder: Option<String>,
    /// Default 2500.
    pub bitrate_kbps: Option<u32>,
    /// Default 2.
    pub keyint_sec: Option<u32>,
    /// Default `veryfast`.
    pub preset: Option<String>,
    /// Scaled width (with `height`).
    pub width: Option<u32>,
    /// Scaled height (with `width`).
    pub height: Option<u32>,
    /// Default 1.
    pub fps_divisor: Option<u32>,
    /// Default 160.
    pub audio_bitrate_kbps: Option<u32>,
    /// Default 1.
    pub audio_track: Option<u32>,
}

/// The encoder part of create/update requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum EncoderRequest {
    /// Use OBS's streaming encoders.
    Shared,
    /// Use an existing config (`configId`) or create one from `config`.
    Dedicated {
        /// Reuse this config.
        #[serde(rename = "configId", default)]
        config_id: Option<String>,
        /// Create a new config with these settings.
        #[serde(default)]
        config: Option<EncoderConfigInput>,
    },
}

/// A target's stored configuration (never contains the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TargetConfig {
    /// Stable id; the OBS output is named `deckcast:<id>`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Platform preset.
    pub platform: Platform,
    /// `rtmp://` or `rtmps://` server URL.
    pub server: String,
    /// Included in "start all" and sync starts.
    pub enabled: bool,
    /// Start when OBS's main stream starts.
    pub sync_start: bool,
    /// Stop when OBS's main stream stops.
    pub sync_stop: bool,
    /// Reconnect policy.
    pub reconnect: ReconnectPolicy,
    /// Encoder choice.
    pub encoder: EncoderChoice,
}

/// Target lifecycle states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TargetState {
    /// Not streaming.
    #[default]
    Idle,
    /// Start requested, connecting to the server.
    Connecting,
    /// Streaming.
    Live,
    /// Lost the server, retrying per the reconnect policy.
    Reconnecting,
    /// Stop requested.
    Stopping,
    /// Stopped by a failure (see `lastError`); a manual start tries again.
    Error,
}

impl TargetState {
    /// True while an output runs or tries to (connecting, live, reconnecting, stopping).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            TargetState::Connecting
                | TargetState::Live
                | TargetState::Reconnecting
                | TargetState::Stopping
        )
    }
}

/// A warning attached to a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    /// `dynamic_bitrate`, `key_in_memory`, `no_key`, `platform_limit`.
    pub code: String,
    /// A sentence for humans.
    pub message: String,
}

/// A target as clients see it: configuration plus key presence and current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TargetView {
    /// The configuration.
    #[serde(flatten)]
    pub config: TargetConfig,
    /// A stream key is stored.
    pub has_key: bool,
    /// Where keys are stored: `keyring` or `memory` (session only).
    pub key_storage: String,
    /// Current state.
    pub state: TargetState,
    /// Last failure as a sentence.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub last_error: Option<String>,
    /// Why the server URL looks wrong (a path longer than the platform's ingest path usually
    /// means the stream key was pasted into the URL), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_warning: Option<String>,
}

/// Live health of one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TargetHealth {
    /// Target id.
    pub id: String,
    /// Target name.
    pub name: String,
    /// State.
    pub state: TargetState,
    /// Bitrate over the last sample (kbit/s, from byte deltas).
    pub kbps: f64,
    /// Frames per second over the last sample.
    pub fps: f64,
    /// Frames sent since the output started.
    pub total_frames: u64,
    /// Frames this target dropped (its own network queue).
    pub dropped_frames: u64,
    /// libobs congestion estimate, 0–1.
    pub congestion: f64,
    /// Time the last connect took (ms).
    pub connect_time_ms: u64,
    /// Seconds live since the last start.
    pub uptime_sec: f64,
    /// Reconnect episodes since the last manual start.
    pub reconnects: u32,
    /// Last failure as a sentence.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub last_error: Option<String>,
    /// Current warnings.
    pub warnings: Vec<Warning>,
    /// The bitrate the target's encoders are set to (video + audio, kbit/s): its dedicated encoder
    /// config, or for a shared-encoder target OBS's own stream settings. Absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_kbps: Option<u32>,
    /// The video bitrate of its dedicated encoder (absent for a shared-encoder target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_bitrate: Option<VideoBitrate>,
    /// Active targets streaming from the same encoders, this one included (0 while it is not
    /// active): a dedicated encoder config shared by several live targets changes for all.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required))]
    pub encoder_users: u32,
}

/// A dedicated encoder's video bitrate: what its config says and what it runs at now
/// ([`SetTargetVideoBitrate`] lowers it while a link cannot carry it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VideoBitrate {
    /// The config's video bitrate (kbit/s).
    pub configured_kbps: u32,
    /// What the encoder runs at now (kbit/s); equal to `configured_kbps` unless lowered.
    pub applied_kbps: u32,
    /// Whether the encoder can change its bitrate while it runs (OBS's dynamic-bitrate
    /// capability: x264, NVENC, ... have it).
    pub adjustable: bool,
}

/// `SetTargetVideoBitrate {id, kbps?}` -> the target's [`VideoBitrate`]: runs the target's
/// dedicated encoder at `kbps` (between [`MIN_VIDEO_KBPS`] and its config's bitrate) while it is
/// live, or back at its config's bitrate (`kbps` absent). Every target on the same encoder config
/// streams the new bitrate; the config itself does not change, and the next start of the encoder
/// uses the config's bitrate again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetTargetVideoBitrate {
    /// Target id.
    pub id: String,
    /// The video bitrate (kbit/s); absent: the config's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kbps: Option<u32>,
}

/// The lowest video bitrate [`SetTargetVideoBitrate`] sets (kbit/s).
pub const MIN_VIDEO_KBPS: u32 = 100;

/// `CreateTarget` request -> [`TargetReply`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTarget {
    /// Display name (required).
    pub name: String,
    /// Preset (default `custom`).
    #[serde(default)]
    pub platform: Platform,
    /// Server URL; defaults to the preset's server.
    pub server: Option<String>,
    /// Stream key (stored in the keyring).
    pub key: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Default false.
    pub sync_start: Option<bool>,
    /// Default false.
    pub sync_stop: Option<bool>,
    /// Default 2 s / 20 retries.
    pub reconnect: Option<ReconnectPolicy>,
    /// Default shared.
    pub encoder: Option<EncoderRequest>,
}

/// `UpdateTarget` request: only the given fields change -> [`TargetReply`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTarget {
    /// Target id (in the REST API it is the path's, so the body's schema leaves it out).
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub id: String,
    /// New name.
    pub name: Option<String>,
    /// New platform.
    pub platform: Option<Platform>,
    /// New server URL.
    pub server: Option<String>,
    /// New stream key.
    pub key: Option<String>,
    /// New enabled flag.
    pub enabled: Option<bool>,
    /// New syncStart.
    pub sync_start: Option<bool>,
    /// New syncStop.
    pub sync_stop: Option<bool>,
    /// New reconnect policy.
    pub reconnect: Option<ReconnectPolicy>,
    /// New encoder choice.
    pub encoder: Option<EncoderRequest>,
}

macro_rules! by_id {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name {
            /// The target's id (the encoder config's id for `DeleteEncoderConfig`).
            pub id: String,
        }

        impl $name {
            /// The request for `id`.
            pub fn new(id: impl Into<String>) -> Self {
                Self { id: id.into() }
            }
        }
    )*};
}

by_id! {
    /// `GetTarget {id}` -> [`TargetReply`].
    GetTarget;
    /// `DeleteTarget {id}` -> `{}` (its key leaves the keyring too).
    DeleteTarget;
    /// `StartTarget {id}` -> [`TargetReply`] (a no-op while it runs).
    StartTarget;
    /// `DeleteEncoderConfig {id}` -> `{}`; refused while a target uses the config.
    DeleteEncoderConfig;
}

/// `StopTarget {id, force?}` -> [`TargetReply`]. A stop lets the output send what it has
/// buffered; `force` (or a second stop while it is still stopping, as in OBS) drops that and
/// stops at once, for a link so stalled the buffer would take minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StopTarget {
    /// The target's id.
    pub id: String,
    /// Stop at once, dropping what is buffered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

impl StopTarget {
    /// A stop of `id` that sends what is buffered first.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            force: false,
        }
    }

    /// A stop of `id` at once.
    pub fn forced(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            force: true,
        }
    }
}

macro_rules! no_data {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub struct $name {}
    )*};
}

no_data! {
    /// `ListTargets {}` -> [`TargetList`].
    ListTargets;
    /// `StartAllTargets {}` -> [`BulkReply`] (enabled targets only).
    StartAllTargets;
    /// `StopAllTargets {}` -> [`BulkReply`].
    StopAllTargets;
    /// `ExportTargets {}` -> [`TargetsExport`] (no keys).
    ExportTargets;
}

/// `SetStreamKey` request -> `{}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetStreamKey {
    /// Target id.
    pub id: String,
    /// The new key.
    pub key: String,
}

/// `GetTargetHealth` request: one target or all -> [`HealthReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetTargetHealth {
    /// Only this target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `UpdateEncoderConfig` request -> the [`EncoderConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateEncoderConfig {
    /// Config id.
    pub id: String,
    /// Fields to change (missing ones keep their value).
    pub config: EncoderConfigInput,
}

/// `ListTargets` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TargetList {
    /// All targets in display order.
    pub targets: Vec<TargetView>,
    /// Dedicated encoder configs.
    pub encoders: Vec<EncoderConfig>,
    /// Where keys are stored: `keyring` or `memory`.
    pub key_storage: String,
}

/// `GetTarget`, `UpdateTarget`, `CreateTarget` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TargetReply {
    /// The target.
    pub target: TargetView,
}

/// `GetTargetHealth` answer and the `TargetHealth` event (every second while a target is active).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// One entry per target (or the one asked for).
    pub targets: Vec<TargetHealth>,
}

/// One target that did not start in `StartAllTargets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StartFailure {
    /// Target id.
    pub id: String,
    /// Why.
    pub message: String,
}

/// A reference to a target in lists (obs-websocket carries only arrays of objects).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    /// Target id.
    pub id: String,
}

/// `StartAllTargets` / `StopAllTargets` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BulkReply {
    /// Targets the request acted on.
    pub targets: Vec<TargetRef>,
    /// Targets that failed.
    pub failed: Vec<StartFailure>,
}

/// `ExportTargets` answer and `ImportTargets` input: everything but the keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TargetsExport {
    /// Always `deckcast-targets`.
    pub format: String,
    /// File format version (1).
    pub version: u32,
    /// Targets.
    pub targets: Vec<TargetConfig>,
    /// Dedicated encoder configs they use.
    pub encoders: Vec<EncoderConfig>,
}

/// `ImportTargets` request -> [`ImportReply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportTargets {
    /// An [`TargetsExport`] document.
    pub data: TargetsExport,
    /// Replace all current targets instead of adding.
    #[serde(default)]
    pub replace: bool,
}

/// `ImportTargets` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ImportReply {
    /// The imported targets (new ids where an id was taken).
    pub targets: Vec<TargetRef>,
}

/// The `TargetStateChanged` event, on every state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TargetStateChanged {
    /// Target id.
    pub id: String,
    /// Target name.
    pub name: String,
    /// New state.
    pub state: TargetState,
    /// Previous state.
    pub previous: TargetState,
    /// Failure sentence when `state` is `error` (or while reconnecting).
    #[cfg_attr(feature = "openapi", schema(required))]
    pub last_error: Option<String>,
    /// Reconnect episodes since the last manual start.
    pub reconnects: u32,
}

/// Shows a key only as `***` in `Debug` output (requests are the only payloads that carry keys).
fn redacted_key(key: &Option<String>) -> Option<&'static str> {
    key.as_ref().map(|_| "***")
}

impl std::fmt::Debug for CreateTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateTarget")
            .field("name", &self.name)
            .field("platform", &self.platform)
            .field("server", &self.server)
            .field("key", &redacted_key(&self.key))
            .field("enabled", &self.enabled)
            .field("sync_start", &self.sync_start)
            .field("sync_stop", &self.sync_stop)
            .field("reconnect", &self.reconnect)
            .field("encoder", &self.encoder)
            .finish()
    }
}

impl std::fmt::Debug for UpdateTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateTarget")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("platform", &self.platform)
            .field("server", &self.server)
            .field("key", &redacted_key(&self.key))
            .field("enabled", &self.enabled)
            .field("sync_start", &self.sync_start)
            .field("sync_stop", &self.sync_stop)
            .field("reconnect", &self.reconnect)
            .field("encoder", &self.encoder)
            .finish()
    }
}

impl std::fmt::Debug for SetStreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetStreamKey")
            .field("id", &self.id)
            .field("key", &"***")
            .finish()
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn requests_never_print_their_keys() {
        let c = CreateTarget {
            name: "T".into(),
            key: Some("live_secret_1".into()),
            ..CreateTarget::default()
        };
        let u = UpdateTarget {
            id: "a".into(),
            key: Some("live_secret_2".into()),
            ..UpdateTarget::default()
        };
        let k = SetStreamKey {
            id: "a".into(),
            key: "live_secret_3".into(),
        };
        let text = format!("{c:?} {u:?} {k:?} {c:#?}");
        assert!(!text.contains("live_secret"), "{text}");
        assert!(text.contains("***"));
    }
}
