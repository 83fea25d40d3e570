//! The recording library's types as the API, the CLI and the `recording.finished` webhook
//! show them: a recording, who started it, whether its file has chapters, how it ended, and
//! what is published when it has finished. Kept out of `app` so the webhook types can name them
//! (the app's operations live in `app::recording`).
use deckcast_protocol::recording::RecordingOrigin;
use serde::{Deserialize, Serialize};

use crate::store::LiveTarget;
use crate::tracklist::{self, Entry, YoutubeChapters};

macro_rules! wire {
    ($(#[doc = $doc:literal])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)*
        }

        // By hand: the derive cannot read a rename a macro writes.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::names::names_schema(concat!($($doc, "\n",)*), &[$($text,)*])
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            /// The wire (and database) name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// From the database; an unknown name reads as the first variant.
            pub(crate) fn parse(s: &str) -> $name {
                [$($name::$variant,)*]
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .unwrap_or([$($name::$variant,)*][0])
            }
        }
    };
}

wire! {
    /// Who started a recording.
    StartedBy {
        /// Someone in OBS (or another tool); Deckcast followed it.
        Obs = "obs",
        /// The dashboard, the CLI or the API.
        Api = "api",
        /// A scheduled set.
        Schedule = "schedule",
        /// The automatic recording: a stream went live (`autoRecord`).
        Live = "live",
        /// The Deckcast dock in OBS.
        Dock = "dock",
        /// Deckcast's "start set recording" hotkey in OBS.
        Hotkey = "hotkey",
        /// Deckcast's `StartRecording` vendor request (an obs-websocket client such as a
        /// control surface).
        Vendor = "vendor",
    }
}

impl StartedBy {
    /// The plugin's mark on a recording started through Deckcast in OBS (none: OBS's own
    /// controls or another tool).
    pub fn in_obs(origin: Option<RecordingOrigin>) -> StartedBy {
        match origin {
            Some(RecordingOrigin::Dock) => StartedBy::Dock,
            Some(RecordingOrigin::Hotkey) => StartedBy::Hotkey,
            Some(RecordingOrigin::Vendor) => StartedBy::Vendor,
            None => StartedBy::Obs,
        }
    }
}

wire! {
    /// Whether the recording's file carries chapters.
    Chapters {
        /// No track change yet.
        Pending = "pending",
        /// A chapter went into the file at each change (Hybrid MP4).
        InFile = "in_file",
        /// OBS refused chapters (a format other than Hybrid MP4, or OBS before 30.2): the
        /// tracklist still has every change.
        Unsupported = "unsupported",
        /// Written into the file after it ended (OBS takes no chapters in its format; ffmpeg
        /// copied every stream into a file with them, nothing re-encoded).
        Remuxed = "remuxed",
    }
}

wire! {
    /// How a recording ended.
    Ending {
        /// OBS stopped it and said so.
        Clean = "clean",
        /// It had ended when Deckcast looked again (OBS restarted or crashed, or it stopped
        /// while the companion was not running): the file may be cut short.
        Unobserved = "unobserved",
        /// The disk-space guard stopped it cleanly before the disk was full (the file is
        /// complete; the rest of the set was not recorded).
        DiskSpace = "disk_space",
    }
}

/// The `recording.finished` webhook: a recording's file closed, with its hash and its
/// tracklists ready to publish.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingFinished {
    /// The library entry (its `sha256` as below).
    pub recording: Recording,
    /// The file's name (without OBS's folder).
    pub file_name: String,
    /// The file's SHA-256 (lower-case hex); none when it could not be read (`fileError`).
    pub sha256: Option<String>,
    /// Why the file could not be read, if so.
    pub file_error: Option<String>,
    /// The tracklist from the recording's start, in the publishing formats.
    pub tracklist: PublishedTracklist,
}

/// A tracklist in the forms the platforms take.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedTracklist {
    /// The entries.
    pub entries: Vec<Entry>,
    /// YouTube chapters (description text and what the rules changed).
    pub youtube: YoutubeChapters,
    /// Mixcloud sections.
    pub mixcloud: Vec<tracklist::MixcloudSection>,
    /// Plain text, a line per entry.
    pub text: String,
    /// A CUE sheet for the file (none without entries).
    pub cue: Option<String>,
}

/// One recording in the library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    /// Library id.
    pub id: i64,
    /// The file as OBS named it (known once OBS reports it).
    #[schema(required)]
    pub file: Option<String>,
    /// Its container, from the file name (`mp4`, `mkv`, ...).
    #[schema(required)]
    pub format: Option<String>,
    /// Started (Unix ms).
    pub started_ms: i64,
    /// Ended (Unix ms); none while it runs.
    #[schema(required)]
    pub ended_ms: Option<i64>,
    /// Length so far (ms).
    pub duration_ms: i64,
    /// Bytes written (the last count seen).
    pub bytes: u64,
    /// The scheduled set it was recorded for.
    #[schema(required)]
    pub set_id: Option<i64>,
    /// Who started it.
    pub started_by: StartedBy,
    /// Targets that were live during it, each with its own start.
    pub targets: Vec<LiveTarget>,
    /// Whether chapters went into the file.
    pub chapters: Chapters,
    /// How it ended; none while it runs.
    #[schema(required)]
    pub ending: Option<Ending>,
    /// The tracklist (from the recording's start, the minimum track length applied).
    pub tracks: Vec<Entry>,
    /// The finished file's SHA-256 (lower-case hex; none while it runs or when the file could
    /// not be read).
    #[schema(required)]
    pub sha256: Option<String>,
}

wire! {
    /// Where a recording's upload to the streamer's site is.
    UploadState {
        /// Asked for; the uploader starts it next.
        Queued = "queued",
        /// Bytes are going to the site.
        Uploading = "uploading",
        /// Interrupted (the network or the site); it goes on by itself at `nextAttemptMs`,
        /// from where the site stopped.
        Waiting = "waiting",
        /// The site has the whole file and confirmed its SHA-256.
        Complete = "complete",
        /// Given up on (see `lastError`); asking again starts a new upload.
        Failed = "failed",
        /// Cancelled; asking again starts a new upload.
        Cancelled = "cancelled",
    }
}

impl UploadState {
    /// Whether the uploader still has work in it.
    pub fn pending(self) -> bool {
        matches!(
            self,
            UploadState::Queued | UploadState::Uploading | UploadState::Waiting
        )
    }
}

/// A recording's upload to the streamer's site, as the API and the CLI show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    /// The recording.
    pub recording_id: i64,
    /// Where it is.
    pub state: UploadState,
    /// The file's length (0 until the uploader has read it).
    pub bytes: u64,
    /// Bytes the site has confirmed.
    pub sent: u64,
    /// `sent` of `bytes`, 0–100.
    #[schema(minimum = 0, maximum = 100)]
    pub percent: f64,
    /// The file's SHA-256 as announced to the site (none until read).
    #[schema(required)]
    pub sha256: Option<String>,
    /// Failures in a row without progress.
    pub failures: i64,
    /// The newest failure.
    #[schema(required)]
    pub last_error: Option<String>,
    /// Asked for (Unix ms).
    pub created_ms: i64,
    /// Last changed (Unix ms).
    pub updated_ms: i64,
    /// When it goes on by itself (while `waiting`).
    #[schema(required)]
    pub next_attempt_ms: Option<i64>,
    /// Completed, failed or cancelled (Unix ms).
    #[schema(required)]
    pub finished_ms: Option<i64>,
}

impl Upload {
    /// The view of a stored upload.
    pub fn of(u: &crate::store::UploadRow) -> Upload {
        let state = UploadState::parse(&u.state);
        Upload {
            recording_id: u.recording_id,
            state,
            bytes: u.bytes,
            sent: u.offset,
            percent: if u.bytes == 0 {
                0.0
            } else {
                ((u.offset as f64 / u.bytes as f64) * 1000.0).round() / 10.0
            },
            sha256: (!u.sha256.is_empty()).then(|| u.sha256.clone()),
            failures: u.failures,
            last_error: u.last_error.clone(),
            created_ms: u.created_ms,
            updated_ms: u.updated_ms,
            next_attempt_ms: (state == UploadState::Waiting).then_some(u.next_ms),
            finished_ms: u.finished_ms,
        }
    }
}

/// `GET /api/v1/uploads`: the newest uploads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadList {
    /// Newest first.
    pub uploads: Vec<Upload>,
}
