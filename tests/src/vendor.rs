//! Calling the `deckcast` vendor API from tests, and collecting its events.
use std::time::Duration;

use anyhow::{Context, Result, bail};
use deckcast_protocol::VENDOR_NAME;
use obws::requests::general::CallVendorRequest;
use serde_json::Value;

/// Calls `kind` with `data`; returns `responseData` as-is (success payload or `{"error": ...}`).
pub async fn call(client: &obws::Client, kind: &str, data: Value) -> Result<Value> {
    let resp = client
        .general()
        .call_vendor_request::<_, Value>(CallVendorRequest {
            vendor_name: VENDOR_NAME,
            request_type: kind,
            request_data: &data,
        })
        .await
        .with_context(|| format!("vendor request {kind}"))?;
    Ok(resp.response_data)
}

/// Like [`call`], but fails if the answer is an error object.
pub async fn ok(client: &obws::Client, kind: &str, data: Value) -> Result<Value> {
    let v = call(client, kind, data).await?;
    if let Some(e) = v.get("error") {
        bail!("{kind} failed: {e}");
    }
    Ok(v)
}

/// Like [`call`], but expects an error object and returns its `code`.
pub async fn err_code(client: &obws::Client, kind: &str, data: Value) -> Result<String> {
    let v = call(client, kind, data).await?;
    v["error"]["code"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{kind} should have failed but answered {v}"))
}

/// State of target `id` from `GetTargetHealth`.
pub async fn health(client: &obws::Client, id: &str) -> Result<Value> {
    let v = ok(client, "GetTargetHealth", serde_json::json!({"id": id})).await?;
    Ok(v["targets"][0].clone())
}

/// Waits until target `id` reaches `state`; fails early if it reaches `error` instead (unless
/// `error` is what we wait for).
pub async fn wait_state(
    client: &obws::Client,
    id: &str,
    state: &str,
    timeout: Duration,
) -> Result<Value> {
    let start = std::time::Instant::now();
    loop {
        let h = health(client, id).await?;
        if h["state"] == state {
            return Ok(h);
        }
        if h["state"] == "error" && state != "error" {
            bail!("target {id} ended in error while waiting for {state}: {h}");
        }
        if start.elapsed() > timeout {
            bail!("target {id} did not reach {state} within {timeout:?}; last: {h}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
