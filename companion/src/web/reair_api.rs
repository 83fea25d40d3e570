//! `/api/v1/reair`: a recorded set played again in OBS (start, stop, where it is).
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::{ApiError, AppState, bad_json};
use crate::app::reair::{ReAir, StartReAir};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/reair", get(now).post(start))
        .route("/reair/stop", post(stop))
}

async fn now(State(state): State<AppState>) -> Json<ReAir> {
    Json(state.app.reair())
}

async fn start(
    State(state): State<AppState>,
    body: Result<Json<StartReAir>, JsonRejection>,
) -> Result<Json<ReAir>, ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    Ok(Json(state.app.start_reair(req, None).await?))
}

async fn stop(State(state): State<AppState>) -> Result<Json<ReAir>, ApiError> {
    Ok(Json(state.app.stop_reair().await?))
}
