//! `/api/v1/sessions/{id}/report`, `/api/v1/report` (the newest session) and `/api/v1/chart`.
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, AppState};
use crate::report::{Chart, SessionReport};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(latest_report))
        .routes(routes!(session_report))
        .routes(routes!(chart))
}

/// The report of the newest stream session.
#[utoipa::path(get, path = "/report", tag = "history",
    responses(
        (status = 200, description = "Report", body = SessionReport),
        (status = 404, description = "No session yet."),
    ))]
async fn latest_report(State(state): State<AppState>) -> Result<Json<SessionReport>, ApiError> {
    Ok(Json(state.app.session_report(None).await?))
}

/// The report of a stream session: per-target uptime, bitrate, drops and reconnects; alerts;
/// tracks played.
#[utoipa::path(get, path = "/sessions/{id}/report", tag = "history", params(("id" = i64, Path)),
    responses(
        (status = 200, description = "Report", body = SessionReport),
        (status = 404, description = "No such session."),
    ))]
async fn session_report(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<SessionReport>, ApiError> {
    Ok(Json(state.app.session_report(Some(id)).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Range {
    /// Unix ms (default: an hour before `to`).
    from: Option<i64>,
    /// Unix ms (default: now).
    to: Option<i64>,
    /// Buckets per target, 10-2000 (default 300).
    points: Option<i64>,
}

/// Per-target bitrate and dropped frames over a range of the stored history, in buckets, with
/// alerts and track changes.
#[utoipa::path(get, path = "/chart", tag = "history", params(Range),
    responses(
        (status = 200, description = "Chart", body = Chart),
        (status = 400, description = "A range that ends before it starts, or longer than 90 days."),
    ))]
async fn chart(
    State(state): State<AppState>,
    Query(q): Query<Range>,
) -> Result<Json<Chart>, ApiError> {
    let to = q.to.unwrap_or_else(|| state.app.now_ms());
    let from = q.from.unwrap_or(to - 3_600_000);
    Ok(Json(
        state.app.chart(from, to, q.points.unwrap_or(300)).await?,
    ))
}
