//! Following an OBS audio source by name for a capture callback: attach when it appears (it may be
//! created after us), re-attach after a rename back or a change of setting, detach on drop/destroy.
//! The special name [`OUTPUT_MIX`] connects to OBS's output mix (what the stream hears) instead.
//! Called from the graphics thread (ticks) and the UI thread (destroy).
use std::ffi::{CString, c_void};
use std::sync::Mutex;

use deckcast_obs_sys as sys;

/// libobs' audio capture callback type.
pub type Callback =
    unsafe extern "C" fn(*mut c_void, *mut sys::obs_source_t, *const sys::audio_data, bool);

/// libobs' audio output (mix) callback type.
pub type MixCallback = unsafe extern "C" fn(*mut c_void, usize, *mut sys::audio_data);

/// The setting value that means "OBS's output mix" instead of a source name.
pub const OUTPUT_MIX: &str = "__output_mix__";

/// The attached source (weak) and its name, or the output mix.
#[derive(Debug, Default)]
pub struct Capture {
    current: Mutex<Option<(usize, String)>>,
    mix: Mutex<bool>,
}

impl Capture {
    fn weak(ptr: usize) -> *mut sys::obs_weak_source_t {
        ptr as *mut sys::obs_weak_source_t
    }

    /// Makes sure `callback(param)` is attached to the source named `wanted` (or to nothing when
    /// empty). Cheap when nothing changed.
    pub(super) fn resolve(
        &self,
        wanted: &str,
        callback: Callback,
        mix: MixCallback,
        param: *mut c_void,
    ) {
        let want_mix = wanted == OUTPUT_MIX;
        {
            let mut connected = self.mix.lock().unwrap_or_else(|e| e.into_inner());
            if want_mix != *connected {
                // SAFETY: OBS's audio output lives as long as libobs; the caller keeps `param` alive
                // until it disconnects (here or in `detach`).
                let ok = unsafe {
                    if want_mix {
                        sys::audio_output_connect(
                            sys::obs_get_audio(),
                            0,
                            std::ptr::null(),
                            Some(mix),
                            param,
                        )
                    } else {
                        sys::audio_output_disconnect(sys::obs_get_audio(), 0, Some(mix), param);
                        true
                    }
                };
                *connected = want_mix && ok;
            }
        }
        if want_mix {
            self.detach_source(callback, param);
            return;
        }
        self.resolve_source(wanted, callback, param);
    }

    fn resolve_source(&self, wanted: &str, callback: Callback, param: *mut c_void) {
        let current = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(w, n)| (*w, n.clone()));
        if let Some((weak, name)) = &current
            && name == wanted
        {
            // SAFETY: our weak reference; a strong one is taken and dropped to test liveness.
            let alive = unsafe {
                let src = sys::obs_weak_source_get_source(Self::weak(*weak));
                let ok = !src.is_null();
                if ok {
                    sys::obs_source_release(src);
                }
                ok
            };
            if alive {
                return;
            }
        }
        self.detach_source(callback, param);
        let Ok(cname) = CString::new(wanted) else {
            return;
        };
        if wanted.is_empty() {
            return;
        }
        // SAFETY: valid name; new reference or null.
        let src = unsafe { sys::obs_get_source_by_name(cname.as_ptr()) };
        if src.is_null() {
            return;
        }
        // SAFETY: live source; the caller keeps `param` alive until `detach`.
        let weak = unsafe {
            sys::obs_source_add_audio_capture_callback(src, Some(callback), param);
            let weak = sys::obs_source_get_weak_source(src);
            sys::obs_source_release(src);
            weak
        };
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((weak as usize, wanted.to_owned()));
    }

    /// True while a callback is connected: to the output mix, or to a source that was alive at the
    /// last `resolve`.
    pub(super) fn attached(&self) -> bool {
        *self.mix.lock().unwrap_or_else(|e| e.into_inner())
            || self
                .current
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some()
    }

    /// Removes the callbacks (from the source if it still exists, and from the output mix).
    pub(super) fn detach(&self, callback: Callback, mix: MixCallback, param: *mut c_void) {
        let mut connected = self.mix.lock().unwrap_or_else(|e| e.into_inner());
        if *connected {
            // SAFETY: the same (callback, param) pair we connected; OBS's audio output may already
            // be gone late in shutdown (then there is nothing to disconnect from).
            unsafe {
                let audio = sys::obs_get_audio();
                if !audio.is_null() {
                    sys::audio_output_disconnect(audio, 0, Some(mix), param);
                }
            }
            *connected = false;
        }
        drop(connected);
        self.detach_source(callback, param);
    }

    fn detach_source(&self, callback: Callback, param: *mut c_void) {
        let old = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((weak, _)) = old {
            // SAFETY: our weak reference, released here.
            unsafe {
                let src = sys::obs_weak_source_get_source(Self::weak(weak));
                if !src.is_null() {
                    sys::obs_source_remove_audio_capture_callback(src, Some(callback), param);
                    sys::obs_source_release(src);
                }
                sys::obs_weak_source_release(Self::weak(weak));
            }
        }
    }
}

/// The planes of an `audio_data` block as float slices (OBS's internal audio is float planar).
///
/// # Safety
/// `audio` must be the block libobs passed to a capture callback, used only during the callback.
pub unsafe fn planes<'a>(
    audio: &'a sys::audio_data,
    channels: usize,
    out: &mut [&'a [f32]; 2],
) -> usize {
    let frames = audio.frames as usize;
    let mut n = 0;
    for ch in 0..channels.min(2) {
        let p = audio.data[ch].cast::<f32>();
        if p.is_null() {
            break;
        }
        // SAFETY: caller contract; each plane holds `frames` floats.
        out[n] = unsafe { std::slice::from_raw_parts(p, frames) };
        n += 1;
    }
    n
}

unsafe extern "C" fn collect_audio_source(
    param: *mut c_void,
    source: *mut sys::obs_source_t,
) -> bool {
    if param.is_null() || source.is_null() {
        return true;
    }
    super::guard::catch("audio source list", true, || {
        // SAFETY: `param` is the Vec passed by `audio_source_names`, alive during
        // obs_enum_sources, which calls us on its own thread one source at a time.
        let names = unsafe { &mut *param.cast::<Vec<CString>>() };
        // SAFETY: live source during enumeration; the name is copied right away.
        unsafe {
            if sys::obs_source_get_output_flags(source) & sys::OBS_SOURCE_AUDIO != 0 {
                let name = sys::obs_source_get_name(source);
                if !name.is_null() {
                    names.push(std::ffi::CStr::from_ptr(name).to_owned());
                }
            }
        }
        true
    })
}

/// Names of every source that produces audio (for properties lists; UI thread).
pub fn audio_source_names() -> Vec<CString> {
    let mut names: Vec<CString> = Vec::new();
    // SAFETY: synchronous enumeration with a pointer to our local Vec.
    unsafe {
        sys::obs_enum_sources(
            Some(collect_audio_source),
            (&mut names as *mut Vec<CString>).cast(),
        )
    };
    names
}
