//! The "Deckcast Now Playing" source: the now-playing template, with the live tempo of a chosen
//! OBS audio source, drawn by one private FreeType text source per template line, each placed by
//! [`nowplaying::Layout`] (left/centre/right, top/centre/bottom, fitted or fixed box).
//!
//! Threads: `create`/`update`/`destroy`/properties on the UI thread; `video_tick`/`video_render`/
//! size on the graphics thread; the audio capture callback on libobs' audio thread, where it only
//! `try_lock`s the tracker (a contended block is skipped, never waited for) and allocates nothing.
//! The reading crosses threads through atomics. OBS defers `update` of video sources to their
//! `video_tick`, so line sources are created and replaced on the graphics thread (or in `create`).
use std::ffi::{CStr, CString, c_char, c_void};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use deckcast_dsp::tempo::{Correction, TempoConfig, TempoReading, TempoTracker};
use deckcast_obs_sys as sys;

use super::capture::{self, Capture};
use super::data::Data;
use super::guard;
use super::locale::{self, text_c};
use super::source::{self, settings_string};
use crate::nowplaying::{self, Align, Layout, MAX_LINES, VAlign};

/// The source type id.
pub const ID: &CStr = c"deckcast_now_playing";

/// The tracker, movable to the audio thread: aubio's tracker holds plain heap state with no thread
/// affinity, and every access goes through the mutex below.
struct Tracker(TempoTracker);
// SAFETY: see above; aubio objects are only touched under `State::tracker`'s lock.
unsafe impl Send for Tracker {}

#[derive(Default, Clone, PartialEq)]
struct Settings {
    template: String,
    audio_source: String,
    min_bpm: f64,
    max_bpm: f64,
    correction: Correction,
    layout: Layout,
}

/// The private text sources, one per template line (holding one reference each).
struct Lines(Vec<*mut sys::obs_source_t>);

impl Drop for Lines {
    fn drop(&mut self) {
        for &c in &self.0 {
            if !c.is_null() {
                // SAFETY: we own one reference to each line source.
                unsafe { sys::obs_source_release(c) };
            }
        }
    }
}

struct State {
    lines: Mutex<Lines>,
    /// The source size from the last layout, readable from any thread without a lock.
    width: AtomicU32,
    height: AtomicU32,
    settings: Mutex<Settings>,
    tracker: Mutex<Option<Tracker>>,
    /// The audio source we capture from.
    capture: Capture,
    bpm: AtomicU64,
    raw_bpm: AtomicU64,
    confidence: AtomicU64,
    stable: AtomicBool,
    active: AtomicBool,
    /// Graphics-thread bookkeeping.
    tick: Mutex<Tick>,
    channels: usize,
    sample_rate: u32,
}

#[derive(Default)]
struct Tick {
    since_resolve: f32,
    since_text: f32,
    last_text: String,
    /// Text shown by each line source.
    last_lines: Vec<String>,
    last_bpm_event: f64,
}

// SAFETY: the raw pointers are libobs handles (thread-safe refcounted objects) owned by this state
// and released only in `destroy`, after the audio callback is removed.
unsafe impl Send for State {}
// SAFETY: as above; all mutable fields are atomics or behind mutexes.
unsafe impl Sync for State {}

impl State {
    fn reading(&self) -> TempoReading {
        TempoReading {
            bpm: f64::from_bits(self.bpm.load(Ordering::Relaxed)),
            raw_bpm: f64::from_bits(self.raw_bpm.load(Ordering::Relaxed)),
            confidence: f64::from_bits(self.confidence.load(Ordering::Relaxed)),
            stable: self.stable.load(Ordering::Relaxed),
            active: self.active.load(Ordering::Relaxed),
        }
    }
}

fn read_settings(settings: *mut sys::obs_data_t) -> Settings {
    // SAFETY: valid data.
    let int = |k: &CStr| unsafe { sys::obs_data_get_int(settings, k.as_ptr()) };
    let correction = match settings_string(settings, c"correction").as_str() {
        "double" => Correction::Double,
        "half" => Correction::Half,
        "two_thirds" => Correction::TwoThirds,
        _ => Correction::None,
    };
    Settings {
        template: settings_string(settings, c"template"),
        audio_source: settings_string(settings, c"audio_source"),
        min_bpm: int(c"min_bpm").clamp(30, 400) as f64,
        max_bpm: int(c"max_bpm").clamp(30, 400) as f64,
        correction,
        layout: Layout {
            align: Align::parse(&settings_string(settings, c"align")),
            valign: VAlign::parse(&settings_string(settings, c"valign")),
            box_width: int(c"box_width").clamp(0, 7680) as u32,
            box_height: int(c"box_height").clamp(0, 4320) as u32,
        },
    }
}

unsafe extern "C" fn get_name(_type_data: *mut c_void) -> *const c_char {
    guard::catch("now playing name", c"Deckcast Now Playing".as_ptr(), || {
        locale::text_ptr(c"Deckcast.NowPlaying")
    })
}

unsafe extern "C" fn get_defaults(settings: *mut sys::obs_data_t) {
    if settings.is_null() {
        return;
    }
    guard::catch("now playing defaults", (), || {
        let tpl = CString::new(nowplaying::DEFAULT_TEMPLATE).unwrap_or_default();
        // SAFETY: valid data and strings.
        unsafe {
            sys::obs_data_set_default_string(settings, c"template".as_ptr(), tpl.as_ptr());
            sys::obs_data_set_default_int(settings, c"min_bpm".as_ptr(), 70);
            sys::obs_data_set_default_int(settings, c"max_bpm".as_ptr(), 180);
            sys::obs_data_set_default_string(settings, c"correction".as_ptr(), c"none".as_ptr());
            sys::obs_data_set_default_int(settings, c"size".as_ptr(), 48);
            sys::obs_data_set_default_int(settings, c"color".as_ptr(), 0xFFFF_FFFF);
            sys::obs_data_set_default_bool(settings, c"outline".as_ptr(), true);
            sys::obs_data_set_default_string(settings, c"align".as_ptr(), c"left".as_ptr());
            sys::obs_data_set_default_string(settings, c"valign".as_ptr(), c"top".as_ptr());
        }
    });
}

/// Settings of the private text source derived from ours.
fn child_settings(settings: *mut sys::obs_data_t, text: &str) -> serde_json::Value {
    // SAFETY: valid data.
    let (size, color, outline) = unsafe {
        (
            sys::obs_data_get_int(settings, c"size".as_ptr()),
            sys::obs_data_get_int(settings, c"color".as_ptr()),
            sys::obs_data_get_bool(settings, c"outline".as_ptr()),
        )
    };
    // The font dialog's face/style/flags (if the user picked a font); the size setting wins.
    // SAFETY: valid data; the object reference is released after copying it out as JSON.
    let font: serde_json::Value = unsafe {
        let obj = sys::obs_data_get_obj(settings, c"font".as_ptr());
        if obj.is_null() {
            serde_json::Value::Null
        } else {
            let json = super::data::json_of(obj);
            sys::obs_data_release(obj);
            serde_json::from_str(&json).unwrap_or_default()
        }
    };
    let face = font["face"]
        .as_str()
        .filter(|f| !f.is_empty())
        .unwrap_or("DejaVu Sans");
    let style = font["style"].as_str().unwrap_or("Bold");
    let flags = font["flags"].as_i64().unwrap_or(1);
    serde_json::json!({
        "text": text,
        "font": {"face": face, "style": style, "size": size.clamp(8, 512), "flags": flags},
        "color1": color, "color2": color, "outline": outline, "drop_shadow": false,
    })
}

unsafe extern "C" fn create(
    settings: *mut sys::obs_data_t,
    _source: *mut sys::obs_source_t,
) -> *mut c_void {
    if settings.is_null() {
        return std::ptr::null_mut();
    }
    guard::catch("now playing create", std::ptr::null_mut(), || {
        let (channels, sample_rate) = source::audio_format();
        let state = Box::new(State {
            lines: Mutex::new(Lines(Vec::new())),
            width: AtomicU32::new(0),
            height: AtomicU32::new(0),
            settings: Mutex::new(Settings::default()),
            tracker: Mutex::new(None),
            capture: Capture::default(),
            bpm: AtomicU64::new(0),
            raw_bpm: AtomicU64::new(0),
            confidence: AtomicU64::new(0),
            stable: AtomicBool::new(false),
            active: AtomicBool::new(false),
            tick: Mutex::new(Tick {
                since_resolve: 10.0,
                since_text: 10.0,
                ..Tick::default()
            }),
            channels,
            sample_rate,
        });
        apply(&state, settings);
        Box::into_raw(state).cast()
    })
}

fn apply(state: &State, settings: *mut sys::obs_data_t) {
    let new = read_settings(settings);
    let mut cur = state.settings.lock().unwrap_or_else(|e| e.into_inner());
    if cur.min_bpm != new.min_bpm || cur.max_bpm != new.max_bpm || cur.correction != new.correction
    {
        let cfg = TempoConfig {
            sample_rate: state.sample_rate,
            min_bpm: new.min_bpm,
            max_bpm: new.max_bpm,
            correction: new.correction,
        };
        let tracker = TempoTracker::new(cfg)
            .or_else(|_| {
                TempoTracker::new(TempoConfig {
                    sample_rate: state.sample_rate,
                    ..TempoConfig::default()
                })
            })
            .ok()
            .map(Tracker);
        *state.tracker.lock().unwrap_or_else(|e| e.into_inner()) = tracker;
    }
    let wanted = nowplaying::split_lines(&new.template).len();
    *cur = new;
    drop(cur);
    // Font, size, colour and outline go to the line sources now, with the text they show; a
    // template with a different number of lines gets new line sources. The text follows on the
    // next tick.
    let shown = state
        .tick
        .lock()
        .map(|t| t.last_lines.clone())
        .unwrap_or_default();
    let line_settings =
        |i: usize| Data::from_value(&child_settings(settings, shown.get(i).map_or("", |s| s)));
    let count = state.lines.lock().map(|l| l.0.len()).unwrap_or(0);
    if count == wanted {
        let lines = state.lines.lock().unwrap_or_else(|e| e.into_inner());
        for (i, &c) in lines.0.iter().enumerate() {
            if let Some(d) = line_settings(i) {
                // SAFETY: our private line source and a settings object we own.
                unsafe { sys::obs_source_update(c, d.as_ptr()) };
            }
        }
    } else {
        let fresh = Lines(
            (0..wanted)
                .filter_map(line_settings)
                .map(|d| {
                    // SAFETY: valid ids/settings; a private source is not listed or saved.
                    unsafe {
                        sys::obs_source_create_private(
                            c"text_ft2_source_v2".as_ptr(),
                            c"deckcast-now-playing-text".as_ptr(),
                            d.as_ptr(),
                        )
                    }
                })
                .collect(),
        );
        let old = std::mem::replace(
            &mut *state.lines.lock().unwrap_or_else(|e| e.into_inner()),
            fresh,
        );
        drop(old); // released outside the lock
    }
    if let Ok(mut t) = state.tick.lock() {
        t.last_text.clear(); // re-render with the new template
        t.last_lines.clear();
        t.since_text = 10.0;
        t.since_resolve = 10.0;
    }
}

/// Lays the line sources out (graphics thread): stores the source size and returns each line's
/// top-left corner.
fn layout(s: &State, lines: &Lines, layout: &Layout) -> [(f32, f32); MAX_LINES] {
    let mut sizes = [(0u32, 0u32); MAX_LINES];
    let n = lines.0.len().min(MAX_LINES);
    for (size, &c) in sizes.iter_mut().zip(&lines.0) {
        // SAFETY: our live line source.
        *size = unsafe { (sys::obs_source_get_width(c), sys::obs_source_get_height(c)) };
    }
    let mut at = [(0.0f32, 0.0f32); MAX_LINES];
    let (w, h) = layout.place(&sizes[..n], &mut at[..n]);
    s.width.store(w, Ordering::Relaxed);
    s.height.store(h, Ordering::Relaxed);
    at
}

/// Borrow our state from OBS's data pointer (shared borrow only: several threads use it at once).
///
/// # Safety
/// `data` must be a pointer returned by [`create`] that has not been destroyed.
unsafe fn state<'a>(data: *mut c_void) -> Option<&'a State> {
    // SAFETY: caller contract.
    unsafe { data.cast::<State>().as_ref() }
}

unsafe extern "C" fn update(data: *mut c_void, settings: *mut sys::obs_data_t) {
    if settings.is_null() {
        return;
    }
    // SAFETY: OBS passes the pointer create returned.
    let Some(s) = (unsafe { state(data) }) else {
        return;
    };
    guard::catch("now playing update", (), || apply(s, settings));
}

fn param(s: &State) -> *mut c_void {
    (s as *const State).cast_mut().cast()
}

unsafe extern "C" fn destroy(data: *mut c_void) {
    if data.is_null() {
        return;
    }
    guard::catch("now playing destroy", (), || {
        // SAFETY: the pointer create returned; after removing the audio callback nothing else uses it.
        let s = unsafe { Box::from_raw(data.cast::<State>()) };
        s.capture.detach(on_audio, on_mix, param(&s));
        drop(s); // releases the line sources
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
    // SAFETY: param is our live state (the callback is removed before the state is freed).
    let s = unsafe { &*param.cast::<State>() };
    // SAFETY: libobs passes a valid audio_data for the callback's duration.
    let audio = unsafe { &*audio };
    let Ok(mut guard) = s.tracker.try_lock() else {
        return;
    };
    let Some(tracker) = guard.as_mut() else {
        return;
    };
    let mut planes: [&[f32]; 2] = [&[], &[]];
    // SAFETY: the block libobs passed to this callback.
    let n = unsafe { capture::planes(audio, s.channels, &mut planes) };
    match n {
        0 => return,
        1 => tracker.0.process(planes[0]),
        _ => tracker.0.process_planar(&planes),
    }
    let r = tracker.0.reading();
    s.bpm.store(r.bpm.to_bits(), Ordering::Relaxed);
    s.raw_bpm.store(r.raw_bpm.to_bits(), Ordering::Relaxed);
    s.confidence
        .store(r.confidence.to_bits(), Ordering::Relaxed);
    s.stable.store(r.stable, Ordering::Relaxed);
    s.active.store(r.active, Ordering::Relaxed);
}

unsafe extern "C" fn video_tick(data: *mut c_void, seconds: f32) {
    // SAFETY: OBS passes the pointer create returned.
    let Some(s) = (unsafe { state(data) }) else {
        return;
    };
    guard::catch("now playing tick", (), || {
        let Ok(mut tick) = s.tick.try_lock() else {
            return;
        };
        tick.since_resolve += seconds;
        tick.since_text += seconds;
        let settings = s.settings.lock().map(|g| g.clone()).unwrap_or_default();
        if tick.since_resolve >= 1.0 {
            tick.since_resolve = 0.0;
            s.capture
                .resolve(&settings.audio_source, on_audio, on_mix, param(s));
        }
        if tick.since_text < 0.25 {
            return;
        }
        tick.since_text = 0.0;
        let reading = s.reading();
        let (track, _) = nowplaying::current();
        let text = nowplaying::render(&settings.template, &track, &reading);
        if reading.stable && (reading.bpm - tick.last_bpm_event).abs() >= 0.1 {
            tick.last_bpm_event = reading.bpm;
            if let Some(v) = super::vendor::Vendor::get() {
                v.emit(
                    c"TempoChanged",
                    &serde_json::json!({"bpm": reading.bpm, "confidence": reading.confidence, "audioSource": settings.audio_source}),
                );
            }
        }
        if text != tick.last_text {
            let Ok(lines) = s.lines.try_lock() else {
                return; // being replaced: try again next tick
            };
            let new_lines = nowplaying::split_lines(&text);
            for (i, (&c, line)) in lines.0.iter().zip(&new_lines).enumerate() {
                if tick.last_lines.get(i) == Some(line) {
                    continue;
                }
                if let Some(d) = Data::from_value(&serde_json::json!({"text": line})) {
                    // SAFETY: our private line source; a settings object built from plain JSON.
                    unsafe { sys::obs_source_update(c, d.as_ptr()) };
                }
            }
            tick.last_lines = new_lines;
            tick.last_text = text;
        }
        if let Ok(lines) = s.lines.try_lock() {
            layout(s, &lines, &settings.layout);
        }
    });
}

unsafe extern "C" fn video_render(data: *mut c_void, _effect: *mut sys::gs_effect_t) {
    // SAFETY: OBS passes the pointer create returned.
    let Some(s) = (unsafe { state(data) }) else {
        return;
    };
    guard::catch("now playing render", (), || {
        let Some(lay) = s.settings.try_lock().ok().map(|g| g.layout) else {
            return;
        };
        let Ok(lines) = s.lines.try_lock() else {
            return;
        };
        let at = layout(s, &lines, &lay);
        for (&c, &(x, y)) in lines.0.iter().zip(&at) {
            // SAFETY: graphics thread inside OBS's render; our live line source; the matrix push
            // and pop are balanced.
            unsafe {
                sys::gs_matrix_push();
                sys::gs_matrix_translate3f(x, y, 0.0);
                sys::obs_source_video_render(c);
                sys::gs_matrix_pop();
            }
        }
    });
}

unsafe extern "C" fn get_width(data: *mut c_void) -> u32 {
    // SAFETY: OBS passes the pointer create returned.
    unsafe { state(data) }.map_or(0, |s| s.width.load(Ordering::Relaxed))
}

unsafe extern "C" fn get_height(data: *mut c_void) -> u32 {
    // SAFETY: OBS passes the pointer create returned.
    unsafe { state(data) }.map_or(0, |s| s.height.load(Ordering::Relaxed))
}

unsafe extern "C" fn get_properties(_data: *mut c_void) -> *mut sys::obs_properties_t {
    guard::catch("now playing properties", std::ptr::null_mut(), || {
        // SAFETY: building a new properties object on the UI thread; libobs copies every string.
        unsafe {
            let props = sys::obs_properties_create();
            let template = text_c("Deckcast.NowPlaying.Template");
            sys::obs_properties_add_text(
                props,
                c"template".as_ptr(),
                template.as_ptr(),
                sys::obs_text_type_OBS_TEXT_MULTILINE,
            );
            let help = text_c("Deckcast.NowPlaying.TemplateHelp");
            sys::obs_properties_add_text(
                props,
                c"template_help".as_ptr(),
                help.as_ptr(),
                sys::obs_text_type_OBS_TEXT_INFO,
            );
            let label = text_c("Deckcast.NowPlaying.AudioSource");
            let list = sys::obs_properties_add_list(
                props,
                c"audio_source".as_ptr(),
                label.as_ptr(),
                sys::obs_combo_type_OBS_COMBO_TYPE_LIST,
                sys::obs_combo_format_OBS_COMBO_FORMAT_STRING,
            );
            let none = text_c("Deckcast.NowPlaying.NoAudio");
            sys::obs_property_list_add_string(list, none.as_ptr(), c"".as_ptr());
            let mix = text_c("Deckcast.OutputMix");
            let mix_value = std::ffi::CString::new(capture::OUTPUT_MIX).unwrap_or_default();
            sys::obs_property_list_add_string(list, mix.as_ptr(), mix_value.as_ptr());
            for n in capture::audio_source_names() {
                sys::obs_property_list_add_string(list, n.as_ptr(), n.as_ptr());
            }
            let (min, max) = (
                text_c("Deckcast.NowPlaying.MinBpm"),
                text_c("Deckcast.NowPlaying.MaxBpm"),
            );
            sys::obs_properties_add_int(props, c"min_bpm".as_ptr(), min.as_ptr(), 30, 200, 1);
            sys::obs_properties_add_int(props, c"max_bpm".as_ptr(), max.as_ptr(), 60, 400, 1);
            let corr = text_c("Deckcast.NowPlaying.Correction");
            let clist = sys::obs_properties_add_list(
                props,
                c"correction".as_ptr(),
                corr.as_ptr(),
                sys::obs_combo_type_OBS_COMBO_TYPE_LIST,
                sys::obs_combo_format_OBS_COMBO_FORMAT_STRING,
            );
            for (key, value) in [
                ("Deckcast.NowPlaying.Correction.None", c"none"),
                ("Deckcast.NowPlaying.Correction.Double", c"double"),
                ("Deckcast.NowPlaying.Correction.Half", c"half"),
                ("Deckcast.NowPlaying.Correction.TwoThirds", c"two_thirds"),
            ] {
                let l = text_c(key);
                sys::obs_property_list_add_string(clist, l.as_ptr(), value.as_ptr());
            }
            let font = text_c("Deckcast.NowPlaying.Font");
            sys::obs_properties_add_font(props, c"font".as_ptr(), font.as_ptr());
            let size = text_c("Deckcast.NowPlaying.Size");
            sys::obs_properties_add_int(props, c"size".as_ptr(), size.as_ptr(), 8, 512, 1);
            let color = text_c("Deckcast.NowPlaying.Color");
            sys::obs_properties_add_color(props, c"color".as_ptr(), color.as_ptr());
            let outline = text_c("Deckcast.NowPlaying.Outline");
            sys::obs_properties_add_bool(props, c"outline".as_ptr(), outline.as_ptr());
            for (key, label, options) in [
                (
                    c"align",
                    "Deckcast.NowPlaying.Align",
                    [
                        ("Deckcast.NowPlaying.Align.Left", c"left"),
                        ("Deckcast.NowPlaying.Align.Center", c"center"),
                        ("Deckcast.NowPlaying.Align.Right", c"right"),
                    ],
                ),
                (
                    c"valign",
                    "Deckcast.NowPlaying.VAlign",
                    [
                        ("Deckcast.NowPlaying.VAlign.Top", c"top"),
                        ("Deckcast.NowPlaying.VAlign.Center", c"center"),
                        ("Deckcast.NowPlaying.VAlign.Bottom", c"bottom"),
                    ],
                ),
            ] {
                let l = text_c(label);
                let list = sys::obs_properties_add_list(
                    props,
                    key.as_ptr(),
                    l.as_ptr(),
                    sys::obs_combo_type_OBS_COMBO_TYPE_LIST,
                    sys::obs_combo_format_OBS_COMBO_FORMAT_STRING,
                );
                for (text, value) in options {
                    let t = text_c(text);
                    sys::obs_property_list_add_string(list, t.as_ptr(), value.as_ptr());
                }
            }
            for (key, label) in [
                (c"box_width", "Deckcast.NowPlaying.BoxWidth"),
                (c"box_height", "Deckcast.NowPlaying.BoxHeight"),
            ] {
                let l = text_c(label);
                sys::obs_properties_add_int(props, key.as_ptr(), l.as_ptr(), 0, 7680, 1);
            }
            props
        }
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
    // SAFETY: libobs copies the struct (size given for compatibility).
    unsafe { sys::obs_register_source_s(&info, std::mem::size_of::<sys::obs_source_info>()) };
}

/// The live tempo reading and the shown text of the Now Playing source named `name`, if it is one.
pub fn reading_of(name: &str) -> Option<(TempoReading, String)> {
    source::with_own_data(name, ID, |data| {
        // SAFETY: a pointer from our `create` (the type id matched), alive while the source is held.
        unsafe { state(data) }.map(|s| {
            let text = s
                .tick
                .lock()
                .map(|t| t.last_text.clone())
                .unwrap_or_default();
            (s.reading(), text)
        })
    })
}
