//! A minimal HTTP/1.1 client over a TCP socket (one request per connection, `Connection: close`;
//! bodies by Content-Length, chunked or until EOF), plus a Server-Sent Events reader.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A request to send.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    /// Method.
    pub method: &'a str,
    /// Path and query.
    pub path: &'a str,
    /// Extra headers.
    pub headers: Vec<(&'a str, String)>,
    /// JSON or raw body.
    pub body: Option<Vec<u8>>,
}

fn write_request(stream: &mut TcpStream, addr: SocketAddr, req: &Request) -> Result<()> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n",
        req.method, req.path
    );
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = &req.body {
        if !req
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some(b) = &req.body {
        stream.write_all(b)?;
    }
    Ok(())
}

fn read_head(reader: &mut impl BufRead) -> Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {line:?}"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    Ok((status, headers))
}

/// Sends `req` to `addr` and reads the whole response.
pub fn send(addr: SocketAddr, req: &Request) -> Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write_request(&mut stream, addr, req)?;
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader)?;
    let mut body = Vec::new();
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<u64>().ok());
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        let mut chunks = Chunked::new(reader);
        chunks.read_to_end(&mut body)?;
    } else if let Some(n) = length {
        // Some servers (Chromium's DevTools) keep the connection open: trust Content-Length.
        reader.take(n).read_to_end(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Decodes a chunked body.
#[derive(Debug)]
struct Chunked<R> {
    inner: R,
    left: u64,
    done: bool,
}

impl<R: BufRead> Chunked<R> {
    fn new(inner: R) -> Self {
        Chunked {
            inner,
            left: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            self.inner.read_line(&mut line)?;
            if line.trim().is_empty() {
                // The CRLF after the previous chunk.
                line.clear();
                self.inner.read_line(&mut line)?;
            }
            let size = line.trim().split(';').next().unwrap_or("0");
            self.left = u64::from_str_radix(size, 16).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad chunk size {line:?}"),
                )
            })?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let n = buf.len().min(self.left as usize);
        let n = self.inner.read(&mut buf[..n])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// An HTTP client for one server with an optional bearer token.
#[derive(Debug, Clone)]
pub struct Client {
    /// Server address.
    pub addr: SocketAddr,
    /// Bearer token.
    pub token: Option<String>,
}

impl Client {
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Response> {
        self.request_with(method, path, body, &[])
    }

    fn request_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> Result<Response> {
        let mut headers: Vec<(&str, String)> =
            extra.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        if let Some(t) = &self.token {
            headers.push(("Authorization", format!("Bearer {t}")));
        }
        send(
            self.addr,
            &Request {
                method,
                path,
                headers,
                body: body.map(|b| b.to_string().into_bytes()),
            },
        )
    }

    /// GET.
    pub fn get(&self, path: &str) -> Result<Response> {
        self.request("GET", path, None)
    }

    /// GET with extra request headers (`Range`, ...).
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Result<Response> {
        self.request_with("GET", path, None, headers)
    }

    /// POST with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Response> {
        self.request("POST", path, Some(body))
    }

    /// Any method with an optional JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Response> {
        self.request(method, path, body)
    }

    /// GET, expecting 200 and JSON.
    pub fn get_json(&self, path: &str) -> Result<Value> {
        let r = self.get(path)?;
        if r.status != 200 {
            bail!("GET {path}: {} {}", r.status, r.text());
        }
        r.json()
    }
}

/// A Server-Sent Events stream.
pub struct EventStream {
    reader: BufReader<Box<dyn Read + Send>>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

/// One SSE event.
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    /// `event:` field.
    pub event: String,
    /// `data:` lines joined.
    pub data: String,
}

impl EventStream {
    /// Opens `path` with the bearer token.
    pub fn open(addr: SocketAddr, path: &str, token: &str) -> Result<EventStream> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        write_request(
            &mut stream,
            addr,
            &Request {
                method: "GET",
                path,
                headers: vec![
                    ("Authorization", format!("Bearer {token}")),
                    ("Accept", "text/event-stream".into()),
                ],
                body: None,
            },
        )?;
        let mut head = BufReader::new(stream);
        let (status, headers) = read_head(&mut head)?;
        if status != 200 {
            bail!("SSE {path}: HTTP {status}");
        }
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
        let body: Box<dyn Read + Send> = if chunked {
            Box::new(Chunked::new(head))
        } else {
            Box::new(head)
        };
        Ok(EventStream {
            reader: BufReader::new(body),
        })
    }

    /// The next event (comments and keep-alives skipped).
    pub fn next_event(&mut self) -> Result<SseEvent> {
        let mut ev = SseEvent::default();
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("event stream ended");
            }
            let l = line.trim_end_matches(['\r', '\n']);
            if l.is_empty() {
                if !ev.data.is_empty() || !ev.event.is_empty() {
                    return Ok(ev);
                }
                continue;
            }
            if let Some(v) = l.strip_prefix("event:") {
                ev.event = v.trim().to_owned();
            } else if let Some(v) = l.strip_prefix("data:") {
                if !ev.data.is_empty() {
                    ev.data.push('\n');
                }
                ev.data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
    }
}
