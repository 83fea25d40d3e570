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
    /// An `obs_data_t` holding `value` (a JSON object) with its `null` members dropped first
    /// ([`deckcast_protocol::without_nulls`]: libobs versions disagree on what a null becomes);
    /// `None` if libobs rejects it (not an object, NUL inside a string).
    pub fn from_value(value: &serde_json::Value) -> Option<Self> {
        Self::from_json(&deckcast_protocol::without_nulls(value.clone()).to_string())
    }

    /// An empty `obs_data_t`.
    pub fn empty() -> Option<Self> {
        Self::from_json("{}")
    }

    /// Parses JSON text that holds no `null` (use [`Data::from_value`] for anything else).
    fn from_json(json: &str) -> Option<Self> {
        let c = CString::new(json).ok()?;
        // SAFETY: valid NUL-terminated string; returns a new reference or null.
        NonNull::new(unsafe { sys::obs_data_create_from_json(c.as_ptr()) }).map(Self)
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
    let Some(src) = Data::from_value(value) else {
        return false;
    };
    // SAFETY: both live; obs_data_apply copies the items.
    unsafe { sys::obs_data_apply(target, src.as_ptr()) };
    true
}
