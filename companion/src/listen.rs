//! `deckcast listen`: captures an audio interface outside OBS (cpal; ALSA on Linux) and runs the
//! same tempo tracker as the Now Playing source, for rigs where the DJ mixer feeds the computer
//! directly. Prints a BPM timeline; with `--to-companion` its stable BPM drives the Now Playing
//! source through the running companion.
//!
//! Threads: cpal's capture thread copies each block into a bounded channel; the caller's thread
//! runs the tracker (hundreds of times faster than real time, so a live device never waits; an
//! unpaced device such as ALSA's file plugin is held back instead of losing blocks).
use std::sync::mpsc;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use deckcast_dsp::tempo::{TempoConfig, TempoReading, TempoTracker};

/// Why listening failed.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// No such device or no input at all.
    #[error("{0}")]
    Device(String),
    /// The device refused the stream.
    #[error("cannot capture from {device}: {reason}")]
    Stream {
        /// Device description.
        device: String,
        /// cpal's reason.
        reason: String,
    },
    /// Tracker configuration.
    #[error("tempo tracker: {0}")]
    Tracker(String),
}

/// What to capture and how long.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// cpal device id (`alsa:hw:1,0`, `alsa:default`, …); the default input if `None`.
    pub device: Option<String>,
    /// Stop after this much audio (seconds of samples, not wall time); run forever if `None`.
    pub seconds: Option<f64>,
    /// Tracker range and correction.
    pub tempo: TempoConfig,
}

/// The input devices cpal can see, as `id — description`.
pub fn devices() -> Vec<String> {
    let host = cpal::default_host();
    host.input_devices()
        .map(|ds| {
            ds.filter_map(|d| {
                let id = d.id().ok()?;
                let desc = d.description().map(|x| x.to_string()).unwrap_or_default();
                Some(format!("{id} — {desc}"))
            })
            .collect()
        })
        .unwrap_or_default()
}

/// The capture format: the fewest channels at 44.1 or 48 kHz in a sample format we read (so ALSA's
/// plug layer converts as little as possible), else the device's default.
fn pick_config(device: &cpal::Device) -> Result<cpal::SupportedStreamConfig, String> {
    let usable = |f: cpal::SampleFormat| {
        matches!(
            f,
            cpal::SampleFormat::F32 | cpal::SampleFormat::I16 | cpal::SampleFormat::I32
        )
    };
    let mut best: Option<((u16, usize), cpal::SupportedStreamConfig)> = None;
    if let Ok(ranges) = device.supported_input_configs() {
        for r in ranges.filter(|r| usable(r.sample_format())) {
            for (pref, rate) in [44_100u32, 48_000].into_iter().enumerate() {
                if r.min_sample_rate() <= rate && rate <= r.max_sample_rate() {
                    let key = (r.channels(), pref);
                    if best.as_ref().is_none_or(|(k, _)| key < *k) {
                        best = Some((key, r.with_sample_rate(rate)));
                    }
                }
            }
        }
    }
    match best {
        Some((_, c)) => Ok(c),
        None => device.default_input_config().map_err(|e| e.to_string()),
    }
}

/// Captures and tracks; calls `on_block(seconds_of_audio, reading)` after every block. Returns
/// the sample rate and the final reading.
pub fn listen(
    opts: &ListenOptions,
    mut on_block: impl FnMut(f64, &TempoReading),
) -> Result<(u32, TempoReading), ListenError> {
    let host = cpal::default_host();
    let device = match &opts.device {
        Some(id) => {
            let parsed: cpal::DeviceId = id
                .parse()
                .map_err(|e| ListenError::Device(format!("bad device id '{id}': {e} (see deckcast listen --list)")))?;
            host.device_by_id(&parsed)
                .ok_or_else(|| ListenError::Device(format!("no audio device '{id}' (see deckcast listen --list)")))?
        }
        None => host.default_input_device().ok_or_else(|| {
            ListenError::Device(
                "no default audio input; on Linux check `arecord -l`, then pass --device alsa:<name>".into(),
            )
        })?,
    };
    let name = device
        .description()
        .map(|d| d.to_string())
        .unwrap_or_else(|_| "the audio device".into());
    let supported = pick_config(&device).map_err(|e| ListenError::Stream {
        device: name.clone(),
        reason: e,
    })?;
    let config = supported.config();
    let channels = usize::from(config.channels.max(1));
    let rate = config.sample_rate;
    let mut tracker = TempoTracker::new(TempoConfig {
        sample_rate: rate,
        ..opts.tempo
    })
    .map_err(|e| ListenError::Tracker(e.to_string()))?;
    let (tx, rx) = mpsc::sync_channel::<Vec<f32>>(256);
    let err = |e: cpal::Error| tracing::warn!("audio input: {e}");
    let stream = match supported.sample_format() {
        cpal::SampleFormat::F32 => device.build_input_stream(
            config,
            move |data: &[f32], _: &cpal::InputCallbackInfo| {
                let _ = tx.send(data.to_vec());
            },
            err,
            None,
        ),
        cpal::SampleFormat::I16 => device.build_input_stream(
            config,
            move |data: &[i16], _: &cpal::InputCallbackInfo| {
                let _ = tx.send(data.iter().map(|&s| f32::from(s) / 32768.0).collect());
            },
            err,
            None,
        ),
        cpal::SampleFormat::I32 => device.build_input_stream(
            config,
            move |data: &[i32], _: &cpal::InputCallbackInfo| {
                let _ = tx.send(data.iter().map(|&s| s as f32 / 2_147_483_648.0).collect());
            },
            err,
            None,
        ),
        other => {
            return Err(ListenError::Stream {
                device: name,
                reason: format!("unsupported sample format {other:?}"),
            });
        }
    }
    .map_err(|e| ListenError::Stream {
        device: name.clone(),
        reason: e.to_string(),
    })?;
    stream.play().map_err(|e| ListenError::Stream {
        device: name.clone(),
        reason: e.to_string(),
    })?;
    let limit = opts.seconds.map(|s| (s * f64::from(rate)).round() as u64);
    let mut frames: u64 = 0;
    let mut mono: Vec<f32> = Vec::with_capacity(8192);
    loop {
        let block = match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(b) => b,
            Err(_) => {
                return Err(ListenError::Stream {
                    device: name,
                    reason: "no audio arrived for 5 s".into(),
                });
            }
        };
        mono.clear();
        for frame in block.chunks_exact(channels) {
            mono.push(frame.iter().sum::<f32>() / channels as f32);
        }
        if let Some(limit) = limit {
            // Exactly `seconds` of audio: some devices (ALSA's file plugin) repeat stale data
            // after the end of their input.
            let left = limit.saturating_sub(frames) as usize;
            mono.truncate(left);
        }
        tracker.process(&mono);
        frames += mono.len() as u64;
        on_block(frames as f64 / f64::from(rate), &tracker.reading());
        if limit.is_some_and(|l| frames >= l) {
            break;
        }
    }
    // Receiver first: a capture callback blocked on a full channel then returns, and the stream
    // can stop.
    drop(rx);
    drop(stream);
    Ok((rate, tracker.reading()))
}
