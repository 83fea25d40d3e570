//! Geometry of the "Deckcast Visualizer": spectrum levels (0–1) to triangles, for one batched draw.
//! The source itself is [`source::Visualizer`].
//!
//! Runs on the graphics thread every frame into a vertex array sized once per style change
//! ([`vertex_count`]); [`fill`] allocates nothing.

pub mod source;

/// Drawing mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Bars rising from the bottom.
    #[default]
    Bars,
    /// Bars growing up and down from the middle.
    Mirrored,
    /// A line through the band levels.
    Line,
    /// Bars pointing outwards around a circle.
    Radial,
}

impl Mode {
    /// From the settings string.
    pub fn parse(s: &str) -> Mode {
        match s {
            "mirrored" => Mode::Mirrored,
            "line" => Mode::Line,
            "radial" => Mode::Radial,
            _ => Mode::Bars,
        }
    }
}

/// Layout settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    /// Mode.
    pub mode: Mode,
    /// Number of bars / points.
    pub bars: usize,
    /// Gap between bars as a fraction of a bar slot (0–0.9).
    pub gap: f32,
    /// Source width (px).
    pub width: f32,
    /// Source height (px).
    pub height: f32,
    /// Line thickness for [`Mode::Line`] (px).
    pub line_width: f32,
    /// Round the ends of bars (bars and mirrored modes).
    pub rounded: bool,
}

/// Triangles in one rounded cap (a half disc).
pub const CAP_TRIANGLES: usize = 6;

fn caps_per_bar(style: &Style) -> usize {
    match (style.rounded, style.mode) {
        (true, Mode::Bars) => 1,
        (true, Mode::Mirrored) => 2,
        _ => 0,
    }
}

/// Vertices (3 per triangle, 2 triangles per quad, [`CAP_TRIANGLES`] per rounded cap) for `style`.
pub fn vertex_count(style: &Style) -> usize {
    match style.mode {
        Mode::Line => style.bars.saturating_sub(1) * 6,
        _ => style.bars * (6 + caps_per_bar(style) * CAP_TRIANGLES * 3),
    }
}

/// A half disc of radius `r` centred at `c`, bulging up (`dir` = -1) or down (`dir` = 1), as
/// [`CAP_TRIANGLES`] triangles written at `out[at..]`.
fn cap(out: &mut [[f32; 2]], at: usize, c: [f32; 2], r: f32, dir: f32) {
    for k in 0..CAP_TRIANGLES {
        let a0 = std::f32::consts::PI * k as f32 / CAP_TRIANGLES as f32;
        let a1 = std::f32::consts::PI * (k + 1) as f32 / CAP_TRIANGLES as f32;
        let p = |a: f32| [c[0] - r * a.cos(), c[1] + dir * r * a.sin()];
        out[at + k * 3..at + k * 3 + 3].copy_from_slice(&[c, p(a0), p(a1)]);
    }
}

fn quad(out: &mut [[f32; 2]], i: usize, a: [f32; 2], b: [f32; 2], c: [f32; 2], d: [f32; 2]) {
    // a-b-c and a-c-d (a, b, c, d in order around the quad).
    out[i * 6..i * 6 + 6].copy_from_slice(&[a, b, c, a, c, d]);
}

/// Writes the triangles for `levels` (one per bar, 0–1; missing ones count as 0) into `out`, which
/// must hold [`vertex_count`] vertices. Zero levels give zero-height (invisible) bars.
pub fn fill(style: &Style, levels: &[f32], out: &mut [[f32; 2]]) {
    let n = style.bars.max(1);
    let (w, h) = (style.width.max(1.0), style.height.max(1.0));
    let level = |i: usize| levels.get(i).copied().unwrap_or(0.0).clamp(0.0, 1.0);
    let slot = w / n as f32;
    let bar = slot * (1.0 - style.gap.clamp(0.0, 0.9));
    match style.mode {
        Mode::Bars | Mode::Mirrored => {
            let caps = caps_per_bar(style);
            let per_bar = 6 + caps * CAP_TRIANGLES * 3;
            for i in 0..n.min(out.len() / per_bar) {
                let x0 = i as f32 * slot + (slot - bar) / 2.0;
                let x1 = x0 + bar;
                let (mut top, mut bottom) = if style.mode == Mode::Bars {
                    (h - level(i) * h, h)
                } else {
                    (h / 2.0 - level(i) * h / 2.0, h / 2.0 + level(i) * h / 2.0)
                };
                let base = i * per_bar;
                // Rounded ends replace the quad's ends, so the bar keeps its total height.
                let r = if caps > 0 {
                    (bar / 2.0).min((bottom - top) / caps as f32)
                } else {
                    0.0
                };
                if caps > 0 {
                    top += r;
                    cap(out, base + 6, [(x0 + x1) / 2.0, top], r, -1.0);
                    if caps == 2 {
                        bottom -= r;
                        cap(
                            out,
                            base + 6 + CAP_TRIANGLES * 3,
                            [(x0 + x1) / 2.0, bottom],
                            r,
                            1.0,
                        );
                    }
                }
                out[base..base + 6].copy_from_slice(&[
                    [x0, top],
                    [x1, top],
                    [x1, bottom],
                    [x0, top],
                    [x1, bottom],
                    [x0, bottom],
                ]);
            }
        }
        Mode::Line => {
            let half = style.line_width.max(1.0) / 2.0;
            let point = |i: usize| {
                [
                    (i as f32 + 0.5) * slot,
                    h - level(i) * (h - 2.0 * half) - half,
                ]
            };
            for i in 0..(n - 1).min(out.len() / 6) {
                let (p, q) = (point(i), point(i + 1));
                quad(
                    out,
                    i,
                    [p[0], p[1] - half],
                    [q[0], q[1] - half],
                    [q[0], q[1] + half],
                    [p[0], p[1] + half],
                );
            }
        }
        Mode::Radial => {
            let (cx, cy) = (w / 2.0, h / 2.0);
            let r0 = w.min(h) * 0.2;
            let span = w.min(h) / 2.0 - r0;
            let step = std::f32::consts::TAU / n as f32;
            let half = step * (1.0 - style.gap.clamp(0.0, 0.9)) / 2.0;
            for i in 0..n.min(out.len() / 6) {
                let a = i as f32 * step - std::f32::consts::FRAC_PI_2;
                let r1 = r0 + level(i) * span;
                let at = |r: f32, ang: f32| [cx + r * ang.cos(), cy + r * ang.sin()];
                quad(
                    out,
                    i,
                    at(r0, a - half),
                    at(r0, a + half),
                    at(r1, a + half),
                    at(r1, a - half),
                );
            }
        }
    }
}

/// Where a colour gradient runs for a style: a point `p` gets the colour
/// `mix(low, high, gradient_at(axis, p))`. The GPU evaluates the same formula per pixel
/// (`data/effects/visualizer.effect`), so this is what the unit tests check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradientAxis {
    /// The point where the gradient starts (the zero level).
    pub origin: [f32; 2],
    /// Per-axis scale from pixels to gradient units.
    pub scale: [f32; 2],
    /// Gradient units below this are the low colour (the inner radius in radial mode).
    pub start: f32,
}

/// The gradient axis that follows the level direction of `style`: bottom to top for bars and
/// lines, centre outwards for mirrored bars, inner ring outwards for radial.
pub fn gradient_axis(style: &Style) -> GradientAxis {
    let (w, h) = (style.width.max(1.0), style.height.max(1.0));
    match style.mode {
        Mode::Bars | Mode::Line => GradientAxis {
            origin: [0.0, h],
            scale: [0.0, 1.0 / h],
            start: 0.0,
        },
        Mode::Mirrored => GradientAxis {
            origin: [0.0, h / 2.0],
            scale: [0.0, 2.0 / h],
            start: 0.0,
        },
        Mode::Radial => {
            // Matches `fill`: bars run from 0.2·min(w, h) to 0.5·min(w, h).
            let outer = w.min(h) / 2.0;
            GradientAxis {
                origin: [w / 2.0, h / 2.0],
                scale: [1.0 / outer, 1.0 / outer],
                start: 0.4,
            }
        }
    }
}

/// The gradient position (0 = low colour, 1 = high colour) at pixel `p`.
pub fn gradient_at(axis: &GradientAxis, p: [f32; 2]) -> f32 {
    let d = [
        (p[0] - axis.origin[0]) * axis.scale[0],
        (p[1] - axis.origin[1]) * axis.scale[1],
    ];
    let r = (d[0] * d[0] + d[1] * d[1]).sqrt();
    ((r - axis.start) / (1.0 - axis.start)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style(mode: Mode) -> Style {
        Style {
            mode,
            bars: 8,
            gap: 0.25,
            width: 800.0,
            height: 200.0,
            line_width: 4.0,
            rounded: false,
        }
    }

    fn area(v: &[[f32; 2]]) -> f32 {
        v.chunks(3)
            .map(|t| {
                ((t[1][0] - t[0][0]) * (t[2][1] - t[0][1])
                    - (t[2][0] - t[0][0]) * (t[1][1] - t[0][1]))
                    .abs()
                    / 2.0
            })
            .sum()
    }

    #[test]
    fn bars_rest_at_zero_and_grow_with_levels() {
        for mode in [Mode::Bars, Mode::Mirrored, Mode::Radial] {
            let s = style(mode);
            let mut v = vec![[0.0; 2]; vertex_count(&s)];
            fill(&s, &[], &mut v);
            assert!(area(&v) < 1e-3, "{mode:?}: silence draws nothing");
            fill(&s, &[1.0; 8], &mut v);
            let full = area(&v);
            fill(&s, &[0.5; 8], &mut v);
            let half = area(&v);
            assert!(
                full > 0.0 && half > 0.3 * full && half < 0.9 * full,
                "{mode:?}: {half} vs {full}"
            );
        }
    }

    #[test]
    fn bars_stay_inside_the_source_and_respect_gaps() {
        let s = style(Mode::Bars);
        let mut v = vec![[0.0; 2]; vertex_count(&s)];
        fill(&s, &[1.0; 8], &mut v);
        assert!(
            v.iter()
                .all(|p| p[0] >= 0.0 && p[0] <= 800.0 && p[1] >= 0.0 && p[1] <= 200.0)
        );
        // 8 full bars of 75 % of a 100 px slot: 8 × 75 × 200 px².
        assert!((area(&v) - 8.0 * 75.0 * 200.0).abs() < 1.0, "{}", area(&v));
    }

    #[test]
    fn rounded_bars_keep_their_height_and_stay_flat_in_silence() {
        for mode in [Mode::Bars, Mode::Mirrored] {
            let s = Style {
                rounded: true,
                ..style(mode)
            };
            assert!(vertex_count(&s) > vertex_count(&style(mode)));
            let mut v = vec![[0.0; 2]; vertex_count(&s)];
            fill(&s, &[], &mut v);
            assert!(area(&v) < 1e-3, "{mode:?}: rounded silence draws nothing");
            fill(&s, &[1.0; 8], &mut v);
            let top = v.iter().map(|p| p[1]).fold(f32::MAX, f32::min);
            let bottom = v.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
            assert!(
                top > -0.5 && top < 1.0 && bottom > 199.0 && bottom < 200.5,
                "{mode:?}: {top}..{bottom}"
            );
            // Rounding removes only the corners: the area is a little below the square bars'.
            let square = {
                let q = style(mode);
                let mut w = vec![[0.0; 2]; vertex_count(&q)];
                fill(&q, &[1.0; 8], &mut w);
                area(&w)
            };
            let a = area(&v);
            assert!(a < square && a > 0.9 * square, "{mode:?}: {a} vs {square}");
        }
    }

    #[test]
    fn line_has_one_segment_less_than_points() {
        let s = style(Mode::Line);
        assert_eq!(vertex_count(&s), 7 * 6);
        let mut v = vec![[0.0; 2]; vertex_count(&s)];
        fill(&s, &[0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0], &mut v);
        assert!(area(&v) > 0.0, "a line is visible even at rest");
        assert!(v.iter().all(|p| p[1] >= 0.0 && p[1] <= 200.0));
        assert_eq!(Mode::parse("radial"), Mode::Radial);
        assert_eq!(Mode::parse("nonsense"), Mode::Bars);
    }
    #[test]
    fn gradients_run_from_the_zero_level_to_the_full_level() {
        for mode in [Mode::Bars, Mode::Mirrored, Mode::Line, Mode::Radial] {
            let s = style(mode);
            let axis = gradient_axis(&s);
            let mut rest = vec![[0.0; 2]; vertex_count(&s)];
            let mut full = rest.clone();
            fill(&s, &[0.0; 8], &mut rest);
            fill(&s, &[1.0; 8], &mut full);
            // Every vertex at rest is at (or, for the line's thickness, near) the low colour...
            let max_rest = rest
                .iter()
                .map(|&p| gradient_at(&axis, p))
                .fold(0.0, f32::max);
            assert!(max_rest < 0.05, "{mode:?}: resting bars at {max_rest}");
            // ...and full bars reach the high colour.
            let max_full = full
                .iter()
                .map(|&p| gradient_at(&axis, p))
                .fold(0.0, f32::max);
            assert!(max_full > 0.95, "{mode:?}: full bars reach only {max_full}");
        }
        // Half way up a bar is half way along the gradient.
        let axis = gradient_axis(&style(Mode::Bars));
        assert!((gradient_at(&axis, [123.0, 100.0]) - 0.5).abs() < 1e-6);
        let axis = gradient_axis(&style(Mode::Mirrored));
        assert!((gradient_at(&axis, [5.0, 50.0]) - 0.5).abs() < 1e-6);
        assert!((gradient_at(&axis, [5.0, 150.0]) - 0.5).abs() < 1e-6);
    }
}
