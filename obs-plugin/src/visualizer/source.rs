//! The "Deckcast Visualizer" source: the spectrum of a chosen audio source drawn as bars, mirrored
//! bars, a line or radial bars in one batched draw per frame.
//!
//! Threads (see [`Source`]): the audio thread only `try_lock`s the analyzer to push samples; the
//! tick (graphics thread) runs the FFT and smoothing into the level buffer; the render (graphics
//! thread) refills one dynamic vertex buffer, made when the style changes, and draws it with the
//! plugin's effect (or OBS's solid effect if that cannot be loaded).
use std::ffi::CStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use deckcast_dsp::spectrum::{SpectrumAnalyzer, SpectrumConfig, Window};
use deckcast_protocol::nowplaying::{Band, BandsAnalysis};

use super::{Mode, Style, fill, gradient_axis, vertex_count};
use crate::obs::graphics::{Effect, Gfx, Material, Param, VertexBuffer};
use crate::obs::log;
use crate::obs::properties::{Defaults, ListKind, Properties, Settings};
use crate::obs::source::{AudioFormat, Source};
use crate::settings::{AudioSource, Choice, Color, Flag, Int};

const AUDIO: AudioSource = AudioSource {
    key: c"audio_source",
    label: "Deckcast.Visualizer.AudioSource",
    none: "Deckcast.Visualizer.NoAudio",
};
const MODE: Choice = Choice {
    key: c"mode",
    label: "Deckcast.Visualizer.Mode",
    default: "bars",
    options: &[
        ("Deckcast.Visualizer.Mode.Bars", "bars"),
        ("Deckcast.Visualizer.Mode.Mirrored", "mirrored"),
        ("Deckcast.Visualizer.Mode.Line", "line"),
        ("Deckcast.Visualizer.Mode.Radial", "radial"),
    ],
};
const BARS: Int = Int {
    key: c"bars",
    label: "Deckcast.Visualizer.Bars",
    default: 32,
    min: 4,
    max: 256,
};
const GAP: Int = Int {
    key: c"gap",
    label: "Deckcast.Visualizer.Gap",
    default: 25,
    min: 0,
    max: 90,
};
const WIDTH: Int = Int {
    key: c"width",
    label: "Deckcast.Visualizer.Width",
    default: 800,
    min: 16,
    max: 7680,
};
const HEIGHT: Int = Int {
    key: c"height",
    label: "Deckcast.Visualizer.Height",
    default: 200,
    min: 16,
    max: 4320,
};
const COLOR: Color = Color {
    key: c"color",
    label: "Deckcast.Visualizer.Color",
    default: 0xFF20_A0D0,
};
const FFT_SIZE: &CStr = c"fft_size";
const FFT_SIZES: [i64; 4] = [1024, 2048, 4096, 8192];
const WINDOW: Choice = Choice {
    key: c"window",
    label: "Deckcast.Visualizer.Window",
    default: "hann",
    options: &[
        ("Deckcast.Visualizer.Window.Hann", "hann"),
        ("Deckcast.Visualizer.Window.Hamming", "hamming"),
        (
            "Deckcast.Visualizer.Window.BlackmanHarris",
            "blackman_harris",
        ),
    ],
};
const fn ranged(key: &'static CStr, label: &'static str, min: i64, max: i64) -> Int {
    Int {
        key,
        label,
        default: 0,
        min,
        max,
    }
}
const MIN_HZ: Int = ranged(c"min_hz", "Deckcast.Visualizer.MinHz", 10, 24_000);
const MAX_HZ: Int = ranged(c"max_hz", "Deckcast.Visualizer.MaxHz", 10, 24_000);
const FLOOR_DB: Int = ranged(c"floor_db", "Deckcast.Visualizer.FloorDb", -140, 0);
const CEILING_DB: Int = ranged(c"ceiling_db", "Deckcast.Visualizer.CeilingDb", -140, 20);
const ATTACK_MS: Int = ranged(c"attack_ms", "Deckcast.Visualizer.AttackMs", 0, 5000);
const RELEASE_MS: Int = ranged(c"release_ms", "Deckcast.Visualizer.ReleaseMs", 0, 10_000);
const GRADIENT: Flag = Flag {
    key: c"gradient",
    label: "Deckcast.Visualizer.Gradient",
    default: false,
};
const COLOR2: Color = Color {
    key: c"color2",
    label: "Deckcast.Visualizer.Color2",
    default: 0xFFD0_40A0,
};
const ROUNDED: Flag = Flag {
    key: c"rounded",
    label: "Deckcast.Visualizer.Rounded",
    default: false,
};

/// The plugin's gradient effect, in the module's data folder.
const EFFECT_FILE: &CStr = c"effects/visualizer.effect";

#[derive(Debug, Clone, PartialEq)]
struct Config {
    audio_source: String,
    style: Style,
    /// Analyzer settings (`sample_rate` is filled in when the analyzer is built).
    spectrum: SpectrumConfig,
    /// RGBA (0–1) at the zero level.
    low: [f32; 4],
    /// RGBA (0–1) at the full level; equal to `low` for a solid colour.
    high: [f32; 4],
}

fn read(s: &Settings<'_>) -> Config {
    let low = COLOR.rgba(s);
    let high = if GRADIENT.read(s) {
        COLOR2.rgba(s)
    } else {
        low
    };
    let window = match WINDOW.read(s) {
        "hamming" => Window::Hamming,
        "blackman_harris" => Window::BlackmanHarris,
        _ => Window::Hann,
    };
    let bars = BARS.read(s) as usize;
    Config {
        spectrum: SpectrumConfig {
            sample_rate: 0,
            fft_size: s.int(FFT_SIZE).clamp(256, 16384) as usize,
            window,
            bands: bars,
            min_hz: MIN_HZ.read(s) as f32,
            max_hz: MAX_HZ.read(s) as f32,
            floor_db: FLOOR_DB.read(s) as f32,
            ceiling_db: CEILING_DB.read(s) as f32,
            attack_s: ATTACK_MS.read(s) as f32 / 1000.0,
            release_s: RELEASE_MS.read(s) as f32 / 1000.0,
            ..SpectrumConfig::default()
        },
        audio_source: AUDIO.read(s),
        style: Style {
            mode: Mode::parse(MODE.read(s)),
            bars,
            gap: GAP.read(s) as f32 / 100.0,
            width: WIDTH.read(s) as f32,
            height: HEIGHT.read(s) as f32,
            line_width: 4.0,
            rounded: ROUNDED.read(s),
        },
        low,
        high,
    }
}

/// The analyzer for `cfg`; settings the analyzer refuses (say a lowest frequency above the highest)
/// are logged and replaced by the defaults, so the source keeps working.
fn analyzer_for(cfg: &SpectrumConfig, sample_rate: u32) -> Option<SpectrumAnalyzer> {
    SpectrumAnalyzer::new(SpectrumConfig {
        sample_rate,
        ..*cfg
    })
    .or_else(|e| {
        log::warn(&format!(
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

/// Graphics-thread state.
#[derive(Debug, Default)]
struct Drawing {
    vb: Option<VertexBuffer>,
    /// The gradient effect, loaded on the first render.
    effect: Option<Effect>,
    /// Loading the effect failed once (logged): draw with OBS's solid effect instead.
    effect_failed: bool,
    positions: Vec<[f32; 2]>,
}

/// The Visualizer source.
#[derive(Debug)]
pub struct Visualizer {
    config: Mutex<Config>,
    analyzer: Mutex<Option<SpectrumAnalyzer>>,
    levels: Mutex<Vec<f32>>,
    drawing: Mutex<Drawing>,
    /// The size, readable from any thread without a lock (a contended lock must never make the
    /// source look 0x0).
    width: AtomicU32,
    height: AtomicU32,
    sample_rate: u32,
}

impl Visualizer {
    /// The current band levels (for `GetAnalysis`).
    pub fn analysis(&self) -> BandsAnalysis {
        let levels = self.levels.lock().map(|l| l.clone()).unwrap_or_default();
        BandsAnalysis {
            bands: levels.into_iter().map(|level| Band { level }).collect(),
        }
    }
}

impl Source for Visualizer {
    const ID: &'static CStr = c"deckcast_visualizer";
    const NAME: &'static CStr = c"Deckcast.Visualizer";

    fn defaults(d: &mut Defaults<'_>) {
        MODE.default(d);
        BARS.default(d);
        GAP.default(d);
        WIDTH.default(d);
        HEIGHT.default(d);
        COLOR.default(d);
        COLOR2.default(d);
        WINDOW.default(d);
        let s = SpectrumConfig::default();
        d.int(FFT_SIZE, s.fft_size as i64);
        for (setting, value) in [
            (MIN_HZ, s.min_hz),
            (MAX_HZ, s.max_hz),
            (FLOOR_DB, s.floor_db),
            (CEILING_DB, s.ceiling_db),
            (ATTACK_MS, s.attack_s * 1000.0),
            (RELEASE_MS, s.release_s * 1000.0),
        ] {
            d.int(setting.key, value.round() as i64);
        }
    }

    fn properties(p: &mut Properties) {
        AUDIO.add(p);
        MODE.add(p);
        for setting in [BARS, GAP, WIDTH, HEIGHT] {
            setting.add(p);
        }
        COLOR.add(p);
        let mut fft = p.list(FFT_SIZE, "Deckcast.Visualizer.FftSize", ListKind::Ints);
        for n in FFT_SIZES {
            fft.int_item(&n.to_string(), n);
        }
        WINDOW.add(p);
        for setting in [MIN_HZ, MAX_HZ, FLOOR_DB, CEILING_DB, ATTACK_MS, RELEASE_MS] {
            setting.add(p);
        }
        GRADIENT.add(p);
        COLOR2.add(p);
        ROUNDED.add(p);
    }

    fn create(settings: &Settings<'_>, audio: AudioFormat) -> Self {
        let initial = read(settings);
        Visualizer {
            analyzer: Mutex::new(analyzer_for(&initial.spectrum, audio.sample_rate)),
            levels: Mutex::new(vec![0.0; initial.style.bars]),
            width: AtomicU32::new(initial.style.width as u32),
            height: AtomicU32::new(initial.style.height as u32),
            config: Mutex::new(initial),
            drawing: Mutex::new(Drawing::default()),
            sample_rate: audio.sample_rate,
        }
    }

    fn update(&self, settings: &Settings<'_>) {
        let new = read(settings);
        let mut cur = self.config.lock().unwrap_or_else(|e| e.into_inner());
        if cur.spectrum != new.spectrum {
            *self.analyzer.lock().unwrap_or_else(|e| e.into_inner()) =
                analyzer_for(&new.spectrum, self.sample_rate);
            let mut levels = self.levels.lock().unwrap_or_else(|e| e.into_inner());
            levels.clear();
            levels.resize(new.style.bars, 0.0);
        }
        self.width.store(new.style.width as u32, Ordering::Relaxed);
        self.height
            .store(new.style.height as u32, Ordering::Relaxed);
        *cur = new;
    }

    fn tick(&self, seconds: f32) {
        if let (Ok(mut analyzer), Ok(mut levels)) =
            (self.analyzer.try_lock(), self.levels.try_lock())
            && let Some(a) = analyzer.as_mut()
        {
            for (dst, v) in levels.iter_mut().zip(a.analyze(seconds)) {
                *dst = v;
            }
        }
    }

    fn render(&self, gfx: &mut Gfx<'_>) {
        let Ok(config) = self.config.try_lock().map(|g| g.clone()) else {
            return;
        };
        let Ok(mut drawing) = self.drawing.try_lock() else {
            return;
        };
        let count = vertex_count(&config.style);
        if count == 0 {
            return;
        }
        let drawing = &mut *drawing;
        if drawing.vb.as_ref().is_none_or(|vb| vb.len() != count) {
            drawing.vb = gfx.vertex_buffer(count);
            drawing.positions.resize(count, [0.0; 2]);
        }
        let Some(vb) = drawing.vb.as_mut() else {
            return;
        };
        {
            let levels = self.levels.try_lock();
            let levels: &[f32] = levels.as_deref().map(Vec::as_slice).unwrap_or(&[]);
            fill(&config.style, levels, &mut drawing.positions);
        }
        vb.fill(gfx, &drawing.positions);
        if drawing.effect.is_none() && !drawing.effect_failed {
            match gfx.load_effect(EFFECT_FILE) {
                Ok(e) => drawing.effect = Some(e),
                Err(why) => {
                    log::warn(&format!(
                        "visualizer: {} could not be used ({why}); drawing solid colour",
                        EFFECT_FILE.to_string_lossy()
                    ));
                    drawing.effect_failed = true;
                }
            }
        }
        let axis = gradient_axis(&config.style);
        let params = [
            (c"color_low", Param::Vec4(config.low)),
            (c"color_high", Param::Vec4(config.high)),
            (c"origin", Param::Vec2(axis.origin)),
            (c"axis_scale", Param::Vec2(axis.scale)),
            (c"axis_start", Param::Float(axis.start)),
        ];
        let material = match &drawing.effect {
            Some(effect) => Material::Effect {
                effect,
                technique: c"Draw",
                params: &params,
            },
            None => Material::Solid(config.low),
        };
        if let Some(vb) = drawing.vb.as_ref() {
            gfx.draw_triangles(vb, material);
        }
    }

    fn width(&self) -> u32 {
        self.width.load(Ordering::Relaxed)
    }

    fn height(&self) -> u32 {
        self.height.load(Ordering::Relaxed)
    }

    fn audio_source(&self) -> String {
        self.config
            .lock()
            .map(|c| c.audio_source.clone())
            .unwrap_or_default()
    }

    fn audio(&self, planes: &[&[f32]]) {
        let Ok(mut guard) = self.analyzer.try_lock() else {
            return;
        };
        if let Some(analyzer) = guard.as_mut() {
            analyzer.push_planar(planes);
        }
    }
}
