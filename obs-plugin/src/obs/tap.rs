//! A plugin-wide audio tap: one [`AudioSink`] fed by OBS's program mix or by a named audio source,
//! outside any source instance (the audio meter uses it). It follows its source like a source's own
//! capture does ([`Capture`]): a source created later or renamed back is picked up the next time
//! [`Tap::follow`] runs.
//!
//! Threads: the sink's `audio` runs on libobs' audio thread; `follow`, `attached` and `detach` on
//! any other thread (obs-websocket workers, the UI thread at exit), one at a time.
use std::ffi::c_void;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use deckcast_obs_sys as sys;

use super::capture::{self, Capture, OUTPUT_MIX};
use super::guard;

/// What a tap feeds.
pub trait AudioSink: Send + Sync + 'static {
    /// Audio thread: one block of float planar audio (one or two channels, equal lengths).
    /// `muted`: the followed source is muted, so the stream hears silence instead. Must not
    /// allocate or block.
    fn audio(&self, planes: &[&[f32]], muted: bool);
}

/// The tap: lives as long as the module (kept in a static), so libobs never holds a dangling
/// `param`, even if a callback races with [`Tap::detach`].
pub struct Tap<S: AudioSink> {
    sink: S,
    capture: Capture,
    following: Mutex<()>,
    closed: AtomicBool,
}

impl<S: AudioSink> std::fmt::Debug for Tap<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("attached", &self.capture.attached())
            .finish_non_exhaustive()
    }
}

/// OBS's output sample rate (Hz).
pub fn sample_rate() -> u32 {
    // SAFETY: plain getter on OBS's audio output, which lives as long as libobs (null-checked).
    unsafe {
        let audio = sys::obs_get_audio();
        if audio.is_null() {
            return 48_000;
        }
        sys::audio_output_get_sample_rate(audio).max(1)
    }
}

impl<S: AudioSink> Tap<S> {
    /// A tap feeding `sink`, attached to nothing yet.
    pub fn new(sink: S) -> Tap<S> {
        Tap {
            sink,
            capture: Capture::default(),
            following: Mutex::new(()),
            closed: AtomicBool::new(false),
        }
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    fn param(&'static self) -> *mut c_void {
        std::ptr::from_ref(self).cast_mut().cast()
    }

    /// Makes sure the tap listens to the audio source named `source` (empty: the program mix).
    /// Cheap when nothing changed; does nothing once detached.
    pub fn follow(&'static self, source: &str) {
        let _one_at_a_time = self.following.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        let wanted = if source.is_empty() {
            OUTPUT_MIX
        } else {
            source
        };
        self.capture
            .resolve(wanted, on_audio::<S>, on_mix::<S>, self.param());
    }

    /// True while audio reaches the sink (the source exists, or the mix is connected).
    pub fn attached(&self) -> bool {
        self.capture.attached()
    }

    /// Disconnects for good (at exit, while libobs' audio still runs).
    pub fn detach(&'static self) {
        let _one_at_a_time = self.following.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, Ordering::Release);
        self.capture
            .detach(on_audio::<S>, on_mix::<S>, self.param());
    }
}

/// A source's capture callback (audio thread).
unsafe extern "C" fn on_audio<S: AudioSink>(
    param: *mut c_void,
    _source: *mut sys::obs_source_t,
    audio: *const sys::audio_data,
    muted: bool,
) {
    if param.is_null() || audio.is_null() {
        return;
    }
    // SAFETY: `param` is a `&'static Tap<S>`; libobs passes a valid block for the call.
    guard::catch("audio tap", (), || unsafe {
        deliver::<S>(param, audio, muted)
    });
}

/// The output mix callback (audio thread).
unsafe extern "C" fn on_mix<S: AudioSink>(
    param: *mut c_void,
    _mix_idx: usize,
    audio: *mut sys::audio_data,
) {
    if param.is_null() || audio.is_null() {
        return;
    }
    // SAFETY: as for `on_audio`.
    guard::catch("audio tap", (), || unsafe {
        deliver::<S>(param, audio, false)
    });
}

/// # Safety
/// `param` must be a `&'static Tap<S>` and `audio` the non-null block of the current callback.
unsafe fn deliver<S: AudioSink>(param: *mut c_void, audio: *const sys::audio_data, muted: bool) {
    // SAFETY: caller contract (shared references only).
    let (tap, audio) = unsafe { (&*param.cast::<Tap<S>>(), &*audio) };
    let mut planes: [&[f32]; 2] = [&[], &[]];
    // SAFETY: the block libobs passed to this callback, used only during it.
    let n = unsafe { capture::planes(audio, 2, &mut planes) };
    if n > 0 {
        tap.sink.audio(&planes[..n], muted);
    }
}
