//! `/api/v1/schedule` and `/api/v1/feeds`: sets and calendar subscriptions.
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiError, AppState, bad_json};
use crate::app::schedule::{AddEntry, AddFeed, FeedReply, Feeds, PreviewFeed, Schedule};
use crate::schedule::Entry;
use crate::schedule::ics::Parsed;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/schedule", get(list).post(add))
        .route("/schedule/{id}", delete(cancel))
        .route("/feeds", get(feeds).post(add_feed))
        .route("/feeds/preview", post(preview))
        .route("/feeds/{id}", delete(delete_feed))
        .route("/feeds/{id}/refresh", post(refresh))
}

#[derive(Debug, Deserialize)]
struct Past {
    past: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    Query(q): Query<Past>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(state.app.schedule(q.past.unwrap_or(20)).await?))
}

async fn add(
    State(state): State<AppState>,
    body: Result<Json<AddEntry>, JsonRejection>,
) -> Result<(StatusCode, Json<Entry>), ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    Ok((StatusCode::CREATED, Json(state.app.add_set(req).await?)))
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.cancel_set(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn feeds(State(state): State<AppState>) -> Result<Json<Feeds>, ApiError> {
    Ok(Json(state.app.feeds().await?))
}

async fn add_feed(
    State(state): State<AppState>,
    body: Result<Json<AddFeed>, JsonRejection>,
) -> Result<(StatusCode, Json<FeedReply>), ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    Ok((StatusCode::CREATED, Json(state.app.add_feed(req).await?)))
}

async fn preview(
    State(state): State<AppState>,
    body: Result<Json<PreviewFeed>, JsonRejection>,
) -> Result<Json<Parsed>, ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    Ok(Json(state.app.preview_feed(req).await?))
}

async fn refresh(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<FeedReply>, ApiError> {
    Ok(Json(state.app.refresh_feed_now(id).await?))
}

async fn delete_feed(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_feed(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
