//! The readout: what the tracker shows, from the stream of estimates. A tempo is shown only once
//! its estimates agree and their precision adds up to [`STABLE_SIGMA`] (nominally: consecutive
//! estimates share most of their onsets, so the sum overstates it); it then follows their
//! weighted mean in steps of [`SHOW_STEP`] (one decimal that does not flicker), and moves to
//! another tempo only when [`SWITCH_AFTER`] estimates in a row agree on it and it is stable in
//! turn (the old value stays on display meanwhile). Called on the audio thread: plain
//! arithmetic, no allocation.

/// Estimates within this ratio of the readout agree with it.
const AGREE: f64 = 0.012;
/// Agreeing estimates before a tempo is shown (and called stable).
const LOCK_AFTER: u32 = 3;
/// Consecutive agreeing estimates of another tempo before the readout moves to it.
const SWITCH_AFTER: u32 = 6;
/// The running mean forgets beyond this weight (40 estimates of ±0.02 BPM).
const MEAN_WEIGHT: f64 = 40.0 / (0.02 * 0.02);
/// The readout is stable (and shown) once its estimates add up to this precision (BPM).
const STABLE_SIGMA: f64 = 0.1;
/// The shown value moves only when the mean has moved this far from it (BPM).
const SHOW_STEP: f64 = 0.08;

/// The tempo on display and the one that may replace it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Readout {
    /// The locked tempo: a weighted running mean of the estimates that agreed with it (0 = none).
    mean: f64,
    /// Total weight in the mean, and how many estimates agreed.
    weight: f64,
    n: u32,
    /// The value on display (0 = none yet).
    shown: f64,
    /// The locked tempo changed and is not shown yet (the old value stays on display until the
    /// new one is stable).
    fresh: bool,
    /// A different tempo the recent estimates agree on: its weighted mean, weight and count.
    pending: f64,
    pending_weight: f64,
    pending_n: u32,
}

impl Readout {
    /// The value on display (0 = none yet).
    pub(super) fn shown(&self) -> f64 {
        self.shown
    }

    /// Whether the shown value is settled: shown, and no other tempo gathering support.
    pub(super) fn stable(&self) -> bool {
        self.shown > 0.0 && !self.fresh && self.pending_n < 2
    }

    /// Takes one estimate (folded and corrected) of the given weight: its precision, one over
    /// the square of its standard error.
    pub(super) fn add(&mut self, bpm: f64, weight: f64) {
        if self.mean > 0.0 && (bpm / self.mean - 1.0).abs() <= AGREE {
            self.n += 1;
            self.weight = (self.weight + weight).min(MEAN_WEIGHT);
            self.mean += (bpm - self.mean) * weight / self.weight;
            self.pending_n = 0;
        } else {
            if self.pending_n > 0 && (bpm / self.pending - 1.0).abs() <= AGREE {
                self.pending_n += 1;
                self.pending_weight += weight;
                self.pending += (bpm - self.pending) * weight / self.pending_weight;
            } else {
                self.pending = bpm;
                self.pending_weight = weight;
                self.pending_n = 1;
            }
            let needed = if self.n >= LOCK_AFTER {
                SWITCH_AFTER
            } else {
                LOCK_AFTER
            };
            if self.pending_n >= needed {
                self.mean = self.pending;
                self.weight = self.pending_weight.min(MEAN_WEIGHT);
                self.n = self.pending_n;
                self.pending_n = 0;
                self.fresh = true;
            }
        }
        let stable = self.n >= LOCK_AFTER && self.weight >= 1.0 / (STABLE_SIGMA * STABLE_SIGMA);
        if stable
            && (self.fresh || self.shown == 0.0 || (self.mean - self.shown).abs() >= SHOW_STEP)
        {
            self.shown = self.mean;
            self.fresh = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Readout;

    #[test]
    fn nothing_is_shown_before_the_estimates_agree_and_add_up() {
        let mut r = Readout::default();
        // Imprecise estimates (±0.5 BPM): agreeing, but not yet worth showing.
        for _ in 0..3 {
            r.add(128.0, 4.0);
        }
        assert_eq!(r.shown(), 0.0);
        r.add(128.0, 1.0 / (0.03 * 0.03));
        assert!((r.shown() - 128.0).abs() < 1e-9 && r.stable());
    }

    #[test]
    fn the_shown_value_steps_not_flickers_and_switches_only_on_agreement() {
        let mut r = Readout::default();
        let w = 1.0 / (0.02 * 0.02);
        for _ in 0..4 {
            r.add(128.0, w);
        }
        // Noise of ±0.05 around the mean never moves the shown value.
        for i in 0..40 {
            r.add(if i % 2 == 0 { 128.05 } else { 127.95 }, w);
            assert_eq!(r.shown(), 128.0);
        }
        // One stray estimate of another tempo changes nothing; six in a row do.
        r.add(140.0, w);
        assert_eq!(r.shown(), 128.0);
        assert!(!r.stable() || r.shown() == 128.0);
        for _ in 0..5 {
            r.add(140.0, w);
        }
        assert!((r.shown() - 140.0).abs() < 1e-9, "{r:?}");
        // A switch to a tempo not yet precise enough keeps the old value on display, unstable.
        for _ in 0..6 {
            r.add(100.0, 4.0);
        }
        assert_eq!(r.shown(), 140.0);
        assert!(!r.stable(), "{r:?}");
    }
}
