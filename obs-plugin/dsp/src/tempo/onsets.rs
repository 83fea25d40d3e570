//! The onset detector: spectral flux in three bands (kick, snare and body, hats and cymbals),
//! each relative to its own running mean, summed to one novelty curve. Its peaks are the onsets
//! (weighted by how far they stand out, timed to a fraction of a frame); onsets in which the low
//! band's energy jumps are also kept as kicks; and an exponentially forgetting autocorrelation
//! of the novelty proposes the pulses the grid scoring starts from. Runs on the audio thread:
//! every buffer is allocated in [`Detector::new`].
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

/// Samples per analysis frame at 48 kHz (the FFT size; scaled to the next power of two at other
/// rates, so the kick band always has bins and a hop never outgrows a frame).
const FFT_48K: usize = 1024;
/// The bands (Hz): kick, snare and body, hats and cymbals.
const BANDS: [(f64, f64); 3] = [(30.0, 150.0), (150.0, 2_500.0), (2_500.0, 12_000.0)];
/// Onsets kept: at most one per [`ONSET_GAP_S`] (22 a second), so this covers the longest window
/// used (12 s).
pub(super) const ONSETS: usize = 288;
/// A band's novelty is at most this many times its mean (one loud hit must not drown the rest).
const BAND_CAP: f64 = 8.0;
/// The autocorrelation covers pulses from this slow…
const ACF_MIN_BPM: f64 = 40.0;
/// …to this fast (sixteenth notes of fast music).
const ACF_MAX_BPM: f64 = 640.0;
/// Time constant of the autocorrelation and of the bands' mean levels.
const MEAN_TAU_S: f64 = 4.0;
/// Time constant of the novelty's local mean (the onset threshold follows it).
const LOCAL_TAU_S: f64 = 0.5;
/// A novelty peak must stand this far above its local mean to be an onset.
const ONSET_RATIO: f64 = 1.4;
/// Two onsets closer than this are one.
const ONSET_GAP_S: f64 = 0.045;
/// An onset is a kick when the rise of the low band's energy in it reaches this share of the
/// band's recent peak rise (linear energy: a log flux would count a hat's faint low end in the
/// silence after a kick as a kick).
const KICK_LOW: f64 = 0.5;
/// Autocorrelation peaks that propose pulses.
pub(super) const PEAKS: usize = 6;

/// Weighted times (onsets), newest last.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ring {
    t: [f64; ONSETS],
    w: [f64; ONSETS],
    len: usize,
    head: usize,
}

impl Ring {
    pub(super) const fn new() -> Self {
        Self {
            t: [0.0; ONSETS],
            w: [0.0; ONSETS],
            len: 0,
            head: 0,
        }
    }

    /// Adds an onset, or makes the last one this one if they are closer than [`ONSET_GAP_S`]
    /// and this one is stronger.
    fn add(&mut self, t: f64, w: f64) {
        match self.last() {
            Some((lt, lw)) if t - lt < ONSET_GAP_S => {
                if w > lw {
                    let i = self.index(0);
                    self.t[i] = t;
                    self.w[i] = w;
                }
            }
            _ => self.push(t, w),
        }
    }

    pub(super) fn push(&mut self, t: f64, w: f64) {
        self.t[self.head] = t;
        self.w[self.head] = w;
        self.head = (self.head + 1) % ONSETS;
        self.len = (self.len + 1).min(ONSETS);
    }

    fn index(&self, i: usize) -> usize {
        (self.head + ONSETS - 1 - i) % ONSETS
    }

    /// The i-th most recent time (0 = newest).
    pub(super) fn recent(&self, i: usize) -> f64 {
        self.t[self.index(i)]
    }

    /// The weight of the i-th most recent.
    pub(super) fn weight(&self, i: usize) -> f64 {
        self.w[self.index(i)]
    }

    /// The newest (time, weight).
    pub(super) fn last(&self) -> Option<(f64, f64)> {
        (self.len > 0).then(|| (self.recent(0), self.weight(0)))
    }

    /// How many of the newest lie within `seconds` of `now`.
    pub(super) fn within(&self, now: f64, seconds: f64) -> usize {
        (0..self.len)
            .take_while(|&i| now - self.recent(i) <= seconds)
            .count()
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}

/// Offset (−0.5…0.5) of the vertex of the parabola through three equally spaced values.
fn vertex(before: f64, at: f64, after: f64) -> f64 {
    let d = before - 2.0 * at + after;
    if d.abs() < 1e-12 {
        0.0
    } else {
        (0.5 * (before - after) / d).clamp(-0.5, 0.5)
    }
}

/// The onset detector and its autocorrelation.
pub(super) struct Detector {
    sample_rate: f64,
    hop: usize,
    /// Frames per second.
    fps: f64,
    fft: Arc<dyn RealToComplex<f32>>,
    /// The FFT size.
    n: usize,
    window: Vec<f32>,
    /// The last `n` samples.
    ring: Vec<f32>,
    ring_head: usize,
    fill: usize,
    hop_energy: f64,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Log magnitude of the previous frame, per bin.
    prev_log: Vec<f32>,
    /// Each bin's band (`BANDS.len()` = none).
    band_of: Vec<u8>,
    band_mean: [f64; 3],
    mean_decay: f64,
    /// Frames above the level gate (the bands' means are plain means for the first ones).
    loud_frames: u64,
    /// Frames analysed.
    frames: u64,
    /// The last three novelty values (newest first), their local mean, and the low band's
    /// energy rise in the same three frames.
    novelty: [f64; 3],
    local_mean: f64,
    local_decay: f64,
    low: [f64; 3],
    prev_low_energy: f64,
    low_peak: f64,
    /// Rectified novelty history (a ring as long as `acf`).
    history: Vec<f64>,
    history_head: usize,
    acf: Vec<f64>,
    min_lag: usize,
    onsets: Ring,
    kicks: Ring,
}

impl Detector {
    /// A detector for `sample_rate` with a frame every `hop` samples (allocates everything).
    pub(super) fn new(sample_rate: u32, hop: usize) -> Self {
        let sr = f64::from(sample_rate);
        let fps = sr / hop as f64;
        let n = ((FFT_48K as f64 * sr / 48_000.0).round() as usize)
            .next_power_of_two()
            .max(hop.next_power_of_two())
            .max(256);
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
        let window = (0..n)
            .map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / n as f32).cos())
            .collect();
        let bin_hz = sr / n as f64;
        let band_of = (0..=n / 2)
            .map(|k| {
                let hz = k as f64 * bin_hz;
                BANDS
                    .iter()
                    .position(|(lo, hi)| hz >= *lo && hz < *hi)
                    .map_or(BANDS.len() as u8, |b| b as u8)
            })
            .collect();
        let lags = (fps * 60.0 / ACF_MIN_BPM).ceil() as usize + 3;
        let decay = |tau: f64| (-1.0 / (tau * fps)).exp();
        Detector {
            sample_rate: sr,
            hop,
            fps,
            scratch: fft.make_scratch_vec(),
            spectrum: fft.make_output_vec(),
            frame: fft.make_input_vec(),
            fft,
            n,
            window,
            ring: vec![0.0; n],
            ring_head: 0,
            fill: 0,
            hop_energy: 0.0,
            prev_log: vec![0.0; n / 2 + 1],
            band_of,
            band_mean: [0.0; 3],
            mean_decay: decay(MEAN_TAU_S),
            loud_frames: 0,
            frames: 0,
            novelty: [0.0; 3],
            local_mean: 0.0,
            local_decay: decay(LOCAL_TAU_S),
            low: [0.0; 3],
            prev_low_energy: 0.0,
            low_peak: 0.0,
            history: vec![0.0; lags],
            history_head: 0,
            acf: vec![0.0; lags],
            min_lag: ((fps * 60.0 / ACF_MAX_BPM).floor() as usize).max(2),
            onsets: Ring::new(),
            kicks: Ring::new(),
        }
    }

    /// The onsets found so far.
    pub(super) fn onsets(&self) -> &Ring {
        &self.onsets
    }

    /// The onsets with a kick in them.
    pub(super) fn kicks(&self) -> &Ring {
        &self.kicks
    }

    /// Takes one sample; at the end of a hop returns the hop's energy (sum of squares), and the
    /// caller then calls [`Detector::analyse`].
    #[inline]
    pub(super) fn push(&mut self, s: f32) -> Option<f64> {
        self.ring[self.ring_head] = s;
        self.ring_head = (self.ring_head + 1) % self.n;
        self.hop_energy += f64::from(s) * f64::from(s);
        self.fill += 1;
        if self.fill < self.hop {
            return None;
        }
        self.fill = 0;
        Some(std::mem::take(&mut self.hop_energy))
    }

    /// Analyses the frame that ends with the last sample. `loud`: the frame is above the level
    /// gate (below it nothing is an onset).
    pub(super) fn analyse(&mut self, loud: bool) {
        let n = self.n;
        for i in 0..n {
            self.frame[i] = self.ring[(self.ring_head + i) % n] * self.window[i];
        }
        let mut flux = [0.0f64; 3];
        let mut low_energy = 0.0f64;
        if self
            .fft
            .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
            .is_ok()
        {
            for (k, c) in self.spectrum.iter().enumerate() {
                let band = self.band_of[k] as usize;
                if band >= BANDS.len() {
                    continue;
                }
                let power = c.norm_sqr();
                if band == 0 {
                    low_energy += f64::from(power);
                }
                let m = (1.0 + power.sqrt()).ln();
                let d = m - self.prev_log[k];
                self.prev_log[k] = m;
                if d > 0.0 {
                    flux[band] += f64::from(d);
                }
            }
        }
        // Each band relative to its own recent mean, so quiet kicks count beside loud hats (a
        // plain running mean until the bands have been heard for a time constant).
        let (mut novelty, mut low) = (0.0, 0.0);
        if loud {
            self.loud_frames += 1;
            let decay = self.mean_decay.min(1.0 - 1.0 / self.loud_frames as f64);
            for (b, f) in flux.iter().enumerate() {
                self.band_mean[b] = decay * self.band_mean[b] + (1.0 - decay) * f;
                novelty += (f / (self.band_mean[b] + 1e-3)).min(BAND_CAP);
            }
            let rise = (low_energy - self.prev_low_energy).max(0.0);
            self.low_peak = (self.low_peak * self.mean_decay).max(rise);
            low = rise / self.low_peak.max(1e-12);
        }
        self.prev_low_energy = low_energy;
        self.novelty = [novelty, self.novelty[0], self.novelty[1]];
        self.low = [low, self.low[0], self.low[1]];
        self.pick_onset();
        self.local_mean = self.local_decay * self.local_mean + (1.0 - self.local_decay) * novelty;
        // The autocorrelation of the rectified novelty, forgetting exponentially.
        let x = (novelty - self.local_mean).max(0.0);
        let len = self.history.len();
        self.history[self.history_head] = x;
        for lag in 0..len {
            let y = self.history[(self.history_head + len - lag) % len];
            self.acf[lag] = self.mean_decay * self.acf[lag] + x * y;
        }
        self.history_head = (self.history_head + 1) % len;
        self.frames += 1;
    }

    /// An onset at the previous frame if it is a local maximum of the novelty well above its
    /// local mean; timed by the parabola through its neighbours.
    fn pick_onset(&mut self) {
        let [after, at, before] = self.novelty;
        if !(at > before && at >= after && at > ONSET_RATIO * self.local_mean && at > 0.5) {
            return;
        }
        // The frame's time is the centre of its FFT window.
        let frame = self.frames as f64 - 1.0 + vertex(before, at, after);
        let t = ((frame + 1.0) * self.hop as f64 - self.n as f64 / 2.0) / self.sample_rate;
        let w = at - self.local_mean;
        self.onsets.add(t, w);
        if self.low.iter().fold(0.0, |a: f64, b| a.max(*b)) >= KICK_LOW {
            self.kicks.add(t, w);
        }
    }

    /// The strongest peaks of the autocorrelation, as pulses (BPM; 0 = none).
    pub(super) fn pulses(&self) -> [f64; PEAKS] {
        let mut peaks = [(0.0f64, 0.0f64); PEAKS];
        let a = &self.acf;
        for lag in self.min_lag..a.len() - 1 {
            let v = a[lag];
            if v > a[lag - 1] && v >= a[lag + 1] && v > 0.0 {
                let weakest = (0..PEAKS)
                    .min_by(|&i, &j| peaks[i].0.total_cmp(&peaks[j].0))
                    .unwrap_or(0);
                if v > peaks[weakest].0 {
                    let exact = lag as f64 + vertex(a[lag - 1], v, a[lag + 1]);
                    peaks[weakest] = (v, 60.0 * self.fps / exact);
                }
            }
        }
        peaks.map(|(_, bpm)| bpm)
    }

    /// Forgets everything heard: onsets, levels, the autocorrelation.
    pub(super) fn reset(&mut self) {
        self.onsets.clear();
        self.kicks.clear();
        self.acf.iter_mut().for_each(|a| *a = 0.0);
        self.history.iter_mut().for_each(|h| *h = 0.0);
        self.prev_log.iter_mut().for_each(|l| *l = 0.0);
        self.band_mean = [0.0; 3];
        self.loud_frames = 0;
        self.novelty = [0.0; 3];
        self.local_mean = 0.0;
        self.low = [0.0; 3];
        self.prev_low_energy = 0.0;
        self.low_peak = 0.0;
    }
}
