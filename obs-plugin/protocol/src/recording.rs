//! OBS's own recording as Deckcast sees it: whether it runs, where it writes, what it has written
//! and how much room is left there (the companion's disk-space alert estimates the time left
//! from this).
use serde::{Deserialize, Serialize};

/// `GetRecording {}` -> [`RecordingStatus`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetRecording {}

/// OBS's recording now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingStatus {
    /// OBS is recording.
    pub active: bool,
    /// The folder OBS records into (the profile's recording path), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    /// The file the running recording writes (OBS's own path, as OBS sees it), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Bytes written by the running recording.
    pub bytes: u64,
    /// Bytes free for an unprivileged writer on the recording's filesystem, if it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_bytes: Option<u64>,
}
