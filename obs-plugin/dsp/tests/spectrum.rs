//! Spectrum analyzer: sines land in the right band, levels follow dB settings, smoothing and peaks
//! behave, bad settings are refused.
use deckcast_dsp::spectrum::{Channels, SpectrumAnalyzer, SpectrumConfig, Window};

fn sine(freq: f32, amp: f32, sr: u32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| amp * (std::f32::consts::TAU * freq * i as f32 / sr as f32).sin())
        .collect()
}

fn loudest(levels: &[f32]) -> usize {
    levels
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .unwrap()
}

#[test]
fn sines_land_in_their_band_for_every_window() {
    for window in [Window::Hann, Window::Hamming, Window::BlackmanHarris] {
        let cfg = SpectrumConfig {
            window,
            sample_rate: 48_000,
            bands: 24,
            ..SpectrumConfig::default()
        };
        for freq in [60.0, 250.0, 1000.0, 4000.0, 12000.0] {
            let mut a = SpectrumAnalyzer::new(cfg).unwrap();
            a.push_interleaved(&sine(freq, 0.5, 48_000, 8192), 1);
            let levels: Vec<f32> = a.analyze(1.0).collect();
            let band = loudest(&levels);
            let centre = a.band_centre_hz(band);
            // Bands are 1/3.4 octave wide here: the centre is within half a band of the tone.
            let ratio = (centre / freq).max(freq / centre);
            assert!(
                ratio < 1.2,
                "{window:?} {freq} Hz landed in band {band} centred at {centre} Hz"
            );
            // Far-away bands stay low.
            let far = levels
                .iter()
                .enumerate()
                .filter(|(i, _)| i.abs_diff(band) > 4)
                .map(|(_, l)| *l)
                .fold(0.0, f32::max);
            assert!(
                far < 0.35 * levels[band],
                "{window:?} {freq} Hz leaks: {levels:?}"
            );
        }
    }
}

#[test]
fn levels_map_db_between_floor_and_ceiling() {
    let cfg = SpectrumConfig {
        sample_rate: 48_000,
        floor_db: -60.0,
        ceiling_db: 0.0,
        bands: 16,
        ..SpectrumConfig::default()
    };
    let level_of = |amp: f32| {
        let mut a = SpectrumAnalyzer::new(cfg).unwrap();
        a.push_interleaved(&sine(1000.0, amp, 48_000, 8192), 1);
        let levels: Vec<f32> = a.analyze(1.0).collect();
        levels[loudest(&levels)]
    };
    let full = level_of(1.0);
    let minus30 = level_of(10f32.powf(-30.0 / 20.0));
    assert!((full - 1.0).abs() < 0.05, "0 dBFS sine reads {full}");
    assert!(
        (minus30 - 0.5).abs() < 0.05,
        "-30 dBFS sine reads {minus30}"
    );
    assert!(
        level_of(10f32.powf(-80.0 / 20.0)) == 0.0,
        "below the floor is 0"
    );
}

#[test]
fn silence_rests_at_zero_and_smoothing_rises_and_falls() {
    let cfg = SpectrumConfig {
        sample_rate: 48_000,
        attack_s: 0.05,
        release_s: 0.5,
        ..SpectrumConfig::default()
    };
    let mut a = SpectrumAnalyzer::new(cfg).unwrap();
    assert!(
        a.analyze(1.0 / 60.0).all(|l| l == 0.0),
        "bars rest at zero before audio"
    );
    let tone = sine(1000.0, 0.8, 48_000, 4096);
    a.push_interleaved(&tone, 1);
    let first: Vec<f32> = a.analyze(1.0 / 60.0).collect();
    let b = loudest(&first);
    assert!(
        first[b] > 0.0 && first[b] < 0.5,
        "attack is gradual: {}",
        first[b]
    );
    let mut level = first[b];
    for _ in 0..30 {
        a.push_interleaved(&tone[..800], 1);
        level = a.analyze(1.0 / 60.0).nth(b).unwrap();
    }
    assert!(level > 0.8, "reaches the tone's level: {level}");
    let peak_before = a.peaks().nth(b).unwrap();
    a.push_interleaved(&vec![0.0; 4096], 1);
    let after = a.analyze(1.0 / 60.0).nth(b).unwrap();
    assert!(
        after < level && after > 0.5 * level,
        "release is gradual: {after} from {level}"
    );
    assert!(
        (a.peaks().nth(b).unwrap() - peak_before).abs() < 1e-6,
        "peak holds"
    );
}

#[test]
fn stereo_keeps_channels_apart() {
    let cfg = SpectrumConfig {
        sample_rate: 48_000,
        channels: Channels::Stereo,
        bands: 16,
        ..SpectrumConfig::default()
    };
    let mut a = SpectrumAnalyzer::new(cfg).unwrap();
    let left = sine(200.0, 0.8, 48_000, 8192);
    let right = sine(5000.0, 0.8, 48_000, 8192);
    a.push_planar(&[&left, &right]);
    let levels: Vec<f32> = a.analyze(1.0).collect();
    let (l, r) = levels.split_at(16);
    assert!(a.band_centre_hz(loudest(l)) < 400.0);
    assert!(a.band_centre_hz(loudest(r)) > 3000.0);
}

#[test]
fn bad_settings_are_refused() {
    for cfg in [
        SpectrumConfig {
            fft_size: 1000,
            ..SpectrumConfig::default()
        },
        SpectrumConfig {
            fft_size: 128,
            ..SpectrumConfig::default()
        },
        SpectrumConfig {
            bands: 0,
            ..SpectrumConfig::default()
        },
        SpectrumConfig {
            min_hz: 500.0,
            max_hz: 100.0,
            ..SpectrumConfig::default()
        },
        SpectrumConfig {
            floor_db: 0.0,
            ceiling_db: -10.0,
            ..SpectrumConfig::default()
        },
    ] {
        assert!(SpectrumAnalyzer::new(cfg).is_err(), "{cfg:?}");
    }
}
