//! The "Deckcast Visualizer" source: a spectrum of a chosen audio source drawn as bars, mirrored
//! bars, a line or radial bars in one batched draw per frame.
//!
//! Threads: the audio capture callback (audio thread) only `try_lock`s the analyzer to push
//! samples; `video_tick` (graphics) runs the FFT and smoothing into a level buffer; `video_render`
//! (graphics) refills one dynamic vertex buffer (created when the style changes) and draws it.
use std::ffi::{CStr, c_char, c_void};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use deckcast_dsp::spectrum::{SpectrumAnalyzer, SpectrumConfig, Window};
use deckcast_obs_sys as sys;

use super::capture::{self, Capture};
use super::guard;
use super::locale::{self, text_c};
use super::source::{self, settings_string};
use crate::visualizer::{self, Mode, Style};

/// The source type id.
pub const ID: &CStr = c"deckcast_visualizer";

#[derive(Clone, PartialEq)]
struct Settings {
    audio_source: String,
    style: Style,
    /// Analyzer settings (`sample_rate` is filled in when the analyzer is built).
    spectrum: SpectrumConfig,
    /// RGBA (0–1) at the zero level.
    low: [f32; 4],
    /// RGBA (0–1) at the full level; equal to `low` for a solid colour.
    high: [f32; 4],
}

struct Gfx {
    vb: *mut sys::gs_vertbuffer_t,
    /// The gradient effect (`data/effects/visualizer.effect`), loaded on first render.
    effect: *mut sys::gs_effect_t,
    /// Loading the effect failed once (logged); draw with OBS's solid effect instead.
    effect_failed: bool,
    count: usize,
    positions: Vec<[f32; 2]>,
}

struct State {
    settings: Mutex<Settings>,
    analyzer: Mutex<Option<SpectrumAnalyzer>>,
    levels: Mutex<Vec<f32>>,
    capture: Capture,
    gfx: Mutex<Gfx>,
    since_resolve: Mutex<f32>,
    /// The source size, readable from any thread without a lock (OBS asks from several threads;
    /// a contended lock must never make the source look 0x0).
    width: AtomicU32,
    height: AtomicU32,
    channels: usize,
    sample_rate: u32,
}

// SAFETY: the vertex buffer pointer is only used on the graphics thread (render) or inside
// obs_enter_graphics (destroy); everything else is behind mutexes.
unsafe impl Send for State {}
// SAFETY: as above.
unsafe impl Sync for State {}

fn param(s: &State) -> *mut c_void {
    (s as *const State).cast_mut().cast()
}

fn read_settings(settings: *mut sys::obs_data_t) -> Settings {
    // SAFETY: valid data.
    let int = |k: &CStr| unsafe { sys::obs_data_get_int(settings, k.as_ptr()) };
    // SAFETY: valid data.
    let bool_of = |k: &CStr| unsafe { sys::obs_data_get_bool(settings, k.as_ptr()) };
    let low = rgba(int(c"color"));
    let high = if bool_of(c"gradient") {
        rgba(int(c"color2"))
    } else {
        low
    };
    let window = match settings_string(settings, c"window").as_str() {
        "hamming" => Window::Hamming,
        "blackman_harris" => Window::BlackmanHarris,
        _ => Window::Hann,
    };
    let bars = int(c"bars").clamp(4, 256) as usize;
    Settings {
        spectrum: SpectrumConfig {
            sample_rate: 0,
            fft_size: int(c"fft_size").clamp(256, 16384) as usize,
            window,
            bands: bars,
            min_hz: int(c"min_hz").clamp(10, 24_000) as f32,
            max_hz: int(c"max_hz").clamp(10, 24_000) as f32,
            floor_db: int(c"floor_db").clamp(-140, 0) as f32,
            ceiling_db: int(c"ceiling_db").clamp(-140, 20) as f32,
            attack_s: int(c"attack_ms").clamp(0, 5000) as f32 / 1000.0,
            release_s: int(c"release_ms").clamp(0, 10_000) as f32 / 1000.0,
            ..SpectrumConfig::default()
        },
        audio_source: settings_string(settings, c"audio_source"),
        style: Style {
            mode: Mode::parse(&settings_string(settings, c"mode")),
            bars,
            gap: int(c"gap").clamp(0, 90) as f32 / 100.0,
            width: int(c"width").clamp(16, 7680) as f32,
            height: int(c"height").clamp(16, 4320) as f32,
            line_width: 4.0,
            rounded: bool_of(c"rounded"),
        },
        low,
        high,
    }
}

/// OBS's colour settings (0xAABBGGRR) as RGBA floats.
fn rgba(abgr: i64) -> [f32; 4] {
    let c = abgr as u32;
    [c, c >> 8, c >> 16, c >> 24].map(|v| (v & 0xFF) as f32 / 255.0)
}

unsafe extern "C" fn get_name(_type_data: *mut c_void) -> *const c_char {
    guard::catch("visualizer name", c"Deckcast Visualizer".as_ptr(), || {
        locale::text_ptr(c"Deckcast.Visualizer")
    })
}

unsafe extern "C" fn get_defaults(settings: *mut sys::obs_data_t) {
    if settings.is_null() {
        return;
    }
    // SAFETY: valid data and strings.
    guard::catch("visualizer defaults", (), || unsafe {
        sys::obs_data_set_default_string(settings, c"mode".as_ptr(), c"bars".as_ptr());
        sys::obs_data_set_default_int(settings, c"bars".as_ptr(), 32);
        sys::obs_data_set_default_int(settings, c"gap".as_ptr(), 25);
        sys::obs_data_set_default_int(settings, c"width".as_ptr(), 800);
        sys::obs_data_set_default_int(settings, c"height".as_ptr(), 200);
        sys::obs_data_set_default_int(settings, c"color".as_ptr(), 0xFF20_A0D0);
        sys::obs_data_set_default_int(settings, c"color2".as_ptr(), 0xFFD0_40A0);
        let d = SpectrumConfig::default();
        sys::obs_data_set_default_int(settings, c"fft_size".as_ptr(), d.fft_size as i64);
        sys::obs_data_set_default_string(settings, c"window".as_ptr(), c"hann".as_ptr());
        for (key, value) in [
            (c"min_hz", d.min_hz),
            (c"max_hz", d.max_hz),
            (c"floor_db", d.floor_db),
            (c"ceiling_db", d.ceiling_db),
            (c"attack_ms", d.attack_s * 1000.0),
            (c"release_ms", d.release_s * 1000.0),
        ] {
            sys::obs_data_set_default_int(settings, key.as_ptr(), value.round() as i64);
        }
    });
}

/// The analyzer for `cfg`; settings the analyzer refuses (say a lowest frequency above the highest)
/// are logged and replaced by the defaults, so the source keeps working.
fn analyzer_for(cfg: &SpectrumConfig, sample_rate: u32) -> Option<SpectrumAnalyzer> {
    SpectrumAnalyzer::new(SpectrumConfig {
        sample_rate,
        ..*cfg
    })
    .or_else(|e| {
        super::log::warn(&format!(
            "visualizer: {e}; using the default analyzer settings"
        ));
        SpectrumAnalyzer::new(SpectrumConfig {
            sample_rate,
            bands: cfg.bands,
            ..SpectrumConfig::default()
        })
    })
    .ok()
}

fn apply(s: &State, settings: *mut sys::obs_data_t) {
    let new = read_settings(settings);
    let mut cur = s.settings.lock().unwrap_or_else(|e| e.into_inner());
    if cur.spectrum != new.spectrum {
        *s.analyzer.lock().unwrap_or_else(|e| e.into_inner()) =
            analyzer_for(&new.spectrum, s.sample_rate);
        let mut levels = s.levels.lock().unwrap_or_else(|e| e.into_inner());
        levels.clear();
        levels.resize(new.style.bars, 0.0);
    }
    s.width.store(new.style.width as u32, Ordering::Relaxed);
    s.height.store(new.style.height as u32, Ordering::Relaxed);
    *cur = new;
    *s.since_resolve.lock().unwrap_or_else(|e| e.into_inner()) = 10.0;
}

unsafe extern "C" fn create(
    settings: *mut sys::obs_data_t,
    _source: *mut sys::obs_source_t,
) -> *mut c_void {
    if settings.is_null() {
        return std::ptr::null_mut();
    }
    guard::catch("visualizer create", std::ptr::null_mut(), || {
        let (channels, sample_rate) = source::audio_format();
        let initial = read_settings(settings);
        let (initial_width, initial_height) =
            (initial.style.width as u32, initial.style.height as u32);
        let state = Box::new(State {
            analyzer: Mutex::new(analyzer_for(&initial.spectrum, sample_rate)),
            levels: Mutex::new(vec![0.0; initial.style.bars]),
            settings: Mutex::new(initial),
            capture: Capture::default(),
            gfx: Mutex::new(Gfx {
                vb: std::ptr::null_mut(),
                effect: std::ptr::null_mut(),
                effect_failed: false,
                count: 0,
                positions: Vec::new(),
            }),
            since_resolve: Mutex::new(10.0),
            width: AtomicU32::new(initial_width),
            height: AtomicU32::new(initial_height),
            channels,
            sample_rate,
        });
        Box::into_raw(state).cast()
    })
}

/// # Safety
/// `data` must come from [`create`] and not be destroyed yet.
unsafe fn state<'a>(data: *mut c_void) -> Option<&'a State> {
    // SAFETY: caller contract.
    unsafe { data.cast::<State>().as_ref() }
}

unsafe extern "C" fn update(data: *mut c_void, settings: *mut sys::obs_data_t) {
    if settings.is_null() {
        return;
    }
    // SAFETY: pointer from create.
    let Some(s) = (unsafe { state(data) }) else {
        return;
    };
    guard::catch("visualizer update", (), || apply(s, settings));
}

unsafe extern "C" fn destroy(data: *mut c_void) {
    if data.is_null() {
        return;
    }
    guard::catch("visualizer destroy", (), || {
        // SAFETY: pointer from create; the audio callback is removed before the state goes away.
        let s = unsafe { Box::from_raw(data.cast::<State>()) };
        s.capture.detach(on_audio, on_mix, param(&s));
        let (vb, effect) = s
            .gfx
            .lock()
            .map(|g| (g.vb, g.effect))
            .unwrap_or((std::ptr::null_mut(), std::ptr::null_mut()));
        if !vb.is_null() || !effect.is_null() {
            // SAFETY: our graphics objects, destroyed inside the graphics context.
            unsafe {
                sys::obs_enter_graphics();
                if !vb.is_null() {
                    sys::gs_vertexbuffer_destroy(vb);
                }
                if !effect.is_null() {
                    sys::gs_effect_destroy(effect);
                }
                sys::obs_leave_graphics();
            }
        }
    });
}

unsafe extern "C" fn on_mix(param: *mut c_void, _mix_idx: usize, audio: *mut sys::audio_data) {
    // SAFETY: same contract as the source callback (OBS's mix is float planar, like sources).
    unsafe { on_audio(param, std::ptr::null_mut(), audio, false) }
}

unsafe extern "C" fn on_audio(
    param: *mut c_void,
    _source: *mut sys::obs_source_t,
    audio: *const sys::audio_data,
    muted: bool,
) {
    // Audio thread: no allocation, no blocking, no logging.
    if param.is_null() || audio.is_null() || muted {
        return;
    }
    // SAFETY: our live state (callback removed before it is freed); libobs' block for this call.
    let (s, audio) = unsafe { (&*param.cast::<State>(), &*audio) };
    let Ok(mut guard) = s.analyzer.try_lock() else {
        return;
    };
    let Some(analyzer) = guard.as_mut() else {
        return;
    };
    let mut planes: [&[f32]; 2] = [&[], &[]];
    // SAFETY: the block libobs passed to this callback.
    let n = unsafe { capture::planes(audio, s.channels, &mut planes) };
    if n > 0 {
        analyzer.push_planar(&planes[..n]);
    }
}

unsafe extern "C" fn video_tick(data: *mut c_void, seconds: f32) {
    // SAFETY: pointer from create.
    let Some(s) = (unsafe { state(data) }) else {
        return;
    };
    guard::catch("visualizer tick", (), || {
        let name = {
            let mut since = s.since_resolve.lock().unwrap_or_else(|e| e.into_inner());
            *since += seconds;
            if *since < 1.0 {
                None
            } else {
                *since = 0.0;
                s.settings.lock().ok().map(|g| g.audio_source.clone())
            }
        };
        if let Some(name) = name {
            s.capture.resolve(&name, on_audio, on_mix, param(s));
        }
        if let (Ok(mut analyzer), Ok(mut levels)) = (s.analyzer.try_lock(), s.levels.try_lock())
            && let Some(a) = analyzer.as_mut()
        {
            for (dst, v) in levels.iter_mut().zip(a.analyze(seconds)) {
                *dst = v;
            }
        }
    });
}

unsafe extern "C" fn video_render(data: *mut c_void, _effect: *mut sys::gs_effect_t) {
    // SAFETY: pointer from create.
    let Some(s) = (unsafe { state(data) }) else {
        return;
    };
    guard::catch("visualizer render", (), || {
        let Ok(settings) = s.settings.try_lock().map(|g| g.clone()) else {
            return;
        };
        let Ok(mut gfx) = s.gfx.try_lock() else {
            return;
        };
        let count = visualizer::vertex_count(&settings.style);
        if count == 0 {
            return;
        }
        if gfx.vb.is_null() || gfx.count != count {
            // SAFETY: graphics thread inside render; the old buffer (ours) is replaced.
            unsafe {
                if !gfx.vb.is_null() {
                    sys::gs_vertexbuffer_destroy(gfx.vb);
                }
                let vbdata =
                    sys::bmalloc(std::mem::size_of::<sys::gs_vb_data>()).cast::<sys::gs_vb_data>();
                vbdata.write(sys::gs_vb_data::default());
                let points =
                    sys::bmalloc(std::mem::size_of::<sys::vec3>() * count).cast::<sys::vec3>();
                std::ptr::write_bytes(points, 0, count);
                (*vbdata).num = count;
                (*vbdata).points = points;
                gfx.vb = sys::gs_vertexbuffer_create(vbdata, sys::GS_DYNAMIC);
            }
            gfx.count = count;
            gfx.positions.resize(count, [0.0; 2]);
        }
        if gfx.vb.is_null() {
            return;
        }
        {
            let levels = s.levels.try_lock();
            let levels: &[f32] = levels.as_deref().map(Vec::as_slice).unwrap_or(&[]);
            let Gfx { positions, .. } = &mut *gfx;
            visualizer::fill(&settings.style, levels, positions);
        }
        // SAFETY: graphics thread; our vertex buffer holds `count` points; the base effect is static.
        unsafe {
            let vbdata = sys::gs_vertexbuffer_get_data(gfx.vb);
            if vbdata.is_null() || (*vbdata).points.is_null() {
                return;
            }
            let points = std::slice::from_raw_parts_mut((*vbdata).points, count);
            for (dst, p) in points.iter_mut().zip(&gfx.positions) {
                dst.__bindgen_anon_1.ptr = [p[0], p[1], 0.0, 0.0];
            }
            sys::gs_vertexbuffer_flush(gfx.vb);
        }
        if gfx.effect.is_null() && !gfx.effect_failed {
            gfx.effect = load_effect();
            gfx.effect_failed = gfx.effect.is_null();
        }
        let axis = visualizer::gradient_axis(&settings.style);
        // SAFETY: graphics thread; the effects are ours or OBS's static base effect.
        unsafe {
            let (effect, technique) = if gfx.effect.is_null() {
                let solid = sys::obs_get_base_effect(sys::obs_base_effect_OBS_EFFECT_SOLID);
                set_vec4(solid, c"color", settings.low);
                (solid, c"Solid")
            } else {
                let e = gfx.effect;
                set_vec4(e, c"color_low", settings.low);
                set_vec4(e, c"color_high", settings.high);
                let p = sys::gs_effect_get_param_by_name(e, c"origin".as_ptr());
                sys::gs_effect_set_vec2(p, &vec2(axis.origin));
                let p = sys::gs_effect_get_param_by_name(e, c"axis_scale".as_ptr());
                sys::gs_effect_set_vec2(p, &vec2(axis.scale));
                let p = sys::gs_effect_get_param_by_name(e, c"axis_start".as_ptr());
                sys::gs_effect_set_float(p, axis.start);
                (e, c"Draw")
            };
            sys::gs_load_vertexbuffer(gfx.vb);
            sys::gs_load_indexbuffer(std::ptr::null_mut());
            while sys::gs_effect_loop(effect, technique.as_ptr()) {
                sys::gs_draw(sys::gs_draw_mode_GS_TRIS, 0, count as u32);
            }
            sys::gs_load_vertexbuffer(std::ptr::null_mut());
        }
    });
}

fn vec2(v: [f32; 2]) -> sys::vec2 {
    let mut out = sys::vec2::default();
    out.__bindgen_anon_1.ptr = v;
    out
}

/// # Safety
/// Graphics thread; `effect` valid.
unsafe fn set_vec4(effect: *mut sys::gs_effect_t, name: &CStr, v: [f32; 4]) {
    let mut val = sys::vec4::default();
    val.__bindgen_anon_1.ptr = v;
    // SAFETY: caller contract; a missing parameter is null, which libobs ignores.
    unsafe {
        let p = sys::gs_effect_get_param_by_name(effect, name.as_ptr());
        sys::gs_effect_set_vec4(p, &val);
    }
}

/// Loads `data/effects/visualizer.effect` (graphics thread). Null, logged, if it cannot.
fn load_effect() -> *mut sys::gs_effect_t {
    // SAFETY: our module pointer; libobs returns a bmalloc'd path or null, freed here.
    unsafe {
        let path = sys::obs_find_module_file(
            super::module::current(),
            c"effects/visualizer.effect".as_ptr(),
        );
        if path.is_null() {
            super::log::warn(
                "visualizer: effects/visualizer.effect not found; drawing solid colour",
            );
            return std::ptr::null_mut();
        }
        let mut err: *mut c_char = std::ptr::null_mut();
        let effect = sys::gs_effect_create_from_file(path, &mut err);
        if effect.is_null() {
            let why = if err.is_null() {
                String::new()
            } else {
                CStr::from_ptr(err).to_string_lossy().into_owned()
            };
            super::log::warn(&format!(
                "visualizer: effect failed to compile, drawing solid colour: {why}"
            ));
        }
        sys::bfree(err.cast());
        sys::bfree(path.cast());
        effect
    }
}

unsafe extern "C" fn get_width(data: *mut c_void) -> u32 {
    // SAFETY: pointer from create.
    unsafe { state(data) }.map_or(0, |s| s.width.load(Ordering::Relaxed))
}

unsafe extern "C" fn get_height(data: *mut c_void) -> u32 {
    // SAFETY: pointer from create.
    unsafe { state(data) }.map_or(0, |s| s.height.load(Ordering::Relaxed))
}

unsafe extern "C" fn get_properties(_data: *mut c_void) -> *mut sys::obs_properties_t {
    guard::catch("visualizer properties", std::ptr::null_mut(), || {
        // SAFETY: a new properties object on the UI thread; libobs copies every string.
        unsafe {
            let props = sys::obs_properties_create();
            let list_of = |key: &CStr, label: &str| {
                let l = text_c(label);
                sys::obs_properties_add_list(
                    props,
                    key.as_ptr(),
                    l.as_ptr(),
                    sys::obs_combo_type_OBS_COMBO_TYPE_LIST,
                    sys::obs_combo_format_OBS_COMBO_FORMAT_STRING,
                )
            };
            let audio = list_of(c"audio_source", "Deckcast.Visualizer.AudioSource");
            let none = text_c("Deckcast.Visualizer.NoAudio");
            sys::obs_property_list_add_string(audio, none.as_ptr(), c"".as_ptr());
            let mix = text_c("Deckcast.OutputMix");
            let mix_value = std::ffi::CString::new(capture::OUTPUT_MIX).unwrap_or_default();
            sys::obs_property_list_add_string(audio, mix.as_ptr(), mix_value.as_ptr());
            for n in capture::audio_source_names() {
                sys::obs_property_list_add_string(audio, n.as_ptr(), n.as_ptr());
            }
            let mode = list_of(c"mode", "Deckcast.Visualizer.Mode");
            for (label, value) in [
                ("Deckcast.Visualizer.Mode.Bars", c"bars"),
                ("Deckcast.Visualizer.Mode.Mirrored", c"mirrored"),
                ("Deckcast.Visualizer.Mode.Line", c"line"),
                ("Deckcast.Visualizer.Mode.Radial", c"radial"),
            ] {
                let l = text_c(label);
                sys::obs_property_list_add_string(mode, l.as_ptr(), value.as_ptr());
            }
            for (key, label, min, max) in [
                (c"bars", "Deckcast.Visualizer.Bars", 4, 256),
                (c"gap", "Deckcast.Visualizer.Gap", 0, 90),
                (c"width", "Deckcast.Visualizer.Width", 16, 7680),
                (c"height", "Deckcast.Visualizer.Height", 16, 4320),
            ] {
                let l = text_c(label);
                sys::obs_properties_add_int(props, key.as_ptr(), l.as_ptr(), min, max, 1);
            }
            let color = text_c("Deckcast.Visualizer.Color");
            sys::obs_properties_add_color(props, c"color".as_ptr(), color.as_ptr());
            let fft = sys::obs_properties_add_list(
                props,
                c"fft_size".as_ptr(),
                text_c("Deckcast.Visualizer.FftSize").as_ptr(),
                sys::obs_combo_type_OBS_COMBO_TYPE_LIST,
                sys::obs_combo_format_OBS_COMBO_FORMAT_INT,
            );
            for (label, n) in [
                (c"1024", 1024),
                (c"2048", 2048),
                (c"4096", 4096),
                (c"8192", 8192),
            ] {
                sys::obs_property_list_add_int(fft, label.as_ptr(), n);
            }
            let window = list_of(c"window", "Deckcast.Visualizer.Window");
            for (label, value) in [
                ("Deckcast.Visualizer.Window.Hann", c"hann"),
                ("Deckcast.Visualizer.Window.Hamming", c"hamming"),
                (
                    "Deckcast.Visualizer.Window.BlackmanHarris",
                    c"blackman_harris",
                ),
            ] {
                let l = text_c(label);
                sys::obs_property_list_add_string(window, l.as_ptr(), value.as_ptr());
            }
            for (key, label, min, max) in [
                (c"min_hz", "Deckcast.Visualizer.MinHz", 10, 24_000),
                (c"max_hz", "Deckcast.Visualizer.MaxHz", 10, 24_000),
                (c"floor_db", "Deckcast.Visualizer.FloorDb", -140, 0),
                (c"ceiling_db", "Deckcast.Visualizer.CeilingDb", -140, 20),
                (c"attack_ms", "Deckcast.Visualizer.AttackMs", 0, 5000),
                (c"release_ms", "Deckcast.Visualizer.ReleaseMs", 0, 10_000),
            ] {
                let l = text_c(label);
                sys::obs_properties_add_int(props, key.as_ptr(), l.as_ptr(), min, max, 1);
            }
            let gradient = text_c("Deckcast.Visualizer.Gradient");
            sys::obs_properties_add_bool(props, c"gradient".as_ptr(), gradient.as_ptr());
            let color2 = text_c("Deckcast.Visualizer.Color2");
            sys::obs_properties_add_color(props, c"color2".as_ptr(), color2.as_ptr());
            let rounded = text_c("Deckcast.Visualizer.Rounded");
            sys::obs_properties_add_bool(props, c"rounded".as_ptr(), rounded.as_ptr());
            props
        }
    })
}

/// Current band levels (0–1) of the visualizer named `name`, if it is one.
pub fn levels_of(name: &str) -> Option<Vec<f32>> {
    source::with_own_data(name, ID, |data| {
        // SAFETY: a pointer from our `create` (the type id matched), alive while the source is held.
        unsafe { state(data) }.and_then(|s| s.levels.lock().ok().map(|l| l.clone()))
    })
}

/// Registers the source type (from `obs_module_load`).
pub fn register() {
    let info = sys::obs_source_info {
        id: ID.as_ptr(),
        type_: sys::obs_source_type_OBS_SOURCE_TYPE_INPUT,
        output_flags: sys::OBS_SOURCE_VIDEO | sys::OBS_SOURCE_CUSTOM_DRAW,
        get_name: Some(get_name),
        create: Some(create),
        destroy: Some(destroy),
        get_width: Some(get_width),
        get_height: Some(get_height),
        get_defaults: Some(get_defaults),
        get_properties: Some(get_properties),
        update: Some(update),
        video_tick: Some(video_tick),
        video_render: Some(video_render),
        ..Default::default()
    };
    // SAFETY: libobs copies the struct.
    unsafe { sys::obs_register_source_s(&info, std::mem::size_of::<sys::obs_source_info>()) };
}
