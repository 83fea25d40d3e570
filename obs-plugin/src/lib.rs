//! Deckcast's OBS Studio plugin (OBS module `deckcast`, loaded as `deckcast.so` by OBS ≥ 30.2).
//!
//! # Layout
//! - [`obs`] is the libobs boundary and the only module of this crate where the `unsafe_code` lint is allowed:
//!   the exported module entry points, panic-catching trampolines and safe wrappers (logging through
//!   `blog`, `obs_data`, locale, the obs-websocket vendor API).
//! - [`plugin`] is the module lifecycle in safe Rust: what happens on load, post-load and unload.
//! - [`vendor_api`] answers the `deckcast` vendor requests (payloads from `deckcast-protocol`).
//!
//! # Threads
//! - OBS's UI thread calls the module entry points (`obs_module_load`, `obs_module_post_load`,
//!   `obs_module_unload`, locale callbacks).
//! - obs-websocket's worker threads call the vendor request handlers, concurrently; handlers only read
//!   immutable state set during load ([`plugin::Context`]) and never block.
//!
//! Every `extern "C"` function catches panics and returns a safe default: a Deckcast bug is logged
//! and must never take OBS down.

pub mod nowplaying;
#[allow(unsafe_code)]
pub mod obs;
pub mod plugin;
pub mod targets;
pub mod vendor_api;
pub mod visualizer;
