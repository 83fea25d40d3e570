//! `/api/v1/sessions/{id}/report`, `/api/v1/report` (the newest session) and `/api/v1/chart`.
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::report::{Chart, SessionReport};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/report", get(latest))
        .route("/sessions/{id}/report", get(report))
        .route("/chart", get(chart))
}

async fn latest(State(state): State<AppState>) -> Result<Json<SessionReport>, ApiError> {
    Ok(Json(state.app.session_report(None).await?))
}

async fn report(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<SessionReport>, ApiError> {
    Ok(Json(state.app.session_report(Some(id)).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Range {
    /// Unix ms (default: an hour before `to`).
    from: Option<i64>,
    /// Unix ms (default: now).
    to: Option<i64>,
    /// Buckets per target (10–2000, default 300).
    points: Option<i64>,
}

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
