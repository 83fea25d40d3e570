//! The streamer's site as the e2e tests play it: a webhook receiver (`tests/rig/webhook-receiver.py`,
//! verifying signatures with the verifier shipped in `docs/`) and a platform API serving
//! destinations and the schedule behind a bearer token, and the tus server recordings are uploaded
//! to (`tests/rig/tus-site`). All on 127.0.0.1.
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::artifacts::workspace_root;
use crate::util::{stop_pid, wait_for};

/// The webhook receiver; stopped (by PID) when dropped.
#[derive(Debug)]
pub struct Receiver(Child);

impl Receiver {
    /// Listens on 127.0.0.1:`port`, verifying with `secret` (given through the environment,
    /// never argv) and appending one JSON line per delivery to `out`; `extra` are the script's
    /// failure options (`--fail-first N`, `--hang-first N`, `--dump FILE`, `--reject-title T`).
    pub fn start(port: u16, secret: &str, out: &std::path::Path, extra: &[&str]) -> Receiver {
        let child = Command::new("python3")
            .arg(workspace_root().join("tests/rig/webhook-receiver.py"))
            .arg(port.to_string())
            .arg(out)
            .env("WEBHOOK_SECRET", secret)
            .args(extra)
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 is installed by scripts/deps.sh");
        wait_for("the receiver", Duration::from_secs(10), || {
            Ok(crate::util::port_open(port).then_some(()))
        })
        .unwrap();
        Receiver(child)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = stop_pid(self.0.id(), "TERM", Duration::from_secs(5));
        let _ = self.0.wait();
    }
}

/// What the receiver wrote to `out`, one JSON value per delivery.
pub fn received(out: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The site's API: `/deckcast/destinations` and `/deckcast/schedule` (the two JSON documents in
/// `state`, changeable while it runs) behind `Authorization: Bearer <token>`; returns the port.
pub fn serve_site(token: String, state: Arc<Mutex<(Value, Value)>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let token = token.clone();
            let state = Arc::clone(&state);
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut reader = BufReader::new(stream);
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let mut auth = String::new();
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if line.to_ascii_lowercase().starts_with("authorization:") {
                        auth = line[14..].trim().to_owned();
                    }
                    line.clear();
                }
                let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
                let (status, body) = if auth != format!("Bearer {token}") {
                    ("401 Unauthorized", json!({"error": "bad token"}))
                } else {
                    let st = state.lock().unwrap();
                    match path.as_str() {
                        "/deckcast/destinations" => ("200 OK", st.0.clone()),
                        "/deckcast/schedule" => ("200 OK", st.1.clone()),
                        _ => ("404 Not Found", json!({})),
                    }
                };
                let body = body.to_string();
                let mut s = reader.into_inner();
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.flush();
            });
        }
    });
    port
}

/// One POST an [`Inbox`] received.
#[derive(Debug, Clone)]
pub struct Post {
    /// The request path (with query).
    pub path: String,
    /// The body as JSON (`null` if it was not JSON).
    pub body: Value,
}

/// A plain HTTP endpoint that keeps every POST (alert channels: Discord, Slack, ntfy and JSON
/// webhooks are all "POST JSON to a URL"); answers 204, or `status` for paths starting with
/// `/fail`.
#[derive(Debug, Clone)]
pub struct Inbox {
    /// Its port on 127.0.0.1.
    pub port: u16,
    posts: Arc<Mutex<Vec<Post>>>,
}

impl Inbox {
    /// Starts listening.
    pub fn start() -> Inbox {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let posts: Arc<Mutex<Vec<Post>>> = Arc::default();
        let keep = Arc::clone(&posts);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let keep = Arc::clone(&keep);
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut reader = BufReader::new(stream);
                    let mut request = String::new();
                    let _ = reader.read_line(&mut request);
                    let mut len = 0usize;
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        line.clear();
                    }
                    let mut body = vec![0u8; len.min(1 << 20)];
                    let _ = std::io::Read::read_exact(&mut reader, &mut body);
                    let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let status = if path.starts_with("/fail") {
                        "500 Internal Server Error"
                    } else {
                        "204 No Content"
                    };
                    keep.lock().unwrap().push(Post {
                        path,
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    });
                    let mut s = reader.into_inner();
                    let _ = write!(
                        s,
                        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = s.flush();
                });
            }
        });
        Inbox { port, posts }
    }

    /// Everything received so far.
    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }
}

/// The site's upload endpoint: `tests/rig/tus-site/site.cjs`, the tus project's own Node.js
/// server (installed by `scripts/deps.sh` into `$DECKCAST_CACHE/tus-site`) behind `token`,
/// storing into `dir` and logging each request to `dir/site.jsonl`; `flags` are the script's
/// (`--cut-at-half`, `--corrupt`). Stopped (by PID) when dropped.
#[derive(Debug)]
pub struct TusSite {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Where it stores uploads (each as `<id>` with `<id>.json`).
    pub dir: std::path::PathBuf,
}

impl TusSite {
    /// Starts it on a free port.
    pub fn start(token: &str, dir: &std::path::Path, flags: &[&str]) -> TusSite {
        let cache = std::env::var_os("DECKCAST_CACHE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| "/var/cache/deckcast".into());
        let modules = cache.join("tus-site/node_modules");
        assert!(
            modules.join("@tus/server").is_dir(),
            "{}: the tus server is not installed (scripts/deps.sh installs it)",
            modules.display()
        );
        let port = crate::util::free_port().unwrap();
        let child = Command::new("node")
            .arg(workspace_root().join("tests/rig/tus-site/site.cjs"))
            .arg(port.to_string())
            .arg(dir.join("store"))
            .arg(dir.join("site.jsonl"))
            .args(flags)
            .env("NODE_PATH", &modules)
            .env("SITE_TOKEN", token)
            .stdin(Stdio::null())
            .spawn()
            .expect("node is installed by scripts/deps.sh");
        wait_for("the tus site", Duration::from_secs(20), || {
            Ok(crate::util::port_open(port).then_some(()))
        })
        .unwrap();
        TusSite {
            child,
            port,
            dir: dir.to_owned(),
        }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What it logged: one JSON value per request and event.
    pub fn log(&self) -> Vec<Value> {
        received(&self.dir.join("site.jsonl"))
    }
}

impl Drop for TusSite {
    fn drop(&mut self) {
        let _ = stop_pid(self.child.id(), "TERM", Duration::from_secs(5));
        let _ = self.child.wait();
    }
}
