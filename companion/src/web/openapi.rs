//! The API's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes and
//! the types' `ToSchema` derives (the routers in `api.rs` register each handler and its
//! description together, so a routed operation cannot be left out), then given the conventions
//! every operation shares:
//!
//! - every operation may answer 403 (a foreign Host), those behind the token also 401 and 429
//!   (a lockout after wrong tokens), and every error answer is an RFC 9457
//!   problem (`application/problem+json`, [`super::Problem`]);
//! - objects are closed (`additionalProperties: false`): serde writes no field a type does not
//!   declare, so a field the document does not know is a defect; a `#[serde(flatten)]` type is
//!   merged into one object so that closing it stays right.
//!
//! Served at `GET /api/v1/openapi.json`; `companion/openapi.json` is this document as committed,
//! and a test fails when the two differ (`DECKCAST_BLESS=1 cargo test -p deckcast-companion
//! openapi` rewrites the file).
use std::sync::OnceLock;

use serde_json::{Map, Value};
use utoipa::OpenApi;

/// 400 of operations with a JSON body.
pub(super) const BAD_REQUEST: &str = "Malformed JSON or invalid values (the message says which).";
/// 403 of every operation.
pub(super) const FOREIGN: &str = "State-changing request from another origin, or a foreign Host.";
/// 401 of operations behind the token.
const UNAUTHORIZED: &str = "Missing or wrong token.";
/// 429 of operations behind the token.
const LOCKED_OUT: &str = "Too many wrong tokens from this address: no token is checked until \
    Retry-After seconds have passed.";
/// 503 of operations that need OBS.
pub(super) const OBS_DOWN: &str = "OBS, the plugin or the keyring is not available.";
/// 502 of operations that need OBS.
pub(super) const OBS_ERROR: &str = "OBS answered with an error.";
/// 416 of the downloads.
pub(super) const RANGE_OUTSIDE: &str = "The range lies outside the file.";

/// What the derive cannot say: info, servers, security schemes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Deckcast companion API",
        description = "REST API of `deckcast serve`. Auth: `Authorization: Bearer <token>` \
            (`deckcast token show`) or the dashboard session cookie. State-changing requests must \
            come from the dashboard's own origin (or carry no Origin header). Errors are RFC 9457 \
            problem details (`application/problem+json`: `type`, `title`, `status`, `detail` and \
            the extension member `code`). `info.version` is the companion's version. Limits: at \
            most 64 connections at once; a request head must arrive within 10 s (also the \
            keep-alive idle time). After 10 wrong tokens (login or bearer), further attempts are \
            refused with 429 and Retry-After for a doubling lockout. Behind a TLS proxy that sets \
            X-Forwarded-Proto: https the session cookie is Secure.",
        license(name = "GPL-3.0-or-later", identifier = "GPL-3.0-or-later"),
    ),
    servers((url = "http://127.0.0.1:8750")),
    security(("bearer" = []), ("cookie" = [])),
    // Format is named by a query parameter, whose schemas utoipa does not collect.
    components(schemas(super::Problem, crate::tracklist::Format)),
    modifiers(&SecuritySchemes),
)]
struct Base;

/// The `bearer` and `cookie` schemes named by `security`.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::SecurityScheme;
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(super::SESSION_COOKIE))),
        );
    }
}

/// The document: the routers' operations (`parts`, with their schemas) in [`Base`], with the
/// shared conventions applied.
pub(super) fn document(parts: impl IntoIterator<Item = utoipa::openapi::OpenApi>) -> Value {
    let mut doc = Base::openapi();
    for part in parts {
        doc.merge(part);
    }
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    conventions(&mut doc);
    doc
}

/// The served document, pretty-printed as committed (made once).
pub(super) fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut text = serde_json::to_string_pretty(&super::openapi_document()).unwrap_or_default();
        text.push('\n');
        text
    })
}

/// Applies the shared conventions (see the module's overview) to a generated document.
fn conventions(doc: &mut Value) {
    let schemas = doc["components"]["schemas"].clone();
    if let Some(all) = doc["components"]["schemas"].as_object_mut() {
        for schema in all.values_mut() {
            close(schema, &schemas);
        }
    }
    let problem = serde_json::from_str::<Value>(
        r##"{"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}"##,
    )
    .unwrap_or_default();
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(ops) = item.as_object_mut() else {
            continue;
        };
        for op in ops.values_mut() {
            let public = match op.get_mut("security") {
                Some(security) => {
                    // `security(())` is utoipa's "no requirement": say it as OpenAPI does, [].
                    *security = Value::Array(Vec::new());
                    true
                }
                None => false,
            };
            close_content(op.pointer_mut("/requestBody/content"), &schemas);
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            // A foreign Host is refused everywhere; the token's checks only where it is needed.
            let mut shared = vec![("403", FOREIGN)];
            if !public {
                shared.extend([("401", UNAUTHORIZED), ("429", LOCKED_OUT)]);
            }
            for (status, text) in shared {
                responses.entry(status).or_insert_with(|| {
                    Value::Object(Map::from_iter([("description".into(), Value::from(text))]))
                });
            }
            for (status, response) in responses.iter_mut() {
                let error = status.parse::<u16>().is_ok_and(|s| s >= 400) && status != "416";
                if let Some(r) = response.as_object_mut() {
                    if error {
                        r.entry("content").or_insert_with(|| problem.clone());
                    }
                    close_content(r.get_mut("content"), &schemas);
                }
            }
        }
    }
}

/// Closes the schema of every media type in an OpenAPI `content` object.
fn close_content(content: Option<&mut Value>, schemas: &Value) {
    for schema in content
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|c| c.values_mut())
        .filter_map(|m| m.get_mut("schema"))
    {
        close(schema, schemas);
    }
}

/// Closes the object schemas in `schema` (recursively), merging an `allOf` of objects (what
/// `#[serde(flatten)]` makes) into one object first; `schemas` resolves `$ref`s.
fn close(schema: &mut Value, schemas: &Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let merged = obj
        .get("allOf")
        .and_then(Value::as_array)
        .filter(|p| p.len() > 1)
        .and_then(|parts| merge_objects(parts, schemas));
    if let Some(merged) = merged {
        obj.remove("allOf");
        for (k, v) in merged {
            // The type's own description, not its flattened part's.
            if k != "description" || !obj.contains_key("description") {
                obj.insert(k, v);
            }
        }
    }
    let is_object = obj.get("type").is_some_and(|t| {
        t == "object"
            || t.as_array()
                .is_some_and(|a| a.iter().any(|x| x == "object"))
    });
    if is_object && obj.contains_key("properties") && !obj.contains_key("additionalProperties") {
        obj.insert("additionalProperties".into(), Value::Bool(false));
    }
    for (key, value) in obj.iter_mut() {
        match key.as_str() {
            "properties" | "$defs" => {
                if let Some(props) = value.as_object_mut() {
                    for v in props.values_mut() {
                        close(v, schemas);
                    }
                }
            }
            "items" | "additionalProperties" | "not" => close(value, schemas),
            "oneOf" | "anyOf" | "prefixItems" => {
                if let Some(list) = value.as_array_mut() {
                    for v in list {
                        close(v, schemas);
                    }
                }
            }
            _ => {}
        }
    }
}

/// One object schema with the properties and required lists of `parts` (objects, or `$ref`s to
/// objects); `None` when a part is something else.
fn merge_objects(parts: &[Value], schemas: &Value) -> Option<Map<String, Value>> {
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    let mut description = None;
    for part in parts {
        let part = match part.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.strip_prefix("#/components/schemas/")?;
                let target = schemas.get(name)?;
                // A flattened part may itself be a flattened type.
                match target.get("allOf").and_then(Value::as_array) {
                    Some(inner) => Value::Object(merge_objects(inner, schemas)?),
                    None => target.clone(),
                }
            }
            None => part.clone(),
        };
        if part.get("type")? != "object" {
            return None;
        }
        if description.is_none() {
            description = part.get("description").cloned();
        }
        for (k, v) in part.get("properties")?.as_object()? {
            properties.insert(k.clone(), v.clone());
        }
        if let Some(req) = part.get("required").and_then(Value::as_array) {
            required.extend(req.iter().cloned());
        }
    }
    let mut merged = Map::new();
    merged.insert("type".into(), Value::from("object"));
    merged.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        merged.insert("required".into(), Value::Array(required));
    }
    if let Some(d) = description {
        merged.entry("description").or_insert(d);
    }
    Some(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `companion/openapi.json` is what the code generates (rewritten with DECKCAST_BLESS=1).
    #[test]
    fn the_committed_openapi_document_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        let generated = json();
        if std::env::var_os("DECKCAST_BLESS").is_some() {
            std::fs::write(path, generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap();
        assert!(
            committed == generated,
            "companion/openapi.json is not what the handlers and types describe: run \
             DECKCAST_BLESS=1 cargo test -p deckcast-companion openapi and commit the file"
        );
    }

    #[test]
    fn operation_ids_are_unique_and_errors_are_problems() {
        let doc = crate::web::openapi_document();
        let mut ids = std::collections::BTreeSet::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "{method} {path}: {id} twice");
                for (status, r) in op["responses"].as_object().unwrap() {
                    if status.starts_with('4') && status != "416" || status.starts_with('5') {
                        assert!(
                            r["content"]["application/problem+json"].is_object(),
                            "{method} {path} {status}"
                        );
                    }
                }
                if op["security"] != Value::Array(Vec::new()) {
                    assert!(op["responses"]["401"].is_object(), "{method} {path}");
                }
            }
        }
        assert!(ids.len() >= 66, "{}", ids.len());
    }

    #[test]
    fn flattened_objects_are_merged_and_closed() {
        let schemas: Value = serde_json::from_str(
            r##"{"A": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}}"##,
        )
        .unwrap();
        let mut s: Value = serde_json::from_str(
            r##"{"allOf": [{"$ref": "#/components/schemas/A"},
                {"type": "object", "properties": {"b": {"type": "integer"}}, "required": ["b"]}]}"##,
        )
        .unwrap();
        close(&mut s, &schemas);
        assert_eq!(s["type"], "object");
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(s["required"], serde_json::to_value(["a", "b"]).unwrap());
        assert!(s["properties"]["a"].is_object() && s["properties"]["b"].is_object());
        // A map stays open.
        let mut map: Value = serde_json::from_str(
            r#"{"type": "object", "additionalProperties": {"type": "integer"}}"#,
        )
        .unwrap();
        close(&mut map, &schemas);
        assert_eq!(map["additionalProperties"]["type"], "integer");
    }
}
