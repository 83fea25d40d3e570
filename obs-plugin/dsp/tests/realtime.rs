//! The audio-thread entry points allocate nothing once built (counted by a global allocator that
//! this test binary installs through the allocation-counter crate).
mod signals;

use deckcast_dsp::spectrum::{SpectrumAnalyzer, SpectrumConfig};
use deckcast_dsp::tempo::{TempoConfig, TempoTracker};
use signals::{Pattern, Track};

#[test]
fn the_counter_sees_allocations() {
    let info = allocation_counter::measure(|| {
        std::hint::black_box(vec![1u8; 64]);
    });
    assert!(info.count_total >= 1, "{info:?}");
}

#[test]
fn process_and_analyze_allocate_nothing() {
    let audio = Track::new(48_000, Pattern::House, 128.0).render(8.0);
    let stereo: Vec<f32> = audio.iter().flat_map(|s| [*s, *s]).collect();
    let mut tempo = TempoTracker::new(TempoConfig::default()).unwrap();
    let mut spectrum = SpectrumAnalyzer::new(SpectrumConfig::default()).unwrap();
    // Warm up (first beats and estimates happen inside the measured loop too).
    tempo.process(&audio[..48_000]);
    let info = allocation_counter::measure(|| {
        for block in stereo[96_000..].chunks(2048) {
            tempo.process_interleaved(block, 2);
            spectrum.push_interleaved(block, 2);
            let sum: f32 = spectrum.analyze(1.0 / 60.0).sum();
            std::hint::black_box(sum);
        }
        let (l, r) = audio.split_at(audio.len() / 2);
        tempo.process_planar(&[&l[..1024], &r[..1024]]);
        spectrum.push_planar(&[&l[..1024], &r[..1024]]);
    });
    assert_eq!(
        info.count_total, 0,
        "the real-time path allocated: {info:?}"
    );
    assert!(
        tempo.reading().bpm > 0.0,
        "and it did real work: {:?}",
        tempo.reading()
    );
}
