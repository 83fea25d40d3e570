//! Multistream targets: extra RTMP/RTMPS outputs next to OBS's own stream.
//!
//! - [`model`]: validation, presets, ids (pure).
//! - [`store`]: the per-profile JSON file (atomic writes; never keys).
//! - [`host`]: the OBS side as a trait; [`obs_host`] implements it with libobs outputs.
//! - [`engine`]: state machines, keys, health, and the typed requests.
//! - [`command`]: the typed commands the worker runs on the engine.
//! - [`worker`]: the thread that owns the engine and serialises everything that reaches it.
//! - [`hotkey`]: the names of the start/stop hotkeys and what pressing them does.
pub mod command;
pub mod engine;
pub mod host;
pub mod hotkey;
pub mod model;
pub mod obs_host;
pub mod store;
#[cfg(test)]
mod tests;
pub mod worker;
