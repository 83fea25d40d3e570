//! `GetVersion`: which plugin, protocol and libobs answer.
use serde::{Deserialize, Serialize};

/// `GetVersion` request (takes nothing; unknown members are ignored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetVersion {}

/// Answer to [`GetVersion`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// Deckcast plugin version (the workspace version), e.g. `0.1.0`.
    pub plugin_version: String,
    /// The plugin's [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION).
    pub protocol_version: u32,
    /// Version of the libobs the plugin runs in (`obs_get_version_string`), e.g. `30.2.3`.
    pub libobs_version: String,
}
