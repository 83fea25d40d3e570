//! The companion's HTTP side (axum): the REST API under `/api/v1` (documented in
//! `companion/openapi.json`), the dashboard (HTML/JS/CSS embedded in the binary, no CDN), live
//! updates over Server-Sent Events and Prometheus metrics at `/metrics`.
//!
//! Security: bound to loopback by default; every `/api/v1` route except `login` needs the token
//! (`Authorization: Bearer`) or a session cookie from `POST /api/v1/login`; state-changing
//! requests must come from the dashboard's own origin; requests naming a foreign `Host` are
//! refused (DNS rebinding).
//!
//! Threads: handlers run on the tokio runtime; they copy what they need out of std mutexes and
//! call OBS through [`crate::service::Service::link`].
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use deckcast_protocol::ErrorCode;
use deckcast_secrets::Secret;
use serde_json::json;

use crate::obs_link::LinkError;
use crate::service::Service;
use crate::store::StoreError;

mod api;
mod assets;
mod auth;
pub mod metrics;
mod platform_api;
mod schedule_api;
#[cfg(test)]
mod tests;

pub use auth::SESSION_COOKIE;

/// Everything the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The OBS side.
    pub service: Arc<Service>,
    /// The API/dashboard token.
    pub token: Secret,
    /// Dashboard login sessions: id → expiry (Unix ms).
    sessions: Arc<Mutex<HashMap<String, i64>>>,
    /// Origins allowed to change state besides the page's own (`http://<Host>`).
    pub extra_origins: Vec<String>,
    /// Host names the server answers to (`None`: any, when bound to a public address).
    pub allowed_hosts: Option<Vec<String>>,
    /// Turns true at shutdown (ends SSE streams so the server can stop).
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// HTTP client for calendar feeds and the platform.
    pub http: reqwest::Client,
}

impl AppState {
    /// State for a server listening on `addr`.
    pub fn new(
        service: Arc<Service>,
        token: Secret,
        addr: SocketAddr,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> AppState {
        let allowed_hosts = addr.ip().is_loopback().then(|| {
            vec![
                "127.0.0.1".to_owned(),
                "localhost".to_owned(),
                "[::1]".to_owned(),
            ]
        });
        AppState {
            service,
            token,
            sessions: Arc::default(),
            extra_origins: Vec::new(),
            allowed_hosts,
            shutdown,
            http: http_client(),
        }
    }
}

/// The companion's HTTP client (rustls with the ring provider).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("deckcast/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

/// The router: API, dashboard, assets and metrics.
pub fn app(state: AppState) -> Router {
    let api = api::routes(state.clone());
    Router::new()
        .merge(assets::routes(state.clone()))
        .nest("/api/v1", api)
        .route("/metrics", axum::routing::get(metrics::handler))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::check_host,
        ))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves (in-flight requests finish; SSE streams
/// end with the shutdown).
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// An API error: HTTP status plus `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn obs_down() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "obs_unavailable",
            "OBS is not connected; the companion keeps reconnecting (see /api/v1/status)",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

/// A body that is not the JSON a handler takes: 400 with serde's explanation.
pub(super) fn bad_json(e: axum::extract::rejection::JsonRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_json",
        format!("the request body is not valid: {}", e.body_text()),
    )
}

impl From<LinkError> for ApiError {
    fn from(e: LinkError) -> ApiError {
        match e {
            LinkError::Plugin { code, message, .. } => {
                let (status, name) = match code {
                    ErrorCode::NotFound => (StatusCode::NOT_FOUND, "not_found"),
                    ErrorCode::InvalidRequest => (StatusCode::BAD_REQUEST, "invalid_request"),
                    ErrorCode::InvalidValue => (StatusCode::BAD_REQUEST, "invalid_value"),
                    ErrorCode::Conflict => (StatusCode::CONFLICT, "conflict"),
                    ErrorCode::Internal => (StatusCode::BAD_GATEWAY, "plugin_error"),
                };
                ApiError::new(status, name, message)
            }
            LinkError::PluginMissing => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "plugin_missing",
                e.to_string(),
            ),
            _ => ApiError::new(StatusCode::BAD_GATEWAY, "obs_error", e.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "database", e.to_string())
    }
}

impl From<crate::keys::KeysError> for ApiError {
    fn from(e: crate::keys::KeysError) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "keyring", e.to_string())
    }
}
