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
    let (status, headers, body) = send(
        &st,
        req("GET", "/api/v1/status").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthorized");
    // RFC 9457 problem details, with their own media type.
    assert_eq!(body["type"], "about:blank");
    assert_eq!(body["title"], "Unauthorized");
    assert_eq!(body["status"], 401);
    assert!(body["detail"].as_str().unwrap().contains("token"), "{body}");
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/problem+json"),
        "{headers:?}"
    );
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
    assert_eq!(body["code"], "forbidden_origin");
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
    assert_eq!(body["code"], "invalid_json");
    assert!(body["detail"].as_str().unwrap().contains("EOF"), "{body}");
    // Valid JSON while OBS is away: a clear 503, not a hang.
    let valid = req("POST", "/api/v1/targets")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"name": "x"}"#))
        .unwrap();
    let (status, _, body) = send(&st, valid).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "obs_unavailable");
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
    assert_eq!(
        doc["info"]["version"],
        env!("CARGO_PKG_VERSION"),
        "info.version follows the crate's version"
    );
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
                status == StatusCode::UNAUTHORIZED && body["code"] == "unauthorized",
                !public,
                "{method} {path}: {status} {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked}");
}

#[tokio::test]
async fn every_api_error_is_a_problem_even_from_the_router() {
    let st = state();
    let authed = |method: &str, uri: &str| {
        req(method, uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap()
    };
    let is_problem = |headers: &[(String, String)]| {
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == super::PROBLEM_JSON)
    };
    let (status, headers, body) = send(&st, authed("GET", "/api/v1/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(is_problem(&headers), "{headers:?}");
    assert_eq!(body["code"], "not_found");
    assert!(
        body["detail"].as_str().unwrap().contains("/api/v1/nope"),
        "{body}"
    );
    let (status, headers, body) = send(&st, authed("DELETE", "/api/v1/status")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        is_problem(&headers) && headers.iter().any(|(k, _)| k == "allow"),
        "{headers:?}"
    );
    assert_eq!(body["code"], "method_not_allowed");
    // A path parameter that does not parse: axum's explanation becomes the detail.
    let (status, headers, body) = send(&st, authed("GET", "/api/v1/recordings/abc")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(is_problem(&headers), "{headers:?}");
    assert_eq!(body["code"], "invalid_request");
    assert!(body["detail"].as_str().unwrap().contains("abc"), "{body}");
    assert_eq!(body["status"], 400);
    // A query that does not parse.
    let (status, _, body) = send(&st, authed("GET", "/api/v1/history?limit=many")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["type"], "about:blank");
    // Pages outside the API keep their own answers.
    let (status, headers, _) = send(&st, authed("GET", "/assets/nope.js")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!is_problem(&headers));
}

fn login(token: &str) -> Request<Body> {
    req("POST", "/api/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!(r#"{{"token":"{token}"}}"#)))
        .unwrap()
}

#[tokio::test]
async fn guessing_the_token_locks_logins_and_bearer_checks_out() {
    let st = state();
    for _ in 0..10 {
        assert_eq!(send(&st, login("guess")).await.0, StatusCode::UNAUTHORIZED);
    }
    // The 11th wrong one starts a lockout: now even the right token is not checked.
    assert_eq!(send(&st, login("guess")).await.0, StatusCode::UNAUTHORIZED);
    let (status, headers, body) = send(&st, login(TOKEN)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "too_many_attempts");
    assert!(
        headers.iter().any(|(k, v)| k == "retry-after" && v == "1"),
        "{headers:?}"
    );
    let bearer = req("GET", "/api/v1/status")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&st, bearer).await.0, StatusCode::TOO_MANY_REQUESTS);
    // After the lockout the right token works and clears the count.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(send(&st, login(TOKEN)).await.0, StatusCode::NO_CONTENT);
    assert_eq!(send(&st, login("guess")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&st, login(TOKEN)).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn behind_a_tls_proxy_the_session_cookie_is_secure() {
    let st = state();
    let (_, plain, _) = send(&st, login(TOKEN)).await;
    let cookie = |h: &[(String, String)]| {
        h.iter()
            .find(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert!(!cookie(&plain).contains("Secure"));
    let proxied = req("POST", "/api/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-forwarded-proto", "https")
        .body(Body::from(format!(r#"{{"token":"{TOKEN}"}}"#)))
        .unwrap();
    let (status, headers, _) = send(&st, proxied).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(cookie(&headers).contains("; Secure"), "{headers:?}");
}

#[tokio::test]
async fn slow_clients_time_out_and_connections_are_capped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = super::Limits {
        connections: 3,
        header_timeout: std::time::Duration::from_millis(500),
        body_timeout: std::time::Duration::from_millis(500),
    };
    let server = tokio::spawn(super::run_with(
        listener,
        state(),
        async move {
            let _ = stopped.await;
        },
        limits,
    ));
    let status_of = |mut s: tokio::net::TcpStream| async move {
        let mut out = Vec::new();
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    };
    // A client trickling its head is cut off (408) instead of holding the connection.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0")
        .await
        .unwrap();
    let answer = status_of(slow).await;
    assert!(answer.is_empty() || answer.contains("408"), "{answer:?}");
    // A client trickling a body is cut off too (the login never sees half a token).
    let mut trickle = tokio::net::TcpStream::connect(addr).await.unwrap();
    trickle
        .write_all(
            b"POST /api/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"tok",
        )
        .await
        .unwrap();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(3), status_of(trickle))
        .await
        .expect("the body deadline ends the request");
    assert!(!answer.contains(" 204"), "{answer:?}");
    // Three idle connections fill the server; a fourth is closed at once.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(std::time::Duration::from_millis(400), extra.read(&mut buf))
        .await
        .expect("closed before any header timeout")
        .unwrap_or(0);
    assert_eq!(n, 0, "over the cap: closed without an answer");
    // Once the idle ones time out, the server answers again.
    drop(idle);
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let mut fresh = tokio::net::TcpStream::connect(addr).await.unwrap();
    fresh
        .write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(status_of(fresh).await.contains("401"));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[test]
fn both_api_documents_list_every_alert_kind_in_order() {
    let names: Vec<Value> = crate::alerts::AlertKind::ALL
        .iter()
        .map(|k| Value::from(k.as_str()))
        .collect();
    let api: Value = serde_json::from_str(include_str!("../../openapi.json")).unwrap();
    assert_eq!(
        api["components"]["schemas"]["AlertKind"]["enum"],
        Value::Array(names.clone())
    );
    // The platform webhook's alert events (docs/platform-openapi.json): every enum that lists
    // alert kinds lists all of them.
    let platform: Value =
        serde_json::from_str(include_str!("../../../docs/platform-openapi.json")).unwrap();
    fn enums<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Object(m) => {
                if let Some(e) = m.get("enum")
                    && e.as_array()
                        .is_some_and(|a| a.contains(&Value::from("target_drops")))
                {
                    out.push(e);
                }
                m.values().for_each(|v| enums(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| enums(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    enums(&platform, &mut found);
    assert!(!found.is_empty());
    for e in found {
        assert_eq!(e, &Value::Array(names.clone()));
    }
}

/// Every `(method, path)` the API's handlers are routed under, read from the router code
/// (`.route("/path", get(..).post(..))` in `web/*_api.rs`, `api.rs` and `pairing.rs`; all nested
/// under `/api/v1`).
/// Route registrations in `text` that bypass the OpenAPI routers (`OpenApiRouter::routes` with
/// `routes!`, which only takes handlers that carry `#[utoipa::path]`): such a route would be
/// served but not documented.
fn undocumented_registrations(text: &str) -> Vec<String> {
    [
        ".route(",
        ".route_service(",
        ".nest_service(",
        ".fallback(",
        "axum::routing::",
    ]
    .iter()
    .flat_map(|pat| text.match_indices(pat))
    .map(|(at, _)| text[at..].lines().next().unwrap_or_default().to_owned())
    .collect()
}

#[test]
fn every_routed_operation_is_documented() {
    // The dashboard's pages and assets (`assets.rs`) are not API operations; nothing else in
    // the HTTP layer registers a route except through the documenting routers.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let mut found = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        if name == "assets.rs" {
            assert!(
                !text.contains("\"/api") && !text.contains("\"/metrics"),
                "assets.rs serves pages only"
            );
            continue;
        }
        if name == "tests.rs" {
            continue;
        }
        files += 1;
        found.extend(
            undocumented_registrations(&text)
                .into_iter()
                .map(|l| format!("{name}: {l}")),
        );
    }
    assert!(files >= 8, "{files}");
    assert!(
        found.is_empty(),
        "routes outside the OpenAPI routers: {found:?}"
    );
    // The check finds what it looks for.
    assert_eq!(
        undocumented_registrations("r.route(\"/api/v1/x\", get(x))\n.routes(routes!(y))").len(),
        1
    );
    // And the generated document holds every operation the routers register (`routes!` adds
    // each handler's description with its route): at least these many.
    let doc = super::openapi_document();
    let ops: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|ops| ops.as_object().unwrap().len())
        .sum();
    assert!(ops >= 66, "{ops}");
}

fn login_from(ip: &str, token: &str) -> Request<Body> {
    let mut r = login(token);
    r.extensions_mut().insert(super::Peer {
        ip: ip.parse().unwrap(),
        tls: true,
    });
    r
}

#[tokio::test]
async fn a_guessing_phone_locks_out_only_itself() {
    let st = state();
    for _ in 0..11 {
        assert_eq!(
            send(&st, login_from("192.168.1.50", "guess")).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        send(&st, login_from("192.168.1.50", TOKEN)).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "the guesser is locked out"
    );
    // This computer and another phone are not.
    assert_eq!(send(&st, login(TOKEN)).await.0, StatusCode::NO_CONTENT);
    let (status, headers, _) = send(&st, login_from("192.168.1.51", TOKEN)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Over TLS the cookie is Secure.
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "set-cookie" && v.contains("; Secure")),
        "{headers:?}"
    );
}

#[test]
fn the_network_gets_a_few_connections_per_address_and_never_the_loopback_reserve() {
    let remotes = Arc::default();
    let limits = super::Limits::default();
    let phone: std::net::IpAddr = "192.168.1.50".parse().unwrap();
    let held: Vec<_> = (0..super::MAX_PER_REMOTE)
        .map(|_| super::take_remote(&remotes, phone, limits).unwrap())
        .collect();
    assert!(
        super::take_remote(&remotes, phone, limits).is_none(),
        "one address holds at most {}",
        super::MAX_PER_REMOTE
    );
    drop(held);
    assert!(
        super::take_remote(&remotes, phone, limits).is_some(),
        "freed on drop"
    );
    // Many addresses together stop short of the loopback reserve.
    let mut others = Vec::new();
    for i in 0..limits.connections {
        match super::take_remote(
            &remotes,
            format!("10.0.{}.{}", i / 200, i % 200 + 1).parse().unwrap(),
            limits,
        ) {
            Some(s) => others.push(s),
            None => break,
        }
    }
    assert_eq!(
        others.len(),
        limits.connections - super::LOOPBACK_RESERVE,
        "remote connections leave {} for loopback",
        super::LOOPBACK_RESERVE
    );
}

#[tokio::test]
async fn in_lan_mode_loopback_may_use_plain_http_and_tls_works_with_the_certificate() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = std::env::temp_dir().join(format!("deckcast-lan-web-{}", std::process::id()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lan = crate::lan::prepare(&dir, addr.ip(), addr.port()).unwrap();
    let pem = std::fs::read(&lan.cert_path).unwrap();
    let mut st = state();
    st.lan = Some(Arc::new(super::pairing::LanState::new(lan)));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(super::run(listener, st, async move {
        let _ = stopped.await;
    }));
    // Plain HTTP from this computer (the CLI, a local browser) still works.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    plain.read_to_end(&mut out).await.unwrap();
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 401"));
    // HTTPS with the companion's certificate as the only trusted root.
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    let r = client
        .get(format!("https://127.0.0.1:{}/api/v1/status", addr.port()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
