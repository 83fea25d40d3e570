//! `/api/v1/platform`: where webhooks go, how often health summaries are sent, the outbox and the
//! pull. The signing secret is never returned (`deckcast platform secret show` prints it locally).
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::BAD_REQUEST;
use super::{ApiError, AppState, bad_json};
use crate::app::platform::{Configure, Outbox, Platform};
use crate::app::pull::PullReport;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(platform_status, configure_platform))
        .routes(routes!(platform_outbox))
        .routes(routes!(pull_platform))
}

/// Webhook delivery status (the signing secret is never returned; `deckcast platform secret
/// show`).
#[utoipa::path(get, path = "/platform", tag = "platform",
    responses((status = 200, description = "Platform", body = Platform)))]
async fn platform_status(State(state): State<AppState>) -> Result<Json<Platform>, ApiError> {
    Ok(Json(state.app.platform().await?))
}

/// Set (or with null clear) the webhook URL, the health summary interval, the site's base URL,
/// pull interval, automatic uploads and the site's token (write-only, into the keyring); creates
/// the signing secret in the keyring if missing.
#[utoipa::path(put, path = "/platform", tag = "platform", request_body = Configure,
    responses(
        (status = 200, description = "Platform", body = Platform),
        (status = 400, description = BAD_REQUEST),
        (status = 503, description = "No usable keyring."),
    ))]
async fn configure_platform(
    State(state): State<AppState>,
    body: Result<Json<Configure>, JsonRejection>,
) -> Result<Json<Platform>, ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    Ok(Json(state.app.configure_platform(req).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Limit {
    /// At most this many events (default 100).
    limit: Option<u32>,
}

/// Queued and delivered webhook events, newest first.
#[utoipa::path(get, path = "/platform/outbox", tag = "platform", params(Limit),
    responses((status = 200, description = "Outbox", body = Outbox)))]
async fn platform_outbox(
    State(state): State<AppState>,
    Query(q): Query<Limit>,
) -> Result<Json<Outbox>, ApiError> {
    Ok(Json(state.app.outbox(q.limit.unwrap_or(100)).await?))
}

/// Pull destinations (server + key → keyring → plugin) and the schedule from the site now.
#[utoipa::path(post, path = "/platform/pull", tag = "platform",
    responses(
        (status = 200, description = "Report", body = PullReport),
        (status = 502, description = "The site failed or refused."),
    ))]
async fn pull_platform(State(state): State<AppState>) -> Result<Json<PullReport>, ApiError> {
    Ok(Json(state.app.pull_now().await?))
}
