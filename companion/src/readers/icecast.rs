//! A built-in Icecast SOURCE receiver on loopback: Traktor and Mixxx "broadcast" to it (SOURCE or
//! PUT, Ogg Vorbis or Opus), and every comment header in the stream (`ARTIST`, `TITLE`,
//! `ALBUM`, a new one per track in a chained Ogg stream) becomes the current track. Streams
//! that carry no comments can update the title with Icecast's `GET /admin/metadata?mode=updinfo&
//! song=Artist%20-%20Title`. The audio itself is discarded (it is what the audience hears, so
//! the titles in it are the played tracks).
//!
//! Only DJ software may write the overlay: every request must carry the configured source password
//! (HTTP Basic, any user name, as Icecast's `source` user); requests a browser sends (with
//! `Origin`, `Referer` or `Sec-Fetch-*`, or naming another `Host`) are refused, so a web page the DJ
//! opens cannot put text on stream. Bounded: 4 sources at once, 5 s to send the request head, 60 s
//! of silence, 8 Ogg streams with a partial packet of at most 1 MiB each.
//!
//! Threads: one tokio task per connection.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use deckcast_secrets::Secret;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};

use super::Track;

/// Sources connected at once.
const MAX_CONNECTIONS: usize = 4;
/// Time to send the request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// A source that sends nothing this long is dropped.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Ogg logical streams with a partial packet kept at once.
const MAX_PARTIAL_STREAMS: usize = 8;
/// Longest request head.
const MAX_HEAD: usize = 16 * 1024;

/// Reassembles Ogg packets from pages and reports comment headers.
#[derive(Debug, Default)]
pub struct OggComments {
    buf: Vec<u8>,
    partial: HashMap<u32, Vec<u8>>,
}

fn comments(packet: &[u8]) -> Option<Vec<(String, String)>> {
    let body = packet
        .strip_prefix(b"\x03vorbis")
        .or_else(|| packet.strip_prefix(b"OpusTags"))?;
    let u32_at = |d: &[u8], i: usize| -> Option<usize> {
        Some(u32::from_le_bytes(d.get(i..i + 4)?.try_into().ok()?) as usize)
    };
    let vendor = u32_at(body, 0)?;
    let mut at = 4 + vendor;
    let count = u32_at(body, at)?;
    at += 4;
    let mut out = Vec::new();
    for _ in 0..count.min(1000) {
        let len = u32_at(body, at)?;
        at += 4;
        let text = String::from_utf8_lossy(body.get(at..at + len)?).into_owned();
        at += len;
        if let Some((k, v)) = text.split_once('=') {
            out.push((k.to_ascii_uppercase(), v.trim().to_owned()));
        }
    }
    Some(out)
}

/// The track a comment list describes (a lone `TITLE` of "Artist - Title" is split).
pub fn track_of(tags: &[(String, String)]) -> Option<Track> {
    let get = |k: &str| {
        tags.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let title = get("TITLE")?;
    let (artist, title) = match get("ARTIST") {
        Some(a) => (a, title),
        None => match title.split_once(" - ") {
            Some((a, t)) => (a.trim().to_owned(), t.trim().to_owned()),
            None => (String::new(), title),
        },
    };
    Some(Track {
        artist,
        title,
        album: get("ALBUM"),
        bpm: get("BPM").and_then(|b| b.parse().ok()),
    })
}

impl OggComments {
    /// Feeds stream bytes; returns the tracks of comment headers completed by them.
    pub fn push(&mut self, data: &[u8]) -> Vec<Track> {
        self.buf.extend_from_slice(data);
        let mut found = Vec::new();
        loop {
            let Some(start) = self.buf.windows(4).position(|w| w == b"OggS") else {
                // Keep a possible partial capture pattern.
                let keep = self.buf.len().min(3);
                self.buf.drain(..self.buf.len() - keep);
                break;
            };
            self.buf.drain(..start);
            if self.buf.len() < 27 {
                break;
            }
            let nseg = self.buf[26] as usize;
            if self.buf.len() < 27 + nseg {
                break;
            }
            let lacing = &self.buf[27..27 + nseg];
            let body_len: usize = lacing.iter().map(|&l| l as usize).sum();
            let total = 27 + nseg + body_len;
            if self.buf.len() < total {
                break;
            }
            let serial =
                u32::from_le_bytes([self.buf[14], self.buf[15], self.buf[16], self.buf[17]]);
            let continued = self.buf[5] & 1 != 0;
            let mut pos = 27 + nseg;
            let lacing = lacing.to_vec();
            let mut packet = if continued {
                self.partial.remove(&serial).unwrap_or_default()
            } else {
                self.partial.remove(&serial);
                Vec::new()
            };
            for l in lacing {
                packet.extend_from_slice(&self.buf[pos..pos + l as usize]);
                pos += l as usize;
                if l < 255 {
                    if let Some(t) = comments(&packet).and_then(|c| track_of(&c)) {
                        found.push(t);
                    }
                    packet.clear();
                }
            }
            if !packet.is_empty() && packet.len() < 1 << 20 {
                if self.partial.len() >= MAX_PARTIAL_STREAMS {
                    // A stream that interleaves this many logical streams is not DJ software.
                    self.partial.clear();
                }
                self.partial.insert(serial, packet);
            }
            self.buf.drain(..total);
        }
        found
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a request is refused, with the status line sent back.
fn refusal(port: u16, password: &Secret, headers: &[(String, String)]) -> Option<&'static [u8]> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    // Browsers mark what they send; DJ software sends none of these.
    if headers
        .iter()
        .any(|(k, _)| k == "origin" || k == "referer" || k.starts_with("sec-fetch-"))
    {
        return Some(b"HTTP/1.0 403 Forbidden\r\n\r\n");
    }
    if let Some(host) = header("host") {
        let ok = ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .any(|h| host == *h || host == format!("{h}:{port}"));
        if !ok {
            return Some(b"HTTP/1.0 403 Forbidden\r\n\r\n");
        }
    }
    let given = header("authorization")
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|up| up.split_once(':').map(|(_, p)| p.to_owned()));
    match given {
        Some(p) if constant_time_eq(p.as_bytes(), password.expose().as_bytes()) => None,
        _ => Some(
            b"HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"Icecast2 Server\"\r\n\r\n",
        ),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads the request head (bounded in size and time).
async fn read_head(sock: &mut BufReader<TcpStream>) -> std::io::Result<Option<String>> {
    let mut head = Vec::new();
    let read = async {
        loop {
            let n = sock.read_until(b'\n', &mut head).await?;
            if n == 0 || head.len() > MAX_HEAD {
                return Ok(false);
            }
            if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
                return Ok(true);
            }
        }
    };
    match tokio::time::timeout(HEAD_TIMEOUT, read).await {
        Ok(Ok(true)) => Ok(Some(String::from_utf8_lossy(&head).into_owned())),
        Ok(Ok(false)) | Err(_) => Ok(None),
        Ok(Err(e)) => Err(e),
    }
}

async fn connection(
    sock: TcpStream,
    port: u16,
    password: Arc<Secret>,
    tx: mpsc::Sender<Track>,
) -> std::io::Result<()> {
    let mut sock = BufReader::new(sock);
    let Some(head) = read_head(&mut sock).await? else {
        return Ok(());
    };
    let mut lines = head.lines();
    let request = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if let Some(status) = refusal(port, &password, &headers) {
        sock.get_mut().write_all(status).await?;
        return Ok(());
    }
    if method == "GET" && target.starts_with("/admin/metadata") {
        let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
        let song = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "song")
            .map(|(_, v)| percent_decode(v));
        if let Some(t) = song.and_then(|s| track_of(&[("TITLE".into(), s)])) {
            let _ = tx.send(t).await;
        }
        sock.get_mut().write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n<?xml version=\"1.0\"?>\n<iceresponse><message>Metadata update successful</message><return>1</return></iceresponse>\n").await?;
        return Ok(());
    }
    if method != "SOURCE" && method != "PUT" {
        sock.get_mut()
            .write_all(b"HTTP/1.0 405 Method Not Allowed\r\n\r\n")
            .await?;
        return Ok(());
    }
    if headers
        .iter()
        .any(|(k, v)| k == "expect" && v.eq_ignore_ascii_case("100-continue"))
    {
        sock.get_mut()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await?;
    }
    sock.get_mut().write_all(b"HTTP/1.0 200 OK\r\n\r\n").await?;
    let mut ogg = OggComments::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match tokio::time::timeout(IDLE_TIMEOUT, sock.read(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()), // silent for too long
        };
        if n == 0 {
            return Ok(());
        }
        for t in ogg.push(&buf[..n]) {
            let _ = tx.send(t).await;
        }
    }
}

/// Listens on 127.0.0.1:`port` for sources that know `password` until `stop` turns true (open
/// connections end then too).
pub async fn serve(
    port: u16,
    password: Secret,
    tx: mpsc::Sender<Track>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!("Icecast receiver listening on 127.0.0.1:{port}");
    let password = Arc::new(password);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let sock = match accepted {
                    Ok((sock, _)) => sock,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little, keep listening.
                        tracing::warn!("Icecast receiver: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    let mut sock = sock;
                    let _ = sock.write_all(b"HTTP/1.0 503 Service Unavailable\r\n\r\n").await;
                    continue;
                };
                let (tx, password, mut stop) = (tx.clone(), Arc::clone(&password), stop.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        r = connection(sock, port, password, tx) => {
                            if let Err(e) = r {
                                tracing::debug!("Icecast source: {e}");
                            }
                        }
                        _ = stop.wait_for(|s| *s) => {}
                    }
                    drop(slot);
                });
            }
            _ = stop.changed() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(serial: u32, seq: u32, flags: u8, packets: &[&[u8]]) -> Vec<u8> {
        let mut lacing = Vec::new();
        let mut body = Vec::new();
        for p in packets {
            let mut left = p.len();
            while left >= 255 {
                lacing.push(255u8);
                left -= 255;
            }
            lacing.push(left as u8);
            body.extend_from_slice(p);
        }
        let mut v = b"OggS".to_vec();
        v.push(0);
        v.push(flags);
        v.extend(0u64.to_le_bytes());
        v.extend(serial.to_le_bytes());
        v.extend(seq.to_le_bytes());
        v.extend(0u32.to_le_bytes()); // CRC (not checked)
        v.push(lacing.len() as u8);
        v.extend(lacing);
        v.extend(body);
        v
    }

    fn vorbis_comments(tags: &[&str]) -> Vec<u8> {
        let mut v = b"\x03vorbis".to_vec();
        let vendor = b"Lavf";
        v.extend((vendor.len() as u32).to_le_bytes());
        v.extend(vendor);
        v.extend((tags.len() as u32).to_le_bytes());
        for t in tags {
            v.extend((t.len() as u32).to_le_bytes());
            v.extend(t.as_bytes());
        }
        v.push(1);
        v
    }

    #[test]
    fn chained_ogg_streams_report_each_tracks_comments() {
        let mut ogg = OggComments::default();
        let long_tag = format!("COMMENT={}", "x".repeat(600)); // spans several lacing values
        let c1 = vorbis_comments(&["ARTIST=Daft Punk", "TITLE=One More Time", &long_tag]);
        let c2 = vorbis_comments(&["TITLE=Stardust - Music Sounds Better With You"]);
        let mut stream = page(1, 0, 2, &[b"\x01vorbis-ident"]);
        stream.extend(page(1, 1, 0, &[&c1, b"\x05vorbis-setup"]));
        stream.extend(page(1, 2, 0, &[&[0u8; 300]]));
        stream.extend(page(2, 0, 2, &[b"\x01vorbis-ident"]));
        stream.extend(page(2, 1, 0, &[&c2]));
        // Fed in awkward pieces, as TCP delivers it.
        let mut seen = Vec::new();
        for piece in stream.chunks(37) {
            seen.extend(ogg.push(piece));
        }
        let got: Vec<(String, String)> = seen.into_iter().map(|t| (t.artist, t.title)).collect();
        assert_eq!(
            got,
            [
                ("Daft Punk".to_string(), "One More Time".to_string()),
                (
                    "Stardust".to_string(),
                    "Music Sounds Better With You".to_string()
                )
            ]
        );
        assert_eq!(percent_decode("A%20-%20B+C"), "A - B C");
    }

    #[tokio::test]
    async fn sources_and_metadata_updates_reach_the_channel() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (tx, mut rx) = mpsc::channel(4);
        let (_stop_tx, stop) = watch::channel(false);
        // "source:x" in Basic auth is c291cmNlOng=.
        tokio::spawn(serve(port, Secret::new("x").unwrap(), tx, stop));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(b"PUT /live.ogg HTTP/1.1\r\nAuthorization: Basic c291cmNlOng=\r\nExpect: 100-continue\r\n\r\n").await.unwrap();
        let mut ack = [0u8; 64];
        let n = s.read(&mut ack).await.unwrap();
        assert!(String::from_utf8_lossy(&ack[..n]).contains("100 Continue"));
        s.write_all(&page(
            7,
            0,
            2,
            &[&vorbis_comments(&["ARTIST=A", "TITLE=T"])],
        ))
        .await
        .unwrap();
        let t = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((t.artist.as_str(), t.title.as_str()), ("A", "T"));
        let mut m = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        m.write_all(
            b"GET /admin/metadata?mount=/live&mode=updinfo&song=Art%20-%20Tune HTTP/1.0\r\nAuthorization: Basic c291cmNlOng=\r\n\r\n",
        )
        .await
        .unwrap();
        let t = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((t.artist.as_str(), t.title.as_str()), ("Art", "Tune"));
    }

    /// Sends `head` and returns the status line of the answer.
    async fn status_of(port: u16, head: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 256];
        let n = s.read(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[tokio::test]
    async fn web_pages_and_wrong_passwords_cannot_write_the_overlay() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (tx, mut rx) = mpsc::channel(4);
        let (_stop_tx, stop) = watch::channel(false);
        tokio::spawn(serve(port, Secret::new("x").unwrap(), tx, stop));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let update = "GET /admin/metadata?mode=updinfo&song=Evil%20-%20Text HTTP/1.1\r\n";
        let good = "Authorization: Basic c291cmNlOng=\r\n";
        for (head, status) in [
            // What an <img src=...> on any site sends: no credentials.
            (
                format!("{update}Host: 127.0.0.1:{port}\r\nSec-Fetch-Site: cross-site\r\n\r\n"),
                "403",
            ),
            (
                format!("{update}Referer: https://evil.example/\r\n{good}\r\n"),
                "403",
            ),
            (
                format!("{update}Origin: https://evil.example\r\n{good}\r\n"),
                "403",
            ),
            (format!("{update}Host: evil.example\r\n{good}\r\n"), "403"),
            (format!("{update}\r\n"), "401"),
            // "source:y": the wrong password.
            (
                format!("{update}Authorization: Basic c291cmNlOnk=\r\n\r\n"),
                "401",
            ),
        ] {
            let got = status_of(port, &head).await;
            assert!(got.contains(status), "{head:?} -> {got}");
        }
        assert!(rx.try_recv().is_err(), "nothing reached the overlay");
        // A request head that never ends is dropped after the head timeout, not held forever.
        let mut slow = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        slow.write_all(b"PUT /live.ogg HTTP/1.1\r\n").await.unwrap();
        let mut rest = [0u8; 8];
        let closed = tokio::time::timeout(HEAD_TIMEOUT * 2, slow.read(&mut rest)).await;
        assert!(matches!(closed, Ok(Ok(0))), "{closed:?}");
        // Many interleaved Ogg streams keep a bounded number of partial packets.
        let mut ogg = OggComments::default();
        for serial in 0..100u32 {
            let mut p = page(serial, 0, 0, &[&[1u8; 255]]);
            p.truncate(p.len()); // one lacing value of 255: the packet continues
            ogg.push(&p);
        }
        assert!(
            ogg.partial.len() <= MAX_PARTIAL_STREAMS,
            "{}",
            ogg.partial.len()
        );
    }
}
