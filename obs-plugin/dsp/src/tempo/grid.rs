//! Beat grids against onsets: how well a tempo explains the onsets of a window (the share of
//! onset weight on its grid × the share of its grid points with an onset), the precise tempo by
//! least squares through the onsets on it, and the two metrical tests that pick the slower of
//! two octaves (a one-drop, four on the floor). Plain arithmetic on fixed-size arrays, for the
//! audio thread.
use super::onsets::{ONSETS, Ring};

/// An onset this close to a grid point (seconds) is on the grid: 25 ms up to 144 BPM (a
/// tolerance that grew with slower periods would favour slow grids), 6 % of the period above, and
/// never under 15 ms.
pub(super) const GRID_TOL_S: f64 = 0.025;
/// Onsets at least this share of the window's strongest count for a grid's recall.
const STRONG: f64 = 0.1;
/// Onsets of at least this share of the strongest may anchor a grid's phase…
const ANCHOR: f64 = 0.5;
/// …the most recent this many of them.
const ANCHORS: usize = 12;
/// Onsets of at least this share of the strongest make the least-squares fit: the accents
/// (kicks and snares peak later than hats, and a mix of both that changed along the window
/// would tilt the line).
const FIT_SHARE: f64 = 0.25;
/// An onset this far (seconds) from the first line through the grid's onsets is left out of the
/// second.
const OUTLIER_S: f64 = 0.006;
/// The one-drop measure is at most this (a window with nothing between its accents must not
/// hold the running mean up for a minute).
const DROP_CAP: f64 = 3.0;
/// The one-drop test looks this far back (three bars of four at 70 BPM).
const ACCENT_WINDOW_S: f64 = 12.0;

/// How well a beat grid explains the onsets, and the tempo it gives.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fit {
    /// 0–1: share of onset weight on the grid × share of grid points with an onset.
    pub(super) score: f64,
    /// Tempo from a least-squares line through the onsets on the grid (BPM).
    pub(super) bpm: f64,
    /// Its standard error (BPM).
    pub(super) sigma: f64,
}

/// Beats of a bar: onsets on the same beat of the bar share an offset in the fit (when there
/// are enough points for four offsets; one otherwise).
const CLASSES: usize = 4;

/// A fit needs this many points (fewer, over the first seconds, are tilted by whichever beats
/// of the bar they happen to hold).
const MIN_POINTS: usize = 4;

/// How many beat classes a fit of `n` points can afford.
fn classes_for(n: usize) -> i64 {
    if n < 3 * CLASSES { 1 } else { CLASSES as i64 }
}

/// Least-squares slope of (beat index, time) pairs (seconds per beat) and its standard error,
/// with one intercept per beat of the bar ([`classes_for`]): a kick with a clap peaks a few
/// milliseconds earlier than a kick alone, and a short window with more of one than the other
/// would otherwise tilt the line.
fn lsq_period(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len();
    if n < MIN_POINTS {
        return None;
    }
    let k = classes_for(n);
    let class = |x: f64| (x as i64).rem_euclid(k) as usize;
    let mut count = [0.0f64; CLASSES];
    let mut sum = [(0.0f64, 0.0f64); CLASSES];
    for (x, y) in points {
        let c = class(*x);
        count[c] += 1.0;
        sum[c].0 += x;
        sum[c].1 += y;
    }
    let mean = |c: usize| (sum[c].0 / count[c], sum[c].1 / count[c]);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (x, y) in points {
        let (mx, my) = mean(class(*x));
        sxx += (x - mx) * (x - mx);
        sxy += (x - mx) * (y - my);
    }
    let classes = count.iter().filter(|c| **c > 0.0).count();
    let dof = n as f64 - 1.0 - classes as f64;
    if sxx <= 0.0 || dof < 1.0 {
        return None;
    }
    let slope = sxy / sxx;
    let residual: f64 = points
        .iter()
        .map(|(x, y)| {
            let (mx, my) = mean(class(*x));
            let r = y - my - slope * (x - mx);
            r * r
        })
        .sum();
    Some((slope, (residual / dof / sxx).sqrt()))
}

/// Fits the grid of `bpm` to the newest `n` onsets (best phase: through one of the recent
/// accents); `None` for fewer than two onsets.
pub(super) fn score(on: &Ring, n: usize, bpm: f64) -> Option<Fit> {
    if n < 2 {
        return None;
    }
    let period = 60.0 / bpm;
    let tol = (0.06 * period).clamp(0.015, GRID_TOL_S);
    let total_w: f64 = (0..n).map(|i| on.weight(i)).sum();
    let max_w = (0..n).map(|i| on.weight(i)).fold(0.0, f64::max);
    let on_grid = |i: usize, anchor: f64| {
        let x = (on.recent(i) - anchor) / period;
        (x - x.round()).abs() * period <= tol
    };
    let (mut best_w, mut anchor) = (0.0, 0.0);
    for a in (0..n)
        .filter(|&a| on.weight(a) >= ANCHOR * max_w)
        .take(ANCHORS)
    {
        let t = on.recent(a);
        let w: f64 = (0..n)
            .filter(|&i| on_grid(i, t))
            .map(|i| on.weight(i))
            .sum();
        if w > best_w {
            best_w = w;
            anchor = t;
        }
    }
    let first_beat = ((on.recent(n - 1) - anchor) / period).round();
    let last_beat = ((on.recent(0) - anchor) / period).round();
    let grid_points = ((last_beat - first_beat) as usize + 1).max(1);
    let mut hit = [false; ONSETS];
    let mut pts = [(0.0f64, 0.0f64); ONSETS];
    let mut m = 0;
    for i in 0..n {
        if !on_grid(i, anchor) {
            continue;
        }
        let x = ((on.recent(i) - anchor) / period).round();
        if on.weight(i) >= FIT_SHARE * max_w {
            pts[m] = (x, on.recent(i));
            m += 1;
        }
        let slot = (x - first_beat) as usize;
        if on.weight(i) >= STRONG * max_w && slot < ONSETS {
            hit[slot] = true;
        }
    }
    let hits = hit[..grid_points.min(ONSETS)]
        .iter()
        .filter(|h| **h)
        .count();
    let precision = best_w / total_w.max(1e-12);
    let recall = (hits as f64 / grid_points as f64).min(1.0);
    let m = without_outliers(&mut pts[..m]);
    let (bpm, sigma) = lsq_period(&pts[..m])
        .filter(|(p, _)| *p > 0.0)
        .map_or((bpm, f64::INFINITY), |(p, se)| {
            (60.0 / p, 60.0 * se / (p * p))
        });
    Some(Fit {
        score: precision * recall,
        bpm,
        sigma,
    })
}

/// Moves the points near the least-squares line to the front (a roll or a flam next to the beat
/// is left out) and returns how many; all of them when too few would be left.
fn without_outliers(pts: &mut [(f64, f64)]) -> usize {
    let m = pts.len();
    let Some((p, se)) = lsq_period(pts) else {
        return m;
    };
    // Residuals from the line through each beat class's mean.
    let k = classes_for(m);
    let class = |x: f64| (x as i64).rem_euclid(k) as usize;
    let mut count = [0.0f64; CLASSES];
    let mut offset = [0.0f64; CLASSES];
    for (x, y) in pts.iter() {
        count[class(*x)] += 1.0;
        offset[class(*x)] += y - p * x;
    }
    // The slope's standard error back to the residuals' spread: se = sd / sqrt(sxx).
    let sxx: f64 = {
        let mx = pts.iter().map(|(x, _)| x).sum::<f64>() / m as f64;
        pts.iter().map(|(x, _)| (x - mx) * (x - mx)).sum()
    };
    let limit = (3.0 * se * sxx.sqrt()).max(OUTLIER_S);
    let mut kept = 0;
    for i in 0..m {
        let (x, y) = pts[i];
        let c = class(x);
        if (y - p * x - offset[c] / count[c]).abs() <= limit {
            pts[kept] = pts[i];
            kept += 1;
        }
    }
    if kept >= MIN_POINTS { kept } else { m }
}

/// [`score`] of the best tempo within ±2 % of `bpm` (a grid that is 1 % off drifts out of a 6 s
/// window).
pub(super) fn score_near(on: &Ring, n: usize, bpm: f64) -> Option<Fit> {
    let mut best: Option<Fit> = None;
    for k in -5..=5 {
        if let Some(fit) = score(on, n, bpm * (1.0 + 0.004 * f64::from(k)))
            && best.is_none_or(|b| fit.score > b.score)
        {
            best = Some(fit);
        }
    }
    best
}

/// The one-drop measure of the last [`ACCENT_WINDOW_S`]: the onsets on the grid of `bpm` summed
/// by their beat modulo 8, counted from the strongest onset; the sum on that onset's beat against
/// the largest of the other seven, at most [`DROP_CAP`]. High for a one-drop (reggae: the drop
/// on beat 3 of every bar of four at half `bpm`, the skank on every off-beat); `None` before two
/// bars.
pub(super) fn drop_ratio(on: &Ring, now: f64, bpm: f64) -> Option<f64> {
    let n = on.within(now, ACCENT_WINDOW_S);
    if n < 8 {
        return None;
    }
    let period = 60.0 / bpm;
    let strongest = (0..n).max_by(|&i, &j| on.weight(i).total_cmp(&on.weight(j)))?;
    let t0 = on.recent(strongest);
    let mut slots = [0.0f64; 8];
    let mut drops = 0;
    for i in 0..n {
        let x = (on.recent(i) - t0) / period;
        if (x - x.round()).abs() * period > GRID_TOL_S {
            continue;
        }
        let slot = (x.round() as i64).rem_euclid(8) as usize;
        slots[slot] += on.weight(i);
        drops += usize::from(slot == 0);
    }
    let others = slots[1..].iter().fold(0.0, |a: f64, b| a.max(*b));
    (drops >= 2).then(|| (slots[0] / others.max(1e-9)).min(DROP_CAP))
}

/// Whether the `kicks` of the last `window_s` fall on every other beat of `bpm` and only there:
/// a kick on every beat of half `bpm` with the hats between (house at 90, not 180).
pub(super) fn four_on_the_floor(kicks: &Ring, now: f64, window_s: f64, bpm: f64) -> bool {
    let n = kicks.within(now, window_s);
    if n < 6 {
        return false;
    }
    let beat = 120.0 / bpm;
    let anchor = kicks.recent(0);
    let (mut on, mut between) = (0usize, 0usize);
    for i in 0..n {
        let x = (anchor - kicks.recent(i)) / beat;
        let off = (x - x.round()).abs() * beat;
        if off <= GRID_TOL_S {
            on += 1;
        } else if (off - beat / 2.0).abs() <= GRID_TOL_S {
            between += 1;
        }
    }
    let beats = ((anchor - kicks.recent(n - 1)) / beat).round();
    between == 0 && on as f64 >= 0.7 * n as f64 && on as f64 >= 0.6 * beats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(times: impl IntoIterator<Item = (f64, f64)>) -> (Ring, usize) {
        let mut r = Ring::new();
        let mut n = 0;
        for (t, w) in times {
            r.push(t, w);
            n += 1;
        }
        (r, n)
    }

    #[test]
    fn the_right_grid_scores_best_and_the_fit_is_exact() {
        // 128 BPM beats with off-beat hats at a third of the weight.
        let p = 60.0 / 128.0;
        let (r, n) = ring((0..24).flat_map(|i| {
            let t = 1.0 + f64::from(i) * p;
            [(t, 3.0), (t + p / 2.0, 1.0)]
        }));
        let right = score(&r, n, 128.0).unwrap();
        assert!(
            (right.bpm - 128.0).abs() < 1e-6 && right.sigma < 1e-3,
            "{right:?}"
        );
        for wrong in [96.0, 85.33, 170.67] {
            assert!(score(&r, n, wrong).unwrap().score < right.score, "{wrong}");
        }
        // The near search finds the grid from 1 % off.
        let near = score_near(&r, n, 129.3).unwrap();
        assert!((near.bpm - 128.0).abs() < 1e-6, "{near:?}");
    }

    #[test]
    fn a_one_drop_stands_out_and_a_backbeat_does_not() {
        // At 140 (fast) counting: one heavy hit every 8 beats, skanks on the rest.
        let p = 60.0 / 140.0;
        let (drop, _) =
            ring((0..40).map(|i| (f64::from(i) * p, if i % 8 == 2 { 20.0 } else { 8.0 })));
        let ratio = drop_ratio(&drop, 40.0 * p, 140.0).unwrap();
        assert!(ratio > 1.6, "{ratio}");
        // Kick and snare alternating: no beat of eight stands out.
        let (rock, _) =
            ring((0..40).map(|i| (f64::from(i) * p, if i % 2 == 0 { 20.0 } else { 18.0 })));
        let ratio = drop_ratio(&rock, 40.0 * p, 140.0).unwrap();
        assert!(ratio < 1.2, "{ratio}");
    }

    #[test]
    fn kicks_on_every_other_beat_only_are_four_on_the_floor_at_half_tempo() {
        let p = 60.0 / 90.0;
        let (k, _) = ring((0..12).map(|i| (f64::from(i) * p, 1.0)));
        assert!(four_on_the_floor(&k, 12.0 * p, 6.0, 180.0));
        // Kicks between them too (a kick every beat at 180): not.
        let (k, _) = ring((0..24).map(|i| (f64::from(i) * p / 2.0, 1.0)));
        assert!(!four_on_the_floor(&k, 12.0 * p, 6.0, 180.0));
    }
}
