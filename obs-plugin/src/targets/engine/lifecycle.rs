//! Outputs: starting and stopping targets, the state machine driven by output signals (tagged
//! with the output's generation, so late signals of a replaced output are ignored), and frontend
//! events (profile changes, OBS's own stream starting or stopping, saving).
use std::sync::Arc;
use std::time::Instant;

use deckcast_protocol::targets::{
    BulkReply, EncoderChoice, StartFailure, TargetConfig, TargetRef, TargetState,
    TargetStateChanged,
};
use deckcast_protocol::{Error, ErrorCode};
use deckcast_secrets::redact;

use super::{Engine, FrontendEvent, output_name};
use crate::targets::host::{EncoderSpec, Host, Level, OutputSignal, OutputSpec, SignalSink};
use crate::targets::model;

/// How long [`Engine::shutdown`] waits for outputs to finish stopping.
const SHUTDOWN_STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

impl<H: Host> Engine<H> {
    pub(super) fn spec(&self, id: &str) -> Result<OutputSpec, Error> {
        let cfg = self.config(id)?;
        let key = self.key_cache.get(id).cloned().ok_or_else(|| {
            Error::new(
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
                    Error::new(
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

    pub(super) fn start(&mut self, id: &str) -> Result<(), Error> {
        let state = self.runtime.get(id).map(|r| r.state).unwrap_or_default();
        if state.is_active() && state != TargetState::Stopping {
            return Ok(()); // already running: starting again is a no-op
        }
        if state == TargetState::Stopping {
            return Err(Error::new(
                ErrorCode::Conflict,
                "the target is still stopping; start it again in a moment",
            ));
        }
        // An encoder lowered for a stream that has ended starts at its config's bitrate (the
        // tick does this too, but a restart can come sooner).
        self.forget_idle_bitrates();
        let spec = self.spec(id)?;
        if matches!(spec.encoder, EncoderSpec::Shared) && self.host.main_dynamic_bitrate() {
            self.host.log(
                Level::Warn,
                &format!("target {id} shares OBS's streaming encoder while the main stream has dynamic bitrate on: its bitrate will drop whenever OBS lowers the main stream's"),
            );
        }
        let built = super::Built::of(&spec);
        if let Some(rt) = self.runtime.get_mut(id)
            && rt.output.is_some()
            && rt.built.as_ref() != Some(&built)
        {
            // Its server, encoder config or reconnect policy changed since the output was built
            // (while it was live, or an encoder config it uses): an idle output is replaced.
            rt.output = None;
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
                Error::new(ErrorCode::Internal, msg)
            })?;
            let rt = self.runtime.entry(id.to_owned()).or_default();
            rt.output = Some((generation, output));
            rt.built = Some(built);
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
                Err(Error::new(ErrorCode::Internal, msg))
            }
        }
    }

    /// Stops target `id`: after its buffered data is sent, or at once when `force` is set or a
    /// stop is already under way (a second stop forces, as OBS's own Stop button does).
    pub(super) fn stop(&mut self, id: &str, force: bool) -> Result<(), Error> {
        self.index(id)?;
        let Some(rt) = self.runtime.get_mut(id) else {
            return Ok(());
        };
        if !rt.state.is_active() {
            return Ok(());
        }
        let again = rt.state == TargetState::Stopping;
        rt.user_stop = true;
        if let Some((_, out)) = &rt.output {
            self.host.stop_output(out, force || again);
        }
        if force || again {
            self.host
                .log(Level::Info, &format!("target {id}: forced to stop"));
        }
        self.set_state(id, TargetState::Stopping);
        Ok(())
    }

    pub(super) fn start_where(&mut self, pred: impl Fn(&TargetConfig) -> bool) -> BulkReply {
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

    pub(super) fn stop_where(&mut self, pred: impl Fn(&TargetConfig) -> bool) -> BulkReply {
        let ids: Vec<String> = self
            .file
            .targets
            .iter()
            .filter(|t| pred(t))
            .map(|t| t.id.clone())
            .collect();
        let mut reply = BulkReply::default();
        for id in ids {
            let state = self.runtime.get(&id).map(|r| r.state).unwrap_or_default();
            if state.is_active() {
                // One already stopping is left to finish (stopping it again would force it).
                if state != TargetState::Stopping {
                    let _ = self.stop(&id, false);
                }
                reply.targets.push(TargetRef { id });
            }
        }
        reply
    }

    pub(super) fn fail(&mut self, id: &str, message: String) {
        self.runtime.entry(id.to_owned()).or_default().last_error = Some(message.clone());
        self.host
            .log(Level::Warn, &format!("target {id}: {message}"));
        self.set_state(id, TargetState::Error);
    }

    pub(super) fn set_state(&mut self, id: &str, state: TargetState) {
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
        self.emit(&ev);
    }

    /// Applies an output signal (ignored if it comes from an output that has since been replaced).
    pub fn on_signal(&mut self, id: &str, generation: u64, signal: OutputSignal) {
        let Some(rt) = self.runtime.get_mut(id) else {
            return;
        };
        if rt.output.as_ref().map(|(g, _)| *g) != Some(generation) {
            return;
        }
        match signal {
            OutputSignal::Started => self.set_state(id, TargetState::Live),
            OutputSignal::Reconnecting => {
                if rt.state != TargetState::Reconnecting {
                    rt.reconnects += 1;
                    rt.last_error = Some("Disconnected from the server; reconnecting".into());
                    self.set_state(id, TargetState::Reconnecting);
                }
            }
            OutputSignal::Reconnected => {
                rt.last_error = None;
                self.set_state(id, TargetState::Live);
            }
            OutputSignal::Stopped { code, last_error } => {
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

    /// Stops everything and releases every output (OBS is exiting). An output is released only
    /// once its stop has finished (at most [`SHUTDOWN_STOP_WAIT`] in all): releasing one whose
    /// stop or reconnect attempt is still running on libobs' threads crashed OBS in obs-outputs
    /// (seen in the fuzz e2e test, core dump in the stop 24 note).
    pub fn shutdown(&mut self) {
        self.stop_where(|_| true);
        self.save();
        let deadline = Instant::now() + SHUTDOWN_STOP_WAIT;
        while Instant::now() < deadline
            && self.runtime.values().any(|rt| {
                rt.output.as_ref().is_some_and(|(_, out)| {
                    let s = self.host.stats(out);
                    s.active || s.reconnecting
                })
            })
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.runtime.clear();
    }
}
