//! Stream reports and history charts as data: what happened on each target of a session
//! (uptime, average and lowest bitrate, drops, reconnects), its alerts and tracks, and the
//! bucketed series a chart draws with alerts and track changes to mark on its time axis.
//! Built by `app::report`; sent in the `stream.ended` webhook; shown by the dashboard and
//! `deckcast report`.
use serde::{Deserialize, Serialize};

use crate::alerts::Alert;
use crate::store::{SeriesPoint, Session, TargetStats};

/// Most points a chart asks for per target.
pub const MAX_POINTS: i64 = 2000;
/// Longest range a chart covers (the minute rows' 90 days).
pub const MAX_RANGE_MS: i64 = 90 * 86_400_000;

/// One target in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetReport {
    /// The numbers.
    #[serde(flatten)]
    pub stats: TargetStats,
    /// Its name (as the companion last knew it).
    pub name: String,
    /// Its platform.
    pub platform: String,
    /// Share of the session it was live (0–1).
    pub uptime_share: f64,
}

/// A track that played during a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrackPlayed {
    /// When it started (Unix ms).
    pub ts_ms: i64,
    /// `Artist – Title`.
    pub text: String,
}

/// The report of one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionReport {
    /// The session.
    pub session: Session,
    /// How long it lasted (so far, while live), in seconds.
    pub duration_sec: f64,
    /// Every target that was live during it.
    pub targets: Vec<TargetReport>,
    /// Alerts raised during it.
    pub alerts: Vec<Alert>,
    /// Tracks played, in order.
    pub tracks: Vec<TrackPlayed>,
}

/// A chart's data: per-target buckets, and what to mark on the time axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Chart {
    /// Range start (Unix ms).
    pub from_ms: i64,
    /// Range end (Unix ms).
    pub to_ms: i64,
    /// Bucket length in seconds.
    pub bucket_sec: i64,
    /// Target names by id (for the legend).
    pub names: std::collections::BTreeMap<String, String>,
    /// The buckets, per target oldest first.
    pub points: Vec<SeriesPoint>,
    /// Alerts raised in the range.
    pub alerts: Vec<Alert>,
    /// Track changes in the range.
    pub tracks: Vec<TrackPlayed>,
}
