//! Prometheus text exposition (format 0.0.4) of the live snapshot: per-target state, bitrate,
//! frames, drops and reconnects; OBS CPU, fps and skipped frames; the main stream. No secrets:
//! targets are labelled by their position (`slot`), name and platform; their ids (which a program
//! impersonating OBS could use to ask for keys) only for a scrape that carries the API token.
use std::fmt::Write;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use deckcast_protocol::targets::TargetState;

use super::AppState;
use crate::alerts::Severity;
use crate::live::{ObsState, Snapshot, wire_name};

const STATES: [TargetState; 6] = [
    TargetState::Idle,
    TargetState::Connecting,
    TargetState::Live,
    TargetState::Reconnecting,
    TargetState::Stopping,
    TargetState::Error,
];

/// Prometheus metrics (no secrets; loopback only by default).
///
/// Target ids are labels only with the token (`Authorization: Bearer`); off this computer (LAN
/// mode) the token is needed at all.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "meta", security(()),
    responses(
        (status = 200, description = "Text exposition 0.0.4", content_type = "text/plain", body = String),
        (status = 401, description = "From the network in LAN mode without the token."),
    ))]
pub async fn handler(
    State(state): State<AppState>,
    peer: Option<axum::Extension<super::Peer>>,
    headers: HeaderMap,
) -> axum::response::Response {
    let ids = state.authenticated(&headers);
    // Off this computer (LAN mode) the metrics need the token like everything else.
    if !ids && state.lan.is_some() && peer.is_some_and(|p| !p.ip.is_loopback()) {
        return super::ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "metrics from another computer need the token: send 'Authorization: Bearer <token>'",
        )
        .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&state.app.live.get(), ids),
    )
        .into_response()
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &str, value: f64) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {value}");
        } else {
            let _ = writeln!(self.0, "{name}{{{labels}}} {value}");
        }
    }
}

/// The exposition text for `snap`, with target ids when `ids`.
pub fn render(snap: &Snapshot, ids: bool) -> String {
    let mut o = Out(String::with_capacity(4096));
    let connected = snap.obs.state == ObsState::Connected;
    o.family(
        "deckcast_obs_connected",
        "gauge",
        "1 while the companion is connected to OBS.",
    );
    o.sample("deckcast_obs_connected", "", f64::from(u8::from(connected)));
    o.family(
        "deckcast_main_stream_active",
        "gauge",
        "1 while OBS's own stream is live.",
    );
    o.sample(
        "deckcast_main_stream_active",
        "",
        f64::from(u8::from(snap.main_stream.active)),
    );
    if let Some(s) = &snap.stats {
        for (name, kind, help, v) in [
            (
                "deckcast_obs_cpu_ratio",
                "gauge",
                "OBS CPU use (1 = one core busy).",
                s.cpu_percent / 100.0,
            ),
            (
                "deckcast_obs_memory_bytes",
                "gauge",
                "OBS resident memory.",
                s.memory_mb * 1_048_576.0,
            ),
            (
                "deckcast_obs_fps",
                "gauge",
                "Frames OBS renders per second.",
                s.active_fps,
            ),
            (
                "deckcast_obs_frame_render_seconds",
                "gauge",
                "Average frame render time.",
                s.average_frame_render_ms / 1000.0,
            ),
            (
                "deckcast_obs_render_skipped_frames_total",
                "counter",
                "Frames the renderer skipped.",
                f64::from(s.render_skipped_frames),
            ),
            (
                "deckcast_obs_render_frames_total",
                "counter",
                "Frames rendered.",
                f64::from(s.render_total_frames),
            ),
            (
                "deckcast_obs_output_skipped_frames_total",
                "counter",
                "Frames skipped by encoding.",
                f64::from(s.output_skipped_frames),
            ),
            (
                "deckcast_obs_output_frames_total",
                "counter",
                "Frames encoded.",
                f64::from(s.output_total_frames),
            ),
        ] {
            o.family(name, kind, help);
            o.sample(name, "", v);
        }
    }
    let labels: Vec<String> = snap
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let id = if ids {
                format!("target=\"{}\",", escape(&t.id))
            } else {
                String::new()
            };
            format!(
                "{id}slot=\"{}\",name=\"{}\",platform=\"{}\"",
                i + 1,
                escape(&t.name),
                escape(&t.platform)
            )
        })
        .collect();
    o.family(
        "deckcast_target_state",
        "gauge",
        "1 for the target's current state, 0 for the others.",
    );
    for (t, l) in snap.targets.iter().zip(&labels) {
        for s in STATES {
            let name = wire_name(&s);
            o.sample(
                "deckcast_target_state",
                &format!("{l},state=\"{name}\""),
                f64::from(u8::from(t.state == s)),
            );
        }
    }
    type Field = fn(&crate::live::Tile) -> f64;
    let fields: [(&str, &str, &str, Field); 7] = [
        (
            "deckcast_target_sent_bytes_per_second",
            "gauge",
            "Bitrate sent to the target.",
            |t| t.kbps * 125.0,
        ),
        (
            "deckcast_target_fps",
            "gauge",
            "Frames per second sent to the target.",
            |t| t.fps,
        ),
        (
            "deckcast_target_frames_total",
            "counter",
            "Frames sent to the target.",
            |t| t.total_frames as f64,
        ),
        (
            "deckcast_target_dropped_frames_total",
            "counter",
            "Frames dropped for the target (network).",
            |t| t.dropped_frames as f64,
        ),
        (
            "deckcast_target_reconnects_total",
            "counter",
            "Reconnects of the target.",
            |t| f64::from(t.reconnects),
        ),
        (
            "deckcast_target_uptime_seconds",
            "gauge",
            "Seconds the target has been live.",
            |t| t.uptime_sec,
        ),
        (
            "deckcast_target_congestion",
            "gauge",
            "Output congestion (0-1).",
            |t| t.congestion,
        ),
    ];
    for (name, kind, help, f) in fields {
        o.family(name, kind, help);
        for (t, l) in snap.targets.iter().zip(&labels) {
            o.sample(name, l, f(t));
        }
    }
    o.family(
        "deckcast_target_encoder_bytes_per_second",
        "gauge",
        "The bitrate the target's encoders are set to (video + audio), where known.",
    );
    for (t, l) in snap.targets.iter().zip(&labels) {
        if let Some(k) = t.expected_kbps {
            o.sample(
                "deckcast_target_encoder_bytes_per_second",
                l,
                f64::from(k) * 125.0,
            );
        }
    }
    if let Some(a) = &snap.audio {
        for (name, help, v) in [
            (
                "deckcast_audio_peak_dbfs",
                "Loudest sample the stream's audio had in the last second (dBFS).",
                a.peak_dbfs,
            ),
            (
                "deckcast_audio_rms_dbfs",
                "RMS level of the stream's audio over the last second (dBFS).",
                a.rms_dbfs,
            ),
            (
                "deckcast_audio_silence_seconds",
                "How long the stream's audio has been below the dead-air level.",
                a.silent_sec,
            ),
        ] {
            o.family(name, "gauge", help);
            o.sample(name, "", v);
        }
    }
    o.family(
        "deckcast_alerts_active",
        "gauge",
        "Alerts not cleared yet, by severity.",
    );
    for sev in [Severity::Warning, Severity::Critical] {
        let n = snap.alerts.iter().filter(|a| a.severity == sev).count();
        o.sample(
            "deckcast_alerts_active",
            &format!("severity=\"{}\"", sev.as_str()),
            n as f64,
        );
    }
    o.family(
        "deckcast_alert_active",
        "gauge",
        "1 for every alert not cleared yet (rule, severity, and the target's slot and name).",
    );
    for a in &snap.alerts {
        let (slot, name) = a
            .target_id
            .as_ref()
            .and_then(|id| snap.targets.iter().position(|t| &t.id == id))
            .map(|i| ((i + 1).to_string(), snap.targets[i].name.clone()))
            .unwrap_or_default();
        o.sample(
            "deckcast_alert_active",
            &format!(
                "kind=\"{}\",severity=\"{}\",slot=\"{slot}\",name=\"{}\"",
                a.kind.as_str(),
                a.severity.as_str(),
                escape(&name)
            ),
            1.0,
        );
    }
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_one_series_per_target_and_escapes_labels() {
        let mut snap = Snapshot::default();
        snap.obs.state = ObsState::Connected;
        let view: deckcast_protocol::targets::TargetView =
            serde_json::from_value(serde_json::json!({
                "id": "t1", "name": "My \"Twitch\"", "platform": "twitch", "server": "rtmp://x/app",
                "enabled": true, "syncStart": false, "syncStop": false,
                "reconnect": {"retryDelaySec": 2, "maxRetries": 25}, "encoder": {"mode": "shared"},
                "hasKey": true, "keyStorage": "keyring", "state": "live", "lastError": null
            }))
            .unwrap();
        snap.set_targets(&[view]);
        let text = render(&snap, true);
        assert!(text.contains("deckcast_obs_connected 1\n"), "{text}");
        assert!(text.contains(
            "deckcast_target_state{target=\"t1\",slot=\"1\",name=\"My \\\"Twitch\\\"\",platform=\"twitch\",state=\"live\"} 1\n"
        ), "{text}");
        // Without the token the ids stay out.
        let open = render(&snap, false);
        assert!(!open.contains("t1"), "{open}");
        assert!(
            open.contains("deckcast_target_state{slot=\"1\",name="),
            "{open}"
        );
        assert!(text.contains("state=\"idle\"} 0\n"));
        assert!(text.contains("# TYPE deckcast_target_dropped_frames_total counter\n"));
        assert_eq!(
            text.matches("deckcast_target_sent_bytes_per_second{")
                .count(),
            1
        );
        // Base units only (seconds, bytes, ratios), as Prometheus names them.
        for unit in ["percent", "kbps", "megabytes", "milliseconds"] {
            assert!(!text.contains(unit), "{unit}: {text}");
        }
    }

    /// Every metric the shipped Prometheus rules use is one the companion exports.
    #[test]
    fn the_shipped_prometheus_rules_use_only_exported_metrics() {
        let rules = include_str!("../../data/prometheus/deckcast-alerts.rules.yml");
        let mut snap = Snapshot::default();
        snap.obs.state = ObsState::Connected;
        snap.stats = Some(Default::default());
        snap.audio = Some(Default::default());
        let view: deckcast_protocol::targets::TargetView =
            serde_json::from_value(serde_json::json!({
                "id": "t1", "name": "T", "platform": "twitch", "server": "rtmp://x/app",
                "enabled": true, "syncStart": false, "syncStop": false,
                "reconnect": {"retryDelaySec": 2, "maxRetries": 25}, "encoder": {"mode": "shared"},
                "hasKey": true, "keyStorage": "keyring", "state": "live"
            }))
            .unwrap();
        snap.set_targets(&[view]);
        let text = render(&snap, false);
        let exported: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        let mut used = Vec::new();
        for (i, _) in rules.match_indices("deckcast_") {
            let name: String = rules[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if rules[..i].ends_with(['(', ' ', '\n']) && !used.contains(&name) {
                used.push(name);
            }
        }
        assert!(used.len() >= 12, "{used:?}");
        for name in &used {
            assert!(
                exported.contains(&name.as_str()),
                "the rules use {name}, which /metrics does not export: {exported:?}"
            );
        }
    }
}
