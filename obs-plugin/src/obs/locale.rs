//! Module locale (`data/locale/<locale>.ini`), the Rust equivalent of `OBS_MODULE_USE_DEFAULT_LOCALE`.
//!
//! OBS calls `obs_module_set_locale` / `obs_module_free_locale` on the UI thread; lookups may come
//! from any thread, so the table pointer is swapped atomically and a lock-free read is fine because
//! OBS only frees it while no module code runs (shutdown or locale reload on the UI thread).
use std::ffi::{CStr, CString, c_char};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use deckcast_obs_sys as sys;

static LOOKUP: AtomicPtr<sys::lookup_t> = AtomicPtr::new(ptr::null_mut());

/// Loads the table for `locale` (falling back to en-US), replacing any previous one.
pub(super) fn set(locale: &CStr) {
    free();
    // SAFETY: module pointer was set by OBS before this callback; both strings are valid.
    let table = unsafe {
        sys::obs_module_load_locale(super::module::current(), c"en-US".as_ptr(), locale.as_ptr())
    };
    LOOKUP.store(table, Ordering::Release);
}

/// Frees the table.
pub(super) fn free() {
    let old = LOOKUP.swap(ptr::null_mut(), Ordering::AcqRel);
    if !old.is_null() {
        // SAFETY: `old` came from obs_module_load_locale and is no longer reachable.
        unsafe { sys::text_lookup_destroy(old) }
    }
}

/// The localised text for `key`, or the key itself when missing (OBS's convention).
pub fn text(key: &str) -> String {
    let table = LOOKUP.load(Ordering::Acquire);
    let Ok(ckey) = CString::new(key) else {
        return key.to_owned();
    };
    if !table.is_null() {
        let mut out: *const c_char = ptr::null();
        // SAFETY: live table, valid key; `out` points into the table on success.
        if unsafe { sys::text_lookup_getstr(table, ckey.as_ptr(), &mut out) } && !out.is_null() {
            // SAFETY: NUL-terminated string owned by the table; copied right away.
            return unsafe { CStr::from_ptr(out) }
                .to_string_lossy()
                .into_owned();
        }
    }
    key.to_owned()
}

/// [`text`] as a C string (for libobs property labels).
pub(super) fn text_c(key: &str) -> CString {
    CString::new(text(key)).unwrap_or_default()
}

/// `obs_module_text` for a static key: a pointer into the table (valid until the locale is freed),
/// or the key itself.
pub(super) fn text_ptr(key: &'static CStr) -> *const c_char {
    text_ptr_raw(key.as_ptr())
}

/// [`text_ptr`] for a raw key pointer that outlives the returned pointer's use (string literals).
pub(super) fn text_ptr_raw(key: *const c_char) -> *const c_char {
    let table = LOOKUP.load(Ordering::Acquire);
    if !table.is_null() && !key.is_null() {
        let mut out: *const c_char = ptr::null();
        // SAFETY: live table, valid NUL-terminated key (caller contract).
        if unsafe { sys::text_lookup_getstr(table, key, &mut out) } && !out.is_null() {
            return out;
        }
    }
    key
}
