//! Headless Chromium (Debian's `chromium`) driven over the Chrome DevTools Protocol: navigate,
//! evaluate JavaScript, take screenshots. Its own profile directory, a free debugging port on
//! loopback, stopped by PID.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_websockets::{ClientBuilder, MaybeTlsStream, Message, WebSocketStream};

use crate::util;

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A headless Chromium with one page.
#[derive(Debug)]
pub struct Browser {
    child: Child,
    profile: PathBuf,
    ws: Ws,
    next_id: u64,
}

/// The Chromium binary.
pub fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

impl Browser {
    /// Starts Chromium and attaches to its first page.
    pub async fn start() -> Result<Browser> {
        let bin = chromium().context("chromium is not installed (apt-get install chromium)")?;
        let port = util::free_port()?;
        let profile =
            std::env::temp_dir().join(format!("deckcast-chromium-{}", util::random_hex(6)?));
        std::fs::create_dir_all(&profile)?;
        let child = Command::new(bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--window-size=1400,1000",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--remote-debugging-port={port}"))
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromium")?;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let found = util::wait_for(
            "chromium's DevTools endpoint",
            Duration::from_secs(30),
            || {
                let Ok(r) = crate::http::send(
                    addr,
                    &crate::http::Request {
                        method: "GET",
                        path: "/json/list",
                        ..Default::default()
                    },
                ) else {
                    return Ok(None);
                };
                let list: Value = r.json().unwrap_or_default();
                Ok(list
                    .as_array()
                    .and_then(|a| a.iter().find(|t| t["type"] == "page"))
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_owned)))
            },
        );
        let mut child = child;
        let ws_url = match found {
            Ok(u) => u,
            Err(e) => {
                let _ = util::stop_pid(child.id(), "TERM", Duration::from_secs(5));
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&profile);
                return Err(e);
            }
        };
        let uri: ::http::Uri = ws_url.parse().context("DevTools URL")?;
        let (ws, _) = ClientBuilder::from_uri(uri)
            .connect()
            .await
            .context("connecting to DevTools")?;
        let mut b = Browser {
            child,
            profile,
            ws,
            next_id: 0,
        };
        b.call("Page.enable", json!({})).await?;
        b.call("Runtime.enable", json!({})).await?;
        Ok(b)
    }

    /// Sends a DevTools command and returns its result (events in between are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        self.ws
            .send(Message::text(
                json!({"id": id, "method": method, "params": params}).to_string(),
            ))
            .await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .with_context(|| format!("{method}: no answer"))?
                .context("DevTools connection closed")??;
            let Some(text) = msg.as_text() else { continue };
            let v: Value = serde_json::from_str(text)?;
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    bail!("{method}: {e}");
                }
                return Ok(v["result"].clone());
            }
        }
    }

    /// Loads `url`.
    pub async fn navigate(&mut self, url: &str) -> Result<()> {
        self.call("Page.navigate", json!({"url": url})).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(())
    }

    /// Evaluates `expr` in the page (promises awaited) and returns its JSON value.
    pub async fn eval(&mut self, expr: &str) -> Result<Value> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(e) = r.get("exceptionDetails") {
            bail!("evaluating {expr:?}: {e}");
        }
        Ok(r["result"]["value"].clone())
    }

    /// Polls `expr` until it is truthy (returns its value) or `timeout` passes.
    pub async fn wait_for(&mut self, what: &str, expr: &str, timeout: Duration) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let v = self.eval(expr).await.unwrap_or(Value::Null);
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return Ok(v);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("timed out after {timeout:?} waiting for {what} ({expr})");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Opens the dashboard at `base` (`http://127.0.0.1:PORT`), which sends a new browser to its
    /// login page, and logs in with `token`.
    pub async fn log_in(&mut self, base: &str, token: &str) -> Result<()> {
        self.navigate(&format!("{base}/")).await?;
        self.wait_for(
            "the login page",
            "location.pathname === '/login' && !!document.querySelector('#login')",
            Duration::from_secs(10),
        )
        .await?;
        self.eval(&format!(
            "document.querySelector('input[name=token]').value = {}; document.querySelector('#login button').click(); true",
            serde_json::json!(token)
        ))
        .await?;
        Ok(())
    }

    /// [`Browser::log_in`], then waits until the dashboard has its first snapshot.
    pub async fn open_dashboard(&mut self, base: &str, token: &str) -> Result<()> {
        self.log_in(base, token).await?;
        self.wait_for(
            "the dashboard",
            "location.pathname === '/' && !!window.deckcast.snapshot",
            Duration::from_secs(15),
        )
        .await?;
        Ok(())
    }

    /// Makes the page `width` × `height` CSS pixels, as a phone (`mobile`) or a desktop window.
    pub async fn set_viewport(&mut self, width: u32, height: u32, mobile: bool) -> Result<()> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        )
        .await?;
        // A phone has a touch screen (and `pointer: coarse`); a desktop has a mouse.
        self.call(
            "Emulation.setTouchEmulationEnabled",
            json!({"enabled": mobile, "maxTouchPoints": if mobile { 5 } else { 1 }}),
        )
        .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(())
    }

    /// Clicks the first element matching `selector` (as a mouse would, through the DOM); fails
    /// if nothing matches.
    pub async fn click(&mut self, selector: &str) -> Result<()> {
        let expr = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return false; e.click(); return true; }})()",
            json!(selector)
        );
        if self.eval(&expr).await? != json!(true) {
            bail!("nothing to click at {selector}");
        }
        Ok(())
    }

    /// Sets field `name` of the form at `form` to `value` (text, number, or `true`/`false` for
    /// a checkbox) and fires its `change` event.
    pub async fn fill(&mut self, form: &str, name: &str, value: &Value) -> Result<()> {
        let expr = format!(
            "(() => {{ const e = document.querySelector({form}).elements[{name}]; \
             if (e.type === 'checkbox') e.checked = {value}; else e.value = {value}; \
             e.dispatchEvent(new Event('change')); return true; }})()",
            form = json!(form),
            name = json!(name),
        );
        self.eval(&expr).await?;
        Ok(())
    }

    /// Taps the middle of the first element matching `selector` with a finger (scrolled into
    /// view first; a touch start and end through `Input.dispatchTouchEvent`: the page gets the
    /// touch events, then the click a tap makes). Fails if nothing matches.
    pub async fn tap(&mut self, selector: &str) -> Result<()> {
        let sel = serde_json::to_string(selector)?;
        let at = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({sel}); if (!e) return null; \
                 e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
                 return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
            ))
            .await?;
        let xy = at
            .as_array()
            .with_context(|| format!("nothing to tap at {selector}"))?;
        let point = json!([{"x": xy[0], "y": xy[1]}]);
        self.call(
            "Input.dispatchTouchEvent",
            json!({"type": "touchStart", "touchPoints": point}),
        )
        .await?;
        self.call(
            "Input.dispatchTouchEvent",
            json!({"type": "touchEnd", "touchPoints": []}),
        )
        .await?;
        Ok(())
    }

    /// A PNG screenshot of the page.
    pub async fn screenshot(&mut self) -> Result<Vec<u8>> {
        let r = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await?;
        let data = r["data"].as_str().context("screenshot data")?;
        Ok(base64::engine::general_purpose::STANDARD.decode(data)?)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = util::stop_pid(self.child.id(), "TERM", Duration::from_secs(5));
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
