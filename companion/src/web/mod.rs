//! The companion's HTTP side (axum): the REST API under `/api/v1` (its OpenAPI document is
//! generated from the handlers, see [`openapi`]), the dashboard (HTML/JS/CSS embedded in the binary, no CDN), live
//! updates over Server-Sent Events and Prometheus metrics at `/metrics`.
//!
//! Security: bound to loopback by default; every `/api/v1` route except `login` needs the token
//! (`Authorization: Bearer`) or a session cookie from `POST /api/v1/login`; state-changing
//! requests must come from the dashboard's own origin; requests naming a foreign `Host` are
//! refused (DNS rebinding).
//!
//! Handlers extract, call one operation of [`App`] and respond; [`ApiError`] maps the app's
//! errors to HTTP in one place.
//!
//! Threads: handlers run on the tokio runtime.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use deckcast_protocol::ErrorCode;
use deckcast_secrets::Secret;
use serde::Serialize;

use crate::app::{App, AppError};
use crate::obs::LinkError;

mod alerts_api;
mod api;
mod assets;
mod auth;
pub mod metrics;
mod openapi;
pub mod pairing;
mod platform_api;
mod reair_api;
mod recording_api;
mod report_api;
mod schedule_api;
#[cfg(test)]
mod tests;

pub use auth::{Peer, SESSION_COOKIE};

/// Everything the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The companion's operations.
    pub app: Arc<App>,
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
    /// Wrong tokens presented recently (login throttling).
    failures: Arc<Mutex<HashMap<std::net::IpAddr, auth::Failures>>>,
    /// LAN mode (`serve --lan`): HTTPS, and phones paired with one-time codes.
    pub lan: Option<Arc<pairing::LanState>>,
}

impl AppState {
    /// State for a server listening on `addr`.
    pub fn new(
        app: Arc<App>,
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
            app,
            token,
            sessions: Arc::default(),
            extra_origins: Vec::new(),
            allowed_hosts,
            shutdown,
            failures: Arc::default(),
            lan: None,
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

/// The routers of the API, each with its part of the OpenAPI document: the operations behind
/// the token, those open to anyone, and `/metrics`.
fn parts() -> [(Router<AppState>, utoipa::openapi::OpenApi); 3] {
    use utoipa_axum::router::OpenApiRouter;
    [
        OpenApiRouter::new()
            .nest("/api/v1", api::guarded())
            .split_for_parts(),
        OpenApiRouter::new()
            .nest("/api/v1", api::open())
            .split_for_parts(),
        OpenApiRouter::new()
            .routes(utoipa_axum::routes!(metrics::handler))
            .split_for_parts(),
    ]
}

/// The API's OpenAPI 3.1 document, generated from the same routers [`app`] serves.
pub fn openapi_document() -> serde_json::Value {
    openapi::document(parts().map(|(_, doc)| doc))
}

/// The router: API, dashboard, assets and metrics.
pub fn app(state: AppState) -> Router {
    let [(guarded, _), (open, _), (metrics, _)] = parts();
    Router::new()
        .merge(assets::routes(state.clone()))
        .merge(guarded.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_auth,
        )))
        .merge(open.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_same_origin,
        )))
        .merge(metrics)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::check_host,
        ))
        .layer(axum::middleware::from_fn(bare_errors_as_problems))
        .with_state(state)
}

/// How much of a bare error's text body is kept as the problem's `detail`.
const MAX_BARE_ERROR: usize = 4096;

/// Gives every error answer under `/api/` the problem shape: axum's own answers (an unknown
/// route, a method the route does not take, a path or query that does not parse) come as plain
/// text or empty; handlers' errors are problems already and pass as they are. 416 (a download's
/// range outside the file) stays as the file server sends it.
async fn bare_errors_as_problems(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let what = format!("{} {}", req.method(), req.uri().path());
    let res = next.run(req).await;
    let status = res.status();
    let problem = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !api
        || problem
        || !(status.is_client_error() || status.is_server_error())
        || status == StatusCode::RANGE_NOT_SATISFIABLE
    {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, MAX_BARE_ERROR)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", format!("no such API operation: {what}")),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            format!("{what}: this path does not take that method"),
        ),
        StatusCode::BAD_REQUEST => ("invalid_request", text),
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", text),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", text),
        StatusCode::REQUEST_TIMEOUT => ("timeout", text),
        s if s.is_client_error() => ("invalid_request", text),
        _ => ("server_error", text),
    };
    let detail = if detail.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        detail
    };
    let mut answer = ApiError::new(status, code, detail).into_response();
    // Keep what the answer said besides its body (Allow on a 405, Retry-After ...).
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

/// Most connections served at once (each dashboard keeps one open for its event stream); more
/// are closed as they arrive.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request's head (also how long an idle keep-alive
/// connection stays open): a client that trickles bytes cannot hold a connection for ever.
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connections one address other than loopback may hold at once (a phone's browser opens a few).
pub const MAX_PER_REMOTE: usize = 8;
/// Connections kept for loopback clients (this computer's browser, the CLI, Prometheus): the
/// network can never take them.
pub const LOOPBACK_RESERVE: usize = 16;
/// How long a request's body may take to arrive (the API's bodies are small JSON).
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How many connections the server takes and how long it waits for a request head.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub connections: usize,
    /// Time for a request's head (and an idle keep-alive connection, and a TLS handshake).
    pub header_timeout: std::time::Duration,
    /// Time for a request's body.
    pub body_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connections: MAX_CONNECTIONS,
            header_timeout: HEADER_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves: at most [`MAX_CONNECTIONS`] at once
/// (of which [`LOOPBACK_RESERVE`] only for loopback, and at most [`MAX_PER_REMOTE`] per other
/// address), each with [`HEADER_TIMEOUT`] for a request head and [`BODY_TIMEOUT`] for its body.
/// In LAN mode a connection from the network must speak TLS; loopback may use either. At shutdown
/// in-flight requests finish (SSE streams end with the shutdown), for at most 10 s. An accept
/// error is logged and the server goes on.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, state, shutdown, Limits::default()).await
}

/// Connections per remote address, and how many remote ones are open.
#[derive(Debug, Default)]
struct Remotes {
    per_ip: HashMap<std::net::IpAddr, usize>,
    total: usize,
}

/// One remote connection counted in [`Remotes`]; uncounted on drop.
struct RemoteSlot {
    remotes: Arc<Mutex<Remotes>>,
    ip: std::net::IpAddr,
}

impl Drop for RemoteSlot {
    fn drop(&mut self) {
        let mut r = self.remotes.lock().unwrap_or_else(|e| e.into_inner());
        r.total = r.total.saturating_sub(1);
        if let Some(n) = r.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                r.per_ip.remove(&self.ip);
            }
        }
    }
}

/// Counts a connection from `ip` if the limits allow it.
fn take_remote(
    remotes: &Arc<Mutex<Remotes>>,
    ip: std::net::IpAddr,
    limits: Limits,
) -> Option<RemoteSlot> {
    let mut r = remotes.lock().unwrap_or_else(|e| e.into_inner());
    let mine = r.per_ip.get(&ip).copied().unwrap_or(0);
    if mine >= MAX_PER_REMOTE || r.total >= limits.connections.saturating_sub(LOOPBACK_RESERVE) {
        return None;
    }
    r.total += 1;
    *r.per_ip.entry(ip).or_default() += 1;
    Some(RemoteSlot {
        remotes: Arc::clone(remotes),
        ip,
    })
}

/// The first byte of a TLS connection (a handshake record).
const TLS_HANDSHAKE: u8 = 0x16;

/// [`run`] with other [`Limits`].
pub async fn run_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> std::io::Result<()> {
    use hyper_util::rt::TokioIo;
    let tls = state
        .lan
        .as_ref()
        .map(|l| tokio_rustls::TlsAcceptor::from(Arc::clone(&l.lan.tls)));
    let router = app(state);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.connections));
    let remotes: Arc<Mutex<Remotes>> = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (sock, from) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("dashboard/API: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let ip = from.ip().to_canonical();
        let remote = if ip.is_loopback() {
            None
        } else {
            match take_remote(&remotes, ip, limits) {
                Some(slot) => Some(slot),
                None => {
                    tracing::warn!(
                        "dashboard/API: too many connections from {ip}; refusing another"
                    );
                    continue;
                }
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(
                "dashboard/API: {} connections open; refusing another",
                limits.connections
            );
            continue;
        };
        let router = router.clone();
        let stop = stop_rx.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let (_slot, _remote) = (slot, remote);
            let service = |tls: bool| {
                let peer = auth::Peer { ip, tls };
                hyper_util::service::TowerToHyperService::new(
                    tower_http::timeout::RequestBodyTimeout::new(
                        router.layer(axum::Extension(peer)),
                        limits.body_timeout,
                    ),
                )
            };
            let Some(tls) = tls else {
                serve_connection(TokioIo::new(sock), service(false), limits, stop).await;
                return;
            };
            // LAN mode: TLS, or plain HTTP from this computer only. Every wait is bounded by
            // the head timeout.
            let mut first = [0u8; 1];
            let peeked = tokio::time::timeout(limits.header_timeout, sock.peek(&mut first)).await;
            if !matches!(peeked, Ok(Ok(1))) {
                return;
            }
            if first[0] != TLS_HANDSHAKE {
                if ip.is_loopback() {
                    serve_connection(TokioIo::new(sock), service(false), limits, stop).await;
                } else {
                    tracing::debug!(
                        "dashboard/API: plain HTTP from {ip} refused (LAN mode is HTTPS)"
                    );
                }
                return;
            }
            match tokio::time::timeout(limits.header_timeout, tls.accept(sock)).await {
                Ok(Ok(stream)) => {
                    serve_connection(TokioIo::new(stream), service(true), limits, stop).await;
                }
                Ok(Err(e)) => tracing::debug!("dashboard/API: TLS handshake from {ip} failed: {e}"),
                Err(_) => tracing::debug!("dashboard/API: TLS handshake from {ip} timed out"),
            }
        });
    }
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
    Ok(())
}

/// A connection's service: the router with the connection's [`auth::Peer`] on every request, and
/// the body timeout.
type ConnService =
    hyper_util::service::TowerToHyperService<tower_http::timeout::RequestBodyTimeout<Router>>;

/// Serves one connection (plain or TLS) until it ends or the server stops (then gracefully).
async fn serve_connection<I>(
    io: hyper_util::rt::TokioIo<I>,
    service: ConnService,
    limits: Limits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    let stopping = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::select! {
        _ = conn.as_mut() => {}
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// An API error: an HTTP status and a [`Problem`] (`application/problem+json`).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

/// The media type of every error answer (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer in RFC 9457's problem-details shape: `type` is `about:blank` (the status
/// says what kind of problem it is), `title` the status's reason phrase, `detail` what went wrong
/// and how to fix it, and the extension member `code` a stable machine-readable name.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// `about:blank`.
    #[serde(rename = "type")]
    #[schema(pattern = "^about:blank$")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    #[schema(min_length = 1)]
    pub title: String,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong, for people.
    #[schema(min_length = 1)]
    pub detail: String,
    /// What went wrong, for programs (`not_found`, `obs_unavailable`, …).
    #[schema(pattern = "^[a-z][a-z_]*$")]
    pub code: String,
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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: String::from("about:blank"),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.message,
            code: self.code.to_owned(),
        };
        let mut r = (self.status, axum::Json(problem)).into_response();
        r.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static(PROBLEM_JSON),
        );
        r
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

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        let message = e.to_string();
        let (status, code) = match &e {
            AppError::ObsDown => (StatusCode::SERVICE_UNAVAILABLE, "obs_unavailable"),
            AppError::Link(LinkError::Plugin { code, .. }) => match code {
                ErrorCode::NotFound => (StatusCode::NOT_FOUND, "not_found"),
                ErrorCode::InvalidRequest => (StatusCode::BAD_REQUEST, "invalid_request"),
                ErrorCode::InvalidValue => (StatusCode::BAD_REQUEST, "invalid_value"),
                ErrorCode::Conflict => (StatusCode::CONFLICT, "conflict"),
                ErrorCode::Internal => (StatusCode::BAD_GATEWAY, "plugin_error"),
            },
            AppError::Link(LinkError::PluginMissing) => {
                (StatusCode::SERVICE_UNAVAILABLE, "plugin_missing")
            }
            AppError::Link(_) => (StatusCode::BAD_GATEWAY, "obs_error"),
            AppError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "database"),
            AppError::Keys(_) => (StatusCode::SERVICE_UNAVAILABLE, "keyring"),
            AppError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_value"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::Platform(_) => (StatusCode::BAD_GATEWAY, "platform"),
        };
        // The plugin's own sentence, not the companion's wrapper around it.
        let message = match e {
            AppError::Link(LinkError::Plugin { message, .. }) => message,
            _ => message,
        };
        ApiError::new(status, code, message)
    }
}
