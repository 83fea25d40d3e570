//! The link to OBS over obs-websocket (`obws`): the only module that imports `obws`.
//!
//! [`ObsLink::connect`] performs the handshake (with password authentication when given), lets obws
//! verify OBS ≥ 30.2 and obs-websocket ^5.5, and turns every failure into a [`LinkError`] whose
//! message tells the user what to do. Vendor calls go through [`ObsLink::vendor`], which also
//! recognises Deckcast's `{"error": ...}` answers and a missing plugin.
use std::time::Duration;

use deckcast_protocol::{self as protocol, GetVersionResponse, VENDOR_NAME, VendorReply};
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
            broadcast_capacity: obws::client::DEFAULT_BROADCAST_CAPACITY,
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
        let reply = self
            .client
            .general()
            .call_vendor_request::<T, serde_json::Value>(CallVendorRequest {
                vendor_name: VENDOR_NAME,
                request_type,
                request_data: data,
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
}
