//! `/api/v1/recording` (OBS's recording: start, stop, now; settings) and `/api/v1/recordings`
//! (the library, its tracklists, the files as downloads with range requests, deleting, uploads
//! to the streamer's site) and `/api/v1/uploads`.
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower::ServiceExt;

use super::{ApiError, AppState, bad_json};
use crate::app::recording::{
    AudioExport, Recording, RecordingDeleted, RecordingList, RecordingNow, RecordingSettings,
    RecordingStarted, StartedBy,
};
use crate::library::{Upload, UploadList};
use crate::tracklist::Format;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/recording", get(now))
        .route("/recording/start", post(start))
        .route("/recording/stop", post(stop))
        .route("/recording/settings", get(settings).put(set_settings))
        .route("/recordings", get(list))
        .route("/recordings/{id}", get(one).delete(delete))
        .route("/recordings/{id}/file", get(file))
        .route("/recordings/{id}/audio", get(audio_file).post(make_audio))
        .route("/recordings/{id}/tracklist", get(tracklist))
        .route(
            "/recordings/{id}/upload",
            get(upload).post(start_upload).delete(cancel_upload),
        )
        .route("/uploads", get(uploads))
}

fn bad_query(e: QueryRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_query",
        format!("the query string is not valid: {}", e.body_text()),
    )
}

async fn now(State(state): State<AppState>) -> Result<Json<RecordingNow>, ApiError> {
    Ok(Json(state.app.recording_now().await?))
}

async fn start(State(state): State<AppState>) -> Result<Json<RecordingStarted>, ApiError> {
    Ok(Json(state.app.start_recording(StartedBy::Api, None).await?))
}

async fn stop(State(state): State<AppState>) -> Result<Json<Recording>, ApiError> {
    Ok(Json(state.app.stop_recording().await?))
}

async fn settings(State(state): State<AppState>) -> Result<Json<RecordingSettings>, ApiError> {
    Ok(Json(state.app.recording_settings().await?))
}

async fn set_settings(
    State(state): State<AppState>,
    body: Result<Json<RecordingSettings>, JsonRejection>,
) -> Result<Json<RecordingSettings>, ApiError> {
    let Json(s) = body.map_err(bad_json)?;
    Ok(Json(state.app.set_recording_settings(s).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limit {
    /// At most (1–500, default 50).
    limit: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    q: Result<Query<Limit>, QueryRejection>,
) -> Result<Json<RecordingList>, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    Ok(Json(state.app.recordings(q.limit.unwrap_or(50)).await?))
}

async fn one(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Recording>, ApiError> {
    Ok(Json(state.app.recording(id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeleteQuery {
    /// Also delete the file (only of a recording Deckcast started).
    delete_file: bool,
}

/// Removes an entry; the query must say whether the file goes too (no default for that).
async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    q: Result<Query<DeleteQuery>, QueryRejection>,
) -> Result<Json<RecordingDeleted>, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    Ok(Json(state.app.delete_recording(id, q.delete_file).await?))
}

/// Queues the upload to the streamer's site (or answers the one under way).
async fn start_upload(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Upload>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(state.app.upload_recording(id).await?),
    ))
}

async fn upload(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Upload>, ApiError> {
    Ok(Json(state.app.upload(id).await?))
}

async fn cancel_upload(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Upload>, ApiError> {
    Ok(Json(state.app.cancel_upload(id).await?))
}

async fn uploads(
    State(state): State<AppState>,
    q: Result<Query<Limit>, QueryRejection>,
) -> Result<Json<UploadList>, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    Ok(Json(state.app.uploads(q.limit.unwrap_or(50)).await?))
}

/// Makes the audio-only copy (or finds the one made before).
async fn make_audio(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<AudioExport>, ApiError> {
    Ok(Json(state.app.export_audio(id).await?))
}

/// The audio-only copy, as [`file`] serves the recording.
async fn audio_file(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    req: Request,
) -> Result<Response, ApiError> {
    let path = state.app.recording_audio_file(id).await?;
    serve(path, id, req).await
}

/// The finished file, with range requests (`Range`, `If-Range`, 206/416) and HEAD.
async fn file(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    req: Request,
) -> Result<Response, ApiError> {
    let path = state.app.recording_file(id).await?;
    serve(path, id, req).await
}

async fn serve(path: std::path::PathBuf, id: i64, req: Request) -> Result<Response, ApiError> {
    let name = safe_file_name(
        &path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("recording-{id}")),
    );
    let res = tower_http::services::ServeFile::new(&path)
        .oneshot(req)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "io",
                format!("reading {}: {e}", path.display()),
            )
        })?;
    let mut res = res.map(axum::body::Body::new);
    if let Ok(v) = header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// A file name safe inside a quoted `Content-Disposition` parameter.
fn safe_file_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ' ' => ' ',
            '"' | '\\' => '_',
            c if c.is_ascii_graphic() => c,
            _ => '_',
        })
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TracklistQuery {
    /// cue, youtube, mixcloud, text or json (default json).
    format: Option<String>,
    /// Count from this target's own start.
    target: Option<String>,
    /// Override the configured minimum track length.
    min_track_seconds: Option<u32>,
    /// Send as a download (`Content-Disposition: attachment`).
    download: Option<bool>,
}

async fn tracklist(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    q: Result<Query<TracklistQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let format: Format = q
        .format
        .as_deref()
        .unwrap_or("json")
        .parse()
        .map_err(|m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid", m))?;
    let export = state
        .app
        .export_tracklist(id, format, q.target.as_deref(), q.min_track_seconds)
        .await?;
    let disposition = format!(
        "{}; filename=\"{}\"",
        if q.download == Some(true) {
            "attachment"
        } else {
            "inline"
        },
        safe_file_name(&export.file_name)
    );
    Ok((
        [
            (header::CONTENT_TYPE, export.content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        export.body,
    )
        .into_response())
}
