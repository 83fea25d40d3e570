//! Live tempo tracking on aubio's beat tracker, made robust for DJ material.
//!
//! aubio (`specflux` onsets, Davies & Plumbley beat tracking) proposes beats. On top of it:
//! - BPM comes from a least-squares line through recent beat times, not aubio's raw period (which
//!   reads ~1 % high);
//! - octave and ⅔ errors are resolved by scoring candidate tempi (×1, ×2, ½, ⅔, 3/2, 4/3, ¾ of
//!   aubio's) against kick-drum onsets found in a low-passed band: the candidate whose grid both
//!   explains the kicks and has a kick on most of its beats wins, then a least-squares fit through
//!   the kicks on that grid gives the precise tempo;
//! - the result is folded into the user's BPM range and the user's correction (×2, ÷2, ×⅔) applied;
//! - a majority vote over the last seven estimates keeps the readout from flickering between
//!   candidates, and through breakdowns and silence the last stable value is held.
//!
//! Threads: [`TempoTracker::new`] allocates everything (call it from a settings thread);
//! [`TempoTracker::process`] runs on the caller's real-time audio thread and allocates nothing,
//! takes no lock and does no I/O; [`TempoTracker::reading`] is a cheap copy.
use aubio::{OnsetMode, Tempo};

/// Tracker errors (configuration only: processing never fails).
#[derive(Debug, thiserror::Error)]
pub enum TempoError {
    /// The sample rate or BPM range cannot be used.
    #[error("invalid tempo tracker configuration: {0}")]
    Config(String),
    /// aubio refused the parameters.
    #[error("aubio could not create its tempo tracker: {0}")]
    Aubio(String),
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
    /// Lowest BPM to report (inclusive); readings are folded by octaves into the range.
    pub min_bpm: f64,
    /// Highest BPM (exclusive); must be at least 1.9 × `min_bpm` so every tempo has an octave in range.
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
    /// The latest estimate before hysteresis (0 if none).
    pub raw_bpm: f64,
    /// 0–1: how well the chosen beat grid explains the recent onsets.
    pub confidence: f64,
    /// True once the readout has settled on the current estimate.
    pub stable: bool,
    /// True while beats are being detected (false in silence and breakdowns: `bpm` is held).
    pub active: bool,
}

const RING: usize = 64;
const FIT_BEATS: usize = 16;
/// Onsets older than this do not take part in scoring.
const WINDOW_S: f64 = 6.0;
/// No onsets for this long counts as a breakdown: hold the readout.
const HOLD_AFTER_S: f64 = 2.5;
/// Estimates the readout's majority vote looks at (one per beat).
const VOTES: usize = 7;
/// Estimates whose grid explains less than this share of the onsets do not vote.
const MIN_VOTE_CONFIDENCE: f64 = 0.35;
/// Below this RMS level (−45 dBFS) nothing counts as a beat.
const GATE_RMS: f64 = 0.0056;
/// Candidate pulses are compared in this range before folding into the user's range.
const PULSE_MIN: f64 = 55.0;
const PULSE_MAX: f64 = 220.0;

#[derive(Debug, Clone, Copy)]
struct Ring {
    t: [f64; RING],
    w: [f64; RING],
    len: usize,
    head: usize,
}

impl Ring {
    const fn new() -> Self {
        Self {
            t: [0.0; RING],
            w: [0.0; RING],
            len: 0,
            head: 0,
        }
    }
    fn push(&mut self, v: f64) {
        self.push_weighted(v, 1.0);
    }
    fn push_weighted(&mut self, v: f64, w: f64) {
        self.t[self.head] = v;
        self.w[self.head] = w;
        self.head = (self.head + 1) % RING;
        self.len = (self.len + 1).min(RING);
    }
    /// i-th most recent (0 = newest).
    fn recent(&self, i: usize) -> f64 {
        self.t[(self.head + RING - 1 - i) % RING]
    }
    /// Weight of the i-th most recent.
    fn weight(&self, i: usize) -> f64 {
        self.w[(self.head + RING - 1 - i) % RING]
    }
    fn last(&self) -> Option<f64> {
        (self.len > 0).then(|| self.recent(0))
    }
    fn clear(&mut self) {
        self.len = 0;
    }
}

/// The tempo tracker.
pub struct TempoTracker {
    cfg: TempoConfig,
    tempo: Tempo,
    hop: usize,
    buf: Vec<f32>,
    fill: usize,
    samples: u64,
    last_beat: usize,
    beats: Ring,
    kicks: Ring,
    hits: Ring,
    lp: f64,
    lp2: f64,
    lp_a: f64,
    hop_energy: f64,
    full_energy: f64,
    prev_energy: f64,
    prev_full: f64,
    peak_energy: f64,
    peak_full: f64,
    last_kick: f64,
    last_hit: f64,
    pending_kick: Option<(f64, f64, u8)>,
    pending_hit: Option<(f64, f64, u8)>,
    loud_until: f64,
    reading: TempoReading,
    votes: [f64; VOTES],
    votes_len: usize,
    votes_head: usize,
}

impl std::fmt::Debug for TempoTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempoTracker")
            .field("cfg", &self.cfg)
            .field("reading", &self.reading)
            .finish_non_exhaustive()
    }
}

/// aubio hop for a sample rate: 256 at 44.1 kHz, scaled so the beat tracker's analysis window stays
/// near 5.8 s at other rates (272 at 48 kHz).
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

/// Least-squares slope of (index, time) pairs: seconds per beat.
fn lsq_period(points: &[(f64, f64)], n: usize) -> Option<f64> {
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let (sx, sy) = points[..n]
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / nf, sy / nf);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (x, y) in &points[..n] {
        sxx += (x - mx) * (x - mx);
        sxy += (x - mx) * (y - my);
    }
    (sxx > 0.0).then(|| sxy / sxx)
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
        let tempo = Tempo::new(
            OnsetMode::SpecFlux,
            (hop * 2).next_power_of_two(),
            hop,
            cfg.sample_rate,
        )
        .map_err(|e| TempoError::Aubio(e.to_string()))?;
        // Two one-pole stages at 120 Hz: the kick band, 12 dB/octave above it.
        let fc = 120.0;
        Ok(TempoTracker {
            cfg,
            tempo,
            hop,
            buf: vec![0.0; hop],
            fill: 0,
            samples: 0,
            last_beat: 0,
            beats: Ring::new(),
            kicks: Ring::new(),
            hits: Ring::new(),
            lp: 0.0,
            lp2: 0.0,
            lp_a: 1.0 - (-2.0 * std::f64::consts::PI * fc / f64::from(cfg.sample_rate)).exp(),
            hop_energy: 0.0,
            full_energy: 0.0,
            prev_full: 0.0,
            peak_full: 0.0,
            last_hit: f64::NEG_INFINITY,
            pending_kick: None,
            pending_hit: None,
            loud_until: f64::NEG_INFINITY,
            prev_energy: 0.0,
            peak_energy: 0.0,
            last_kick: f64::NEG_INFINITY,
            reading: TempoReading::default(),
            votes: [0.0; VOTES],
            votes_len: 0,
            votes_head: 0,
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
        self.votes_len = 0;
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
        let s = if s.is_finite() { s } else { 0.0 };
        self.buf[self.fill] = s;
        self.fill += 1;
        let x = f64::from(s);
        self.lp += self.lp_a * (x - self.lp);
        self.lp2 += self.lp_a * (self.lp - self.lp2);
        self.hop_energy += self.lp2 * self.lp2;
        self.full_energy += x * x;
        if self.fill == self.hop {
            self.fill = 0;
            self.hop_done();
        }
    }

    fn now(&self) -> f64 {
        self.samples as f64 / f64::from(self.cfg.sample_rate)
    }

    fn hop_done(&mut self) {
        // Energies of this hop (accumulated sample by sample in `push`): the kick band and full band.
        let (energy, full) = (self.hop_energy, self.full_energy);
        self.hop_energy = 0.0;
        self.full_energy = 0.0;
        let _ = self.tempo.do_result(self.buf.as_slice());
        let hop_start = self.now();
        self.samples += self.hop as u64;

        // Level gate: below it (silence, noise floor) nothing counts as a beat.
        let gate = self.hop as f64 * GATE_RMS * GATE_RMS;
        if full > gate {
            self.loud_until = hop_start + 0.3;
        }
        // Onsets: a sharp rise of band energy well above the recent level and above the gate.
        self.peak_energy = (self.peak_energy * 0.9995).max(energy);
        self.peak_full = (self.peak_full * 0.9995).max(full);
        let rise = (energy + 1e-12) / (self.prev_energy + 1e-12);
        let rise_full = (full + 1e-12) / (self.prev_full + 1e-12);
        self.prev_energy = energy;
        self.prev_full = full;
        // An onset's weight is its loudest hop over the next ~35 ms: a kick's band energy keeps
        // growing while its pitch falls into the band, and hop alignment must not matter.
        Self::settle(&mut self.pending_kick, &mut self.kicks, energy);
        Self::settle(&mut self.pending_hit, &mut self.hits, full);
        let settle_hops = ((0.035 * f64::from(self.cfg.sample_rate)) / self.hop as f64)
            .ceil()
            .max(1.0) as u8;
        if rise > 3.0
            && energy > self.peak_energy * 0.05
            && energy > gate * 0.1
            && hop_start - self.last_kick > 0.12
        {
            self.pending_kick
                .get_or_insert((hop_start, energy, settle_hops));
            self.last_kick = hop_start;
        }
        if rise_full > 3.0
            && full > self.peak_full * 0.05
            && full > gate
            && hop_start - self.last_hit > 0.08
        {
            self.pending_hit
                .get_or_insert((hop_start, full, settle_hops));
            self.last_hit = hop_start;
        }

        // aubio beats: get_last() moves to the newest beat's sample position.
        let last = self.tempo.get_last();
        if last != self.last_beat && last > 0 {
            self.last_beat = last;
            if hop_start < self.loud_until {
                self.beats
                    .push(last as f64 / f64::from(self.cfg.sample_rate));
                self.estimate();
            }
        }
        let now = self.now();
        self.reading.active = now < self.loud_until
            && (self.kicks.last().is_some_and(|t| now - t < HOLD_AFTER_S)
                || self.hits.last().is_some_and(|t| now - t < HOLD_AFTER_S));
    }

    /// Tracks a pending onset's loudest hop; pushes it once it has settled.
    fn settle(pending: &mut Option<(f64, f64, u8)>, ring: &mut Ring, energy: f64) {
        if let Some((t, w, left)) = pending {
            *w = w.max(energy);
            *left = left.saturating_sub(1);
            if *left == 0 {
                ring.push_weighted(*t, *w);
                *pending = None;
            }
        }
    }

    /// aubio's tempo from a least-squares fit of its recent beats.
    fn aubio_bpm(&self) -> Option<f64> {
        let n = self.beats.len.min(FIT_BEATS);
        if n < 4 {
            return None;
        }
        // Median inter-beat interval as the first guess.
        let mut diffs = [0.0f64; FIT_BEATS];
        for (i, d) in diffs.iter_mut().enumerate().take(n - 1) {
            *d = self.beats.recent(i) - self.beats.recent(i + 1);
        }
        let d = &mut diffs[..n - 1];
        d.sort_unstable_by(|a, b| a.total_cmp(b));
        let p0 = d[d.len() / 2];
        if p0 <= 0.0 {
            return None;
        }
        let t0 = self.beats.recent(n - 1);
        let mut pts = [(0.0f64, 0.0f64); FIT_BEATS];
        for (i, p) in pts.iter_mut().enumerate().take(n) {
            let t = self.beats.recent(n - 1 - i);
            *p = (((t - t0) / p0).round(), t);
        }
        lsq_period(&pts, n).filter(|p| *p > 0.0).map(|p| 60.0 / p)
    }

    /// Scores a tempo candidate against the kick onsets of the last [`WINDOW_S`] seconds and
    /// refines it by least squares through the kicks on its grid. Returns (score, refined bpm).
    fn score(&self, onsets: &Ring, bpm: f64) -> Option<(f64, f64)> {
        let now = self.now();
        let mut n = 0;
        while n < onsets.len && now - onsets.recent(n) <= WINDOW_S {
            n += 1;
        }
        if n < 4 {
            return None;
        }
        let period = 60.0 / bpm;
        let tol = (0.07 * period).max(0.02);
        let total_w: f64 = (0..n).map(|i| onsets.weight(i)).sum();
        let max_w = (0..n).map(|i| onsets.weight(i)).fold(0.0, f64::max);
        let on_grid = |i: usize, anchor: f64| {
            let x = (onsets.recent(i) - anchor) / period;
            (x - x.round()).abs() * period <= tol
        };
        // Best phase: anchor the grid on each strong onset in turn; weigh onsets by energy so
        // off-beat hats cannot outvote the kicks.
        let (mut best_w, mut best_anchor) = (0.0, 0.0);
        for a in 0..n {
            if onsets.weight(a) < 0.3 * max_w {
                continue;
            }
            let anchor = onsets.recent(a);
            let w: f64 = (0..n)
                .filter(|&i| on_grid(i, anchor))
                .map(|i| onsets.weight(i))
                .sum();
            if w > best_w {
                best_w = w;
                best_anchor = anchor;
            }
        }
        let first = onsets.recent(n - 1);
        let last = onsets.recent(0);
        let grid_points = (((last - first) / period).round() as usize + 1).max(1);
        // Grid points that carry a strong onset.
        let strong_hits = (0..n)
            .filter(|&i| onsets.weight(i) >= 0.3 * max_w && on_grid(i, best_anchor))
            .count();
        let precision = best_w / total_w.max(1e-12);
        let recall = (strong_hits as f64 / grid_points as f64).min(1.0);
        // Refine through the kicks on the grid.
        let mut pts = [(0.0f64, 0.0f64); RING];
        let mut m = 0;
        for i in 0..n {
            let t = onsets.recent(i);
            let x = (t - best_anchor) / period;
            if (x - x.round()).abs() * period <= tol {
                pts[m] = (x.round(), t);
                m += 1;
            }
        }
        let refined = lsq_period(&pts, m)
            .filter(|p| *p > 0.0)
            .map_or(bpm, |p| 60.0 / p);
        Some((precision * recall, refined))
    }

    /// Median interval between consecutive strong onsets of the scoring window (seconds).
    fn median_interval(&self, onsets: &Ring) -> Option<f64> {
        let now = self.now();
        let n = (0..onsets.len)
            .take_while(|&i| now - onsets.recent(i) <= WINDOW_S)
            .count();
        let max_w = (0..n).map(|i| onsets.weight(i)).fold(0.0, f64::max);
        let mut strong = [0.0f64; RING];
        let mut m = 0;
        for i in (0..n).rev() {
            if onsets.weight(i) >= 0.3 * max_w {
                strong[m] = onsets.recent(i);
                m += 1;
            }
        }
        if m < 4 {
            return None;
        }
        let mut d = [0.0f64; RING];
        for i in 0..m - 1 {
            d[i] = strong[i + 1] - strong[i];
        }
        let d = &mut d[..m - 1];
        d.sort_unstable_by(|a, b| a.total_cmp(b));
        Some(d[d.len() / 2]).filter(|p| *p > 0.0)
    }

    /// [`Self::score`] of the best tempo within ±2 % of `bpm` (candidates from aubio can be a
    /// little off; a grid that is 1 % off drifts out of a 6 s window).
    fn score_near(&self, onsets: &Ring, bpm: f64) -> Option<(f64, f64)> {
        let mut best: Option<(f64, f64)> = None;
        for k in -5..=5 {
            let cand = bpm * (1.0 + 0.004 * f64::from(k));
            if let Some((score, refined)) = self.score(onsets, cand)
                && best.is_none_or(|(s, _)| score > s)
            {
                best = Some((score, refined));
            }
        }
        best
    }

    /// The onsets to judge candidates by: kicks when the music has them, else all onsets.
    fn onsets(&self) -> &Ring {
        let now = self.now();
        let recent = |r: &Ring| {
            (0..r.len)
                .take_while(|&i| now - r.recent(i) <= WINDOW_S)
                .count()
        };
        if recent(&self.kicks) >= 4 {
            &self.kicks
        } else {
            &self.hits
        }
    }

    fn estimate(&mut self) {
        let Some(base) = self.aubio_bpm() else { return };
        let (min, max) = (self.cfg.min_bpm, self.cfg.max_bpm);
        // Find the true pulse first (in a wide range), then fold it into the user's range.
        let onsets = *self.onsets();
        let mut best: Option<(f64, f64)> = None;
        // Candidates: aubio's tempo and its usual confusions, plus the onsets' own median interval
        // (exact for steady kicks even when aubio's estimate drifts or halves).
        let ioi = self.median_interval(&onsets).map(|p| 60.0 / p);
        let from_ioi = ioi.map(|b| [b, b * 2.0, b * 0.5]).unwrap_or([0.0; 3]);
        let from_aubio = [1.0, 2.0, 0.5, 1.5, 2.0 / 3.0, 4.0 / 3.0, 0.75].map(|r| base * r);
        // The tempo on display stays a candidate (undoing the user's correction), so a momentary
        // confusion of aubio's cannot take it out of the running.
        let shown = self.reading.bpm / self.cfg.correction.factor();
        for raw in from_aubio.into_iter().chain(from_ioi).chain([shown]) {
            if raw <= 0.0 {
                continue;
            }
            let cand = fold(raw, PULSE_MIN, PULSE_MAX);
            if let Some((score, refined)) = self.score_near(&onsets, cand) {
                // Prefer the earlier (simpler) ratio on near-ties.
                if best.is_none_or(|(s, _)| score > s + 0.05) {
                    best = Some((score, refined));
                }
            }
        }
        let (confidence, pulse) = best.unwrap_or((0.3, base));
        let bpm = fold(pulse, min, max);
        let bpm = bpm * self.cfg.correction.factor();
        self.reading.raw_bpm = bpm;
        self.reading.confidence = confidence.clamp(0.0, 1.0);
        // Weak estimates (a grid that explains little of the onsets) are reported but do not vote.
        if best.is_none() || confidence >= MIN_VOTE_CONFIDENCE {
            self.apply_hysteresis(bpm);
        }
    }

    /// Estimates within this distance (BPM) vote for the same tempo.
    const SAME: f64 = 0.6;

    /// How many of the recent estimates lie within [`Self::SAME`] of `bpm`, and their mean.
    fn support(&self, bpm: f64) -> (usize, f64) {
        let votes = &self.votes[..self.votes_len];
        let near: (usize, f64) = votes
            .iter()
            .filter(|v| (**v - bpm).abs() < Self::SAME)
            .fold((0, 0.0), |(n, s), v| (n + 1, s + v));
        (
            near.0,
            if near.0 > 0 {
                near.1 / near.0 as f64
            } else {
                bpm
            },
        )
    }

    /// Majority vote over the last [`VOTES`] estimates: the readout follows the best-supported
    /// tempo (its mean, for precision) and only jumps when another tempo has more votes, so
    /// estimates that alternate between candidates cannot make it flicker.
    fn apply_hysteresis(&mut self, bpm: f64) {
        self.votes[self.votes_head] = bpm;
        self.votes_head = (self.votes_head + 1) % VOTES;
        self.votes_len = (self.votes_len + 1).min(VOTES);
        let (mut best, mut best_n) = (bpm, 0);
        for i in 0..self.votes_len {
            let (n, mean) = self.support(self.votes[i]);
            if n > best_n {
                best_n = n;
                best = mean;
            }
        }
        let shown = self.reading.bpm;
        let (shown_n, shown_mean) = if shown > 0.0 {
            self.support(shown)
        } else {
            (0, 0.0)
        };
        if shown == 0.0 {
            if best_n >= 2 {
                self.reading.bpm = best;
            }
        } else if (best - shown).abs() < Self::SAME {
            self.reading.bpm = shown_mean;
        } else if best_n > shown_n && best_n >= 3 {
            self.reading.bpm = best;
        } else if shown_n > 0 {
            self.reading.bpm = shown_mean;
        }
        self.reading.stable = self.reading.bpm > 0.0 && self.support(self.reading.bpm).0 >= 3;
    }

    /// Forgets everything (e.g. the audio source changed).
    pub fn reset(&mut self) {
        self.beats.clear();
        self.kicks.clear();
        self.hits.clear();
        self.reading = TempoReading::default();
        self.votes_len = 0;
    }
}
