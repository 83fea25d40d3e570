//! Deckcast companion: the service a streamer runs next to OBS (binary `deckcast`).
//!
//! - [`obs_link`] is the only module that talks to OBS (through `obws`, obs-websocket 5.x). It
//!   checks versions, maps connection failures to [`obs_link::LinkError`] and offers typed calls for
//!   Deckcast's vendor API (`deckcast-protocol`).
//! - Passwords and keys are `deckcast_secrets::Secret`s, so they cannot reach `Debug` output or logs.
//! - [`status`] gathers what `deckcast status` prints; [`analyze`] runs the live tempo tracker
//!   (`deckcast-dsp`) over a WAV file (`deckcast analyze`).
//! - `deckcast serve` ([`serve`]) = [`service`] (the OBS link that survives restarts, feeding
//!   [`live`] and the SQLite [`store`]) + [`web`] (REST API, dashboard, SSE, `/metrics`), with
//!   secrets in the OS keyring ([`keys`]).
//!
//! Threads: everything runs on the binary's tokio runtime; `obws` spawns its own reader task per
//! connection. SQLite and keyring calls run on the blocking pool; std mutexes are never held
//! across `.await`.
#![forbid(unsafe_code)]

pub mod analyze;
pub mod ics;
pub mod keys;
pub mod listen;
pub mod live;
pub mod obs_link;
pub mod pull;
pub mod readers;
pub mod schedule;
pub mod scheduler;
pub mod serve;
pub mod service;
pub mod status;
pub mod store;
pub mod sync;
pub mod web;

pub use deckcast_secrets::Secret;
