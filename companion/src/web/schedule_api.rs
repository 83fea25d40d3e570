//! `/api/v1/schedule` and `/api/v1/feeds`: sets and calendar subscriptions.
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState, bad_json};
use crate::schedule::{Conflict, Entry, Feed, NewEntry, Time, conflicts};
use crate::store::now_ms;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/schedule", get(list).post(add))
        .route("/schedule/{id}", delete(cancel))
        .route("/feeds", get(feeds).post(add_feed))
        .route("/feeds/{id}", delete(delete_feed))
        .route("/feeds/{id}/refresh", post(refresh))
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_value", message)
}

#[derive(Debug, Deserialize)]
struct Past {
    past: Option<u32>,
}

#[derive(Debug, Serialize)]
struct Schedule {
    entries: Vec<Entry>,
    conflicts: Vec<Conflict>,
}

async fn list(
    State(state): State<AppState>,
    Query(q): Query<Past>,
) -> Result<Json<Schedule>, ApiError> {
    let past = q.past.unwrap_or(20).min(500);
    let entries = state
        .service
        .db
        .call(move |s| s.entries(now_ms(), past))
        .await?;
    let conflicts = conflicts(&entries);
    Ok(Json(Schedule { entries, conflicts }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddEntry {
    title: String,
    start: Time,
    end: Time,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    start_main: bool,
    #[serde(default)]
    scene: Option<String>,
}

fn check_targets(state: &AppState, targets: &[String]) -> Result<(), ApiError> {
    let snap = state.service.live.get();
    if snap.obs.state != "connected" {
        return Ok(()); // cannot check now; the scheduler reports unknown targets when it runs
    }
    match targets
        .iter()
        .find(|t| !snap.targets.iter().any(|x| &x.id == *t))
    {
        Some(t) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no target with id '{t}'"),
        )),
        None => Ok(()),
    }
}

async fn add(
    State(state): State<AppState>,
    body: Result<Json<AddEntry>, JsonRejection>,
) -> Result<(StatusCode, Json<Entry>), ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    let title = req.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(bad("title must be 1 to 200 characters"));
    }
    let start_ms = req.start.ms().map_err(|e| bad(format!("start: {e}")))?;
    let end_ms = req.end.ms().map_err(|e| bad(format!("end: {e}")))?;
    if end_ms <= start_ms {
        return Err(bad("end must be after start"));
    }
    if end_ms <= now_ms() {
        return Err(bad("the set is already over"));
    }
    if req.targets.is_empty() && !req.start_main {
        return Err(bad("a set needs targets, startMain, or both"));
    }
    check_targets(&state, &req.targets)?;
    let entry = NewEntry {
        title,
        start_ms,
        end_ms,
        targets: req.targets,
        start_main: req.start_main,
        scene: req.scene.filter(|s| !s.trim().is_empty()),
    };
    let e = state
        .service
        .db
        .call(move |s| s.add_entry(&entry, now_ms()))
        .await?;
    state
        .service
        .record(
            "schedule_added",
            None,
            format!("set '{}' scheduled", e.title),
        )
        .await;
    state.service.schedule_changed();
    Ok((StatusCode::CREATED, Json(e)))
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let Some(e) = state.service.db.call(move |s| s.entry(id)).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no set {id}"),
        ));
    };
    match e.state.as_str() {
        "running" => {
            let running = state.service.db.call(|s| s.entries_in("running")).await?;
            let others: Vec<&Entry> = running.iter().filter(|o| o.id != id).collect();
            crate::scheduler::finish(&state.service, &e, &others, "cancelled").await;
        }
        "planned" => {
            state
                .service
                .db
                .call(move |s| {
                    s.finish_entry(id, "cancelled", now_ms(), Some("cancelled by the user"))
                })
                .await?;
            state
                .service
                .record(
                    "schedule_cancelled",
                    None,
                    format!("set '{}' cancelled", e.title),
                )
                .await;
            state.service.schedule_changed();
        }
        other => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("set {id} is {other} and cannot be cancelled"),
            ));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize)]
struct Feeds {
    feeds: Vec<Feed>,
}

async fn feeds(State(state): State<AppState>) -> Result<Json<Feeds>, ApiError> {
    Ok(Json(Feeds {
        feeds: state.service.db.call(|s| s.feeds()).await?,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddFeed {
    url: String,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    start_main: bool,
    #[serde(default)]
    scene: Option<String>,
    #[serde(default)]
    refresh_minutes: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FeedReply {
    feed: Feed,
    /// Error of the first fetch, if it failed (the feed is kept and retried).
    fetch_error: Option<String>,
}

async fn add_feed(
    State(state): State<AppState>,
    body: Result<Json<AddFeed>, JsonRejection>,
) -> Result<(StatusCode, Json<FeedReply>), ApiError> {
    let Json(req) = body.map_err(bad_json)?;
    let url = req.url.trim().to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2000 {
        return Err(bad("url must be an http:// or https:// address"));
    }
    if req.targets.is_empty() && !req.start_main {
        return Err(bad("a feed needs targets, startMain, or both"));
    }
    check_targets(&state, &req.targets)?;
    let refresh_s = i64::from(req.refresh_minutes.unwrap_or(15).clamp(1, 24 * 60)) * 60;
    let (targets, start_main, scene) = (req.targets, req.start_main, req.scene);
    let u = url.clone();
    let feed = state
        .service
        .db
        .call(move |s| {
            s.add_feed(
                &u,
                &targets,
                start_main,
                scene.as_deref(),
                refresh_s,
                now_ms(),
            )
        })
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("already subscribed to {url}"),
                )
            }
            other => other.into(),
        })?;
    let fetch_error = crate::scheduler::refresh_feed(&state.service, &state.http, feed.id)
        .await
        .err();
    let id = feed.id;
    let feed = state
        .service
        .db
        .call(move |s| s.feed(id))
        .await?
        .unwrap_or(feed);
    Ok((StatusCode::CREATED, Json(FeedReply { feed, fetch_error })))
}

async fn refresh(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<FeedReply>, ApiError> {
    if state.service.db.call(move |s| s.feed(id)).await?.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no feed {id}"),
        ));
    }
    let fetch_error = crate::scheduler::refresh_feed(&state.service, &state.http, id)
        .await
        .err();
    let feed = state
        .service
        .db
        .call(move |s| s.feed(id))
        .await?
        .ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no feed {id}"))
        })?;
    Ok(Json(FeedReply { feed, fetch_error }))
}

async fn delete_feed(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.service.db.call(move |s| s.delete_feed(id)).await? {
        state.service.schedule_changed();
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no feed {id}"),
        ))
    }
}
