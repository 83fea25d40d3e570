//! The HTTP layer without OBS: auth, origin and Host checks, error shapes, the login flow and
//! the embedded assets. (With a real OBS: `tests/tests/e2e_companion.rs`.)
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use deckcast_secrets::{MemoryStore, Secret};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::{AppState, app};
use crate::app::{App, Role};
use crate::keys::Keys;
use crate::store::{Db, Store};

const TOKEN: &str = "test-token-123";

fn state() -> AppState {
    let service = App::new(
        Role::Service,
        Db::new(Store::open_in_memory().unwrap()),
        Keys::with_store(Arc::new(MemoryStore::default())),
        super::http_client(),
    );
    let addr: SocketAddr = "127.0.0.1:8750".parse().unwrap();
    AppState::new(
        service,
        Secret::new(TOKEN).unwrap(),
        addr,
        tokio::sync::watch::channel(false).1,
    )
}

fn req(method: &str, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "127.0.0.1:8750")
}

async fn send(state: &AppState, r: Request<Body>) -> (StatusCode, Vec<(String, String)>, Value) {
    let resp = app(state.clone()).oneshot(r).await.unwrap();
    let status = resp.status();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, headers, body)
}

#[tokio::test]
async fn the_api_needs_the_token() {
    let st = state();
    let (status, _, body) = send(
        &st,
        req("GET", "/api/v1/status").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let wrong = req("GET", "/api/v1/status")
        .header(header::AUTHORIZATION, "Bearer nope")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&st, wrong).await.0, StatusCode::UNAUTHORIZED);
    let ok = req("GET", "/api/v1/status")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(&st, ok).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["obs"]["state"], "connecting");
    assert_eq!(body["companion"]["keyring"], true);
}

#[tokio::test]
async fn foreign_origins_and_hosts_are_refused_and_bad_json_is_explained() {
    let st = state();
    let evil = req("POST", "/api/v1/targets")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::ORIGIN, "http://evil.example")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"name":"x"}"#))
        .unwrap();
    let (status, _, body) = send(&st, evil).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden_origin");
    let rebound = Request::builder()
        .uri("/api/v1/status")
        .header(header::HOST, "attacker.example:8750")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&st, rebound).await.0, StatusCode::FORBIDDEN);
    let malformed = req("POST", "/api/v1/targets")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::ORIGIN, "http://127.0.0.1:8750")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"name": "x", "#))
        .unwrap();
    let (status, _, body) = send(&st, malformed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_json");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("EOF"),
        "{body}"
    );
    // Valid JSON while OBS is away: a clear 503, not a hang.
    let valid = req("POST", "/api/v1/targets")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"name": "x"}"#))
        .unwrap();
    let (status, _, body) = send(&st, valid).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "obs_unavailable");
}

#[tokio::test]
async fn the_dashboard_logs_in_with_the_token_and_a_cookie() {
    let st = state();
    let (status, headers, _) = send(&st, req("GET", "/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "location" && v == "/login")
    );
    let bad = req("POST", "/api/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"token":"guess"}"#))
        .unwrap();
    assert_eq!(send(&st, bad).await.0, StatusCode::UNAUTHORIZED);
    let good = req("POST", "/api/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, "http://127.0.0.1:8750")
        .body(Body::from(format!(r#"{{"token":"{TOKEN}"}}"#)))
        .unwrap();
    let (status, headers, _) = send(&st, good).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let cookie = headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let page = req("GET", "/")
        .header(header::COOKIE, &pair)
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send(&st, page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.as_str().unwrap().contains("/assets/app.js"));
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-security-policy" && v.contains("script-src 'self'"))
    );
    let api = req("GET", "/api/v1/snapshot")
        .header(header::COOKIE, &pair)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&st, api).await.0, StatusCode::OK);
    let (status, headers, _) = send(
        &st,
        req("GET", "/assets/app.js").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("text/javascript"))
    );
}

#[tokio::test]
async fn metrics_and_openapi_are_served() {
    let st = state();
    let (status, _, body) = send(&st, req("GET", "/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.as_str().unwrap().contains("deckcast_obs_connected 0"));
    let (status, _, doc) = send(
        &st,
        req("GET", "/api/v1/openapi.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/targets/{id}"]["patch"].is_object());
}

#[tokio::test]
async fn every_documented_operation_exists_and_is_guarded_as_documented() {
    let st = state();
    let doc: Value = serde_json::from_str(include_str!("../../openapi.json")).unwrap();
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let uri = path.replace("{id}", "x");
            let r = req(&method.to_ascii_uppercase(), &uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let (status, _, body) = send(&st, r).await;
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not routed ({status})"
            );
            let public = op["security"].as_array().is_some_and(Vec::is_empty);
            assert_eq!(
                status == StatusCode::UNAUTHORIZED && body["error"]["code"] == "unauthorized",
                !public,
                "{method} {path}: {status} {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked}");
}
