//! The native dock: the C++/Qt shim (`ui/dock.cpp`, feature `dock`) and the small C API it calls.
//!
//! The shim is a view only: it sends the same JSON requests as obs-websocket clients through
//! [`deckcast_ui_request`] and shows the answers. The widget lives on OBS's UI thread; its
//! requests run on the shim's own request thread (they may wait for the targets worker), and
//! [`deckcast_ui_text`] is called from either.
use std::ffi::{CStr, CString, c_char, c_void};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use deckcast_obs_sys as sys;
use deckcast_protocol::Error;
use serde_json::Value;

use super::{guard, locale};

static HANDLER: OnceLock<fn(&str, Value) -> Value> = OnceLock::new();
static ANSWERED: AtomicU64 = AtomicU64::new(0);

/// How many requests the dock has sent this session (any thread).
pub fn requests_answered() -> u64 {
    ANSWERED.load(Ordering::Relaxed)
}

/// Sets the function that answers the dock's requests (once per process).
pub fn on_request(handler: fn(&str, Value) -> Value) {
    let _ = HANDLER.set(handler);
}

/// Called by the dock: runs request `kind` with JSON `json`; returns a JSON string the caller frees
/// with [`deckcast_ui_free`] (null only if even an error answer could not be built).
///
/// # Safety
/// `kind` and `json` must be null or valid NUL-terminated strings for the duration of the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn deckcast_ui_request(
    kind: *const c_char,
    json: *const c_char,
) -> *mut c_char {
    if kind.is_null() {
        return std::ptr::null_mut();
    }
    guard::catch("dock request", std::ptr::null_mut(), || {
        ANSWERED.fetch_add(1, Ordering::Relaxed);
        // SAFETY: non-null NUL-terminated strings from the shim, valid during the call.
        let kind = unsafe { CStr::from_ptr(kind) }.to_string_lossy();
        let data = if json.is_null() {
            Value::Null
        } else {
            // SAFETY: as above.
            serde_json::from_str(&unsafe { CStr::from_ptr(json) }.to_string_lossy())
                .unwrap_or(Value::Null)
        };
        let answer = match HANDLER.get() {
            Some(h) => h(&kind, data),
            None => Error::internal("Deckcast is not ready").to_wire(),
        };
        CString::new(answer.to_string())
            .map(CString::into_raw)
            .unwrap_or(std::ptr::null_mut())
    })
}

/// Frees a string returned by [`deckcast_ui_request`].
///
/// # Safety
/// `s` must be null or a pointer returned by [`deckcast_ui_request`], freed only once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn deckcast_ui_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: `s` came from CString::into_raw in deckcast_ui_request and is freed once.
        guard::catch("dock free", (), || drop(unsafe { CString::from_raw(s) }));
    }
}

/// Localised text for `key` (a pointer into the locale table, or `key` itself).
#[unsafe(no_mangle)]
pub extern "C" fn deckcast_ui_text(key: *const c_char) -> *const c_char {
    if key.is_null() {
        return c"".as_ptr();
    }
    // SAFETY: the shim passes string literals (static, NUL-terminated).
    guard::catch("dock text", key, || locale::text_ptr_raw(key))
}

#[cfg(feature = "dock")]
unsafe extern "C" {
    fn deckcast_dock_new() -> *mut c_void;
    fn deckcast_dock_show(widget: *mut c_void);
}

/// Creates the dock and registers it with OBS (`obs_frontend_add_dock_by_id`; OBS then owns the
/// widget). With `show`, it opens floating right away. Returns false without the `dock` feature or
/// when OBS refused it.
pub fn create_dock(show: bool) -> bool {
    #[cfg(feature = "dock")]
    {
        let title = CString::new(locale::text("Deckcast.Dock.Title")).unwrap_or_default();
        // SAFETY: UI thread (module load); the shim returns a new parentless QWidget.
        let widget = unsafe { deckcast_dock_new() };
        if widget.is_null() {
            return false;
        }
        // SAFETY: valid id/title; OBS takes ownership of the widget on success.
        let ok = unsafe {
            sys::obs_frontend_add_dock_by_id(c"deckcast-targets".as_ptr(), title.as_ptr(), widget)
        };
        if ok && show {
            // SAFETY: the widget is alive (owned by OBS's dock now).
            unsafe { deckcast_dock_show(widget) };
        }
        ok
    }
    #[cfg(not(feature = "dock"))]
    {
        let _ = (show, sys::LIBOBS_API_VER);
        false
    }
}
