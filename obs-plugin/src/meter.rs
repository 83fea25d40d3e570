//! The audio meter behind `SetAudioMeter` / `GetAudioLevels`: peak, RMS and clipped frames of what
//! the stream hears, in 100 ms blocks ([`BLOCK_MS`]), so the companion can raise dead-air and
//! clipping alerts.
//!
//! Threads: [`Meter::audio`] runs on libobs' audio thread. It allocates nothing and never blocks:
//! the running block sits behind a `try_lock` (only the audio thread takes it; a contended call,
//! possible only while the meter switches sources, is skipped) and finished blocks go into a ring of
//! atomics, each slot guarded by its sequence number (a reader that raced a writer sees the number
//! change and drops the slot). Readers ([`Meter::levels`], obs-websocket workers) allocate freely.
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

use deckcast_protocol::audio::{
    AudioBlock, AudioLevels, BLOCK_MS, CLIP_DBFS, KEPT_BLOCKS, to_dbfs,
};

use crate::obs::tap::AudioSink;

/// A slot of the ring: `seq` is `EMPTY` while being written.
#[derive(Debug)]
struct Slot {
    seq: AtomicU64,
    peak: AtomicU32,
    rms: AtomicU32,
    clipped: AtomicU32,
    frames: AtomicU32,
}

const EMPTY: u64 = u64::MAX;

impl Slot {
    const fn new() -> Slot {
        Slot {
            seq: AtomicU64::new(EMPTY),
            peak: AtomicU32::new(0),
            rms: AtomicU32::new(0),
            clipped: AtomicU32::new(0),
            frames: AtomicU32::new(0),
        }
    }
}

/// The block being measured (audio thread only).
#[derive(Debug, Default)]
struct Running {
    peak: f32,
    sum_sq: f64,
    samples: u64,
    clipped: u32,
    frames: u32,
}

/// The meter.
#[derive(Debug)]
pub struct Meter {
    block_frames: u32,
    clip: f32,
    running: Mutex<Running>,
    slots: [Slot; KEPT_BLOCKS],
    next: AtomicU64,
    source: Mutex<String>,
}

impl Meter {
    /// A meter for audio at `sample_rate` Hz, following the program mix.
    pub fn new(sample_rate: u32) -> Meter {
        Meter {
            block_frames: (sample_rate.max(1000) * BLOCK_MS / 1000).max(1),
            clip: 10f32.powf(CLIP_DBFS as f32 / 20.0),
            running: Mutex::new(Running::default()),
            slots: [const { Slot::new() }; KEPT_BLOCKS],
            next: AtomicU64::new(0),
            source: Mutex::new(String::new()),
        }
    }

    /// The source to follow (empty: the program mix). Any thread but the audio thread.
    pub fn source(&self) -> String {
        self.source
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Chooses the source to follow (empty: the program mix). Any thread but the audio thread.
    pub fn set_source(&self, name: String) {
        *self.source.lock().unwrap_or_else(|e| e.into_inner()) = name;
    }

    fn publish(&self, r: &Running) {
        let seq = self.next.load(Ordering::Relaxed);
        let slot = &self.slots[(seq % KEPT_BLOCKS as u64) as usize];
        slot.seq.store(EMPTY, Ordering::Relaxed);
        fence(Ordering::Release);
        let rms = if r.samples > 0 {
            (r.sum_sq / r.samples as f64).sqrt() as f32
        } else {
            0.0
        };
        slot.peak.store(r.peak.to_bits(), Ordering::Relaxed);
        slot.rms.store(rms.to_bits(), Ordering::Relaxed);
        slot.clipped.store(r.clipped, Ordering::Relaxed);
        slot.frames.store(r.frames, Ordering::Relaxed);
        slot.seq.store(seq, Ordering::Release);
        self.next.store(seq + 1, Ordering::Release);
    }

    fn read(&self, seq: u64) -> Option<AudioBlock> {
        let slot = &self.slots[(seq % KEPT_BLOCKS as u64) as usize];
        if slot.seq.load(Ordering::Acquire) != seq {
            return None;
        }
        let peak = f32::from_bits(slot.peak.load(Ordering::Relaxed));
        let rms = f32::from_bits(slot.rms.load(Ordering::Relaxed));
        let clipped_frames = slot.clipped.load(Ordering::Relaxed);
        let frames = slot.frames.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        (slot.seq.load(Ordering::Relaxed) == seq).then(|| AudioBlock {
            seq,
            peak_dbfs: to_dbfs(f64::from(peak)),
            rms_dbfs: to_dbfs(f64::from(rms)),
            clipped_frames,
            frames,
        })
    }

    /// The kept blocks from `since` on (all kept blocks without it). A `since` beyond the newest
    /// block (a caller that saw an earlier OBS run) starts from the oldest kept one. Any thread but
    /// the audio thread.
    pub fn levels(&self, since: Option<u64>, attached: bool) -> AudioLevels {
        let next = self.next.load(Ordering::Acquire);
        let oldest = next.saturating_sub(KEPT_BLOCKS as u64);
        let since = since.filter(|s| *s <= next).unwrap_or(oldest);
        let blocks = (since.max(oldest)..next)
            .filter_map(|seq| self.read(seq))
            .collect();
        AudioLevels {
            source: self.source(),
            attached,
            block_ms: BLOCK_MS,
            next,
            missed: oldest.saturating_sub(since),
            blocks,
        }
    }
}

impl AudioSink for Meter {
    fn audio(&self, planes: &[&[f32]], muted: bool) {
        let Ok(mut r) = self.running.try_lock() else {
            return;
        };
        let frames = planes.iter().map(|p| p.len()).min().unwrap_or(0);
        for i in 0..frames {
            let mut frame_peak = 0f32;
            for p in planes {
                let x = if muted { 0.0 } else { p[i].abs() };
                if x.is_finite() {
                    frame_peak = frame_peak.max(x);
                    r.sum_sq += f64::from(x) * f64::from(x);
                }
            }
            r.samples += planes.len() as u64;
            r.peak = r.peak.max(frame_peak);
            if frame_peak >= self.clip {
                r.clipped += 1;
            }
            r.frames += 1;
            if r.frames >= self.block_frames {
                self.publish(&r);
                *r = Running::default();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deckcast_protocol::audio::SILENCE_DBFS;

    fn feed(m: &Meter, value: f32, frames: usize, muted: bool) {
        // Like OBS: 1024-frame blocks, two channels.
        let buf = vec![value; 1024];
        let mut left = frames;
        while left > 0 {
            let n = left.min(1024);
            m.audio(&[&buf[..n], &buf[..n]], muted);
            left -= n;
        }
    }

    #[test]
    fn blocks_measure_peak_rms_and_clipping() {
        let m = Meter::new(48_000);
        feed(&m, 0.5, 4800, false);
        feed(&m, 1.0, 2400, false);
        feed(&m, 0.0, 2400, false);
        feed(&m, 0.5, 4800, true);
        let l = m.levels(None, true);
        assert_eq!((l.next, l.missed, l.blocks.len()), (3, 0, 3));
        let b = &l.blocks;
        assert!((b[0].peak_dbfs + 6.02).abs() < 0.01, "{b:?}");
        assert!((b[0].rms_dbfs + 6.02).abs() < 0.01, "{b:?}");
        assert_eq!((b[0].clipped_frames, b[0].frames), (0, 4800));
        // Half the block at full scale, half silent: peak 0 dBFS, RMS −3 dBFS, 2400 clipped.
        assert!(b[1].peak_dbfs.abs() < 0.01, "{b:?}");
        assert!((b[1].rms_dbfs + 3.01).abs() < 0.01, "{b:?}");
        assert_eq!(b[1].clipped_frames, 2400);
        // A muted source is silence, whatever its samples say.
        assert_eq!(
            (b[2].peak_dbfs, b[2].rms_dbfs),
            (SILENCE_DBFS, SILENCE_DBFS)
        );
        // Asking from `next` gives nothing new.
        assert!(m.levels(Some(l.next), true).blocks.is_empty());
    }

    #[test]
    fn the_ring_keeps_the_newest_blocks_and_counts_what_was_missed() {
        let m = Meter::new(44_100);
        feed(&m, 0.25, 4410 * (KEPT_BLOCKS + 10), false);
        let l = m.levels(Some(0), false);
        assert_eq!(l.next, KEPT_BLOCKS as u64 + 10);
        assert_eq!(l.missed, 10);
        assert_eq!(l.blocks.len(), KEPT_BLOCKS);
        assert_eq!(l.blocks[0].seq, 10);
        assert!(!l.attached);
        // A `since` from an earlier OBS run (beyond `next`) starts over from the oldest block.
        let l = m.levels(Some(1_000_000), true);
        assert_eq!((l.blocks.len(), l.missed), (KEPT_BLOCKS, 0));
        // Non-finite samples do not poison the block.
        feed(&m, f32::NAN, 4410, false);
        let last = *m.levels(None, true).blocks.last().unwrap();
        assert_eq!(last.peak_dbfs, SILENCE_DBFS);
    }

    #[test]
    fn the_audio_thread_path_allocates_nothing() {
        // The counter works in this test binary.
        let seen = allocation_counter::measure(|| {
            std::hint::black_box(vec![1u8; 64]);
        });
        assert!(seen.count_total >= 1, "{seen:?}");
        let m = Meter::new(48_000);
        let buf = vec![0.7f32; 1024];
        m.audio(&[&buf, &buf], false);
        let info = allocation_counter::measure(|| {
            for i in 0..500 {
                m.audio(&[&buf, &buf], i % 7 == 0);
            }
        });
        assert_eq!(info.count_total, 0, "{info:?}");
        assert!(m.levels(None, true).next >= 100);
    }

    #[test]
    fn readers_racing_the_audio_thread_see_only_whole_blocks() {
        let m = std::sync::Arc::new(Meter::new(48_000));
        let writer = {
            let m = std::sync::Arc::clone(&m);
            std::thread::spawn(move || {
                for i in 0..2000 {
                    // Each block is one constant level, so a torn block would mix two levels.
                    let v = if i % 2 == 0 { 0.5 } else { 0.125 };
                    feed(&m, v, 4800, false);
                }
            })
        };
        let mut seen = 0;
        while !writer.is_finished() {
            for b in m.levels(None, true).blocks {
                assert!(
                    (b.peak_dbfs - b.rms_dbfs).abs() < 0.01 && b.frames == 4800,
                    "torn block {b:?}"
                );
                seen += 1;
            }
        }
        writer.join().unwrap();
        assert!(seen > 0);
    }
}
