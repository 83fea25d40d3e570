//! The libobs boundary: the only module of the plugin where `unsafe` is allowed.
//!
//! Rules kept here (see docs/ARCHITECTURE.md):
//! - every `extern "C"` function is a trampoline that null-checks its pointers, runs its body under
//!   [`guard::catch`] and returns a safe default if the body panics;
//! - no `&mut` is ever formed from a pointer OBS hands us: OBS calls plugin code from its UI,
//!   graphics, audio and obs-websocket threads at once;
//! - owned libobs handles are RAII types that release on drop; strings borrowed from libobs are
//!   copied before the call returns.
//!
//! Everything exported from here is safe to call from the rest of the crate, and nothing here knows
//! a Deckcast feature: sources, requests and hotkeys arrive as generic types, tables and names.

pub mod capture;
pub mod child;
pub mod data;
pub mod frontend;
pub mod graphics;
pub mod guard;
pub mod hotkeys;
pub mod locale;
pub mod log;
mod module;
pub mod output;
pub mod properties;
pub mod source;
pub mod tap;
#[cfg(test)]
mod test_stubs;
pub mod ui;
pub mod vendor;

use std::ffi::CStr;

use deckcast_obs_sys as sys;

/// Semantic version of the running libobs (`obs_get_version`), e.g. `30.2.3`.
pub fn libobs_runtime_version() -> String {
    // SAFETY: plain getter, callable once libobs is initialised (always true inside a module).
    let v = unsafe { sys::obs_get_version() };
    format!("{}.{}.{}", v >> 24, (v >> 16) & 0xff, v & 0xffff)
}

/// The running libobs' full version string (`obs_get_version_string`), which may carry a
/// distribution suffix such as `30.2.3.1-3`.
pub fn libobs_runtime_version_string() -> String {
    // SAFETY: returns a pointer to a static string inside libobs (or null in theory).
    let ptr = unsafe { sys::obs_get_version_string() };
    if ptr.is_null() {
        return String::from("unknown");
    }
    // SAFETY: non-null, NUL-terminated, static for libobs' lifetime.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// The libobs API version the plugin was compiled against, e.g. `30.2.3`.
pub fn libobs_compiled_version() -> String {
    format!(
        "{}.{}.{}",
        sys::LIBOBS_API_MAJOR_VER,
        sys::LIBOBS_API_MINOR_VER,
        sys::LIBOBS_API_PATCH_VER
    )
}
