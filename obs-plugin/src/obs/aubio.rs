//! One fact about a C library the plugin uses, kept at the unsafe boundary: aubio's tempo objects
//! hold plain heap state with no thread affinity, so a tracker may move between threads. (The
//! `aubio` crate's types are `!Send` only because they hold raw pointers.) Callers keep it behind
//! a lock, so it is never used by two threads at once.
use deckcast_dsp::tempo::TempoTracker;

/// A [`TempoTracker`] that may be sent to the audio thread.
#[derive(Debug)]
pub struct SendTracker(pub TempoTracker);

// SAFETY: see the module docs; aubio's objects are only ever used from one thread at a time (the
// owner's mutex).
unsafe impl Send for SendTracker {}
