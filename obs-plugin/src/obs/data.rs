//! `obs_data_t` (libobs' refcounted settings object) as an RAII type, converted through JSON.
use std::ffi::{CStr, CString};
use std::ptr::NonNull;

use deckcast_obs_sys as sys;

/// An owned reference to an `obs_data_t`; released on drop.
#[derive(Debug)]
pub struct Data(NonNull<sys::obs_data_t>);

// SAFETY: obs_data_t's refcount is atomic; we only touch an owned reference from one thread at a time
// (`Data` is moved, not shared).
unsafe impl Send for Data {}

impl Data {
    /// Parses a JSON object; `None` if libobs rejects it (not an object, invalid JSON, NUL inside).
    pub fn from_json(json: &str) -> Option<Self> {
        let c = CString::new(json).ok()?;
        // SAFETY: valid NUL-terminated string; returns a new reference or null.
        NonNull::new(unsafe { sys::obs_data_create_from_json(c.as_ptr()) }).map(Self)
    }

    /// Serialises to a JSON object (`{}` on failure).
    pub fn to_json(&self) -> String {
        // SAFETY: we own a live reference.
        unsafe { json_of(self.0.as_ptr()) }
    }

    /// The raw pointer, borrowed for the duration of a libobs call.
    pub fn as_ptr(&self) -> *mut sys::obs_data_t {
        self.0.as_ptr()
    }
}

impl Drop for Data {
    fn drop(&mut self) {
        // SAFETY: we own exactly one reference.
        unsafe { sys::obs_data_release(self.0.as_ptr()) }
    }
}

/// JSON text of a borrowed `obs_data_t` (copied out before returning).
///
/// # Safety
/// `data` must be a live `obs_data_t` not mutated concurrently.
pub(crate) unsafe fn json_of(data: *mut sys::obs_data_t) -> String {
    // SAFETY: caller contract; the returned string is owned by `data` and copied right away.
    let ptr = unsafe { sys::obs_data_get_json(data) };
    if ptr.is_null() {
        return String::from("{}");
    }
    // SAFETY: non-null NUL-terminated string owned by `data`.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// Replaces nothing and adds every key of `value` (a JSON object) into the borrowed `target`.
/// Returns false if `value` could not be converted.
///
/// # Safety
/// `target` must be a live `obs_data_t` that no other thread mutates during the call.
pub(super) unsafe fn apply_json(target: *mut sys::obs_data_t, value: &serde_json::Value) -> bool {
    let Some(src) = Data::from_json(&value.to_string()) else {
        return false;
    };
    // SAFETY: both live; obs_data_apply copies the items.
    unsafe { sys::obs_data_apply(target, src.as_ptr()) };
    true
}
