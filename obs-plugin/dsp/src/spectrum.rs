//! Spectrum analyzer: windowed real FFT → log-spaced bands → dB → 0–1 with attack/release
//! smoothing and peak hold. Every buffer and the FFT plan are allocated in [`SpectrumAnalyzer::new`];
//! [`SpectrumAnalyzer::push`] and [`SpectrumAnalyzer::analyze`] allocate nothing.
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

/// Analysis window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Window {
    /// Hann (default).
    #[default]
    Hann,
    /// Hamming.
    Hamming,
    /// 4-term Blackman-Harris (lowest leakage).
    BlackmanHarris,
}

/// How channels are analysed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Channels {
    /// One spectrum of the mono mix.
    #[default]
    Mono,
    /// Left and right separately (bands `0..n` left, `n..2n` right).
    Stereo,
}

/// Analyzer settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectrumConfig {
    /// Input sample rate.
    pub sample_rate: u32,
    /// FFT size: a power of two, 256–16384.
    pub fft_size: usize,
    /// Window function.
    pub window: Window,
    /// Number of bands (bars), 1–512.
    pub bands: usize,
    /// Lowest frequency shown (Hz).
    pub min_hz: f32,
    /// Highest frequency shown (Hz).
    pub max_hz: f32,
    /// Level shown as 0 (dBFS).
    pub floor_db: f32,
    /// Level shown as 1 (dBFS).
    pub ceiling_db: f32,
    /// Rise time constant (seconds).
    pub attack_s: f32,
    /// Fall time constant (seconds).
    pub release_s: f32,
    /// How long peaks hold before falling (seconds).
    pub peak_hold_s: f32,
    /// How fast peaks fall afterwards (units of full scale per second).
    pub peak_fall_per_s: f32,
    /// Mono mix or stereo.
    pub channels: Channels,
}

impl Default for SpectrumConfig {
    fn default() -> Self {
        Self {
            sample_rate: 48_000,
            fft_size: 4096,
            window: Window::Hann,
            bands: 32,
            min_hz: 30.0,
            max_hz: 16_000.0,
            floor_db: -70.0,
            ceiling_db: 0.0,
            attack_s: 0.02,
            release_s: 0.25,
            peak_hold_s: 0.6,
            peak_fall_per_s: 0.8,
            channels: Channels::Mono,
        }
    }
}

/// Invalid analyzer settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid spectrum configuration: {0}")]
pub struct SpectrumError(pub String);

struct Chan {
    ring: Vec<f32>,
    head: usize,
    levels: Vec<f32>,
    peaks: Vec<f32>,
    peak_age: Vec<f32>,
}

/// The analyzer.
pub struct SpectrumAnalyzer {
    cfg: SpectrumConfig,
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Per band: first and last FFT bin (inclusive) and the fractional bin of its centre.
    band_bins: Vec<(usize, usize, f32)>,
    chans: Vec<Chan>,
    norm: f32,
}

impl std::fmt::Debug for SpectrumAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpectrumAnalyzer")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

fn window(kind: Window, n: usize) -> Vec<f32> {
    let tau = std::f64::consts::TAU;
    (0..n)
        .map(|i| {
            let x = i as f64 / n as f64;
            let w = match kind {
                Window::Hann => 0.5 - 0.5 * (tau * x).cos(),
                Window::Hamming => 0.54 - 0.46 * (tau * x).cos(),
                Window::BlackmanHarris => {
                    0.35875 - 0.48829 * (tau * x).cos() + 0.14128 * (2.0 * tau * x).cos()
                        - 0.01168 * (3.0 * tau * x).cos()
                }
            };
            w as f32
        })
        .collect()
}

impl SpectrumAnalyzer {
    /// Builds an analyzer; allocates every buffer and the FFT plan.
    pub fn new(cfg: SpectrumConfig) -> Result<SpectrumAnalyzer, SpectrumError> {
        let err = |m: String| Err(SpectrumError(m));
        if !cfg.fft_size.is_power_of_two() || !(256..=16_384).contains(&cfg.fft_size) {
            return err(format!(
                "FFT size {} must be a power of two between 256 and 16384",
                cfg.fft_size
            ));
        }
        if !(1..=512).contains(&cfg.bands) {
            return err(format!("{} bands: use 1–512", cfg.bands));
        }
        let nyquist = cfg.sample_rate as f32 / 2.0;
        if !(cfg.min_hz > 0.0 && cfg.min_hz < cfg.max_hz) {
            return err(format!(
                "frequency range {}–{} Hz is empty",
                cfg.min_hz, cfg.max_hz
            ));
        }
        if cfg.floor_db >= cfg.ceiling_db {
            return err(format!(
                "floor {} dB must be below ceiling {} dB",
                cfg.floor_db, cfg.ceiling_db
            ));
        }
        let max_hz = cfg.max_hz.min(nyquist);
        let n = cfg.fft_size;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
        let bin_hz = cfg.sample_rate as f32 / n as f32;
        let bins = n / 2;
        let ratio = (max_hz / cfg.min_hz).powf(1.0 / cfg.bands as f32);
        let band_bins = (0..cfg.bands)
            .map(|b| {
                let lo = cfg.min_hz * ratio.powi(b as i32);
                let hi = lo * ratio;
                let centre = (lo * hi).sqrt() / bin_hz;
                let first = ((lo / bin_hz).ceil() as usize).clamp(1, bins);
                let last = ((hi / bin_hz).floor() as usize).clamp(1, bins);
                (first, last.max(first), centre)
            })
            .collect();
        let chan_count = if cfg.channels == Channels::Stereo {
            2
        } else {
            1
        };
        let win = window(cfg.window, n);
        // Full-scale sine → 0 dBFS: amplitude sum of the window / 2.
        let norm = win.iter().sum::<f32>() / 2.0;
        Ok(SpectrumAnalyzer {
            scratch: fft.make_scratch_vec(),
            spectrum: fft.make_output_vec(),
            frame: fft.make_input_vec(),
            fft,
            window: win,
            band_bins,
            chans: (0..chan_count)
                .map(|_| Chan {
                    ring: vec![0.0; n],
                    head: 0,
                    levels: vec![0.0; cfg.bands],
                    peaks: vec![0.0; cfg.bands],
                    peak_age: vec![0.0; cfg.bands],
                })
                .collect(),
            norm,
            cfg,
        })
    }

    /// The configuration.
    pub fn config(&self) -> SpectrumConfig {
        self.cfg
    }

    /// Feeds interleaved samples with `channels` channels. Real-time safe.
    pub fn push_interleaved(&mut self, samples: &[f32], channels: usize) {
        let channels = channels.max(1);
        let stereo = self.chans.len() == 2;
        for frame in samples.chunks_exact(channels) {
            if stereo {
                let r = if channels > 1 { frame[1] } else { frame[0] };
                Self::write(&mut self.chans[0], frame[0]);
                Self::write(&mut self.chans[1], r);
            } else {
                let mono = frame.iter().sum::<f32>() / channels as f32;
                Self::write(&mut self.chans[0], mono);
            }
        }
    }

    /// Feeds planar channels (OBS's float planar layout). Real-time safe.
    pub fn push_planar(&mut self, planes: &[&[f32]]) {
        let Some(n) = planes.iter().map(|p| p.len()).min() else {
            return;
        };
        let stereo = self.chans.len() == 2;
        for i in 0..n {
            if stereo {
                let l = planes[0][i];
                let r = planes.get(1).map_or(l, |p| p[i]);
                Self::write(&mut self.chans[0], l);
                Self::write(&mut self.chans[1], r);
            } else {
                let mono = planes.iter().map(|p| p[i]).sum::<f32>() / planes.len() as f32;
                Self::write(&mut self.chans[0], mono);
            }
        }
    }

    #[inline]
    fn write(c: &mut Chan, s: f32) {
        c.ring[c.head] = if s.is_finite() { s } else { 0.0 };
        c.head = (c.head + 1) % c.ring.len();
    }

    /// Computes the bands from the latest `fft_size` samples, smoothing over `dt` seconds since the
    /// previous call. Returns the smoothed levels (0–1) of every band (stereo: left then right).
    /// Real-time safe.
    pub fn analyze(&mut self, dt: f32) -> impl Iterator<Item = f32> + '_ {
        let dt = dt.clamp(0.0, 1.0);
        let attack = 1.0 - (-dt / self.cfg.attack_s.max(1e-4)).exp();
        let release = 1.0 - (-dt / self.cfg.release_s.max(1e-4)).exp();
        let n = self.cfg.fft_size;
        for ci in 0..self.chans.len() {
            let c = &self.chans[ci];
            for i in 0..n {
                self.frame[i] = c.ring[(c.head + i) % n] * self.window[i];
            }
            if self
                .fft
                .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
                .is_err()
            {
                continue;
            }
            let range = self.cfg.ceiling_db - self.cfg.floor_db;
            let c = &mut self.chans[ci];
            for (b, &(first, last, centre)) in self.band_bins.iter().enumerate() {
                // A band narrower than a bin reads the bin at its centre; wider bands their loudest bin.
                let mag = if last <= first {
                    let k = (centre.round() as usize).clamp(1, self.spectrum.len() - 1);
                    self.spectrum[k].norm()
                } else {
                    self.spectrum[first..=last]
                        .iter()
                        .map(|z| z.norm())
                        .fold(0.0, f32::max)
                };
                let db = 20.0 * (mag / self.norm).max(1e-10).log10();
                let target = ((db - self.cfg.floor_db) / range).clamp(0.0, 1.0);
                let level = &mut c.levels[b];
                let k = if target > *level { attack } else { release };
                *level += k * (target - *level);
                if *level >= c.peaks[b] {
                    c.peaks[b] = *level;
                    c.peak_age[b] = 0.0;
                } else {
                    c.peak_age[b] += dt;
                    if c.peak_age[b] > self.cfg.peak_hold_s {
                        c.peaks[b] = (c.peaks[b] - self.cfg.peak_fall_per_s * dt).max(*level);
                    }
                }
            }
        }
        self.chans.iter().flat_map(|c| c.levels.iter().copied())
    }

    /// Current peak markers (same layout as [`SpectrumAnalyzer::analyze`]).
    pub fn peaks(&self) -> impl Iterator<Item = f32> + '_ {
        self.chans.iter().flat_map(|c| c.peaks.iter().copied())
    }

    /// Centre frequency of band `b` (Hz).
    pub fn band_centre_hz(&self, b: usize) -> f32 {
        self.band_bins.get(b).map_or(0.0, |&(_, _, c)| {
            c * self.cfg.sample_rate as f32 / self.cfg.fft_size as f32
        })
    }

    /// Sets every level and peak back to zero (e.g. when the audio source goes away).
    pub fn reset(&mut self) {
        for c in &mut self.chans {
            c.ring.iter_mut().for_each(|s| *s = 0.0);
            c.levels.iter_mut().for_each(|s| *s = 0.0);
            c.peaks.iter_mut().for_each(|s| *s = 0.0);
        }
    }
}
