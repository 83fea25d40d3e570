//! Tempo tracker accuracy on synthetic material: the right tempo within ±0.5 BPM within 5 s of the
//! beat starting, no octave or ⅔ errors, tempo changes followed, silence held.
mod signals;

use deckcast_dsp::tempo::{Correction, TempoConfig, TempoReading, TempoTracker};
use signals::{Pattern, Track};

/// Runs the tracker over `audio` in 1024-sample blocks; returns (time, reading) after each block.
fn run(sr: u32, audio: &[f32]) -> Vec<(f64, TempoReading)> {
    let mut tr = TempoTracker::new(TempoConfig {
        sample_rate: sr,
        ..TempoConfig::default()
    })
    .unwrap();
    let mut out = Vec::new();
    for (i, block) in audio.chunks(1024).enumerate() {
        tr.process(block);
        out.push((((i + 1) * 1024) as f64 / f64::from(sr), tr.reading()));
    }
    out
}

fn at(readings: &[(f64, TempoReading)], t: f64) -> TempoReading {
    readings
        .iter()
        .rfind(|(rt, _)| *rt <= t)
        .map(|(_, r)| *r)
        .unwrap_or_default()
}

/// Asserts the reading is within ±0.5 of `bpm` from `lead_in + 5 s` until `until`.
fn assert_locks(pattern: Pattern, bpm: f64, sr: u32) {
    let track = Track::new(sr, pattern, bpm);
    let audio = track.render(20.0);
    let r = run(sr, &audio);
    let from = track.lead_in + 5.0;
    for (t, reading) in r.iter().filter(|(t, _)| *t >= from) {
        assert!(
            (reading.bpm - bpm).abs() <= 0.5,
            "{pattern:?} {bpm} BPM @ {sr} Hz: read {:.2} at {t:.1} s (raw {:.2}, confidence {:.2})",
            reading.bpm,
            reading.raw_bpm,
            reading.confidence
        );
    }
    let end = at(&r, 19.9);
    assert!(end.stable && end.active, "{pattern:?} {bpm}: {end:?}");
}

#[test]
fn kicks_lock_within_five_seconds_at_44k() {
    for bpm in [90.0, 128.0, 140.0, 174.0] {
        assert_locks(Pattern::Kick, bpm, 44_100);
    }
}

#[test]
fn kicks_lock_within_five_seconds_at_48k() {
    for bpm in [90.0, 128.0, 140.0, 174.0] {
        assert_locks(Pattern::Kick, bpm, 48_000);
    }
}

#[test]
fn house_patterns_have_no_octave_or_two_thirds_errors() {
    for sr in [44_100, 48_000] {
        for bpm in [90.0, 128.0, 140.0, 174.0] {
            assert_locks(Pattern::House, bpm, sr);
        }
    }
}

#[test]
fn clicks_lock_too() {
    for bpm in [90.0, 128.0, 140.0, 174.0] {
        assert_locks(Pattern::Click, bpm, 48_000);
    }
}

#[test]
fn a_tempo_change_is_followed() {
    let sr = 48_000;
    let track = Track {
        change: Some((12.0, 140.0)),
        ..Track::new(sr, Pattern::House, 128.0)
    };
    let r = run(sr, &track.render(30.0));
    let before = at(&r, 11.5);
    assert!((before.bpm - 128.0).abs() <= 0.5, "{before:?}");
    let after = at(&r, 29.5);
    assert!((after.bpm - 140.0).abs() <= 0.5, "{after:?}");
    // It switches within 10 s of the change.
    let switched = r
        .iter()
        .find(|(t, x)| *t > 12.0 && (x.bpm - 140.0).abs() <= 0.5)
        .map(|(t, _)| *t);
    assert!(
        switched.is_some_and(|t| t < 22.0),
        "switched at {switched:?}"
    );
}

#[test]
fn silence_and_breakdowns_hold_the_last_value() {
    let sr = 44_100;
    let track = Track {
        silence: Some((12.0, 24.0)),
        ..Track::new(sr, Pattern::House, 128.0)
    };
    let r = run(sr, &track.render(24.0));
    for t in [13.0, 16.0, 20.0, 23.5] {
        let x = at(&r, t);
        assert!((x.bpm - 128.0).abs() <= 0.5, "at {t} s: {x:?}");
    }
    assert!(!at(&r, 20.0).active, "no beats in silence");
}

#[test]
fn nothing_is_reported_before_the_beat_starts() {
    let sr = 48_000;
    let track = Track {
        lead_in: 8.0,
        ..Track::new(sr, Pattern::Kick, 128.0)
    };
    let r = run(sr, &track.render(8.0));
    assert!(r.iter().all(|(_, x)| x.bpm == 0.0), "{:?}", r.last());
}

#[test]
fn range_and_corrections_apply() {
    let sr = 48_000;
    let audio = Track::new(sr, Pattern::Kick, 174.0).render(12.0);
    for (min, max, correction, expect) in [
        (70.0, 180.0, Correction::None, 174.0),
        (60.0, 120.0, Correction::None, 87.0),
        (70.0, 180.0, Correction::Half, 87.0),
        (70.0, 180.0, Correction::TwoThirds, 116.0),
    ] {
        let mut tr = TempoTracker::new(TempoConfig {
            sample_rate: sr,
            min_bpm: min,
            max_bpm: max,
            correction,
        })
        .unwrap();
        tr.process(&audio);
        let x = tr.reading();
        assert!(
            (x.bpm - expect).abs() <= 0.5,
            "{min}-{max} {correction:?}: {x:?}"
        );
    }
}

#[test]
fn bad_configurations_are_refused() {
    assert!(
        TempoTracker::new(TempoConfig {
            sample_rate: 0,
            ..TempoConfig::default()
        })
        .is_err()
    );
    assert!(
        TempoTracker::new(TempoConfig {
            min_bpm: 100.0,
            max_bpm: 150.0,
            ..TempoConfig::default()
        })
        .is_err()
    );
}

#[test]
fn high_sample_rates_lock_with_the_right_octave() {
    // The analysis frame grows with the rate, so the kick band keeps its bins (four on the floor
    // takes 90 over 180 through them).
    for sr in [96_000, 192_000] {
        for bpm in [90.0, 128.0] {
            assert_locks(Pattern::House, bpm, sr);
        }
    }
}

#[test]
fn garbage_samples_do_not_deafen_it() {
    let sr = 48_000;
    let mut tr = TempoTracker::new(TempoConfig {
        sample_rate: sr,
        ..TempoConfig::default()
    })
    .unwrap();
    // A broken source's buffer: huge finite values, NaN, infinities.
    let garbage: Vec<f32> = (0..4096)
        .map(|i| match i % 4 {
            0 => 1e30,
            1 => -3e38,
            2 => f32::NAN,
            _ => f32::INFINITY,
        })
        .collect();
    tr.process(&garbage);
    tr.process(&Track::new(sr, Pattern::House, 128.0).render(20.0));
    let r = tr.reading();
    assert!((r.bpm - 128.0).abs() <= 0.5 && r.stable, "{r:?}");
}

#[test]
fn after_a_reset_it_starts_over_and_locks_again() {
    let sr = 48_000;
    let mut tr = TempoTracker::new(TempoConfig {
        sample_rate: sr,
        ..TempoConfig::default()
    })
    .unwrap();
    tr.process(&Track::new(sr, Pattern::House, 128.0).render(12.0));
    assert!((tr.reading().bpm - 128.0).abs() <= 0.5);
    tr.reset();
    assert_eq!(tr.reading().bpm, 0.0);
    tr.process(&Track::new(sr, Pattern::Kick, 140.0).render(12.0));
    let r = tr.reading();
    assert!((r.bpm - 140.0).abs() <= 0.5 && r.stable, "{r:?}");
}
