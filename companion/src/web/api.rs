//! `/api/v1` handlers: thin wrappers over the plugin's vendor API, the keyring, the database and
//! the live snapshot.
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use deckcast_protocol::targets::{BulkReply, CreateTarget, TargetReply, UpdateTarget};
use deckcast_secrets::Secret;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiError, AppState, auth, bad_json};
use crate::keys::{self, KeysError};
use crate::obs_link::{NowPlaying, ObsLink};
use crate::service::meta_of;
use crate::store::{Event as HistoryEvent, Point, Session, now_ms};

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
        .merge(super::schedule_api::routes())
        .merge(super::platform_api::routes())
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

fn link(state: &AppState) -> Result<Arc<ObsLink>, ApiError> {
    state.service.link().ok_or_else(ApiError::obs_down)
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../openapi.json"),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    token: String,
}

async fn login(
    State(state): State<AppState>,
    body: Result<Json<Login>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(login) = body.map_err(bad_json)?;
    if !state.token_ok(login.token.trim()) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong token (deckcast token show prints it)",
        ));
    }
    let id = state.new_session();
    let cookie = format!(
        "{}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200",
        auth::SESSION_COOKIE
    );
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(';')
                .filter_map(|kv| kv.trim().split_once('='))
                .find(|(k, _)| *k == auth::SESSION_COOKIE)
                .map(|(_, v)| v.to_owned())
        })
    {
        state.end_session(&id);
    }
    let expired = format!(
        "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        auth::SESSION_COOKIE
    );
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, expired)]).into_response()
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Companion {
    version: &'static str,
    protocol_version: u32,
    keyring: bool,
    keyring_error: Option<String>,
}

async fn status(State(state): State<AppState>) -> Json<Value> {
    let snap = state.service.live.get();
    let keys = &state.service.keys;
    Json(json!({
        "companion": Companion {
            version: env!("CARGO_PKG_VERSION"),
            protocol_version: deckcast_protocol::PROTOCOL_VERSION,
            keyring: keys.available(),
            keyring_error: keys.unavailable_reason().map(str::to_owned),
        },
        "obs": snap.obs,
        "mainStream": snap.main_stream,
        "stats": snap.stats,
        "nowPlaying": snap.now_playing,
    }))
}

async fn snapshot(State(state): State<AppState>) -> Json<crate::live::Snapshot> {
    Json(state.service.live.get())
}

/// Server-Sent Events: a `snapshot` event now and after every change; ends at shutdown.
async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let live = Arc::clone(&state.service.live);
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

async fn list_targets(State(state): State<AppState>) -> Json<Value> {
    let snap = state.service.live.get();
    Json(json!({"targets": snap.targets}))
}

async fn store_key(state: &AppState, id: &str, key: &str) -> Result<(), ApiError> {
    let Some(secret) = Secret::new(key) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "the stream key is empty",
        ));
    };
    Ok(state
        .service
        .keys
        .set_async(&keys::stream_key_account(id), &secret)
        .await?)
}

fn refuse_without_keyring(state: &AppState) -> Result<(), ApiError> {
    match state.service.keys.unavailable_reason() {
        None => Ok(()),
        Some(reason) => Err(KeysError::NoKeyring {
            reason: reason.to_owned(),
            what: "stream keys",
            env: "(none: set the key in the OBS dock, which keeps it in memory for the session)",
        }
        .into()),
    }
}

async fn after_change(state: &AppState, link: &ObsLink, reply: &TargetReply) {
    let meta = meta_of(&reply.target);
    if let Err(e) = state
        .service
        .db
        .call(move |s| s.upsert_target(&meta, now_ms()))
        .await
    {
        tracing::error!("target metadata: {e}");
    }
    if let Err(e) = state.service.resync(link, false).await {
        tracing::warn!("resync after a change: {e}");
    }
}

async fn create_target(
    State(state): State<AppState>,
    body: Result<Json<CreateTarget>, JsonRejection>,
) -> Result<(StatusCode, Json<TargetReply>), ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    if req.key.is_some() {
        refuse_without_keyring(&state)?;
    }
    let link = link(&state)?;
    let reply = link.create_target(&req).await?;
    if let Some(key) = req.key.as_deref() {
        store_key(&state, &reply.target.config.id, key).await?;
    }
    state
        .service
        .record(
            "target_created",
            Some(reply.target.config.id.clone()),
            format!("target '{}' created", reply.target.config.name),
        )
        .await;
    after_change(&state, &link, &reply).await;
    Ok((StatusCode::CREATED, Json(reply)))
}

async fn get_target(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TargetReply>, ApiError> {
    Ok(Json(link(&state)?.get_target(&id).await?))
}

async fn update_target(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<serde_json::Map<String, Value>>, JsonRejection>,
) -> Result<Json<TargetReply>, ApiError> {
    let Json(mut fields) = body.map_err(bad_json)?;
    fields.insert("id".into(), Value::String(id.clone()));
    let req: UpdateTarget = serde_json::from_value(Value::Object(fields)).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the request body is not valid: {e}"),
        )
    })?;
    if req.key.is_some() {
        refuse_without_keyring(&state)?;
    }
    let link = link(&state)?;
    let reply = link.update_target(&req).await?;
    if let Some(key) = req.key.as_deref() {
        store_key(&state, &id, key).await?;
    }
    after_change(&state, &link, &reply).await;
    Ok(Json(reply))
}

async fn delete_target(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let link = link(&state)?;
    link.delete_target(&id).await?;
    let keys = state.service.keys.clone();
    let account = keys::stream_key_account(&id);
    let _ = tokio::task::spawn_blocking(move || keys.delete(&account)).await;
    let target = id.clone();
    state
        .service
        .db
        .call(move |s| s.delete_target(&target, now_ms()))
        .await?;
    state
        .service
        .record("target_deleted", Some(id), "target deleted".into())
        .await;
    if let Err(e) = state.service.resync(&link, false).await {
        tracing::warn!("resync after a delete: {e}");
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn start_stop(
    state: &AppState,
    id: &str,
    start: bool,
) -> Result<Json<TargetReply>, ApiError> {
    let link = link(state)?;
    let reply = link.start_stop(id, start).await?;
    state
        .service
        .observe_state(id, reply.target.state, reply.target.last_error.clone())
        .await;
    Ok(Json(reply))
}

async fn start_target(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TargetReply>, ApiError> {
    start_stop(&state, &id, true).await
}

async fn stop_target(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TargetReply>, ApiError> {
    start_stop(&state, &id, false).await
}

async fn start_all(State(state): State<AppState>) -> Result<Json<BulkReply>, ApiError> {
    Ok(Json(link(&state)?.start_stop_all(true).await?))
}

async fn stop_all(State(state): State<AppState>) -> Result<Json<BulkReply>, ApiError> {
    Ok(Json(link(&state)?.start_stop_all(false).await?))
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
    refuse_without_keyring(&state)?;
    let link = link(&state)?;
    let secret = Secret::new(body.key.as_str()).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "the stream key is empty",
        )
    })?;
    link.set_stream_key(&id, &secret).await?;
    store_key(&state, &id, secret.expose()).await?;
    state
        .service
        .record("key_set", Some(id), "stream key replaced".into())
        .await;
    if let Err(e) = state.service.resync(&link, false).await {
        tracing::warn!("resync after a key change: {e}");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct Limit {
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
struct History {
    sessions: Vec<Session>,
    events: Vec<HistoryEvent>,
}

async fn history(
    State(state): State<AppState>,
    Query(q): Query<Limit>,
) -> Result<Json<History>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let (sessions, events) = state
        .service
        .db
        .call(move |s| Ok((s.sessions(limit)?, s.events(limit)?)))
        .await?;
    Ok(Json(History { sessions, events }))
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
    let since = now_ms() / 1000 - i64::from(q.minutes.unwrap_or(60).clamp(1, 60 * 24 * 90)) * 60;
    let points = state
        .service
        .db
        .call(move |s| s.kbps_series(&id, since))
        .await?;
    Ok(Json(Series { points }))
}

async fn set_now_playing(
    State(state): State<AppState>,
    body: Result<Json<NowPlaying>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(track) = body.map_err(bad_json)?;
    link(&state)?;
    state
        .service
        .now_playing(crate::readers::Track {
            artist: track.artist,
            title: track.title,
            album: track.album,
            bpm: track.bpm,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sources {
    sources: Vec<crate::readers::Source>,
}

async fn get_sources(State(state): State<AppState>) -> Result<Json<Sources>, ApiError> {
    let raw = state
        .service
        .db
        .call(|s| s.setting(crate::readers::SOURCES))
        .await?;
    Ok(Json(Sources {
        sources: raw
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default(),
    }))
}

async fn put_sources(
    State(state): State<AppState>,
    body: Result<Json<Sources>, JsonRejection>,
) -> Result<Json<Sources>, ApiError> {
    use crate::readers::Source;
    let Json(req) = body.map_err(bad_json)?;
    for s in &req.sources {
        let bad = match s {
            Source::Virtualdj { path } | Source::Serato { path } | Source::Serato4 { path } => {
                path.as_os_str().is_empty().then_some("path is empty")
            }
            Source::File { path, format } => {
                if path.as_os_str().is_empty() {
                    Some("path is empty")
                } else if !format.contains("{title}") {
                    Some("format needs {title}")
                } else {
                    None
                }
            }
            Source::Icecast { port } => (*port < 1024).then_some("port must be 1024 or higher"),
            Source::Mpris { .. } => None,
        };
        if let Some(why) = bad {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_value", why));
        }
    }
    let raw = serde_json::to_string(&req.sources).unwrap_or_else(|_| "[]".into());
    state
        .service
        .db
        .call(move |s| s.set_setting(crate::readers::SOURCES, Some(&raw)))
        .await?;
    state.service.sources_changed.send_modify(|v| *v += 1);
    state
        .service
        .record(
            "nowplaying_source",
            None,
            format!("{} now-playing source(s) configured", req.sources.len()),
        )
        .await;
    Ok(Json(req))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tempo {
    bpm: f64,
}

/// `PUT /nowplaying/tempo {bpm}`: a tempo measured outside OBS (`deckcast listen`) for the
/// Now Playing sources' `{bpm}`, keeping the current artist and title.
async fn set_tempo(
    State(state): State<AppState>,
    body: Result<Json<Tempo>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(t) = body.map_err(bad_json)?;
    if !(t.bpm.is_finite() && t.bpm > 0.0 && t.bpm < 400.0) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "bpm must be between 0 and 400",
        ));
    }
    link(&state)?;
    let np = state.service.live.get().now_playing;
    state
        .service
        .now_playing(crate::readers::Track {
            artist: np.artist,
            title: np.title,
            album: np.album,
            bpm: Some((t.bpm * 10.0).round() / 10.0),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
