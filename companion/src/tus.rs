//! The client side of the tus 1.0.0 resumable-upload protocol (core + creation,
//! <https://tus.io/protocols/resumable-upload>), which is how a recording reaches the
//! streamer's site (`docs/platform-api.md`, "Upload: recordings").
//!
//! Three requests: `POST` creates an upload (`Upload-Length`, `Upload-Metadata`) and answers its
//! address in `Location`; `HEAD` on that address answers how much the site has
//! (`Upload-Offset`); `PATCH` sends bytes from that offset. Every request carries the site's
//! token, so an address the site answers must be on the site's own origin ([`resolve`]).
//! Answers are classified once here ([`TusError`]) so the uploader only decides: go on, wait
//! and retry, start again, or give up.
//!
//! Written here rather than taken from a crate: the Rust tus clients on crates.io are blocking
//! or pinned to old reqwest releases, and these three requests are all the contract needs.
//!
//! Threads: async, on the caller's task.
use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;

/// The protocol version every request and answer names.
pub const VERSION: &str = "1.0.0";
/// The status a site answers when the finished file's SHA-256 is not the one announced (the tus
/// checksum extension's "Checksum Mismatch").
pub const CHECKSUM_MISMATCH: u16 = 460;

/// Why a request did not do what it should.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TusError {
    /// The network or the site failed in a way that may pass (refused or cut connections,
    /// timeouts, 5xx, 408, 409, 423, 429): ask again where the site is.
    #[error("{0}")]
    Transient(String),
    /// The site no longer has the upload (404, 410): start again.
    #[error("{0}")]
    Gone(String),
    /// The site's copy of the whole file has another SHA-256 than the recording.
    #[error("the site's copy does not match the file (SHA-256 differs)")]
    Mismatch,
    /// The site refuses for good (another 4xx, or an answer that breaks the protocol).
    #[error("{0}")]
    Refused(String),
}

/// An upload's address, given the site's `Location` answer: relative addresses are taken on
/// `base`; any other origin (scheme, host, port) is refused, since the token goes with every
/// request to it.
pub fn resolve(base: &str, location: &str) -> Result<reqwest::Url, TusError> {
    let base = reqwest::Url::parse(base)
        .map_err(|_| TusError::Refused("the site's base URL is not valid".into()))?;
    let url = base.join(location).map_err(|_| {
        TusError::Refused("the site answered an upload address that is not a URL".into())
    })?;
    if url.origin() != base.origin() {
        return Err(TusError::Refused(format!(
            "the site answered an upload address on another origin ({}); the token is only sent to {}",
            crate::fetch::redact_url(url.as_str()),
            crate::fetch::redact_url(base.as_str()),
        )));
    }
    Ok(url)
}

/// Where uploads are created: `<base>/deckcast/uploads` (as the pull's addresses are made).
pub fn creation_url(base: &str) -> String {
    format!("{}/deckcast/uploads", base.trim_end_matches('/'))
}

/// `Upload-Metadata`: `key base64(value)` pairs, comma separated. Keys are ASCII without spaces
/// or commas (the caller's constants); values may be any text.
pub fn metadata(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k} {}",
                base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// What a status that is not the expected one means.
fn classify(what: &str, status: StatusCode) -> TusError {
    let text = format!("{what}: the site answered HTTP {status}");
    match status.as_u16() {
        CHECKSUM_MISMATCH => TusError::Mismatch,
        404 | 410 => TusError::Gone(text),
        408 | 409 | 423 | 425 | 429 => TusError::Transient(text),
        401 | 403 => TusError::Refused(format!("{text} (check the site's token)")),
        413 => TusError::Refused(format!("{text}: the file is larger than the site takes")),
        s if s >= 500 => TusError::Transient(text),
        _ => TusError::Refused(text),
    }
}

fn network(what: &str, e: reqwest::Error) -> TusError {
    TusError::Transient(format!("{what}: {}", crate::fetch::error_text(e)))
}

fn offset_header(what: &str, resp: &reqwest::Response) -> Result<u64, TusError> {
    resp.headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            TusError::Refused(format!(
                "{what}: the site's answer has no valid Upload-Offset"
            ))
        })
}

/// A site that speaks tus.
#[derive(Debug, Clone)]
pub struct Site<'a> {
    /// The HTTP client.
    pub http: &'a reqwest::Client,
    /// The site's base URL (the origin every address must share).
    pub base: &'a str,
    /// The site's token (`Authorization: Bearer`).
    pub token: &'a str,
}

impl Site<'_> {
    /// `POST <base>/deckcast/uploads`: a new upload of `length` bytes; its address.
    pub async fn create(&self, length: u64, metadata: &str) -> Result<reqwest::Url, TusError> {
        const WHAT: &str = "creating the upload";
        let url = resolve(self.base, &creation_url(self.base))?;
        let resp = self
            .http
            .post(url)
            .bearer_auth(self.token)
            .header("tus-resumable", VERSION)
            .header("upload-length", length.to_string())
            .header("upload-metadata", metadata)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| network(WHAT, e))?;
        if resp.status() != StatusCode::CREATED {
            return Err(classify(WHAT, resp.status()));
        }
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                TusError::Refused(format!("{WHAT}: the site's answer has no Location"))
            })?;
        resolve(self.base, location)
    }

    /// `HEAD <upload>`: how many bytes the site has.
    pub async fn offset(&self, upload: &str) -> Result<u64, TusError> {
        const WHAT: &str = "asking the site how much it has";
        let url = resolve(self.base, upload)?;
        let resp = self
            .http
            .head(url)
            .bearer_auth(self.token)
            .header("tus-resumable", VERSION)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| network(WHAT, e))?;
        if !resp.status().is_success() {
            return Err(classify(WHAT, resp.status()));
        }
        offset_header(WHAT, &resp)
    }

    /// `PATCH <upload>`: `chunk` at `offset`; the site's new offset. `timeout` bounds the whole
    /// request (the chunk's size at a slow uplink).
    pub async fn patch(
        &self,
        upload: &str,
        offset: u64,
        chunk: Vec<u8>,
        timeout: Duration,
    ) -> Result<u64, TusError> {
        const WHAT: &str = "sending the file";
        let url = resolve(self.base, upload)?;
        let resp = self
            .http
            .patch(url)
            .bearer_auth(self.token)
            .header("tus-resumable", VERSION)
            .header("upload-offset", offset.to_string())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/offset+octet-stream",
            )
            .body(chunk)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| network(WHAT, e))?;
        if resp.status() != StatusCode::NO_CONTENT && !resp.status().is_success() {
            return Err(classify(WHAT, resp.status()));
        }
        offset_header(WHAT, &resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_stay_on_the_sites_origin() {
        let base = "https://example.com/site/";
        assert_eq!(
            resolve(base, "/deckcast/uploads/abc").unwrap().as_str(),
            "https://example.com/deckcast/uploads/abc"
        );
        assert_eq!(
            resolve(base, &creation_url(base)).unwrap().as_str(),
            "https://example.com/site/deckcast/uploads"
        );
        assert_eq!(
            creation_url("http://127.0.0.1:9/"),
            "http://127.0.0.1:9/deckcast/uploads"
        );
        assert_eq!(
            resolve(base, "https://example.com/files/1")
                .unwrap()
                .as_str(),
            "https://example.com/files/1"
        );
        for other in [
            "https://evil.example/files/1",
            "http://example.com/files/1",
            "https://example.com:8443/files/1",
            "//evil.example/x",
        ] {
            let e = resolve(base, other).unwrap_err();
            assert!(
                matches!(&e, TusError::Refused(m) if m.contains("another origin")),
                "{other}: {e:?}"
            );
        }
    }

    #[test]
    fn metadata_is_base64_per_value() {
        assert_eq!(
            metadata(&[("filename", "Set – 1.mp4"), ("sha256", "ab")]),
            "filename U2V0IOKAkyAxLm1wNA==,sha256 YWI="
        );
    }

    #[test]
    fn answers_are_classified_once() {
        let c = |s: u16| classify("x", StatusCode::from_u16(s).unwrap());
        assert_eq!(c(460), TusError::Mismatch);
        assert!(matches!(c(404), TusError::Gone(_)));
        assert!(matches!(c(410), TusError::Gone(_)));
        for s in [408, 409, 423, 429, 500, 502, 503] {
            assert!(matches!(c(s), TusError::Transient(_)), "{s}");
        }
        for s in [400, 401, 403, 412, 413, 415] {
            assert!(matches!(c(s), TusError::Refused(_)), "{s}");
        }
        assert!(matches!(c(401), TusError::Refused(m) if m.contains("token")));
    }
}
