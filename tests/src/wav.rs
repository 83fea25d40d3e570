//! Test audio written by the tests themselves (no fixtures in the repository).
use std::path::Path;

use anyhow::{Context, Result};

/// Writes a 16-bit PCM WAV of `seconds` at `rate` Hz with `channels`, produced by `sample(t)`
/// (t in seconds, result in -1.0..=1.0; every channel gets the same value).
pub fn write(
    path: &Path,
    rate: u32,
    channels: u16,
    seconds: f64,
    sample: impl Fn(f64) -> f64,
) -> Result<()> {
    let frames = (seconds * f64::from(rate)).round() as u32;
    let data_len = frames * u32::from(channels) * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    out.extend_from_slice(&(channels * 2).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..frames {
        let v = sample(f64::from(i) / f64::from(rate)).clamp(-1.0, 1.0);
        let s = (v * f64::from(i16::MAX)) as i16;
        for _ in 0..channels {
            out.extend_from_slice(&s.to_le_bytes());
        }
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// A quiet 440 Hz tone with a short 60 Hz kick on every beat at `bpm`: loops seamlessly when
/// `seconds` holds a whole number of beats.
pub fn tone_with_kicks(bpm: f64) -> impl Fn(f64) -> f64 {
    move |t| {
        let beat = 60.0 / bpm;
        let since_beat = t % beat;
        let kick = if since_beat < 0.12 {
            (-since_beat * 30.0).exp() * (2.0 * std::f64::consts::PI * 60.0 * since_beat).sin()
        } else {
            0.0
        };
        0.2 * (2.0 * std::f64::consts::PI * 440.0 * t).sin() + 0.7 * kick
    }
}

/// Four-on-the-floor house: an electronic kick (150 → 45 Hz sweep) on every beat and a noise hi-hat
/// on every off-beat, at `bpm`.
pub fn house(bpm: f64) -> impl Fn(f64) -> f64 {
    move |t| {
        let beat = 60.0 / bpm;
        let since = t % beat;
        let kick = if since < 0.25 {
            let phase = std::f64::consts::TAU
                * (45.0 * since + 105.0 / 30.0 * (1.0 - (-30.0 * since).exp()));
            phase.sin() * (-since / 0.12).exp()
        } else {
            0.0
        };
        let off = since - beat / 2.0;
        // Deterministic noise from the sample time.
        let noise = ((t * 48_000.0).round() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        let hat = if (0.0..0.03).contains(&off) {
            (noise as f64 / (1u64 << 24) as f64 * 2.0 - 1.0) * (-off / 0.01).exp()
        } else {
            0.0
        };
        0.7 * kick + 0.2 * hat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_valid_header_and_length() {
        let dir = std::env::temp_dir().join(format!("deckcast-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.wav");
        write(&path, 48_000, 2, 0.5, tone_with_kicks(120.0)).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[0..4], b"RIFF");
        assert_eq!(
            u32::from_le_bytes(bytes[24..28].try_into().unwrap()),
            48_000
        );
        assert_eq!(bytes.len(), 44 + 24_000 * 2 * 2);
        // The kick makes the first samples non-silent.
        assert!(
            bytes[44..]
                .chunks(2)
                .any(|s| i16::from_le_bytes([s[0], s[1]]).abs() > 1000)
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
