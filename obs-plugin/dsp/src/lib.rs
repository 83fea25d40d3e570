//! Deckcast's audio analysis: pure Rust (on realfft), no libobs; used by the plugin's
//! sources and by the companion (`deckcast analyze`, `deckcast listen`).
//!
//! - [`tempo`]: live BPM from multi-band onsets and beat grids: octave resolution, range folding,
//!   corrections, a readout shown only when stable, held through breakdowns.
//! - [`spectrum`]: log-frequency band spectrum with smoothing and peak hold.
//!
//! Threads: constructors allocate (settings thread); `process`/`analyze` run on the caller's
//! real-time audio thread and allocate nothing, take no lock and do no I/O.
#![forbid(unsafe_code)]

pub mod spectrum;
pub mod tempo;
