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
}
