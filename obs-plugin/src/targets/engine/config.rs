//! The loaded profile's targets and encoder configs: views, create/update/delete, import, keys
//! (keyring plus an in-memory cache), hotkeys and the per-profile file.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use deckcast_protocol::Error;
use deckcast_protocol::ErrorCode;
use deckcast_protocol::targets::{
    CreateTarget, EncoderChoice, EncoderConfig, EncoderRequest, ImportReply, ImportTargets,
    TargetConfig, TargetList, TargetRef, TargetReply, TargetView, UpdateEncoderConfig,
    UpdateTarget,
};
use deckcast_secrets::Secret;

use super::{Engine, key_account, no_target};
use crate::targets::host::{Host, Level};
use crate::targets::model;
use crate::targets::store::{self, ProfileFile};

impl<H: Host> Engine<H> {
    pub(super) fn index(&self, id: &str) -> Result<usize, Error> {
        self.file
            .targets
            .iter()
            .position(|t| t.id == id)
            .ok_or_else(|| no_target(id))
    }

    pub(super) fn config(&self, id: &str) -> Result<&TargetConfig, Error> {
        Ok(&self.file.targets[self.index(id)?])
    }

    pub(super) fn encoder_config(&self, id: &str) -> Option<&EncoderConfig> {
        self.file.encoders.iter().find(|e| e.id == id)
    }

    pub(super) fn has_key(&self, id: &str) -> bool {
        self.key_cache.contains_key(id)
    }

    pub(super) fn list(&self) -> TargetList {
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

    /// `{target}` for `id`.
    pub(super) fn reply(&self, id: &str) -> Result<TargetReply, Error> {
        Ok(TargetReply {
            target: self.view(id)?,
        })
    }

    pub(super) fn view(&self, id: &str) -> Result<TargetView, Error> {
        let config = self.config(id)?.clone();
        let rt = self.runtime.get(id);
        Ok(TargetView {
            has_key: self.has_key(id),
            key_storage: self.keys.backend().as_str().into(),
            state: rt.map(|r| r.state).unwrap_or_default(),
            last_error: rt.and_then(|r| r.last_error.clone()),
            server_warning: model::server_warning(config.platform, &config.server),
            config,
        })
    }

    /// Resolves the encoder part of a request into a choice, creating a config if asked.
    pub(super) fn resolve_encoder(&mut self, req: &EncoderRequest) -> Result<EncoderChoice, Error> {
        match req {
            EncoderRequest::Shared => Ok(EncoderChoice::Shared),
            EncoderRequest::Dedicated {
                config_id: Some(id),
                config: None,
            } => {
                if self.encoder_config(id).is_none() {
                    return Err(Error::new(
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
            } => Err(Error::new(
                ErrorCode::InvalidRequest,
                "encoder: give either configId (reuse a config) or config (create one), not both",
            )),
        }
    }

    /// Adds a target; returns its id.
    pub(super) fn create(&mut self, req: CreateTarget) -> Result<String, Error> {
        self.writable()?;
        if self.file.targets.len() >= model::MAX_TARGETS {
            return Err(Error::new(
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
        Ok(id)
    }

    pub(super) fn update(&mut self, req: UpdateTarget) -> Result<(), Error> {
        self.writable()?;
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
        Ok(())
    }

    pub(super) fn delete(&mut self, id: &str) -> Result<(), Error> {
        self.writable()?;
        let i = self.index(id)?;
        if let Some(rt) = self.runtime.remove(id)
            && let Some((_, out)) = &rt.output
            && rt.state.is_active()
        {
            self.host.stop_output(out, false);
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

    pub(super) fn update_encoder(
        &mut self,
        req: UpdateEncoderConfig,
    ) -> Result<EncoderConfig, Error> {
        self.writable()?;
        let pos = self
            .file
            .encoders
            .iter()
            .position(|e| e.id == req.id)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    format!("no encoder config with id {:?}", req.id),
                )
            })?;
        let cfg =
            model::encoder_config(req.id.clone(), Some(&self.file.encoders[pos]), &req.config)?;
        self.file.encoders[pos] = cfg.clone();
        self.save();
        Ok(cfg)
    }

    pub(super) fn delete_encoder(&mut self, id: &str) -> Result<(), Error> {
        self.writable()?;
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
            return Err(Error::new(
                ErrorCode::Conflict,
                format!("encoder config {id:?} is used by: {}", users.join(", ")),
            ));
        }
        let before = self.file.encoders.len();
        self.file.encoders.retain(|e| e.id != id);
        if self.file.encoders.len() == before {
            return Err(Error::new(
                ErrorCode::NotFound,
                format!("no encoder config with id {id:?}"),
            ));
        }
        self.save();
        Ok(())
    }

    pub(super) fn import(&mut self, req: ImportTargets) -> Result<ImportReply, Error> {
        self.writable()?;
        if req.data.format != store::FORMAT || req.data.version > store::VERSION {
            return Err(Error::new(
                ErrorCode::InvalidValue,
                "data is not a Deckcast targets export (format deckcast-targets, version 1)",
            ));
        }
        if req.data.targets.len() > model::MAX_TARGETS
            || req.data.encoders.len() > model::MAX_TARGETS
        {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!("at most {} targets per profile", model::MAX_TARGETS),
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
        // With `replace` the current ids are free again (re-importing an export keeps its keys).
        let mut taken: std::collections::HashSet<String> = if req.replace {
            std::collections::HashSet::new()
        } else {
            self.file.targets.iter().map(|t| t.id.clone()).collect()
        };
        let mut targets = Vec::new();
        for t in &req.data.targets {
            let mut c = t.clone();
            c.name = model::validate_name(&c.name)?;
            c.server = model::validate_server(&c.server)?;
            c.reconnect = model::validate_reconnect(c.reconnect)?;
            if let EncoderChoice::Dedicated { config_id } = &c.encoder {
                let new = enc_ids.get(config_id).ok_or_else(|| {
                    Error::new(
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
            taken.insert(c.id.clone());
            targets.push(c);
        }
        let staying = if req.replace {
            0
        } else {
            self.file.targets.len()
        };
        if staying + targets.len() > model::MAX_TARGETS {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!("at most {} targets per profile", model::MAX_TARGETS),
            ));
        }
        // Everything is valid: only now does anything change.
        let ids: Vec<String> = targets.iter().map(|t| t.id.clone()).collect();
        if req.replace {
            for (_, rt) in self.runtime.drain() {
                if let Some((_, out)) = &rt.output
                    && rt.state.is_active()
                {
                    self.host.stop_output(out, false);
                }
            }
            let gone: Vec<String> = self
                .file
                .targets
                .iter()
                .map(|t| t.id.clone())
                .filter(|id| !ids.contains(id))
                .collect();
            for id in &gone {
                self.key_cache.remove(id);
                if let Err(e) = self.keys.delete(&key_account(id)) {
                    self.host.log(
                        Level::Warn,
                        &format!("target {id}: could not remove its key from the keyring: {e}"),
                    );
                }
            }
            self.file.targets = targets;
        } else {
            self.file.targets.extend(targets);
        }
        self.file.encoders.extend(encoders);
        self.sync_hotkeys();
        for id in &ids {
            self.load_key(id);
        }
        self.save();
        Ok(ImportReply {
            targets: ids.into_iter().map(|id| TargetRef { id }).collect(),
        })
    }

    pub(super) fn store_key(&mut self, id: &str, key: Secret) -> Result<(), Error> {
        self.writable()?;
        self.keys.set(&key_account(id), &key).map_err(|e| {
            Error::new(
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

    pub(super) fn load_key(&mut self, id: &str) {
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
        self.unreadable = None;
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
            Err(e @ store::StoreError::Invalid { .. }) => {
                let aside = store::quarantine(&dir);
                self.host.log(
                    Level::Error,
                    &format!(
                        "{e}; starting with no targets (the old file was moved to {:?})",
                        aside.unwrap_or_default()
                    ),
                );
            }
            Err(e) => {
                // Not a bad file but one that cannot be read now: leave it alone.
                let why = format!(
                    "the targets file could not be read ({e}); Deckcast leaves it untouched and changes no targets until it can (fix its permissions, then switch profiles or restart OBS)"
                );
                self.host.log(Level::Error, &why);
                self.unreadable = Some(why);
            }
        }
        let ids: Vec<String> = self.file.targets.iter().map(|t| t.id.clone()).collect();
        for id in &ids {
            self.load_key(id);
        }
        self.sync_hotkeys_with(true);
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

    pub(super) fn sync_hotkeys(&mut self) {
        self.sync_hotkeys_with(false);
    }

    /// `profile_loaded`: every hotkey takes the loaded file's bindings (see `Host::sync_hotkeys`).
    fn sync_hotkeys_with(&mut self, profile_loaded: bool) {
        let list: Vec<(String, String)> = self
            .file
            .targets
            .iter()
            .map(|t| (t.id.clone(), t.name.clone()))
            .collect();
        self.host
            .sync_hotkeys(&list, &self.file.hotkeys, profile_loaded);
    }

    /// `Ok` unless the profile's file could not be read (see `Engine::unreadable`).
    pub(super) fn writable(&self) -> Result<(), Error> {
        match &self.unreadable {
            Some(why) => Err(Error::new(ErrorCode::Conflict, why.clone())),
            None => Ok(()),
        }
    }

    pub(super) fn save(&mut self) {
        if let Some(bindings) = self.host.hotkey_bindings() {
            self.file.hotkeys = bindings;
        }
        if self.unreadable.is_some() {
            return;
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
}
