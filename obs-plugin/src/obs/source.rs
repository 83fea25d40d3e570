//! Helpers shared by Deckcast's own source types (Now Playing, Visualizer).
use std::ffi::{CStr, CString, c_void};

use deckcast_obs_sys as sys;

/// A string setting (empty when unset). UI or graphics thread, with a live `obs_data_t`.
pub(super) fn settings_string(settings: *mut sys::obs_data_t, key: &CStr) -> String {
    // SAFETY: valid data; the returned string is owned by the data and copied right away.
    let p = unsafe { sys::obs_data_get_string(settings, key.as_ptr()) };
    if p.is_null() {
        return String::new();
    }
    // SAFETY: non-null, NUL-terminated.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Channel count (at least 1) and sample rate of OBS's audio output.
pub(super) fn audio_format() -> (usize, u32) {
    // SAFETY: plain getters on OBS's audio output, which lives as long as libobs.
    unsafe {
        let audio = sys::obs_get_audio();
        (
            sys::audio_output_get_channels(audio).max(1),
            sys::audio_output_get_sample_rate(audio),
        )
    }
}

/// Finds the source named `name`; if it is of type `id` (one of ours), runs `f` on its private
/// data pointer (the pointer our `create` returned). The source reference is released afterwards.
pub(super) fn with_own_data<R>(
    name: &str,
    id: &CStr,
    f: impl FnOnce(*mut c_void) -> Option<R>,
) -> Option<R> {
    let cname = CString::new(name).ok()?;
    // SAFETY: valid name; new reference or null.
    let src = unsafe { sys::obs_get_source_by_name(cname.as_ptr()) };
    if src.is_null() {
        return None;
    }
    // SAFETY: live source (we hold a reference); the id string is static in libobs.
    let ours = unsafe {
        let sid = sys::obs_source_get_unversioned_id(src);
        !sid.is_null() && CStr::from_ptr(sid) == id
    };
    let result = if ours {
        // SAFETY: as above; the data pointer stays valid while we hold the reference.
        let data = unsafe { sys::obs_obj_get_data(src.cast()) };
        f(data)
    } else {
        None
    };
    // SAFETY: release the reference taken above.
    unsafe { sys::obs_source_release(src) };
    result
}
