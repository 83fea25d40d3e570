//! Live tempo tracking for DJ material, on the audio thread.
//!
//! - [`onsets`]: spectral flux in three bands (kick, snare and body, hats), each against its own
//!   running mean, gives a novelty curve; its peaks are the weighted onsets, and its
//!   autocorrelation proposes pulses.
//! - [`grid`]: every pulse and its usual confusions (×2, ½, 3/2, ⅔, 3, ⅓, 4/3, ¾), folded into
//!   the user's range, is scored as a beat grid against the onsets of the last 6 s (share of
//!   onset weight on the grid × share of grid points with an onset, the same 25 ms tolerance for
//!   every tempo up to 144 BPM); the best grid's tempo is a least-squares line through the
//!   accents on it, with its standard error.
//! - Octaves: when the best grid's other octave is also in the range, a prior stands for the
//!   convention of counting the faster one (drum & bass at 174, not 87; trap at 140, not 70)
//!   unless the slower one explains the onsets clearly better (swung hip-hop at 90); then two
//!   metrical tests take the slower one: a one-drop (one accent every eight fast beats: reggae)
//!   and four on the floor (kicks on every other fast beat only).
//! - [`readout`]: a tempo is shown once the estimates agree and their precision adds up, then
//!   follows their weighted mean in steps that do not flicker, is held through breakdowns and
//!   silence, and moves to another tempo only when the estimates agree on it for 1.5 s.
//!
//! Threads: [`TempoTracker::new`] allocates everything (call it from a settings thread);
//! [`TempoTracker::process`] runs on the caller's real-time audio thread and allocates nothing,
//! takes no lock and does no I/O; [`TempoTracker::reading`] is a cheap copy.
//!
//! Written here rather than taken from a crate: aubio's beat tracker, which this tracker was built
//! on before, is what lost on the evaluation corpus (`deckcast analyze --eval`,
//! docs/BENCHMARKS.md), and what runs here must work on a live stream without allocating.
mod grid;
mod onsets;
mod readout;

use grid::Fit;
use onsets::{Detector, PEAKS};
use readout::Readout;

/// Tracker errors (configuration only: processing never fails).
#[derive(Debug, thiserror::Error)]
pub enum TempoError {
    /// The sample rate or BPM range cannot be used.
    #[error("invalid tempo tracker configuration: {0}")]
    Config(String),
}

/// A manual correction applied after range folding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Correction {
    /// As detected.
    #[default]
    None,
    /// ×2.
    Double,
    /// ÷2.
    Half,
    /// ×⅔ (for trackers that lock onto triplet feels).
    TwoThirds,
}

impl Correction {
    fn factor(self) -> f64 {
        match self {
            Correction::None => 1.0,
            Correction::Double => 2.0,
            Correction::Half => 0.5,
            Correction::TwoThirds => 2.0 / 3.0,
        }
    }
}

/// Tracker settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TempoConfig {
    /// Sample rate of the input (44.1 and 48 kHz are typical).
    pub sample_rate: u32,
    /// Lowest BPM to report; readings are folded by octaves into the range (a tempo within 0.5 %
    /// under it, 69.8 in 70–180, is reported as it is rather than doubled).
    pub min_bpm: f64,
    /// Highest BPM (exclusive); must be at least 1.9 × `min_bpm` (with less than 2 ×, a few
    /// tempi have no octave in the range and are reported just above it).
    pub max_bpm: f64,
    /// Correction applied after folding.
    pub correction: Correction,
}

impl Default for TempoConfig {
    fn default() -> Self {
        Self {
            sample_rate: 48_000,
            min_bpm: 70.0,
            max_bpm: 180.0,
            correction: Correction::None,
        }
    }
}

/// What the tracker currently believes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TempoReading {
    /// The displayed tempo (0 until the first stable estimate); held through breakdowns.
    pub bpm: f64,
    /// The latest estimate, before the readout's agreement and smoothing (0 if none).
    pub raw_bpm: f64,
    /// 0–1: how well the chosen beat grid explains the recent onsets.
    pub confidence: f64,
    /// True once the readout has settled on the current estimate.
    pub stable: bool,
    /// True while beats are being detected (false in silence and breakdowns: `bpm` is held).
    pub active: bool,
}

/// Onsets older than this do not take part in scoring.
const WINDOW_S: f64 = 6.0;
/// Estimates start once the music has played this long (a tempo needs a few beats).
const FIRST_ESTIMATE_S: f64 = 2.0;
/// How often the tempo is estimated.
const UPDATE_S: f64 = 0.25;
/// No onsets for this long counts as a breakdown: hold the readout.
const HOLD_AFTER_S: f64 = 2.5;
/// After a frame above the level gate, the music counts as playing for this long.
const GATE_HOLD_S: f64 = 1.0;
/// Below this RMS level (−45 dBFS) nothing counts as a beat.
const GATE_RMS: f64 = 0.0056;
/// Estimates whose grid explains less than this do not count (no beat).
const MIN_CONFIDENCE: f64 = 0.3;
/// Estimates less precise than this (standard error, BPM) do not count.
const MAX_SIGMA: f64 = 0.5;
/// Candidate pulses before folding into the user's range: ratios to each autocorrelation peak.
const RATIOS: [f64; 9] = [
    1.0,
    2.0,
    0.5,
    1.5,
    2.0 / 3.0,
    3.0,
    1.0 / 3.0,
    4.0 / 3.0,
    0.75,
];
/// The octave prior: a log-normal weight around this tempo (BPM), this many octaves wide. It
/// only chooses between a grid and its own other octave, both in the range: in 70–180 it favours
/// the faster of the two by 1.4–1.9×.
const PRIOR_CENTRE: f64 = 160.0;
const PRIOR_OCTAVES: f64 = 1.0;
/// A one-drop's accent carries this many times the weight of any other beat of its bar (a
/// running mean of the ratio, [`DROP_SMOOTHING`] of each new one).
const DROP_RATIO: f64 = 1.4;
const DROP_SMOOTHING: f64 = 0.1;
/// Samples beyond ±this (a broken source's garbage) are clipped before analysis.
const SAMPLE_LIMIT: f32 = 16.0;
/// Tempi down to this share of the range's minimum count as in the range when an octave is
/// halved (a 70.0 BPM track measures 69.97 as often as 70.03).
const RANGE_SLACK: f64 = 0.995;

/// The tempo tracker.
pub struct TempoTracker {
    cfg: TempoConfig,
    hop: usize,
    detector: Detector,
    /// Samples seen.
    samples: u64,
    loud_until: f64,
    loud_since: f64,
    next_update: f64,
    /// Running mean of the one-drop ratio ([`grid::drop_ratio`]).
    drop_ratio: f64,
    readout: Readout,
    reading: TempoReading,
}

impl std::fmt::Debug for TempoTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempoTracker")
            .field("cfg", &self.cfg)
            .field("reading", &self.reading)
            .finish_non_exhaustive()
    }
}

/// Analysis hop for a sample rate: 256 at 44.1 kHz, scaled to keep ~5.8 ms frames (272 at 48 kHz).
pub fn hop_for(sample_rate: u32) -> usize {
    let scaled = 256.0 * f64::from(sample_rate) / 44_100.0 / 16.0;
    (scaled.round().max(4.0) as usize) * 16
}

/// Folds `bpm` into [min, max) by octaves.
pub fn fold(mut bpm: f64, min: f64, max: f64) -> f64 {
    if !(bpm.is_finite() && bpm > 0.0) {
        return 0.0;
    }
    while bpm >= max {
        bpm /= 2.0;
    }
    while bpm < min {
        bpm *= 2.0;
    }
    bpm
}

/// The octave prior's weight of `bpm` (see [`PRIOR_CENTRE`]).
fn prior(bpm: f64) -> f64 {
    let octaves = (bpm / PRIOR_CENTRE).log2() / PRIOR_OCTAVES;
    (-0.5 * octaves * octaves).exp()
}

impl TempoTracker {
    /// Builds a tracker; all buffers are allocated here.
    pub fn new(cfg: TempoConfig) -> Result<TempoTracker, TempoError> {
        if !(8_000..=192_000).contains(&cfg.sample_rate) {
            return Err(TempoError::Config(format!(
                "sample rate {} Hz is not supported",
                cfg.sample_rate
            )));
        }
        if !(cfg.min_bpm >= 30.0 && cfg.max_bpm <= 400.0 && cfg.max_bpm >= cfg.min_bpm * 1.9) {
            return Err(TempoError::Config(format!(
                "BPM range {}–{} must lie in 30–400 and span nearly an octave (max ≥ 1.9 × min)",
                cfg.min_bpm, cfg.max_bpm
            )));
        }
        let hop = hop_for(cfg.sample_rate);
        Ok(TempoTracker {
            cfg,
            hop,
            detector: Detector::new(cfg.sample_rate, hop),
            samples: 0,
            loud_until: f64::NEG_INFINITY,
            loud_since: f64::INFINITY,
            next_update: 0.0,
            drop_ratio: 0.0,
            readout: Readout::default(),
            reading: TempoReading::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> TempoConfig {
        self.cfg
    }

    /// Changes range and correction without losing the analysis (not the sample rate).
    pub fn set_range(&mut self, min_bpm: f64, max_bpm: f64, correction: Correction) {
        if min_bpm >= 30.0 && max_bpm <= 400.0 && max_bpm >= min_bpm * 1.9 {
            self.cfg.min_bpm = min_bpm;
            self.cfg.max_bpm = max_bpm;
        }
        self.cfg.correction = correction;
        self.reading = TempoReading::default();
        self.readout = Readout::default();
        self.drop_ratio = 0.0;
    }

    /// The current reading.
    pub fn reading(&self) -> TempoReading {
        self.reading
    }

    /// Feeds interleaved samples with `channels` channels (mixed to mono). Real-time safe.
    pub fn process_interleaved(&mut self, samples: &[f32], channels: usize) {
        let channels = channels.max(1);
        let scale = 1.0 / channels as f32;
        for frame in samples.chunks_exact(channels) {
            let mono = frame.iter().sum::<f32>() * scale;
            self.push(mono);
        }
    }

    /// Feeds mono samples. Real-time safe.
    pub fn process(&mut self, mono: &[f32]) {
        for &s in mono {
            self.push(s);
        }
    }

    /// Feeds planar channels of equal length (mixed to mono). Real-time safe.
    pub fn process_planar(&mut self, channels: &[&[f32]]) {
        let Some(n) = channels.iter().map(|c| c.len()).min() else {
            return;
        };
        let scale = 1.0 / channels.len() as f32;
        for i in 0..n {
            let mono = channels.iter().map(|c| c[i]).sum::<f32>() * scale;
            self.push(mono);
        }
    }

    #[inline]
    fn push(&mut self, s: f32) {
        // Garbage in the buffer (NaN, inf, 1e30) must not poison the running levels.
        let s = if s.is_finite() {
            s.clamp(-SAMPLE_LIMIT, SAMPLE_LIMIT)
        } else {
            0.0
        };
        if let Some(energy) = self.detector.push(s) {
            self.samples += self.hop as u64;
            self.frame_done(energy);
        }
    }

    fn now(&self) -> f64 {
        self.samples as f64 / f64::from(self.cfg.sample_rate)
    }

    /// One analysis frame of `energy` (sum of squares): the level gate, the detector, and every
    /// [`UPDATE_S`] an estimate.
    fn frame_done(&mut self, energy: f64) {
        let now = self.now();
        // Below the gate (silence, noise floor) nothing counts as a beat.
        let loud = energy > self.hop as f64 * GATE_RMS * GATE_RMS;
        if loud {
            if now - self.loud_until >= HOLD_AFTER_S {
                self.loud_since = now;
            }
            self.loud_until = now + GATE_HOLD_S;
        }
        self.detector.analyse(loud);
        if now >= self.next_update {
            self.next_update = now + UPDATE_S;
            self.estimate(now);
        }
        self.reading.active = now < self.loud_until
            && self
                .detector
                .onsets()
                .last()
                .is_some_and(|(t, _)| now - t < HOLD_AFTER_S);
    }

    /// The candidate tempi in the user's range: each autocorrelation pulse times each of
    /// [`RATIOS`], and the tempo on display, folded and without near-duplicates.
    fn candidates(&self) -> ([f64; PEAKS * RATIOS.len() + 1], usize) {
        let (min, max) = (self.cfg.min_bpm, self.cfg.max_bpm);
        let mut cands = [0.0f64; PEAKS * RATIOS.len() + 1];
        let mut m = 0;
        let shown = self.readout.shown() / self.cfg.correction.factor();
        for pulse in self.detector.pulses().into_iter().chain([shown]) {
            if pulse <= 0.0 {
                continue;
            }
            for r in RATIOS {
                let c = fold(pulse * r, min, max);
                if c > 0.0
                    && m < cands.len()
                    && !cands[..m].iter().any(|x| (x / c - 1.0).abs() < 0.008)
                {
                    cands[m] = c;
                    m += 1;
                }
            }
        }
        (cands, m)
    }

    /// The best grid for the newest `n` onsets, its octave settled.
    fn best_fit(&mut self, now: f64, n: usize) -> Option<Fit> {
        let (min, max) = (self.cfg.min_bpm, self.cfg.max_bpm);
        let onsets = self.detector.onsets();
        let (cands, m) = self.candidates();
        let mut best: Option<Fit> = None;
        for &c in &cands[..m] {
            if let Some(fit) = grid::score_near(onsets, n, c)
                && best.is_none_or(|b| fit.score > b.score)
            {
                best = Some(fit);
            }
        }
        let mut fit = best?;
        // Its other octave in the range, if it has one: which is the beat is the prior's call.
        let folded = fold(fit.bpm, min, max);
        let other = if folded * 2.0 < max {
            folded * 2.0
        } else {
            folded / 2.0
        };
        if other >= min
            && let Some(alt) = grid::score_near(onsets, n, other)
            && alt.score * prior(other) > fit.score * prior(folded)
        {
            fit = alt;
        }
        let in_range = fold(fit.bpm, min, max);
        fit.sigma *= in_range / fit.bpm;
        fit.bpm = in_range;
        // A tempo a hair under the range (69.9 in 70–180) still counts as its lowest octave.
        if fit.bpm / 2.0 >= min * RANGE_SLACK {
            if let Some(ratio) = grid::drop_ratio(onsets, now, fit.bpm) {
                self.drop_ratio += DROP_SMOOTHING * (ratio - self.drop_ratio);
            }
            let kicks = self.detector.kicks();
            if self.drop_ratio >= DROP_RATIO
                || grid::four_on_the_floor(kicks, now, WINDOW_S, fit.bpm)
            {
                fit.bpm /= 2.0;
                fit.sigma /= 2.0;
            }
        }
        Some(fit)
    }

    fn estimate(&mut self, now: f64) {
        let n = self.detector.onsets().within(now, WINDOW_S);
        if n < 6 || now - self.loud_since < FIRST_ESTIMATE_S || now >= self.loud_until {
            return;
        }
        let Some(fit) = self.best_fit(now, n) else {
            return;
        };
        let factor = self.cfg.correction.factor();
        let bpm = fit.bpm * factor;
        self.reading.raw_bpm = bpm;
        self.reading.confidence = fit.score.clamp(0.0, 1.0);
        if fit.score >= MIN_CONFIDENCE && fit.sigma <= MAX_SIGMA {
            let sigma = (fit.sigma * factor).max(0.01);
            self.readout.add(bpm, 1.0 / (sigma * sigma));
        }
        self.reading.bpm = self.readout.shown();
        self.reading.stable = self.readout.stable();
    }

    /// Forgets everything (e.g. the audio source changed).
    pub fn reset(&mut self) {
        self.detector.reset();
        self.loud_until = f64::NEG_INFINITY;
        self.loud_since = f64::INFINITY;
        self.next_update = 0.0;
        self.drop_ratio = 0.0;
        self.readout = Readout::default();
        self.reading = TempoReading::default();
    }
}
