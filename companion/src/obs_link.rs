//! The link to OBS over obs-websocket (`obws`): the only module that imports `obws`.
//!
//! [`ObsLink::connect`] performs the handshake (with password authentication when given), lets obws
//! verify OBS ≥ 30.2 and obs-websocket ^5.5, and turns every failure into a [`LinkError`] whose
//! message tells the user what to do. Vendor calls go through [`ObsLink::vendor`], which also
//! recognises Deckcast's `{"error": ...}` answers and a missing plugin; typed wrappers cover the
//! requests the service uses. [`ObsLink::events`] turns obs-websocket events into [`LinkEvent`]s and
//! ends when the connection does (obws never reconnects: the service builds a new link).
use std::time::Duration;

use deckcast_protocol::targets::{
    BulkReply, CreateTarget, HealthQuery, HealthReport, SetStreamKey, TargetId, TargetList,
    TargetReply, TargetStateChanged, UpdateTarget,
};
use deckcast_protocol::{self as protocol, GetVersionResponse, VENDOR_NAME, VendorReply};
use futures_util::{Stream, StreamExt};
use obws::client::{ConnectConfig, HandshakeError};
use obws::requests::general::CallVendorRequest;
use obws::responses::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Secret;

/// How long a connection attempt may take before it counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`ObsLink::connect`] waits for an OBS that is still starting up (obs-websocket answers
/// `NotReady` until OBS has finished loading).
pub const STARTUP_WAIT: Duration = Duration::from_secs(20);

/// obs-websocket's close code for a failed authentication.
const CLOSE_AUTHENTICATION_FAILED: u16 = 4009;

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
    /// OBS accepted the connection but kept answering "not ready" (still loading).
    #[error("OBS is still starting up (obs-websocket answered NotReady for {} s); try again when OBS has finished loading", STARTUP_WAIT.as_secs())]
    NotReady,
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
        request: String,
        /// The plugin's error code.
        code: protocol::ErrorCode,
        /// The plugin's message.
        message: String,
    },
    /// Anything else obs-websocket or the transport reported.
    #[error("obs-websocket request failed: {0}")]
    Obs(String),
}

impl LinkError {
    fn from_connect(err: obws::error::Error, opts: &ConnectOptions) -> Self {
        use obws::error::Error as E;
        let addr = format!("{}:{}", opts.host, opts.port);
        match err {
            E::Handshake(HandshakeError::ConnectionClosed(Some(details)))
                if u16::from(details.code) == CLOSE_AUTHENTICATION_FAILED =>
            {
                Self::AuthFailed {
                    hint: if opts.password.is_none() {
                        ": OBS requires one; set DECKCAST_OBS_PASSWORD (or use --password-stdin)"
                    } else {
                        "; check the password in OBS under Tools > WebSocket Server Settings"
                    },
                }
            }
            E::ObsStudioVersion(found, required) => Self::Unsupported {
                what: "OBS Studio",
                found: found.to_string(),
                required: required.to_string(),
            },
            E::ObsWebsocketVersion(found, required) => Self::Unsupported {
                what: "obs-websocket",
                found: found.to_string(),
                required: required.to_string(),
            },
            E::Api {
                code: StatusCode::NotReady,
                ..
            } => Self::NotReady,
            E::Timeout => Self::Unreachable {
                addr,
                reason: format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            },
            other => Self::Unreachable {
                addr,
                reason: error_chain(&other),
            },
        }
    }
}

/// `err: cause: cause...` as one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Transparent wrappers repeat their inner error's text; print it once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Versions reported by OBS itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObsVersions {
    /// OBS Studio version, e.g. `30.2.3`.
    pub obs_studio: String,
    /// obs-websocket version, e.g. `5.5.2`.
    pub obs_websocket: String,
    /// Negotiated obs-websocket RPC version.
    pub rpc: u32,
}

/// A connected obs-websocket session.
pub struct ObsLink {
    client: obws::Client,
}

impl std::fmt::Debug for ObsLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObsLink").finish_non_exhaustive()
    }
}

impl ObsLink {
    /// Connects and authenticates; obws also checks the OBS and obs-websocket versions. While OBS
    /// is still loading (obs-websocket answers `NotReady`) it retries for up to [`STARTUP_WAIT`].
    pub async fn connect(opts: &ConnectOptions) -> Result<Self, LinkError> {
        let deadline = tokio::time::Instant::now() + STARTUP_WAIT;
        loop {
            match Self::connect_once(opts).await {
                Err(LinkError::NotReady) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                other => return other,
            }
        }
    }

    async fn connect_once(opts: &ConnectOptions) -> Result<Self, LinkError> {
        let config = ConnectConfig {
            host: opts.host.as_str(),
            port: opts.port,
            password: opts.password.as_ref().map(Secret::expose),
            event_subscriptions: None,
            // Health events arrive every second per OBS; a slow consumer must not lose state
            // changes (obws drops lagged events silently, so the service also re-reads state).
            broadcast_capacity: 1024,
            connect_timeout: CONNECT_TIMEOUT,
            dangerous: None,
        };
        let client = obws::Client::connect_with_config(config)
            .await
            .map_err(|e| LinkError::from_connect(e, opts))?;
        Ok(Self { client })
    }

    /// OBS and obs-websocket versions.
    pub async fn versions(&self) -> Result<ObsVersions, LinkError> {
        let v = self
            .client
            .general()
            .version()
            .await
            .map_err(|e| LinkError::Obs(error_chain(&e)))?;
        Ok(ObsVersions {
            obs_studio: v.obs_studio_version.to_string(),
            obs_websocket: v.obs_web_socket_version.to_string(),
            rpc: v.rpc_version,
        })
    }

    /// Calls a `deckcast` vendor request and decodes its answer.
    pub async fn vendor<T: Serialize, R: DeserializeOwned>(
        &self,
        request_type: &str,
        data: &T,
    ) -> Result<R, LinkError> {
        // Nulls are dropped before the request crosses obs_data (see `protocol::without_nulls`).
        let data = serde_json::to_value(data)
            .map(protocol::without_nulls)
            .map_err(|e| LinkError::Obs(format!("{request_type}: {e}")))?;
        let reply = self
            .client
            .general()
            .call_vendor_request::<_, serde_json::Value>(CallVendorRequest {
                vendor_name: VENDOR_NAME,
                request_type,
                request_data: &data,
            })
            .await;
        let value = match reply {
            Ok(resp) => resp.response_data,
            Err(obws::error::Error::Api { code, message }) => {
                let message = message.unwrap_or_default();
                return Err(
                    if code == StatusCode::ResourceNotFound
                        && message.to_ascii_lowercase().contains("vendor")
                    {
                        LinkError::PluginMissing
                    } else {
                        LinkError::Obs(format!("{request_type}: {message} ({code:?})"))
                    },
                );
            }
            Err(e) => return Err(LinkError::Obs(error_chain(&e))),
        };
        match VendorReply::<R>::from_value(value) {
            Ok(VendorReply::Ok(r)) => Ok(r),
            Ok(VendorReply::Err(body)) => Err(LinkError::Plugin {
                request: request_type.to_owned(),
                code: body.code,
                message: body.message,
            }),
            Err(e) => Err(LinkError::Obs(format!(
                "{request_type}: unexpected answer from the Deckcast plugin: {e}"
            ))),
        }
    }

    /// The plugin's `GetVersion`.
    pub async fn plugin_version(&self) -> Result<GetVersionResponse, LinkError> {
        self.vendor(protocol::request::GET_VERSION, &serde_json::json!({}))
            .await
    }

    /// Events from OBS until the connection ends (then the stream ends too).
    pub fn events(&self) -> Result<impl Stream<Item = LinkEvent> + Send + 'static, LinkError> {
        let stream = self
            .client
            .events()
            .map_err(|e| LinkError::Obs(error_chain(&e)))?;
        Ok(stream.filter_map(|e| async move { LinkEvent::from_obs(e) }))
    }

    /// OBS's own stream output.
    pub async fn main_stream(&self) -> Result<MainStream, LinkError> {
        let s = self
            .client
            .streaming()
            .status()
            .await
            .map_err(|e| LinkError::Obs(error_chain(&e)))?;
        Ok(MainStream {
            active: s.active,
            reconnecting: s.reconnecting,
            duration_ms: s.duration.whole_milliseconds() as i64,
            bytes: s.bytes,
            skipped_frames: s.skipped_frames,
            total_frames: s.total_frames,
            congestion: f64::from(s.congestion),
        })
    }

    /// OBS performance counters.
    pub async fn stats(&self) -> Result<ObsStats, LinkError> {
        let s = self
            .client
            .general()
            .stats()
            .await
            .map_err(|e| LinkError::Obs(error_chain(&e)))?;
        Ok(ObsStats {
            cpu_percent: s.cpu_usage,
            memory_mb: s.memory_usage,
            active_fps: s.active_fps,
            average_frame_render_ms: s.average_frame_render_time,
            render_skipped_frames: s.render_skipped_frames,
            render_total_frames: s.render_total_frames,
            output_skipped_frames: s.output_skipped_frames,
            output_total_frames: s.output_total_frames,
        })
    }

    /// `ListTargets`.
    pub async fn list_targets(&self) -> Result<TargetList, LinkError> {
        self.vendor(protocol::request::LIST_TARGETS, &serde_json::json!({}))
            .await
    }

    /// `GetTargetHealth` of every target.
    pub async fn health(&self) -> Result<HealthReport, LinkError> {
        self.vendor(
            protocol::request::GET_TARGET_HEALTH,
            &HealthQuery { id: None },
        )
        .await
    }

    /// `CreateTarget`.
    pub async fn create_target(&self, req: &CreateTarget) -> Result<TargetReply, LinkError> {
        self.vendor(protocol::request::CREATE_TARGET, req).await
    }

    /// `UpdateTarget`.
    pub async fn update_target(&self, req: &UpdateTarget) -> Result<TargetReply, LinkError> {
        self.vendor(protocol::request::UPDATE_TARGET, req).await
    }

    /// `GetTarget`.
    pub async fn get_target(&self, id: &str) -> Result<TargetReply, LinkError> {
        self.vendor(
            protocol::request::GET_TARGET,
            &TargetId { id: id.to_owned() },
        )
        .await
    }

    /// `DeleteTarget`.
    pub async fn delete_target(&self, id: &str) -> Result<(), LinkError> {
        let _: serde_json::Value = self
            .vendor(
                protocol::request::DELETE_TARGET,
                &TargetId { id: id.to_owned() },
            )
            .await?;
        Ok(())
    }

    /// `StartTarget` / `StopTarget`.
    pub async fn start_stop(&self, id: &str, start: bool) -> Result<TargetReply, LinkError> {
        let request = if start {
            protocol::request::START_TARGET
        } else {
            protocol::request::STOP_TARGET
        };
        self.vendor(request, &TargetId { id: id.to_owned() }).await
    }

    /// `StartAllTargets` / `StopAllTargets`.
    pub async fn start_stop_all(&self, start: bool) -> Result<BulkReply, LinkError> {
        let request = if start {
            protocol::request::START_ALL_TARGETS
        } else {
            protocol::request::STOP_ALL_TARGETS
        };
        self.vendor(request, &serde_json::json!({})).await
    }

    /// `SetStreamKey`.
    pub async fn set_stream_key(&self, id: &str, key: &Secret) -> Result<(), LinkError> {
        let _: serde_json::Value = self
            .vendor(
                protocol::request::SET_STREAM_KEY,
                &SetStreamKey {
                    id: id.to_owned(),
                    key: key.expose().to_owned(),
                },
            )
            .await?;
        Ok(())
    }

    /// Starts OBS's own stream (no-op if it is live).
    pub async fn start_main_stream(&self) -> Result<(), LinkError> {
        match self.client.streaming().start().await {
            Ok(()) => Ok(()),
            Err(obws::error::Error::Api {
                code: StatusCode::OutputRunning,
                ..
            }) => Ok(()),
            Err(e) => Err(LinkError::Obs(error_chain(&e))),
        }
    }

    /// Stops OBS's own stream (no-op if it is not live).
    pub async fn stop_main_stream(&self) -> Result<(), LinkError> {
        match self.client.streaming().stop().await {
            Ok(()) => Ok(()),
            Err(obws::error::Error::Api {
                code: StatusCode::OutputNotRunning,
                ..
            }) => Ok(()),
            Err(e) => Err(LinkError::Obs(error_chain(&e))),
        }
    }

    /// Switches the program scene.
    pub async fn set_program_scene(&self, scene: &str) -> Result<(), LinkError> {
        self.client
            .scenes()
            .set_current_program_scene(obws::requests::scenes::SceneId::Name(scene))
            .await
            .map_err(|e| {
                LinkError::Obs(format!("switching to scene '{scene}': {}", error_chain(&e)))
            })
    }

    /// `SetNowPlaying`.
    pub async fn set_now_playing(&self, track: &NowPlaying) -> Result<(), LinkError> {
        let _: serde_json::Value = self
            .vendor(protocol::request::SET_NOW_PLAYING, track)
            .await?;
        Ok(())
    }
}

/// What the service hears from OBS.
#[derive(Debug, Clone)]
pub enum LinkEvent {
    /// A target changed state.
    TargetState(TargetStateChanged),
    /// The plugin's periodic health report.
    Health(HealthReport),
    /// A Now Playing source's stable tempo changed.
    Tempo {
        /// BPM.
        bpm: f64,
        /// 0–1.
        confidence: f64,
        /// The audio source it listens to.
        audio_source: String,
    },
    /// OBS's own stream started or stopped.
    MainStream {
        /// Whether it is live now.
        active: bool,
    },
    /// OBS is shutting down.
    Closing,
}

impl LinkEvent {
    fn from_obs(e: obws::events::Event) -> Option<LinkEvent> {
        use obws::events::Event;
        match e {
            Event::VendorEvent {
                vendor_name,
                event_type,
                event_data,
            } if vendor_name == VENDOR_NAME => {
                let decoded = match event_type.as_str() {
                    protocol::event::TARGET_STATE_CHANGED => {
                        serde_json::from_value(event_data).map(LinkEvent::TargetState)
                    }
                    protocol::event::TARGET_HEALTH => {
                        serde_json::from_value(event_data).map(LinkEvent::Health)
                    }
                    protocol::event::TEMPO_CHANGED => Ok(LinkEvent::Tempo {
                        bpm: event_data["bpm"].as_f64().unwrap_or(0.0),
                        confidence: event_data["confidence"].as_f64().unwrap_or(0.0),
                        audio_source: event_data["audioSource"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    }),
                    _ => return None,
                };
                // A payload this companion cannot read is a contract break worth a log line, not
                // a silent gap (the polls still correct the picture).
                decoded
                    .map_err(|e| {
                        tracing::warn!("ignoring a {event_type} event from the plugin: {e}")
                    })
                    .ok()
            }
            Event::StreamStateChanged { active, .. } => Some(LinkEvent::MainStream { active }),
            Event::ExitStarted | Event::ServerStopping => Some(LinkEvent::Closing),
            _ => None,
        }
    }
}

/// OBS's own stream output.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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

/// The track for `SetNowPlaying`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NowPlaying {
    /// Artist.
    pub artist: String,
    /// Title.
    pub title: String,
    /// Album.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub album: Option<String>,
    /// The DJ software's BPM for the track.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bpm: Option<f64>,
}
