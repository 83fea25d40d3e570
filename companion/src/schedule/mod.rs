//! Schedules: sets (schedule entries) with their states, iCalendar feed subscriptions, times as the
//! API takes them and overlap detection. Stored by `crate::store::schedule`, run by
//! `crate::scheduler`; [`ics`] reads calendar feeds.
//!
//! States ([`EntryState`]): `planned` → `running` (set when the start is due, committed before
//! anything starts, so a restart never starts it twice) → `done`; `planned` → `missed` when its
//! end passed while the companion was not running; `cancelled` when deleted. Feed instances are
//! keyed by (feed, UID#original start), so refreshes update them in place.
use serde::{Deserialize, Serialize};

pub mod ics;

/// How far ahead feed instances are kept.
pub const FEED_HORIZON_MS: i64 = 90 * 86_400_000;
/// How far back a refresh looks (an instance running now must stay).
pub const FEED_LOOKBACK_MS: i64 = 86_400_000;

/// Where a set is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryState {
    /// Waiting for its start.
    Planned,
    /// Started; its outputs are kept live until its end.
    Running,
    /// Ran and ended.
    Done,
    /// Its whole slot passed while the companion was not running.
    Missed,
    /// Cancelled by the user.
    Cancelled,
}

impl EntryState {
    /// The name stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Planned => "planned",
            EntryState::Running => "running",
            EntryState::Done => "done",
            EntryState::Missed => "missed",
            EntryState::Cancelled => "cancelled",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<EntryState> {
        Some(match s {
            "planned" => EntryState::Planned,
            "running" => EntryState::Running,
            "done" => EntryState::Done,
            "missed" => EntryState::Missed,
            "cancelled" => EntryState::Cancelled,
            _ => return None,
        })
    }

    /// Planned or running: not over yet.
    pub fn is_open(self) -> bool {
        matches!(self, EntryState::Planned | EntryState::Running)
    }
}

/// Where a set came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The dashboard, the API or the CLI.
    Local,
    /// An iCalendar feed.
    Feed,
    /// The streamer's site (platform pull).
    Platform,
}

impl Origin {
    /// The name stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Local => "local",
            Origin::Feed => "feed",
            Origin::Platform => "platform",
        }
    }

    /// From the stored name (unknown names read as local).
    pub fn parse(s: &str) -> Origin {
        match s {
            "feed" => Origin::Feed,
            "platform" => Origin::Platform,
            _ => Origin::Local,
        }
    }
}

/// One scheduled set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Row id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Start (Unix ms).
    pub start_ms: i64,
    /// End (Unix ms).
    pub end_ms: i64,
    /// Target ids to start.
    pub targets: Vec<String>,
    /// Also start OBS's own stream.
    pub start_main: bool,
    /// Scene to switch to at the start.
    #[schema(required)]
    pub scene: Option<String>,
    /// Where it came from.
    pub origin: Origin,
    /// The feed it came from.
    #[schema(required)]
    pub feed_id: Option<i64>,
    /// Where it is in its life.
    pub state: EntryState,
    /// When it actually started.
    #[schema(required)]
    pub started_ms: Option<i64>,
    /// When it actually ended.
    #[schema(required)]
    pub ended_ms: Option<i64>,
    /// Why it did not run as planned, if so.
    #[schema(required)]
    pub note: Option<String>,
    /// Targets this set started itself: only these are stopped when it ends (a target the user
    /// had live before stays live).
    #[serde(skip)]
    pub started_targets: Vec<String>,
    /// Whether this set started OBS's own stream.
    #[serde(skip)]
    pub started_main: bool,
    /// Record the set with OBS's recording (started with the set unless OBS already records,
    /// stopped at its end if the set started it).
    pub record: bool,
    /// Whether this set started the recording running now.
    #[serde(skip)]
    pub started_record: bool,
    /// A recording to play again during the set (see [`crate::app::reair`]).
    #[schema(required)]
    pub reair: Option<ReAirPlan>,
}

/// A set's re-air: which recording, and whether it loops (otherwise the set ends when it has
/// played to its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReAirPlan {
    /// The recording.
    pub recording_id: i64,
    /// Play it again and again until the set's end.
    #[serde(default, rename = "loop")]
    pub looped: bool,
}

/// A new local entry (validated by the caller).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewEntry {
    /// Title.
    pub title: String,
    /// Start (Unix ms).
    pub start_ms: i64,
    /// End (Unix ms).
    pub end_ms: i64,
    /// Target ids.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Also start OBS's own stream.
    #[serde(default)]
    pub start_main: bool,
    /// Scene to switch to.
    #[serde(default)]
    pub scene: Option<String>,
    /// Record the set.
    #[serde(default = "yes")]
    pub record: bool,
    /// A recording to play again during the set.
    #[serde(default)]
    pub reair: Option<ReAirPlan>,
}

fn yes() -> bool {
    true
}

/// An iCalendar subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Feed {
    /// Row id.
    pub id: i64,
    /// URL (http or https). Shown as scheme and host only (private calendar URLs are
    /// credentials); the database keeps it whole.
    #[serde(serialize_with = "crate::fetch::serialize_redacted")]
    pub url: String,
    /// Targets every set of this feed starts.
    pub targets: Vec<String>,
    /// Also start OBS's own stream.
    pub start_main: bool,
    /// Scene to switch to.
    #[schema(required)]
    pub scene: Option<String>,
    /// Seconds between refreshes.
    pub refresh_s: i64,
    /// Last fetch (Unix ms).
    #[schema(required)]
    pub last_fetch_ms: Option<i64>,
    /// Last fetch error.
    #[schema(required)]
    pub last_error: Option<String>,
    /// Events the last fetch could not schedule, with reasons.
    pub problems: Vec<String>,
    /// Length (minutes) given to events the calendar gives no length; 0: such events are not
    /// scheduled.
    pub default_length_min: i64,
    /// Record every set of this feed.
    pub record: bool,
}

/// A feed to subscribe to (validated by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFeed {
    /// http(s) URL.
    pub url: String,
    /// Targets every set of the feed starts.
    pub targets: Vec<String>,
    /// Also start OBS's own stream.
    pub start_main: bool,
    /// Scene to switch to.
    pub scene: Option<String>,
    /// Seconds between refreshes.
    pub refresh_s: i64,
    /// As [`Feed::default_length_min`].
    pub default_length_min: i64,
    /// Record every set of this feed.
    pub record: bool,
}

/// The source id of sets pulled from the streamer's site (feeds have positive ids).
pub const PLATFORM_SOURCE: i64 = -1;

/// A set as a source (feed or site) describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSet {
    /// Stable identity within the source.
    pub key: String,
    /// Title.
    pub title: String,
    /// Start (Unix ms).
    pub start_ms: i64,
    /// End (Unix ms).
    pub end_ms: i64,
    /// Target ids.
    pub targets: Vec<String>,
    /// Also start OBS's own stream.
    pub start_main: bool,
    /// Scene to switch to.
    pub scene: Option<String>,
    /// Record the set.
    pub record: bool,
}

/// Two sets that overlap in time and want the same outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// First entry id.
    pub a: i64,
    /// Second entry id.
    pub b: i64,
    /// Shared targets (`obs` for OBS's own stream).
    pub targets: Vec<String>,
    /// A sentence.
    pub message: String,
}

/// A time as Unix milliseconds or an RFC 3339 string (API requests and the site's schedule).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Time {
    /// Unix milliseconds.
    Ms(i64),
    /// RFC 3339, any offset.
    Text(String),
}

impl Time {
    /// Unix milliseconds, or why the text is not a time.
    pub fn ms(&self) -> Result<i64, String> {
        match self {
            Time::Ms(ms) => Ok(*ms),
            Time::Text(t) => chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| d.timestamp_millis())
                .map_err(|e| format!("'{t}' is not an RFC 3339 time ({e})")),
        }
    }
}

/// Most conflicts listed (the first ones by start).
pub const MAX_CONFLICTS: usize = 100;

/// Pairs of unfinished entries that overlap in time and share a target (or both start OBS's own
/// stream), at most [`MAX_CONFLICTS`]. Reported to the user; the scheduler does not guess which
/// one wins.
pub fn conflicts(entries: &[Entry]) -> Vec<Conflict> {
    let mut open: Vec<&Entry> = entries.iter().filter(|e| e.state.is_open()).collect();
    open.sort_by_key(|e| (e.start_ms, e.id));
    let mut out = Vec::new();
    // Sweep by start: only sets that begin before `a` ends can overlap it, so the work is the
    // number of overlapping pairs, not every pair.
    for (i, a) in open.iter().enumerate() {
        for b in open[i + 1..].iter().take_while(|b| b.start_ms < a.end_ms) {
            let mut shared: Vec<String> = a
                .targets
                .iter()
                .filter(|t| b.targets.contains(t))
                .cloned()
                .collect();
            if a.start_main && b.start_main {
                shared.push("obs".into());
            }
            if !shared.is_empty() {
                out.push(Conflict {
                    a: a.id,
                    b: b.id,
                    message: format!(
                        "'{}' and '{}' overlap and both use {}",
                        a.title,
                        b.title,
                        shared.join(", ")
                    ),
                    targets: shared,
                });
                if out.len() == MAX_CONFLICTS {
                    return out;
                }
            }
        }
    }
    out
}

/// A set for unit tests: `title` from `s` to `e` (Unix ms) on `targets`.
#[cfg(test)]
pub(crate) fn test_entry(title: &str, s: i64, e: i64, targets: &[&str]) -> NewEntry {
    NewEntry {
        title: title.into(),
        start_ms: s,
        end_ms: e,
        targets: targets.iter().map(|t| t.to_string()).collect(),
        start_main: false,
        scene: None,
        record: true,
        reair: None,
    }
}

#[cfg(test)]
mod tests {
    use super::test_entry as new;
    use super::*;
    use crate::store::Store;

    #[test]
    fn overlaps_on_shared_outputs_are_conflicts() {
        let mut s = Store::open_in_memory().unwrap();
        s.add_entry(&new("A", 0, 10, &["t1", "t2"]), 0).unwrap();
        s.add_entry(&new("B", 5, 15, &["t2"]), 0).unwrap();
        s.add_entry(&new("C", 5, 15, &["t3"]), 0).unwrap();
        s.add_entry(&new("D", 10, 20, &["t1"]), 0).unwrap();
        let c = conflicts(&s.entries(0, 0).unwrap());
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].a, c[0].b, c[0].targets.clone()),
            (1, 2, vec!["t2".to_string()])
        );
        assert!(c[0].message.contains("'A' and 'B'"));
    }

    #[test]
    fn thousands_of_overlapping_sets_list_a_bounded_number_of_conflicts() {
        let mut s = Store::open_in_memory().unwrap();
        for i in 0..3_000 {
            s.add_entry(&new(&format!("S{i}"), i, i + 1_000_000, &["t1"]), 0)
                .unwrap();
        }
        let all = s.entries(0, 0).unwrap();
        let c = conflicts(&all);
        assert_eq!(c.len(), MAX_CONFLICTS);
        assert_eq!((c[0].a, c[0].b), (1, 2));
        // Far-apart sets are never compared with each other at all.
        let apart: Vec<Entry> = (0..3_000)
            .map(|i| Entry {
                id: i,
                start_ms: i * 10,
                end_ms: i * 10 + 5,
                ..all[0].clone()
            })
            .collect();
        assert!(conflicts(&apart).is_empty());
    }
}
