//! The "Deckcast Now Playing" source: the now-playing template with the live tempo of a chosen
//! audio source, drawn by one private FreeType text source per template line, each placed by
//! [`Layout`] (left/centre/right, top/centre/bottom, fitted or fixed box).
//!
//! Threads (see [`Source`]): settings arrive on the UI thread or, deferred by OBS, on the graphics
//! thread, so line sources are created and replaced there too; the audio thread only `try_lock`s
//! the tracker (a contended block is skipped) and publishes the reading through atomics; the
//! graphics thread renders the text four times a second and draws the lines.
use std::ffi::CStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use deckcast_dsp::tempo::{Correction, TempoConfig, TempoReading, TempoTracker};
use deckcast_protocol::nowplaying::{TempoAnalysis, TempoChanged};
use serde::Serialize;

use super::{Align, DEFAULT_TEMPLATE, Layout, MAX_LINES, VAlign, render, split_lines};
use crate::obs::child::Child;
use crate::obs::graphics::Gfx;
use crate::obs::properties::{Defaults, Properties, Settings, TextKind};
use crate::obs::source::{AudioFormat, Source};
use crate::settings::{AudioSource, Choice, Color, Flag, Int};

const TEMPLATE: &CStr = c"template";
const TEMPLATE_HELP: &CStr = c"template_help";
const FONT: &CStr = c"font";
const AUDIO: AudioSource = AudioSource {
    key: c"audio_source",
    label: "Deckcast.NowPlaying.AudioSource",
    none: "Deckcast.NowPlaying.NoAudio",
};
const MIN_BPM: Int = Int {
    key: c"min_bpm",
    label: "Deckcast.NowPlaying.MinBpm",
    default: 70,
    min: 30,
    max: 200,
};
const MAX_BPM: Int = Int {
    key: c"max_bpm",
    label: "Deckcast.NowPlaying.MaxBpm",
    default: 180,
    min: 60,
    max: 400,
};
const CORRECTION: Choice = Choice {
    key: c"correction",
    label: "Deckcast.NowPlaying.Correction",
    default: "none",
    options: &[
        ("Deckcast.NowPlaying.Correction.None", "none"),
        ("Deckcast.NowPlaying.Correction.Double", "double"),
        ("Deckcast.NowPlaying.Correction.Half", "half"),
        ("Deckcast.NowPlaying.Correction.TwoThirds", "two_thirds"),
    ],
};
const SIZE: Int = Int {
    key: c"size",
    label: "Deckcast.NowPlaying.Size",
    default: 48,
    min: 8,
    max: 512,
};
const COLOR: Color = Color {
    key: c"color",
    label: "Deckcast.NowPlaying.Color",
    default: 0xFFFF_FFFF,
};
const OUTLINE: Flag = Flag {
    key: c"outline",
    label: "Deckcast.NowPlaying.Outline",
    default: true,
};
const ALIGN: Choice = Choice {
    key: c"align",
    label: "Deckcast.NowPlaying.Align",
    default: "left",
    options: &[
        ("Deckcast.NowPlaying.Align.Left", "left"),
        ("Deckcast.NowPlaying.Align.Center", "center"),
        ("Deckcast.NowPlaying.Align.Right", "right"),
    ],
};
const VALIGN: Choice = Choice {
    key: c"valign",
    label: "Deckcast.NowPlaying.VAlign",
    default: "top",
    options: &[
        ("Deckcast.NowPlaying.VAlign.Top", "top"),
        ("Deckcast.NowPlaying.VAlign.Center", "center"),
        ("Deckcast.NowPlaying.VAlign.Bottom", "bottom"),
    ],
};
const BOX_WIDTH: Int = Int {
    key: c"box_width",
    label: "Deckcast.NowPlaying.BoxWidth",
    default: 0,
    min: 0,
    max: 7680,
};
const BOX_HEIGHT: Int = Int {
    key: c"box_height",
    label: "Deckcast.NowPlaying.BoxHeight",
    default: 0,
    min: 0,
    max: 4320,
};

/// The FreeType text source type each line is drawn with.
const TEXT_SOURCE: &CStr = c"text_ft2_source_v2";

/// What the settings say, as the source uses it.
#[derive(Debug, Default, Clone, PartialEq)]
struct Config {
    template: String,
    audio_source: String,
    min_bpm: f64,
    max_bpm: f64,
    correction: Correction,
    layout: Layout,
    style: TextStyle,
}

/// The look of every line (passed on to the text sources).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
struct TextStyle {
    face: String,
    style: String,
    flags: i64,
    size: i64,
    color: u32,
    outline: bool,
}

/// Settings of one `text_ft2_source_v2` line.
#[derive(Debug, Serialize)]
struct LineSettings<'a> {
    text: &'a str,
    font: FontSettings<'a>,
    color1: u32,
    color2: u32,
    outline: bool,
    drop_shadow: bool,
}

#[derive(Debug, Serialize)]
struct FontSettings<'a> {
    face: &'a str,
    style: &'a str,
    size: i64,
    flags: i64,
}

impl TextStyle {
    fn line(&self, text: &str) -> serde_json::Value {
        serde_json::to_value(LineSettings {
            text,
            font: FontSettings {
                face: &self.face,
                style: &self.style,
                size: self.size,
                flags: self.flags,
            },
            color1: self.color,
            color2: self.color,
            outline: self.outline,
            drop_shadow: false,
        })
        .unwrap_or_default()
    }
}

fn read(s: &Settings<'_>) -> Config {
    // The font dialog's face/style/flags (if the user picked a font); the size setting wins.
    let font = s.object(FONT);
    Config {
        template: super::bounded_template(s.string(TEMPLATE)),
        audio_source: AUDIO.read(s),
        min_bpm: MIN_BPM.read(s) as f64,
        max_bpm: MAX_BPM.read(s) as f64,
        correction: match CORRECTION.read(s) {
            "double" => Correction::Double,
            "half" => Correction::Half,
            "two_thirds" => Correction::TwoThirds,
            _ => Correction::None,
        },
        layout: Layout {
            align: Align::parse(ALIGN.read(s)),
            valign: VAlign::parse(VALIGN.read(s)),
            box_width: BOX_WIDTH.read(s) as u32,
            box_height: BOX_HEIGHT.read(s) as u32,
        },
        style: TextStyle {
            face: font["face"]
                .as_str()
                .filter(|f| !f.is_empty())
                .unwrap_or("DejaVu Sans")
                .to_owned(),
            style: font["style"].as_str().unwrap_or("Bold").to_owned(),
            flags: font["flags"].as_i64().unwrap_or(1),
            size: SIZE.read(s),
            color: COLOR.read(s),
            outline: OUTLINE.read(s),
        },
    }
}

/// The tracker's reading, readable from any thread without a lock.
#[derive(Debug, Default)]
struct Reading {
    bpm: AtomicU64,
    raw_bpm: AtomicU64,
    confidence: AtomicU64,
    stable: AtomicBool,
    active: AtomicBool,
}

impl Reading {
    fn store(&self, r: &TempoReading) {
        self.bpm.store(r.bpm.to_bits(), Ordering::Relaxed);
        self.raw_bpm.store(r.raw_bpm.to_bits(), Ordering::Relaxed);
        self.confidence
            .store(r.confidence.to_bits(), Ordering::Relaxed);
        self.stable.store(r.stable, Ordering::Relaxed);
        self.active.store(r.active, Ordering::Relaxed);
    }

    fn load(&self) -> TempoReading {
        TempoReading {
            bpm: f64::from_bits(self.bpm.load(Ordering::Relaxed)),
            raw_bpm: f64::from_bits(self.raw_bpm.load(Ordering::Relaxed)),
            confidence: f64::from_bits(self.confidence.load(Ordering::Relaxed)),
            stable: self.stable.load(Ordering::Relaxed),
            active: self.active.load(Ordering::Relaxed),
        }
    }
}

/// Graphics-thread bookkeeping.
#[derive(Debug, Default)]
struct Tick {
    since_text: f32,
    /// The text shown, and each line's part of it.
    text: String,
    lines: Vec<String>,
    last_bpm_event: f64,
}

/// The Now Playing source.
#[derive(Debug)]
pub struct NowPlaying {
    config: Mutex<Config>,
    /// One private text source per template line.
    lines: Mutex<Vec<Child>>,
    tracker: Mutex<Option<TempoTracker>>,
    reading: Reading,
    /// The size from the last layout (read by OBS from any thread).
    width: AtomicU32,
    height: AtomicU32,
    tick: Mutex<Tick>,
    sample_rate: u32,
}

impl NowPlaying {
    fn apply(&self, s: &Settings<'_>) {
        let new = read(s);
        let mut cur = self.config.lock().unwrap_or_else(|e| e.into_inner());
        if cur.min_bpm != new.min_bpm
            || cur.max_bpm != new.max_bpm
            || cur.correction != new.correction
        {
            let cfg = TempoConfig {
                sample_rate: self.sample_rate,
                min_bpm: new.min_bpm,
                max_bpm: new.max_bpm,
                correction: new.correction,
            };
            let tracker = TempoTracker::new(cfg)
                .or_else(|_| {
                    TempoTracker::new(TempoConfig {
                        sample_rate: self.sample_rate,
                        ..TempoConfig::default()
                    })
                })
                .ok();
            *self.tracker.lock().unwrap_or_else(|e| e.into_inner()) = tracker;
        }
        let wanted = split_lines(&new.template).len();
        let style = new.style.clone();
        *cur = new;
        drop(cur);
        // The style goes to the line sources now, with the text they show; a template with another
        // number of lines gets new line sources. The text follows on the next tick.
        let shown = self
            .tick
            .lock()
            .map(|t| t.lines.clone())
            .unwrap_or_default();
        let line = |i: usize| style.line(shown.get(i).map_or("", |s| s));
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == wanted {
            for (i, c) in lines.iter().enumerate() {
                c.update(&line(i));
            }
        } else {
            let fresh: Vec<Child> = (0..wanted)
                .filter_map(|i| Child::private(TEXT_SOURCE, c"deckcast-now-playing-text", &line(i)))
                .collect();
            let old = std::mem::replace(&mut *lines, fresh);
            drop(lines);
            drop(old); // released outside the lock
        }
        if let Ok(mut t) = self.tick.lock() {
            t.text.clear(); // render again with the new template
            t.lines.clear();
            t.since_text = 10.0;
        }
    }

    /// Lays the lines out: stores the source size and returns each line's top-left corner.
    fn layout(&self, lines: &[Child], layout: &Layout) -> [(f32, f32); MAX_LINES] {
        let mut sizes = [(0u32, 0u32); MAX_LINES];
        let n = lines.len().min(MAX_LINES);
        for (size, c) in sizes.iter_mut().zip(lines) {
            *size = c.size();
        }
        let mut at = [(0.0f32, 0.0f32); MAX_LINES];
        let (w, h) = layout.place(&sizes[..n], &mut at[..n]);
        self.width.store(w, Ordering::Relaxed);
        self.height.store(h, Ordering::Relaxed);
        at
    }

    /// The live tempo and the shown text (for `GetAnalysis`).
    pub fn analysis(&self) -> TempoAnalysis {
        let r = self.reading.load();
        TempoAnalysis {
            bpm: r.bpm,
            raw_bpm: r.raw_bpm,
            confidence: r.confidence,
            stable: r.stable,
            active: r.active,
            text: self.tick.lock().map(|t| t.text.clone()).unwrap_or_default(),
        }
    }
}

impl Source for NowPlaying {
    const ID: &'static CStr = c"deckcast_now_playing";
    const NAME: &'static CStr = c"Deckcast.NowPlaying";

    fn defaults(d: &mut Defaults<'_>) {
        d.string(TEMPLATE, DEFAULT_TEMPLATE);
        MIN_BPM.default(d);
        MAX_BPM.default(d);
        CORRECTION.default(d);
        SIZE.default(d);
        COLOR.default(d);
        OUTLINE.default(d);
        ALIGN.default(d);
        VALIGN.default(d);
    }

    fn properties(p: &mut Properties) {
        p.text(
            TEMPLATE,
            "Deckcast.NowPlaying.Template",
            TextKind::Multiline,
        );
        p.text(
            TEMPLATE_HELP,
            "Deckcast.NowPlaying.TemplateHelp",
            TextKind::Info,
        );
        AUDIO.add(p);
        MIN_BPM.add(p);
        MAX_BPM.add(p);
        CORRECTION.add(p);
        p.font(FONT, "Deckcast.NowPlaying.Font");
        SIZE.add(p);
        COLOR.add(p);
        OUTLINE.add(p);
        ALIGN.add(p);
        VALIGN.add(p);
        BOX_WIDTH.add(p);
        BOX_HEIGHT.add(p);
    }

    fn create(settings: &Settings<'_>, audio: AudioFormat) -> Self {
        let source = NowPlaying {
            config: Mutex::new(Config::default()),
            lines: Mutex::new(Vec::new()),
            tracker: Mutex::new(None),
            reading: Reading::default(),
            width: AtomicU32::new(0),
            height: AtomicU32::new(0),
            tick: Mutex::new(Tick {
                since_text: 10.0,
                ..Tick::default()
            }),
            sample_rate: audio.sample_rate,
        };
        source.apply(settings);
        source
    }

    fn update(&self, settings: &Settings<'_>) {
        self.apply(settings);
    }

    fn tick(&self, seconds: f32) {
        let Ok(mut tick) = self.tick.try_lock() else {
            return;
        };
        tick.since_text += seconds;
        if tick.since_text < 0.25 {
            return;
        }
        tick.since_text = 0.0;
        let config = self.config.lock().map(|g| g.clone()).unwrap_or_default();
        let reading = self.reading.load();
        let text = render(
            &config.template,
            &super::current(),
            &reading,
            super::external_tempo(),
        );
        if reading.stable && (reading.bpm - tick.last_bpm_event).abs() >= 0.1 {
            tick.last_bpm_event = reading.bpm;
            crate::events::emit(&TempoChanged {
                bpm: reading.bpm,
                confidence: reading.confidence,
                audio_source: config.audio_source.clone(),
            });
        }
        if text != tick.text {
            let Ok(lines) = self.lines.try_lock() else {
                return; // being replaced: try again on the next tick
            };
            let new_lines = split_lines(&text);
            for (i, (c, line)) in lines.iter().zip(&new_lines).enumerate() {
                if tick.lines.get(i) != Some(line) {
                    c.update(&serde_json::to_value(TextOnly { text: line }).unwrap_or_default());
                }
            }
            tick.lines = new_lines;
            tick.text = text;
        }
        if let Ok(lines) = self.lines.try_lock() {
            self.layout(&lines, &config.layout);
        }
    }

    fn render(&self, gfx: &mut Gfx<'_>) {
        let Some(layout) = self.config.try_lock().ok().map(|g| g.layout) else {
            return;
        };
        let Ok(lines) = self.lines.try_lock() else {
            return;
        };
        let at = self.layout(&lines, &layout);
        for (c, &(x, y)) in lines.iter().zip(&at) {
            gfx.translated(x, y, |g| g.draw_child(c));
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
        let Ok(mut guard) = self.tracker.try_lock() else {
            return;
        };
        let Some(tracker) = guard.as_mut() else {
            return;
        };
        match planes {
            [] => return,
            [mono] => tracker.process(mono),
            _ => tracker.process_planar(planes),
        }
        self.reading.store(&tracker.reading());
    }
}

/// Settings that change only a line's text.
#[derive(Debug, Serialize)]
struct TextOnly<'a> {
    text: &'a str,
}
