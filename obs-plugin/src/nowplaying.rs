//! Now playing: what the DJ software (through `SetNowPlaying`) and the live tempo tracker say, and
//! the template that turns it into the "Deckcast Now Playing" source's text.
//!
//! The store is written by obs-websocket threads (`SetNowPlaying`) and read by the graphics thread
//! (the source's tick) under a short std lock; a generation counter lets readers skip unchanged data.
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use deckcast_dsp::tempo::TempoReading;
use deckcast_protocol::ErrorCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// The current track as the DJ software reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Track {
    /// Artist.
    pub artist: String,
    /// Title.
    pub title: String,
    /// Album (optional).
    pub album: String,
    /// The library BPM the DJ software stores, if given.
    pub library_bpm: Option<f64>,
}

static TRACK: Mutex<Option<Track>> = Mutex::new(None);
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The current track and its generation (bumped on every change).
pub fn current() -> (Track, u64) {
    let t = TRACK
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default();
    (t, GENERATION.load(Ordering::Acquire))
}

/// Generation of the current track (cheap; compare before calling [`current`]).
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

fn set(track: Track) {
    *TRACK.lock().unwrap_or_else(|e| e.into_inner()) = Some(track);
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Default template.
pub const DEFAULT_TEMPLATE: &str = "{artist} – {title}   {bpm} BPM";

fn bpm_text(bpm: Option<f64>) -> String {
    match bpm {
        Some(b) if b > 0.0 => format!("{b:.1}"),
        _ => "–".to_owned(),
    }
}

/// Fills a template: `{artist}`, `{title}`, `{album}`, `{bpm}` (live tempo when the tracker has
/// one, else the library BPM), `{live_bpm}`, `{library_bpm}`, `{confidence}` (percent).
pub fn render(template: &str, track: &Track, live: &TempoReading) -> String {
    let live_bpm = (live.bpm > 0.0).then_some(live.bpm);
    template
        .replace("{artist}", &track.artist)
        .replace("{title}", &track.title)
        .replace("{album}", &track.album)
        .replace("{live_bpm}", &bpm_text(live_bpm))
        .replace("{library_bpm}", &bpm_text(track.library_bpm))
        .replace("{bpm}", &bpm_text(live_bpm.or(track.library_bpm)))
        .replace("{confidence}", &format!("{:.0}", live.confidence * 100.0))
}

/// Most lines a template can have; further lines are joined onto the last one.
pub const MAX_LINES: usize = 8;

/// Horizontal alignment of each line inside the text box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    /// Flush left.
    #[default]
    Left,
    /// Centred.
    Center,
    /// Flush right.
    Right,
}

/// Vertical alignment of the block of lines inside the text box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VAlign {
    /// At the top.
    #[default]
    Top,
    /// Centred.
    Center,
    /// At the bottom.
    Bottom,
}

impl Align {
    /// From the settings value (`left`, `center`, `right`; anything else is left).
    pub fn parse(s: &str) -> Align {
        match s {
            "center" => Align::Center,
            "right" => Align::Right,
            _ => Align::Left,
        }
    }
}

impl VAlign {
    /// From the settings value (`top`, `center`, `bottom`; anything else is top).
    pub fn parse(s: &str) -> VAlign {
        match s {
            "center" => VAlign::Center,
            "bottom" => VAlign::Bottom,
            _ => VAlign::Top,
        }
    }
}

/// Where the lines of the Now Playing text go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layout {
    /// Horizontal alignment of each line.
    pub align: Align,
    /// Vertical alignment of the block.
    pub valign: VAlign,
    /// Fixed box width in pixels; 0 fits the widest line.
    pub box_width: u32,
    /// Fixed box height in pixels; 0 fits the lines.
    pub box_height: u32,
}

impl Layout {
    /// Places lines of the given sizes (width, height): writes each line's top-left corner into
    /// `out` and returns the source size. A line wider than a fixed box overflows on the side
    /// opposite its alignment (centred lines on both). Allocates nothing (graphics thread).
    pub fn place(&self, sizes: &[(u32, u32)], out: &mut [(f32, f32)]) -> (u32, u32) {
        let content_w = sizes.iter().map(|s| s.0).max().unwrap_or(0);
        let content_h: u32 = sizes.iter().map(|s| s.1).sum();
        let w = if self.box_width > 0 {
            self.box_width
        } else {
            content_w
        };
        let h = if self.box_height > 0 {
            self.box_height
        } else {
            content_h
        };
        let mut y = match self.valign {
            VAlign::Top => 0.0,
            VAlign::Center => (h as f32 - content_h as f32) / 2.0,
            VAlign::Bottom => h as f32 - content_h as f32,
        };
        for (&(lw, lh), o) in sizes.iter().zip(out.iter_mut()) {
            let x = match self.align {
                Align::Left => 0.0,
                Align::Center => (w as f32 - lw as f32) / 2.0,
                Align::Right => w as f32 - lw as f32,
            };
            *o = (x.round(), y.round());
            y += lh as f32;
        }
        (w, h)
    }
}

/// Splits rendered text into at most [`MAX_LINES`] lines (extra lines joined onto the last with a
/// space). An empty line becomes one space, so it keeps its height in the text renderer.
pub fn split_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect();
    if lines.len() > MAX_LINES {
        let rest = lines.split_off(MAX_LINES - 1).join(" ");
        lines.push(rest);
    }
    for l in &mut lines {
        if l.is_empty() {
            l.push(' ');
        }
    }
    lines
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetNowPlaying {
    artist: String,
    title: String,
    #[serde(default)]
    album: Option<String>,
    #[serde(default)]
    bpm: Option<f64>,
}

fn error(code: ErrorCode, message: impl Into<String>) -> Value {
    json!({"error": {"code": code, "message": message.into()}})
}

/// `SetNowPlaying {artist, title, album?, bpm?}` -> `{}`.
pub fn handle_set(data: Value) -> Value {
    let req: SetNowPlaying =
        match serde_json::from_value(if data.is_null() { json!({}) } else { data }) {
            Ok(r) => r,
            Err(e) => return error(ErrorCode::InvalidRequest, format!("SetNowPlaying: {e}")),
        };
    let clean = |s: String| -> Result<String, Value> {
        let s = s.trim().to_owned();
        if s.chars().count() > 300 {
            return Err(error(
                ErrorCode::InvalidValue,
                "artist, title and album are limited to 300 characters",
            ));
        }
        Ok(s.chars().filter(|c| !c.is_control()).collect())
    };
    let artist = match clean(req.artist) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let title = match clean(req.title) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let album = match clean(req.album.unwrap_or_default()) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if let Some(b) = req.bpm
        && !(b.is_finite() && b > 0.0 && b < 400.0)
    {
        return error(ErrorCode::InvalidValue, "bpm must be between 0 and 400");
    }
    set(Track {
        artist,
        title,
        album,
        library_bpm: req.bpm,
    });
    json!({})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_live_and_library_tempo() {
        let t = Track {
            artist: "Daft Punk".into(),
            title: "One More Time".into(),
            album: "Discovery".into(),
            library_bpm: Some(122.5),
        };
        let none = TempoReading::default();
        assert_eq!(
            render(DEFAULT_TEMPLATE, &t, &none),
            "Daft Punk – One More Time   122.5 BPM"
        );
        let live = TempoReading {
            bpm: 123.04,
            confidence: 0.87,
            ..Default::default()
        };
        assert_eq!(
            render(DEFAULT_TEMPLATE, &t, &live),
            "Daft Punk – One More Time   123.0 BPM"
        );
        assert_eq!(
            render("{album}|{live_bpm}|{library_bpm}|{confidence}%", &t, &live),
            "Discovery|123.0|122.5|87%"
        );
        assert_eq!(render("{bpm}", &Track::default(), &none), "–");
    }

    #[test]
    fn set_now_playing_validates() {
        assert!(handle_set(json!({"artist": "A"}))["error"]["code"] == "invalid_request");
        assert!(
            handle_set(json!({"artist": "A", "title": "T", "bpm": -1}))["error"]["code"]
                == "invalid_value"
        );
        assert!(
            handle_set(json!({"artist": "A".repeat(400), "title": "T"}))["error"]["code"]
                == "invalid_value"
        );
        assert!(
            handle_set(json!({"artist": "A", "title": "T", "x": 1}))["error"]["code"]
                == "invalid_request"
        );
        let g = generation();
        assert_eq!(
            handle_set(json!({"artist": " A\n", "title": "T", "bpm": 128.0})),
            json!({})
        );
        let (t, g2) = current();
        assert!(g2 > g);
        assert_eq!((t.artist.as_str(), t.library_bpm), ("A", Some(128.0)));
    }

    #[test]
    fn lines_align_inside_a_fitted_or_fixed_box() {
        let sizes = [(100, 20), (60, 20), (80, 30)];
        let mut at = [(0.0, 0.0); 3];
        let fit = |align, valign| Layout {
            align,
            valign,
            ..Layout::default()
        };
        // Fitted box: the widest line sets the width; lines stack from the top.
        let size = fit(Align::Left, VAlign::Top).place(&sizes, &mut at);
        assert_eq!(size, (100, 70));
        assert_eq!(at, [(0.0, 0.0), (0.0, 20.0), (0.0, 40.0)]);
        fit(Align::Center, VAlign::Top).place(&sizes, &mut at);
        assert_eq!(at, [(0.0, 0.0), (20.0, 20.0), (10.0, 40.0)]);
        fit(Align::Right, VAlign::Bottom).place(&sizes, &mut at);
        assert_eq!(at, [(0.0, 0.0), (40.0, 20.0), (20.0, 40.0)]);
        // Fixed box: lines align inside it, the block centres vertically.
        let boxed = Layout {
            align: Align::Right,
            valign: VAlign::Center,
            box_width: 400,
            box_height: 170,
        };
        assert_eq!(boxed.place(&sizes, &mut at), (400, 170));
        assert_eq!(at, [(300.0, 50.0), (340.0, 70.0), (320.0, 90.0)]);
        let bottom = Layout {
            valign: VAlign::Bottom,
            ..boxed
        };
        bottom.place(&sizes, &mut at);
        assert_eq!(at[2], (320.0, 140.0));
        // A line wider than a fixed centred box overflows evenly on both sides.
        let narrow = Layout {
            align: Align::Center,
            box_width: 50,
            ..Layout::default()
        };
        narrow.place(&sizes[..1], &mut at);
        assert_eq!(at[0].0, -25.0);
        assert_eq!(Align::parse("center"), Align::Center);
        assert_eq!(Align::parse("bogus"), Align::Left);
        assert_eq!(VAlign::parse("bottom"), VAlign::Bottom);
    }

    #[test]
    fn text_splits_into_bounded_lines() {
        assert_eq!(split_lines("a – b"), vec!["a – b"]);
        assert_eq!(split_lines("a\r\n\nb"), vec!["a", " ", "b"]);
        let many = (0..12)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        let lines = split_lines(&many);
        assert_eq!(lines.len(), MAX_LINES);
        assert_eq!(lines[MAX_LINES - 1], "7 8 9 10 11");
    }
}
