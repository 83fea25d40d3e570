//! Deckcast's audio analysis: pure Rust, no libobs, usable from the plugin and the companion.
//!
//! This crate is the home of the tempo tracker and the spectrum analyzer (the live-analysis issue).
//! It is an empty shell for now: it has no threads of its own; when it grows, `configure` runs on
//! a settings thread and `process` on the caller's real-time audio thread, allocation-free.
#![forbid(unsafe_code)]
