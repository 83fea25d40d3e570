//! The link to OBS: typed Deckcast vendor calls ([`ObsLink::call`]), the few OBS requests the
//! companion makes, and OBS's events as [`LinkEvent`]s.
//!
//! The transport is obs-websocket through `obws` ([`ws`], the only module that imports `obws`) or,
//! in unit tests, an in-process fake obs-websocket ([`fake`]) with a scripted plugin. A
//! [`Connector`] makes links; a link ends when its connection does (obws never reconnects: the
//! supervisor asks the connector for a new one).
use std::time::Duration;

use deckcast_protocol::{self as protocol, Request, VENDOR_NAME};
use futures_util::stream::BoxStream;
use serde::Serialize;

use crate::Secret;

#[cfg(test)]
pub mod fake;
mod ws;

/// How long a connection attempt may take before it counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`Connector::connect`] waits for an OBS that is still starting up (obs-websocket
/// answers `NotReady` until OBS has finished loading).
pub const STARTUP_WAIT: Duration = Duration::from_secs(20);

/// Where and how to reach obs-websocket.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Host name or address, usually `127.0.0.1`.
    pub host: String,
    /// obs-websocket port (OBS's default is 4455).
    pub port: u16,
    /// obs-websocket password, if authentication is on.
    pub password: Option<Secret>,
}

/// Why talking to OBS failed. Every message says what to check; none contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Nothing answered at the address (OBS not running, websocket server disabled, wrong port).
    #[error(
        "cannot reach obs-websocket at {addr}: {reason}. Is OBS running with Tools > WebSocket Server Settings > Enable WebSocket server on, and is the port right?"
    )]
    Unreachable {
        /// `host:port`.
        addr: String,
        /// The underlying failure, as text.
        reason: String,
    },
    /// obs-websocket closed the connection because the password was wrong or missing.
    #[error("OBS rejected the websocket password{hint}")]
    AuthFailed {
        /// Extra advice (for example when no password was given at all).
        hint: &'static str,
    },
    /// A password is configured, but the peer at the address does not ask for one: it may be
    /// another program on OBS's port (OBS down, something else listening), so nothing is sent.
    #[error(
        "the obs-websocket at {addr} does not ask for a password although one is configured for it, so it may not be OBS (another program listening on its port while OBS is down); Deckcast does not talk to it. If you turned authentication off in OBS, turn it back on (Tools > WebSocket Server Settings), or remove the stored password (deckcast key obs-password --clear)"
    )]
    NoAuth {
        /// `host:port`.
        addr: String,
    },
    /// OBS accepted the connection but kept answering "not ready" (still loading).
    #[error("OBS is still starting up (obs-websocket answered NotReady for {} s); try again when OBS has finished loading", STARTUP_WAIT.as_secs())]
    NotReady,
    /// A request on an open link was answered `NotReady`: OBS is quitting (or still loading).
    /// Not a broken link: its events (a recording's stop, say) may still come before it closes.
    #[error("{0}: OBS is not ready (quitting or still loading)")]
    Busy(String),
    /// OBS or obs-websocket is older than Deckcast supports.
    #[error("{what} {found} is too old: Deckcast needs {required}")]
    Unsupported {
        /// "OBS Studio" or "obs-websocket".
        what: &'static str,
        /// The version found.
        found: String,
        /// The requirement.
        required: String,
    },
    /// OBS answers but the Deckcast plugin is not loaded.
    #[error(
        "the Deckcast plugin is not loaded in OBS (obs-websocket knows no vendor '{VENDOR_NAME}'); install it and restart OBS"
    )]
    PluginMissing,
    /// The plugin answered with an error object.
    #[error("the Deckcast plugin refused {request}: {message} ({code:?})")]
    Plugin {
        /// The request type.
        request: &'static str,
        /// The plugin's error code.
        code: protocol::ErrorCode,
        /// The plugin's message.
        message: String,
    },
    /// Anything else obs-websocket or the transport reported (the connection is then suspect).
    #[error("obs-websocket request failed: {0}")]
    Obs(String),
}

impl LinkError {
    /// True when the connection itself failed (the supervisor then reconnects).
    pub fn is_transport(&self) -> bool {
        matches!(self, LinkError::Obs(_) | LinkError::Unreachable { .. })
    }
}

/// Versions reported by OBS itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObsVersions {
    /// OBS Studio version, e.g. `30.2.3`.
    pub obs_studio: String,
    /// obs-websocket version, e.g. `5.5.2`.
    pub obs_websocket: String,
    /// Negotiated obs-websocket RPC version.
    pub rpc: u32,
}

/// OBS's own stream output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MainStream {
    /// Live.
    pub active: bool,
    /// Reconnecting.
    pub reconnecting: bool,
    /// How long it has been live.
    pub duration_ms: i64,
    /// Bytes sent.
    pub bytes: u64,
    /// Frames skipped by the output.
    pub skipped_frames: u32,
    /// Frames delivered to the output.
    pub total_frames: u32,
    /// Congestion 0–1.
    pub congestion: f64,
}

/// OBS's performance counters (`GetStats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObsStats {
    /// OBS process CPU use (percent of one core).
    pub cpu_percent: f64,
    /// Resident memory (MB).
    pub memory_mb: f64,
    /// Frames rendered per second.
    pub active_fps: f64,
    /// Average render time (ms).
    pub average_frame_render_ms: f64,
    /// Frames the renderer skipped (lagged).
    pub render_skipped_frames: u32,
    /// Frames rendered.
    pub render_total_frames: u32,
    /// Frames skipped by encoding (lagged).
    pub output_skipped_frames: u32,
    /// Frames encoded.
    pub output_total_frames: u32,
}

/// What the companion hears from OBS.
#[derive(Debug, Clone)]
pub enum LinkEvent {
    /// A target changed state.
    TargetState(protocol::targets::TargetStateChanged),
    /// The plugin's periodic health report.
    Health(protocol::targets::HealthReport),
    /// A Now Playing source's stable tempo changed.
    Tempo(protocol::nowplaying::TempoChanged),
    /// OBS's own stream started or stopped.
    MainStream {
        /// Whether it is live now.
        active: bool,
    },
    /// OBS's recording started or stopped.
    Recording {
        /// Whether it runs now.
        active: bool,
        /// The file it wrote, when it stopped (obs-websocket names it then).
        path: Option<String>,
    },
    /// OBS's recording paused or resumed.
    RecordingPaused {
        /// Whether it is paused now.
        paused: bool,
    },
    /// OBS is shutting down.
    Closing,
}

/// OBS's own recording output (`GetRecordStatus`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordOutput {
    /// Recording.
    pub active: bool,
    /// Paused.
    pub paused: bool,
    /// How long it has been recording (ms).
    pub duration_ms: i64,
    /// Bytes written.
    pub bytes: u64,
}

/// Where a media source's playback is (`GetMediaInputStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaPhase {
    /// Opening the file or buffering: not playing yet.
    Starting,
    /// Playing.
    Playing,
    /// Paused.
    Paused,
    /// Stopped (by someone in OBS).
    Stopped,
    /// Played to the end (not looping).
    Ended,
    /// OBS could not play the file.
    Error,
    /// Nothing (no file opened).
    Idle,
}

/// A media source's playback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPlayback {
    /// Where it is.
    pub phase: MediaPhase,
    /// The position in the file (ms), while there is one.
    pub cursor_ms: Option<i64>,
    /// The file's length (ms), once known.
    pub duration_ms: Option<i64>,
}

impl LinkEvent {
    /// Decodes a `deckcast` vendor event; a payload this companion cannot read is logged (a
    /// contract break worth a line, not a silent gap: the polls still correct the picture).
    fn from_vendor(event_type: &str, data: serde_json::Value) -> Option<LinkEvent> {
        use protocol::Event;
        use protocol::nowplaying::TempoChanged;
        use protocol::recording::RecordingStopped;
        use protocol::targets::{HealthReport, TargetStateChanged};
        let decoded = if event_type == TargetStateChanged::NAME {
            protocol::decode_event(data).map(LinkEvent::TargetState)
        } else if event_type == HealthReport::NAME {
            protocol::decode_event(data).map(LinkEvent::Health)
        } else if event_type == TempoChanged::NAME {
            protocol::decode_event(data).map(LinkEvent::Tempo)
        } else if event_type == RecordingStopped::NAME {
            // The plugin stopped the recording as OBS exits (obs-websocket says nothing then).
            protocol::decode_event(data).map(|e: RecordingStopped| LinkEvent::Recording {
                active: false,
                path: e.file,
            })
        } else {
            return None;
        };
        decoded
            .map_err(|e| tracing::warn!("ignoring a {event_type} event from the plugin: {e}"))
            .ok()
    }
}

/// Makes links to OBS.
#[derive(Debug, Clone)]
pub enum Connector {
    /// obs-websocket at an address.
    Ws(ConnectOptions),
    /// The in-process fake (unit tests).
    #[cfg(test)]
    Fake(std::sync::Arc<fake::FakeObs>),
}

impl Connector {
    /// Connects and authenticates; obws also checks the OBS and obs-websocket versions. While OBS
    /// is still loading (obs-websocket answers `NotReady`) it retries for up to [`STARTUP_WAIT`].
    pub async fn connect(&self) -> Result<ObsLink, LinkError> {
        match self {
            Connector::Ws(opts) => ws::connect(opts).await.map(|l| ObsLink(Transport::Ws(l))),
            #[cfg(test)]
            Connector::Fake(fake) => fake.connect().map(|l| ObsLink(Transport::Fake(l))),
        }
    }
}

enum Transport {
    Ws(ws::WsLink),
    #[cfg(test)]
    Fake(fake::FakeLink),
}

/// A connected obs-websocket session.
pub struct ObsLink(Transport);

impl std::fmt::Debug for ObsLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObsLink").finish_non_exhaustive()
    }
}

macro_rules! dispatch {
    ($self:ident, $l:ident => $call:expr) => {
        match &$self.0 {
            Transport::Ws($l) => $call,
            #[cfg(test)]
            Transport::Fake($l) => $call,
        }
    };
}

impl ObsLink {
    /// Calls a Deckcast vendor request and decodes its answer. Nulls are dropped before the
    /// request crosses obs_data (see [`protocol::without_nulls`]).
    pub async fn call<R: Request>(&self, request: &R) -> Result<R::Reply, LinkError> {
        let data = serde_json::to_value(request)
            .map(protocol::without_nulls)
            .map_err(|e| LinkError::Obs(format!("{}: {e}", R::NAME)))?;
        let value = dispatch!(self, l => l.vendor(R::NAME, data).await)?;
        match protocol::decode_reply::<R>(value) {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(LinkError::Plugin {
                request: R::NAME,
                code: e.code,
                message: e.message,
            }),
            Err(e) => Err(LinkError::Obs(format!(
                "{}: unexpected answer from the Deckcast plugin: {e}",
                R::NAME
            ))),
        }
    }

    /// OBS and obs-websocket versions.
    pub async fn versions(&self) -> Result<ObsVersions, LinkError> {
        dispatch!(self, l => l.versions().await)
    }

    /// Events from OBS until the connection ends (then the stream ends too).
    pub fn events(&self) -> Result<BoxStream<'static, LinkEvent>, LinkError> {
        dispatch!(self, l => l.events())
    }

    /// OBS's own stream output.
    pub async fn main_stream(&self) -> Result<MainStream, LinkError> {
        dispatch!(self, l => l.main_stream().await)
    }

    /// OBS performance counters.
    pub async fn stats(&self) -> Result<ObsStats, LinkError> {
        dispatch!(self, l => l.stats().await)
    }

    /// Starts OBS's own stream (no-op if it is live).
    pub async fn start_main_stream(&self) -> Result<(), LinkError> {
        dispatch!(self, l => l.set_main_stream(true).await)
    }

    /// Stops OBS's own stream (no-op if it is not live).
    pub async fn stop_main_stream(&self) -> Result<(), LinkError> {
        dispatch!(self, l => l.set_main_stream(false).await)
    }

    /// OBS's recording output.
    pub async fn record_output(&self) -> Result<RecordOutput, LinkError> {
        dispatch!(self, l => l.record_output().await)
    }

    /// Starts OBS's recording (with the profile's settings: path, format, encoder); false if it
    /// was recording already.
    pub async fn start_recording(&self) -> Result<bool, LinkError> {
        dispatch!(self, l => l.start_recording().await)
    }

    /// Stops OBS's recording; returns the file it wrote.
    pub async fn stop_recording(&self) -> Result<String, LinkError> {
        dispatch!(self, l => l.stop_recording().await)
    }

    /// Adds a chapter marker named `name` to the running recording; false when OBS refused
    /// (it takes chapters in Hybrid MP4 only, OBS >= 30.2, while recording and not paused).
    pub async fn add_record_chapter(&self, name: &str) -> Result<bool, LinkError> {
        dispatch!(self, l => l.add_record_chapter(name).await)
    }

    /// The program scene's name.
    pub async fn program_scene(&self) -> Result<String, LinkError> {
        dispatch!(self, l => l.program_scene().await)
    }

    /// Switches the program scene.
    pub async fn set_program_scene(&self, scene: &str) -> Result<(), LinkError> {
        dispatch!(self, l => l.set_program_scene(scene).await)
    }

    /// The names of OBS's scenes.
    pub async fn scene_names(&self) -> Result<Vec<String>, LinkError> {
        dispatch!(self, l => l.scene_names().await)
    }

    /// Plays `file` (a path as OBS sees it) in a media source named `input` added to `scene`,
    /// from its start, looping if asked; an input of that name left from before is replaced.
    pub async fn play_media(
        &self,
        scene: &str,
        input: &str,
        file: &str,
        looping: bool,
    ) -> Result<(), LinkError> {
        dispatch!(self, l => l.play_media(scene, input, file, looping).await)
    }

    /// The playback of media source `input`; `None` if OBS has no input of that name.
    pub async fn media_playback(&self, input: &str) -> Result<Option<MediaPlayback>, LinkError> {
        dispatch!(self, l => l.media_playback(input).await)
    }

    /// Removes input `input` from OBS (every scene); no-op if there is none.
    pub async fn remove_input(&self, input: &str) -> Result<(), LinkError> {
        dispatch!(self, l => l.remove_input(input).await)
    }
}

#[cfg(test)]
mod tests {
    use super::LinkEvent;
    use deckcast_protocol::Event;
    use deckcast_protocol::recording::RecordingStopped;

    #[test]
    fn the_plugins_stop_at_quit_is_a_recording_stop_with_its_file() {
        let e = LinkEvent::from_vendor(
            RecordingStopped::NAME,
            serde_json::json!({"file": "/sets/a.mp4"}),
        );
        assert!(
            matches!(&e, Some(LinkEvent::Recording { active: false, path: Some(p) }) if p == "/sets/a.mp4"),
            "{e:?}"
        );
        let e = LinkEvent::from_vendor(RecordingStopped::NAME, serde_json::json!({}));
        assert!(
            matches!(
                e,
                Some(LinkEvent::Recording {
                    active: false,
                    path: None
                })
            ),
            "{e:?}"
        );
        // A payload of the wrong shape is no event (and logged).
        assert!(
            LinkEvent::from_vendor(RecordingStopped::NAME, serde_json::json!({"file": 3}))
                .is_none()
        );
    }
}
