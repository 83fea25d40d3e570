//! The audio meter: what the stream hears, measured in the plugin in 100 ms blocks, so the
//! companion can tell dead air (a pulled mixer cable) and clipping before the viewers do.
//!
//! The plugin listens to OBS's program mix, or to one audio source chosen with
//! [`SetAudioMeter`]. Every block carries its peak and RMS level and how many of its frames
//! clipped; [`GetAudioLevels`] returns the blocks after a sequence number the caller keeps.
use serde::{Deserialize, Serialize};

use crate::Error;

/// Length of one block, in milliseconds.
pub const BLOCK_MS: u32 = 100;

/// How many blocks the plugin keeps (12.8 s); older ones are gone ([`AudioLevels::missed`]).
pub const KEPT_BLOCKS: usize = 128;

/// The level a block of digital silence reports (dBFS).
pub const SILENCE_DBFS: f64 = -120.0;

/// A sample at or above this level (dBFS) counts as clipped.
pub const CLIP_DBFS: f64 = -0.5;

/// The longest source name [`SetAudioMeter`] accepts, in bytes.
pub const MAX_SOURCE_NAME: usize = 256;

/// `SetAudioMeter {source?}` -> [`AudioLevels`] (without blocks): the meter follows the audio
/// source of that name (when it exists; a source created later is picked up), or OBS's program
/// mix when `source` is absent or empty. The choice lasts until OBS exits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetAudioMeter {
    /// An audio source's name; absent or empty: the program mix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl SetAudioMeter {
    /// The source name to follow (empty: the program mix), checked.
    pub fn validated(&self) -> Result<String, Error> {
        let name = self.source.as_deref().unwrap_or("").trim();
        if name.len() > MAX_SOURCE_NAME {
            return Err(Error::invalid_value(format!(
                "source is limited to {MAX_SOURCE_NAME} bytes"
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(Error::invalid_value(
                "source must not contain control characters",
            ));
        }
        Ok(name.to_owned())
    }
}

/// `GetAudioLevels {since?}` -> [`AudioLevels`]: the blocks with a sequence number of at least
/// `since` (all kept blocks when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetAudioLevels {
    /// The first block wanted: the `next` of the previous answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
}

/// What the meter hears.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AudioLevels {
    /// The source followed; empty: the program mix.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required))]
    pub source: String,
    /// True while the meter receives audio from it (false: no such source, or it was removed).
    pub attached: bool,
    /// Block length in ms ([`BLOCK_MS`]).
    pub block_ms: u32,
    /// The sequence number the next block will have (pass it as `since` next time).
    pub next: u64,
    /// Blocks asked for that are no longer kept.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required))]
    pub missed: u64,
    /// The blocks, oldest first (a list of objects: obs-websocket keeps only those).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required))]
    pub blocks: Vec<AudioBlock>,
}

/// One block of audio.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AudioBlock {
    /// Its sequence number.
    pub seq: u64,
    /// The loudest sample of any channel (dBFS, at least [`SILENCE_DBFS`]).
    pub peak_dbfs: f64,
    /// RMS over all channels (dBFS, at least [`SILENCE_DBFS`]).
    pub rms_dbfs: f64,
    /// Frames in which any channel reached [`CLIP_DBFS`].
    pub clipped_frames: u32,
    /// Frames in the block.
    pub frames: u32,
}

/// Linear amplitude to dBFS, floored at [`SILENCE_DBFS`].
pub fn to_dbfs(amplitude: f64) -> f64 {
    if amplitude.is_finite() && amplitude > 0.0 {
        (20.0 * amplitude.log10()).max(SILENCE_DBFS)
    } else {
        SILENCE_DBFS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorCode, decode_request};
    use serde_json::json;

    #[test]
    fn the_meter_follows_a_named_source_or_the_program_mix() {
        let r: SetAudioMeter = decode_request(json!({"source": " Mic/Aux "})).unwrap();
        assert_eq!(r.validated().unwrap(), "Mic/Aux");
        let r: SetAudioMeter = decode_request(json!({})).unwrap();
        assert_eq!(r.validated().unwrap(), "");
        let long = SetAudioMeter {
            source: Some("x".repeat(MAX_SOURCE_NAME + 1)),
        };
        assert_eq!(long.validated().unwrap_err().code, ErrorCode::InvalidValue);
        let ctl = SetAudioMeter {
            source: Some("a\u{7}b".into()),
        };
        assert_eq!(ctl.validated().unwrap_err().code, ErrorCode::InvalidValue);
        assert_eq!(
            decode_request::<GetAudioLevels>(json!({"since": "x"}))
                .unwrap_err()
                .code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn levels_are_in_dbfs_with_a_floor() {
        assert_eq!(to_dbfs(1.0), 0.0);
        assert!((to_dbfs(0.5) + 6.0206).abs() < 1e-3);
        assert_eq!(to_dbfs(0.0), SILENCE_DBFS);
        assert_eq!(to_dbfs(f64::NAN), SILENCE_DBFS);
        assert_eq!(to_dbfs(1e-9), SILENCE_DBFS);
    }
}
