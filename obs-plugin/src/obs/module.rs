//! The exported OBS module entry points (what `OBS_DECLARE_MODULE()` and
//! `OBS_MODULE_USE_DEFAULT_LOCALE()` generate in C). All run on OBS's UI thread.
//!
//! Each one is a thin trampoline: null checks, [`guard::catch`], then safe code in `crate::plugin`.
use std::ffi::{CStr, c_char};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use deckcast_obs_sys as sys;

use super::{guard, locale};
use crate::plugin;

static MODULE: AtomicPtr<sys::obs_module_t> = AtomicPtr::new(ptr::null_mut());

/// The module handle OBS gave us (null before `obs_module_set_pointer`).
pub(super) fn current() -> *mut sys::obs_module_t {
    MODULE.load(Ordering::Acquire)
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_set_pointer(module: *mut sys::obs_module_t) {
    if module.is_null() {
        return;
    }
    guard::catch("obs_module_set_pointer", (), || {
        MODULE.store(module, Ordering::Release)
    });
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_current_module() -> *mut sys::obs_module_t {
    guard::catch("obs_current_module", ptr::null_mut(), current)
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_ver() -> u32 {
    guard::catch("obs_module_ver", sys::LIBOBS_API_VER, || {
        sys::LIBOBS_API_VER
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_load() -> bool {
    guard::catch("obs_module_load", false, plugin::load)
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_post_load() {
    guard::catch("obs_module_post_load", (), plugin::post_load);
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_unload() {
    guard::catch("obs_module_unload", (), plugin::unload);
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_name() -> *const c_char {
    guard::catch("obs_module_name", c"Deckcast".as_ptr(), || {
        c"Deckcast".as_ptr()
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_author() -> *const c_char {
    guard::catch("obs_module_author", c"".as_ptr(), || {
        c"The Deckcast developers".as_ptr()
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_description() -> *const c_char {
    guard::catch("obs_module_description", c"Deckcast".as_ptr(), || {
        locale::text_ptr(c"Deckcast.Description")
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_set_locale(locale_name: *const c_char) {
    if locale_name.is_null() {
        return;
    }
    guard::catch("obs_module_set_locale", (), || {
        // SAFETY: non-null, NUL-terminated string from OBS, valid during the call.
        locale::set(unsafe { CStr::from_ptr(locale_name) })
    });
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_free_locale() {
    guard::catch("obs_module_free_locale", (), locale::free);
}
