//! Target and encoder-config validation, defaults and ids (pure functions, any thread).
use deckcast_protocol::targets::{
    CreateTarget, EncoderConfig, EncoderConfigInput, Platform, ReconnectPolicy, TargetConfig,
    UpdateTarget, Warning,
};
use deckcast_secrets::Secret;

/// Longest accepted display name (characters).
pub const MAX_NAME: usize = 100;
/// Longest accepted server URL (bytes).
pub const MAX_SERVER: usize = 2048;
/// Longest accepted stream key (bytes).
pub const MAX_KEY: usize = 1024;
/// Most targets per profile.
pub const MAX_TARGETS: usize = 64;

/// A request was rejected; `InvalidValue` maps to the vendor error `invalid_value`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A value is out of range or malformed; the message names the field.
    #[error("{0}")]
    InvalidValue(String),
}

fn invalid(msg: impl Into<String>) -> ModelError {
    ModelError::InvalidValue(msg.into())
}

/// A new random id (12 hex digits).
pub fn new_id() -> String {
    let mut bytes = [0u8; 6];
    // getrandom only fails on exotic platforms; fall back to time-derived bits there.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes.copy_from_slice(&nanos.to_le_bytes()[..6]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a display name: non-empty after trimming, at most [`MAX_NAME`] characters, no control characters.
pub fn validate_name(name: &str) -> Result<String, ModelError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("name must not be empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(invalid(format!(
            "name is longer than {MAX_NAME} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("name must not contain control characters"));
    }
    Ok(name.to_owned())
}

/// Checks a server URL: `rtmp://` or `rtmps://`, a host, no spaces, at most [`MAX_SERVER`] bytes,
/// and no credentials: no `user:password@`, no `?query` or `#fragment` (where keys hide; the
/// server URL is shown in lists, exports, logs and the companion, the key never).
pub fn validate_server(server: &str) -> Result<String, ModelError> {
    let server = server.trim();
    if server.is_empty() {
        return Err(invalid("server URL must not be empty"));
    }
    if server.len() > MAX_SERVER {
        return Err(invalid(format!(
            "server URL is longer than {MAX_SERVER} bytes"
        )));
    }
    let lower = server.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("rtmp://")
        .or_else(|| lower.strip_prefix("rtmps://"))
        .ok_or_else(|| invalid("server URL must start with rtmp:// or rtmps://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(invalid(
            "server URL must not contain a user name or password (user:password@host); give the stream key as the key",
        ));
    }
    if rest.contains(['?', '#']) {
        return Err(invalid(
            "server URL must not contain a query or fragment (?… or #…); give the stream key as the key",
        ));
    }
    let host = authority;
    let host_only = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    if host_only.is_empty() || host_only.trim_matches(['[', ']']).is_empty() {
        return Err(invalid("server URL has no host name"));
    }
    if server.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "server URL must not contain spaces or control characters",
        ));
    }
    if let Some((_, port)) = host.rsplit_once(':')
        && !host.ends_with(']')
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(invalid("server URL has an invalid port"));
    }
    Ok(server.to_owned())
}

/// Checks a stream key: non-empty, at most [`MAX_KEY`] bytes, no whitespace or control characters.
pub fn validate_key(key: &str) -> Result<Secret, ModelError> {
    let trimmed = key.trim();
    if trimmed.len() > MAX_KEY {
        return Err(invalid(format!(
            "stream key is longer than {MAX_KEY} bytes"
        )));
    }
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "stream key must not contain spaces or control characters",
        ));
    }
    Secret::new(trimmed).ok_or_else(|| invalid("stream key must not be empty"))
}

/// Checks a reconnect policy's ranges.
pub fn validate_reconnect(p: ReconnectPolicy) -> Result<ReconnectPolicy, ModelError> {
    if !(1..=60).contains(&p.retry_delay_sec) {
        return Err(invalid("reconnect.retryDelaySec must be between 1 and 60"));
    }
    if p.max_retries > 1000 {
        return Err(invalid("reconnect.maxRetries must be at most 1000"));
    }
    Ok(p)
}

/// Builds (and validates) a dedicated encoder config from request fields over `base`.
pub fn encoder_config(
    id: String,
    base: Option<&EncoderConfig>,
    input: &EncoderConfigInput,
) -> Result<EncoderConfig, ModelError> {
    let d = base.cloned().unwrap_or_else(|| EncoderConfig {
        id: id.clone(),
        name: String::new(),
        encoder: "obs_x264".into(),
        bitrate_kbps: 2500,
        keyint_sec: 2,
        preset: "veryfast".into(),
        width: None,
        height: None,
        fps_divisor: 1,
        audio_bitrate_kbps: 160,
        audio_track: 1,
    });
    let c = EncoderConfig {
        id,
        name: input.name.clone().unwrap_or(d.name),
        encoder: input.encoder.clone().unwrap_or(d.encoder),
        bitrate_kbps: input.bitrate_kbps.unwrap_or(d.bitrate_kbps),
        keyint_sec: input.keyint_sec.unwrap_or(d.keyint_sec),
        preset: input.preset.clone().unwrap_or(d.preset),
        width: input.width.or(d.width),
        height: input.height.or(d.height),
        fps_divisor: input.fps_divisor.unwrap_or(d.fps_divisor),
        audio_bitrate_kbps: input.audio_bitrate_kbps.unwrap_or(d.audio_bitrate_kbps),
        audio_track: input.audio_track.unwrap_or(d.audio_track),
    };
    let name = if c.name.trim().is_empty() {
        format!("{} {} kbps", c.encoder, c.bitrate_kbps)
    } else {
        validate_name(&c.name)?
    };
    if c.encoder.is_empty()
        || c.encoder.len() > 64
        || !c
            .encoder
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    {
        return Err(invalid(
            "encoder must be an OBS encoder id such as obs_x264",
        ));
    }
    if !(100..=100_000).contains(&c.bitrate_kbps) {
        return Err(invalid("bitrateKbps must be between 100 and 100000"));
    }
    if !(1..=10).contains(&c.keyint_sec) {
        return Err(invalid("keyintSec must be between 1 and 10"));
    }
    if c.preset.len() > 32
        || c.preset
            .chars()
            .any(|ch| ch.is_whitespace() || ch.is_control())
    {
        return Err(invalid("preset must be a short word such as veryfast"));
    }
    match (c.width, c.height) {
        (None, None) => {}
        (Some(w), Some(h))
            if (16..=7680).contains(&w) && (16..=4320).contains(&h) && w % 2 == 0 && h % 2 == 0 => {
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                "width and height must be even and between 16x16 and 7680x4320",
            ));
        }
        _ => return Err(invalid("width and height must be given together")),
    }
    if !(1..=10).contains(&c.fps_divisor) {
        return Err(invalid("fpsDivisor must be between 1 and 10"));
    }
    if !(32..=512).contains(&c.audio_bitrate_kbps) {
        return Err(invalid("audioBitrateKbps must be between 32 and 512"));
    }
    if !(1..=6).contains(&c.audio_track) {
        return Err(invalid("audioTrack must be between 1 and 6"));
    }
    Ok(EncoderConfig { name, ..c })
}

/// A warning when `server`'s path has more segments than the platform's ingest path (YouTube's
/// is `/live2`: `/live2/abcd-efgh` carries the key, which would then show wherever the URL does).
pub fn server_warning(platform: Platform, server: &str) -> Option<String> {
    let segments = |url: &str| {
        url.split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(url)
            .split('/')
            .skip(1)
            .filter(|s| !s.is_empty())
            .count()
    };
    let preset = platform.preset().default_server?;
    (segments(server) > segments(preset)).then(|| {
        format!(
            "the server URL has more path than {platform:?}'s ingest URL ({preset}); if the stream key is part of it, move it to the key: the server URL is not secret"
        )
    })
}

/// The server for a new target: the given one, else the platform's default.
pub fn server_for(platform: Platform, server: Option<&str>) -> Result<String, ModelError> {
    match server.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => validate_server(s),
        None => platform
            .preset()
            .default_server
            .map(str::to_owned)
            .ok_or_else(|| {
                invalid(format!(
                    "{platform:?} has no default server: give a server URL"
                ))
            }),
    }
}

/// Builds a validated config for `CreateTarget` (the encoder choice is resolved by the caller).
pub fn new_target(req: &CreateTarget, id: String) -> Result<TargetConfig, ModelError> {
    Ok(TargetConfig {
        id,
        name: validate_name(&req.name)?,
        platform: req.platform,
        server: server_for(req.platform, req.server.as_deref())?,
        enabled: req.enabled.unwrap_or(true),
        sync_start: req.sync_start.unwrap_or(false),
        sync_stop: req.sync_stop.unwrap_or(false),
        reconnect: validate_reconnect(req.reconnect.unwrap_or_default())?,
        encoder: Default::default(),
    })
}

/// Applies `UpdateTarget` fields (except key and encoder) to a copy of `cfg`.
pub fn updated_target(cfg: &TargetConfig, req: &UpdateTarget) -> Result<TargetConfig, ModelError> {
    let mut c = cfg.clone();
    if let Some(n) = &req.name {
        c.name = validate_name(n)?;
    }
    if let Some(p) = req.platform {
        c.platform = p;
    }
    if let Some(s) = &req.server {
        c.server = validate_server(s)?;
    }
    if let Some(e) = req.enabled {
        c.enabled = e;
    }
    if let Some(v) = req.sync_start {
        c.sync_start = v;
    }
    if let Some(v) = req.sync_stop {
        c.sync_stop = v;
    }
    if let Some(r) = req.reconnect {
        c.reconnect = validate_reconnect(r)?;
    }
    Ok(c)
}

/// Warnings about settings a platform would refuse (dedicated encoders only: shared ones follow OBS).
pub fn platform_warnings(platform: Platform, enc: Option<&EncoderConfig>) -> Vec<Warning> {
    let preset = platform.preset();
    let mut out = Vec::new();
    if let Some(e) = enc {
        if e.bitrate_kbps > preset.max_video_kbps {
            out.push(Warning {
                code: "platform_limit".into(),
                message: format!(
                    "{platform:?} accepts at most {} kbps video; this target sends {} kbps",
                    preset.max_video_kbps, e.bitrate_kbps
                ),
            });
        }
        if e.keyint_sec > preset.max_keyint_sec {
            out.push(Warning {
                code: "platform_limit".into(),
                message: format!(
                    "{platform:?} needs a keyframe at least every {} s; this target uses {} s",
                    preset.max_keyint_sec, e.keyint_sec
                ),
            });
        }
    }
    out
}

/// Human sentence for a libobs output stop code (`OBS_OUTPUT_*`) and the output's last error.
pub fn stop_reason(code: i64, last_error: Option<&str>) -> String {
    let base = match code {
        -1 => "The server URL is invalid (bad path or host name)",
        -2 => "Could not connect to the server (refused, unreachable or wrong port)",
        -3 => "The server refused the stream (invalid or already used stream key)",
        -4 => "The output failed",
        -5 => "Disconnected from the server",
        -6 => "The server or encoder does not support this stream's settings",
        -7 => "No space left",
        -8 => "The encoder failed",
        _ => "The output stopped unexpectedly",
    };
    match last_error.map(str::trim).filter(|e| !e.is_empty()) {
        Some(detail) => format!("{base}: {detail}"),
        None => format!("{base}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        assert_eq!(
            validate_server(" rtmp://127.0.0.1:1935/live ").unwrap(),
            "rtmp://127.0.0.1:1935/live"
        );
        assert!(validate_server("rtmps://live-api-s.facebook.com:443/rtmp/").is_ok());
        assert!(validate_server("rtmp://[::1]:1935/live").is_ok());
        for bad in [
            "",
            "http://x/live",
            "rtmp://",
            "rtmp:///live",
            "rtmp://host:99999/x",
            "rtmp://host:0/x",
            "rtmp://ho st/x",
            "ftp://h",
            // Credentials never go in the URL.
            "rtmp://user:sk_live_1@host/live",
            "rtmps://k@host:443/app",
            "rtmp://host/live?key=sk_live_1",
            "rtmp://host/live?streamkey",
            "rtmp://host/live#sk_live_1",
        ] {
            assert!(validate_server(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_server(&format!("rtmp://h/{}", "a".repeat(MAX_SERVER))).is_err());
        let err = validate_server("rtmp://u:p@h/live")
            .unwrap_err()
            .to_string();
        assert!(err.contains("user name or password"), "{err}");
        assert!(!err.contains("u:p"), "{err}");
    }

    #[test]
    fn a_path_longer_than_the_presets_is_a_warning() {
        assert!(server_warning(Platform::Youtube, "rtmp://a.rtmp.youtube.com/live2").is_none());
        assert!(server_warning(Platform::Youtube, "rtmp://a.rtmp.youtube.com/live2/").is_none());
        let w = server_warning(
            Platform::Youtube,
            "rtmp://a.rtmp.youtube.com/live2/abcd-1234",
        )
        .unwrap();
        assert!(w.contains("stream key"), "{w}");
        assert!(!w.contains("abcd-1234"), "{w}");
        assert!(server_warning(Platform::Twitch, "rtmp://live.twitch.tv/app/live_1_x").is_some());
        assert!(server_warning(Platform::Custom, "rtmp://h/a/b/c").is_none());
    }

    #[test]
    fn keys_and_names() {
        assert_eq!(validate_key(" live_123 ").unwrap().expose(), "live_123");
        assert!(validate_key("").is_err());
        assert!(validate_key("a b").is_err());
        assert!(validate_key(&"k".repeat(MAX_KEY + 1)).is_err());
        assert_eq!(validate_name("  Twitch main ").unwrap(), "Twitch main");
        assert!(validate_name("").is_err());
        assert!(validate_name(&"n".repeat(MAX_NAME + 1)).is_err());
        assert!(validate_name("a\nb").is_err());
    }

    #[test]
    fn presets_fill_servers() {
        assert_eq!(
            server_for(Platform::Twitch, None).unwrap(),
            "rtmp://live.twitch.tv/app"
        );
        assert!(
            server_for(Platform::Facebook, None)
                .unwrap()
                .starts_with("rtmps://")
        );
        assert!(server_for(Platform::Custom, None).is_err());
        assert!(server_for(Platform::Tiktok, Some("")).is_err());
        assert_eq!(
            server_for(Platform::Tiktok, Some("rtmp://push.tiktok/x")).unwrap(),
            "rtmp://push.tiktok/x"
        );
    }

    #[test]
    fn encoder_configs_default_and_validate() {
        let c = encoder_config("e1".into(), None, &EncoderConfigInput::default()).unwrap();
        assert_eq!(
            (
                c.encoder.as_str(),
                c.bitrate_kbps,
                c.keyint_sec,
                c.fps_divisor,
                c.audio_track
            ),
            ("obs_x264", 2500, 2, 1, 1)
        );
        assert_eq!(c.name, "obs_x264 2500 kbps");
        let small = EncoderConfigInput {
            width: Some(320),
            height: Some(180),
            bitrate_kbps: Some(600),
            ..Default::default()
        };
        let s = encoder_config("e2".into(), None, &small).unwrap();
        assert_eq!((s.width, s.height), (Some(320), Some(180)));
        // Updating keeps fields that are not given.
        let u = encoder_config(
            "e2".into(),
            Some(&s),
            &EncoderConfigInput {
                bitrate_kbps: Some(900),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((u.width, u.bitrate_kbps), (Some(320), 900));
        for bad in [
            EncoderConfigInput {
                width: Some(320),
                ..Default::default()
            },
            EncoderConfigInput {
                width: Some(321),
                height: Some(180),
                ..Default::default()
            },
            EncoderConfigInput {
                bitrate_kbps: Some(5),
                ..Default::default()
            },
            EncoderConfigInput {
                audio_track: Some(7),
                ..Default::default()
            },
            EncoderConfigInput {
                encoder: Some("x264; rm".into()),
                ..Default::default()
            },
            EncoderConfigInput {
                fps_divisor: Some(0),
                ..Default::default()
            },
        ] {
            assert!(encoder_config("x".into(), None, &bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stop_reasons_are_sentences() {
        assert!(stop_reason(-2, None).starts_with("Could not connect"));
        assert_eq!(
            stop_reason(-3, Some("  ")),
            "The server refused the stream (invalid or already used stream key)."
        );
        assert!(stop_reason(-5, Some("timeout")).ends_with(": timeout"));
        assert!(stop_reason(42, None).contains("unexpectedly"));
    }

    #[test]
    fn ids_are_unique_hex() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 12);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn platform_limits_warn() {
        let mut e = encoder_config("e".into(), None, &EncoderConfigInput::default()).unwrap();
        assert!(platform_warnings(Platform::Twitch, Some(&e)).is_empty());
        e.bitrate_kbps = 12_000;
        assert_eq!(platform_warnings(Platform::Twitch, Some(&e)).len(), 1);
        assert!(platform_warnings(Platform::Twitch, None).is_empty());
    }
}
