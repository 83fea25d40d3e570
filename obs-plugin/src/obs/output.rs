//! Outputs, services and encoders as RAII handles, and output signals as Rust callbacks.
//!
//! Handles own one libobs reference each and release it on drop. They are `Send + Sync`: libobs
//! reference counting and the output/encoder functions used here are thread-safe.
use std::ffi::{CStr, CString, c_void};
use std::ptr::NonNull;
use std::sync::Arc;

use deckcast_obs_sys::{self as sys, calldata};

use super::data::Data;
use super::guard;

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// An owned `obs_encoder_t` reference.
#[derive(Debug)]
pub struct Encoder(NonNull<sys::obs_encoder_t>);

// SAFETY: libobs encoder references are atomically refcounted; the functions we call on them lock
// internally.
unsafe impl Send for Encoder {}
// SAFETY: as above.
unsafe impl Sync for Encoder {}

impl Encoder {
    /// `obs_video_encoder_create(id, name, settings)`, attached to OBS's main video mix.
    pub fn video(id: &str, name: &str, config: &serde_json::Value) -> Option<Encoder> {
        let s = Data::from_value(config)?;
        let (id, name) = (cstring(id), cstring(name));
        // SAFETY: valid strings and settings; returns a new reference or null.
        let enc = NonNull::new(unsafe {
            sys::obs_video_encoder_create(
                id.as_ptr(),
                name.as_ptr(),
                s.as_ptr(),
                std::ptr::null_mut(),
            )
        })?;
        // SAFETY: live encoder; obs_get_video is the main mix.
        unsafe { sys::obs_encoder_set_video(enc.as_ptr(), sys::obs_get_video()) };
        Some(Encoder(enc))
    }

    /// `obs_audio_encoder_create(id, name, settings, mixer)`, attached to OBS's audio.
    pub fn audio(
        id: &str,
        name: &str,
        config: &serde_json::Value,
        mixer: usize,
    ) -> Option<Encoder> {
        let s = Data::from_value(config)?;
        let (id, name) = (cstring(id), cstring(name));
        // SAFETY: valid strings and settings; returns a new reference or null.
        let enc = NonNull::new(unsafe {
            sys::obs_audio_encoder_create(
                id.as_ptr(),
                name.as_ptr(),
                s.as_ptr(),
                mixer,
                std::ptr::null_mut(),
            )
        })?;
        // SAFETY: live encoder; obs_get_audio is OBS's audio output.
        unsafe { sys::obs_encoder_set_audio(enc.as_ptr(), sys::obs_get_audio()) };
        Some(Encoder(enc))
    }

    /// An existing encoder by name (`obs_get_encoder_by_name`), e.g. OBS's `simple_video_stream`.
    pub fn by_name(name: &str) -> Option<Encoder> {
        let name = cstring(name);
        // SAFETY: valid string; returns a new reference or null.
        NonNull::new(unsafe { sys::obs_get_encoder_by_name(name.as_ptr()) }).map(Encoder)
    }

    /// Adds a reference to an encoder pointer we do not own (e.g. from `obs_output_get_video_encoder`).
    fn from_borrowed(ptr: *mut sys::obs_encoder_t) -> Option<Encoder> {
        if ptr.is_null() {
            return None;
        }
        // SAFETY: non-null pointer libobs just handed out; get_ref returns null if it is being destroyed.
        NonNull::new(unsafe { sys::obs_encoder_get_ref(ptr) }).map(Encoder)
    }

    /// Attaches OBS's main video mix (video encoders) or audio (audio encoders) if the encoder has
    /// none yet. OBS attaches its own streaming encoders only when its main stream first starts,
    /// so a shared-encoder target that starts earlier must do it.
    pub fn ensure_media(&self) {
        let p = self.0.as_ptr();
        // SAFETY: live encoder; setting media on an inactive encoder without media is allowed.
        unsafe {
            if sys::obs_encoder_get_type(p) == sys::obs_encoder_type_OBS_ENCODER_VIDEO {
                if sys::obs_encoder_video(p).is_null() {
                    sys::obs_encoder_set_video(p, sys::obs_get_video());
                }
            } else if sys::obs_encoder_audio(p).is_null() {
                sys::obs_encoder_set_audio(p, sys::obs_get_audio());
            }
        }
    }

    /// True while the encoder runs for some output.
    pub fn active(&self) -> bool {
        // SAFETY: live encoder.
        unsafe { sys::obs_encoder_active(self.0.as_ptr()) }
    }

    /// Applies `settings` (`obs_encoder_update`).
    pub fn update(&self, settings: &serde_json::Value) {
        if let Some(s) = Data::from_value(settings) {
            // SAFETY: live encoder and settings.
            unsafe { sys::obs_encoder_update(self.0.as_ptr(), s.as_ptr()) }
        }
    }

    /// Scales this video encoder's input (before it starts).
    pub fn set_scaled_size(&self, width: u32, height: u32) {
        // SAFETY: live encoder.
        unsafe { sys::obs_encoder_set_scaled_size(self.0.as_ptr(), width, height) }
    }

    /// Encodes every `divisor`-th frame (before it starts). False if libobs refused.
    pub fn set_frame_rate_divisor(&self, divisor: u32) -> bool {
        // SAFETY: live encoder.
        unsafe { sys::obs_encoder_set_frame_rate_divisor(self.0.as_ptr(), divisor) }
    }

    /// Whether encoders of type `id` can change their bitrate while running
    /// (`OBS_ENCODER_CAP_DYN_BITRATE`, the capability OBS's own dynamic bitrate needs).
    pub fn type_has_dynamic_bitrate(id: &str) -> bool {
        let id = cstring(id);
        // SAFETY: valid string; returns the registered type's caps (0 for an unknown id).
        unsafe { sys::obs_get_encoder_caps(id.as_ptr()) & sys::OBS_ENCODER_CAP_DYN_BITRATE != 0 }
    }

    /// Whether an encoder type with this id is registered (`obs_get_encoder_codec` is non-null).
    pub fn type_exists(id: &str) -> bool {
        let id = cstring(id);
        // SAFETY: valid string; returns a static string or null.
        !unsafe { sys::obs_get_encoder_codec(id.as_ptr()) }.is_null()
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { sys::obs_encoder_release(self.0.as_ptr()) }
    }
}

/// An owned `obs_service_t` reference.
#[derive(Debug)]
pub struct Service(NonNull<sys::obs_service_t>);

// SAFETY: refcounted; settings are only read by the output thread through libobs' own locking.
unsafe impl Send for Service {}
// SAFETY: as above.
unsafe impl Sync for Service {}

impl Service {
    /// A private service (not saved, not listed) of type `kind` with `settings`.
    pub fn private(kind: &CStr, name: &str, settings: &serde_json::Value) -> Option<Service> {
        let s = Data::from_value(settings)?;
        let name = cstring(name);
        // SAFETY: valid strings/settings; returns a new reference or null.
        NonNull::new(unsafe {
            sys::obs_service_create_private(kind.as_ptr(), name.as_ptr(), s.as_ptr())
        })
        .map(Service)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { sys::obs_service_release(self.0.as_ptr()) }
    }
}

/// Lifecycle signals an output emits (see `obs-output.c`), from libobs' output threads.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputSignal {
    /// `start`: streaming (connected, data flowing).
    Started,
    /// `stop` with its `OBS_OUTPUT_*` code (0 = requested stop) and the output's last error.
    Stopped {
        /// libobs stop code.
        code: i64,
        /// `obs_output_get_last_error`, if any.
        last_error: Option<String>,
    },
    /// `reconnect`: the connection dropped and libobs is retrying.
    Reconnecting,
    /// `reconnect_success`: a retry succeeded.
    Reconnected,
}

/// Where an output's signals go; called on libobs' threads, so it must not block.
pub type SignalSink = Arc<dyn Fn(OutputSignal) + Send + Sync>;

struct SignalCtx {
    callback: SignalSink,
}

const SIGNALS: [&CStr; 4] = [c"start", c"stop", c"reconnect", c"reconnect_success"];

/// An owned `obs_output_t` reference with its signal callbacks; dropping disconnects them, stops
/// the output if it is still active and releases it.
pub struct Output {
    ptr: NonNull<sys::obs_output_t>,
    ctx: *mut SignalCtx,
    _service: Option<Service>,
    _encoders: Vec<Arc<Encoder>>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("ptr", &self.ptr)
            .finish_non_exhaustive()
    }
}

// SAFETY: refcounted handle; libobs output functions lock internally; `ctx` is only freed in drop
// after every signal is disconnected.
unsafe impl Send for Output {}
// SAFETY: as above (methods take &self and only call thread-safe libobs functions).
unsafe impl Sync for Output {}

/// Counters of an output.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Active (streaming or reconnecting).
    pub active: bool,
    /// Reconnecting.
    pub reconnecting: bool,
    /// Bytes sent.
    pub total_bytes: u64,
    /// Frames sent.
    pub total_frames: u64,
    /// Frames dropped by this output.
    pub dropped_frames: u64,
    /// 0–1.
    pub congestion: f64,
    /// Last connect duration (ms).
    pub connect_time_ms: u64,
}

extern "C" fn on_signal(data: *mut c_void, cd: *mut sys::calldata_t) {
    if data.is_null() || cd.is_null() {
        return;
    }
    guard::catch("output signal", (), || {
        // SAFETY: `data` is the SignalCtx we connected; it outlives the connection (freed in Drop
        // after disconnecting, and libobs holds the signal mutex while calling us).
        let ctx = unsafe { &*data.cast::<SignalCtx>() };
        // SAFETY: libobs passes a valid calldata holding the emitting output and the stop code.
        let (output, code) = unsafe {
            (
                calldata::get_ptr_raw(cd, c"output")
                    .unwrap_or(std::ptr::null_mut())
                    .cast::<sys::obs_output_t>(),
                calldata::get_int_raw(cd, c"code"),
            )
        };
        let Some(code) = code else { return };
        let last_error = if output.is_null() {
            None
        } else {
            // SAFETY: the emitting output is alive during its own signal.
            let e = unsafe { sys::obs_output_get_last_error(output) };
            // SAFETY: non-null strings from libobs are NUL-terminated and live during the call.
            (!e.is_null()).then(|| unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned())
        };
        (ctx.callback)(OutputSignal::Stopped { code, last_error });
    });
}

macro_rules! simple_signal {
    ($name:ident, $variant:expr) => {
        extern "C" fn $name(data: *mut c_void, _cd: *mut sys::calldata_t) {
            if data.is_null() {
                return;
            }
            guard::catch("output signal", (), || {
                // SAFETY: see `on_signal`.
                let ctx = unsafe { &*data.cast::<SignalCtx>() };
                (ctx.callback)($variant)
            });
        }
    };
}
simple_signal!(on_start, OutputSignal::Started);
simple_signal!(on_reconnect, OutputSignal::Reconnecting);
simple_signal!(on_reconnect_success, OutputSignal::Reconnected);

type RawCallback = unsafe extern "C" fn(*mut c_void, *mut sys::calldata_t);

fn handlers() -> [(&'static CStr, RawCallback); 4] {
    [
        (SIGNALS[0], on_start as RawCallback),
        (SIGNALS[1], on_signal as RawCallback),
        (SIGNALS[2], on_reconnect as RawCallback),
        (SIGNALS[3], on_reconnect_success as RawCallback),
    ]
}

impl Output {
    /// Creates a private output of type `kind` (e.g. `rtmp_output`) named `name` with `service`
    /// and encoders, and connects `callback` to its lifecycle signals.
    pub fn create(
        kind: &str,
        name: &str,
        service: Service,
        video: Arc<Encoder>,
        audio: Arc<Encoder>,
        callback: SignalSink,
    ) -> Result<Output, String> {
        let s = Data::empty().ok_or("cannot create output settings")?;
        let (ckind, cname) = (cstring(kind), cstring(name));
        // SAFETY: valid strings/settings; returns a new reference or null.
        let ptr = NonNull::new(unsafe {
            sys::obs_output_create(
                ckind.as_ptr(),
                cname.as_ptr(),
                s.as_ptr(),
                std::ptr::null_mut(),
            )
        })
        .ok_or_else(|| format!("OBS could not create a {kind} output"))?;
        let ctx = Box::into_raw(Box::new(SignalCtx { callback }));
        let out = Output {
            ptr,
            ctx,
            _service: None,
            _encoders: Vec::new(),
        };
        // SAFETY: live output; handles live as long as their owners (kept in `out`).
        unsafe {
            sys::obs_output_set_service(ptr.as_ptr(), service.0.as_ptr());
            sys::obs_output_set_video_encoder(ptr.as_ptr(), video.0.as_ptr());
            sys::obs_output_set_audio_encoder(ptr.as_ptr(), audio.0.as_ptr(), 0);
            let sh = sys::obs_output_get_signal_handler(ptr.as_ptr());
            for (sig, cb) in handlers() {
                sys::signal_handler_connect(sh, sig.as_ptr(), Some(cb), ctx.cast());
            }
        }
        let mut out = out;
        out._service = Some(service);
        out._encoders = vec![video, audio];
        Ok(out)
    }

    /// `obs_output_set_reconnect_settings` (0 retries disables reconnecting).
    pub fn set_reconnect(&self, max_retries: u32, retry_sec: u32) {
        // SAFETY: live output.
        unsafe {
            sys::obs_output_set_reconnect_settings(
                self.ptr.as_ptr(),
                max_retries.min(i32::MAX as u32) as i32,
                retry_sec.min(i32::MAX as u32) as i32,
            )
        }
    }

    /// Starts the output; on failure the output's last error (or a generic sentence).
    pub fn start(&self) -> Result<(), String> {
        // SAFETY: live output.
        if unsafe { sys::obs_output_start(self.ptr.as_ptr()) } {
            return Ok(());
        }
        // SAFETY: live output; the string is copied right away.
        let e = unsafe { sys::obs_output_get_last_error(self.ptr.as_ptr()) };
        Err(if e.is_null() {
            "OBS refused to start the output (encoder or service could not initialise)".into()
        } else {
            // SAFETY: non-null NUL-terminated string owned by the output.
            unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
        })
    }

    /// Requests a stop (signals `stop` when done).
    pub fn stop(&self) {
        // SAFETY: live output.
        unsafe { sys::obs_output_stop(self.ptr.as_ptr()) }
    }

    /// Stops at once, dropping what is buffered (`obs_output_force_stop`).
    pub fn force_stop(&self) {
        // SAFETY: live output.
        unsafe { sys::obs_output_force_stop(self.ptr.as_ptr()) }
    }

    /// Current counters.
    pub fn stats(&self) -> Stats {
        let p = self.ptr.as_ptr();
        // SAFETY: live output; plain getters.
        unsafe {
            Stats {
                active: sys::obs_output_active(p),
                reconnecting: sys::obs_output_reconnecting(p),
                total_bytes: sys::obs_output_get_total_bytes(p),
                total_frames: sys::obs_output_get_total_frames(p).max(0) as u64,
                dropped_frames: sys::obs_output_get_frames_dropped(p).max(0) as u64,
                congestion: f64::from(sys::obs_output_get_congestion(p)),
                connect_time_ms: sys::obs_output_get_connect_time_ms(p).max(0) as u64,
            }
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        let p = self.ptr.as_ptr();
        // SAFETY: live output; after disconnecting, libobs never calls our trampolines with `ctx`
        // again (disconnect takes the signal mutex that emission holds), so freeing it is safe.
        unsafe {
            let sh = sys::obs_output_get_signal_handler(p);
            for (sig, cb) in handlers() {
                sys::signal_handler_disconnect(sh, sig.as_ptr(), Some(cb), self.ctx.cast());
            }
            drop(Box::from_raw(self.ctx));
            if sys::obs_output_active(p) {
                sys::obs_output_force_stop(p);
            }
            sys::obs_output_release(p);
        }
    }
}

/// The video and audio encoders of OBS's own streaming output, if it exists and has both (UI
/// thread: OBS replaces its outputs there when the profile or output settings change).
pub fn streaming_output_encoders() -> Option<(Encoder, Encoder)> {
    // SAFETY: frontend call; returns a new reference or null.
    let main = unsafe { sys::obs_frontend_get_streaming_output() };
    if main.is_null() {
        return None;
    }
    // SAFETY: live output (we hold a reference until released below).
    let pair = unsafe {
        (
            Encoder::from_borrowed(sys::obs_output_get_video_encoder(main)),
            Encoder::from_borrowed(sys::obs_output_get_audio_encoder(main, 0)),
        )
    };
    // SAFETY: release the reference obs_frontend_get_streaming_output gave us.
    unsafe { sys::obs_output_release(main) };
    match pair {
        (Some(v), Some(a)) => Some((v, a)),
        _ => None,
    }
}

/// OBS's own recording now, as [`recording_status`] reads it.
#[derive(Debug, Clone, Default)]
pub struct RecordingNow {
    /// OBS is recording.
    pub active: bool,
    /// The folder it records into.
    pub directory: Option<String>,
    /// The file the running recording writes (the recording output's `path` setting).
    pub file: Option<String>,
    /// Bytes written.
    pub bytes: u64,
}

/// OBS's own recording: whether it runs, the folder it records into, the file it writes and the
/// bytes it has written (UI thread: OBS replaces its outputs there when the output settings
/// change).
pub fn recording_status() -> RecordingNow {
    // SAFETY: frontend calls. The path is a bmalloc'd string (or null) that we free; the output
    // is a new reference (or null) that we release, and its settings a new reference copied to
    // JSON and released.
    unsafe {
        let active = sys::obs_frontend_recording_active();
        let p = sys::obs_frontend_get_current_record_output_path();
        let dir = (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned());
        if !p.is_null() {
            sys::bfree(p.cast());
        }
        let out = sys::obs_frontend_get_recording_output();
        let (bytes, file) = if out.is_null() {
            (0, None)
        } else {
            let b = sys::obs_output_get_total_bytes(out);
            let settings = sys::obs_output_get_settings(out);
            let file = if settings.is_null() {
                None
            } else {
                let json = super::data::json_of(settings);
                sys::obs_data_release(settings);
                serde_json::from_str::<serde_json::Value>(&json)
                    .ok()
                    .and_then(|v| v["path"].as_str().map(str::to_owned))
            };
            sys::obs_output_release(out);
            (b, file)
        };
        RecordingNow {
            active,
            directory: dir.filter(|d| !d.is_empty()),
            file: file.filter(|f| active && !f.is_empty()),
            bytes,
        }
    }
}
