//! Handlers of the `deckcast` obs-websocket vendor requests.
//!
//! Called on obs-websocket's worker threads (several at once). Each handler turns the request data
//! (any JSON, since clients may send anything) into a response object: the success payload of
//! `deckcast-protocol`, or `{"error": {"code", "message"}}`. Handlers never panic on bad input and
//! never block.
use deckcast_protocol::{ErrorCode, ErrorResponse, GetVersionResponse, PROTOCOL_VERSION};
use std::time::Duration;

use serde_json::Value;

use crate::obs::vendor::VendorRequest;
use crate::plugin::{self, Context, PLUGIN_VERSION};

/// How long a vendor request may wait for the targets worker.
const WORKER_TIMEOUT: Duration = Duration::from_secs(10);

macro_rules! targets_request {
    ($name:literal) => {
        VendorRequest {
            name: $name,
            handler: targets_request,
        }
    };
}

/// Every request the plugin registers with obs-websocket.
pub static REQUESTS: &[VendorRequest] = &[
    VendorRequest {
        name: c"GetVersion",
        handler: |_, data| with_context(data, get_version),
    },
    targets_request!(c"ListTargets"),
    targets_request!(c"GetTarget"),
    targets_request!(c"CreateTarget"),
    targets_request!(c"UpdateTarget"),
    targets_request!(c"DeleteTarget"),
    targets_request!(c"SetStreamKey"),
    targets_request!(c"StartTarget"),
    targets_request!(c"StopTarget"),
    targets_request!(c"StartAllTargets"),
    targets_request!(c"StopAllTargets"),
    targets_request!(c"GetTargetHealth"),
    targets_request!(c"UpdateEncoderConfig"),
    targets_request!(c"DeleteEncoderConfig"),
    targets_request!(c"ExportTargets"),
    targets_request!(c"ImportTargets"),
    VendorRequest {
        name: c"SetNowPlaying",
        handler: |_, data| crate::nowplaying::handle_set(data),
    },
    VendorRequest {
        name: c"GetAnalysis",
        handler: |_, data| get_analysis(data),
    },
];

/// Finds the live tempo reading of a source by name (set at post-load to the libobs lookup; kept
/// behind a pointer so this module's tests need no libobs).
pub static ANALYSIS: std::sync::OnceLock<TempoLookup> = std::sync::OnceLock::new();

/// Looks a source's live tempo and the text it shows up by name.
pub type TempoLookup = fn(&str) -> Option<(deckcast_dsp::tempo::TempoReading, String)>;

/// Looks a visualizer's band levels up by name.
pub type BandsLookup = fn(&str) -> Option<Vec<f32>>;

/// Finds the band levels of a visualizer source by name (set at post-load, like [`ANALYSIS`]).
pub static BANDS: std::sync::OnceLock<BandsLookup> = std::sync::OnceLock::new();

/// `GetAnalysis {source}`: the live tempo of a Now Playing source.
fn get_analysis(data: Value) -> Value {
    let Some(lookup) = ANALYSIS.get() else {
        return error(ErrorCode::Internal, "the Deckcast plugin is not loaded yet");
    };
    let Some(name) = data.get("source").and_then(Value::as_str) else {
        return error(
            ErrorCode::InvalidRequest,
            "GetAnalysis: give the source name as {\"source\": \"...\"}",
        );
    };
    if let Some((r, text)) = lookup(name) {
        return serde_json::json!({
            "bpm": r.bpm, "rawBpm": r.raw_bpm, "confidence": r.confidence, "stable": r.stable, "active": r.active,
            "text": text,
        });
    }
    // Visualizers answer with their bands (a list of objects: obs-websocket keeps only those).
    if let Some(levels) = BANDS.get().and_then(|f| f(name)) {
        let bands: Vec<Value> = levels
            .iter()
            .map(|l| serde_json::json!({"level": l}))
            .collect();
        return serde_json::json!({ "bands": bands });
    }
    error(
        ErrorCode::NotFound,
        format!("no Deckcast Now Playing or Visualizer source named {name:?}"),
    )
}

/// Hands a targets request to the targets worker thread and waits for its answer.
fn targets_request(kind: &str, data: Value) -> Value {
    match plugin::targets() {
        Some(worker) => worker.request(kind, data, WORKER_TIMEOUT),
        None => error(
            ErrorCode::Internal,
            "the Deckcast targets worker is not running",
        ),
    }
}

fn with_context(data: Value, handler: fn(&Context, Value) -> Value) -> Value {
    match plugin::context() {
        Some(ctx) => handler(ctx, data),
        None => error(ErrorCode::Internal, "the Deckcast plugin is not loaded yet"),
    }
}

fn error(code: ErrorCode, message: impl Into<String>) -> Value {
    serde_json::to_value(ErrorResponse::new(code, message)).unwrap_or_default()
}

/// `GetVersion`: ignores its request data.
pub fn get_version(ctx: &Context, _data: Value) -> Value {
    let reply = GetVersionResponse {
        plugin_version: PLUGIN_VERSION.to_owned(),
        protocol_version: PROTOCOL_VERSION,
        libobs_version: ctx.libobs_version.clone(),
    };
    serde_json::to_value(reply).unwrap_or_else(|e| error(ErrorCode::Internal, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deckcast_protocol::request;
    use serde_json::json;

    #[test]
    fn get_version_reports_all_three_versions() {
        let ctx = Context {
            libobs_version: "30.2.3".into(),
        };
        for input in [json!({}), json!(null), json!({"unexpected": [1, 2]})] {
            let out = get_version(&ctx, input);
            assert_eq!(
                out,
                json!({
                    "pluginVersion": env!("CARGO_PKG_VERSION"),
                    "protocolVersion": PROTOCOL_VERSION,
                    "libobsVersion": "30.2.3",
                })
            );
        }
    }

    #[test]
    fn request_names_match_the_protocol() {
        let names: Vec<_> = REQUESTS.iter().map(|r| r.name.to_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                request::GET_VERSION,
                request::LIST_TARGETS,
                request::GET_TARGET,
                request::CREATE_TARGET,
                request::UPDATE_TARGET,
                request::DELETE_TARGET,
                request::SET_STREAM_KEY,
                request::START_TARGET,
                request::STOP_TARGET,
                request::START_ALL_TARGETS,
                request::STOP_ALL_TARGETS,
                request::GET_TARGET_HEALTH,
                request::UPDATE_ENCODER_CONFIG,
                request::DELETE_ENCODER_CONFIG,
                request::EXPORT_TARGETS,
                request::IMPORT_TARGETS,
                request::SET_NOW_PLAYING,
                request::GET_ANALYSIS,
            ]
        );
    }
}
