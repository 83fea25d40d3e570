//! What the targets engine needs from OBS, as a trait: the real implementation drives libobs
//! outputs (`obs_host.rs`), the unit tests use a scripted fake. All methods run on the targets
//! worker thread.
use std::collections::BTreeMap;

use deckcast_protocol::targets::{EncoderConfig, ReconnectPolicy};
use deckcast_secrets::Secret;

/// Which encoders an output uses.
#[derive(Debug, Clone, PartialEq)]
pub enum EncoderSpec {
    /// OBS's streaming encoders.
    Shared,
    /// A dedicated pair built from this config (instances are shared per config id and settings).
    Dedicated(EncoderConfig),
}

/// Everything needed to create one target's output.
#[derive(Debug, Clone)]
pub struct OutputSpec {
    /// Target id.
    pub target_id: String,
    /// OBS output name, `deckcast:<id>`.
    pub output_name: String,
    /// Server URL.
    pub server: String,
    /// Stream key.
    pub key: Secret,
    /// Encoders.
    pub encoder: EncoderSpec,
    /// Reconnect policy.
    pub reconnect: ReconnectPolicy,
}

/// Output lifecycle signals and where they go.
pub use crate::obs::output::{OutputSignal, SignalSink};

/// Counters of a running output (the libobs wrapper's plain-data type).
pub use crate::obs::output::Stats as OutputStats;

/// Log levels for [`Host::log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Errors.
    Error,
    /// Warnings.
    Warn,
    /// Information.
    Info,
}

/// The OBS side of the targets engine.
pub trait Host {
    /// An owned output; dropping it releases the OBS output (and disconnects its signals).
    type Output;

    /// Creates (without starting) the output for `spec`; its signals go to `sink`.
    fn create_output(
        &mut self,
        spec: &OutputSpec,
        sink: SignalSink,
    ) -> Result<Self::Output, String>;
    /// Starts the output (asynchronous: the result arrives as [`OutputSignal`]s).
    fn start_output(&mut self, output: &Self::Output) -> Result<(), String>;
    /// Requests a stop (asynchronous): after the buffered data is sent, or at once (`force`).
    fn stop_output(&mut self, output: &Self::Output, force: bool);
    /// Current counters.
    fn stats(&self, output: &Self::Output) -> OutputStats;
    /// Sends a vendor event to obs-websocket clients.
    fn emit_event(&self, event_type: &'static str, data: serde_json::Value);
    /// Writes to OBS's log (never pass secrets).
    fn log(&self, level: Level, msg: &str);
    /// Whether OBS's main stream has dynamic bitrate enabled.
    fn main_dynamic_bitrate(&self) -> bool;
    /// The bitrate (video + audio, kbit/s) OBS's own stream encoders are set to, if known.
    fn main_stream_kbps(&self) -> Option<u32>;
    /// Makes the per-target start/stop hotkeys match `targets` (id, name), restoring bindings from
    /// `saved` (by hotkey name) for the ones it registers. With `profile_loaded` every Deckcast
    /// hotkey, the fixed ones included, takes its bindings from `saved` (none if absent): another
    /// profile's bindings never carry over.
    fn sync_hotkeys(
        &mut self,
        targets: &[(String, String)],
        saved: &BTreeMap<String, serde_json::Value>,
        profile_loaded: bool,
    );
    /// Current bindings of all Deckcast hotkeys by name (`None`: this host has no hotkeys).
    fn hotkey_bindings(&self) -> Option<BTreeMap<String, serde_json::Value>>;
    /// Whether video encoders of type `encoder` can change their bitrate while they run.
    fn bitrate_adjustable(&self, encoder: &str) -> bool;
    /// Runs the dedicated video encoder built from `config` at `kbps` (its other settings stay;
    /// libobs keeps them for its next start too). Err if no such encoder exists.
    fn set_video_bitrate(&mut self, config: &EncoderConfig, kbps: u32) -> Result<(), String>;
}
