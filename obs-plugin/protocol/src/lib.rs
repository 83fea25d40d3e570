//! The wire contract of Deckcast's obs-websocket vendor API (vendor name [`VENDOR_NAME`]).
//!
//! Both sides use these types: the OBS plugin answers requests with them (on obs-websocket's worker
//! threads) and the companion sends them through `obws` (on its tokio runtime). The crate is plain
//! data: no I/O, no threads, no libobs.
//!
//! Every response is a JSON object. A failed request answers `{"error": {"code", "message"}}`
//! ([`ErrorResponse`]) instead of the success payload; obs-websocket itself still reports the call
//! as successful, so clients must look for the `error` key ([`VendorReply`] does that).
//!
//! obs-websocket converts payloads through libobs' `obs_data`, which only carries arrays of
//! objects: every list in this protocol is a list of objects ([`is_obs_data_safe`] checks it).
//!
//! Compatibility: [`PROTOCOL_VERSION`] grows by one whenever a request or payload changes in a way
//! an older peer would misread. Adding optional fields does not bump it.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

/// The obs-websocket vendor name the plugin registers.
pub const VENDOR_NAME: &str = "deckcast";

/// Version of this vendor API contract (see the crate docs for when it changes).
pub const PROTOCOL_VERSION: u32 = 1;

pub mod targets;

/// Request type names, as sent in `CallVendorRequest.requestType`.
pub mod request {
    /// [`GetVersionResponse`](super::GetVersionResponse): plugin, protocol and libobs versions.
    pub const GET_VERSION: &str = "GetVersion";
    /// `{}` -> [`TargetList`](super::targets::TargetList).
    pub const LIST_TARGETS: &str = "ListTargets";
    /// [`TargetId`](super::targets::TargetId) -> [`TargetReply`](super::targets::TargetReply).
    pub const GET_TARGET: &str = "GetTarget";
    /// [`CreateTarget`](super::targets::CreateTarget) -> [`TargetReply`](super::targets::TargetReply).
    pub const CREATE_TARGET: &str = "CreateTarget";
    /// [`UpdateTarget`](super::targets::UpdateTarget) -> [`TargetReply`](super::targets::TargetReply).
    pub const UPDATE_TARGET: &str = "UpdateTarget";
    /// [`TargetId`](super::targets::TargetId) -> `{}`.
    pub const DELETE_TARGET: &str = "DeleteTarget";
    /// [`SetStreamKey`](super::targets::SetStreamKey) -> `{}`.
    pub const SET_STREAM_KEY: &str = "SetStreamKey";
    /// [`TargetId`](super::targets::TargetId) -> [`TargetReply`](super::targets::TargetReply).
    pub const START_TARGET: &str = "StartTarget";
    /// [`TargetId`](super::targets::TargetId) -> [`TargetReply`](super::targets::TargetReply).
    pub const STOP_TARGET: &str = "StopTarget";
    /// `{}` -> [`BulkReply`](super::targets::BulkReply) (enabled targets only).
    pub const START_ALL_TARGETS: &str = "StartAllTargets";
    /// `{}` -> [`BulkReply`](super::targets::BulkReply).
    pub const STOP_ALL_TARGETS: &str = "StopAllTargets";
    /// [`HealthQuery`](super::targets::HealthQuery) -> [`HealthReport`](super::targets::HealthReport).
    pub const GET_TARGET_HEALTH: &str = "GetTargetHealth";
    /// [`UpdateEncoderConfig`](super::targets::UpdateEncoderConfig) -> the config.
    pub const UPDATE_ENCODER_CONFIG: &str = "UpdateEncoderConfig";
    /// [`TargetId`](super::targets::TargetId) (config id) -> `{}`; refused while a target uses it.
    pub const DELETE_ENCODER_CONFIG: &str = "DeleteEncoderConfig";
    /// `{}` -> [`TargetsExport`](super::targets::TargetsExport) (no keys).
    pub const EXPORT_TARGETS: &str = "ExportTargets";
    /// [`ImportTargets`](super::targets::ImportTargets) -> [`ImportReply`](super::targets::ImportReply).
    pub const IMPORT_TARGETS: &str = "ImportTargets";
    /// `{artist, title, album?, bpm?}` -> `{}`: the track the Now Playing sources show.
    pub const SET_NOW_PLAYING: &str = "SetNowPlaying";
    /// `{source}` (a Now Playing source's name) -> `{bpm, confidence, stable, active}`.
    pub const GET_ANALYSIS: &str = "GetAnalysis";
}

/// Vendor event type names (obs-websocket `VendorEvent.eventType`).
pub mod event {
    /// [`TargetStateChanged`](super::targets::TargetStateChanged) on every state change.
    pub const TARGET_STATE_CHANGED: &str = "TargetStateChanged";
    /// [`HealthReport`](super::targets::HealthReport) of all targets, every second while any is active.
    pub const TARGET_HEALTH: &str = "TargetHealth";
    /// `{bpm, confidence, audioSource}` when a Now Playing source's stable tempo changes.
    pub const TEMPO_CHANGED: &str = "TempoChanged";
}

/// Answer to [`request::GET_VERSION`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetVersionResponse {
    /// Deckcast plugin version (the workspace version), e.g. `0.1.0`.
    pub plugin_version: String,
    /// The plugin's [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// Version of the libobs the plugin runs in (`obs_get_version_string`), e.g. `30.2.3`.
    pub libobs_version: String,
}

/// Machine-readable error codes in [`ErrorBody::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request data is not an object, misses a field or has a field of the wrong type.
    InvalidRequest,
    /// A field value is out of range or otherwise unacceptable.
    InvalidValue,
    /// The addressed object (for example a target id) does not exist.
    NotFound,
    /// The request cannot run in the current state.
    Conflict,
    /// The plugin failed internally; the message says what happened. OBS keeps running.
    Internal,
}

/// The `error` object of a failed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// A sentence for humans; never contains secrets.
    pub message: String,
}

/// The whole response of a failed request: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The failure.
    pub error: ErrorBody,
}

impl ErrorResponse {
    /// Builds `{"error": {"code", "message"}}`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorBody {
                code,
                message: message.into(),
            },
        }
    }
}

/// A vendor response as a client sees it: either the success payload or an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq)]
pub enum VendorReply<T> {
    /// The request succeeded.
    Ok(T),
    /// The plugin answered with an error object.
    Err(ErrorBody),
}

impl<T: serde::de::DeserializeOwned> VendorReply<T> {
    /// Interprets a raw `responseData` object: `{"error": ...}` becomes [`VendorReply::Err`],
    /// anything else must deserialize as `T`.
    pub fn from_value(value: serde_json::Value) -> Result<Self, serde_json::Error> {
        if value.get("error").is_some() {
            let err: ErrorResponse = serde_json::from_value(value)?;
            return Ok(Self::Err(err.error));
        }
        serde_json::from_value(value).map(Self::Ok)
    }
}

/// True if `value` survives obs-websocket's `obs_data` round trip: no array holds anything but
/// objects (arrays of strings or numbers would arrive empty). Nulls are dropped on the way
/// ([`without_nulls`]).
pub fn is_obs_data_safe(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Array(items) => items.iter().all(|i| i.is_object() && is_obs_data_safe(i)),
        Value::Object(map) => map.values().all(is_obs_data_safe),
        _ => true,
    }
}

/// The form of a payload that crosses `obs_data`: every `null` member removed, at any depth.
///
/// `obs_data` has no null. libobs before 32.1 drops a JSON `null` when it parses one; libobs 32.1
/// and obs-websocket 5.7 keep it as an object item without an object, which obs-websocket then
/// sends to clients as `{}` (so `"lastError": null` arrived as `"lastError": {}` on OBS 32 and
/// failed to decode). Every optional field here reads a missing member as `None`, so dropping
/// nulls before the crossing gives the same payload on every OBS version.
pub fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn get_version_uses_camel_case_keys() {
        let v = GetVersionResponse {
            plugin_version: "0.1.0".into(),
            protocol_version: PROTOCOL_VERSION,
            libobs_version: "30.2.3".into(),
        };
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            json!({"pluginVersion": "0.1.0", "protocolVersion": 1, "libobsVersion": "30.2.3"})
        );
    }

    #[test]
    fn obs_data_safety() {
        assert!(is_obs_data_safe(
            &json!({"targets": [{"id": "a", "w": [{"x": 1}]}], "n": 1})
        ));
        assert!(!is_obs_data_safe(&json!({"ids": ["a"]})));
        assert!(!is_obs_data_safe(&json!({"t": [{"ids": [1]}]})));
    }

    #[test]
    fn nulls_are_dropped_before_crossing_obs_data() {
        let v = without_nulls(json!({
            "id": "a", "lastError": null,
            "targets": [{"lastError": null, "warnings": [{"code": "x", "detail": null}]}],
            "nested": {"width": null, "height": 360}
        }));
        assert_eq!(
            v,
            json!({"id": "a", "targets": [{"warnings": [{"code": "x"}]}], "nested": {"height": 360}})
        );
        assert!(is_obs_data_safe(&v));
        // Optional fields read a missing member as None: the decoded payload is the same.
        let before: targets::TargetStateChanged = serde_json::from_value(json!({
            "id": "a", "name": "A", "state": "live", "previous": "connecting",
            "lastError": null, "reconnects": 0
        }))
        .unwrap();
        let after: targets::TargetStateChanged =
            serde_json::from_value(without_nulls(serde_json::to_value(&before).unwrap())).unwrap();
        assert_eq!(before, after);
    }

    #[test]
    fn error_response_shape() {
        let e = ErrorResponse::new(ErrorCode::NotFound, "no target with id \"x\"");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"error": {"code": "not_found", "message": "no target with id \"x\""}})
        );
    }

    #[test]
    fn reply_distinguishes_error_from_payload() {
        let ok = VendorReply::<GetVersionResponse>::from_value(
            json!({"pluginVersion": "1.2.3", "protocolVersion": 7, "libobsVersion": "32.2.2"}),
        )
        .unwrap();
        assert!(matches!(ok, VendorReply::Ok(v) if v.protocol_version == 7));

        let err = VendorReply::<GetVersionResponse>::from_value(
            json!({"error": {"code": "invalid_request", "message": "bad"}}),
        )
        .unwrap();
        assert!(matches!(err, VendorReply::Err(b) if b.code == ErrorCode::InvalidRequest));

        // A payload that is neither must not be silently accepted.
        assert!(
            VendorReply::<GetVersionResponse>::from_value(json!({"pluginVersion": 1})).is_err()
        );
    }
}
