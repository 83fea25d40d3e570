//! OBS's own recording as Deckcast sees it: whether it runs, where it writes, what it has written
//! and how much room is left there (the companion's disk-space alert estimates the time left
//! from this), who in OBS started it, and the requests that start and stop it from the dock, a
//! hotkey or any obs-websocket client.
use serde::{Deserialize, Serialize};

/// Where in OBS a set recording was started through Deckcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordingOrigin {
    /// The Deckcast dock's record button.
    Dock,
    /// Deckcast's "start set recording" hotkey.
    Hotkey,
    /// A `StartRecording` vendor request from an obs-websocket client.
    Vendor,
}

/// `StartRecording {from?}` -> [`RecordingControl`]: starts OBS's own recording (the profile's
/// path, format and encoder) unless it already records; it is never started twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StartRecording {
    /// Who asks (default [`RecordingOrigin::Vendor`]); the recording library shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<RecordingOrigin>,
}

/// `StopRecording {}` -> [`RecordingControl`]: stops OBS's recording if it records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StopRecording {}

/// What a start or stop did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RecordingControl {
    /// False when there was nothing to do (already recording, or not recording).
    pub changed: bool,
}

/// `GetRecording {}` -> [`RecordingStatus`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GetRecording {}

/// OBS's recording now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The running recording was started through Deckcast in OBS (dock, hotkey, vendor request);
    /// none when OBS's own controls, another tool or the companion started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<RecordingOrigin>,
}

/// The `RecordingStopped` event: OBS was exiting while it recorded, and the plugin stopped the
/// recording and waited until its file was finished. obs-websocket's own `RecordStateChanged`
/// does not reach clients at that point, so this is the word that the set's file is complete.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RecordingStopped {
    /// The file the recording wrote (OBS's own path, as OBS sees it), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}
