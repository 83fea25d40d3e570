//! `/api/v1/schedule` and `/api/v1/feeds`: sets and calendar subscriptions.
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::BAD_REQUEST;
use super::{ApiError, AppState, bad_json};
use crate::app::schedule::{AddEntry, AddFeed, FeedReply, Feeds, PreviewFeed, Schedule};
use crate::schedule::Entry;
use crate::schedule::ics::Parsed;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sets, add_set))
        .routes(routes!(cancel_set))
        .routes(routes!(list_feeds, add_feed))
        .routes(routes!(preview_feed))
        .routes(routes!(delete_feed))
        .routes(routes!(refresh_feed))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Past {
    /// How many finished sets to include (default 20).
    past: Option<u32>,
}

/// Upcoming and running sets plus recent past ones, and conflicts (overlapping sets sharing
/// outputs).
#[utoipa::path(get, path = "/schedule", tag = "schedule", params(Past),
    responses((status = 200, description = "Schedule", body = Schedule)))]
async fn list_sets(
    State(state): State<AppState>,
    Query(q): Query<Past>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(state.app.schedule(q.past.unwrap_or(20)).await?))
}

/// Schedule a set: at its start the companion pushes keys, starts the targets (and OBS's stream),
/// switches scene; at its end it stops them.
#[utoipa::path(post, path = "/schedule", tag = "schedule", request_body = AddEntry,
    responses(
        (status = 201, description = "Entry", body = Entry),
        (status = 400, description = BAD_REQUEST),
        (status = 404, description = "Unknown target."),
    ))]
async fn add_set(
    State(state): State<AppState>,
    body: Result<Json<AddEntry>, JsonRejection>,
) -> Result<(StatusCode, Json<Entry>), ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    Ok((StatusCode::CREATED, Json(state.app.add_set(req).await?)))
}

/// Cancel a set (a running one stops its outputs).
#[utoipa::path(delete, path = "/schedule/{id}", tag = "schedule", params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 404, description = "No such set."),
        (status = 409, description = "Already finished."),
    ))]
async fn cancel_set(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.cancel_set(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// iCalendar subscriptions.
#[utoipa::path(get, path = "/feeds", tag = "schedule",
    responses((status = 200, description = "Feeds", body = Feeds)))]
async fn list_feeds(State(state): State<AppState>) -> Result<Json<Feeds>, ApiError> {
    Ok(Json(state.app.feeds().await?))
}

/// Subscribe to an iCalendar feed (fetched now, then on its timer).
#[utoipa::path(post, path = "/feeds", tag = "schedule", request_body = AddFeed,
    responses(
        (status = 201, description = "Feed", body = FeedReply),
        (status = 400, description = BAD_REQUEST),
        (status = 404, description = "Unknown target."),
        (status = 409, description = "Already subscribed."),
    ))]
async fn add_feed(
    State(state): State<AppState>,
    body: Result<Json<AddFeed>, JsonRejection>,
) -> Result<(StatusCode, Json<FeedReply>), ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    Ok((StatusCode::CREATED, Json(state.app.add_feed(req).await?)))
}

/// What a calendar would schedule in a window, and what it would skip and why, without
/// subscribing.
#[utoipa::path(post, path = "/feeds/preview", tag = "schedule", request_body = PreviewFeed,
    responses(
        (status = 200, description = "Preview", body = Parsed),
        (status = 400, description = "Bad URL, window or length."),
        (status = 502, description = "The calendar could not be fetched or is not iCalendar."),
    ))]
async fn preview_feed(
    State(state): State<AppState>,
    body: Result<Json<PreviewFeed>, JsonRejection>,
) -> Result<Json<Parsed>, ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    Ok(Json(state.app.preview_feed(req).await?))
}

/// Fetch a feed now.
#[utoipa::path(post, path = "/feeds/{id}/refresh", tag = "schedule", params(("id" = i64, Path)),
    responses(
        (status = 200, description = "Feed", body = FeedReply),
        (status = 404, description = "No such feed."),
    ))]
async fn refresh_feed(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<FeedReply>, ApiError> {
    Ok(Json(state.app.refresh_feed_now(id).await?))
}

/// Unsubscribe (planned sets of the feed are removed).
#[utoipa::path(delete, path = "/feeds/{id}", tag = "schedule", params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such feed."),
    ))]
async fn delete_feed(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_feed(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
