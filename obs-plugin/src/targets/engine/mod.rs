//! The targets engine: configuration, keys, output lifecycle, health and the typed requests.
//!
//! One engine lives on the targets worker thread (`targets::worker`), which feeds it commands,
//! output signals, frontend events and a 1 Hz tick. Nothing here blocks on other threads, so a
//! slow or failing target can only ever change its own state.
//!
//! - [`config`]: the targets and encoder configs of the loaded profile, keys, import, the file;
//! - [`lifecycle`]: starting and stopping outputs, their signals, frontend events;
//! - [`health`]: 1 Hz sampling, warnings and the `TargetHealth` event;
//! - this file: the engine itself and one [`Handle`] impl per request.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use deckcast_protocol::targets::{
    BulkReply, CreateTarget, DeleteEncoderConfig, DeleteTarget, EncoderConfig, ExportTargets,
    GetTarget, GetTargetHealth, HealthReport, ImportReply, ImportTargets, ListTargets,
    SetStreamKey, SetTargetVideoBitrate, StartAllTargets, StartTarget, StopAllTargets, StopTarget,
    TargetHealth, TargetList, TargetReply, TargetState, TargetsExport, UpdateEncoderConfig,
    UpdateTarget, VideoBitrate,
};
use deckcast_protocol::{Empty, Error, ErrorCode, Event};
use deckcast_secrets::{KeyStore, Secret};

use super::command::Handle;
use super::host::{Host, OutputSignal, OutputStats};
use super::model::{self, ModelError};
use super::store::ProfileFile;

mod bitrate;
mod config;
mod health;
mod lifecycle;

/// Keyring account of a target's stream key.
pub fn key_account(id: &str) -> String {
    format!("stream-key:{id}")
}

/// OBS output name of a target.
pub fn output_name(id: &str) -> String {
    format!("deckcast:{id}")
}

/// The error for an unknown target id.
fn no_target(id: &str) -> Error {
    Error::not_found(format!("no target with id {id:?}"))
}

impl From<ModelError> for Error {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::InvalidValue(m) => Error::new(ErrorCode::InvalidValue, m),
        }
    }
}

/// Frontend happenings the engine reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum FrontendEvent {
    /// OBS finished loading, or switched to this profile: load its targets.
    ProfileLoaded(Option<PathBuf>),
    /// The profile is about to change: stop targets and save.
    ProfileChanging,
    /// The profile was renamed: its folder (and our file) moved.
    ProfileRenamed(Option<PathBuf>),
    /// OBS's main stream is starting.
    MainStreamStarting,
    /// OBS's main stream is stopping.
    MainStreamStopping,
    /// OBS is saving its state: save ours (hotkey bindings may have changed).
    Save,
}

/// A new signal to route back to the engine: (target id, output generation, signal).
pub type SignalRouter = Arc<dyn Fn(String, u64, OutputSignal) + Send + Sync>;

/// What an output was built from, besides its key (a new key drops the output at once): a start
/// with other settings builds a fresh output.
#[derive(Debug, Clone, PartialEq)]
struct Built {
    server: String,
    encoder: super::host::EncoderSpec,
    reconnect: deckcast_protocol::targets::ReconnectPolicy,
}

impl Built {
    fn of(spec: &super::host::OutputSpec) -> Built {
        Built {
            server: spec.server.clone(),
            encoder: spec.encoder.clone(),
            reconnect: spec.reconnect,
        }
    }
}

struct Runtime<O> {
    state: TargetState,
    output: Option<(u64, O)>,
    /// The settings `output` was built from.
    built: Option<Built>,
    last_error: Option<String>,
    reconnects: u32,
    user_stop: bool,
    live_since: Option<Instant>,
    last_sample: Option<(Instant, OutputStats)>,
    health: TargetHealth,
}

impl<O> Default for Runtime<O> {
    fn default() -> Self {
        Self {
            state: TargetState::Idle,
            output: None,
            built: None,
            last_error: None,
            reconnects: 0,
            user_stop: false,
            live_since: None,
            last_sample: None,
            health: TargetHealth::default(),
        }
    }
}

/// The engine. `H` is the OBS side.
pub struct Engine<H: Host> {
    host: H,
    keys: Arc<dyn KeyStore>,
    profile_dir: Option<PathBuf>,
    file: ProfileFile,
    /// Why the profile's targets file could not be read (permissions, I/O): until it can, the
    /// engine changes nothing and never saves over it.
    unreadable: Option<String>,
    runtime: HashMap<String, Runtime<H::Output>>,
    key_cache: HashMap<String, Secret>,
    router: SignalRouter,
    generation: u64,
    /// Lowered video bitrates of running dedicated encoders, by encoder config id: the config
    /// the encoder was built from, and the bitrate (kbit/s) it runs at.
    bitrates: HashMap<String, (EncoderConfig, u32)>,
}

impl<H: Host> std::fmt::Debug for Engine<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("profile_dir", &self.profile_dir)
            .field("targets", &self.file.targets.len())
            .finish_non_exhaustive()
    }
}

impl<H: Host> Engine<H> {
    /// A new engine with no profile loaded. `router` delivers output signals back to the worker.
    pub fn new(host: H, keys: Arc<dyn KeyStore>, router: SignalRouter) -> Self {
        Self {
            host,
            keys,
            profile_dir: None,
            file: ProfileFile::default(),
            unreadable: None,
            runtime: HashMap::new(),
            key_cache: HashMap::new(),
            router,
            generation: 0,
            bitrates: HashMap::new(),
        }
    }

    /// The OBS side (tests inspect the fake).
    pub fn host(&self) -> &H {
        &self.host
    }

    /// Sends `event` to obs-websocket clients.
    fn emit<E: Event>(&self, event: &E) {
        if let Ok(data) = serde_json::to_value(event) {
            self.host.emit_event(E::NAME, data);
        }
    }
}

impl<H: Host> Handle<ListTargets> for Engine<H> {
    fn handle(&mut self, _: ListTargets) -> Result<TargetList, Error> {
        Ok(self.list())
    }
}

impl<H: Host> Handle<GetTarget> for Engine<H> {
    fn handle(&mut self, r: GetTarget) -> Result<TargetReply, Error> {
        self.reply(&r.id)
    }
}

impl<H: Host> Handle<CreateTarget> for Engine<H> {
    fn handle(&mut self, r: CreateTarget) -> Result<TargetReply, Error> {
        let id = self.create(r)?;
        self.reply(&id)
    }
}

impl<H: Host> Handle<UpdateTarget> for Engine<H> {
    fn handle(&mut self, r: UpdateTarget) -> Result<TargetReply, Error> {
        let id = r.id.clone();
        self.update(r)?;
        self.reply(&id)
    }
}

impl<H: Host> Handle<DeleteTarget> for Engine<H> {
    fn handle(&mut self, r: DeleteTarget) -> Result<Empty, Error> {
        self.delete(&r.id).map(|()| Empty {})
    }
}

impl<H: Host> Handle<SetStreamKey> for Engine<H> {
    fn handle(&mut self, r: SetStreamKey) -> Result<Empty, Error> {
        self.index(&r.id)?;
        let key = model::validate_key(&r.key)?;
        self.store_key(&r.id, key)?;
        Ok(Empty {})
    }
}

impl<H: Host> Handle<StartTarget> for Engine<H> {
    fn handle(&mut self, r: StartTarget) -> Result<TargetReply, Error> {
        self.start(&r.id)?;
        self.reply(&r.id)
    }
}

impl<H: Host> Handle<StopTarget> for Engine<H> {
    fn handle(&mut self, r: StopTarget) -> Result<TargetReply, Error> {
        self.stop(&r.id, r.force)?;
        self.reply(&r.id)
    }
}

impl<H: Host> Handle<StartAllTargets> for Engine<H> {
    fn handle(&mut self, _: StartAllTargets) -> Result<BulkReply, Error> {
        Ok(self.start_where(|c| c.enabled))
    }
}

impl<H: Host> Handle<StopAllTargets> for Engine<H> {
    fn handle(&mut self, _: StopAllTargets) -> Result<BulkReply, Error> {
        Ok(self.stop_where(|_| true))
    }
}

impl<H: Host> Handle<GetTargetHealth> for Engine<H> {
    fn handle(&mut self, q: GetTargetHealth) -> Result<HealthReport, Error> {
        let targets = match q.id {
            Some(id) => {
                self.index(&id)?;
                vec![self.health_of(&id)]
            }
            None => self.all_health(),
        };
        Ok(HealthReport { targets })
    }
}

impl<H: Host> Handle<UpdateEncoderConfig> for Engine<H> {
    fn handle(&mut self, r: UpdateEncoderConfig) -> Result<EncoderConfig, Error> {
        self.update_encoder(r)
    }
}

impl<H: Host> Handle<DeleteEncoderConfig> for Engine<H> {
    fn handle(&mut self, r: DeleteEncoderConfig) -> Result<Empty, Error> {
        self.delete_encoder(&r.id).map(|()| Empty {})
    }
}

impl<H: Host> Handle<ExportTargets> for Engine<H> {
    fn handle(&mut self, _: ExportTargets) -> Result<TargetsExport, Error> {
        Ok(self.file.export())
    }
}

impl<H: Host> Handle<ImportTargets> for Engine<H> {
    fn handle(&mut self, r: ImportTargets) -> Result<ImportReply, Error> {
        self.import(r)
    }
}

impl<H: Host> Handle<SetTargetVideoBitrate> for Engine<H> {
    fn handle(&mut self, r: SetTargetVideoBitrate) -> Result<VideoBitrate, Error> {
        self.set_video_bitrate(r)
    }
}
