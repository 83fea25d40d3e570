//! [`Host`] on real libobs outputs (through the safe wrappers in `crate::obs`).
//!
//! Runs on the targets worker thread. Dedicated encoder pairs are shared between targets that use
//! the same encoder config (one encode for all of them); a changed config gets a new pair while
//! running outputs keep the old one until they restart.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};

use deckcast_protocol::targets::EncoderConfig;
use serde::Serialize;

use super::host::{EncoderSpec, Host, Level, OutputSpec, OutputStats, SignalSink};
use super::hotkey::Action;
use crate::obs::hotkeys::{self, HotkeyId};
use crate::obs::output::{self, Encoder, Output, Service};
use crate::obs::{frontend, locale, log, vendor};

/// The libobs-backed host.
#[derive(Debug, Default)]
pub struct ObsHost {
    dedicated: HashMap<String, (EncoderConfig, Weak<Encoder>, Weak<Encoder>)>,
    /// Per target: (name it was registered with, start hotkey, stop hotkey).
    hotkeys: HashMap<String, (String, HotkeyId, HotkeyId)>,
    all_hotkeys: Option<(HotkeyId, HotkeyId)>,
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
        let settings = settings_of(&VideoSettings {
            rate_control: "CBR",
            bitrate: i64::from(cfg.bitrate_kbps),
            keyint_sec: Some(cfg.keyint_sec),
            preset: Some(cfg.preset.clone()),
            x264opts: None,
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
            &settings_of(&AudioSettings {
                bitrate: i64::from(cfg.audio_bitrate_kbps),
            }),
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

/// Settings of a video encoder (x264's names; other encoders read the ones they know).
#[derive(Debug, Serialize)]
struct VideoSettings {
    rate_control: &'static str,
    bitrate: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    keyint_sec: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x264opts: Option<String>,
}

/// Settings of an audio encoder.
#[derive(Debug, Serialize)]
struct AudioSettings {
    bitrate: i64,
}

/// Settings of the private `rtmp_custom` service of a target (the key goes only here).
#[derive(Serialize)]
struct RtmpSettings<'a> {
    server: &'a str,
    key: &'a str,
    use_auth: bool,
    bwtest: bool,
}

fn settings_of<T: Serialize>(settings: &T) -> serde_json::Value {
    serde_json::to_value(settings).unwrap_or_default()
}

/// The settings OBS gives its streaming encoders when the main stream starts, read from the
/// profile the same way OBS does (Simple mode: `[SimpleOutput]`; Advanced mode:
/// `streamEncoder.json` and the stream track's bitrate). Returns (video, audio) settings.
fn profile_stream_settings() -> (serde_json::Value, serde_json::Value) {
    if frontend::profile_string(c"Output", c"Mode").as_deref() == Some("Advanced") {
        let video = frontend::current_profile_path()
            .and_then(|dir| std::fs::read_to_string(dir.join("streamEncoder.json")).ok())
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
        let track = frontend::profile_int(c"AdvOut", c"TrackIndex")
            .unwrap_or(1)
            .clamp(1, 6);
        let key = std::ffi::CString::new(format!("Track{track}Bitrate")).unwrap_or_default();
        let audio = AudioSettings {
            bitrate: frontend::profile_int(c"AdvOut", &key).unwrap_or(160),
        };
        return (video, settings_of(&audio));
    }
    let advanced = frontend::profile_bool(c"SimpleOutput", c"UseAdvanced") == Some(true);
    let video = VideoSettings {
        rate_control: "CBR",
        bitrate: frontend::profile_int(c"SimpleOutput", c"VBitrate").unwrap_or(2500),
        keyint_sec: None,
        preset: advanced
            .then(|| frontend::profile_string(c"SimpleOutput", c"Preset"))
            .flatten(),
        x264opts: advanced
            .then(|| frontend::profile_string(c"SimpleOutput", c"x264Settings"))
            .flatten(),
    };
    let audio = AudioSettings {
        bitrate: frontend::profile_int(c"SimpleOutput", c"ABitrate").unwrap_or(160),
    };
    (settings_of(&video), settings_of(&audio))
}

/// OBS's streaming encoders (shared by shared-encoder targets): from the main streaming output if
/// it exists, else by the names OBS gives them in Simple and Advanced output mode.
fn main_stream_encoders() -> Option<(Encoder, Encoder)> {
    if let Some(pair) = output::streaming_output_encoders() {
        return Some(pair);
    }
    let video = ["simple_video_stream", "advanced_video_stream"]
        .into_iter()
        .find_map(Encoder::by_name)?;
    let audio = [
        "simple_aac",
        "simple_opus",
        "adv_stream_aac",
        "adv_stream_audio",
        "avc_aac_stream",
    ]
    .into_iter()
    .find_map(Encoder::by_name)?;
    video.ensure_media();
    audio.ensure_media();
    // OBS applies the profile's stream settings to these encoders only when its own stream starts;
    // a target that starts them earlier must apply the same settings, or it would stream with the
    // encoder defaults. (While active they already carry OBS's settings and cannot change.)
    if !video.active() {
        let (v, a) = profile_stream_settings();
        video.update(&v);
        if !audio.active() {
            audio.update(&a);
        }
    }
    Some((video, audio))
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
            EncoderSpec::Shared => main_stream_encoders()
                .map(|(v, a)| (Arc::new(v), Arc::new(a)))
                .ok_or("OBS's streaming encoders are not available (Settings > Output); use a dedicated encoder")?,
            EncoderSpec::Dedicated(cfg) => self.dedicated_pair(cfg)?,
        };
        let service = Service::private(
            c"rtmp_custom",
            &format!("deckcast-service:{}", spec.target_id),
            &settings_of(&RtmpSettings {
                server: &spec.server,
                key: spec.key.expose(),
                use_auth: false,
                bwtest: false,
            }),
        )
        .ok_or("OBS could not create the RTMP service")?;
        let out = Output::create(
            "rtmp_output",
            &spec.output_name,
            service,
            video,
            audio,
            sink,
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
        if let Some(v) = vendor::Vendor::get() {
            v.emit(event_type, &data);
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
            let action = Action {
                target: target.map(str::to_owned),
                start,
            };
            let name = action.name();
            let key = match (target.is_some(), start) {
                (true, true) => "Deckcast.Hotkey.StartTarget",
                (true, false) => "Deckcast.Hotkey.StopTarget",
                (false, true) => "Deckcast.Hotkey.StartAll",
                (false, false) => "Deckcast.Hotkey.StopAll",
            };
            let description = locale::text(key).replace("%1", label);
            hotkeys::register(&name, &description, saved.get(&name))
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
