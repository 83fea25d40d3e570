//! [`Host`] on real libobs outputs (through the safe wrappers in `crate::obs`).
//!
//! Runs on the targets worker thread. Dedicated encoder pairs are shared between targets that use
//! the same encoder config (one encode for all of them); a changed config gets a new pair while
//! running outputs keep the old one until they restart.
use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::sync::{Arc, Weak};

use deckcast_protocol::targets::EncoderConfig;
use serde_json::json;

use super::host::{EncoderSpec, Host, Level, OutputSpec, OutputStats, Signal, SignalSink};
use crate::obs::hotkeys::{self, Action, HotkeyId};
use crate::obs::output::{self, Encoder, Output, OutputSignal, Service};
use crate::obs::{frontend, locale, log, vendor};

/// The libobs-backed host.
#[derive(Debug, Default)]
pub struct ObsHost {
    dedicated: HashMap<String, (EncoderConfig, Weak<Encoder>, Weak<Encoder>)>,
    /// Per target: (name it was registered with, start hotkey, stop hotkey).
    hotkeys: HashMap<String, (String, HotkeyId, HotkeyId)>,
    all_hotkeys: Option<(HotkeyId, HotkeyId)>,
}

/// Hotkey names (stable: OBS saves bindings under them).
fn hotkey_name(target: Option<&str>, start: bool) -> String {
    let verb = if start { "start" } else { "stop" };
    match target {
        Some(id) => format!("deckcast.target.{id}.{verb}"),
        None => format!("deckcast.all.{verb}"),
    }
}

impl ObsHost {
    fn dedicated_pair(
        &mut self,
        cfg: &EncoderConfig,
    ) -> Result<(Arc<Encoder>, Arc<Encoder>), String> {
        if let Some((old, v, a)) = self.dedicated.get(&cfg.id)
            && old == cfg
            && let (Some(v), Some(a)) = (v.upgrade(), a.upgrade())
        {
            return Ok((v, a));
        }
        if !Encoder::type_exists(&cfg.encoder) {
            return Err(format!(
                "OBS has no video encoder {:?} (is its plugin installed?)",
                cfg.encoder
            ));
        }
        let settings = json!({
            "rate_control": "CBR",
            "bitrate": cfg.bitrate_kbps,
            "keyint_sec": cfg.keyint_sec,
            "preset": cfg.preset,
        });
        let video = Encoder::video(
            &cfg.encoder,
            &format!("deckcast-video:{}", cfg.id),
            &settings,
        )
        .ok_or_else(|| format!("OBS could not create the {:?} video encoder", cfg.encoder))?;
        if let (Some(w), Some(h)) = (cfg.width, cfg.height) {
            video.set_scaled_size(w, h);
        }
        if cfg.fps_divisor > 1 && !video.set_frame_rate_divisor(cfg.fps_divisor) {
            return Err(format!(
                "OBS refused the frame rate divisor {}",
                cfg.fps_divisor
            ));
        }
        let audio = Encoder::audio(
            "ffmpeg_aac",
            &format!("deckcast-audio:{}", cfg.id),
            &json!({"bitrate": cfg.audio_bitrate_kbps}),
            (cfg.audio_track.clamp(1, 6) - 1) as usize,
        )
        .ok_or("OBS could not create the AAC audio encoder")?;
        let (video, audio) = (Arc::new(video), Arc::new(audio));
        self.dedicated.insert(
            cfg.id.clone(),
            (cfg.clone(), Arc::downgrade(&video), Arc::downgrade(&audio)),
        );
        Ok((video, audio))
    }
}

impl Drop for ObsHost {
    fn drop(&mut self) {
        for (_, (_, start, stop)) in self.hotkeys.drain() {
            hotkeys::unregister(start);
            hotkeys::unregister(stop);
        }
        if let Some((start, stop)) = self.all_hotkeys.take() {
            hotkeys::unregister(start);
            hotkeys::unregister(stop);
        }
    }
}

impl Host for ObsHost {
    type Output = Output;

    fn create_output(&mut self, spec: &OutputSpec, sink: SignalSink) -> Result<Output, String> {
        let (video, audio) = match &spec.encoder {
            EncoderSpec::Shared => output::main_stream_encoders()
                .map(|(v, a)| (Arc::new(v), Arc::new(a)))
                .ok_or("OBS's streaming encoders are not available (Settings > Output); use a dedicated encoder")?,
            EncoderSpec::Dedicated(cfg) => self.dedicated_pair(cfg)?,
        };
        let service = Service::rtmp_custom(
            &format!("deckcast-service:{}", spec.target_id),
            &spec.server,
            spec.key.expose(),
        )
        .ok_or("OBS could not create the RTMP service")?;
        let out = Output::create(
            "rtmp_output",
            &spec.output_name,
            service,
            video,
            audio,
            move |s| {
                sink(match s {
                    OutputSignal::Start => Signal::Started,
                    OutputSignal::Stop { code, last_error } => Signal::Stopped { code, last_error },
                    OutputSignal::Reconnect => Signal::Reconnecting,
                    OutputSignal::ReconnectSuccess => Signal::Reconnected,
                })
            },
        )?;
        out.set_reconnect(spec.reconnect.max_retries, spec.reconnect.retry_delay_sec);
        Ok(out)
    }

    fn start_output(&mut self, output: &Output) -> Result<(), String> {
        output.start()
    }

    fn stop_output(&mut self, output: &Output) {
        output.stop();
    }

    fn stats(&self, output: &Output) -> OutputStats {
        output.stats()
    }

    fn emit_event(&self, event_type: &'static str, data: serde_json::Value) {
        if let (Some(v), Ok(name)) = (vendor::Vendor::get(), CString::new(event_type)) {
            v.emit(&name, &data);
        }
    }

    fn log(&self, level: Level, msg: &str) {
        match level {
            Level::Error => log::error(msg),
            Level::Warn => log::warn(msg),
            Level::Info => log::info(msg),
        }
    }

    fn main_dynamic_bitrate(&self) -> bool {
        frontend::profile_bool(c"Output", c"DynamicBitrate").unwrap_or(false)
    }

    fn sync_hotkeys(
        &mut self,
        targets: &[(String, String)],
        saved: &BTreeMap<String, serde_json::Value>,
    ) {
        let register = |target: Option<&str>, start: bool, label: &str| {
            let name = hotkey_name(target, start);
            let key = match (target.is_some(), start) {
                (true, true) => "Deckcast.Hotkey.StartTarget",
                (true, false) => "Deckcast.Hotkey.StopTarget",
                (false, true) => "Deckcast.Hotkey.StartAll",
                (false, false) => "Deckcast.Hotkey.StopAll",
            };
            let description = locale::text(key).replace("%1", label);
            let action = Action {
                target: target.map(str::to_owned),
                start,
            };
            hotkeys::register(&name, &description, action, saved.get(&name))
        };
        if self.all_hotkeys.is_none()
            && let (Some(a), Some(b)) = (register(None, true, ""), register(None, false, ""))
        {
            self.all_hotkeys = Some((a, b));
        }
        // Drop hotkeys of removed or renamed targets, then register the missing ones.
        self.hotkeys.retain(|id, (name, start, stop)| {
            let keep = targets
                .iter()
                .any(|(tid, tname)| tid == id && tname == name);
            if !keep {
                hotkeys::unregister(*start);
                hotkeys::unregister(*stop);
            }
            keep
        });
        for (id, name) in targets {
            if self.hotkeys.contains_key(id) {
                continue;
            }
            if let (Some(start), Some(stop)) = (
                register(Some(id), true, name),
                register(Some(id), false, name),
            ) {
                self.hotkeys.insert(id.clone(), (name.clone(), start, stop));
            }
        }
    }

    fn hotkey_bindings(&self) -> Option<BTreeMap<String, serde_json::Value>> {
        Some(hotkeys::bindings())
    }
}
