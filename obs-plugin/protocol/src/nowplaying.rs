//! Now playing and tempo: the track the DJ software reports, a tempo measured outside OBS, what a
//! Deckcast source reads right now, and the tempo event.
use serde::{Deserialize, Serialize};

use crate::Error;

/// Most characters an artist, title or album may have.
pub const MAX_TEXT_CHARS: usize = 300;

/// The highest tempo anything here accepts (exclusive), in BPM.
pub const MAX_BPM: f64 = 400.0;

/// A track as the DJ software reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Track {
    /// Artist.
    pub artist: String,
    /// Title.
    pub title: String,
    /// Album, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub album: Option<String>,
    /// The tempo the DJ software stores for the track (its library BPM), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpm: Option<f64>,
}

fn clean(what: &str, s: &str) -> Result<String, Error> {
    let s = s.trim();
    if s.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::invalid_value(format!(
            "{what} is limited to {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok(s.chars().filter(|c| !c.is_control()).collect())
}

/// Checks a tempo: finite, above 0 and below [`MAX_BPM`].
pub fn check_bpm(bpm: f64) -> Result<f64, Error> {
    if bpm.is_finite() && bpm > 0.0 && bpm < MAX_BPM {
        Ok(bpm)
    } else {
        Err(Error::invalid_value(format!(
            "bpm must be between 0 and {MAX_BPM}"
        )))
    }
}

impl Track {
    /// The track as it may be shown: text trimmed and free of control characters, each at most
    /// [`MAX_TEXT_CHARS`] characters; a library BPM in range.
    pub fn validated(&self) -> Result<Track, Error> {
        Ok(Track {
            artist: clean("artist", &self.artist)?,
            title: clean("title", &self.title)?,
            album: self
                .album
                .as_deref()
                .map(|a| clean("album", a))
                .transpose()?
                .filter(|a| !a.is_empty()),
            bpm: self.bpm.map(check_bpm).transpose()?,
        })
    }
}

/// `SetNowPlaying {artist, title, album?, bpm?}` -> `{}`: the track every Now Playing source shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct SetNowPlaying {
    /// The track.
    pub track: Track,
}

/// `SetTempo {bpm?, source}` -> `{}`: a live tempo measured outside OBS (`deckcast listen` on an
/// audio interface, later the DJ's own gear). While one is set, the Now Playing sources show it
/// as the live tempo (`{bpm}`, `{live_bpm}`) instead of their own estimate from audio; without
/// `bpm` it is cleared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetTempo {
    /// The tempo; absent clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpm: Option<f64>,
    /// Where it was measured, for people (`listen: alsa:hw:1,0`).
    #[serde(default)]
    pub source: String,
}

/// `GetAnalysis {source}` -> [`Analysis`]: what the Deckcast source of that name reads now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetAnalysis {
    /// The name of a Now Playing or Visualizer source.
    pub source: String,
}

/// The answer to [`GetAnalysis`]: a Now Playing source's tempo, or a Visualizer's bands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Analysis {
    /// A Now Playing source.
    Tempo(TempoAnalysis),
    /// A Visualizer source.
    Bands(BandsAnalysis),
}

/// A Now Playing source's live tempo and the text it shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TempoAnalysis {
    /// The tempo shown (after range folding and correction; 0 before the first estimate).
    pub bpm: f64,
    /// The tracker's tempo before folding and correction.
    pub raw_bpm: f64,
    /// How sure the tracker is, 0–1.
    pub confidence: f64,
    /// True once the reading has held for a while.
    pub stable: bool,
    /// True while the audio is loud enough to track.
    pub active: bool,
    /// What the source shows now.
    pub text: String,
}

/// A Visualizer source's band levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BandsAnalysis {
    /// One entry per bar, lowest frequency first (a list of objects: obs-websocket keeps only those).
    pub bands: Vec<Band>,
}

/// One band of a Visualizer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Band {
    /// Level 0–1 after smoothing.
    pub level: f32,
}

/// The `TempoChanged` event: a Now Playing source's stable tempo moved by at least 0.1 BPM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TempoChanged {
    /// The new tempo.
    pub bpm: f64,
    /// How sure the tracker is, 0–1.
    pub confidence: f64,
    /// The audio source it listens to (empty: none).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required))]
    pub audio_source: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorCode, decode_request};
    use serde_json::json;

    #[test]
    fn set_now_playing_is_the_track_itself_on_the_wire() {
        let r: SetNowPlaying =
            decode_request(json!({"artist": " A\n", "title": "T", "bpm": 128.0})).unwrap();
        let t = r.track.validated().unwrap();
        assert_eq!((t.artist.as_str(), t.bpm), ("A", Some(128.0)));
        assert_eq!(
            serde_json::to_value(SetNowPlaying { track: t }).unwrap(),
            json!({"artist": "A", "title": "T", "bpm": 128.0})
        );
        let code = |v| decode_request::<SetNowPlaying>(v).map(|r| r.track.validated());
        assert_eq!(
            code(json!({"artist": "A"})).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(json!({"artist": "A", "title": "T", "x": 1}))
                .unwrap_err()
                .code,
            ErrorCode::InvalidRequest
        );
        for bad in [
            json!({"artist": "A", "title": "T", "bpm": -1}),
            json!({"artist": "A".repeat(400), "title": "T"}),
        ] {
            assert_eq!(
                code(bad).unwrap().unwrap_err().code,
                ErrorCode::InvalidValue
            );
        }
    }

    #[test]
    fn analysis_is_either_tempo_or_bands() {
        let tempo = Analysis::Tempo(TempoAnalysis {
            bpm: 128.0,
            raw_bpm: 64.0,
            confidence: 0.9,
            stable: true,
            active: true,
            text: "A – T".into(),
        });
        let v = serde_json::to_value(&tempo).unwrap();
        assert_eq!(v["rawBpm"], 64.0);
        assert_eq!(serde_json::from_value::<Analysis>(v).unwrap(), tempo);
        let bands = Analysis::Bands(BandsAnalysis {
            bands: vec![Band { level: 0.5 }],
        });
        let v = serde_json::to_value(&bands).unwrap();
        assert_eq!(v, json!({"bands": [{"level": 0.5}]}));
        assert_eq!(serde_json::from_value::<Analysis>(v).unwrap(), bands);
    }
}
