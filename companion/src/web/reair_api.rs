//! `/api/v1/reair`: a recorded set played again in OBS (start, stop, where it is).
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, AppState, bad_json};
use crate::app::reair::{ReAir, StartReAir};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reair_now, start_reair))
        .routes(routes!(stop_reair))
}

/// The re-air playing now (or the last one, with why it ended): where the media source is, the
/// track on air.
#[utoipa::path(get, path = "/reair", tag = "recording",
    responses((status = 200, description = "The re-air", body = ReAir)))]
async fn reair_now(State(state): State<AppState>) -> Json<ReAir> {
    Json(state.app.reair())
}

/// Play a finished recording again: its file in the media source 'Deckcast re-air' added to the
/// scene (switched to), the targets started, Now Playing following the recording's tracklist at
/// the source's position. One re-air at a time; it survives a companion restart.
#[utoipa::path(post, path = "/reair", tag = "recording", request_body = StartReAir,
    responses(
        (status = 200, description = "Playing", body = ReAir),
        (status = 400, description = "The body is not a StartReAir."),
        (status = 404, description = "No such recording, scene or target, or the recording's file cannot be read here."),
        (status = 409, description = "A re-air is playing, or the recording is still running."),
        (status = 503, description = "OBS is not connected, or OBS refused."),
    ))]
async fn start_reair(
    State(state): State<AppState>,
    body: Result<Json<StartReAir>, JsonRejection>,
) -> Result<Json<ReAir>, ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    Ok(Json(state.app.start_reair(req, None).await?))
}

/// Stop the re-air: the media source removed, the targets it started stopped, the scene before
/// it back on (if the re-air's is still on). A scheduled set's re-air ends its set.
#[utoipa::path(post, path = "/reair/stop", tag = "recording",
    responses(
        (status = 200, description = "Stopped (state idle, ended 'stopped')", body = ReAir),
        (status = 409, description = "No re-air is playing."),
        (status = 503, description = "OBS is not connected: nothing could be undone, so the re-air stays."),
    ))]
async fn stop_reair(State(state): State<AppState>) -> Result<Json<ReAir>, ApiError> {
    Ok(Json(state.app.stop_reair().await?))
}
