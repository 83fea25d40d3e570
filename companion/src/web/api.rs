//! `/api/v1` handlers for status, the live picture, targets, history and now playing: each extracts
//! its input, calls one operation of the app and responds.
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use deckcast_protocol::nowplaying::Track;
use deckcast_protocol::targets::{BulkReply, CreateTarget, TargetReply, UpdateTarget};
use deckcast_secrets::Secret;
use futures_util::Stream;
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState, auth, bad_json};
use crate::app::AppError;
use crate::app::nowplaying::{Sources, TempoInput};
use crate::app::platform::Status;
use crate::app::targets::History;
use crate::live::{Snapshot, Tile};
use crate::store::Point;

pub(super) fn routes(state: AppState) -> Router<AppState> {
    let guarded = Router::new()
        .route("/status", get(status))
        .route("/snapshot", get(snapshot))
        .route("/events", get(events))
        .route("/logout", post(logout))
        .route("/targets", get(list_targets).post(create_target))
        .route(
            "/targets/{id}",
            get(get_target).patch(update_target).delete(delete_target),
        )
        .route("/targets/{id}/start", post(start_target))
        .route("/targets/{id}/stop", post(stop_target))
        .route("/targets/{id}/key", put(set_key))
        .route("/targets/{id}/kbps", get(kbps))
        .route("/actions/start-all", post(start_all))
        .route("/actions/stop-all", post(stop_all))
        .route("/history", get(history))
        .route("/nowplaying", put(set_now_playing))
        .route("/nowplaying/sources", get(get_sources).put(put_sources))
        .route("/nowplaying/tempo", put(set_tempo))
        .route("/pairing", post(super::pairing::create))
        .merge(super::schedule_api::routes())
        .merge(super::platform_api::routes())
        .merge(super::alerts_api::routes())
        .merge(super::report_api::routes())
        .merge(super::recording_api::routes())
        .merge(super::reair_api::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_auth,
        ));
    let open = Router::new()
        .route("/login", post(login))
        .layer(axum::middleware::from_fn_with_state(
            state,
            auth::require_same_origin,
        ))
        .route("/openapi.json", get(openapi));
    guarded.merge(open)
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../openapi.json"),
    )
        .into_response()
}

/// `POST /api/v1/login`: the token, or (LAN mode) a phone's one-time pairing code.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Login {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    pairing_code: Option<String>,
}

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

async fn status(State(state): State<AppState>) -> Json<Status> {
    Json(state.app.status())
}

async fn snapshot(State(state): State<AppState>) -> Json<Snapshot> {
    Json(state.app.live.get())
}

/// Server-Sent Events: a `snapshot` event now and after every change; ends at shutdown.
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

#[derive(Debug, Serialize)]
struct Targets {
    targets: Vec<Tile>,
}

async fn list_targets(State(state): State<AppState>) -> Json<Targets> {
    Json(Targets {
        targets: state.app.list_targets(),
    })
}

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

async fn get_target(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TargetReply>, ApiError> {
    Ok(Json(state.app.get_target(&id).await?))
}

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

async fn delete_target(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_target(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn start_target(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TargetReply>, ApiError> {
    Ok(Json(state.app.start_target(&id).await?))
}

async fn stop_target(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TargetReply>, ApiError> {
    Ok(Json(state.app.stop_target(&id).await?))
}

async fn start_all(State(state): State<AppState>) -> Result<Json<BulkReply>, ApiError> {
    Ok(Json(state.app.start_all().await?))
}

async fn stop_all(State(state): State<AppState>) -> Result<Json<BulkReply>, ApiError> {
    Ok(Json(state.app.stop_all().await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    key: String,
}

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

#[derive(Debug, Deserialize)]
struct Limit {
    limit: Option<u32>,
}

async fn history(
    State(state): State<AppState>,
    Query(q): Query<Limit>,
) -> Result<Json<History>, ApiError> {
    Ok(Json(state.app.history(q.limit.unwrap_or(50)).await?))
}

#[derive(Debug, Deserialize)]
struct Minutes {
    minutes: Option<u32>,
}

#[derive(Debug, Serialize)]
struct Series {
    points: Vec<Point>,
}

async fn kbps(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<Minutes>,
) -> Result<Json<Series>, ApiError> {
    let points = state.app.kbps_series(&id, q.minutes.unwrap_or(60)).await?;
    Ok(Json(Series { points }))
}

async fn set_now_playing(
    State(state): State<AppState>,
    body: Result<Json<Track>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(track) = body.map_err(bad_json)?;
    state.app.set_now_playing(track).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_sources(State(state): State<AppState>) -> Result<Json<Sources>, ApiError> {
    Ok(Json(state.app.sources().await?))
}

async fn put_sources(
    State(state): State<AppState>,
    body: Result<Json<Sources>, JsonRejection>,
) -> Result<Json<Sources>, ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    Ok(Json(state.app.set_sources(req).await?))
}

/// `PUT /nowplaying/tempo {bpm}`: a tempo measured outside OBS (`deckcast listen`), shown as the
/// live tempo of the Now Playing sources.
async fn set_tempo(
    State(state): State<AppState>,
    body: Result<Json<TempoInput>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(t) = body.map_err(bad_json)?;
    state.app.set_tempo(t, "deckcast listen").await?;
    Ok(StatusCode::NO_CONTENT)
}
