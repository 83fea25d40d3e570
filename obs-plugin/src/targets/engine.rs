//! The targets engine: configuration, keys, output lifecycle, health and the vendor requests.
//!
//! One engine lives on the targets worker thread (`targets::worker`), which feeds it requests,
//! output signals, frontend events and a 1 Hz tick. Nothing here blocks on other threads, so a
//! slow or failing target can only ever change its own state.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use deckcast_protocol::targets::{
    BulkReply, CreateTarget, EncoderChoice, EncoderConfig, EncoderRequest, HealthQuery,
    HealthReport, ImportReply, ImportTargets, SetStreamKey, StartFailure, TargetConfig,
    TargetHealth, TargetId, TargetList, TargetRef, TargetReply, TargetState, TargetStateChanged,
    TargetView, UpdateEncoderConfig, UpdateTarget, Warning,
};
use deckcast_protocol::{ErrorCode, event, request};
use deckcast_secrets::{Backend, KeyStore, Secret, redact};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::host::{EncoderSpec, Host, Level, OutputSpec, OutputStats, Signal, SignalSink};
use super::model::{self, ModelError};
use super::store::{self, ProfileFile};

/// Keyring account of a target's stream key.
pub fn key_account(id: &str) -> String {
    format!("stream-key:{id}")
}

/// OBS output name of a target.
pub fn output_name(id: &str) -> String {
    format!("deckcast:{id}")
}

/// A request failure, answered as `{"error": {code, message}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Error code.
    pub code: ErrorCode,
    /// Message (never contains a key).
    pub message: String,
}

impl ApiError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn not_found(id: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no target with id {id:?}"))
    }
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::InvalidValue(m) => Self::new(ErrorCode::InvalidValue, m),
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
pub type SignalRouter = Arc<dyn Fn(String, u64, Signal) + Send + Sync>;

struct Runtime<O> {
    state: TargetState,
    output: Option<(u64, O)>,
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
    runtime: HashMap<String, Runtime<H::Output>>,
    key_cache: HashMap<String, Secret>,
    router: SignalRouter,
    generation: u64,
}

impl<H: Host> std::fmt::Debug for Engine<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("profile_dir", &self.profile_dir)
            .field("targets", &self.file.targets.len())
            .finish_non_exhaustive()
    }
}

fn parse<T: DeserializeOwned>(kind: &str, data: Value) -> Result<T, ApiError> {
    let data = if data.is_null() { json!({}) } else { data };
    if !data.is_object() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("{kind}: request data must be a JSON object"),
        ));
    }
    serde_json::from_value(data)
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("{kind}: {e}")))
}

fn to_value<T: Serialize>(v: T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
}

impl<H: Host> Engine<H> {
    /// A new engine with no profile loaded. `router` delivers output signals back to the worker.
    pub fn new(host: H, keys: Arc<dyn KeyStore>, router: SignalRouter) -> Self {
        Self {
            host,
            keys,
            profile_dir: None,
            file: ProfileFile::default(),
            runtime: HashMap::new(),
            key_cache: HashMap::new(),
            router,
            generation: 0,
        }
    }

    /// The OBS side (tests inspect the fake).
    pub fn host(&self) -> &H {
        &self.host
    }

    /// Handles one vendor request; the answer is the success payload or an error object.
    pub fn handle(&mut self, kind: &str, data: Value) -> Value {
        match self.dispatch(kind, data) {
            Ok(v) => v,
            Err(e) => json!({"error": {"code": e.code, "message": e.message}}),
        }
    }

    fn dispatch(&mut self, kind: &str, data: Value) -> Result<Value, ApiError> {
        match kind {
            request::LIST_TARGETS => to_value(self.list()),
            request::GET_TARGET => {
                let r: TargetId = parse(kind, data)?;
                to_value(TargetReply {
                    target: self.view(&r.id)?,
                })
            }
            request::CREATE_TARGET => self.create(parse(kind, data)?),
            request::UPDATE_TARGET => self.update(parse(kind, data)?),
            request::DELETE_TARGET => {
                let r: TargetId = parse(kind, data)?;
                self.delete(&r.id).map(|()| json!({}))
            }
            request::SET_STREAM_KEY => {
                let r: SetStreamKey = parse(kind, data)?;
                self.index(&r.id)?;
                let key = model::validate_key(&r.key)?;
                self.store_key(&r.id, key)?;
                Ok(json!({}))
            }
            request::START_TARGET => {
                let r: TargetId = parse(kind, data)?;
                self.start(&r.id)?;
                to_value(TargetReply {
                    target: self.view(&r.id)?,
                })
            }
            request::STOP_TARGET => {
                let r: TargetId = parse(kind, data)?;
                self.stop(&r.id)?;
                to_value(TargetReply {
                    target: self.view(&r.id)?,
                })
            }
            request::START_ALL_TARGETS => {
                let _: Value = parse(kind, data)?;
                to_value(self.start_where(|c| c.enabled))
            }
            request::STOP_ALL_TARGETS => {
                let _: Value = parse(kind, data)?;
                to_value(self.stop_where(|_| true))
            }
            request::GET_TARGET_HEALTH => {
                let q: HealthQuery = parse(kind, data)?;
                let targets = match q.id {
                    Some(id) => {
                        self.index(&id)?;
                        vec![self.health_of(&id)]
                    }
                    None => self.all_health(),
                };
                to_value(HealthReport { targets })
            }
            request::UPDATE_ENCODER_CONFIG => self.update_encoder(parse(kind, data)?),
            request::DELETE_ENCODER_CONFIG => {
                let r: TargetId = parse(kind, data)?;
                self.delete_encoder(&r.id).map(|()| json!({}))
            }
            request::EXPORT_TARGETS => {
                let _: Value = parse(kind, data)?;
                to_value(self.file.export())
            }
            request::IMPORT_TARGETS => self.import(parse(kind, data)?),
            other => Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("unknown request {other:?}"),
            )),
        }
    }

    // ---- configuration -------------------------------------------------------------------

    fn index(&self, id: &str) -> Result<usize, ApiError> {
        self.file
            .targets
            .iter()
            .position(|t| t.id == id)
            .ok_or_else(|| ApiError::not_found(id))
    }

    fn config(&self, id: &str) -> Result<&TargetConfig, ApiError> {
        Ok(&self.file.targets[self.index(id)?])
    }

    fn encoder_config(&self, id: &str) -> Option<&EncoderConfig> {
        self.file.encoders.iter().find(|e| e.id == id)
    }

    fn has_key(&self, id: &str) -> bool {
        self.key_cache.contains_key(id)
    }

    fn list(&self) -> TargetList {
        TargetList {
            targets: self
                .file
                .targets
                .iter()
                .filter_map(|t| self.view(&t.id).ok())
                .collect(),
            encoders: self.file.encoders.clone(),
            key_storage: self.keys.backend().as_str().into(),
        }
    }

    fn view(&self, id: &str) -> Result<TargetView, ApiError> {
        let config = self.config(id)?.clone();
        let rt = self.runtime.get(id);
        Ok(TargetView {
            has_key: self.has_key(id),
            key_storage: self.keys.backend().as_str().into(),
            state: rt.map(|r| r.state).unwrap_or_default(),
            last_error: rt.and_then(|r| r.last_error.clone()),
            config,
        })
    }

    /// Resolves the encoder part of a request into a choice, creating a config if asked.
    fn resolve_encoder(&mut self, req: &EncoderRequest) -> Result<EncoderChoice, ApiError> {
        match req {
            EncoderRequest::Shared => Ok(EncoderChoice::Shared),
            EncoderRequest::Dedicated {
                config_id: Some(id),
                config: None,
            } => {
                if self.encoder_config(id).is_none() {
                    return Err(ApiError::new(
                        ErrorCode::NotFound,
                        format!("no encoder config with id {id:?}"),
                    ));
                }
                Ok(EncoderChoice::Dedicated {
                    config_id: id.clone(),
                })
            }
            EncoderRequest::Dedicated {
                config_id: None,
                config,
            } => {
                let cfg = model::encoder_config(
                    model::new_id(),
                    None,
                    &config.clone().unwrap_or_default(),
                )?;
                let id = cfg.id.clone();
                self.file.encoders.push(cfg);
                Ok(EncoderChoice::Dedicated { config_id: id })
            }
            EncoderRequest::Dedicated {
                config_id: Some(_),
                config: Some(_),
            } => Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "encoder: give either configId (reuse a config) or config (create one), not both",
            )),
        }
    }

    fn create(&mut self, req: CreateTarget) -> Result<Value, ApiError> {
        if self.file.targets.len() >= model::MAX_TARGETS {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("at most {} targets per profile", model::MAX_TARGETS),
            ));
        }
        let mut cfg = model::new_target(&req, model::new_id())?;
        let key = req.key.as_deref().map(model::validate_key).transpose()?;
        let encoders_before = self.file.encoders.len();
        if let Some(enc) = &req.encoder {
            cfg.encoder = self.resolve_encoder(enc)?;
        }
        let id = cfg.id.clone();
        self.file.targets.push(cfg);
        self.sync_hotkeys();
        if let Some(key) = key
            && let Err(e) = self.store_key(&id, key)
        {
            self.file.targets.pop();
            self.file.encoders.truncate(encoders_before);
            self.sync_hotkeys();
            return Err(e);
        }
        self.save();
        self.host.log(
            Level::Info,
            &format!("target {id} ({}) created", self.config(&id)?.name),
        );
        to_value(TargetReply {
            target: self.view(&id)?,
        })
    }

    fn update(&mut self, req: UpdateTarget) -> Result<Value, ApiError> {
        let i = self.index(&req.id)?;
        let mut cfg = model::updated_target(&self.file.targets[i], &req)?;
        let key = req.key.as_deref().map(model::validate_key).transpose()?;
        if let Some(enc) = &req.encoder {
            cfg.encoder = self.resolve_encoder(enc)?;
        }
        if let Some(key) = key {
            self.store_key(&req.id, key)?;
        }
        let changed_output = {
            let old = &self.file.targets[i];
            old.server != cfg.server || old.encoder != cfg.encoder || old.reconnect != cfg.reconnect
        };
        let renamed = self.file.targets[i].name != cfg.name;
        self.file.targets[i] = cfg;
        if renamed {
            self.sync_hotkeys();
        }
        if changed_output {
            // Settings take effect at the next start; an idle target's old output is dropped now.
            if let Some(rt) = self.runtime.get_mut(&req.id)
                && !rt.state.is_active()
            {
                rt.output = None;
            }
        }
        self.save();
        to_value(TargetReply {
            target: self.view(&req.id)?,
        })
    }

    fn delete(&mut self, id: &str) -> Result<(), ApiError> {
        let i = self.index(id)?;
        if let Some(rt) = self.runtime.remove(id)
            && let Some((_, out)) = &rt.output
            && rt.state.is_active()
        {
            self.host.stop_output(out);
        }
        self.file.targets.remove(i);
        self.sync_hotkeys();
        self.key_cache.remove(id);
        if let Err(e) = self.keys.delete(&key_account(id)) {
            self.host.log(
                Level::Warn,
                &format!("target {id}: could not remove its key from the keyring: {e}"),
            );
        }
        self.save();
        self.host.log(Level::Info, &format!("target {id} deleted"));
        Ok(())
    }

    fn update_encoder(&mut self, req: UpdateEncoderConfig) -> Result<Value, ApiError> {
        let pos = self
            .file
            .encoders
            .iter()
            .position(|e| e.id == req.id)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("no encoder config with id {:?}", req.id),
                )
            })?;
        let cfg =
            model::encoder_config(req.id.clone(), Some(&self.file.encoders[pos]), &req.config)?;
        self.file.encoders[pos] = cfg.clone();
        self.save();
        to_value(cfg)
    }

    fn delete_encoder(&mut self, id: &str) -> Result<(), ApiError> {
        let users: Vec<_> = self
            .file
            .targets
            .iter()
            .filter(
                |t| matches!(&t.encoder, EncoderChoice::Dedicated { config_id } if config_id == id),
            )
            .map(|t| t.name.clone())
            .collect();
        if !users.is_empty() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("encoder config {id:?} is used by: {}", users.join(", ")),
            ));
        }
        let before = self.file.encoders.len();
        self.file.encoders.retain(|e| e.id != id);
        if self.file.encoders.len() == before {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("no encoder config with id {id:?}"),
            ));
        }
        self.save();
        Ok(())
    }

    fn import(&mut self, req: ImportTargets) -> Result<Value, ApiError> {
        if req.data.format != store::FORMAT || req.data.version > store::VERSION {
            return Err(ApiError::new(
                ErrorCode::InvalidValue,
                "data is not a Deckcast targets export (format deckcast-targets, version 1)",
            ));
        }
        // Validate everything before changing anything.
        let mut encoders = Vec::new();
        let mut enc_ids = HashMap::new();
        for e in &req.data.encoders {
            let input = deckcast_protocol::targets::EncoderConfigInput {
                name: Some(e.name.clone()),
                encoder: Some(e.encoder.clone()),
                bitrate_kbps: Some(e.bitrate_kbps),
                keyint_sec: Some(e.keyint_sec),
                preset: Some(e.preset.clone()),
                width: e.width,
                height: e.height,
                fps_divisor: Some(e.fps_divisor),
                audio_bitrate_kbps: Some(e.audio_bitrate_kbps),
                audio_track: Some(e.audio_track),
            };
            let new_id = model::new_id();
            encoders.push(model::encoder_config(new_id.clone(), None, &input)?);
            enc_ids.insert(e.id.clone(), new_id);
        }
        if req.replace {
            let ids: Vec<String> = self.file.targets.iter().map(|t| t.id.clone()).collect();
            for id in ids {
                self.delete(&id)?;
            }
        }
        let taken: std::collections::HashSet<String> =
            self.file.targets.iter().map(|t| t.id.clone()).collect();
        let mut targets = Vec::new();
        for t in &req.data.targets {
            let mut c = t.clone();
            c.name = model::validate_name(&c.name)?;
            c.server = model::validate_server(&c.server)?;
            c.reconnect = model::validate_reconnect(c.reconnect)?;
            if let EncoderChoice::Dedicated { config_id } = &c.encoder {
                let new = enc_ids.get(config_id).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidValue,
                        format!(
                            "target {:?} names a missing encoder config {config_id:?}",
                            c.name
                        ),
                    )
                })?;
                c.encoder = EncoderChoice::Dedicated {
                    config_id: new.clone(),
                };
            }
            // Keep ids (so keys already in the keyring still match) unless taken or malformed.
            if taken.contains(&c.id)
                || c.id.is_empty()
                || c.id.len() > 32
                || !c.id.chars().all(|ch| ch.is_ascii_alphanumeric())
            {
                c.id = model::new_id();
            }
            targets.push(c);
        }
        if self.file.targets.len() + targets.len() > model::MAX_TARGETS {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("at most {} targets per profile", model::MAX_TARGETS),
            ));
        }
        let ids: Vec<String> = targets.iter().map(|t| t.id.clone()).collect();
        self.file.encoders.extend(encoders);
        self.file.targets.extend(targets);
        self.sync_hotkeys();
        for id in &ids {
            self.load_key(id);
        }
        self.save();
        to_value(ImportReply {
            targets: ids.into_iter().map(|id| TargetRef { id }).collect(),
        })
    }

    // ---- keys ------------------------------------------------------------------------------

    fn store_key(&mut self, id: &str, key: Secret) -> Result<(), ApiError> {
        self.keys.set(&key_account(id), &key).map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("could not store the stream key: {e}"),
            )
        })?;
        self.key_cache.insert(id.to_owned(), key);
        // A changed key needs a new output; an active one keeps streaming with the old key.
        if let Some(rt) = self.runtime.get_mut(id)
            && !rt.state.is_active()
        {
            rt.output = None;
        }
        Ok(())
    }

    fn load_key(&mut self, id: &str) {
        match self.keys.get(&key_account(id)) {
            Ok(Some(k)) => {
                self.key_cache.insert(id.to_owned(), k);
            }
            Ok(None) => {}
            Err(e) => self.host.log(
                Level::Warn,
                &format!("target {id}: could not read its stream key: {e}"),
            ),
        }
    }

    // ---- profile ---------------------------------------------------------------------------

    /// Loads the targets of the profile in `dir` (None: no profile, nothing persists).
    pub fn load_profile(&mut self, dir: Option<PathBuf>) {
        self.stop_where(|_| true);
        // OBS 31+ switches to a newly created profile without a ProfileChanging event first, so
        // the profile being left is saved here too (hotkey bindings live only in memory until then).
        if self.profile_dir.is_some() {
            self.save();
        }
        self.runtime.clear();
        self.key_cache.clear();
        self.file = ProfileFile::default();
        self.profile_dir = dir.clone();
        let Some(dir) = dir else {
            self.host.log(
                Level::Warn,
                "no OBS profile directory: targets will not be saved",
            );
            return;
        };
        match store::load(&dir) {
            Ok(f) => self.file = f,
            Err(e) => {
                let aside = store::quarantine(&dir);
                self.host.log(
                    Level::Error,
                    &format!(
                        "{e}; starting with no targets (the old file was moved to {:?})",
                        aside.unwrap_or_default()
                    ),
                );
            }
        }
        let ids: Vec<String> = self.file.targets.iter().map(|t| t.id.clone()).collect();
        for id in &ids {
            self.load_key(id);
        }
        self.sync_hotkeys();
        self.host.log(
            Level::Info,
            &format!(
                "loaded {} target(s) from {} (keys in the {})",
                ids.len(),
                store::path_in(&dir).display(),
                self.keys.backend().as_str()
            ),
        );
    }

    fn sync_hotkeys(&mut self) {
        let list: Vec<(String, String)> = self
            .file
            .targets
            .iter()
            .map(|t| (t.id.clone(), t.name.clone()))
            .collect();
        self.host.sync_hotkeys(&list, &self.file.hotkeys);
    }

    fn save(&mut self) {
        if let Some(bindings) = self.host.hotkey_bindings() {
            self.file.hotkeys = bindings;
        }
        let Some(dir) = &self.profile_dir else { return };
        if let Err(e) = store::save(dir, &self.file) {
            self.host
                .log(Level::Error, &format!("could not save targets: {e}"));
        }
    }

    /// The loaded profile directory.
    pub fn profile_dir(&self) -> Option<&Path> {
        self.profile_dir.as_deref()
    }

    // ---- lifecycle -------------------------------------------------------------------------

    fn spec(&self, id: &str) -> Result<OutputSpec, ApiError> {
        let cfg = self.config(id)?;
        let key = self.key_cache.get(id).cloned().ok_or_else(|| {
            ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "target {:?} has no stream key: set one with SetStreamKey",
                    cfg.name
                ),
            )
        })?;
        let encoder = match &cfg.encoder {
            EncoderChoice::Shared => EncoderSpec::Shared,
            EncoderChoice::Dedicated { config_id } => EncoderSpec::Dedicated(
                self.encoder_config(config_id).cloned().ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::Conflict,
                        format!("target {:?} uses a missing encoder config", cfg.name),
                    )
                })?,
            ),
        };
        Ok(OutputSpec {
            target_id: id.to_owned(),
            output_name: output_name(id),
            server: cfg.server.clone(),
            key,
            encoder,
            reconnect: cfg.reconnect,
        })
    }

    fn start(&mut self, id: &str) -> Result<(), ApiError> {
        let state = self.runtime.get(id).map(|r| r.state).unwrap_or_default();
        if state.is_active() && state != TargetState::Stopping {
            return Ok(()); // already running: starting again is a no-op
        }
        if state == TargetState::Stopping {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "the target is still stopping; start it again in a moment",
            ));
        }
        let spec = self.spec(id)?;
        if matches!(spec.encoder, EncoderSpec::Shared) && self.host.main_dynamic_bitrate() {
            self.host.log(
                Level::Warn,
                &format!("target {id} shares OBS's streaming encoder while the main stream has dynamic bitrate on: its bitrate will drop whenever OBS lowers the main stream's"),
            );
        }
        if self.runtime.get(id).is_none_or(|r| r.output.is_none()) {
            self.generation += 1;
            let generation = self.generation;
            let router = Arc::clone(&self.router);
            let target = id.to_owned();
            let sink: SignalSink = Arc::new(move |s| router(target.clone(), generation, s));
            let output = self.host.create_output(&spec, sink).map_err(|e| {
                let msg = redact(&e, [&spec.key]);
                self.fail(id, msg.clone());
                ApiError::new(ErrorCode::Internal, msg)
            })?;
            self.runtime.entry(id.to_owned()).or_default().output = Some((generation, output));
        }
        let rt = self.runtime.entry(id.to_owned()).or_default();
        rt.reconnects = 0;
        rt.user_stop = false;
        rt.last_error = None;
        rt.last_sample = None;
        rt.live_since = None;
        let started = match &rt.output {
            Some((_, out)) => self.host.start_output(out),
            None => Err("no output".into()),
        };
        match started {
            Ok(()) => {
                self.set_state(id, TargetState::Connecting);
                Ok(())
            }
            Err(e) => {
                let msg = format!("could not start: {}", redact(&e, [&spec.key]));
                self.fail(id, msg.clone());
                // A failed start leaves the output unusable; build a fresh one next time.
                if let Some(rt) = self.runtime.get_mut(id) {
                    rt.output = None;
                }
                Err(ApiError::new(ErrorCode::Internal, msg))
            }
        }
    }

    fn stop(&mut self, id: &str) -> Result<(), ApiError> {
        self.index(id)?;
        let Some(rt) = self.runtime.get_mut(id) else {
            return Ok(());
        };
        if !rt.state.is_active() || rt.state == TargetState::Stopping {
            return Ok(());
        }
        rt.user_stop = true;
        if let Some((_, out)) = &rt.output {
            self.host.stop_output(out);
        }
        self.set_state(id, TargetState::Stopping);
        Ok(())
    }

    fn start_where(&mut self, pred: impl Fn(&TargetConfig) -> bool) -> BulkReply {
        let ids: Vec<String> = self
            .file
            .targets
            .iter()
            .filter(|t| pred(t))
            .map(|t| t.id.clone())
            .collect();
        let mut reply = BulkReply::default();
        for id in ids {
            match self.start(&id) {
                Ok(()) => reply.targets.push(TargetRef { id }),
                Err(e) => reply.failed.push(StartFailure {
                    id,
                    message: e.message,
                }),
            }
        }
        reply
    }

    fn stop_where(&mut self, pred: impl Fn(&TargetConfig) -> bool) -> BulkReply {
        let ids: Vec<String> = self
            .file
            .targets
            .iter()
            .filter(|t| pred(t))
            .map(|t| t.id.clone())
            .collect();
        let mut reply = BulkReply::default();
        for id in ids {
            if self.runtime.get(&id).is_some_and(|r| r.state.is_active()) {
                let _ = self.stop(&id);
                reply.targets.push(TargetRef { id });
            }
        }
        reply
    }

    fn fail(&mut self, id: &str, message: String) {
        self.runtime.entry(id.to_owned()).or_default().last_error = Some(message.clone());
        self.host
            .log(Level::Warn, &format!("target {id}: {message}"));
        self.set_state(id, TargetState::Error);
    }

    fn set_state(&mut self, id: &str, state: TargetState) {
        let Ok(name) = self.config(id).map(|c| c.name.clone()) else {
            return;
        };
        let rt = self.runtime.entry(id.to_owned()).or_default();
        let previous = rt.state;
        if previous == state {
            return;
        }
        rt.state = state;
        match state {
            TargetState::Live if rt.live_since.is_none() => rt.live_since = Some(Instant::now()),
            TargetState::Idle | TargetState::Error => rt.live_since = None,
            _ => {}
        }
        let ev = TargetStateChanged {
            id: id.to_owned(),
            name,
            state,
            previous,
            last_error: rt.last_error.clone(),
            reconnects: rt.reconnects,
        };
        self.host.log(
            Level::Info,
            &format!("target {id}: {previous:?} -> {state:?}"),
        );
        if let Ok(v) = serde_json::to_value(&ev) {
            self.host.emit_event(event::TARGET_STATE_CHANGED, v);
        }
    }

    /// Applies an output signal (ignored if it comes from an output that has since been replaced).
    pub fn on_signal(&mut self, id: &str, generation: u64, signal: Signal) {
        let Some(rt) = self.runtime.get_mut(id) else {
            return;
        };
        if rt.output.as_ref().map(|(g, _)| *g) != Some(generation) {
            return;
        }
        match signal {
            Signal::Started => self.set_state(id, TargetState::Live),
            Signal::Reconnecting => {
                if rt.state != TargetState::Reconnecting {
                    rt.reconnects += 1;
                    rt.last_error = Some("Disconnected from the server; reconnecting".into());
                    self.set_state(id, TargetState::Reconnecting);
                }
            }
            Signal::Reconnected => {
                rt.last_error = None;
                self.set_state(id, TargetState::Live);
            }
            Signal::Stopped { code, last_error } => {
                let user = rt.user_stop;
                rt.user_stop = false;
                if code == 0 || user {
                    self.set_state(id, TargetState::Idle);
                } else {
                    let mut reason = model::stop_reason(code, last_error.as_deref());
                    if code == -5 && rt.reconnects > 0 {
                        reason = format!("{reason} Gave up after the reconnect policy's retries.");
                    }
                    if let Some(k) = self.key_cache.get(id) {
                        reason = redact(&reason, [k]);
                    }
                    self.fail(id, reason);
                }
            }
        }
    }

    /// Applies a frontend event.
    pub fn on_frontend(&mut self, ev: FrontendEvent) {
        match ev {
            FrontendEvent::ProfileLoaded(dir) => {
                if dir.as_deref() != self.profile_dir.as_deref() || self.profile_dir.is_none() {
                    self.load_profile(dir);
                }
            }
            FrontendEvent::ProfileRenamed(dir) => {
                if dir.is_some() {
                    self.profile_dir = dir;
                    self.save();
                }
            }
            FrontendEvent::ProfileChanging => {
                self.stop_where(|_| true);
                self.save();
            }
            FrontendEvent::MainStreamStarting => {
                let r = self.start_where(|c| c.enabled && c.sync_start);
                for f in r.failed {
                    self.host.log(
                        Level::Warn,
                        &format!("target {}: sync start failed: {}", f.id, f.message),
                    );
                }
            }
            FrontendEvent::MainStreamStopping => {
                self.stop_where(|c| c.sync_stop);
            }
            FrontendEvent::Save => self.save(),
        }
    }

    /// Stops everything and releases every output (OBS is exiting).
    pub fn shutdown(&mut self) {
        self.stop_where(|_| true);
        self.save();
        self.runtime.clear();
    }

    // ---- health ----------------------------------------------------------------------------

    fn warnings(&self, id: &str) -> Vec<Warning> {
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

    fn health_of(&self, id: &str) -> TargetHealth {
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
        h
    }

    fn all_health(&self) -> Vec<TargetHealth> {
        self.file
            .targets
            .iter()
            .map(|t| self.health_of(&t.id))
            .collect()
    }

    /// Samples every active output (call once a second) and emits `TargetHealth` while any is active.
    pub fn tick(&mut self) {
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
        if any_active
            && let Ok(v) = serde_json::to_value(HealthReport {
                targets: self.all_health(),
            })
        {
            self.host.emit_event(event::TARGET_HEALTH, v);
        }
    }

    /// Ids and names of all targets (for hotkeys and the dock).
    pub fn targets(&self) -> impl Iterator<Item = &TargetConfig> {
        self.file.targets.iter()
    }
}
