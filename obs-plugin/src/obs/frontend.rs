//! OBS frontend API (the Qt UI): events, the current profile, profile settings.
//!
//! Frontend events arrive on OBS's UI thread. The callback registered here must return quickly;
//! Deckcast forwards them to its worker thread.
use std::ffi::{CStr, c_void};
use std::path::PathBuf;
use std::sync::OnceLock;

use deckcast_obs_sys as sys;

use super::guard;

/// Frontend events Deckcast reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The main stream is starting.
    StreamingStarting,
    /// The main stream started.
    StreamingStarted,
    /// The main stream is stopping.
    StreamingStopping,
    /// The main stream stopped.
    StreamingStopped,
    /// Another profile is about to be loaded.
    ProfileChanging,
    /// Another profile was loaded.
    ProfileChanged,
    /// The current profile was renamed (its folder moved).
    ProfileRenamed,
    /// OBS finished loading (the frontend is fully up).
    FinishedLoading,
    /// OBS is exiting (the frontend API is about to go away).
    Exit,
}

fn map(ev: sys::obs_frontend_event) -> Option<Event> {
    Some(match ev {
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_STREAMING_STARTING => Event::StreamingStarting,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_STREAMING_STARTED => Event::StreamingStarted,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_STREAMING_STOPPING => Event::StreamingStopping,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_STREAMING_STOPPED => Event::StreamingStopped,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_PROFILE_CHANGING => Event::ProfileChanging,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_PROFILE_CHANGED => Event::ProfileChanged,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_PROFILE_RENAMED => Event::ProfileRenamed,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_FINISHED_LOADING => Event::FinishedLoading,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_EXIT => Event::Exit,
        _ => return None,
    })
}

static HANDLER: OnceLock<fn(Event)> = OnceLock::new();

extern "C" fn on_event(ev: sys::obs_frontend_event, _data: *mut c_void) {
    guard::catch("frontend event", (), || {
        if let (Some(handler), Some(ev)) = (HANDLER.get(), map(ev)) {
            handler(ev);
        }
    });
}

/// Registers `handler` for frontend events (once per process; later calls are ignored).
pub fn on_events(handler: fn(Event)) {
    if HANDLER.set(handler).is_ok() {
        // SAFETY: static trampoline, null data.
        unsafe { sys::obs_frontend_add_event_callback(Some(on_event), std::ptr::null_mut()) }
    }
}

/// Unregisters the event handler (call on exit/unload).
pub fn remove_event_handler() {
    if HANDLER.get().is_some() {
        // SAFETY: same pair as registered.
        unsafe { sys::obs_frontend_remove_event_callback(Some(on_event), std::ptr::null_mut()) }
    }
}

static SAVE_HANDLER: OnceLock<fn()> = OnceLock::new();

extern "C" fn on_save(_data: *mut sys::obs_data_t, saving: bool, _private: *mut c_void) {
    guard::catch("frontend save", (), || {
        if saving && let Some(handler) = SAVE_HANDLER.get() {
            handler();
        }
    });
}

/// Calls `handler` whenever OBS saves its scene collection (once per process).
pub fn on_save_requested(handler: fn()) {
    if SAVE_HANDLER.set(handler).is_ok() {
        // SAFETY: static trampoline, null data.
        unsafe { sys::obs_frontend_add_save_callback(Some(on_save), std::ptr::null_mut()) }
    }
}

/// Unregisters the save handler.
pub fn remove_save_handler() {
    if SAVE_HANDLER.get().is_some() {
        // SAFETY: same pair as registered.
        unsafe { sys::obs_frontend_remove_save_callback(Some(on_save), std::ptr::null_mut()) }
    }
}

/// The current profile's folder.
pub fn current_profile_path() -> Option<PathBuf> {
    // SAFETY: frontend call; returns a bmalloc'd string (or null) that we must bfree.
    let p = unsafe { sys::obs_frontend_get_current_profile_path() };
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null NUL-terminated string; copied before freeing.
    let path = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // SAFETY: allocated by libobs.
    unsafe { sys::bfree(p.cast()) };
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// The current profile's `basic.ini` if the key exists in it (user or default value).
fn profile_config(section: &CStr, key: &CStr) -> Option<*mut sys::config_t> {
    // SAFETY: frontend call; the config belongs to the frontend and lives while OBS runs.
    let config = unsafe { sys::obs_frontend_get_profile_config() };
    if config.is_null() {
        return None;
    }
    // SAFETY: valid config and strings.
    let present = unsafe {
        sys::config_has_user_value(config, section.as_ptr(), key.as_ptr())
            || sys::config_has_default_value(config, section.as_ptr(), key.as_ptr())
    };
    present.then_some(config)
}

/// A boolean from the current profile's `basic.ini` (`None` if unset or no frontend).
pub fn profile_bool(section: &CStr, key: &CStr) -> Option<bool> {
    let config = profile_config(section, key)?;
    // SAFETY: valid config and strings.
    Some(unsafe { sys::config_get_bool(config, section.as_ptr(), key.as_ptr()) })
}

/// An integer from the current profile's `basic.ini`.
pub fn profile_int(section: &CStr, key: &CStr) -> Option<i64> {
    let config = profile_config(section, key)?;
    // SAFETY: valid config and strings.
    Some(unsafe { sys::config_get_int(config, section.as_ptr(), key.as_ptr()) })
}

/// A string from the current profile's `basic.ini`.
pub fn profile_string(section: &CStr, key: &CStr) -> Option<String> {
    let config = profile_config(section, key)?;
    // SAFETY: valid config and strings; the value is copied right away.
    let p = unsafe { sys::config_get_string(config, section.as_ptr(), key.as_ptr()) };
    // SAFETY: non-null NUL-terminated string owned by the config.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}
