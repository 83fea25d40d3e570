//! `/api/v1` handlers for status, the live picture, targets, history and now playing: each extracts
//! its input, calls one operation of the app and responds.
use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use deckcast_protocol::nowplaying::Track;
use deckcast_protocol::targets::{BulkReply, CreateTarget, TargetReply, UpdateTarget};
use deckcast_secrets::Secret;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::{BAD_REQUEST, FOREIGN, OBS_DOWN, OBS_ERROR};
use super::{ApiError, AppState, auth, bad_json};
use crate::app::AppError;
use crate::app::nowplaying::{Sources, TempoInput};
use crate::app::platform::Status;
use crate::app::targets::History;
use crate::live::{Snapshot, Tile};
use crate::store::Point;

/// The `/api/v1` operations behind the token or a session cookie, each with its OpenAPI
/// description (paths relative to `/api/v1`).
pub(super) fn guarded() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(snapshot))
        .routes(routes!(events))
        .routes(routes!(logout))
        .routes(routes!(list_targets, create_target))
        .routes(routes!(get_target, update_target, delete_target))
        .routes(routes!(start_target))
        .routes(routes!(stop_target))
        .routes(routes!(set_key))
        .routes(routes!(kbps))
        .routes(routes!(start_all))
        .routes(routes!(stop_all))
        .routes(routes!(history))
        .routes(routes!(set_now_playing))
        .routes(routes!(get_sources, put_sources))
        .routes(routes!(set_tempo))
        .routes(routes!(super::pairing::create_pairing))
        .merge(super::schedule_api::routes())
        .merge(super::platform_api::routes())
        .merge(super::alerts_api::routes())
        .merge(super::report_api::routes())
        .merge(super::recording_api::routes())
        .merge(super::reair_api::routes())
}

/// The `/api/v1` operations anyone may call: logging in and this API's description.
pub(super) fn open() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(openapi))
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json",
        body = Object)))]
async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::json(),
    )
        .into_response()
}

/// `POST /api/v1/login`: the token, or (LAN mode) a phone's one-time pairing code (exactly one
/// of the two).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Login {
    /// The token (`deckcast token show`).
    #[serde(default)]
    #[schema(write_only)]
    token: Option<String>,
    /// A one-time pairing code from the QR code (LAN mode).
    #[serde(default)]
    #[schema(write_only)]
    pairing_code: Option<String>,
}

#[utoipa::path(post, path = "/login", tag = "auth", security(()), request_body = Login,
    responses(
        (status = 204, description = "Logged in."),
        (status = 400, description = BAD_REQUEST),
        (status = 401, description = "Wrong token, or a pairing code that is wrong, used or expired."),
        (status = 403, description = FOREIGN),
        (status = 429, description = "Too many wrong tokens: no token is checked until Retry-After \
            seconds have passed (1 s after the 11th wrong one, doubling to 5 min)."),
    ))]
async fn login(
    State(state): State<AppState>,
    peer: Option<axum::Extension<auth::Peer>>,
    headers: axum::http::HeaderMap,
    body: Result<Json<Login>, JsonRejection>,
) -> Result<Response, ApiError> {
    let peer = peer.map(|p| p.0).unwrap_or_default();
    let Json(login) = body.map_err(bad_json)?;
    if let Some(s) = state.locked_for(&peer) {
        return Ok(auth::locked_out(s));
    }
    let (right, wrong) = match (&login.token, &login.pairing_code) {
        (Some(token), None) => (
            state.token_ok(token.trim()),
            "wrong token (deckcast token show prints it)",
        ),
        (None, Some(code)) => (
            state.lan.as_ref().is_some_and(|l| l.redeem(code.trim())),
            "this pairing code is wrong, used or expired: show a new QR code (dashboard: Pair a phone)",
        ),
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "send either token or pairingCode",
            ));
        }
    };
    state.note_token(&peer, right);
    if !right {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            wrong,
        ));
    }
    let id = state
        .new_session()
        .map_err(|e| ApiError::from(crate::app::AppError::from(e)))?;
    // Over TLS (LAN mode), or behind a TLS proxy: the cookie never travels without TLS.
    let tls = peer.tls
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let cookie = format!(
        "{}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200{}",
        auth::SESSION_COOKIE,
        if tls { "; Secure" } else { "" }
    );
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// End the dashboard session.
#[utoipa::path(post, path = "/logout", tag = "auth", responses((status = 204, description = "Logged out.")))]
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = auth::cookie(&headers, auth::SESSION_COOKIE) {
        state.end_session(id);
    }
    let expired = format!(
        "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        auth::SESSION_COOKIE
    );
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, expired)]).into_response()
}

/// Companion, OBS link, main stream, OBS stats and now playing.
#[utoipa::path(get, path = "/status", tag = "status", responses((status = 200, description = "Status", body = Status)))]
async fn status(State(state): State<AppState>) -> Json<Status> {
    Json(state.app.status())
}

/// The live picture the dashboard shows.
#[utoipa::path(get, path = "/snapshot", tag = "status", responses((status = 200, description = "Snapshot", body = Snapshot)))]
async fn snapshot(State(state): State<AppState>) -> Json<Snapshot> {
    Json(state.app.live.get())
}

/// Server-Sent Events: `snapshot` events (data: Snapshot JSON, id: seq) now and after every change.
///
/// The stream ends when the companion shuts down.
#[utoipa::path(get, path = "/events", tag = "status",
    responses((status = 200, description = "Event stream", content_type = "text/event-stream", body = String)))]
async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let live = Arc::clone(&state.app.live);
    let rx = live.subscribe();
    let shutdown = state.shutdown.clone();
    let stream = futures_util::stream::unfold(
        (rx, shutdown, true),
        move |(mut rx, mut shutdown, first)| {
            let live = Arc::clone(&live);
            async move {
                if !first {
                    tokio::select! {
                        r = rx.changed() => r.ok()?,
                        _ = shutdown.wait_for(|s| *s) => return None,
                    }
                }
                rx.borrow_and_update();
                let snap = live.get();
                let event = Event::default()
                    .event("snapshot")
                    .id(snap.seq.to_string())
                    .json_data(&snap)
                    .ok()?;
                Some((Ok(event), (rx, shutdown, false)))
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The targets with their live health.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TargetTiles)]
struct Targets {
    /// One tile per target.
    targets: Vec<Tile>,
}

/// Targets with live health (tiles).
#[utoipa::path(get, path = "/targets", tag = "targets", responses((status = 200, description = "Targets", body = Targets)))]
async fn list_targets(State(state): State<AppState>) -> Json<Targets> {
    Json(Targets {
        targets: state.app.list_targets(),
    })
}

/// Create a target; its key goes to the OS keyring and to the plugin, never to disk.
#[utoipa::path(post, path = "/targets", tag = "targets", request_body = CreateTarget,
    responses(
        (status = 201, description = "Created", body = TargetReply),
        (status = 400, description = BAD_REQUEST),
        (status = 503, description = OBS_DOWN),
        (status = 502, description = OBS_ERROR),
    ))]
async fn create_target(
    State(state): State<AppState>,
    body: Result<Json<CreateTarget>, JsonRejection>,
) -> Result<(StatusCode, Json<TargetReply>), ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_target(req).await?),
    ))
}

/// One target as the plugin reports it.
#[utoipa::path(get, path = "/targets/{id}", tag = "targets", params(("id" = String, Path)),
    responses(
        (status = 200, description = "Target", body = TargetReply),
        (status = 404, description = "No such target."),
        (status = 503, description = OBS_DOWN),
        (status = 502, description = OBS_ERROR),
    ))]
async fn get_target(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TargetReply>, ApiError> {
    Ok(Json(state.app.get_target(&id).await?))
}

/// Change a target (fields left out stay; a key replaces the stored one).
#[utoipa::path(patch, path = "/targets/{id}", tag = "targets", params(("id" = String, Path)),
    request_body = UpdateTarget,
    responses(
        (status = 200, description = "Target", body = TargetReply),
        (status = 400, description = BAD_REQUEST),
        (status = 404, description = "No such target."),
        (status = 503, description = OBS_DOWN),
        (status = 502, description = OBS_ERROR),
    ))]
async fn update_target(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<serde_json::Map<String, serde_json::Value>>, JsonRejection>,
) -> Result<Json<TargetReply>, ApiError> {
    let Json(mut fields) = body.map_err(bad_json)?;
    // The id comes from the path; the body holds the fields to change.
    fields.insert("id".into(), serde_json::Value::String(id));
    let req: UpdateTarget =
        serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the request body is not valid: {e}"),
            )
        })?;
    Ok(Json(state.app.update_target(req).await?))
}

/// Delete a target and its key.
#[utoipa::path(delete, path = "/targets/{id}", tag = "targets", params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such target."),
        (status = 503, description = OBS_DOWN),
        (status = 502, description = OBS_ERROR),
    ))]
async fn delete_target(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_target(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start streaming to a target.
#[utoipa::path(post, path = "/targets/{id}/start", tag = "targets", params(("id" = String, Path)),
    responses(
        (status = 200, description = "Target", body = TargetReply),
        (status = 400, description = BAD_REQUEST),
        (status = 404, description = "No such target."),
        (status = 503, description = OBS_DOWN),
        (status = 502, description = OBS_ERROR),
    ))]
async fn start_target(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TargetReply>, ApiError> {
    Ok(Json(state.app.start_target(&id).await?))
}

/// Stop a target.
#[utoipa::path(post, path = "/targets/{id}/stop", tag = "targets", params(("id" = String, Path)),
    responses(
        (status = 200, description = "Target", body = TargetReply),
        (status = 404, description = "No such target."),
        (status = 503, description = OBS_DOWN),
        (status = 502, description = OBS_ERROR),
    ))]
async fn stop_target(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TargetReply>, ApiError> {
    Ok(Json(state.app.stop_target(&id).await?))
}

/// Start every enabled target.
#[utoipa::path(post, path = "/actions/start-all", tag = "targets",
    responses(
        (status = 200, description = "Result", body = BulkReply),
        (status = 503, description = OBS_DOWN),
        (status = 502, description = OBS_ERROR),
    ))]
async fn start_all(State(state): State<AppState>) -> Result<Json<BulkReply>, ApiError> {
    Ok(Json(state.app.start_all().await?))
}

/// Stop every target.
#[utoipa::path(post, path = "/actions/stop-all", tag = "targets",
    responses(
        (status = 200, description = "Result", body = BulkReply),
        (status = 503, description = OBS_DOWN),
        (status = 502, description = OBS_ERROR),
    ))]
async fn stop_all(State(state): State<AppState>) -> Result<Json<BulkReply>, ApiError> {
    Ok(Json(state.app.stop_all().await?))
}

/// A new stream key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    /// The stream key (write-only: never returned).
    #[schema(write_only, min_length = 1)]
    key: String,
}

/// Replace a target's stream key (keyring + plugin).
#[utoipa::path(put, path = "/targets/{id}/key", tag = "targets", params(("id" = String, Path)),
    request_body = KeyBody,
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = BAD_REQUEST),
        (status = 404, description = "No such target."),
        (status = 503, description = OBS_DOWN),
        (status = 502, description = OBS_ERROR),
    ))]
async fn set_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<KeyBody>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = body.map_err(bad_json)?;
    let key = Secret::new(body.key.as_str())
        .ok_or_else(|| AppError::invalid("the stream key is empty"))?;
    state.app.set_key(&id, key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Limit {
    /// At most this many sessions and events (default 50).
    limit: Option<u32>,
}

/// Recent stream sessions and events (newest first).
#[utoipa::path(get, path = "/history", tag = "history", params(Limit),
    responses((status = 200, description = "History", body = History)))]
async fn history(
    State(state): State<AppState>,
    Query(q): Query<Limit>,
) -> Result<Json<History>, ApiError> {
    Ok(Json(state.app.history(q.limit.unwrap_or(50)).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Minutes {
    /// How far back (default 60).
    minutes: Option<u32>,
}

/// A target's bitrate history.
#[derive(Debug, Serialize, ToSchema)]
struct Series {
    /// Oldest first.
    points: Vec<Point>,
}

/// Bitrate history: per-minute averages, then 1 s samples.
#[utoipa::path(get, path = "/targets/{id}/kbps", tag = "targets", params(("id" = String, Path), Minutes),
    responses((status = 200, description = "Series", body = Series)))]
async fn kbps(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<Minutes>,
) -> Result<Json<Series>, ApiError> {
    let points = state.app.kbps_series(&id, q.minutes.unwrap_or(60)).await?;
    Ok(Json(Series { points }))
}

/// Set the track the Now Playing sources show.
#[utoipa::path(put, path = "/nowplaying", tag = "nowplaying", request_body = Track,
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = BAD_REQUEST),
        (status = 503, description = OBS_DOWN),
        (status = 502, description = OBS_ERROR),
    ))]
async fn set_now_playing(
    State(state): State<AppState>,
    body: Result<Json<Track>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(track) = body.map_err(bad_json)?;
    state.app.set_now_playing(track).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Configured now-playing sources (DJ software readers).
#[utoipa::path(get, path = "/nowplaying/sources", tag = "nowplaying",
    responses((status = 200, description = "Sources", body = Sources)))]
async fn get_sources(State(state): State<AppState>) -> Result<Json<Sources>, ApiError> {
    Ok(Json(state.app.sources().await?))
}

/// Replace the now-playing sources: VirtualDJ history folder, Serato session folder or Serato 4
/// database, a text/M3U file with a format, the Icecast receiver port (and its source password,
/// write-only).
#[utoipa::path(put, path = "/nowplaying/sources", tag = "nowplaying", request_body = Sources,
    responses(
        (status = 200, description = "Sources", body = Sources),
        (status = 400, description = BAD_REQUEST),
    ))]
async fn put_sources(
    State(state): State<AppState>,
    body: Result<Json<Sources>, JsonRejection>,
) -> Result<Json<Sources>, ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    Ok(Json(state.app.set_sources(req).await?))
}

/// A tempo measured outside OBS (deckcast listen): the Now Playing sources show it as their live
/// tempo ({bpm}, {live_bpm}); the track and its library BPM stay.
#[utoipa::path(put, path = "/nowplaying/tempo", tag = "nowplaying", request_body = TempoInput,
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = BAD_REQUEST),
        (status = 503, description = OBS_DOWN),
        (status = 502, description = OBS_ERROR),
    ))]
async fn set_tempo(
    State(state): State<AppState>,
    body: Result<Json<TempoInput>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(t) = body.map_err(bad_json)?;
    state.app.set_tempo(t, "deckcast listen").await?;
    Ok(StatusCode::NO_CONTENT)
}
