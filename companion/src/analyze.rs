//! `deckcast analyze FILE.wav`: the live tempo tracker run over a file, as a BPM timeline.
use std::path::Path;

use deckcast_dsp::tempo::{Correction, TempoConfig, TempoReading, TempoTracker};
use serde::Serialize;

/// Reading a file or configuring the tracker failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The WAV file could not be read.
    #[error("cannot read {path}: {source}")]
    Wav {
        /// The file.
        path: String,
        /// The decoder's error.
        source: hound::Error,
    },
    /// The tracker refused the settings.
    #[error(transparent)]
    Tempo(#[from] deckcast_dsp::tempo::TempoError),
}

/// One line of the timeline.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Point {
    /// Seconds into the file.
    pub time_s: f64,
    /// Displayed BPM (0 = none yet).
    pub bpm: f64,
    /// 0–1.
    pub confidence: f64,
    /// Settled.
    pub stable: bool,
}

/// The whole analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// Sample rate of the file.
    pub sample_rate: u32,
    /// Duration in seconds.
    pub duration_s: f64,
    /// One point per `step_s`.
    pub timeline: Vec<Point>,
    /// The final tempo (0 if none was found).
    pub bpm: f64,
}

/// A timeline point from a reading.
pub fn point(time_s: f64, r: TempoReading) -> Point {
    Point {
        time_s,
        bpm: r.bpm,
        confidence: r.confidence,
        stable: r.stable,
    }
}

/// Runs the tracker over `path` and samples its reading every `step_s` seconds.
pub fn analyze(
    path: &Path,
    min_bpm: f64,
    max_bpm: f64,
    correction: Correction,
    step_s: f64,
) -> Result<Analysis, AnalyzeError> {
    let wav_err = |source| AnalyzeError::Wav {
        path: path.display().to_string(),
        source,
    };
    let mut reader = hound::WavReader::open(path).map_err(wav_err)?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(wav_err)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(wav_err)?
        }
    };
    let mut tracker = TempoTracker::new(TempoConfig {
        sample_rate: spec.sample_rate,
        min_bpm,
        max_bpm,
        correction,
    })?;
    let step_frames = ((step_s * f64::from(spec.sample_rate)) as usize).max(1);
    let mut timeline = Vec::new();
    let mut done = 0usize;
    for block in samples.chunks(step_frames * channels) {
        tracker.process_interleaved(block, channels);
        done += block.len() / channels;
        timeline.push(point(
            done as f64 / f64::from(spec.sample_rate),
            tracker.reading(),
        ));
    }
    let duration_s = done as f64 / f64::from(spec.sample_rate);
    Ok(Analysis {
        sample_rate: spec.sample_rate,
        duration_s,
        bpm: tracker.reading().bpm,
        timeline,
    })
}

impl Analysis {
    /// The human-readable timeline.
    /// One timeline line.
    pub fn line(p: &Point) -> String {
        if p.bpm > 0.0 {
            format!(
                "{:7.1} s  {:6.1} BPM  confidence {:.2}{}\n",
                p.time_s,
                p.bpm,
                p.confidence,
                if p.stable { "" } else { "  (settling)" }
            )
        } else {
            format!("{:7.1} s       –\n", p.time_s)
        }
    }

    /// The timeline and the tempo as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for p in &self.timeline {
            out.push_str(&Self::line(p));
        }
        if self.bpm > 0.0 {
            out.push_str(&format!("tempo: {:.1} BPM\n", self.bpm));
        } else {
            out.push_str("tempo: not found (no steady beat)\n");
        }
        out
    }
}
