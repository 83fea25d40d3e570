//! Handlers of the `deckcast` obs-websocket vendor requests.
//!
//! Called on obs-websocket's worker threads (several at once). Each handler turns the request data
//! (any JSON, since clients may send anything) into a response object: the success payload of
//! `deckcast-protocol`, or `{"error": {"code", "message"}}`. Handlers never panic on bad input and
//! never block.
use deckcast_protocol::{ErrorCode, ErrorResponse, GetVersionResponse, PROTOCOL_VERSION};
use serde_json::Value;

use crate::obs::vendor::VendorRequest;
use crate::plugin::{self, Context, PLUGIN_VERSION};

/// Every request the plugin registers with obs-websocket.
pub static REQUESTS: &[VendorRequest] = &[VendorRequest {
    name: c"GetVersion",
    handler: |data| with_context(data, get_version),
}];

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
        assert_eq!(names, [request::GET_VERSION]);
    }
}
