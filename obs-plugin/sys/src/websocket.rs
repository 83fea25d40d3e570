//! Rust port of `obs-websocket-api.h` (obs-websocket's vendor API, entirely `static inline` in C).
//!
//! obs-websocket exposes a proc handler through the global proc `obs_websocket_api_get_ph`; every
//! vendor operation is a `proc_handler_call` on it with a [`CallData`]. Call these only after all
//! modules are loaded (`obs_module_post_load`): before that obs-websocket's handler does not exist.
use core::ffi::{CStr, c_void};

use crate::calldata::CallData;
use crate::{obs_data_t, obs_get_proc_handler, proc_handler_call, proc_handler_t};

/// obs-websocket's vendor request callback (`obs_websocket_request_callback_function`).
pub type RequestCallbackFn = unsafe extern "C" fn(
    request: *mut obs_data_t,
    response: *mut obs_data_t,
    priv_data: *mut c_void,
);

/// `struct obs_websocket_request_callback`: read by obs-websocket during `vendor_request_register`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RequestCallback {
    /// Called on obs-websocket's worker threads for every matching request.
    pub callback: RequestCallbackFn,
    /// Passed back as `priv_data`; must outlive the registration.
    pub priv_data: *mut c_void,
}

/// An opaque `obs_websocket_vendor` handle.
pub type Vendor = *mut c_void;

/// `obs_websocket_get_ph`: obs-websocket's proc handler, or `None` when obs-websocket is not loaded.
///
/// # Safety
/// libobs must be initialised (any module callback qualifies).
pub unsafe fn get_ph() -> Option<*mut proc_handler_t> {
    let mut cd = CallData::new();
    // SAFETY: the global proc handler lives as long as libobs; `cd` is a valid calldata.
    let ok = unsafe {
        proc_handler_call(
            obs_get_proc_handler(),
            c"obs_websocket_api_get_ph".as_ptr(),
            cd.as_mut_ptr(),
        )
    };
    if !ok {
        return None;
    }
    cd.ptr(c"ph").filter(|p| !p.is_null()).map(|p| p.cast())
}

/// `obs_websocket_get_api_version`: 0 when the call fails (API version 1 has no such proc).
///
/// # Safety
/// `ph` must come from [`get_ph`].
pub unsafe fn api_version(ph: *mut proc_handler_t) -> i64 {
    let mut cd = CallData::new();
    // SAFETY: `ph` is obs-websocket's live proc handler (caller contract).
    let ok = unsafe { proc_handler_call(ph, c"get_api_version".as_ptr(), cd.as_mut_ptr()) };
    if ok {
        cd.int(c"version").unwrap_or(0)
    } else {
        0
    }
}

/// `obs_websocket_register_vendor`: `None` if the name is already taken or the call fails.
///
/// # Safety
/// `ph` must come from [`get_ph`].
pub unsafe fn register_vendor(ph: *mut proc_handler_t, name: &CStr) -> Option<Vendor> {
    let mut cd = CallData::new();
    cd.set_string(c"name", name);
    // SAFETY: `ph` is live (caller contract), `cd` valid.
    let ok = unsafe { proc_handler_call(ph, c"vendor_register".as_ptr(), cd.as_mut_ptr()) };
    if !ok {
        return None;
    }
    cd.ptr(c"vendor").filter(|p| !p.is_null())
}

/// `obs_websocket_vendor_register_request`: true on success (false for a duplicate type).
///
/// # Safety
/// `ph`/`vendor` must be live; `callback.priv_data` must stay valid while the request is registered.
pub unsafe fn register_request(
    ph: *mut proc_handler_t,
    vendor: Vendor,
    request_type: &CStr,
    callback: RequestCallback,
) -> bool {
    let mut cb = callback;
    let mut cd = CallData::new();
    cd.set_ptr(c"vendor", vendor);
    cd.set_string(c"type", request_type);
    cd.set_ptr(c"callback", (&mut cb as *mut RequestCallback).cast());
    // SAFETY: `ph`/`vendor` live (caller contract); obs-websocket copies `cb` during the call, so
    // a stack value is enough (the C header does the same).
    let ok = unsafe { proc_handler_call(ph, c"vendor_request_register".as_ptr(), cd.as_mut_ptr()) };
    ok && cd.bool(c"success").unwrap_or(false)
}

/// `obs_websocket_vendor_unregister_request`.
///
/// # Safety
/// `ph`/`vendor` must be live.
pub unsafe fn unregister_request(
    ph: *mut proc_handler_t,
    vendor: Vendor,
    request_type: &CStr,
) -> bool {
    let mut cd = CallData::new();
    cd.set_ptr(c"vendor", vendor);
    cd.set_string(c"type", request_type);
    // SAFETY: as above.
    let ok =
        unsafe { proc_handler_call(ph, c"vendor_request_unregister".as_ptr(), cd.as_mut_ptr()) };
    ok && cd.bool(c"success").unwrap_or(false)
}

/// `obs_websocket_vendor_emit_event`: sends `data` (refcount untouched) to subscribed clients.
///
/// # Safety
/// `ph`/`vendor` must be live and `data` a valid `obs_data_t` (or null for no data).
pub unsafe fn emit_event(
    ph: *mut proc_handler_t,
    vendor: Vendor,
    event_type: &CStr,
    data: *mut obs_data_t,
) -> bool {
    let mut cd = CallData::new();
    cd.set_ptr(c"vendor", vendor);
    cd.set_string(c"type", event_type);
    cd.set_ptr(c"data", data.cast());
    // SAFETY: as above.
    let ok = unsafe { proc_handler_call(ph, c"vendor_event_emit".as_ptr(), cd.as_mut_ptr()) };
    ok && cd.bool(c"success").unwrap_or(false)
}
