//! An in-process fake obs-websocket with a scripted Deckcast plugin, for unit tests of everything
//! that talks to OBS (supervisor, scheduler, platform pull) under `tokio::time::pause()`.
//!
//! It keeps a small model of the plugin (targets with keys and states, OBS's own stream, the
//! program scene), answers the vendor requests the companion sends from it, pushes events, and
//! records every connection attempt and request. It can be down (connections are refused) and
//! restart (every open link dies, targets return to idle, the plugin forgets keys it was given).
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use deckcast_protocol::recording::{
    GetRecording, RecordingControl, RecordingOrigin, RecordingStatus, StartRecording,
};
use deckcast_protocol::targets::{
    BulkReply, EncoderChoice, GetTargetHealth, HealthReport, ListTargets, Platform,
    ReconnectPolicy, SetStreamKey, StartAllTargets, StartTarget, StopAllTargets, StopTarget,
    TargetConfig, TargetHealth, TargetList, TargetRef, TargetReply, TargetState,
    TargetStateChanged, TargetView,
};
use deckcast_protocol::version::{GetVersion, VersionInfo};
use deckcast_protocol::{Empty, Error, PROTOCOL_VERSION, Request, decode_request, encode_reply};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::sync::broadcast;

use super::{LinkError, LinkEvent, MainStream, ObsStats, ObsVersions, RecordOutput};

/// One target of the scripted plugin.
#[derive(Debug, Clone)]
pub struct FakeTarget {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// State.
    pub state: TargetState,
}

#[derive(Debug)]
struct State {
    up: bool,
    epoch: u64,
    events: broadcast::Sender<LinkEvent>,
    targets: Vec<FakeTarget>,
    /// Keys the plugin holds (lost on restart, as with a locked keyring).
    keys: BTreeMap<String, String>,
    main_stream: bool,
    scenes: Vec<String>,
    connects: Vec<tokio::time::Instant>,
    requests: Vec<(String, serde_json::Value)>,
    /// Starts still to refuse, per target (a server refusing the connection).
    failing_starts: BTreeMap<String, u32>,
    /// The recording: when it started (tokio time) and its file.
    recording: Option<(tokio::time::Instant, String)>,
    /// Recordings made (files).
    recordings: u32,
    /// Chapters added, with the recording time they were added at (ms).
    chapters: Vec<(i64, String)>,
    /// Whether the recording format takes chapters (Hybrid MP4).
    chapters_supported: bool,
    /// The plugin's mark on the running recording (started with `StartRecording`).
    recording_origin: Option<RecordingOrigin>,
    /// Media sources playing: name -> (scene, file, looping, started at).
    media: BTreeMap<String, FakeMedia>,
    /// How long every media file is (ms).
    media_ms: i64,
}

/// A media source of the fake: its file plays on tokio's clock.
#[derive(Debug, Clone)]
pub struct FakeMedia {
    /// The scene it was added to.
    pub scene: String,
    /// The file.
    pub file: String,
    /// Whether it loops.
    pub looping: bool,
    started: tokio::time::Instant,
}

/// The fake OBS.
#[derive(Debug)]
pub struct FakeObs(Mutex<State>);

/// A link to the fake; dead once the fake goes down or restarts.
#[derive(Debug)]
pub struct FakeLink {
    fake: Arc<FakeObs>,
    epoch: u64,
}

impl FakeObs {
    /// A running OBS with the plugin and no targets.
    pub fn new() -> Arc<FakeObs> {
        Arc::new(FakeObs(Mutex::new(State {
            up: true,
            epoch: 0,
            events: broadcast::channel(64).0,
            targets: Vec::new(),
            keys: BTreeMap::new(),
            main_stream: false,
            scenes: Vec::new(),
            connects: Vec::new(),
            requests: Vec::new(),
            failing_starts: BTreeMap::new(),
            recording: None,
            recordings: 0,
            chapters: Vec::new(),
            chapters_supported: true,
            recording_origin: None,
            media: BTreeMap::new(),
            media_ms: 60_000,
        })))
    }

    /// Whether the recording format takes chapters (default: yes, as Hybrid MP4).
    pub fn set_chapters_supported(&self, yes: bool) {
        self.state().chapters_supported = yes;
    }

    /// Chapters added so far: (ms into the recording, name).
    pub fn chapters(&self) -> Vec<(i64, String)> {
        self.state().chapters.clone()
    }

    /// How many recordings were started.
    pub fn recordings_started(&self) -> u32 {
        self.state().recordings
    }

    /// Whether OBS is recording.
    pub fn recording(&self) -> bool {
        self.state().recording.is_some()
    }

    /// The next `n` starts of target `id` fail (as when the server refuses the connection).
    pub fn fail_starts(&self, id: &str, n: u32) {
        self.state().failing_starts.insert(id.into(), n);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an idle target (with a key the plugin already holds, or none).
    pub fn add_target(&self, id: &str, name: &str, key: Option<&str>) {
        let mut s = self.state();
        s.targets.push(FakeTarget {
            id: id.into(),
            name: name.into(),
            state: TargetState::Idle,
        });
        if let Some(k) = key {
            s.keys.insert(id.into(), k.into());
        }
    }

    /// Takes OBS down (connections refused, open links die) or brings it back.
    pub fn set_up(&self, up: bool) {
        let mut s = self.state();
        s.up = up;
        if !up {
            Self::drop_links(&mut s);
        }
    }

    /// OBS restarts: open links die, targets are idle, the plugin forgot the keys it was given,
    /// OBS's own stream is off.
    pub fn restart(&self) {
        let mut s = self.state();
        Self::drop_links(&mut s);
        for t in &mut s.targets {
            t.state = TargetState::Idle;
        }
        s.keys.clear();
        s.main_stream = false;
        s.recording = None;
    }

    fn drop_links(s: &mut State) {
        s.epoch += 1;
        // Dropping the sender ends every open event stream.
        s.events = broadcast::channel(64).0;
    }

    /// Pushes an event to every open link.
    pub fn emit(&self, event: LinkEvent) {
        let _ = self.state().events.send(event);
    }

    /// When each connection attempt happened.
    pub fn connects(&self) -> Vec<tokio::time::Instant> {
        self.state().connects.clone()
    }

    /// Every vendor request so far (type and data).
    pub fn requests(&self) -> Vec<(String, serde_json::Value)> {
        self.state().requests.clone()
    }

    /// Vendor requests of type `R` so far.
    pub fn requests_of<R: Request>(&self) -> Vec<R> {
        self.requests()
            .into_iter()
            .filter(|(n, _)| n == R::NAME)
            .filter_map(|(_, d)| serde_json::from_value(d).ok())
            .collect()
    }

    /// The key the plugin holds for `id`.
    pub fn key_of(&self, id: &str) -> Option<String> {
        self.state().keys.get(id).cloned()
    }

    /// A target's state.
    pub fn target_state(&self, id: &str) -> Option<TargetState> {
        self.state()
            .targets
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.state)
    }

    /// Whether OBS's own stream is live.
    pub fn main_stream_live(&self) -> bool {
        self.state().main_stream
    }

    /// How long the media files the fake plays are (default 60 s).
    pub fn set_media_ms(&self, ms: i64) {
        self.state().media_ms = ms;
    }

    /// The media sources in OBS now.
    pub fn media(&self) -> BTreeMap<String, FakeMedia> {
        self.state().media.clone()
    }

    /// Program scenes switched to, in order.
    pub fn scene_switches(&self) -> Vec<String> {
        self.state().scenes.clone()
    }

    pub(super) fn connect(self: &Arc<Self>) -> Result<FakeLink, LinkError> {
        let mut s = self.state();
        s.connects.push(tokio::time::Instant::now());
        if !s.up {
            return Err(LinkError::Unreachable {
                addr: "fake".into(),
                reason: "connection refused".into(),
            });
        }
        Ok(FakeLink {
            fake: Arc::clone(self),
            epoch: s.epoch,
        })
    }
}

fn view(t: &FakeTarget, has_key: bool) -> TargetView {
    TargetView {
        config: TargetConfig {
            id: t.id.clone(),
            name: t.name.clone(),
            platform: Platform::Custom,
            server: "rtmp://127.0.0.1:1935/live".into(),
            enabled: true,
            sync_start: false,
            sync_stop: false,
            reconnect: ReconnectPolicy::default(),
            encoder: EncoderChoice::Shared,
        },
        has_key,
        key_storage: "keyring".into(),
        state: t.state,
        server_warning: None,
        last_error: None,
    }
}

/// Answers request `R` from the model.
fn answer<R: Request>(
    data: serde_json::Value,
    f: impl FnOnce(R) -> Result<R::Reply, Error>,
) -> serde_json::Value {
    encode_reply(decode_request::<R>(data).and_then(f))
}

impl FakeLink {
    fn live(&self) -> Result<std::sync::MutexGuard<'_, State>, LinkError> {
        let s = self.fake.state();
        if s.up && s.epoch == self.epoch {
            Ok(s)
        } else {
            Err(LinkError::Obs("the connection to OBS closed".into()))
        }
    }

    fn set_state(s: &mut State, id: &str, state: TargetState) -> Result<TargetReply, Error> {
        let has_key = s.keys.contains_key(id);
        let t = s
            .targets
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| Error::not_found(format!("no target with id {id:?}")))?;
        if state == TargetState::Live && !has_key {
            return Err(Error::conflict(format!(
                "target {:?} has no stream key",
                t.name
            )));
        }
        let previous = t.state;
        t.state = state;
        let reply = TargetReply {
            target: view(t, has_key),
        };
        if previous != state {
            let _ = s.events.send(LinkEvent::TargetState(TargetStateChanged {
                id: id.into(),
                name: reply.target.config.name.clone(),
                state,
                previous,
                last_error: None,
                reconnects: 0,
            }));
        }
        Ok(reply)
    }

    pub(super) async fn vendor(
        &self,
        name: &'static str,
        data: serde_json::Value,
    ) -> Result<serde_json::Value, LinkError> {
        let mut guard = self.live()?;
        let s = &mut *guard;
        s.requests.push((name.to_owned(), data.clone()));
        Ok(if name == GetVersion::NAME {
            answer::<GetVersion>(data, |_| {
                Ok(VersionInfo {
                    plugin_version: "0.0.0-fake".into(),
                    protocol_version: PROTOCOL_VERSION,
                    libobs_version: "32.2.2".into(),
                })
            })
        } else if name == ListTargets::NAME {
            answer::<ListTargets>(data, |_| {
                Ok(TargetList {
                    targets: s
                        .targets
                        .iter()
                        .map(|t| view(t, s.keys.contains_key(&t.id)))
                        .collect(),
                    encoders: Vec::new(),
                    key_storage: "keyring".into(),
                })
            })
        } else if name == GetTargetHealth::NAME {
            answer::<GetTargetHealth>(data, |_| {
                Ok(HealthReport {
                    targets: s
                        .targets
                        .iter()
                        .map(|t| TargetHealth {
                            id: t.id.clone(),
                            name: t.name.clone(),
                            state: t.state,
                            kbps: if t.state == TargetState::Live {
                                2500.0
                            } else {
                                0.0
                            },
                            ..TargetHealth::default()
                        })
                        .collect(),
                })
            })
        } else if name == SetStreamKey::NAME {
            answer::<SetStreamKey>(data, |r| {
                if !s.targets.iter().any(|t| t.id == r.id) {
                    return Err(Error::not_found(format!("no target with id {:?}", r.id)));
                }
                s.keys.insert(r.id, r.key);
                Ok(Empty {})
            })
        } else if name == StartTarget::NAME {
            answer::<StartTarget>(data, |r| {
                if let Some(n) = s.failing_starts.get_mut(&r.id)
                    && *n > 0
                {
                    *n -= 1;
                    return Err(Error::internal(
                        "Could not connect to the server (refused, unreachable or wrong port)",
                    ));
                }
                Self::set_state(s, &r.id, TargetState::Live)
            })
        } else if name == StopTarget::NAME {
            answer::<StopTarget>(data, |r| Self::set_state(s, &r.id, TargetState::Idle))
        } else if name == StartAllTargets::NAME || name == StopAllTargets::NAME {
            let to = if name == StartAllTargets::NAME {
                TargetState::Live
            } else {
                TargetState::Idle
            };
            let ids: Vec<String> = s.targets.iter().map(|t| t.id.clone()).collect();
            let mut reply = BulkReply::default();
            for id in ids {
                if Self::set_state(s, &id, to).is_ok() {
                    reply.targets.push(TargetRef { id });
                }
            }
            encode_reply(Ok(reply))
        } else if name == StartRecording::NAME {
            answer::<StartRecording>(data, |r| {
                let changed = s.recording.is_none();
                if changed {
                    Self::begin_recording(s, Some(r.from.unwrap_or(RecordingOrigin::Vendor)));
                }
                Ok(RecordingControl { changed })
            })
        } else if name == GetRecording::NAME {
            answer::<GetRecording>(data, |_| {
                Ok(RecordingStatus {
                    active: s.recording.is_some(),
                    directory: Some("/rec".into()),
                    file: s.recording.as_ref().map(|(_, f)| f.clone()),
                    bytes: 0,
                    free_bytes: None,
                    started_by: s.recording_origin,
                })
            })
        } else {
            // Accepted without a model (SetNowPlaying, SetTempo, ...): recorded above.
            encode_reply(Ok(Empty {}))
        })
    }

    pub(super) async fn versions(&self) -> Result<ObsVersions, LinkError> {
        drop(self.live()?);
        Ok(ObsVersions {
            obs_studio: "32.2.2".into(),
            obs_websocket: "5.7.4".into(),
            rpc: 1,
        })
    }

    pub(super) fn events(&self) -> Result<BoxStream<'static, LinkEvent>, LinkError> {
        let rx = self.live()?.events.subscribe();
        Ok(futures_util::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(e) => return Some((e, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed())
    }

    pub(super) async fn main_stream(&self) -> Result<MainStream, LinkError> {
        Ok(MainStream {
            active: self.live()?.main_stream,
            ..MainStream::default()
        })
    }

    pub(super) async fn stats(&self) -> Result<ObsStats, LinkError> {
        drop(self.live()?);
        Ok(ObsStats::default())
    }

    pub(super) async fn set_main_stream(&self, live: bool) -> Result<(), LinkError> {
        let mut s = self.live()?;
        if s.main_stream != live {
            s.main_stream = live;
            let _ = s.events.send(LinkEvent::MainStream { active: live });
        }
        Ok(())
    }

    pub(super) async fn record_output(&self) -> Result<RecordOutput, LinkError> {
        let s = self.live()?;
        Ok(match &s.recording {
            Some((since, _)) => RecordOutput {
                active: true,
                paused: false,
                duration_ms: since.elapsed().as_millis() as i64,
                bytes: since.elapsed().as_millis() as u64 * 200,
            },
            None => RecordOutput::default(),
        })
    }

    pub(super) async fn start_recording(&self) -> Result<bool, LinkError> {
        let mut s = self.live()?;
        if s.recording.is_some() {
            return Ok(false);
        }
        Self::begin_recording(&mut s, None);
        Ok(true)
    }

    /// OBS's recording starts (a file, the started event), with the plugin's mark if the
    /// plugin started it.
    fn begin_recording(s: &mut State, origin: Option<RecordingOrigin>) {
        s.recordings += 1;
        let file = format!("/rec/set-{}.mp4", s.recordings);
        s.recording = Some((tokio::time::Instant::now(), file));
        s.recording_origin = origin;
        let _ = s.events.send(LinkEvent::Recording {
            active: true,
            path: None,
        });
    }

    pub(super) async fn stop_recording(&self) -> Result<String, LinkError> {
        let mut s = self.live()?;
        let Some((_, file)) = s.recording.take() else {
            return Err(LinkError::Obs(
                "stopping the recording: request failed: output not running (OutputNotRunning)"
                    .into(),
            ));
        };
        let _ = s.events.send(LinkEvent::Recording {
            active: false,
            path: Some(file.clone()),
        });
        Ok(file)
    }

    pub(super) async fn add_record_chapter(&self, name: &str) -> Result<bool, LinkError> {
        let mut s = self.live()?;
        let at = match &s.recording {
            Some((since, _)) if s.chapters_supported => since.elapsed().as_millis() as i64,
            _ => return Ok(false),
        };
        s.chapters.push((at, name.to_owned()));
        Ok(true)
    }

    pub(super) async fn program_scene(&self) -> Result<String, LinkError> {
        Ok(self
            .live()?
            .scenes
            .last()
            .cloned()
            .unwrap_or_else(|| "Scene".to_owned()))
    }

    pub(super) async fn set_program_scene(&self, scene: &str) -> Result<(), LinkError> {
        self.live()?.scenes.push(scene.to_owned());
        Ok(())
    }

    /// "Scene", "Re-air", and every scene switched to.
    pub(super) async fn scene_names(&self) -> Result<Vec<String>, LinkError> {
        let s = self.live()?;
        let mut names = vec!["Scene".to_owned(), "Re-air".to_owned()];
        for n in &s.scenes {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        Ok(names)
    }

    pub(super) async fn play_media(
        &self,
        scene: &str,
        input: &str,
        file: &str,
        looping: bool,
    ) -> Result<(), LinkError> {
        self.live()?.media.insert(
            input.to_owned(),
            FakeMedia {
                scene: scene.to_owned(),
                file: file.to_owned(),
                looping,
                started: tokio::time::Instant::now(),
            },
        );
        Ok(())
    }

    pub(super) async fn media_playback(
        &self,
        input: &str,
    ) -> Result<Option<super::MediaPlayback>, LinkError> {
        let s = self.live()?;
        let Some(m) = s.media.get(input) else {
            return Ok(None);
        };
        let length = s.media_ms.max(1);
        let played = m.started.elapsed().as_millis() as i64;
        let (phase, cursor) = if m.looping {
            (super::MediaPhase::Playing, Some(played % length))
        } else if played < length {
            (super::MediaPhase::Playing, Some(played))
        } else {
            (super::MediaPhase::Ended, None)
        };
        Ok(Some(super::MediaPlayback {
            phase,
            cursor_ms: cursor,
            duration_ms: Some(length),
        }))
    }

    pub(super) async fn remove_input(&self, input: &str) -> Result<(), LinkError> {
        self.live()?.media.remove(input);
        Ok(())
    }
}
