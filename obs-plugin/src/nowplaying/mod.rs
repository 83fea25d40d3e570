//! Now playing: what the DJ software (through `SetNowPlaying`), a tempo measured outside OBS
//! (`SetTempo`) and the live tempo tracker say, and the template that turns it into the
//! "Deckcast Now Playing" source's text. The source itself is [`source::NowPlaying`].
//!
//! The store is written by obs-websocket threads (`SetNowPlaying`, `SetTempo`) and read by the
//! graphics thread (the source's tick) under a short std lock.
use std::sync::Mutex;

use deckcast_dsp::tempo::TempoReading;
use deckcast_protocol::nowplaying::{SetNowPlaying, SetTempo, Track, check_bpm};
use deckcast_protocol::{Empty, Error};

pub mod source;

static TRACK: Mutex<Option<Track>> = Mutex::new(None);
static TEMPO: Mutex<Option<f64>> = Mutex::new(None);

/// The current track (empty before the first `SetNowPlaying`).
pub fn current() -> Track {
    TRACK
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// The live tempo measured outside OBS, if one is set.
pub fn external_tempo() -> Option<f64> {
    *TEMPO.lock().unwrap_or_else(|e| e.into_inner())
}

/// `SetNowPlaying` (obs-websocket worker threads).
pub fn set_now_playing(req: SetNowPlaying) -> Result<Empty, Error> {
    let track = req.track.validated()?;
    *TRACK.lock().unwrap_or_else(|e| e.into_inner()) = Some(track);
    Ok(Empty {})
}

/// `SetTempo` (obs-websocket worker threads).
pub fn set_tempo(req: SetTempo) -> Result<Empty, Error> {
    let bpm = req.bpm.map(check_bpm).transpose()?;
    *TEMPO.lock().unwrap_or_else(|e| e.into_inner()) = bpm;
    Ok(Empty {})
}

/// Default template.
pub const DEFAULT_TEMPLATE: &str = "{artist} – {title}   {bpm} BPM";

fn bpm_text(bpm: Option<f64>) -> String {
    match bpm {
        Some(b) if b > 0.0 => format!("{b:.1}"),
        _ => "–".to_owned(),
    }
}

/// Fills a template: `{artist}`, `{title}`, `{album}`, `{bpm}` (the live tempo, else the library
/// BPM), `{live_bpm}`, `{library_bpm}`, `{confidence}` (percent). The live tempo is the one measured
/// outside OBS (`external`) when one is set, else the source's own reading.
///
/// One pass over the template: a value is copied as it is, never searched for placeholders again
/// (a title "{artist}{artist}" stays that text instead of growing with every substitution).
/// Unknown `{names}` stay as written.
pub fn render(template: &str, track: &Track, live: &TempoReading, external: Option<f64>) -> String {
    let live_bpm = external.or((live.bpm > 0.0).then_some(live.bpm));
    let value = |name: &str| -> Option<String> {
        Some(match name {
            "artist" => track.artist.clone(),
            "title" => track.title.clone(),
            "album" => track.album.clone().unwrap_or_default(),
            "live_bpm" => bpm_text(live_bpm),
            "library_bpm" => bpm_text(track.bpm),
            "bpm" => bpm_text(live_bpm.or(track.bpm)),
            "confidence" => format!("{:.0}", live.confidence * 100.0),
            _ => return None,
        })
    };
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after
            .find('}')
            .and_then(|close| Some((close, value(&after[..close])?)))
        {
            Some((close, v)) => {
                out.push_str(&v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Longest template kept (bytes); a longer one is cut at a character boundary.
pub const MAX_TEMPLATE: usize = 2_000;

/// `template`, cut to [`MAX_TEMPLATE`] bytes.
pub fn bounded_template(mut template: String) -> String {
    if template.len() > MAX_TEMPLATE {
        let mut end = MAX_TEMPLATE;
        while !template.is_char_boundary(end) {
            end -= 1;
        }
        template.truncate(end);
    }
    template
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_live_and_library_tempo() {
        let t = Track {
            artist: "Daft Punk".into(),
            title: "One More Time".into(),
            album: Some("Discovery".into()),
            bpm: Some(122.5),
        };
        let none = TempoReading::default();
        assert_eq!(
            render(DEFAULT_TEMPLATE, &t, &none, None),
            "Daft Punk – One More Time   122.5 BPM"
        );
        let live = TempoReading {
            bpm: 123.04,
            confidence: 0.87,
            ..Default::default()
        };
        assert_eq!(
            render(DEFAULT_TEMPLATE, &t, &live, None),
            "Daft Punk – One More Time   123.0 BPM"
        );
        assert_eq!(
            render(
                "{album}|{live_bpm}|{library_bpm}|{confidence}%",
                &t,
                &live,
                None
            ),
            "Discovery|123.0|122.5|87%"
        );
        assert_eq!(render("{bpm}", &Track::default(), &none, None), "–");
        // Values are never expanded again, unknown names and stray braces stay as written.
        let sneaky = Track {
            artist: "{title}{title}".into(),
            title: "{artist}{bpm}".into(),
            album: None,
            bpm: None,
        };
        assert_eq!(
            render("{artist} – {title} {nope} {", &sneaky, &none, None),
            "{title}{title} – {artist}{bpm} {nope} {"
        );
        assert_eq!(render("{{artist}}", &t, &none, None), "{Daft Punk}");
        let long = bounded_template("é".repeat(MAX_TEMPLATE));
        assert!(long.len() <= MAX_TEMPLATE && long.chars().all(|c| c == 'é'));
        // A tempo measured outside OBS is the live tempo while it is set.
        assert_eq!(
            render("{bpm}|{live_bpm}|{library_bpm}", &t, &live, Some(126.0)),
            "126.0|126.0|122.5"
        );
    }

    #[test]
    fn set_now_playing_and_set_tempo_validate() {
        use deckcast_protocol::ErrorCode;
        let track = |artist: &str, bpm| SetNowPlaying {
            track: Track {
                artist: artist.into(),
                title: "T".into(),
                album: None,
                bpm,
            },
        };
        assert_eq!(
            set_now_playing(track("A", Some(-1.0))).unwrap_err().code,
            ErrorCode::InvalidValue
        );
        set_now_playing(track(" A\n", Some(128.0))).unwrap();
        assert_eq!(current().artist, "A");
        let tempo = |bpm| SetTempo {
            bpm,
            source: "listen".into(),
        };
        assert!(set_tempo(tempo(Some(f64::NAN))).is_err());
        set_tempo(tempo(Some(128.5))).unwrap();
        assert_eq!(external_tempo(), Some(128.5));
        set_tempo(tempo(None)).unwrap();
        assert_eq!(external_tempo(), None);
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
