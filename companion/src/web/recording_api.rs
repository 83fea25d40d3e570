//! `/api/v1/recording` (OBS's recording: start, stop, now; settings) and `/api/v1/recordings`
//! (the library, its tracklists, the files as downloads with range requests, deleting, uploads
//! to the streamer's site) and `/api/v1/uploads`.
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower::ServiceExt;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::RANGE_OUTSIDE;
use super::{ApiError, AppState, bad_json};
use crate::app::recording::Tracklist;
use crate::app::recording::{
    AudioExport, Recording, RecordingDeleted, RecordingList, RecordingNow, RecordingSettings,
    RecordingStarted, StartedBy,
};
use crate::library::{Upload, UploadList};
use crate::tracklist::{Format, MixcloudSections};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(recording_now))
        .routes(routes!(start_recording))
        .routes(routes!(stop_recording))
        .routes(routes!(recording_settings, set_recording_settings))
        .routes(routes!(list_recordings))
        .routes(routes!(get_recording, delete_recording))
        .routes(routes!(recording_file))
        .routes(routes!(recording_audio, make_recording_audio))
        .routes(routes!(recording_tracklist))
        .routes(routes!(
            recording_upload,
            start_recording_upload,
            cancel_recording_upload
        ))
        .routes(routes!(list_uploads))
}

fn bad_query(e: QueryRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_query",
        format!("the query string is not valid: {}", e.body_text()),
    )
}

/// OBS's recording now and the library entry following it.
#[utoipa::path(get, path = "/recording", tag = "recording",
    responses(
        (status = 200, description = "Now", body = RecordingNow),
        (status = 503, description = "OBS is not connected, or OBS refused."),
    ))]
async fn recording_now(State(state): State<AppState>) -> Result<Json<RecordingNow>, ApiError> {
    Ok(Json(state.app.recording_now().await?))
}

/// Start OBS's recording with the profile's settings (path, format, encoder). A running recording
/// is followed, never started twice.
#[utoipa::path(post, path = "/recording/start", tag = "recording",
    responses(
        (status = 200, description = "Started, or already running", body = RecordingStarted),
        (status = 503, description = "OBS is not connected, or OBS refused."),
        (status = 502, description = "OBS refused to start recording."),
    ))]
async fn start_recording(
    State(state): State<AppState>,
) -> Result<Json<RecordingStarted>, ApiError> {
    Ok(Json(state.app.start_recording(StartedBy::Api, None).await?))
}

/// Stop OBS's recording; its library entry is closed.
#[utoipa::path(post, path = "/recording/stop", tag = "recording",
    responses(
        (status = 200, description = "The finished recording", body = Recording),
        (status = 409, description = "OBS is not recording."),
        (status = 503, description = "OBS is not connected, or OBS refused."),
        (status = 502, description = "OBS refused."),
    ))]
async fn stop_recording(State(state): State<AppState>) -> Result<Json<Recording>, ApiError> {
    Ok(Json(state.app.stop_recording().await?))
}

/// Recording settings.
#[utoipa::path(get, path = "/recording/settings", tag = "recording",
    responses((status = 200, description = "Settings", body = RecordingSettings)))]
async fn recording_settings(
    State(state): State<AppState>,
) -> Result<Json<RecordingSettings>, ApiError> {
    Ok(Json(state.app.recording_settings().await?))
}

/// Replace the recording settings.
#[utoipa::path(put, path = "/recording/settings", tag = "recording", request_body = RecordingSettings,
    responses(
        (status = 200, description = "Settings", body = RecordingSettings),
        (status = 400, description = "A value out of range or an unknown field."),
    ))]
async fn set_recording_settings(
    State(state): State<AppState>,
    body: Result<Json<RecordingSettings>, JsonRejection>,
) -> Result<Json<RecordingSettings>, ApiError> {
    let Json(s) = body.map_err(bad_json)?;
    Ok(Json(state.app.set_recording_settings(s).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Limit {
    /// At most (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// The recording library, newest first.
#[utoipa::path(get, path = "/recordings", tag = "recording", params(Limit),
    responses(
        (status = 200, description = "Recordings", body = RecordingList),
        (status = 400, description = "A bad query."),
    ))]
async fn list_recordings(
    State(state): State<AppState>,
    q: Result<Query<Limit>, QueryRejection>,
) -> Result<Json<RecordingList>, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    Ok(Json(state.app.recordings(q.limit.unwrap_or(50)).await?))
}

/// One recording with its tracklist.
#[utoipa::path(get, path = "/recordings/{id}", tag = "recording", params(("id" = i64, Path)),
    responses(
        (status = 200, description = "Recording", body = Recording),
        (status = 404, description = "No such recording."),
    ))]
async fn get_recording(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Recording>, ApiError> {
    Ok(Json(state.app.recording(id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeleteQuery {
    /// Also delete the file (true), or only the entry (false); only of a recording Deckcast
    /// started.
    delete_file: bool,
}

/// Delete a finished recording: its library entry, and its file when deleteFile is true (only of
/// a recording Deckcast started; a recording started in OBS keeps its file). The dashboard and
/// the CLI ask first.
#[utoipa::path(delete, path = "/recordings/{id}", tag = "recording",
    params(("id" = i64, Path), DeleteQuery),
    responses(
        (status = 200, description = "Deleted", body = RecordingDeleted),
        (status = 400, description = "deleteFile missing or not a boolean."),
        (status = 404, description = "No such recording."),
        (status = 409, description = "Still running; the file of a recording started in OBS; or the file could not be deleted (the entry is kept)."),
    ))]
async fn delete_recording(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    q: Result<Query<DeleteQuery>, QueryRejection>,
) -> Result<Json<RecordingDeleted>, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    Ok(Json(state.app.delete_recording(id, q.delete_file).await?))
}

/// Queues the recording's upload to the streamer's site (tus resumable upload to
/// <baseUrl>/deckcast/uploads with the site's token; docs/platform-api.md). An interrupted upload
/// goes on by itself from where the site stopped; the site checks the SHA-256 at the end. An
/// upload under way is answered as it is; a completed, failed or cancelled one starts again.
#[utoipa::path(post, path = "/recordings/{id}/upload", tag = "recording", params(("id" = i64, Path)),
    responses(
        (status = 202, description = "Queued (or the one under way)", body = Upload),
        (status = 404, description = "No such recording, or its file cannot be read here."),
        (status = 409, description = "Still running, no site or no site token configured, or the file is not a regular file."),
    ))]
async fn start_recording_upload(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Upload>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(state.app.upload_recording(id).await?),
    ))
}

/// Where the recording's upload to the streamer's site is.
#[utoipa::path(get, path = "/recordings/{id}/upload", tag = "recording", params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The upload", body = Upload),
        (status = 404, description = "No such recording, or it has not been uploaded."),
    ))]
async fn recording_upload(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Upload>, ApiError> {
    Ok(Json(state.app.upload(id).await?))
}

/// Cancels the recording's upload (what the site has is left to it to expire).
#[utoipa::path(delete, path = "/recordings/{id}/upload", tag = "recording", params(("id" = i64, Path)),
    responses(
        (status = 200, description = "Cancelled", body = Upload),
        (status = 404, description = "No such recording, or it has not been uploaded."),
        (status = 409, description = "The upload is no longer under way (completed, failed or cancelled)."),
    ))]
async fn cancel_recording_upload(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Upload>, ApiError> {
    Ok(Json(state.app.cancel_upload(id).await?))
}

/// The newest uploads of recordings to the streamer's site, newest first.
#[utoipa::path(get, path = "/uploads", tag = "recording", params(Limit),
    responses(
        (status = 200, description = "Uploads", body = UploadList),
        (status = 400, description = "Invalid query."),
    ))]
async fn list_uploads(
    State(state): State<AppState>,
    q: Result<Query<Limit>, QueryRejection>,
) -> Result<Json<UploadList>, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    Ok(Json(state.app.uploads(q.limit.unwrap_or(50)).await?))
}

/// Makes the recording's audio-only copy beside its file: the audio track copied, not
/// re-encoded (.m4a for AAC, else .mka), for Mixcloud/SoundCloud-style uploads; needs ffmpeg
/// where the companion runs. A copy made before is answered again (created: false).
#[utoipa::path(post, path = "/recordings/{id}/audio", tag = "recording", params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The copy", body = AudioExport),
        (status = 404, description = "No such recording, or its file cannot be read here."),
        (status = 409, description = "Still running; ffmpeg is not installed; or ffmpeg failed (its message)."),
    ))]
async fn make_recording_audio(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<AudioExport>, ApiError> {
    Ok(Json(state.app.export_audio(id).await?))
}

/// The recording's audio-only copy (made by POST), with range requests as /file.
#[utoipa::path(get, path = "/recordings/{id}/audio", tag = "recording",
    params(("id" = i64, Path), RangeHeader),
    responses(
        (status = 200, description = "The audio file (Content-Disposition: attachment). Content-Type from the file name (video/mp4, video/x-matroska, audio/mp4, ...).",
            content_type = "*/*", body = FileBody),
        (status = 206, description = "The range asked for.", content_type = "*/*", body = FileBody),
        (status = 404, description = "No such recording, its file cannot be read here, or no audio-only copy has been made yet."),
        (status = 409, description = "Still running."),
        (status = 416, description = RANGE_OUTSIDE),
    ))]
async fn recording_audio(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    req: Request,
) -> Result<Response, ApiError> {
    let path = state.app.recording_audio_file(id).await?;
    serve(path, id, req).await
}

/// The finished recording's file as a download, with range requests (Range, If-Range; 206
/// Partial Content, 416 when unsatisfiable) so a browser or client can resume.
#[utoipa::path(get, path = "/recordings/{id}/file", tag = "recording",
    params(("id" = i64, Path), RangeHeader),
    responses(
        (status = 200, description = "The whole file (Content-Disposition: attachment). Content-Type from the file name (video/mp4, video/x-matroska, audio/mp4, ...).",
            content_type = "*/*", body = FileBody),
        (status = 206, description = "The range asked for.", content_type = "*/*", body = FileBody),
        (status = 404, description = "No such recording, or its file cannot be read on this computer (see obsRoot)."),
        (status = 409, description = "Still running."),
        (status = 416, description = RANGE_OUTSIDE),
    ))]
async fn recording_file(
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TracklistQuery {
    /// The format (default json).
    #[param(value_type = Option<Format>)]
    format: Option<String>,
    /// Count from this target's own start (its VOD).
    target: Option<String>,
    /// Override the configured minimum track length.
    #[param(minimum = 0, maximum = 600)]
    min_track_seconds: Option<u32>,
    /// Content-Disposition: attachment.
    download: Option<bool>,
}

/// A JSON tracklist: Deckcast's own (`format=json`) or Mixcloud's sections (`format=mixcloud`).
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the answer; the handler sends the rendered text.
#[serde(untagged)]
enum TracklistJson {
    /// `format=json`.
    Tracklist(Tracklist),
    /// `format=mixcloud`.
    Mixcloud(MixcloudSections),
}

/// The `Range` header of a download.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // Describes the header; ServeFile reads it.
struct RangeHeader {
    /// bytes=START-[END]
    #[serde(rename = "Range")]
    #[param(value_type = String, required = false)]
    range: Option<String>,
}

/// A file's bytes.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // Describes the answer; ServeFile sends the file.
struct FileBody(Vec<u8>);

/// A recording's tracklist: CUE sheet, YouTube chapters, Mixcloud sections (its upload API's
/// sections-N-artist/song/start_time), text lines or JSON; from the recording's start or from a
/// target's own start.
#[utoipa::path(get, path = "/recordings/{id}/tracklist", tag = "recording",
    params(("id" = i64, Path), TracklistQuery),
    responses(
        (status = 200, description = "The tracklist in the format asked for.", content(
            (TracklistJson = "application/json"),
            (String = "text/plain"),
            (String = "application/x-cue"),
        )),
        (status = 400, description = "An unknown format or a bad query."),
        (status = 404, description = "No such recording, or the target was not live during it."),
        (status = 409, description = "The recording has no tracks to put in that format."),
    ))]
async fn recording_tracklist(
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
