//! OBS frontend API (the Qt UI): events, the current profile, profile settings, and running a
//! closure on the UI thread.
//!
//! Frontend events arrive on OBS's UI thread. The callback registered here must return quickly;
//! Deckcast forwards them to its worker thread. The profile functions (`current_profile_path`,
//! `profile_*`) and `streaming_output_encoders` read what OBS replaces on the UI thread during a
//! profile switch: call them on the UI thread only (other threads use [`on_ui_thread`]).
use std::ffi::{CStr, c_void};
use std::path::PathBuf;
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

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
    /// OBS's recording passed its checks and is starting (sent inside its `StartRecording`).
    RecordingStarting,
    /// OBS's recording started (its output is writing).
    RecordingStarted,
    /// OBS's recording is stopping (its output drains).
    RecordingStopping,
    /// OBS's recording stopped (its file is finished).
    RecordingStopped,
    /// Another profile is about to be loaded.
    ProfileChanging,
    /// Another profile was loaded.
    ProfileChanged,
    /// The current profile was renamed (its folder moved).
    ProfileRenamed,
    /// OBS finished loading (the frontend is fully up).
    FinishedLoading,
    /// OBS is quitting: sent before it clears its scenes and before [`Event::Exit`], while
    /// outputs, obs-websocket and the scenes still run.
    Quitting,
    /// OBS is exiting (the frontend API is about to go away).
    Exit,
}

fn map(ev: sys::obs_frontend_event) -> Option<Event> {
    Some(match ev {
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_STREAMING_STARTING => Event::StreamingStarting,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_STREAMING_STARTED => Event::StreamingStarted,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_STREAMING_STOPPING => Event::StreamingStopping,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_STREAMING_STOPPED => Event::StreamingStopped,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_RECORDING_STARTING => Event::RecordingStarting,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_RECORDING_STARTED => Event::RecordingStarted,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_RECORDING_STOPPING => Event::RecordingStopping,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_RECORDING_STOPPED => Event::RecordingStopped,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_PROFILE_CHANGING => Event::ProfileChanging,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_PROFILE_CHANGED => Event::ProfileChanged,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_PROFILE_RENAMED => Event::ProfileRenamed,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_FINISHED_LOADING => Event::FinishedLoading,
        sys::obs_frontend_event_OBS_FRONTEND_EVENT_SCRIPTING_SHUTDOWN => Event::Quitting,
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

type Task = Box<dyn FnOnce() + Send>;

extern "C" fn run_task(param: *mut c_void) {
    if param.is_null() {
        return;
    }
    // SAFETY: `param` is the Box<Task> leaked by `queue_on_ui_thread`, run exactly once.
    let task = unsafe { Box::from_raw(param.cast::<Task>()) };
    guard::catch("UI task", (), task);
}

/// Queues `task` on OBS's UI thread and returns at once (any thread).
pub fn queue_on_ui_thread(task: impl FnOnce() + Send + 'static) {
    let boxed: Box<Task> = Box::new(Box::new(task));
    // SAFETY: OBS calls run_task once with the pointer (or, without a UI, never: a small leak).
    unsafe {
        sys::obs_queue_task(
            sys::obs_task_type_OBS_TASK_UI,
            Some(run_task),
            Box::into_raw(boxed).cast(),
            false,
        )
    };
}

/// Runs `f` on OBS's UI thread and waits up to `timeout` for its result; `None` if the UI thread
/// did not get to it in time. Worker threads only (the UI thread would wait for itself).
pub fn on_ui_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
    timeout: Duration,
) -> Option<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    queue_on_ui_thread(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(timeout).ok()
}

/// Whether OBS's own recording is active (any thread: the frontend keeps it in an atomic).
pub fn recording_active() -> bool {
    // SAFETY: frontend call without arguments.
    unsafe { sys::obs_frontend_recording_active() }
}

/// Whether OBS's recording output is active: it may be, before its started event sets
/// [`recording_active`] (UI thread: OBS replaces its outputs there).
pub fn recording_output_active() -> bool {
    // SAFETY: frontend call; the output is a new reference (or null) that we release.
    unsafe {
        let out = sys::obs_frontend_get_recording_output();
        if out.is_null() {
            return false;
        }
        let active = sys::obs_output_active(out);
        sys::obs_output_release(out);
        active
    }
}

/// Asks OBS to start its own recording with the profile's settings (any thread). On the UI
/// thread OBS's `StartRecording` runs inside the call (its checks, then
/// [`Event::RecordingStarting`]); elsewhere it is queued there. Success shows as a
/// [`Event::RecordingStarted`].
pub fn start_recording() {
    // SAFETY: frontend call without arguments.
    unsafe { sys::obs_frontend_recording_start() }
}

/// Asks OBS to stop its own recording (any thread, as [`start_recording`]).
pub fn stop_recording() {
    // SAFETY: frontend call without arguments.
    unsafe { sys::obs_frontend_recording_stop() }
}

/// The current profile's folder (UI thread).
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

/// A boolean from the current profile's `basic.ini` (`None` if unset or no frontend; UI thread).
pub fn profile_bool(section: &CStr, key: &CStr) -> Option<bool> {
    let config = profile_config(section, key)?;
    // SAFETY: valid config and strings.
    Some(unsafe { sys::config_get_bool(config, section.as_ptr(), key.as_ptr()) })
}

/// An integer from the current profile's `basic.ini` (UI thread).
pub fn profile_int(section: &CStr, key: &CStr) -> Option<i64> {
    let config = profile_config(section, key)?;
    // SAFETY: valid config and strings.
    Some(unsafe { sys::config_get_int(config, section.as_ptr(), key.as_ptr()) })
}

/// A string from the current profile's `basic.ini` (UI thread).
pub fn profile_string(section: &CStr, key: &CStr) -> Option<String> {
    let config = profile_config(section, key)?;
    // SAFETY: valid config and strings; the value is copied right away.
    let p = unsafe { sys::config_get_string(config, section.as_ptr(), key.as_ptr()) };
    // SAFETY: non-null NUL-terminated string owned by the config.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}
