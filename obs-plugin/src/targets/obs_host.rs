//! [`Host`] on real libobs outputs (through the safe wrappers in `crate::obs`).
//!
//! Runs on the targets worker thread; what only OBS's UI thread may read (the profile's config,
//! OBS's own streaming output) is read there through `frontend::on_ui_thread`. Dedicated encoder pairs are shared between targets that use
//! the same encoder config (one encode for all of them); a changed config gets a new pair while
//! running outputs keep the old one until they restart.
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

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
    /// The profile settings as last read on the UI thread.
    profile: Arc<Mutex<ProfileSettings>>,
    /// When the worker last asked the UI thread for them.
    profile_asked: Cell<Option<Instant>>,
    /// Done-flag of the last UI call that timed out: while it is unset the UI thread is still
    /// busy (or gone, at exit), and the worker does not wait for it again.
    ui_behind: RefCell<Option<Arc<AtomicBool>>>,
    dedicated: HashMap<String, (EncoderConfig, Weak<Encoder>, Weak<Encoder>)>,
    /// Per target: (name it was registered with, start hotkey, stop hotkey).
    hotkeys: HashMap<String, (String, HotkeyId, HotkeyId)>,
    /// The hotkeys that belong to no target: start/stop all, start/stop set recording.
    fixed_hotkeys: Vec<(String, HotkeyId)>,
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

/// A video encoder's new bitrate while it runs (libobs merges it into the other settings).
#[derive(Debug, Serialize)]
struct BitrateSettings {
    bitrate: i64,
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

/// What the targets read from the profile's `basic.ini`. OBS closes and reopens that config on
/// its UI thread during a profile switch, so it is read there ([`ProfileSettings::read`]) and the
/// worker keeps a copy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileSettings {
    dir: Option<PathBuf>,
    advanced: bool,
    adv_audio_bitrate: Option<i64>,
    simple_video_bitrate: Option<i64>,
    simple_use_advanced: bool,
    simple_preset: Option<String>,
    simple_x264: Option<String>,
    simple_audio_bitrate: Option<i64>,
    dynamic_bitrate: bool,
}

impl ProfileSettings {
    /// Reads the current profile (UI thread).
    pub fn read() -> ProfileSettings {
        let advanced = frontend::profile_string(c"Output", c"Mode").as_deref() == Some("Advanced");
        let track = frontend::profile_int(c"AdvOut", c"TrackIndex")
            .unwrap_or(1)
            .clamp(1, 6);
        let track_key = std::ffi::CString::new(format!("Track{track}Bitrate")).unwrap_or_default();
        ProfileSettings {
            dir: frontend::current_profile_path(),
            advanced,
            adv_audio_bitrate: frontend::profile_int(c"AdvOut", &track_key),
            simple_video_bitrate: frontend::profile_int(c"SimpleOutput", c"VBitrate"),
            simple_use_advanced: frontend::profile_bool(c"SimpleOutput", c"UseAdvanced")
                == Some(true),
            simple_preset: frontend::profile_string(c"SimpleOutput", c"Preset"),
            simple_x264: frontend::profile_string(c"SimpleOutput", c"x264Settings"),
            simple_audio_bitrate: frontend::profile_int(c"SimpleOutput", c"ABitrate"),
            dynamic_bitrate: frontend::profile_bool(c"Output", c"DynamicBitrate").unwrap_or(false),
        }
    }

    /// The bitrate of OBS's own stream (video + audio, kbit/s), as `stream_settings` sets it.
    fn stream_kbps(&self) -> Option<u32> {
        let (video, audio) = self.stream_settings();
        let kbps = |v: &serde_json::Value, default: i64| {
            v.get("bitrate")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(default)
        };
        u32::try_from(kbps(&video, 2500) + kbps(&audio, 160))
            .ok()
            .filter(|k| *k > 0)
    }

    /// The settings OBS gives its streaming encoders when the main stream starts, derived the
    /// way OBS does (Simple mode: `[SimpleOutput]`; Advanced mode: `streamEncoder.json` and the
    /// stream track's bitrate). Returns (video, audio) settings.
    fn stream_settings(&self) -> (serde_json::Value, serde_json::Value) {
        if self.advanced {
            let video = self
                .dir
                .as_ref()
                .and_then(|dir| std::fs::read_to_string(dir.join("streamEncoder.json")).ok())
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
            let audio = AudioSettings {
                bitrate: self.adv_audio_bitrate.unwrap_or(160),
            };
            return (video, settings_of(&audio));
        }
        let video = VideoSettings {
            rate_control: "CBR",
            bitrate: self.simple_video_bitrate.unwrap_or(2500),
            keyint_sec: None,
            preset: self
                .simple_use_advanced
                .then(|| self.simple_preset.clone())
                .flatten(),
            x264opts: self
                .simple_use_advanced
                .then(|| self.simple_x264.clone())
                .flatten(),
        };
        let audio = AudioSettings {
            bitrate: self.simple_audio_bitrate.unwrap_or(160),
        };
        (settings_of(&video), settings_of(&audio))
    }
}

/// How long the worker waits for OBS's UI thread before it uses what it read last.
const UI_WAIT: Duration = Duration::from_secs(2);

impl ObsHost {
    /// A host starting from `profile` (read on the UI thread when the plugin loads).
    pub fn new(profile: ProfileSettings) -> ObsHost {
        let host = ObsHost::default();
        host.store_profile(profile);
        host
    }

    /// Runs `f` on the UI thread and waits up to [`UI_WAIT`]; `None` at once while an earlier
    /// call is still unanswered (OBS's UI is busy, or waiting for this worker at exit).
    fn ask_ui<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        if let Some(done) = self.ui_behind.borrow().as_ref()
            && !done.load(Ordering::Acquire)
        {
            return None;
        }
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let answer = frontend::on_ui_thread(
            move || {
                let v = f();
                flag.store(true, Ordering::Release);
                v
            },
            UI_WAIT,
        );
        *self.ui_behind.borrow_mut() = answer.is_none().then_some(done);
        answer
    }

    /// The profile as the UI thread reads it now, or (if the UI thread is busy) the last copy.
    fn fresh_profile(&self) -> ProfileSettings {
        match self.ask_ui(ProfileSettings::read) {
            Some(now) => {
                self.store_profile(now.clone());
                now
            }
            None => self.profile_copy(),
        }
    }

    /// The last copy, refreshed in the background (at most once a second) for the next call.
    fn recent_profile(&self) -> ProfileSettings {
        let due = self
            .profile_asked
            .get()
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if due {
            self.profile_asked.set(Some(Instant::now()));
            let copy = Arc::clone(&self.profile);
            frontend::queue_on_ui_thread(move || {
                let now = ProfileSettings::read();
                *copy.lock().unwrap_or_else(|e| e.into_inner()) = now;
            });
        }
        self.profile_copy()
    }

    fn profile_copy(&self) -> ProfileSettings {
        self.profile
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn store_profile(&self, now: ProfileSettings) {
        *self.profile.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }

    /// OBS's streaming encoders (shared by shared-encoder targets): from the main streaming
    /// output if it exists (asked on the UI thread), else by the names OBS gives them in Simple
    /// and Advanced output mode.
    fn main_stream_encoders(&self) -> Option<(Encoder, Encoder)> {
        let profile = self.fresh_profile();
        if let Some(pair) = self.ask_ui(output::streaming_output_encoders).flatten() {
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
        // OBS applies the profile's stream settings to these encoders only when its own stream
        // starts; a target that starts them earlier must apply the same settings, or it would
        // stream with the encoder defaults. (While active they already carry OBS's settings and
        // cannot change.)
        if !video.active() {
            let (v, a) = profile.stream_settings();
            video.update(&v);
            if !audio.active() {
                audio.update(&a);
            }
        }
        Some((video, audio))
    }
}

impl Drop for ObsHost {
    fn drop(&mut self) {
        for (_, (_, start, stop)) in self.hotkeys.drain() {
            hotkeys::unregister(start);
            hotkeys::unregister(stop);
        }
        for (_, id) in self.fixed_hotkeys.drain(..) {
            hotkeys::unregister(id);
        }
    }
}

impl Host for ObsHost {
    type Output = Output;

    fn create_output(&mut self, spec: &OutputSpec, sink: SignalSink) -> Result<Output, String> {
        let (video, audio) = match &spec.encoder {
            EncoderSpec::Shared => self
                .main_stream_encoders()
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

    fn stop_output(&mut self, output: &Output, force: bool) {
        if force {
            output.force_stop();
        } else {
            output.stop();
        }
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
        self.recent_profile().dynamic_bitrate
    }

    fn main_stream_kbps(&self) -> Option<u32> {
        self.recent_profile().stream_kbps()
    }

    fn sync_hotkeys(
        &mut self,
        targets: &[(String, String)],
        saved: &BTreeMap<String, serde_json::Value>,
        profile_loaded: bool,
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
        if self.fixed_hotkeys.is_empty() {
            self.fixed_hotkeys = [(None, true), (None, false)]
                .into_iter()
                .map(|(target, start)| {
                    let name = Action { target, start }.name();
                    register(None, start, "").map(|id| (name, id))
                })
                .chain(crate::recording::HOTKEYS.iter().map(|(name, key)| {
                    hotkeys::register(name, &locale::text(key), saved.get(*name))
                        .map(|id| ((*name).to_owned(), id))
                }))
                .flatten()
                .collect();
        } else if profile_loaded {
            for (name, id) in &self.fixed_hotkeys {
                hotkeys::load(*id, saved.get(name));
            }
        }
        // Drop hotkeys of removed or renamed targets (all of them when a profile was loaded, so
        // they are registered again with its bindings), then register the missing ones.
        self.hotkeys.retain(|id, (name, start, stop)| {
            let keep = !profile_loaded
                && targets
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

    fn bitrate_adjustable(&self, encoder: &str) -> bool {
        Encoder::type_has_dynamic_bitrate(encoder)
    }

    fn set_video_bitrate(&mut self, config: &EncoderConfig, kbps: u32) -> Result<(), String> {
        let video = self
            .dedicated
            .get(&config.id)
            .filter(|(built, _, _)| built == config)
            .and_then(|(_, v, _)| v.upgrade())
            .ok_or("no encoder built from this encoder config exists")?;
        // libobs merges the settings and has the encoder apply them on its own thread before
        // its next frame (as OBS's dynamic bitrate does).
        video.update(&settings_of(&BitrateSettings {
            bitrate: i64::from(kbps),
        }));
        Ok(())
    }
}
