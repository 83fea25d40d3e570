//! `/api/v1/platform`: where webhooks go, how often health summaries are sent, and the outbox.
//! The signing secret is never returned (`deckcast platform secret show` prints it locally).
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState};
use crate::sync::{HEALTH_INTERVAL, OutboxItem, SyncStatus, WEBHOOK_SECRET, WEBHOOK_URL};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/platform", get(status).put(configure))
        .route("/platform/outbox", get(outbox))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Platform {
    #[serde(flatten)]
    sync: SyncStatus,
    health_interval_s: u64,
    secret_in_keyring: bool,
}

async fn current(state: &AppState) -> Result<Platform, ApiError> {
    let sync = state.service.db.call(|s| s.sync_status()).await?;
    let keys = state.service.keys.clone();
    let secret_in_keyring = tokio::task::spawn_blocking(move || keys.get(WEBHOOK_SECRET))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .is_some();
    Ok(Platform {
        sync,
        health_interval_s: state
            .service
            .health_interval_s
            .load(std::sync::atomic::Ordering::Relaxed),
        secret_in_keyring,
    })
}

async fn status(State(state): State<AppState>) -> Result<Json<Platform>, ApiError> {
    Ok(Json(current(&state).await?))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Configure {
    /// `null` turns webhooks off.
    webhook_url: Option<String>,
    #[serde(default)]
    health_interval_s: Option<u64>,
}

async fn configure(
    State(state): State<AppState>,
    body: Result<Json<Configure>, JsonRejection>,
) -> Result<Json<Platform>, ApiError> {
    let Json(req) = body.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the request body is not valid: {}", e.body_text()),
        )
    })?;
    if let Some(url) = &req.webhook_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "webhookUrl must be an http:// or https:// address",
        ));
    }
    if let Some(n) = req.health_interval_s
        && !(5..=3600).contains(&n)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "healthIntervalS must be 5 to 3600",
        ));
    }
    if req.webhook_url.is_some() {
        // A signing secret must exist in the keyring before anything is sent.
        let keys = state.service.keys.clone();
        tokio::task::spawn_blocking(move || -> Result<(), crate::keys::KeysError> {
            if keys.get(WEBHOOK_SECRET)?.is_none() {
                keys.set(WEBHOOK_SECRET, &crate::keys::random_token())?;
            }
            Ok(())
        })
        .await
        .map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })??;
    }
    let url = req.webhook_url.clone();
    let interval = req.health_interval_s;
    state
        .service
        .db
        .call(move |s| {
            s.set_setting(WEBHOOK_URL, url.as_deref())?;
            if let Some(n) = interval {
                s.set_setting(HEALTH_INTERVAL, Some(&n.to_string()))?;
            }
            Ok(())
        })
        .await?;
    if let Some(n) = interval {
        state
            .service
            .health_interval_s
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }
    state
        .service
        .record(
            "platform",
            None,
            match &req.webhook_url {
                Some(u) => format!("webhooks go to {u}"),
                None => "webhooks turned off".into(),
            },
        )
        .await;
    Ok(Json(current(&state).await?))
}

#[derive(Debug, Deserialize)]
struct Limit {
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
struct Outbox {
    events: Vec<OutboxItem>,
}

async fn outbox(
    State(state): State<AppState>,
    Query(q): Query<Limit>,
) -> Result<Json<Outbox>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 5000);
    Ok(Json(Outbox {
        events: state.service.db.call(move |s| s.outbox(limit)).await?,
    }))
}
