//! `/api/v1/alerts`: active alerts and their history, acknowledging, the rules, the outgoing
//! channels (URLs write-only).
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, AppState, bad_json};
use crate::alerts::Alert;
use crate::alerts::rules::RulesPatch;
use crate::app::alerts::{AlertList, ChannelInput, ChannelView, RulesView};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_alerts))
        .routes(routes!(acknowledge_alert))
        .routes(routes!(alert_rules, set_alert_rules))
        .routes(routes!(list_alert_channels))
        .routes(routes!(put_alert_channel, delete_alert_channel))
        .routes(routes!(test_alert_channel))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Range {
    /// Unix ms (default: 7 days before `to`).
    from: Option<i64>,
    /// Unix ms (default: now).
    to: Option<i64>,
    /// At most (default 200, up to 1000).
    limit: Option<u32>,
}

/// Active alerts and the history of a time range.
#[utoipa::path(get, path = "/alerts", tag = "alerts", params(Range),
    responses(
        (status = 200, description = "Alerts", body = AlertList),
        (status = 400, description = "Bad query."),
    ))]
async fn list_alerts(
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

/// Acknowledge an alert: it stays until its condition is over.
#[utoipa::path(post, path = "/alerts/{id}/ack", tag = "alerts", params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The alert", body = Alert),
        (status = 404, description = "No such alert."),
    ))]
async fn acknowledge_alert(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Alert>, ApiError> {
    Ok(Json(state.app.acknowledge_alert(id).await?))
}

/// The alert rules, with what each one's numbers mean.
#[utoipa::path(get, path = "/alerts/rules", tag = "alerts",
    responses((status = 200, description = "Rules", body = RulesView)))]
async fn alert_rules(State(state): State<AppState>) -> Json<RulesView> {
    Json(state.app.alert_rules_view())
}

/// Change rules (only what is given); a bad value changes nothing.
#[utoipa::path(put, path = "/alerts/rules", tag = "alerts", request_body = RulesPatch,
    responses(
        (status = 200, description = "Rules", body = RulesView),
        (status = 400, description = "A value out of range, or an unknown rule or field."),
    ))]
async fn set_alert_rules(
    State(state): State<AppState>,
    body: Result<Json<RulesPatch>, JsonRejection>,
) -> Result<Json<RulesView>, ApiError> {
    let Json(patch) = body.map_err(bad_json)?;
    Ok(Json(state.app.set_alert_rules(patch).await?))
}

/// Outgoing alert channels (never their URLs).
#[utoipa::path(get, path = "/alerts/channels", tag = "alerts",
    responses((status = 200, description = "Channels", body = Vec<ChannelView>)))]
async fn list_alert_channels(
    State(state): State<AppState>,
) -> Result<Json<Vec<ChannelView>>, ApiError> {
    Ok(Json(state.app.alert_channels().await?))
}

/// Create or change a channel (a new one needs kind and url).
#[utoipa::path(put, path = "/alerts/channels/{id}", tag = "alerts", params(("id" = String, Path)),
    request_body = ChannelInput,
    responses(
        (status = 200, description = "The channel", body = ChannelView),
        (status = 400, description = "Bad id, kind or URL (it must be https, or http to this computer)."),
        (status = 409, description = "Too many channels."),
        (status = 503, description = "No keyring for the URL."),
    ))]
async fn put_alert_channel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<ChannelInput>, JsonRejection>,
) -> Result<Json<ChannelView>, ApiError> {
    let Json(input) = body.map_err(bad_json)?;
    Ok(Json(state.app.put_alert_channel(&id, input).await?))
}

/// Remove a channel and its URL.
#[utoipa::path(delete, path = "/alerts/channels/{id}", tag = "alerts", params(("id" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such channel."),
    ))]
async fn delete_alert_channel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_alert_channel(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a test alert to the channel now.
#[utoipa::path(post, path = "/alerts/channels/{id}/test", tag = "alerts", params(("id" = String, Path)),
    responses(
        (status = 200, description = "Delivered", body = ChannelView),
        (status = 404, description = "No such channel."),
        (status = 502, description = "The channel refused or could not be reached (the message never contains the URL)."),
    ))]
async fn test_alert_channel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ChannelView>, ApiError> {
    Ok(Json(state.app.test_alert_channel(&id).await?))
}
