//! `/api/v1/platform`: where webhooks go, how often health summaries are sent, and the outbox.
//! The signing secret is never returned (`deckcast platform secret show` prints it locally).
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState, bad_json};
use crate::sync::{HEALTH_INTERVAL, OutboxItem, SyncStatus, WEBHOOK_SECRET, WEBHOOK_URL};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/platform", get(status).put(configure))
        .route("/platform/outbox", get(outbox))
        .route("/platform/pull", axum::routing::post(pull_now))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Platform {
    #[serde(flatten)]
    sync: SyncStatus,
    health_interval_s: u64,
    secret_in_keyring: bool,
    base_url: Option<String>,
    pull_interval_s: i64,
    token_in_keyring: bool,
    last_pull_ms: Option<i64>,
    last_pull_error: Option<String>,
}

async fn current(state: &AppState) -> Result<Platform, ApiError> {
    let sync = state.service.db.call(|s| s.sync_status()).await?;
    let (base_url, pull_interval_s, last_pull_ms, last_pull_error) = state
        .service
        .db
        .call(|s| {
            Ok((
                s.setting(crate::pull::BASE_URL)?,
                s.setting(crate::pull::PULL_INTERVAL)?
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(300),
                s.setting(crate::pull::LAST_PULL_MS)?
                    .and_then(|v| v.parse().ok()),
                s.setting(crate::pull::LAST_PULL_ERROR)?,
            ))
        })
        .await?;
    let keys = state.service.keys.clone();
    let (secret_in_keyring, token_in_keyring) = tokio::task::spawn_blocking(move || {
        (
            keys.get(WEBHOOK_SECRET).ok().flatten().is_some(),
            keys.get(crate::pull::TOKEN).ok().flatten().is_some(),
        )
    })
    .await
    .unwrap_or((false, false));
    Ok(Platform {
        sync,
        health_interval_s: state
            .service
            .health_interval_s
            .load(std::sync::atomic::Ordering::Relaxed),
        secret_in_keyring,
        base_url,
        pull_interval_s,
        token_in_keyring,
        last_pull_ms,
        last_pull_error,
    })
}

async fn status(State(state): State<AppState>) -> Result<Json<Platform>, ApiError> {
    Ok(Json(current(&state).await?))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Configure {
    /// `null` turns webhooks off; absent leaves them as they are.
    #[serde(default, deserialize_with = "some")]
    webhook_url: Option<Option<String>>,
    #[serde(default)]
    health_interval_s: Option<u64>,
    /// The site's base URL for pulls; `null` turns pulling off.
    #[serde(default, deserialize_with = "some")]
    base_url: Option<Option<String>>,
    #[serde(default)]
    pull_interval_s: Option<u64>,
}

/// Tells a field set to `null` (Some(None)) from an absent one (None).
fn some<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

async fn configure(
    State(state): State<AppState>,
    body: Result<Json<Configure>, JsonRejection>,
) -> Result<Json<Platform>, ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    let http_url = |u: &Option<Option<String>>| {
        u.as_ref()
            .and_then(Option::as_ref)
            .is_none_or(|u| u.starts_with("http://") || u.starts_with("https://"))
    };
    if !http_url(&req.base_url) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "baseUrl must be an http:// or https:// address",
        ));
    }
    if let Some(n) = req.pull_interval_s
        && !(30..=86_400).contains(&n)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "pullIntervalS must be 30 to 86400",
        ));
    }
    if !http_url(&req.webhook_url) {
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
    if matches!(req.webhook_url, Some(Some(_))) {
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
    let base = req.base_url.clone();
    let interval = req.health_interval_s;
    let pull = req.pull_interval_s;
    state
        .service
        .db
        .call(move |s| {
            if let Some(u) = url {
                s.set_setting(WEBHOOK_URL, u.as_deref())?;
            }
            if let Some(b) = base {
                s.set_setting(crate::pull::BASE_URL, b.as_deref())?;
            }
            if let Some(n) = interval {
                s.set_setting(HEALTH_INTERVAL, Some(&n.to_string()))?;
            }
            if let Some(n) = pull {
                s.set_setting(crate::pull::PULL_INTERVAL, Some(&n.to_string()))?;
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
                Some(Some(u)) => format!("webhooks go to {u}"),
                Some(None) => "webhooks turned off".into(),
                None => "platform settings changed".into(),
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

async fn pull_now(
    State(state): State<AppState>,
) -> Result<Json<crate::pull::PullReport>, ApiError> {
    crate::pull::pull(&state.service, &state.http)
        .await
        .map(Json)
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "platform", e))
}
