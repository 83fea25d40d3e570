//! Health: once a second every active output is sampled (bitrate and fps from counter deltas),
//! warnings are worked out and `TargetHealth` is sent while any target is active.
use std::time::Instant;

use deckcast_protocol::targets::{
    EncoderChoice, HealthReport, TargetConfig, TargetHealth, Warning,
};
use deckcast_secrets::Backend;

use super::Engine;
use crate::targets::host::Host;
use crate::targets::model;

impl<H: Host> Engine<H> {
    pub(super) fn warnings(&self, id: &str) -> Vec<Warning> {
        let Ok(cfg) = self.config(id) else {
            return Vec::new();
        };
        let mut w = Vec::new();
        if !self.has_key(id) {
            w.push(Warning {
                code: "no_key".into(),
                message: "No stream key is set.".into(),
            });
        }
        if self.keys.backend() == Backend::Memory {
            w.push(Warning {
                code: "key_in_memory".into(),
                message: "No OS keyring is available: stream keys are kept in memory for this session only.".into(),
            });
        }
        match &cfg.encoder {
            EncoderChoice::Shared => {
                if self.host.main_dynamic_bitrate() {
                    w.push(Warning {
                        code: "dynamic_bitrate".into(),
                        message: "OBS's main stream uses dynamic bitrate: when it lowers the bitrate, this shared-encoder target drops with it. Use a dedicated encoder or turn dynamic bitrate off.".into(),
                    });
                }
            }
            EncoderChoice::Dedicated { config_id } => {
                w.extend(model::platform_warnings(
                    cfg.platform,
                    self.encoder_config(config_id),
                ));
            }
        }
        w
    }

    pub(super) fn health_of(&self, id: &str) -> TargetHealth {
        let name = self.config(id).map(|c| c.name.clone()).unwrap_or_default();
        let mut h = self
            .runtime
            .get(id)
            .map(|r| r.health.clone())
            .unwrap_or_default();
        let rt = self.runtime.get(id);
        h.id = id.to_owned();
        h.name = name;
        h.state = rt.map(|r| r.state).unwrap_or_default();
        h.reconnects = rt.map(|r| r.reconnects).unwrap_or(0);
        h.last_error = rt.and_then(|r| r.last_error.clone());
        h.uptime_sec = rt
            .and_then(|r| r.live_since)
            .map(|t| t.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        if !h.state.is_active() {
            h.kbps = 0.0;
            h.fps = 0.0;
        }
        h.warnings = self.warnings(id);
        h.video_bitrate = self.video_bitrate(id);
        h.encoder_users = self.encoder_users(id);
        // What its encoders run at now: a lowered dedicated bitrate counts.
        h.expected_kbps = match (self.running_config(id), h.video_bitrate) {
            (Some(e), Some(v)) => Some(v.applied_kbps + e.audio_bitrate_kbps),
            (Some(e), None) => Some(e.bitrate_kbps + e.audio_bitrate_kbps),
            (None, _) => self
                .config(id)
                .is_ok_and(|c| c.encoder == EncoderChoice::Shared)
                .then(|| self.host.main_stream_kbps())
                .flatten(),
        };
        h
    }

    pub(super) fn all_health(&self) -> Vec<TargetHealth> {
        self.file
            .targets
            .iter()
            .map(|t| self.health_of(&t.id))
            .collect()
    }

    /// Samples every active output (call once a second) and emits `TargetHealth` while any is active.
    pub fn tick(&mut self) {
        self.forget_idle_bitrates();
        let now = Instant::now();
        let mut any_active = false;
        for t in &self.file.targets {
            let Some(rt) = self.runtime.get_mut(&t.id) else {
                continue;
            };
            let Some((_, out)) = &rt.output else { continue };
            if !rt.state.is_active() {
                continue;
            }
            any_active = true;
            let s = self.host.stats(out);
            if let Some((then, prev)) = rt.last_sample {
                let dt = now.duration_since(then).as_secs_f64().max(1e-3);
                rt.health.kbps =
                    s.total_bytes.saturating_sub(prev.total_bytes) as f64 * 8.0 / 1000.0 / dt;
                rt.health.fps = s.total_frames.saturating_sub(prev.total_frames) as f64 / dt;
            }
            rt.health.total_frames = s.total_frames;
            rt.health.dropped_frames = s.dropped_frames;
            rt.health.congestion = s.congestion;
            rt.health.connect_time_ms = s.connect_time_ms;
            rt.last_sample = Some((now, s));
        }
        if any_active {
            self.emit(&HealthReport {
                targets: self.all_health(),
            });
        }
    }

    /// Ids and names of all targets (for hotkeys and the dock).
    pub fn targets(&self) -> impl Iterator<Item = &TargetConfig> {
        self.file.targets.iter()
    }
}
