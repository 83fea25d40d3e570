//! What the companion reads from outside over HTTP (calendar feeds, the streamer's site): bodies
//! capped while they stream in, and URLs shortened for messages. A private calendar URL or a
//! Discord/Slack webhook URL is a credential, so messages name only scheme, host and port.
//!
//! Threads: async, on the caller's task.

/// Reads `resp`'s body, refusing more than `max` bytes (checked against `Content-Length` first,
/// then while the body arrives). Errors never contain the URL.
pub async fn body_limited(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let too_big = || format!("the answer is larger than {}", human_bytes(max));
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("reading the answer: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > max {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `scheme://host[:port]/…` of `url` (no user info, path, query or fragment): safe to log.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let rest = if u.path() == "/" && u.query().is_none() {
                ""
            } else {
                "/…"
            };
            format!("{}://{host}{port}{rest}", u.scheme())
        }
        Err(_) => "(an invalid URL)".into(),
    }
}

/// Serializes a URL as [`redact_url`] shows it (for `#[serde(serialize_with)]`).
pub fn serialize_redacted<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url))
}

/// [`serialize_redacted`] for an optional URL.
pub fn serialize_redacted_opt<S: serde::Serializer>(
    url: &Option<String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(u) => s.serialize_some(&redact_url(u)),
        None => s.serialize_none(),
    }
}

/// Why `url` may not carry a secret (a token, signed events, pulled keys): it must be `https://`,
/// or `http://` to this computer (127.0.0.0/8, `[::1]`, `localhost`), without user info.
pub fn check_secret_carrying_url(url: &str) -> Result<(), &'static str> {
    let u = reqwest::Url::parse(url).map_err(|_| "it is not a valid URL")?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err("it must not contain a user name or password");
    }
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("it has no host"),
    };
    match u.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(
            "it must be https:// (http:// only to this computer: what it carries would cross the network in clear text)",
        ),
        _ => Err("it must be an https:// address"),
    }
}

/// A `reqwest` error as text without the URL it carries.
pub fn error_text(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

fn human_bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{} KiB", n >> 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_everything_that_can_be_a_secret() {
        assert_eq!(
            redact_url(
                "https://calendar.google.com/calendar/ical/x%40gmail.com/private-0123abcd/basic.ics"
            ),
            "https://calendar.google.com/…"
        );
        assert_eq!(
            redact_url("https://discord.com/api/webhooks/123/SeCrEt-ToKeN"),
            "https://discord.com/…"
        );
        assert_eq!(
            redact_url("http://user:pw@127.0.0.1:8080/hook?token=abc"),
            "http://127.0.0.1:8080/…"
        );
        assert_eq!(redact_url("https://example.com/"), "https://example.com");
        assert_eq!(redact_url("not a url"), "(an invalid URL)");
    }

    #[test]
    fn secrets_travel_only_over_tls_or_loopback() {
        for ok in [
            "https://example.com/hooks",
            "http://127.0.0.1:8080/hook",
            "http://127.1.2.3/x",
            "http://[::1]:9/x",
            "http://localhost:3000/",
        ] {
            assert!(check_secret_carrying_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/hook",
            "http://192.168.1.10/hook",
            "http://127.0.0.1.evil.example/",
            "https://user:pw@example.com/",
            "ftp://example.com/",
            "not a url",
        ] {
            assert!(check_secret_carrying_url(bad).is_err(), "{bad}");
        }
    }
}
