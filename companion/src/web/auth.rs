//! Token, session cookie, same-origin and Host checks.
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::store::now_ms;

/// The dashboard session cookie.
pub const SESSION_COOKIE: &str = "deckcast_session";
/// How long a dashboard login lasts.
const SESSION_MS: i64 = 12 * 3600 * 1000;

/// Wrong tokens before logins and bearer checks are refused for a while.
const FREE_FAILURES: u32 = 10;
/// Longest lockout (seconds).
const MAX_LOCKOUT_S: i64 = 300;

/// Peers whose wrong tokens are remembered at most (beyond that, those not locked out now are
/// forgotten).
const MAX_PEERS: usize = 4096;

/// Recent wrong tokens of one peer address: after [`FREE_FAILURES`], every further wrong token
/// doubles a lockout (1 s, 2 s, 4 s … [`MAX_LOCKOUT_S`]) during which no token from that address
/// is checked at all. A right token resets it. Per address, so a phone guessing on the LAN never
/// locks out this computer (or another phone).
#[derive(Debug, Default)]
pub struct Failures {
    count: u32,
    locked_until_ms: i64,
}

/// Who is at the other end of a request's connection: `run_with` puts it on every request.
/// Without it (a router called directly, as in unit tests) a request counts as loopback, plain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The client's address.
    pub ip: std::net::IpAddr,
    /// The connection is TLS (LAN mode).
    pub tls: bool,
}

impl Default for Peer {
    /// Loopback, plain HTTP.
    fn default() -> Peer {
        Peer {
            ip: std::net::IpAddr::from([127, 0, 0, 1]),
            tls: false,
        }
    }
}

impl Peer {
    /// The peer of a request's connection, from its extensions.
    pub fn of(extensions: &axum::http::Extensions) -> Peer {
        extensions.get::<Peer>().copied().unwrap_or_default()
    }
}

/// Equal in time independent of where the inputs differ.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl AppState {
    /// True if `token` is the API token.
    pub fn token_ok(&self, token: &str) -> bool {
        constant_time_eq(token.as_bytes(), self.token.expose().as_bytes())
    }

    /// Seconds left of `peer`'s lockout, if one is on.
    pub fn locked_for(&self, peer: &Peer) -> Option<i64> {
        let f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let left = f.get(&peer.ip).map_or(0, |f| f.locked_until_ms) - now_ms();
        (left > 0).then(|| (left + 999) / 1000)
    }

    /// Counts a token (or pairing code) `peer` presented: a right one clears its failures, a
    /// wrong one may start a lockout for that address.
    pub fn note_token(&self, peer: &Peer, right: bool) {
        let mut all = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if right {
            all.remove(&peer.ip);
            return;
        }
        if all.len() >= MAX_PEERS && !all.contains_key(&peer.ip) {
            let now = now_ms();
            all.retain(|_, f| f.locked_until_ms > now);
        }
        let f = all.entry(peer.ip).or_default();
        f.count = f.count.saturating_add(1);
        if f.count > FREE_FAILURES {
            let s = (1i64 << (f.count - FREE_FAILURES - 1).min(16)).min(MAX_LOCKOUT_S);
            f.locked_until_ms = now_ms() + s * 1000;
            tracing::warn!(
                "dashboard/API: {} wrong tokens from {}; refusing its logins for {s} s",
                f.count,
                peer.ip
            );
        }
    }

    /// Starts a dashboard session; returns its id (an error if the OS has no randomness).
    pub fn new_session(&self) -> Result<String, crate::keys::KeysError> {
        let id = crate::keys::random_token()?.expose().to_owned();
        let now = now_ms();
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.retain(|_, exp| *exp > now);
        s.insert(id.clone(), now + SESSION_MS);
        Ok(id)
    }

    /// Ends a session.
    pub fn end_session(&self, id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// True if the request carries a live session cookie.
    pub fn has_session(&self, headers: &HeaderMap) -> bool {
        let Some(id) = cookie(headers, SESSION_COOKIE) else {
            return false;
        };
        let now = now_ms();
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|(k, exp)| constant_time_eq(k.as_bytes(), id.as_bytes()) && *exp > now)
    }

    /// True if the request carries the token or a live session.
    pub fn authenticated(&self, headers: &HeaderMap) -> bool {
        self.bearer_ok(headers) || self.has_session(headers)
    }

    fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| self.token_ok(t.trim()))
    }

    fn bearer_given(headers: &HeaderMap) -> bool {
        headers.contains_key(header::AUTHORIZATION)
    }

    /// Whether a state-changing request comes from an allowed origin: its `Origin` must be the
    /// page's own (`http://<Host>`) or a configured one. Without `Origin`, browsers mark
    /// cross-site requests with `Sec-Fetch-Site`; non-browser clients send neither.
    pub fn same_origin(&self, headers: &HeaderMap, tls: bool) -> bool {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            Some(origin) => {
                let scheme = if tls { "https" } else { "http" };
                origin == format!("{scheme}://{host}")
                    || self.extra_origins.iter().any(|o| o == origin)
            }
            None => headers
                .get("sec-fetch-site")
                .and_then(|v| v.to_str().ok())
                .is_none_or(|v| v == "same-origin" || v == "none"),
        }
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `/api/v1` guard: token or session, then the origin check for state changes.
pub async fn require_auth(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let peer = Peer::of(req.extensions());
    if AppState::bearer_given(headers) {
        if let Some(s) = state.locked_for(&peer) {
            return locked_out(s);
        }
        state.note_token(&peer, state.bearer_ok(headers));
    }
    if !state.bearer_ok(headers) && !state.has_session(headers) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a token is required: send 'Authorization: Bearer <token>' or log in to the dashboard (deckcast token show prints the token)",
        )
        .into_response();
    }
    if !is_safe(req.method()) && !state.same_origin(headers, peer.tls) {
        return forbidden_origin();
    }
    next.run(req).await
}

/// 429 with `Retry-After` while wrong tokens lock the API out.
pub fn locked_out(seconds: i64) -> Response {
    let mut r = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!("too many wrong tokens; try again in {seconds} s (deckcast token show prints the right one)"),
    )
    .into_response();
    if let Ok(v) = header::HeaderValue::from_str(&seconds.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn forbidden_origin() -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden_origin",
        "cross-origin requests may not change state; use the dashboard or a client without an Origin header",
    )
    .into_response()
}

/// Origin check alone (for `POST /api/v1/login`, which has no token yet).
pub async fn require_same_origin(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if !is_safe(req.method()) && !state.same_origin(req.headers(), Peer::of(req.extensions()).tls) {
        return forbidden_origin();
    }
    next.run(req).await
}

/// Refuses requests whose `Host` is not this machine when bound to loopback (DNS rebinding).
pub async fn check_host(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(allowed) = &state.allowed_hosts {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(name)) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_host",
                "this server only answers to localhost addresses",
            )
            .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison_and_cookies() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; deckcast_session=xyz; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
