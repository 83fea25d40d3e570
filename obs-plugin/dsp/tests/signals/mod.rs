//! Synthetic test material, generated in the tests (no fixtures): kicks, hats, claps, clicks.
#![allow(dead_code)]

use std::f64::consts::TAU;

/// Deterministic noise (xorshift), -1..1.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Noise(seed | 1)
    }
    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 * 2.0 - 1.0
    }
}

/// An electronic kick: 150 → 45 Hz pitch sweep with a 120 ms decay.
pub fn kick(t: f64) -> f64 {
    if !(0.0..0.25).contains(&t) {
        return 0.0;
    }
    let k = 30.0;
    let phase = TAU * (45.0 * t + (150.0 - 45.0) / k * (1.0 - (-k * t).exp()));
    phase.sin() * (-t / 0.12).exp()
}

/// A 5 ms 2 kHz click.
pub fn click(t: f64) -> f64 {
    if (0.0..0.005).contains(&t) {
        (TAU * 2000.0 * t).sin()
    } else {
        0.0
    }
}

/// Which drum pattern to render.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pattern {
    /// Kick on every beat.
    Kick,
    /// A click on every beat.
    Click,
    /// Four-on-the-floor house: kick on every beat, hats on the off-beats, claps on 2 and 4.
    House,
}

/// Renders `seconds` of `pattern` at `bpm` (tempo may change at `change_at` to `bpm2`), starting
/// after `lead_in` seconds of quiet noise, mono, at `sr`.
pub struct Track {
    pub sr: u32,
    pub pattern: Pattern,
    pub bpm: f64,
    pub lead_in: f64,
    pub change: Option<(f64, f64)>,
    /// Silence (breakdown) from..to, in seconds.
    pub silence: Option<(f64, f64)>,
}

impl Track {
    pub fn new(sr: u32, pattern: Pattern, bpm: f64) -> Self {
        Track {
            sr,
            pattern,
            bpm,
            lead_in: 0.5,
            change: None,
            silence: None,
        }
    }

    pub fn render(&self, seconds: f64) -> Vec<f32> {
        let n = (seconds * f64::from(self.sr)) as usize;
        let mut noise = Noise::new(0x5eed);
        let mut hats = Noise::new(0xbeef);
        let mut out = Vec::with_capacity(n);
        // Beat times generated incrementally so tempo changes keep the phase continuous.
        let mut beats = Vec::new();
        let mut t = self.lead_in;
        while t < seconds + 1.0 {
            beats.push(t);
            let bpm = match self.change {
                Some((at, bpm2)) if t >= at => bpm2,
                _ => self.bpm,
            };
            t += 60.0 / bpm;
        }
        let mut bi = 0;
        for i in 0..n {
            let t = i as f64 / f64::from(self.sr);
            while bi + 1 < beats.len() && beats[bi + 1] <= t {
                bi += 1;
            }
            let mut v = 0.002 * noise.next();
            let quiet = self.silence.is_some_and(|(a, b)| t >= a && t < b);
            if t >= beats[0] && !quiet {
                let since = t - beats[bi];
                let period = beats.get(bi + 1).map_or(0.5, |n| n - beats[bi]);
                match self.pattern {
                    Pattern::Kick => v += 0.8 * kick(since),
                    Pattern::Click => v += 0.8 * click(since),
                    Pattern::House => {
                        v += 0.7 * kick(since);
                        let off = since - period / 2.0;
                        if (0.0..0.03).contains(&off) {
                            v += 0.25 * hats.next() * (-off / 0.01).exp();
                        }
                        if bi % 2 == 1 && (0.0..0.08).contains(&since) {
                            v += 0.3 * hats.next() * (-since / 0.03).exp();
                        }
                    }
                }
            }
            out.push(v as f32);
        }
        out
    }
}
