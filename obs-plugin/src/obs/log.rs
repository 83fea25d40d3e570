//! Logging into OBS's log through `blog`, prefixed with `[deckcast]`.
//!
//! Never call from the audio thread (`blog` allocates and locks). Messages are passed as a `%s`
//! argument, never as the format string. Callers must not pass secrets (stream keys, passwords):
//! use redacting helpers before formatting.
use std::ffi::{CString, c_int};

use deckcast_obs_sys as sys;

fn emit(level: c_int, msg: &str) {
    let line = format!("[deckcast] {msg}").replace('\0', "\u{FFFD}");
    // Cannot fail: interior NULs were replaced above.
    let Ok(line) = CString::new(line) else { return };
    // SAFETY: constant "%s" format with one valid NUL-terminated string argument.
    unsafe { sys::blog(level, c"%s".as_ptr(), line.as_ptr()) }
}

/// `LOG_ERROR`.
pub fn error(msg: &str) {
    emit(sys::LOG_ERROR as c_int, msg);
}

/// `LOG_WARNING`.
pub fn warn(msg: &str) {
    emit(sys::LOG_WARNING as c_int, msg);
}

/// `LOG_INFO`.
pub fn info(msg: &str) {
    emit(sys::LOG_INFO as c_int, msg);
}

/// `LOG_DEBUG` (shown with OBS's `--verbose`).
pub fn debug(msg: &str) {
    emit(sys::LOG_DEBUG as c_int, msg);
}
