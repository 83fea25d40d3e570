//! Validates JSON responses against the companion's OpenAPI 3.1 document (`companion/openapi.json`).
//! Supports the subset the document uses: `$ref`, `type` (also as a list, for nullable), `enum`,
//! `properties`, `required`, `additionalProperties: false`, `items` and `oneOf`.
use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The parsed document.
#[derive(Debug, Clone)]
pub struct OpenApi {
    doc: Value,
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
        })
    }

    /// The document.
    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// Checks `body` against the documented JSON response of `method path` (the path as written
    /// in the document, e.g. `/api/v1/targets/{id}`) for `status`.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<()> {
        let op = &self.doc["paths"][path][method.to_ascii_lowercase()];
        if op.is_null() {
            bail!("{method} {path} is not documented");
        }
        let resp = &op["responses"][status.to_string()];
        if resp.is_null() {
            bail!("{method} {path} does not document status {status}");
        }
        let schema = &resp["content"]["application/json"]["schema"];
        if schema.is_null() {
            if body.is_null() {
                return Ok(());
            }
            bail!("{method} {path} {status} documents no JSON body, got {body}");
        }
        self.check(schema, body, "$")
            .with_context(|| format!("{method} {path} {status}: {body}"))
    }

    /// Checks `value` against the component schema `name`.
    pub fn check_schema(&self, name: &str, value: &Value) -> Result<()> {
        let schema = &self.doc["components"]["schemas"][name];
        if schema.is_null() {
            bail!("no schema {name}");
        }
        self.check(schema, value, "$")
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> Result<&'a Value> {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .with_context(|| format!("unsupported $ref {r}"))?;
                let s = &self.doc["components"]["schemas"][name];
                if s.is_null() {
                    bail!("dangling $ref {r}");
                }
                self.resolve(s)
            }
            None => Ok(schema),
        }
    }

    fn check(&self, schema: &Value, v: &Value, at: &str) -> Result<()> {
        let schema = self.resolve(schema)?;
        if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
            let ok = options
                .iter()
                .filter(|s| self.check(s, v, at).is_ok())
                .count();
            if ok != 1 {
                bail!("{at}: matches {ok} of the oneOf schemas");
            }
            return Ok(());
        }
        if let Some(t) = schema.get("type") {
            let types: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => bail!("bad type in schema at {at}"),
            };
            let ok = types.iter().any(|t| match *t {
                "null" => v.is_null(),
                "boolean" => v.is_boolean(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "string" => v.is_string(),
                "array" => v.is_array(),
                "object" => v.is_object(),
                _ => false,
            });
            if !ok {
                bail!("{at}: expected {types:?}, got {v}");
            }
        }
        if let Some(e) = schema.get("enum").and_then(Value::as_array)
            && !e.contains(v)
        {
            bail!("{at}: {v} is not one of {e:?}");
        }
        if let Value::Object(map) = v {
            let props = schema.get("properties").and_then(Value::as_object);
            if let Some(req) = schema.get("required").and_then(Value::as_array) {
                for r in req.iter().filter_map(Value::as_str) {
                    if !map.contains_key(r) {
                        bail!("{at}: missing required field {r}");
                    }
                }
            }
            for (k, val) in map {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => self.check(s, val, &format!("{at}.{k}"))?,
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        bail!("{at}: undocumented field {k}")
                    }
                    None => {}
                }
            }
        }
        if let (Value::Array(items), Some(s)) = (v, schema.get("items")) {
            for (i, item) in items.iter().enumerate() {
                self.check(s, item, &format!("{at}[{i}]"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_validator_rejects_what_the_document_forbids() {
        let api = OpenApi::load().unwrap();
        let err = json!({"error": {"code": "x", "message": "y"}});
        api.check_schema("Error", &err).unwrap();
        assert!(
            api.check_schema("Error", &json!({"error": {"code": "x"}}))
                .is_err()
        );
        assert!(
            api.check_schema("Error", &json!({"error": {"code": 1, "message": "y"}}))
                .is_err()
        );
        assert!(
            api.check_schema(
                "Error",
                &json!({"error": {"code": "x", "message": "y", "z": 1}})
            )
            .is_err()
        );
        api.check_response("GET", "/api/v1/status", 401, &err)
            .unwrap();
        assert!(
            api.check_response("GET", "/api/v1/status", 418, &err)
                .is_err()
        );
        assert!(api.check_schema("TargetState", &json!("bogus")).is_err());
        api.check_schema(
            "HistoryEvent",
            &json!({"id": 1, "tsMs": 2, "kind": "k", "targetId": null, "message": "m"}),
        )
        .unwrap();
    }
}
