//! The wire contract of Deckcast's obs-websocket vendor API (vendor name [`VENDOR_NAME`]): every
//! request and event as a type, the one error type, and the codec both sides use.
//!
//! - A request type implements [`Request`]: its `requestType` ([`Request::NAME`]) and the type of
//!   its answer ([`Request::Reply`]). The plugin registers one handler per request type and decodes
//!   the request data once, at the edge ([`decode_request`]); the companion calls
//!   `link.call(&StartTarget { id })` and gets a `TargetReply` back ([`decode_reply`]).
//! - An event type implements [`Event`] ([`Event::NAME`] is its `eventType`).
//! - A failed request answers `{"error": {"code", "message"}}` ([`Error::to_wire`]) instead of the
//!   reply; obs-websocket itself still reports the call as successful, so [`decode_reply`] looks
//!   for the `error` key.
//!
//! The crate is plain data: no I/O, no threads, no libobs. Both sides use it: the OBS plugin on
//! obs-websocket's worker threads, the companion on its tokio runtime.
//!
//! obs-websocket converts payloads through libobs' `obs_data`, which only carries arrays of
//! objects (every list here is a list of objects; [`is_obs_data_safe`] checks it) and has no null
//! ([`without_nulls`]).
//!
//! Compatibility: [`PROTOCOL_VERSION`] grows by one whenever a request or payload changes in a way
//! an older peer would misread. Adding optional fields or new requests does not bump it.
#![forbid(unsafe_code)]

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub mod alerts;
pub mod audio;
pub mod error;
pub mod nowplaying;
pub mod recording;
pub mod targets;
pub mod version;

pub use error::{Error, ErrorCode, ErrorResponse};

/// The obs-websocket vendor name the plugin registers.
pub const VENDOR_NAME: &str = "deckcast";

/// Version of this vendor API contract (see the crate docs for when it changes).
pub const PROTOCOL_VERSION: u32 = 1;

/// A vendor request: the data of `CallVendorRequest` with `requestType` [`Request::NAME`].
pub trait Request: Serialize + DeserializeOwned + Send + 'static {
    /// `requestType` as clients send it.
    const NAME: &'static str;
    /// What a successful request answers.
    type Reply: Serialize + DeserializeOwned + Send + 'static;
}

/// A vendor event: the data of a `VendorEvent` with `eventType` [`Event::NAME`].
pub trait Event: Serialize + DeserializeOwned + Send + 'static {
    /// `eventType` as clients receive it.
    const NAME: &'static str;
}

/// `{}`: the data of requests that take nothing and the answer of requests that return nothing.
/// Unknown members are ignored, as they always were for these requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Empty {}

macro_rules! contract {
    (
        requests { $( $req:ty => $reply:ty as $name:literal ; )* }
        events { $( $ev:ty as $event:literal ; )* }
    ) => {
        $(
            impl Request for $req {
                const NAME: &'static str = $name;
                type Reply = $reply;
            }
        )*
        $(
            impl Event for $ev {
                const NAME: &'static str = $event;
            }
        )*
        /// Every request type name, in registration order.
        pub const REQUESTS: &[&str] = &[$($name),*];

        /// Checks a raw answer to request `name` ([`decode_reply`] for a name known only at run
        /// time): `Ok(Err)` is an error object, `Ok(Ok)` a valid reply, `Err` says what is wrong
        /// with it (or that there is no such request).
        pub fn check_reply(
            name: &str,
            value: serde_json::Value,
        ) -> Result<Result<(), Error>, String> {
            $(
                if name == $name {
                    return decode_reply::<$req>(value)
                        .map(|r| r.map(|_| ()))
                        .map_err(|e| format!("{name}: {e}"));
                }
            )*
            Err(format!("no request named {name:?}"))
        }
        /// Every event type name.
        pub const EVENTS: &[&str] = &[$($event),*];
    };
}

contract! {
    requests {
        version::GetVersion => version::VersionInfo as "GetVersion";
        targets::ListTargets => targets::TargetList as "ListTargets";
        targets::GetTarget => targets::TargetReply as "GetTarget";
        targets::CreateTarget => targets::TargetReply as "CreateTarget";
        targets::UpdateTarget => targets::TargetReply as "UpdateTarget";
        targets::DeleteTarget => Empty as "DeleteTarget";
        targets::SetStreamKey => Empty as "SetStreamKey";
        targets::StartTarget => targets::TargetReply as "StartTarget";
        targets::StopTarget => targets::TargetReply as "StopTarget";
        targets::StartAllTargets => targets::BulkReply as "StartAllTargets";
        targets::StopAllTargets => targets::BulkReply as "StopAllTargets";
        targets::GetTargetHealth => targets::HealthReport as "GetTargetHealth";
        targets::UpdateEncoderConfig => targets::EncoderConfig as "UpdateEncoderConfig";
        targets::DeleteEncoderConfig => Empty as "DeleteEncoderConfig";
        targets::ExportTargets => targets::TargetsExport as "ExportTargets";
        targets::ImportTargets => targets::ImportReply as "ImportTargets";
        targets::SetTargetVideoBitrate => targets::VideoBitrate as "SetTargetVideoBitrate";
        nowplaying::SetNowPlaying => Empty as "SetNowPlaying";
        nowplaying::SetTempo => Empty as "SetTempo";
        nowplaying::GetAnalysis => nowplaying::Analysis as "GetAnalysis";
        audio::SetAudioMeter => audio::AudioLevels as "SetAudioMeter";
        audio::GetAudioLevels => audio::AudioLevels as "GetAudioLevels";
        alerts::SetAlerts => Empty as "SetAlerts";
        alerts::GetAlerts => alerts::AlertsView as "GetAlerts";
        recording::GetRecording => recording::RecordingStatus as "GetRecording";
        recording::StartRecording => recording::RecordingControl as "StartRecording";
        recording::StopRecording => recording::RecordingControl as "StopRecording";
    }
    events {
        targets::TargetStateChanged as "TargetStateChanged";
        targets::HealthReport as "TargetHealth";
        nowplaying::TempoChanged as "TempoChanged";
        recording::RecordingStopped as "RecordingStopped";
    }
}

/// Decodes the data of request `R` as a handler receives it: `null` counts as `{}`, anything but
/// an object is refused, and every failure names the request.
pub fn decode_request<R: Request>(data: serde_json::Value) -> Result<R, Error> {
    let data = if data.is_null() {
        serde_json::Value::Object(Default::default())
    } else {
        data
    };
    if !data.is_object() {
        return Err(Error::invalid_request(format!(
            "{}: request data must be a JSON object",
            R::NAME
        )));
    }
    serde_json::from_value(data).map_err(|e| Error::invalid_request(format!("{}: {e}", R::NAME)))
}

/// The response object of a handled request: the reply, or [`Error::to_wire`].
pub fn encode_reply<T: Serialize>(result: Result<T, Error>) -> serde_json::Value {
    match result.and_then(|reply| {
        serde_json::to_value(reply)
            .map_err(|e| Error::internal(format!("the answer could not be encoded: {e}")))
    }) {
        Ok(value) if value.is_object() => value,
        Ok(_) => Error::internal("the answer is not a JSON object").to_wire(),
        Err(e) => e.to_wire(),
    }
}

/// Interprets a raw `responseData` object of request `R`: `{"error": ...}` becomes the inner
/// `Err`, anything else must decode as `R::Reply` (or the outer `Err` says why not).
pub fn decode_reply<R: Request>(
    value: serde_json::Value,
) -> Result<Result<R::Reply, Error>, serde_json::Error> {
    if value.get("error").is_some() {
        let err: ErrorResponse = serde_json::from_value(value)?;
        return Ok(Err(err.error));
    }
    serde_json::from_value(value).map(Ok)
}

/// Decodes the data of event `E`.
pub fn decode_event<E: Event>(data: serde_json::Value) -> Result<E, serde_json::Error> {
    serde_json::from_value(data)
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
    use super::targets::{StartTarget, TargetReply, TargetStateChanged};
    use super::version::{GetVersion, VersionInfo};
    use super::*;
    use serde_json::json;

    #[test]
    fn every_request_and_event_has_its_wire_name() {
        assert_eq!(StartTarget::NAME, "StartTarget");
        assert_eq!(GetVersion::NAME, "GetVersion");
        assert_eq!(<targets::HealthReport as Event>::NAME, "TargetHealth");
        assert_eq!(REQUESTS.len(), 27);
        assert_eq!(REQUESTS[0], "GetVersion");
        assert_eq!(REQUESTS[23], "GetAlerts");
        assert_eq!(
            EVENTS,
            [
                "TargetStateChanged",
                "TargetHealth",
                "TempoChanged",
                "RecordingStopped"
            ]
        );
        let mut unique = REQUESTS.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), REQUESTS.len());
    }

    #[test]
    fn version_info_uses_camel_case_keys() {
        let v = VersionInfo {
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
    fn requests_decode_once_with_errors_that_name_them() {
        let r: StartTarget = decode_request(json!({"id": "abc"})).unwrap();
        assert_eq!(r.id, "abc");
        let e = decode_request::<StartTarget>(json!({})).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(
            e.message.starts_with("StartTarget: missing field `id`"),
            "{e}"
        );
        let e = decode_request::<StartTarget>(json!([1])).unwrap_err();
        assert_eq!(e.message, "StartTarget: request data must be a JSON object");
        let e = decode_request::<StartTarget>(json!({"id": "a", "extra": 1})).unwrap_err();
        assert!(e.message.contains("unknown field `extra`"), "{e}");
        // Requests that take nothing accept null, {} and ignore what clients add.
        for data in [json!(null), json!({}), json!({"unexpected": [1, 2]})] {
            decode_request::<GetVersion>(data).unwrap();
        }
    }

    #[test]
    fn error_wire_shape() {
        let e = Error::not_found("no target with id \"x\"");
        assert_eq!(
            e.to_wire(),
            json!({"error": {"code": "not_found", "message": "no target with id \"x\""}})
        );
        assert_eq!(encode_reply::<Empty>(Err(e.clone())), e.to_wire());
        assert_eq!(encode_reply(Ok(Empty {})), json!({}));
        assert_eq!(e.to_string(), "no target with id \"x\" (not_found)");
    }

    #[test]
    fn replies_distinguish_errors_from_payloads() {
        let ok = decode_reply::<GetVersion>(
            json!({"pluginVersion": "1.2.3", "protocolVersion": 7, "libobsVersion": "32.2.2"}),
        )
        .unwrap();
        assert!(matches!(ok, Ok(v) if v.protocol_version == 7));
        let err = decode_reply::<GetVersion>(
            json!({"error": {"code": "invalid_request", "message": "bad"}}),
        )
        .unwrap();
        assert!(matches!(err, Err(b) if b.code == ErrorCode::InvalidRequest));
        // A payload that is neither must not be silently accepted.
        assert!(decode_reply::<GetVersion>(json!({"pluginVersion": 1})).is_err());
        let _: Option<TargetReply> = None;
        // The same by name.
        assert_eq!(check_reply("DeleteTarget", json!({})), Ok(Ok(())));
        assert!(matches!(
            check_reply("GetTarget", json!({"error": {"code": "not_found", "message": "x"}})),
            Ok(Err(e)) if e.code == ErrorCode::NotFound
        ));
        assert!(check_reply("GetVersion", json!({"pluginVersion": 1})).is_err());
        assert!(check_reply("Nope", json!({})).is_err());
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
        let before: TargetStateChanged = decode_event(json!({
            "id": "a", "name": "A", "state": "live", "previous": "connecting",
            "lastError": null, "reconnects": 0
        }))
        .unwrap();
        let after: TargetStateChanged =
            decode_event(without_nulls(serde_json::to_value(&before).unwrap())).unwrap();
        assert_eq!(before, after);
    }
}
