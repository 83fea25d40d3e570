//! An ALSA capture device without sound hardware: the `file` plugin reading raw PCM, exposed as
//! `alsa:filein` (and the default device) through an `ALSA_CONFIG_PATH` file.
use std::path::{Path, PathBuf};

use anyhow::Result;

/// Writes `seconds` of `signal` (−1…1) as 44.1 kHz mono S16_LE into `dir` with a config that
/// captures from it; returns the config path (for `ALSA_CONFIG_PATH`).
pub fn file_device(dir: &Path, seconds: f64, signal: impl Fn(f64) -> f64) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let rate = 44_100.0;
    let raw: Vec<u8> = (0..(seconds * rate) as usize)
        .flat_map(|i| {
            let v = (signal(i as f64 / rate) * 0.8).clamp(-1.0, 1.0);
            ((v * 32767.0) as i16).to_le_bytes()
        })
        .collect();
    let input = dir.join("in.raw");
    std::fs::write(&input, raw)?;
    let conf = dir.join("asound.conf");
    // The include is required with ALSA_CONFIG_PATH; `hint` makes cpal list the device.
    std::fs::write(
        &conf,
        format!(
            "</usr/share/alsa/alsa.conf>\n\
             pcm.filein_raw {{ type file slave.pcm {{ type null }} file \"/dev/null\" infile \"{}\" format \"raw\" }}\n\
             pcm.filein {{ type plug slave {{ pcm \"filein_raw\" format S16_LE rate 44100 channels 1 }} hint {{ show on description \"test input\" }} }}\n\
             pcm.!default {{ type asym capture.pcm \"filein\" playback.pcm {{ type null }} }}\n",
            input.display()
        ),
    )?;
    Ok(conf)
}
