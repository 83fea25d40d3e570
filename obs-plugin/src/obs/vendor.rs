//! The obs-websocket vendor API: registering request types and emitting vendor events. Knows no
//! request: the table of names and handlers comes from safe code (`crate::router`).
//!
//! Registration runs on the UI thread in `obs_module_post_load`. Requests arrive on obs-websocket's
//! worker threads through [`on_request`], which converts the request `obs_data_t` to JSON, calls the
//! safe handler under a panic guard and writes the JSON answer back. Events may be emitted from any
//! thread (obs-websocket queues them).
use std::ffi::{CString, c_void};
use std::fmt;
use std::sync::OnceLock;

use deckcast_obs_sys::{self as sys, websocket};
use deckcast_protocol::Error;
use serde_json::Value;

use super::data::{self, Data};
use super::guard;

/// One vendor request type and its safe handler (`request data -> response object`).
#[derive(Debug)]
pub struct VendorRequest {
    /// `requestType` as clients send it.
    pub name: &'static str,
    /// Called on obs-websocket worker threads with the request data; must not block for long.
    pub handler: fn(Value) -> Value,
}

/// Why the vendor could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// obs-websocket is not loaded (or too old to have the vendor API).
    WebsocketUnavailable,
    /// Another plugin already registered this vendor name, or we registered twice.
    NameTaken(String),
    /// obs-websocket refused a request type.
    Request(String),
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WebsocketUnavailable => write!(f, "obs-websocket is not available"),
            Self::NameTaken(n) => write!(f, "the vendor name '{n}' is already registered"),
            Self::Request(r) => write!(f, "obs-websocket refused the request type '{r}'"),
        }
    }
}

/// The registered vendor. Lives for the rest of the process (obs-websocket owns the registration).
#[derive(Debug)]
pub struct Vendor {
    ph: *mut sys::proc_handler_t,
    vendor: websocket::Vendor,
    requests: &'static [VendorRequest],
}

// SAFETY: the two pointers are opaque handles owned by obs-websocket for the process lifetime; every
// operation on them goes through obs-websocket's proc handler, which is thread-safe.
unsafe impl Send for Vendor {}
// SAFETY: as above; `Vendor` has no interior mutability.
unsafe impl Sync for Vendor {}

static VENDOR: OnceLock<Vendor> = OnceLock::new();

impl Vendor {
    /// Registers vendor `name` with all `requests`. Call once, from `obs_module_post_load`.
    pub fn register(
        name: &str,
        requests: &'static [VendorRequest],
    ) -> Result<&'static Vendor, RegisterError> {
        if VENDOR.get().is_some() {
            return Err(RegisterError::NameTaken(name.to_owned()));
        }
        // SAFETY: libobs is initialised (we are in a module callback).
        let ph = unsafe { websocket::get_ph() }.ok_or(RegisterError::WebsocketUnavailable)?;
        let cname = CString::new(name).map_err(|_| RegisterError::NameTaken(name.to_owned()))?;
        // SAFETY: `ph` came from get_ph.
        let vendor = unsafe { websocket::register_vendor(ph, &cname) }
            .ok_or_else(|| RegisterError::NameTaken(name.to_owned()))?;
        for request in requests {
            let callback = websocket::RequestCallback {
                callback: on_request,
                // `requests` is 'static, so the pointer outlives the registration.
                priv_data: (request as *const VendorRequest).cast_mut().cast(),
            };
            let name = CString::new(request.name)
                .map_err(|_| RegisterError::Request(request.name.to_owned()))?;
            // SAFETY: live ph/vendor; priv_data is 'static; obs-websocket copies the name.
            if !unsafe { websocket::register_request(ph, vendor, &name, callback) } {
                return Err(RegisterError::Request(request.name.to_owned()));
            }
        }
        Ok(VENDOR.get_or_init(|| Vendor {
            ph,
            vendor,
            requests,
        }))
    }

    /// The registered vendor, if registration succeeded.
    pub fn get() -> Option<&'static Vendor> {
        VENDOR.get()
    }

    /// Number of registered request types.
    pub fn request_count(&self) -> usize {
        self.requests.len()
    }

    /// Emits vendor event `event_type` with `data` (a JSON object) to subscribed clients.
    pub fn emit(&self, event_type: &str, data: &Value) -> bool {
        let (Ok(name), Some(payload)) = (CString::new(event_type), Data::from_value(data)) else {
            return false;
        };
        // SAFETY: live ph/vendor (process lifetime); `payload` is a valid obs_data_t we own.
        unsafe { websocket::emit_event(self.ph, self.vendor, &name, payload.as_ptr()) }
    }
}

/// The C callback obs-websocket calls for every registered request type.
extern "C" fn on_request(
    req: *mut sys::obs_data_t,
    resp: *mut sys::obs_data_t,
    priv_data: *mut c_void,
) {
    if resp.is_null() || priv_data.is_null() {
        return;
    }
    // SAFETY: priv_data is the &'static VendorRequest we registered (see `Vendor::register`).
    let request: &'static VendorRequest = unsafe { &*priv_data.cast::<VendorRequest>() };
    let fallback = || {
        Error::internal(format!(
            "internal error while handling {}; OBS keeps running",
            request.name
        ))
        .to_wire()
    };
    let mut response = guard::catch("vendor request", Value::Null, || {
        let input = if req.is_null() {
            Value::Object(Default::default())
        } else {
            // SAFETY: obs-websocket owns `req` for the duration of this call and does not mutate it.
            let text = unsafe { data::json_of(req) };
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        (request.handler)(input)
    });
    if !response.is_object() {
        response = fallback();
    }
    // SAFETY: `resp` is obs-websocket's live response object, ours to fill during this call.
    let written = guard::catch("vendor response", false, || unsafe {
        data::apply_json(resp, &response)
    });
    if !written {
        let fb = fallback();
        // SAFETY: as above.
        guard::catch("vendor response", (), || unsafe {
            data::apply_json(resp, &fb);
        });
    }
}
