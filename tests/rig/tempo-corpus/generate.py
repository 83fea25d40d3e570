#!/usr/bin/env python3
"""Deckcast's tempo evaluation corpus: drum programming and simple parts in many styles, written as
Standard MIDI Files whose tempo is the ground truth, rendered to WAV by FluidSynth with the
FluidR3 General MIDI soundfont (Debian: fluidsynth, fluid-soundfont-gm). Nothing here measures a
tempo: the truth is what each MIDI file declares.

    generate.py OUT_DIR

writes OUT_DIR/{tune,heldout}/*.wav, *.mid and truth.csv (the format `deckcast analyze --eval`
reads). The split is fixed: the held-out set is only scored at the end, never tuned on.
Deterministic (seeded); Python's standard library only.
"""
import os
import random
import struct
import subprocess
import sys

PPQ = 480
SF2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"

# General MIDI percussion keys.
KICK, RIM, SNARE, CLAP, CHH, PHH, OHH, CRASH, RIDE, TOM_LO, TOM_MID, TOM_HI, SHAKER, COWBELL = (
    36, 37, 38, 39, 42, 44, 46, 49, 51, 45, 47, 50, 70, 56)


def vlq(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


class Song:
    """Notes as (tick, channel, key, velocity, length in ticks); one tempo."""

    def __init__(self, bpm, seed):
        self.bpm = bpm
        self.rng = random.Random(seed)
        self.notes = []
        self.programs = {}

    def note(self, beat, ch, key, vel, length=0.25, jitter_ms=0.0):
        tick = beat * PPQ
        if jitter_ms:
            tick += self.rng.gauss(0, jitter_ms) / 1000 * self.bpm / 60 * PPQ
        tick = max(0, int(round(tick)))
        vel = max(1, min(127, int(vel)))
        self.notes.append((tick, ch, key, vel, max(1, int(length * PPQ))))

    def program(self, ch, prog):
        self.programs[ch] = prog

    def write(self, path):
        events = []
        us = int(round(60_000_000 / self.bpm))
        events.append((0, 0, bytes([0xFF, 0x51, 0x03]) + us.to_bytes(3, "big")))
        events.append((0, 0, bytes([0xFF, 0x58, 0x04, 4, 2, 24, 8])))
        for ch, prog in self.programs.items():
            events.append((0, 1, bytes([0xC0 | ch, prog])))
        for tick, ch, key, vel, length in self.notes:
            events.append((tick, 2, bytes([0x90 | ch, key, vel])))
            events.append((tick + length, 1, bytes([0x80 | ch, key, 0])))
        events.sort(key=lambda e: (e[0], e[1]))
        track = bytearray()
        last = 0
        for tick, _, data in events:
            track += vlq(tick - last) + data
            last = tick
        track += vlq(PPQ * 4) + bytes([0xFF, 0x2F, 0x00])
        with open(path, "wb") as f:
            f.write(b"MThd" + struct.pack(">IHHH", 6, 0, 1, PPQ))
            f.write(b"MTrk" + struct.pack(">I", len(track)) + track)


def bars(seconds, bpm, per_bar=4):
    return int(seconds * bpm / 60 / per_bar) + 1


def chords(song, ch, prog, bars_, root=57, vel=60, every=4, start_bar=0, skip=lambda b: False):
    song.program(ch, prog)
    prog_ = [0, -4, -7, -2]
    for b in range(start_bar, bars_):
        if skip(b):
            continue
        r = root + prog_[(b // every) % 4]
        if b % every == 0 or every == 1:
            for k in (0, 3, 7):
                song.note(b * 4, ch, r + k, vel, length=4 * every - 0.1)


def bassline(song, ch, prog, bars_, root=33, pattern=(0, 1.5, 2.5, 3.5), vel=90, skip=lambda b: False):
    song.program(ch, prog)
    prog_ = [0, -4, -7, -2]
    for b in range(bars_):
        if skip(b):
            continue
        r = root + prog_[(b // 4) % 4]
        for x in pattern:
            song.note(b * 4 + x, ch, r, vel, length=0.4)


def house(bpm, seed, seconds, breakdown=False):
    s = Song(bpm, seed)
    n = bars(seconds, bpm)
    brk = (lambda b: 8 <= b < 8 + 12) if breakdown else (lambda b: False)
    for b in range(n):
        if brk(b):
            continue
        for beat in range(4):
            t = b * 4 + beat
            s.note(t, 9, KICK, 115)
            s.note(t + 0.5, 9, OHH, 80)
            if beat in (1, 3):
                s.note(t, 9, CLAP, 100)
            for q in (0.25, 0.75):
                s.note(t + q, 9, CHH, 55 + s.rng.randint(0, 15))
    chords(s, 0, 89, n, vel=55)  # warm pad, through the breakdown too
    bassline(s, 1, 38, n, skip=brk)
    return s


def techno(bpm, seed, seconds):
    s = Song(bpm, seed)
    n = bars(seconds, bpm)
    for b in range(n):
        for beat in range(4):
            t = b * 4 + beat
            s.note(t, 9, KICK, 120)
            s.note(t + 0.5, 9, OHH, 70)
            s.note(t + 0.5, 9, RIDE, 50)
            for q in (0.25, 0.75):
                s.note(t + q, 9, CHH, 45)
            if beat == 3 and b % 2:
                s.note(t + 0.75, 9, RIM, 70)
    bassline(s, 1, 39, n, root=31, pattern=(0.5, 1.5, 2.5, 3.5), vel=80)
    return s


def dnb(bpm, seed, seconds):
    s = Song(bpm, seed)
    n = bars(seconds, bpm)
    for b in range(n):
        t = b * 4
        for x in (0, 2.5) if b % 2 == 0 else (0, 1.75, 2.5):
            s.note(t + x, 9, KICK, 118)
        for x in (1, 3):
            s.note(t + x, 9, SNARE, 115)
        if s.rng.random() < 0.4:
            s.note(t + 3.75, 9, SNARE, 70)
        for e in range(8):
            s.note(t + e * 0.5, 9, CHH, 60 + 15 * (e % 2 == 0))
        s.note(t + 2.25, 9, RIDE, 55)
    bassline(s, 1, 38, n, root=29, pattern=(0, 2.5), vel=100)
    chords(s, 0, 91, n, vel=45, every=4)
    return s


def hiphop(bpm, seed, seconds, swing=0.62):
    s = Song(bpm, seed)
    n = bars(seconds, bpm)
    sw = lambda e: (e // 2) + (0 if e % 2 == 0 else swing)
    for b in range(n):
        t = b * 4
        for x in (0, 0.75 + (swing - 0.5), 2.5 if b % 2 else 2 + swing):
            s.note(t + x, 9, KICK, 112, jitter_ms=4)
        for x in (1, 3):
            s.note(t + x, 9, SNARE, 110, jitter_ms=4)
        for e in range(8):
            s.note(t + sw(e), 9, CHH, 70 if e % 2 == 0 else 50, jitter_ms=5)
    chords(s, 0, 4, n, root=60, vel=60, every=2)  # electric piano
    bassline(s, 1, 33, n, root=36, pattern=(0, 2 + swing), vel=85)
    return s


def trap(bpm, seed, seconds):
    """Half-time: snare on beat 3 of each bar; hats in 8ths with 16th and 32nd rolls."""
    s = Song(bpm, seed)
    n = bars(seconds, bpm)
    for b in range(n):
        t = b * 4
        for x in (0, 1.75, 2.5) if b % 2 == 0 else (0, 0.75, 3.25):
            s.note(t + x, 9, KICK, 120)
        s.note(t + 2, 9, CLAP, 112)
        s.note(t + 2, 9, SNARE, 100)
        e = 0.0
        while e < 4:
            roll = s.rng.random() < 0.2
            step = 0.125 if roll else 0.5
            reps = 4 if roll else 1
            for _ in range(reps):
                if e < 4:
                    s.note(t + e, 9, CHH, 60 + s.rng.randint(0, 20))
                e += step
    bassline(s, 1, 38, n, root=31, pattern=(0, 2.5), vel=110)
    return s


def breakbeat(bpm, seed, seconds):
    s = Song(bpm, seed)
    n = bars(seconds, bpm)
    for b in range(n):
        t = b * 4
        for x in (0, 0.5, 2.25, 2.5) if b % 2 == 0 else (0, 0.5, 2.5):
            s.note(t + x, 9, KICK, 112, jitter_ms=3)
        for x in (1, 1.75, 3, 3.25) if b % 2 == 0 else (1, 3, 3.75):
            s.note(t + x, 9, SNARE, 105 if x in (1, 3) else 70, jitter_ms=3)
        for e in range(8):
            s.note(t + e * 0.5, 9, RIDE if b % 4 == 3 else CHH, 60, jitter_ms=3)
    bassline(s, 1, 34, n, root=33, pattern=(0, 0.75, 2.5), vel=90)
    return s


def live_rock(bpm, seed, seconds):
    """An acoustic kit played by a person: timing and velocity vary, a fill every 4th bar."""
    s = Song(bpm, seed)
    n = bars(seconds, bpm)
    for b in range(n):
        t = b * 4
        if b % 4 == 0:
            s.note(t, 9, CRASH, 100, length=2, jitter_ms=8)
        fill = b % 4 == 3
        for x in (0, 2.5) if not fill else (0,):
            s.note(t + x, 9, KICK, 105 + s.rng.randint(-10, 10), jitter_ms=8)
        for x in (1, 3) if not fill else (1,):
            s.note(t + x, 9, SNARE, 108 + s.rng.randint(-12, 8), jitter_ms=8)
        for e in range(8 if not fill else 4):
            s.note(t + e * 0.5, 9, CHH, 70 + s.rng.randint(-15, 15), jitter_ms=10)
        if fill:
            for i, key in enumerate([SNARE, SNARE, TOM_HI, TOM_HI, TOM_MID, TOM_MID, TOM_LO, TOM_LO]):
                s.note(t + 2 + i * 0.25, 9, key, 90 + s.rng.randint(-10, 10), jitter_ms=8)
    s.program(0, 29)  # overdriven guitar chords
    chords(s, 0, 29, n, root=52, vel=70, every=1)
    bassline(s, 1, 33, n, root=40, pattern=(0, 1, 2, 3), vel=85)
    return s


def reggae(bpm, seed, seconds):
    """One drop: kick and snare together on beat 3; guitar skank on the offbeats."""
    s = Song(bpm, seed)
    n = bars(seconds, bpm)
    s.program(0, 27)
    for b in range(n):
        t = b * 4
        s.note(t + 2, 9, KICK, 110, jitter_ms=4)
        s.note(t + 2, 9, RIM, 100, jitter_ms=4)
        for e in range(8):
            s.note(t + e * 0.5 + (0.08 if e % 2 else 0), 9, CHH, 55, jitter_ms=4)
        for x in (0.5, 1.5, 2.5, 3.5):
            for k in (0, 4, 7):
                s.note(t + x, 0, 60 + k, 70, length=0.2)
    bassline(s, 1, 33, n, root=36, pattern=(0, 0.75, 1.5), vel=95)
    return s


# (style, function, tempi). Tempo in BPM as the style is counted; for trap the written tempo
# (the one a DJ's software shows) is the double of the felt half time.
STYLES = [
    ("house", house, [118, 122, 124, 126, 128]),
    ("house-breakdown", lambda b, s, d: house(b, s, d, breakdown=True), [120, 125]),
    ("techno", techno, [130, 133, 136, 140, 145]),
    ("dnb", dnb, [160, 170, 172, 174, 178]),
    ("hiphop-swing", hiphop, [80, 86, 90, 92, 96]),
    ("trap", trap, [130, 140, 145, 150]),
    ("breakbeat", breakbeat, [110, 125, 130, 135]),
    ("live-rock", live_rock, [98, 105, 110, 115, 120, 140]),
    ("reggae", reggae, [70, 74, 78, 84]),
]
SECONDS = 30


def render(mid, wav, rate):
    """The MIDI file as a WAV file at `rate` Hz, through FluidSynth and the GM soundfont."""
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(rate), "-F", wav, SF2, mid],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tempo-corpus"
    for split in ("tune", "heldout"):
        os.makedirs(os.path.join(out, split), exist_ok=True)
    truth = {"tune": ["file,bpm"], "heldout": ["file,bpm"]}
    n = 0
    for style, fn, tempi in STYLES:
        for i, bpm in enumerate(tempi):
            seed = sum(map(ord, style)) * 1000 + bpm
            # Every third track of a style is held out.
            split = "heldout" if i % 3 == 1 else "tune"
            rate = 48000 if n % 2 else 44100
            name = f"{style}-{bpm}"
            song = fn(bpm, seed, SECONDS)
            mid = os.path.join(out, split, name + ".mid")
            wav = os.path.join(out, split, name + ".wav")
            song.write(mid)
            render(mid, wav, rate)
            truth[split].append(f"{name}.wav,{bpm}")
            n += 1
    # Files without a beat: pad chords swelling in at irregular times (1.3-4.7 s apart), nothing
    # periodic; no tempo must be reported for them.
    for split, seed in (("tune", 1), ("heldout", 2)):
        s = Song(100, seed)  # 100 BPM: a beat is 0.6 s, so the times below are in seconds / 0.6
        s.program(0, 89)
        t = 0.0
        while t < SECONDS:
            root = 50 + s.rng.choice([0, 3, 5, 7, 10])
            for k in (0, 4, 7, 11):
                s.note(t / 0.6, 0, root + k, 45 + s.rng.randint(0, 20), length=6 / 0.6)
            t += s.rng.uniform(1.3, 4.7)
        name = f"no-beat-pad-{seed}"
        mid = os.path.join(out, split, name + ".mid")
        s.write(mid)
        render(mid, os.path.join(out, split, name + ".wav"), 44100)
        truth[split].append(f"{name}.wav,none")
    for split, lines in truth.items():
        with open(os.path.join(out, split, "truth.csv"), "w") as f:
            f.write("\n".join(lines) + "\n")
    print(f"{n + 2} files in {out}/tune and {out}/heldout")


if __name__ == "__main__":
    main()
