//! obs-websocket through `obws`: the only module that imports `obws`. Maps connection failures to
//! [`LinkError`]s that tell the user what to do, recognises a missing plugin, and turns obws events
//! into [`LinkEvent`]s.
use std::time::Duration;

use deckcast_protocol::VENDOR_NAME;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use obws::client::{ConnectConfig, HandshakeError};
use obws::requests::general::CallVendorRequest;
use obws::responses::StatusCode;

use super::{
    CONNECT_TIMEOUT, ConnectOptions, LinkError, LinkEvent, MainStream, ObsStats, ObsVersions,
    STARTUP_WAIT,
};
use crate::Secret;

/// obs-websocket's close code for a failed authentication.
const CLOSE_AUTHENTICATION_FAILED: u16 = 4009;

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

fn obs_error(err: obws::error::Error) -> LinkError {
    match err {
        obws::error::Error::Api {
            code: StatusCode::NotReady,
            message,
        } => LinkError::Busy(message.unwrap_or_default()),
        other => LinkError::Obs(error_chain(&other)),
    }
}

fn connect_error(err: obws::error::Error, opts: &ConnectOptions) -> LinkError {
    use obws::error::Error as E;
    let addr = format!("{}:{}", opts.host, opts.port);
    match err {
        E::Handshake(HandshakeError::ConnectionClosed(Some(details)))
            if u16::from(details.code) == CLOSE_AUTHENTICATION_FAILED =>
        {
            LinkError::AuthFailed {
                hint: if opts.password.is_none() {
                    ": OBS requires one; set DECKCAST_OBS_PASSWORD (or use --password-stdin)"
                } else {
                    "; check the password in OBS under Tools > WebSocket Server Settings"
                },
            }
        }
        E::ObsStudioVersion(found, required) => LinkError::Unsupported {
            what: "OBS Studio",
            found: found.to_string(),
            required: required.to_string(),
        },
        E::ObsWebsocketVersion(found, required) => LinkError::Unsupported {
            what: "obs-websocket",
            found: found.to_string(),
            required: required.to_string(),
        },
        E::Api {
            code: StatusCode::NotReady,
            ..
        } => LinkError::NotReady,
        E::Timeout => LinkError::Unreachable {
            addr,
            reason: format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        },
        other => LinkError::Unreachable {
            addr,
            reason: error_chain(&other),
        },
    }
}

/// A live obws client.
pub(super) struct WsLink {
    client: obws::Client,
}

/// Connects, waiting through `NotReady` for up to [`STARTUP_WAIT`].
pub(super) async fn connect(opts: &ConnectOptions) -> Result<WsLink, LinkError> {
    let deadline = tokio::time::Instant::now() + STARTUP_WAIT;
    loop {
        match connect_once(opts).await {
            Err(LinkError::NotReady) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
}

async fn connect_once(opts: &ConnectOptions) -> Result<WsLink, LinkError> {
    if opts.password.is_some() && !demands_auth(opts).await? {
        return Err(LinkError::NoAuth {
            addr: format!("{}:{}", opts.host, opts.port),
        });
    }
    let config = ConnectConfig {
        host: opts.host.as_str(),
        port: opts.port,
        password: opts.password.as_ref().map(Secret::expose),
        event_subscriptions: None,
        // Health events arrive every second per OBS; a slow consumer must not lose state
        // changes (obws drops lagged events silently, so the supervisor also re-reads state).
        broadcast_capacity: 1024,
        connect_timeout: CONNECT_TIMEOUT,
        dangerous: None,
    };
    let client = obws::Client::connect_with_config(config)
        .await
        .map_err(|e| connect_error(e, opts))?;
    Ok(WsLink { client })
}

/// Whether the obs-websocket at `opts` asks for authentication: reads its `Hello` (whose
/// `authentication` member carries the challenge) and closes. obs-websocket has no server
/// authentication, so this cannot unmask a peer that fakes the challenge; it refuses the simple
/// impostor that answers on OBS's port without one, before it can be given anything.
pub(super) async fn demands_auth(opts: &ConnectOptions) -> Result<bool, LinkError> {
    let addr = format!("{}:{}", opts.host, opts.port);
    let unreachable = |reason: String| LinkError::Unreachable {
        addr: addr.clone(),
        reason,
    };
    let probe = async {
        let uri = if opts.host.contains(':') {
            format!("ws://[{}]:{}", opts.host, opts.port)
        } else {
            format!("ws://{addr}")
        };
        let builder = tokio_websockets::ClientBuilder::new()
            .uri(&uri)
            .map_err(|e| unreachable(e.to_string()))?;
        let (mut ws, _) = builder
            .connect()
            .await
            .map_err(|e| unreachable(error_chain(&e)))?;
        let hello = loop {
            match ws.next().await {
                Some(Ok(m)) if m.is_text() => break m,
                Some(Ok(m)) if m.is_close() => {
                    return Err(unreachable(
                        "it closed the connection before saying hello".into(),
                    ));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(unreachable(error_chain(&e))),
                None => {
                    return Err(unreachable(
                        "it closed the connection before saying hello".into(),
                    ));
                }
            }
        };
        let _ = futures_util::SinkExt::close(&mut ws).await;
        let text = hello.as_text().unwrap_or_default();
        let hello: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| unreachable(format!("its hello is not JSON: {e}")))?;
        if hello["op"] != 0 {
            return Err(unreachable("it does not speak obs-websocket 5".into()));
        }
        Ok(hello["d"]["authentication"].is_object())
    };
    tokio::time::timeout(CONNECT_TIMEOUT, probe)
        .await
        .map_err(|_| unreachable(format!("no hello within {} s", CONNECT_TIMEOUT.as_secs())))?
}

impl WsLink {
    pub(super) async fn vendor(
        &self,
        request_type: &'static str,
        data: serde_json::Value,
    ) -> Result<serde_json::Value, LinkError> {
        let reply = self
            .client
            .general()
            .call_vendor_request::<_, serde_json::Value>(CallVendorRequest {
                vendor_name: VENDOR_NAME,
                request_type,
                request_data: &data,
            })
            .await;
        match reply {
            Ok(resp) => Ok(resp.response_data),
            Err(obws::error::Error::Api { code, message }) => {
                let message = message.unwrap_or_default();
                Err(
                    if code == StatusCode::ResourceNotFound
                        && message.to_ascii_lowercase().contains("vendor")
                    {
                        LinkError::PluginMissing
                    } else if code == StatusCode::NotReady {
                        LinkError::Busy(request_type.to_owned())
                    } else {
                        LinkError::Obs(format!("{request_type}: {message} ({code:?})"))
                    },
                )
            }
            Err(e) => Err(obs_error(e)),
        }
    }

    pub(super) async fn versions(&self) -> Result<ObsVersions, LinkError> {
        let v = self.client.general().version().await.map_err(obs_error)?;
        Ok(ObsVersions {
            obs_studio: v.obs_studio_version.to_string(),
            obs_websocket: v.obs_web_socket_version.to_string(),
            rpc: v.rpc_version,
        })
    }

    pub(super) fn events(&self) -> Result<BoxStream<'static, LinkEvent>, LinkError> {
        use obws::events::Event;
        let stream = self.client.events().map_err(obs_error)?;
        Ok(stream
            .filter_map(|e| async move {
                match e {
                    Event::VendorEvent {
                        vendor_name,
                        event_type,
                        event_data,
                    } if vendor_name == VENDOR_NAME => {
                        LinkEvent::from_vendor(&event_type, event_data)
                    }
                    Event::StreamStateChanged { active, .. } => {
                        Some(LinkEvent::MainStream { active })
                    }
                    Event::RecordStateChanged {
                        active,
                        state,
                        path,
                    } => {
                        use obws::events::OutputState;
                        match state {
                            OutputState::Started | OutputState::Stopped => {
                                Some(LinkEvent::Recording { active, path })
                            }
                            OutputState::Paused => {
                                Some(LinkEvent::RecordingPaused { paused: true })
                            }
                            OutputState::Resumed => {
                                Some(LinkEvent::RecordingPaused { paused: false })
                            }
                            _ => None,
                        }
                    }
                    Event::ExitStarted | Event::ServerStopping => Some(LinkEvent::Closing),
                    _ => None,
                }
            })
            .boxed())
    }

    pub(super) async fn main_stream(&self) -> Result<MainStream, LinkError> {
        let s = self.client.streaming().status().await.map_err(obs_error)?;
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

    pub(super) async fn stats(&self) -> Result<ObsStats, LinkError> {
        let s = self.client.general().stats().await.map_err(obs_error)?;
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

    pub(super) async fn set_main_stream(&self, live: bool) -> Result<(), LinkError> {
        let r = if live {
            self.client.streaming().start().await
        } else {
            self.client.streaming().stop().await
        };
        match r {
            Ok(()) => Ok(()),
            Err(obws::error::Error::Api {
                code: StatusCode::OutputRunning | StatusCode::OutputNotRunning,
                ..
            }) => Ok(()),
            Err(e) => Err(obs_error(e)),
        }
    }

    pub(super) async fn record_output(&self) -> Result<super::RecordOutput, LinkError> {
        let s = self.client.recording().status().await.map_err(obs_error)?;
        Ok(super::RecordOutput {
            active: s.active,
            paused: s.paused,
            duration_ms: s.duration.whole_milliseconds() as i64,
            bytes: s.bytes,
        })
    }

    pub(super) async fn start_recording(&self) -> Result<bool, LinkError> {
        match self.client.recording().start().await {
            Ok(()) => Ok(true),
            Err(obws::error::Error::Api {
                code: StatusCode::OutputRunning,
                ..
            }) => Ok(false),
            Err(e) => Err(LinkError::Obs(format!(
                "starting the recording: {}",
                error_chain(&e)
            ))),
        }
    }

    pub(super) async fn stop_recording(&self) -> Result<String, LinkError> {
        self.client
            .recording()
            .stop()
            .await
            .map_err(|e| LinkError::Obs(format!("stopping the recording: {}", error_chain(&e))))
    }

    pub(super) async fn add_record_chapter(&self, name: &str) -> Result<bool, LinkError> {
        match self.client.recording().create_chapter(Some(name)).await {
            Ok(()) => Ok(true),
            Err(obws::error::Error::Api { code, message }) => {
                tracing::debug!("CreateRecordChapter refused: {code:?} {message:?}");
                Ok(false)
            }
            Err(e) => Err(LinkError::Obs(format!(
                "adding a chapter: {}",
                error_chain(&e)
            ))),
        }
    }

    pub(super) async fn program_scene(&self) -> Result<String, LinkError> {
        let s = self
            .client
            .scenes()
            .current_program_scene()
            .await
            .map_err(obs_error)?;
        Ok(s.id.name)
    }

    pub(super) async fn set_program_scene(&self, scene: &str) -> Result<(), LinkError> {
        self.client
            .scenes()
            .set_current_program_scene(obws::requests::scenes::SceneId::Name(scene))
            .await
            .map_err(|e| {
                LinkError::Obs(format!("switching to scene '{scene}': {}", error_chain(&e)))
            })
    }

    pub(super) async fn scene_names(&self) -> Result<Vec<String>, LinkError> {
        let list = self.client.scenes().list().await.map_err(obs_error)?;
        Ok(list.scenes.into_iter().map(|s| s.id.name).collect())
    }

    pub(super) async fn play_media(
        &self,
        scene: &str,
        input: &str,
        file: &str,
        looping: bool,
    ) -> Result<(), LinkError> {
        use obws::requests::inputs::Create;
        self.remove_input(input).await?;
        let settings = MediaSourceSettings {
            is_local_file: true,
            local_file: file,
            looping,
            restart_on_activate: false,
            close_when_inactive: false,
            clear_on_media_end: true,
            hw_decode: false,
        };
        self.client
            .inputs()
            .create(Create {
                scene: obws::requests::scenes::SceneId::Name(scene),
                input,
                kind: "ffmpeg_source",
                settings: Some(settings),
                enabled: Some(true),
            })
            .await
            .map_err(|e| {
                LinkError::Obs(format!(
                    "adding the media source '{input}' to scene '{scene}': {}",
                    error_chain(&e)
                ))
            })?;
        Ok(())
    }

    pub(super) async fn media_playback(
        &self,
        input: &str,
    ) -> Result<Option<super::MediaPlayback>, LinkError> {
        use super::MediaPhase as P;
        use obws::requests::inputs::InputId;
        use obws::responses::media_inputs::MediaState as S;
        let status = match self
            .client
            .media_inputs()
            .status(InputId::Name(input))
            .await
        {
            Ok(s) => s,
            Err(obws::error::Error::Api {
                code: StatusCode::ResourceNotFound,
                ..
            }) => return Ok(None),
            Err(e) => return Err(obs_error(e)),
        };
        let phase = match status.state {
            S::Playing => P::Playing,
            S::Opening | S::Buffering => P::Starting,
            S::Paused => P::Paused,
            S::Stopped => P::Stopped,
            S::Ended => P::Ended,
            S::Error => P::Error,
            _ => P::Idle,
        };
        Ok(Some(super::MediaPlayback {
            phase,
            cursor_ms: status.cursor.map(|d| d.whole_milliseconds() as i64),
            duration_ms: status.duration.map(|d| d.whole_milliseconds() as i64),
        }))
    }

    pub(super) async fn remove_input(&self, input: &str) -> Result<(), LinkError> {
        use obws::requests::inputs::InputId;
        match self.client.inputs().remove(InputId::Name(input)).await {
            Ok(())
            | Err(obws::error::Error::Api {
                code: StatusCode::ResourceNotFound,
                ..
            }) => Ok(()),
            Err(e) => Err(LinkError::Obs(format!(
                "removing the media source '{input}': {}",
                error_chain(&e)
            ))),
        }
    }
}

/// OBS's Media Source (`ffmpeg_source`) settings for a re-air: the file from its start, playing
/// at once, never closed while hidden (its position is the show's clock), cleared at its end.
#[derive(serde::Serialize)]
struct MediaSourceSettings<'a> {
    is_local_file: bool,
    local_file: &'a str,
    looping: bool,
    restart_on_activate: bool,
    close_when_inactive: bool,
    clear_on_media_end: bool,
    hw_decode: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::SinkExt;
    use tokio_websockets::Message;

    /// A peer on a free port that says obs-websocket's hello (with or without a challenge) and
    /// then accepts whatever comes, like a program squatting on OBS's port.
    async fn squatter(challenge: bool) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok((_, mut ws)) =
                        tokio_websockets::ServerBuilder::new().accept(stream).await
                    else {
                        return;
                    };
                    let auth = if challenge {
                        r#","authentication":{"challenge":"c","salt":"s"}"#
                    } else {
                        ""
                    };
                    let hello = format!(
                        r#"{{"op":0,"d":{{"obsWebSocketVersion":"5.7.4","rpcVersion":1{auth}}}}}"#
                    );
                    let _ = ws.send(Message::text(hello)).await;
                    while let Some(Ok(_)) = ws.next().await {}
                });
            }
        });
        port
    }

    fn opts(port: u16, password: Option<&str>) -> ConnectOptions {
        ConnectOptions {
            host: "127.0.0.1".into(),
            port,
            password: password.and_then(Secret::new),
        }
    }

    #[tokio::test]
    async fn a_peer_that_does_not_ask_for_the_configured_password_is_refused() {
        let port = squatter(false).await;
        assert!(!demands_auth(&opts(port, None)).await.unwrap());
        let err = connect(&opts(port, Some("pw"))).await.err().unwrap();
        assert!(matches!(err, LinkError::NoAuth { .. }), "{err}");
        assert!(err.to_string().contains("may not be OBS"), "{err}");
        // A peer that sends a challenge passes the probe (and then has to survive the handshake).
        let port = squatter(true).await;
        assert!(demands_auth(&opts(port, Some("pw"))).await.unwrap());
        // Nothing listening: unreachable, as before.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert!(matches!(
            demands_auth(&opts(closed, Some("pw"))).await,
            Err(LinkError::Unreachable { .. })
        ));
    }
}
