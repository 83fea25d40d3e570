//! Deckcast's OBS Studio plugin (OBS module `deckcast`, loaded as `deckcast.so` by OBS ≥ 30.2).
//!
//! # Layout
//! - [`obs`] is the libobs boundary and the only module of this crate where the `unsafe_code` lint
//!   is allowed. It knows no feature: module entry points, a generic source trait with one set of
//!   guarded trampolines, a properties builder, RAII handles, logging, locale and the obs-websocket
//!   vendor API.
//! - [`plugin`] is the module lifecycle: what happens on load, post-load and unload.
//! - [`router`] is the one table from vendor request names to typed handlers (obs-websocket and the
//!   dock use it); [`events`] sends typed vendor events.
//! - [`targets`] are the multistream targets (engine, worker thread, libobs host).
//! - [`alerts`] keeps the companion's active alerts for the dock.
//! - [`meter`] measures what the stream hears (dead air, clipping) in 100 ms blocks; [`disk`]
//!   reads the free space where OBS records.
//! - [`nowplaying`] and [`visualizer`] are the two sources, in safe code; [`settings`] declares
//!   their settings once.
//!
//! # Threads
//! - OBS's UI thread calls the module entry points, frontend events, the dock and source
//!   create/update/destroy/properties.
//! - obs-websocket's worker threads call the vendor request handlers, concurrently; targets
//!   requests are answered by the `deckcast-targets` worker thread.
//! - The graphics thread ticks and renders the sources; the audio thread feeds them audio (no
//!   allocation, no blocking there).
//!
//! Every `extern "C"` function catches panics and returns a safe default: a Deckcast bug is logged
//! and must never take OBS down.

pub mod alerts;
pub mod disk;
pub mod events;
pub mod meter;
pub mod nowplaying;
#[allow(unsafe_code)]
pub mod obs;
pub mod plugin;
pub mod recording;
pub mod router;
pub mod settings;
pub mod targets;
pub mod visualizer;
