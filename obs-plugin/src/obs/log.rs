//! Logging into OBS's log through `blog`, prefixed with `[deckcast]`.
//!
//! Never call from the audio thread (`blog` allocates and locks). Messages are passed as a `%s`
//! argument, never as the format string. Callers must not pass secrets (stream keys, passwords):
//! use redacting helpers before formatting.
#[cfg(not(test))]
use std::ffi::CString;
use std::ffi::c_int;

use deckcast_obs_sys as sys;

#[cfg(not(test))]
fn emit(level: c_int, msg: &str) {
    let line = format!("[deckcast] {msg}").replace('\0', "\u{FFFD}");
    // Cannot fail: interior NULs were replaced above.
    let Ok(line) = CString::new(line) else { return };
    // SAFETY: constant "%s" format with one valid NUL-terminated string argument.
    unsafe { sys::blog(level, c"%s".as_ptr(), line.as_ptr()) }
}

// Unit tests run without libobs: log lines go to a per-thread list instead of `blog`.
#[cfg(test)]
thread_local! {
    static TEST_LINES: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(test)]
fn emit(level: c_int, msg: &str) {
    let level = match level as u32 {
        sys::LOG_ERROR => "error",
        sys::LOG_WARNING => "warning",
        sys::LOG_INFO => "info",
        _ => "debug",
    };
    TEST_LINES.with(|l| l.borrow_mut().push(format!("{level}: {msg}")));
}

/// What this thread logged since the last call (unit tests only).
#[cfg(test)]
pub fn take_test_lines() -> Vec<String> {
    TEST_LINES.with(|l| std::mem::take(&mut *l.borrow_mut()))
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
