//! `/api/v1/platform`: where webhooks go, how often health summaries are sent, the outbox and the
//! pull. The signing secret is never returned (`deckcast platform secret show` prints it locally).
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiError, AppState, bad_json};
use crate::app::platform::{Configure, Outbox, Platform};
use crate::app::pull::PullReport;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/platform", get(status).put(configure))
        .route("/platform/outbox", get(outbox))
        .route("/platform/pull", post(pull_now))
}

async fn status(State(state): State<AppState>) -> Result<Json<Platform>, ApiError> {
    Ok(Json(state.app.platform().await?))
}

async fn configure(
    State(state): State<AppState>,
    body: Result<Json<Configure>, JsonRejection>,
) -> Result<Json<Platform>, ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    Ok(Json(state.app.configure_platform(req).await?))
}

#[derive(Debug, Deserialize)]
struct Limit {
    limit: Option<u32>,
}

async fn outbox(
    State(state): State<AppState>,
    Query(q): Query<Limit>,
) -> Result<Json<Outbox>, ApiError> {
    Ok(Json(state.app.outbox(q.limit.unwrap_or(100)).await?))
}

async fn pull_now(State(state): State<AppState>) -> Result<Json<PullReport>, ApiError> {
    Ok(Json(state.app.pull_now().await?))
}
