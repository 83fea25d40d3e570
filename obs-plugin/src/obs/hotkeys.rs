//! Frontend hotkeys (Settings > Hotkeys) and their saved bindings, by name. Knows no feature: a
//! press reaches the handler as the hotkey's name.
//!
//! libobs calls hotkey callbacks from its hotkey thread or the UI thread while holding its hotkey
//! lock, so the registry lock here is never held while calling into libobs, and handlers must only
//! forward the press without waiting.
use std::collections::{BTreeMap, HashMap};
use std::ffi::{CString, c_void};
use std::sync::{Mutex, OnceLock};

use deckcast_obs_sys as sys;

use super::data::{self, Data};
use super::guard;

/// A registered hotkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HotkeyId(sys::obs_hotkey_id);

static REGISTRY: Mutex<Option<HashMap<sys::obs_hotkey_id, String>>> = Mutex::new(None);
static HANDLER: OnceLock<fn(&str)> = OnceLock::new();

/// Sets the function pressed hotkeys call with their name (once per process).
pub fn on_pressed(handler: fn(&str)) {
    let _ = HANDLER.set(handler);
}

fn with_registry<R>(f: impl FnOnce(&mut HashMap<sys::obs_hotkey_id, String>) -> R) -> R {
    let mut guard = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(HashMap::new))
}

extern "C" fn on_hotkey(
    _data: *mut c_void,
    id: sys::obs_hotkey_id,
    _hotkey: *mut sys::obs_hotkey_t,
    pressed: bool,
) {
    if !pressed {
        return;
    }
    guard::catch("hotkey", (), || {
        let name = with_registry(|r| r.get(&id).cloned());
        if let (Some(name), Some(handler)) = (name, HANDLER.get()) {
            handler(&name);
        }
    });
}

/// Registers a frontend hotkey `name` (unique, stable: bindings are saved under it) and restores
/// its saved bindings (`obs_hotkey_save` JSON) if given.
pub fn register(
    name: &str,
    description: &str,
    saved: Option<&serde_json::Value>,
) -> Option<HotkeyId> {
    let (cname, cdesc) = (
        CString::new(name).ok()?,
        CString::new(description.replace('\0', "")).ok()?,
    );
    // SAFETY: valid strings (libobs copies them); static callback; no data pointer.
    let id = unsafe {
        sys::obs_hotkey_register_frontend(
            cname.as_ptr(),
            cdesc.as_ptr(),
            Some(on_hotkey),
            std::ptr::null_mut(),
        )
    };
    if id == usize::MAX {
        return None; // OBS_INVALID_HOTKEY_ID
    }
    if saved.is_some() {
        load(HotkeyId(id), saved);
    }
    with_registry(|r| r.insert(id, name.to_owned()));
    Some(HotkeyId(id))
}

/// Replaces a hotkey's bindings with `saved` (`obs_hotkey_save` JSON; `None`: no binding), as
/// when another profile is loaded.
pub fn load(id: HotkeyId, saved: Option<&serde_json::Value>) {
    let bindings = saved
        .filter(|b| b.is_array())
        .cloned()
        .unwrap_or_else(|| serde_json::Value::Array(Vec::new()));
    let Some(holder) = Data::from_value(&serde_json::Value::Object(
        [("b".to_owned(), bindings)].into_iter().collect(),
    )) else {
        return;
    };
    // SAFETY: live data; the array reference we get is released after loading. obs_hotkey_load
    // drops the hotkey's bindings before adding the loaded ones (an empty array clears them).
    unsafe {
        let arr = sys::obs_data_get_array(holder.as_ptr(), c"b".as_ptr());
        if !arr.is_null() {
            sys::obs_hotkey_load(id.0, arr);
            sys::obs_data_array_release(arr);
        }
    }
}

/// Unregisters a hotkey.
pub fn unregister(id: HotkeyId) {
    with_registry(|r| r.remove(&id.0));
    // SAFETY: an id we registered; the registry lock is not held here.
    unsafe { sys::obs_hotkey_unregister(id.0) }
}

/// Current bindings of every registered hotkey, by name, as `obs_hotkey_save` JSON arrays.
pub fn bindings() -> BTreeMap<String, serde_json::Value> {
    let ids: Vec<(sys::obs_hotkey_id, String)> =
        with_registry(|r| r.iter().map(|(id, n)| (*id, n.clone())).collect());
    let mut out = BTreeMap::new();
    for (id, name) in ids {
        let Some(holder) = Data::empty() else {
            continue;
        };
        // SAFETY: `id` is registered (a stale id just yields null); the array is released below.
        let json = unsafe {
            let arr = sys::obs_hotkey_save(id);
            if arr.is_null() {
                continue;
            }
            sys::obs_data_set_array(holder.as_ptr(), c"b".as_ptr(), arr);
            sys::obs_data_array_release(arr);
            data::json_of(holder.as_ptr())
        };
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&json)
            && let Some(b) = v.get("b")
        {
            out.insert(name, b.clone());
        }
    }
    out
}
