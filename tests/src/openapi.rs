//! Validates JSON answers against the companion's OpenAPI 3.1 document (`companion/openapi.json`)
//! and the site's (`docs/platform-openapi.json`) with the `jsonschema` crate, a full JSON Schema
//! 2020-12 implementation (OpenAPI 3.1's schema dialect): every keyword the documents use is
//! enforced, `$ref`s resolve inside the document, and nothing is fetched.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

/// The parsed document and the validators compiled from it so far.
#[derive(Debug, Clone)]
pub struct OpenApi {
    doc: Value,
    validators: Arc<Mutex<HashMap<String, Arc<jsonschema::Validator>>>>,
}

impl OpenApi {
    /// Loads `companion/openapi.json` from the workspace.
    pub fn load() -> Result<OpenApi> {
        Self::load_from("companion/openapi.json")
    }

    /// Loads another OpenAPI document of the workspace (for example `docs/platform-openapi.json`).
    pub fn load_from(rel: &str) -> Result<OpenApi> {
        let path = crate::artifacts::workspace_root().join(rel);
        let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
        Ok(OpenApi {
            doc: serde_json::from_str(&text)?,
            validators: Arc::default(),
        })
    }

    /// The document.
    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// Checks `body` against the documented JSON response of `method path` (the path as written
    /// in the document, e.g. `/api/v1/targets/{id}`) for `status`, whatever its JSON media type
    /// (`application/json`, `application/problem+json`).
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<()> {
        let method = method.to_ascii_lowercase();
        let resp = self.response(&method, path, status)?;
        let json_type = resp["content"].as_object().and_then(|c| {
            c.iter()
                .find(|(media, v)| media.ends_with("json") && v.get("schema").is_some())
                .map(|(media, _)| media.clone())
        });
        let Some(media) = json_type else {
            if body.is_null() {
                return Ok(());
            }
            bail!("{method} {path} {status} documents no JSON body, got {body}");
        };
        let pointer = format!(
            "/paths/{}/{method}/responses/{status}/content/{}/schema",
            escape(path),
            escape(&media)
        );
        self.check(&pointer, body)
            .with_context(|| format!("{method} {path} {status}: {body}"))
    }

    /// Checks that an answer's `Content-Type` (`content_type`, parameters such as `charset`
    /// ignored) is a media type the document gives for `method path status` (`*/*` takes any);
    /// an answer documented without content passes whatever it says.
    pub fn check_media(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
    ) -> Result<()> {
        let method = method.to_ascii_lowercase();
        let Some(documented) = self.response(&method, path, status)?["content"].as_object() else {
            return Ok(());
        };
        let media = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if documented.keys().any(|m| m == "*/*" || *m == media) {
            Ok(())
        } else {
            let known: Vec<&String> = documented.keys().collect();
            bail!("{method} {path} {status}: Content-Type {media:?} is not one of {known:?}")
        }
    }

    /// The documented response of `method` (lowercase) `path` for `status`.
    fn response(&self, method: &str, path: &str, status: u16) -> Result<&Value> {
        let op = &self.doc["paths"][path][method];
        if op.is_null() {
            bail!("{method} {path} is not documented");
        }
        let resp = &op["responses"][status.to_string()];
        if resp.is_null() {
            bail!("{method} {path} does not document status {status}");
        }
        Ok(resp)
    }

    /// Checks `value` against the component schema `name`.
    pub fn check_schema(&self, name: &str, value: &Value) -> Result<()> {
        if self.doc["components"]["schemas"][name].is_null() {
            bail!("no schema {name}");
        }
        self.check(&format!("/components/schemas/{}", escape(name)), value)
    }

    /// Validates `value` against the schema at JSON pointer `pointer` of the document.
    fn check(&self, pointer: &str, value: &Value) -> Result<()> {
        let validator = self.validator(pointer)?;
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(anyhow!("{}", errors.join("; ")))
        }
    }

    /// The validator for the schema at `pointer`, compiled once: a root that refers to it and
    /// carries the document's components, so `#/components/...` references resolve.
    fn validator(&self, pointer: &str) -> Result<Arc<jsonschema::Validator>> {
        let mut cache = self.validators.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = cache.get(pointer) {
            return Ok(v.clone());
        }
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": format!("#{}", fragment(pointer)),
            "paths": self.doc["paths"],
            "components": self.doc["components"],
        });
        let v = Arc::new(
            jsonschema::draft202012::new(&root)
                .map_err(|e| anyhow!("the schema at {pointer} does not compile: {e}"))?,
        );
        cache.insert(pointer.to_owned(), v.clone());
        Ok(v)
    }
}

/// `pointer` as a URI fragment: percent-encoded where RFC 3986 does not allow a character
/// (`{id}` in a path), as RFC 6901 §6 says.
fn fragment(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for b in pointer.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `s` as one JSON-pointer segment (RFC 6901).
fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validator_rejects_what_the_document_forbids() {
        let api = OpenApi::load().unwrap();
        let err = json!({"type": "about:blank", "title": "Unauthorized", "status": 401,
                         "detail": "a token is required", "code": "unauthorized"});
        api.check_schema("Problem", &err).unwrap();
        let mut missing = err.clone();
        missing.as_object_mut().unwrap().remove("detail");
        assert!(api.check_schema("Problem", &missing).is_err());
        let mut wrong_type = err.clone();
        wrong_type["code"] = json!(1);
        assert!(api.check_schema("Problem", &wrong_type).is_err());
        let mut extra = err.clone();
        extra["z"] = json!(1);
        assert!(api.check_schema("Problem", &extra).is_err());
        // Keywords the hand-written validator ignored: const, minimum, pattern.
        let mut other_type = err.clone();
        other_type["type"] = json!("https://example.invalid/p");
        assert!(api.check_schema("Problem", &other_type).is_err());
        let mut not_an_error = err.clone();
        not_an_error["status"] = json!(200);
        let e = api.check_schema("Problem", &not_an_error).unwrap_err();
        assert!(e.to_string().contains("/status"), "{e}");
        let mut bad_code = err.clone();
        bad_code["code"] = json!("Not Found!");
        assert!(api.check_schema("Problem", &bad_code).is_err());
        api.check_response("GET", "/api/v1/status", 401, &err)
            .unwrap();
        let not_found = json!({"type": "about:blank", "title": "Not Found", "status": 404,
                               "detail": "no target with id \"x\"", "code": "not_found"});
        api.check_response("GET", "/api/v1/targets/{id}", 404, &not_found)
            .unwrap();
        assert!(
            api.check_response("GET", "/api/v1/status", 418, &err)
                .is_err()
        );
        assert!(api.check_schema("TargetState", &json!("bogus")).is_err());
        // The media type is checked too.
        api.check_media("GET", "/api/v1/status", 200, Some("application/json"))
            .unwrap();
        api.check_media(
            "GET",
            "/api/v1/status",
            401,
            Some("application/problem+json"),
        )
        .unwrap();
        assert!(
            api.check_media("GET", "/api/v1/status", 401, Some("application/json"))
                .is_err()
        );
        assert!(
            api.check_media(
                "GET",
                "/api/v1/status",
                200,
                Some("text/plain; charset=utf-8")
            )
            .is_err()
        );
        api.check_media("GET", "/metrics", 200, Some("text/plain; version=0.0.4"))
            .unwrap();
        api.check_schema(
            "HistoryEvent",
            &json!({"id": 1, "tsMs": 2, "kind": "k", "targetId": null, "message": "m"}),
        )
        .unwrap();
    }

    #[test]
    fn every_schema_of_both_documents_compiles() {
        for rel in ["companion/openapi.json", "docs/platform-openapi.json"] {
            let api = OpenApi::load_from(rel).unwrap();
            let names: Vec<String> = api.doc()["components"]["schemas"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            assert!(names.len() > 10, "{rel}: {names:?}");
            for name in names {
                api.validator(&format!("/components/schemas/{}", escape(&name)))
                    .unwrap_or_else(|e| panic!("{rel}: {e}"));
            }
            // Every documented JSON answer, as `check_response` finds it ({id} paths included).
            let mut answers = 0;
            for (path, ops) in api.doc()["paths"].as_object().unwrap() {
                for (method, op) in ops.as_object().unwrap() {
                    let Some(responses) = op["responses"].as_object() else {
                        continue;
                    };
                    for (status, r) in responses {
                        for (media, c) in r["content"].as_object().into_iter().flatten() {
                            if media.ends_with("json") && c.get("schema").is_some() {
                                let pointer = format!(
                                    "/paths/{}/{method}/responses/{status}/content/{}/schema",
                                    escape(path),
                                    escape(media)
                                );
                                api.validator(&pointer)
                                    .unwrap_or_else(|e| panic!("{rel}: {e}"));
                                answers += 1;
                            }
                        }
                    }
                }
            }
            assert!(answers > 0, "{rel}: {answers}");
        }
    }

    /// Both documents are valid OpenAPI 3.1 as an independent validator (the OpenAPI
    /// Initiative's schemas, through openapi-spec-validator, installed by scripts/deps.sh) sees
    /// them: the structure, `$ref`s, unique operation ids, path parameters.
    #[test]
    fn both_documents_validate_as_openapi_3_1() {
        let cache = std::env::var_os("DECKCAST_CACHE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from("/var/cache/deckcast"));
        let tool = cache.join("openapi-validator/venv/bin/openapi-spec-validator");
        for rel in ["companion/openapi.json", "docs/platform-openapi.json"] {
            let path = crate::artifacts::workspace_root().join(rel);
            let doc: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert_eq!(doc["openapi"], "3.1.0", "{rel}");
            let out = std::process::Command::new(&tool)
                .arg(&path)
                .output()
                .unwrap_or_else(|e| panic!("{}: {e} (run scripts/deps.sh)", tool.display()));
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.contains(": OK"),
                "{rel}: {text}"
            );
        }
        // It is not a rubber stamp: a document with an operation id used twice fails.
        let mut doc: Value = serde_json::from_str(
            &std::fs::read_to_string(
                crate::artifacts::workspace_root().join("companion/openapi.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let id = doc["paths"]["/api/v1/status"]["get"]["operationId"].clone();
        doc["paths"]["/api/v1/snapshot"]["get"]["operationId"] = id;
        let bad = std::env::temp_dir().join(format!("deckcast-oas-{}.json", std::process::id()));
        std::fs::write(&bad, doc.to_string()).unwrap();
        let out = std::process::Command::new(&tool)
            .arg(&bad)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&bad);
        assert!(
            !out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
