//! OBS source types in safe Rust: the [`Source`] trait (one method per OBS callback, all `&self`,
//! each saying which thread calls it) and the one set of guarded trampolines that registers any
//! implementation with libobs. Knows no feature: Deckcast's sources live outside `obs/`.
//!
//! The instance OBS holds is an [`Instance`]: the source plus the audio [`Capture`] the boundary
//! keeps attached to whatever [`Source::audio_source`] names (re-checked every second, so a source
//! created later or renamed back is picked up). Every trampoline null-checks its pointers and runs
//! its body under [`guard::catch`]; a panic is logged and OBS carries on.
use std::ffi::{CStr, c_char, c_void};
use std::sync::Mutex;

use deckcast_obs_sys as sys;

use super::capture::{self, Capture};
use super::graphics::Gfx;
use super::guard;
use super::locale;
use super::properties::{Defaults, Properties, Settings};

/// OBS's audio format, fixed while OBS runs: what [`Source::audio`] receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFormat {
    /// Channels (at least 1; at most the first two reach [`Source::audio`]).
    pub channels: usize,
    /// Samples per second.
    pub sample_rate: u32,
}

/// An OBS video source type (drawn by itself: `OBS_SOURCE_VIDEO | OBS_SOURCE_CUSTOM_DRAW`).
///
/// OBS calls a source from its UI, graphics and audio threads at once: every method takes `&self`
/// and keeps its own state behind atomics or short locks. The audio thread must never wait or
/// allocate, so [`Source::audio`] may only `try_lock`.
pub trait Source: Send + Sync + Sized + 'static {
    /// The source type id.
    const ID: &'static CStr;
    /// Locale key of the name shown in OBS's source list.
    const NAME: &'static CStr;

    /// UI thread: the default settings.
    fn defaults(defaults: &mut Defaults<'_>);
    /// UI thread: the properties dialog.
    fn properties(props: &mut Properties);
    /// UI thread: a new instance with its first settings.
    fn create(settings: &Settings<'_>, audio: AudioFormat) -> Self;
    /// UI thread, or the graphics thread (OBS defers updates of video sources to their tick).
    fn update(&self, settings: &Settings<'_>);
    /// Graphics thread, once per frame.
    fn tick(&self, seconds: f32);
    /// Graphics thread, inside OBS's render of this source.
    fn render(&self, gfx: &mut Gfx<'_>);
    /// Any thread: the width (must not wait for a lock).
    fn width(&self) -> u32;
    /// Any thread: the height (must not wait for a lock).
    fn height(&self) -> u32;
    /// Graphics thread, once a second: the name of the audio source to listen to
    /// ([`capture::OUTPUT_MIX`] for OBS's output mix, empty for none).
    fn audio_source(&self) -> String;
    /// Audio thread: a block of float audio, one slice per channel (at most two). No allocation,
    /// no blocking, no logging.
    fn audio(&self, planes: &[&[f32]]);
}

/// What OBS holds for one source: the source and the audio it follows.
struct Instance<S> {
    source: S,
    capture: Capture,
    /// Seconds since the audio source was last resolved (graphics thread; a large value forces it).
    since_resolve: Mutex<f32>,
}

impl<S> Instance<S> {
    fn param(&self) -> *mut c_void {
        (self as *const Self).cast_mut().cast()
    }
}

/// Shared borrow of the instance behind OBS's data pointer (never `&mut`: several threads use it).
///
/// # Safety
/// `data` must be null or a pointer returned by [`create`] for this `S` that is not destroyed yet.
unsafe fn instance<'a, S>(data: *mut c_void) -> Option<&'a Instance<S>> {
    // SAFETY: caller contract.
    unsafe { data.cast::<Instance<S>>().as_ref() }
}

fn audio_format() -> AudioFormat {
    // SAFETY: plain getters on OBS's audio output, which lives as long as libobs.
    unsafe {
        let audio = sys::obs_get_audio();
        AudioFormat {
            channels: sys::audio_output_get_channels(audio).max(1),
            sample_rate: sys::audio_output_get_sample_rate(audio),
        }
    }
}

unsafe extern "C" fn get_name<S: Source>(_type_data: *mut c_void) -> *const c_char {
    guard::catch("source name", S::NAME.as_ptr(), || {
        locale::text_ptr(S::NAME)
    })
}

unsafe extern "C" fn get_defaults<S: Source>(settings: *mut sys::obs_data_t) {
    if settings.is_null() {
        return;
    }
    guard::catch("source defaults", (), || {
        // SAFETY: OBS's live settings object for this call.
        let mut d = unsafe { Defaults::borrow(settings) };
        S::defaults(&mut d);
    });
}

unsafe extern "C" fn get_properties<S: Source>(_data: *mut c_void) -> *mut sys::obs_properties_t {
    guard::catch("source properties", std::ptr::null_mut(), || {
        let mut props = Properties::new();
        S::properties(&mut props);
        props.into_raw()
    })
}

unsafe extern "C" fn create<S: Source>(
    settings: *mut sys::obs_data_t,
    _source: *mut sys::obs_source_t,
) -> *mut c_void {
    if settings.is_null() {
        return std::ptr::null_mut();
    }
    guard::catch("source create", std::ptr::null_mut(), || {
        // SAFETY: OBS's live settings object for this call.
        let settings = unsafe { Settings::borrow(settings) };
        let instance = Box::new(Instance {
            source: S::create(&settings, audio_format()),
            capture: Capture::default(),
            since_resolve: Mutex::new(f32::MAX),
        });
        Box::into_raw(instance).cast()
    })
}

unsafe extern "C" fn update<S: Source>(data: *mut c_void, settings: *mut sys::obs_data_t) {
    if settings.is_null() {
        return;
    }
    // SAFETY: OBS passes the pointer `create` returned.
    let Some(i) = (unsafe { instance::<S>(data) }) else {
        return;
    };
    guard::catch("source update", (), || {
        // SAFETY: OBS's live settings object for this call.
        let settings = unsafe { Settings::borrow(settings) };
        i.source.update(&settings);
        // The audio source may have changed: resolve it on the next tick.
        *i.since_resolve.lock().unwrap_or_else(|e| e.into_inner()) = f32::MAX;
    });
}

unsafe extern "C" fn destroy<S: Source>(data: *mut c_void) {
    if data.is_null() {
        return;
    }
    guard::catch("source destroy", (), || {
        // SAFETY: the pointer `create` returned; OBS destroys it once, after its last callback.
        // The audio callbacks are removed before the instance is freed.
        let i = unsafe { Box::from_raw(data.cast::<Instance<S>>()) };
        i.capture.detach(on_audio::<S>, on_mix::<S>, i.param());
        drop(i);
    });
}

unsafe extern "C" fn video_tick<S: Source>(data: *mut c_void, seconds: f32) {
    // SAFETY: OBS passes the pointer `create` returned.
    let Some(i) = (unsafe { instance::<S>(data) }) else {
        return;
    };
    guard::catch("source tick", (), || {
        let resolve = {
            let mut since = i.since_resolve.lock().unwrap_or_else(|e| e.into_inner());
            *since += seconds;
            let due = *since >= 1.0;
            if due {
                *since = 0.0;
            }
            due
        };
        if resolve {
            let wanted = i.source.audio_source();
            i.capture
                .resolve(&wanted, on_audio::<S>, on_mix::<S>, i.param());
        }
        i.source.tick(seconds);
    });
}

unsafe extern "C" fn video_render<S: Source>(data: *mut c_void, _effect: *mut sys::gs_effect_t) {
    // SAFETY: OBS passes the pointer `create` returned.
    let Some(i) = (unsafe { instance::<S>(data) }) else {
        return;
    };
    guard::catch("source render", (), || {
        // SAFETY: OBS calls video_render on the graphics thread inside its render pass.
        let mut gfx = unsafe { Gfx::in_render() };
        i.source.render(&mut gfx);
    });
}

unsafe extern "C" fn get_width<S: Source>(data: *mut c_void) -> u32 {
    // SAFETY: OBS passes the pointer `create` returned.
    let Some(i) = (unsafe { instance::<S>(data) }) else {
        return 0;
    };
    guard::catch("source width", 0, || i.source.width())
}

unsafe extern "C" fn get_height<S: Source>(data: *mut c_void) -> u32 {
    // SAFETY: OBS passes the pointer `create` returned.
    let Some(i) = (unsafe { instance::<S>(data) }) else {
        return 0;
    };
    guard::catch("source height", 0, || i.source.height())
}

/// The audio capture callback (libobs' audio thread): no allocation, no blocking. A panic is
/// caught like everywhere else (reporting it allocates, but only after something already broke).
unsafe extern "C" fn on_audio<S: Source>(
    param: *mut c_void,
    _source: *mut sys::obs_source_t,
    audio: *const sys::audio_data,
    muted: bool,
) {
    if param.is_null() || audio.is_null() || muted {
        return;
    }
    // SAFETY: `param` is our live instance (the callback is removed before it is freed); libobs
    // passes a valid block for the duration of the call.
    guard::catch("source audio", (), || unsafe { deliver::<S>(param, audio) });
}

/// The output-mix callback (OBS's mix is float planar, like sources).
unsafe extern "C" fn on_mix<S: Source>(
    param: *mut c_void,
    _mix_idx: usize,
    audio: *mut sys::audio_data,
) {
    if param.is_null() || audio.is_null() {
        return;
    }
    // SAFETY: as for `on_audio`.
    guard::catch("source audio", (), || unsafe { deliver::<S>(param, audio) });
}

/// Hands an audio block to the source.
///
/// # Safety
/// `param` must be a live `Instance<S>` and `audio` the non-null block of the current callback.
unsafe fn deliver<S: Source>(param: *mut c_void, audio: *const sys::audio_data) {
    // SAFETY: caller contract.
    let (i, audio) = unsafe { (&*param.cast::<Instance<S>>(), &*audio) };
    let mut planes: [&[f32]; 2] = [&[], &[]];
    // SAFETY: the block libobs passed to this callback, used only during it.
    let n = unsafe { capture::planes(audio, 2, &mut planes) };
    if n > 0 {
        i.source.audio(&planes[..n]);
    }
}

/// Registers source type `S` (from `obs_module_load`).
pub fn register<S: Source>() {
    let info = sys::obs_source_info {
        id: S::ID.as_ptr(),
        type_: sys::obs_source_type_OBS_SOURCE_TYPE_INPUT,
        output_flags: sys::OBS_SOURCE_VIDEO | sys::OBS_SOURCE_CUSTOM_DRAW,
        get_name: Some(get_name::<S>),
        create: Some(create::<S>),
        destroy: Some(destroy::<S>),
        get_width: Some(get_width::<S>),
        get_height: Some(get_height::<S>),
        get_defaults: Some(get_defaults::<S>),
        get_properties: Some(get_properties::<S>),
        update: Some(update::<S>),
        video_tick: Some(video_tick::<S>),
        video_render: Some(video_render::<S>),
        ..Default::default()
    };
    // SAFETY: libobs copies the struct (its size is passed for compatibility); the id string is
    // static.
    unsafe { sys::obs_register_source_s(&info, std::mem::size_of::<sys::obs_source_info>()) };
}

/// Runs `f` on the source of type `S` named `name`, if there is one (any thread). The source is
/// held for the duration of the call.
pub fn find<S: Source, R>(name: &str, f: impl FnOnce(&S) -> R) -> Option<R> {
    let cname = std::ffi::CString::new(name).ok()?;
    // SAFETY: valid name; a new reference or null.
    let src = unsafe { sys::obs_get_source_by_name(cname.as_ptr()) };
    if src.is_null() {
        return None;
    }
    // SAFETY: live source (we hold a reference); the id string is static in libobs.
    let ours = unsafe {
        let sid = sys::obs_source_get_unversioned_id(src);
        !sid.is_null() && CStr::from_ptr(sid) == S::ID
    };
    let result = if ours {
        // SAFETY: the type id matched, so the data pointer came from our `create::<S>`; it stays
        // valid while we hold the reference.
        unsafe { instance::<S>(sys::obs_obj_get_data(src.cast())) }.map(|i| f(&i.source))
    } else {
        None
    };
    // SAFETY: release the reference taken above.
    unsafe { sys::obs_source_release(src) };
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source whose every callback panics.
    struct Panicky;

    impl Source for Panicky {
        const ID: &'static CStr = c"panicky";
        const NAME: &'static CStr = c"Panicky";
        fn defaults(_: &mut Defaults<'_>) {}
        fn properties(_: &mut Properties) {}
        fn create(_: &Settings<'_>, _: AudioFormat) -> Self {
            Panicky
        }
        fn update(&self, _: &Settings<'_>) {}
        fn tick(&self, _: f32) {
            panic!("tick broke")
        }
        fn render(&self, _: &mut Gfx<'_>) {
            panic!("render broke")
        }
        fn width(&self) -> u32 {
            panic!("width broke")
        }
        fn height(&self) -> u32 {
            panic!("height broke")
        }
        fn audio_source(&self) -> String {
            String::new()
        }
        fn audio(&self, _: &[&[f32]]) {
            panic!("audio broke")
        }
    }

    #[test]
    fn a_panic_in_any_source_callback_is_caught_and_logged() {
        let instance = Box::new(Instance {
            source: Panicky,
            capture: Capture::default(),
            since_resolve: Mutex::new(0.0),
        });
        let data = instance.param();
        let samples = [0.5f32; 64];
        let mut block = sys::audio_data::default();
        block.data[0] = samples.as_ptr().cast_mut().cast();
        block.data[1] = samples.as_ptr().cast_mut().cast();
        block.frames = 64;
        super::super::log::take_test_lines();
        // SAFETY: `data` is a live instance for the whole test; the block outlives each call.
        unsafe {
            on_audio::<Panicky>(data, std::ptr::null_mut(), &block, false);
            video_tick::<Panicky>(data, 0.1);
            video_render::<Panicky>(data, std::ptr::null_mut());
            assert_eq!(get_width::<Panicky>(data), 0);
            assert_eq!(get_height::<Panicky>(data), 0);
            // Null pointers are refused before anything runs.
            on_audio::<Panicky>(std::ptr::null_mut(), std::ptr::null_mut(), &block, false);
            video_tick::<Panicky>(std::ptr::null_mut(), 0.1);
            assert_eq!(get_width::<Panicky>(std::ptr::null_mut()), 0);
        }
        let lines = super::super::log::take_test_lines();
        for what in [
            "source audio: audio broke",
            "source tick: tick broke",
            "source render: render broke",
            "source width: width broke",
            "source height: height broke",
        ] {
            assert!(
                lines
                    .iter()
                    .any(|l| l == &format!("error: internal error in {what}")),
                "{what} not logged: {lines:?}"
            );
        }
        assert_eq!(lines.len(), 5, "{lines:?}");
        drop(instance);
    }
}
