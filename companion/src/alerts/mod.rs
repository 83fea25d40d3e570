//! Alerts: the DJ hears about a problem before the viewers do.
//!
//! - [`rules`]: the built-in rules, their defaults and limits, per-target overrides
//!   ([`AlertRules`], stored as one setting);
//! - [`engine`]: the evaluator, a pure state machine fed twice a second with what the companion
//!   sees ([`Observation`]: the live picture, the plugin's audio blocks, events such as a set that
//!   failed to start); it raises and clears alerts with hysteresis, so a flapping link gives one
//!   alert, not fifty;
//! - [`protect`]: automatic protection, a pure controller beside the evaluator: it lowers a
//!   dedicated encoder's bitrate while its link drops frames (and raises it back), and stops a
//!   shared-encoder target whose link stalled;
//! - [`notify`]: what goes out when an alert is raised or cleared — the desktop notification
//!   (freedesktop notification service on the session bus) and the bodies of the outgoing
//!   channels (generic JSON, Discord, Slack, ntfy).
//!
//! An alert's lifecycle is raised → (acknowledged) → cleared; every alert and its clearing is
//! stored with the measured values (`store::alerts`). The task that runs the evaluator lives in
//! `alerter.rs`; the operations on alerts in `app::alerts`.
//!
//! Threads: plain data and pure functions, except [`notify::desktop`] (blocking D-Bus call, run
//! on the blocking pool).
use serde::{Deserialize, Serialize};

pub mod engine;
pub mod notify;
pub mod protect;
pub mod rules;

pub use engine::{Evaluator, Observation, Transition};
pub use rules::{AlertRules, Rule};

macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident = $text:literal, $severity:ident, $title:literal;)*) => {
        /// What an alert is about.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum AlertKind {
            $($(#[$doc])* #[serde(rename = $text)] $variant,)*
        }

        // By hand: the derive cannot read a rename a macro writes.
        impl utoipa::PartialSchema for AlertKind {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::names::names_schema("What an alert is about.", &[$($text,)*])
            }
        }

        impl utoipa::ToSchema for AlertKind {}

        impl AlertKind {
            /// Every kind, in the order the dashboard lists them.
            pub const ALL: &[AlertKind] = &[$(AlertKind::$variant),*];

            /// The wire and database name.
            pub fn as_str(self) -> &'static str {
                match self { $(AlertKind::$variant => $text,)* }
            }

            /// The kind of a wire name.
            pub fn parse(s: &str) -> Option<AlertKind> {
                match s { $($text => Some(AlertKind::$variant),)* _ => None }
            }

            /// How bad it is.
            pub fn severity(self) -> Severity {
                match self { $(AlertKind::$variant => Severity::$severity,)* }
            }

            /// A short title for people.
            pub fn title(self) -> &'static str {
                match self { $(AlertKind::$variant => $title,)* }
            }
        }
    };
}

kinds! {
    /// A target drops more than N % of its frames over a window.
    TargetDrops = "target_drops", Warning, "Dropped frames";
    /// A target's bitrate stays below N % of what its encoder is set to.
    LowBitrate = "low_bitrate", Warning, "Low bitrate";
    /// A target reconnects N times within M seconds.
    ReconnectStorm = "reconnect_storm", Warning, "Reconnect storm";
    /// A target is in `error`.
    TargetError = "target_error", Critical, "Target failed";
    /// A target's output congestion stays high.
    Congestion = "congestion", Warning, "Congested link";
    /// Protection stopped a shared-encoder target whose link stalled (until it is started again).
    TargetStopped = "target_stopped", Critical, "Target stopped by protection";
    /// OBS's renderer skips (lags) more than N % of its frames.
    RenderLag = "render_lag", Warning, "Rendering lag";
    /// OBS's encoder skips more than N % of its frames.
    EncodeLag = "encode_lag", Warning, "Encoding lag";
    /// The companion lost OBS for N s.
    ObsDisconnected = "obs_disconnected", Critical, "OBS disconnected";
    /// OBS's own stream is reconnecting (or stopped) while targets are live.
    MainStreamDropped = "main_stream_dropped", Critical, "OBS stream dropped";
    /// The audio the stream hears stays below N dBFS for N s while live.
    DeadAir = "dead_air", Critical, "Dead air";
    /// The audio reaches −0.5 dBFS in more than N % of a window.
    Clipping = "clipping", Warning, "Clipping";
    /// OBS's recording has less than N minutes of disk left at its current bitrate.
    DiskSpace = "disk_space", Warning, "Recording disk space low";
    /// The disk-space guard stopped OBS's recording before its disk was full.
    RecordingStopped = "recording_stopped", Critical, "Recording stopped: disk full";
    /// The OS keyring is locked or unavailable.
    KeyringLocked = "keyring_locked", Warning, "Keyring unavailable";
    /// Webhooks to the streamer's site were given up on.
    WebhooksDead = "webhooks_dead", Warning, "Webhooks given up";
    /// A scheduled set failed to start (in part).
    SetFailed = "set_failed", Critical, "Scheduled set failed";
}

/// How bad an alert is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look.
    Warning,
    /// Viewers notice it now.
    Critical,
}

impl Severity {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Where an alert is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition holds and nobody has acknowledged it.
    Raised,
    /// The condition holds; someone said they are on it.
    Acknowledged,
    /// The condition is over.
    Cleared,
}

impl AlertState {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Raised => "raised",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Cleared => "cleared",
        }
    }
}

/// One alert, as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Its id (database row).
    pub id: i64,
    /// What it is about.
    pub kind: AlertKind,
    /// How bad.
    pub severity: Severity,
    /// Where it is.
    pub state: AlertState,
    /// The target it is about, if any.
    #[schema(required)]
    pub target_id: Option<String>,
    /// That target's name at the time.
    #[schema(required)]
    pub target_name: Option<String>,
    /// What happened, for people (measured values included).
    pub message: String,
    /// The measured value when raised (unit: the rule's threshold's).
    pub value: f64,
    /// The worst value while it held.
    pub worst: f64,
    /// The rule's threshold.
    pub threshold: f64,
    /// When it was raised (Unix ms).
    pub raised_ms: i64,
    /// When someone acknowledged it.
    #[schema(required)]
    pub acknowledged_ms: Option<i64>,
    /// When it cleared.
    #[schema(required)]
    pub cleared_ms: Option<i64>,
    /// What the clearing said (the value then), for people.
    #[schema(required)]
    pub cleared_message: Option<String>,
    /// What Deckcast did about it (automatic protection), if anything.
    #[schema(required)]
    pub action: Option<String>,
    /// The rule's title for people (`Dead air`).
    #[serde(default)]
    #[schema(required)]
    pub title: String,
}

impl Alert {
    /// One line for notifications and logs: `Dead air (program audio): ...`.
    pub fn headline(&self) -> String {
        match &self.target_name {
            Some(t) => format!("{} on {t}", self.kind.title()),
            None => self.kind.title().to_owned(),
        }
    }
}
