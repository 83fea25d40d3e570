//! Deckcast companion: the service a streamer runs next to OBS (binary `deckcast`).
//!
//! - [`app`] is the companion as one set of typed operations (targets, keys, now playing,
//!   schedules, the streamer's site). The web handlers ([`web`]), the CLI, the OBS supervisor
//!   ([`supervisor`]), the scheduler ([`scheduler`]), the platform pull
//!   ([`app::pull`]) and the DJ-software readers ([`readers`]) all call it.
//! - [`obs`] is the link to OBS: typed vendor calls from `deckcast-protocol`, the only user of
//!   `obws`, and an in-process fake obs-websocket for unit tests.
//! - [`live`] is the live picture (snapshot + change notifications), [`session`] the stream
//!   session state machine, [`store`] the SQLite database, [`keys`] the OS keyring, [`webhooks`]
//!   the signed outbox delivery.
//! - [`library`] holds the recording library's types (shown by the API and the webhook).
//! - [`recfiles`] finds a recording's file on this computer and hashes it; [`remux`] writes
//!   chapters into it and copies its audio out with ffmpeg (never re-encoding).
//! - [`tracklist`] turns the track changes of a recording into tracklists and their exports (CUE,
//!   YouTube chapters, Mixcloud sections, text).
//! - [`tus`] is the resumable-upload protocol a recording reaches the streamer's site with;
//!   [`uploader`] is the task that carries uploads out (`app::recording` queues them).
//! - [`player`] is the task that follows a re-air (`app::reair`): Now Playing from the
//!   recording's tracklist at the media source's position.
//! - [`status`] gathers what `deckcast status` prints; [`analyze`] and [`listen`] run the live
//!   tempo tracker (`deckcast-dsp`) over a WAV file or an audio interface.
//! - [`serve`] wires `deckcast serve` together.
//!
//! Passwords and keys are `deckcast_secrets::Secret`s, so they cannot reach `Debug` output or logs.
//!
//! Threads: everything runs on the binary's tokio runtime; `obws` spawns its own reader task per
//! connection. SQLite and keyring calls run on the blocking pool; std mutexes are never held
//! across `.await`.
#![forbid(unsafe_code)]

pub mod alerter;
pub mod alerts;
pub mod analyze;
pub mod app;
pub mod bus;
pub mod child;
pub mod evaluate;
pub mod fetch;
pub mod keys;
pub mod lan;
pub mod library;
pub mod listen;
pub mod live;
pub mod logging;
pub mod names;
pub mod obs;
pub mod player;
pub mod readers;
pub mod recfiles;
pub mod remux;
pub mod report;
pub mod schedule;
pub mod scheduler;
pub mod serve;
pub mod session;
pub mod status;
pub mod store;
pub mod supervisor;
pub mod tracklist;
pub mod tus;
pub mod uploader;
pub mod web;
pub mod webhooks;

pub use deckcast_secrets::Secret;
