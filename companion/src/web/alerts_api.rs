//! `/api/v1/alerts`: active alerts and their history, acknowledging, the rules, the outgoing
//! channels (URLs write-only).
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiError, AppState, bad_json};
use crate::alerts::Alert;
use crate::alerts::rules::RulesPatch;
use crate::app::alerts::{AlertList, ChannelInput, ChannelView, RulesView};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(list))
        .route("/alerts/{id}/ack", post(acknowledge))
        .route("/alerts/rules", get(rules).put(set_rules))
        .route("/alerts/channels", get(channels))
        .route(
            "/alerts/channels/{id}",
            axum::routing::put(put_channel).delete(delete_channel),
        )
        .route("/alerts/channels/{id}/test", post(test_channel))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Range {
    /// From (Unix ms), default 7 days ago.
    from: Option<i64>,
    /// To (Unix ms), default now.
    to: Option<i64>,
    /// At most (default 200, at most 1000).
    limit: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    Query(q): Query<Range>,
) -> Result<Json<AlertList>, ApiError> {
    let now = state.app.now_ms();
    let to = q.to.unwrap_or(now + 1);
    let from = q.from.unwrap_or(to - 7 * 86_400_000);
    Ok(Json(
        state.app.alerts(from, to, q.limit.unwrap_or(200)).await?,
    ))
}

async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Alert>, ApiError> {
    Ok(Json(state.app.acknowledge_alert(id).await?))
}

async fn rules(State(state): State<AppState>) -> Json<RulesView> {
    Json(state.app.alert_rules_view())
}

async fn set_rules(
    State(state): State<AppState>,
    body: Result<Json<RulesPatch>, JsonRejection>,
) -> Result<Json<RulesView>, ApiError> {
    let Json(patch) = body.map_err(bad_json)?;
    Ok(Json(state.app.set_alert_rules(patch).await?))
}

async fn channels(State(state): State<AppState>) -> Result<Json<Vec<ChannelView>>, ApiError> {
    Ok(Json(state.app.alert_channels().await?))
}

async fn put_channel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<ChannelInput>, JsonRejection>,
) -> Result<Json<ChannelView>, ApiError> {
    let Json(input) = body.map_err(bad_json)?;
    Ok(Json(state.app.put_alert_channel(&id, input).await?))
}

async fn delete_channel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_alert_channel(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn test_channel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ChannelView>, ApiError> {
    Ok(Json(state.app.test_alert_channel(&id).await?))
}
