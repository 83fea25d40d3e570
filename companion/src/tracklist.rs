//! Tracklists: the tracks that were on air during a recording (or one target's stream), as
//! entries with offsets, and their exports: CUE sheet, YouTube chapters, Mixcloud sections, plain
//! text and JSON.
//!
//! Pure functions over [`TrackMark`]s (a track change at a wall-clock time). A mark is kept with
//! the time it went on air; offsets are counted from whichever start the export is for (the
//! recording's, or a target's own start, so each platform's VOD gets its own offsets). A track
//! that was already on air when that start came is at 00:00. A recording's offsets leave out the
//! time it was paused ([`recording_entries`]): they are the file's.
//!
//! Rules applied everywhere:
//! - a track on air for less than the minimum (default 30 s: a DJ previewing) is not an entry;
//!   the track before it simply goes on (and a track interrupted by such a preview is one entry);
//! - the same track twice in a row is one entry.
//!
//! YouTube's rules on top (its help page "Video chapters": the first timestamp is 00:00, at least
//! three timestamps, each chapter at least 10 seconds): see [`youtube`].
use serde::Serialize;

/// The default minimum time on air for a track to become an entry.
pub const DEFAULT_MIN_TRACK_MS: i64 = 30_000;

/// YouTube: the shortest chapter.
pub const YOUTUBE_MIN_CHAPTER_MS: i64 = 10_000;
/// YouTube: the fewest chapters it shows.
pub const YOUTUBE_MIN_CHAPTERS: usize = 3;

/// A track change: this track went on air at `at_ms` (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackMark {
    /// When it went on air (Unix ms).
    pub at_ms: i64,
    /// Artist (may be empty).
    pub artist: String,
    /// Title.
    pub title: String,
}

impl TrackMark {
    /// `Artist – Title`, or the title alone when there is no artist.
    pub fn label(&self) -> String {
        label(&self.artist, &self.title)
    }
}

pub fn label(artist: &str, title: &str) -> String {
    match (artist.trim().is_empty(), title.trim().is_empty()) {
        (true, _) => title.trim().to_owned(),
        (false, true) => artist.trim().to_owned(),
        (false, false) => format!("{} – {}", artist.trim(), title.trim()),
    }
}

/// One entry of a tracklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = TracklistEntry)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// From the start the list is for (ms, never negative).
    #[schema(minimum = 0)]
    pub offset_ms: i64,
    /// The same as `H:MM:SS` or `MM:SS`.
    pub offset: String,
    /// How long it was on air (ms).
    pub duration_ms: i64,
    /// Artist.
    pub artist: String,
    /// Title.
    pub title: String,
}

impl Entry {
    /// `Artist – Title`.
    pub fn label(&self) -> String {
        label(&self.artist, &self.title)
    }
}

/// `MM:SS` below an hour, `H:MM:SS` from one (YouTube's and most sites' style).
pub fn timestamp(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

/// A time the recording was paused: from `from_ms` until `until_ms` (Unix ms; `None`: still
/// paused). Nothing is written to the file meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pause {
    /// Paused at (Unix ms).
    pub from_ms: i64,
    /// Resumed at (Unix ms), if it was.
    pub until_ms: Option<i64>,
}

/// Where wall-clock time `t_ms` falls in a file that started at `start_ms` and was paused for
/// `pauses` (ms into the file): the paused time before it does not count, and a time inside a
/// pause is where the file resumes. A pause still open counts until `t_ms`.
pub fn file_offset(pauses: &[Pause], start_ms: i64, t_ms: i64) -> i64 {
    let paused: i64 = pauses
        .iter()
        .map(|p| {
            let from = p.from_ms.max(start_ms);
            let until = p.until_ms.unwrap_or(i64::MAX).min(t_ms);
            (until - from).max(0)
        })
        .sum();
    (t_ms - start_ms - paused).max(0)
}

/// [`entries`] of a recording paused for `pauses`: offsets and lengths are the file's, so a
/// track's chapter is where the listener hears it. A track that went on air during a pause
/// starts where the file resumes.
pub fn recording_entries(
    marks: &[TrackMark],
    pauses: &[Pause],
    start_ms: i64,
    end_ms: i64,
    min_ms: i64,
) -> Vec<Entry> {
    if pauses.is_empty() {
        return entries(marks, start_ms, end_ms, min_ms);
    }
    let to_file = |t: i64| start_ms + file_offset(pauses, start_ms, t);
    let moved: Vec<TrackMark> = marks
        .iter()
        .filter(|m| m.at_ms < end_ms)
        .map(|m| TrackMark {
            // Before the start stays before it (the track on air at 00:00).
            at_ms: if m.at_ms <= start_ms {
                m.at_ms
            } else {
                to_file(m.at_ms)
            },
            ..m.clone()
        })
        .collect();
    entries(&moved, start_ms, to_file(end_ms), min_ms)
}

/// The entries of the span `[start_ms, end_ms)`: marks sorted by time, tracks on air for less
/// than `min_ms` left out, repeats merged, the track on air at `start_ms` at offset 0.
pub fn entries(marks: &[TrackMark], start_ms: i64, end_ms: i64, min_ms: i64) -> Vec<Entry> {
    let mut marks: Vec<&TrackMark> = marks.iter().filter(|m| m.at_ms < end_ms).collect();
    marks.sort_by_key(|m| m.at_ms);
    // The track on air at the start: the last mark at or before it.
    let first = marks.iter().rposition(|m| m.at_ms <= start_ms).unwrap_or(0);
    let marks = &marks[first.min(marks.len())..];
    // Spans on air: (mark, from, until).
    let mut spans: Vec<(&TrackMark, i64, i64)> = marks
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let until = marks.get(i + 1).map_or(end_ms, |n| n.at_ms.min(end_ms));
            (*m, m.at_ms.max(start_ms), until)
        })
        .collect();
    let same = |a: &TrackMark, b: &TrackMark| a.artist == b.artist && a.title == b.title;
    // A short span between two of the same track (A, preview, A) is part of that track.
    let mut i = 1;
    while i + 1 < spans.len() {
        let (prev, next) = (spans[i - 1].0, spans[i + 1].0);
        if spans[i].2 - spans[i].1 < min_ms && same(prev, next) {
            spans[i - 1].2 = spans[i + 1].2;
            spans.drain(i..=i + 1);
            i = i.saturating_sub(1).max(1);
        } else {
            i += 1;
        }
    }
    let mut out: Vec<Entry> = Vec::new();
    for (m, from, until) in spans {
        let on_air = until - from;
        if on_air < min_ms {
            // A preview (or a track cut off by the start): the one before it goes on.
            if let Some(last) = out.last_mut() {
                last.duration_ms += on_air.max(0);
            }
            continue;
        }
        if let Some(last) = out.last_mut()
            && last.artist == m.artist
            && last.title == m.title
        {
            last.duration_ms += on_air;
            continue;
        }
        let offset_ms = from - start_ms;
        out.push(Entry {
            offset_ms,
            offset: timestamp(offset_ms),
            duration_ms: on_air,
            artist: m.artist.clone(),
            title: m.title.clone(),
        });
    }
    out
}

/// `00:00 Artist – Title`, one line per entry.
pub fn text(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| format!("{} {}\n", e.offset, e.label()))
        .collect()
}

/// YouTube chapters, and what was changed to meet YouTube's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct YoutubeChapters {
    /// The description lines (empty when there are too few chapters).
    pub text: String,
    /// The chapters in it.
    pub chapters: Vec<Entry>,
    /// What was merged, moved or dropped, and why.
    pub notes: Vec<String>,
}

/// Chapters YouTube accepts: the first at 00:00 (an earlier start is moved there), chapters
/// shorter than 10 s merged into the one before (the first into the one after), and none at all
/// when fewer than three remain (YouTube would ignore them).
pub fn youtube(entries: &[Entry]) -> YoutubeChapters {
    let mut notes = Vec::new();
    let mut chapters: Vec<Entry> = Vec::new();
    for e in entries {
        let last_short = chapters
            .last()
            .map(|l| l.duration_ms < YOUTUBE_MIN_CHAPTER_MS);
        match (chapters.last_mut(), last_short) {
            (Some(last), Some(true)) => {
                // The one before is too short: this one takes its place.
                notes.push(format!(
                    "{} ({} s) merged into the next chapter: YouTube chapters last at least 10 s",
                    last.label(),
                    last.duration_ms / 1000
                ));
                let mut e = e.clone();
                e.duration_ms += last.duration_ms;
                e.offset_ms = last.offset_ms;
                e.offset = last.offset.clone();
                *last = e;
            }
            (Some(last), _) if e.duration_ms < YOUTUBE_MIN_CHAPTER_MS => {
                notes.push(format!(
                    "{} ({} s) merged into the chapter before: YouTube chapters last at least 10 s",
                    e.label(),
                    e.duration_ms / 1000
                ));
                last.duration_ms += e.duration_ms;
            }
            _ => chapters.push(e.clone()),
        }
    }
    if chapters.len() > 1
        && chapters
            .last()
            .is_some_and(|l| l.duration_ms < YOUTUBE_MIN_CHAPTER_MS)
        && let Some(short) = chapters.pop()
    {
        notes.push(format!(
            "{} ({} s) merged into the chapter before: YouTube chapters last at least 10 s",
            short.label(),
            short.duration_ms / 1000
        ));
        if let Some(prev) = chapters.last_mut() {
            prev.duration_ms += short.duration_ms;
        }
    }
    if let Some(first) = chapters.first_mut()
        && first.offset_ms != 0
    {
        notes.push(format!(
            "the first chapter ({}) moved from {} to 00:00: YouTube's first chapter starts at 00:00",
            first.label(),
            first.offset
        ));
        first.duration_ms += first.offset_ms;
        first.offset_ms = 0;
        first.offset = timestamp(0);
    }
    if chapters.len() < YOUTUBE_MIN_CHAPTERS {
        notes.push(format!(
            "no chapters: YouTube needs at least {YOUTUBE_MIN_CHAPTERS}, this list has {}",
            chapters.len()
        ));
        return YoutubeChapters {
            text: String::new(),
            chapters: Vec::new(),
            notes,
        };
    }
    YoutubeChapters {
        text: text(&chapters),
        chapters,
        notes,
    }
}

/// The most tracks a CUE sheet holds (track numbers are two digits).
pub const CUE_MAX_TRACKS: usize = 99;

/// CUE sheet text: one `TRACK` per entry with `TITLE`, `PERFORMER` and `INDEX 01 mm:ss:ff`
/// (75 frames a second; minutes go past 99 as players expect). Double quotes, which a CUE sheet
/// cannot escape, become single quotes; line breaks become spaces. Past [`CUE_MAX_TRACKS`] the
/// sheet says in a `REM` line how many were left out.
pub fn cue(entries: &[Entry], file_name: &str, performer: &str, title: &str) -> String {
    let q = |s: &str| {
        s.replace('"', "'")
            .replace(['\r', '\n'], " ")
            .trim()
            .to_owned()
    };
    // CUE knows BINARY, MOTOROLA, AIFF, WAVE and MP3; WAVE is what players expect for any other
    // audio-bearing file.
    let kind = if file_name.to_ascii_lowercase().ends_with(".mp3") {
        "MP3"
    } else {
        "WAVE"
    };
    let mut out = String::new();
    if !performer.trim().is_empty() {
        out.push_str(&format!("PERFORMER \"{}\"\n", q(performer)));
    }
    out.push_str(&format!("TITLE \"{}\"\n", q(title)));
    if entries.len() > CUE_MAX_TRACKS {
        out.push_str(&format!(
            "REM COMMENT \"{} later tracks left out: a CUE sheet holds {CUE_MAX_TRACKS}\"\n",
            entries.len() - CUE_MAX_TRACKS
        ));
    }
    out.push_str(&format!("FILE \"{}\" {kind}\n", q(file_name)));
    for (i, e) in entries.iter().take(CUE_MAX_TRACKS).enumerate() {
        let frames = e.offset_ms.max(0) * 75 / 1000;
        let (m, s, f) = (frames / (75 * 60), (frames / 75) % 60, frames % 75);
        out.push_str(&format!("  TRACK {:02} AUDIO\n", i + 1));
        out.push_str(&format!("    TITLE \"{}\"\n", q(&e.title)));
        if !e.artist.trim().is_empty() {
            out.push_str(&format!("    PERFORMER \"{}\"\n", q(&e.artist)));
        }
        out.push_str(&format!("    INDEX 01 {m:02}:{s:02}:{f:02}\n"));
    }
    out
}

/// One Mixcloud section (its upload API's `sections-N-artist`, `sections-N-song`,
/// `sections-N-start_time` fields, <https://www.mixcloud.com/developers/#upload>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MixcloudSection {
    /// `sections-N-artist`.
    pub artist: String,
    /// `sections-N-song`.
    pub song: String,
    /// `sections-N-start_time`: whole seconds from the start.
    pub start_time: i64,
}

/// Mixcloud sections as one JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MixcloudSections {
    /// In order.
    pub sections: Vec<MixcloudSection>,
}

/// Mixcloud sections.
pub fn mixcloud(entries: &[Entry]) -> Vec<MixcloudSection> {
    entries
        .iter()
        .map(|e| MixcloudSection {
            artist: e.artist.clone(),
            song: e.title.clone(),
            start_time: e.offset_ms / 1000,
        })
        .collect()
}

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// CUE sheet.
    Cue,
    /// YouTube chapters (description text).
    Youtube,
    /// Mixcloud sections (JSON).
    Mixcloud,
    /// `00:00 Artist – Title` lines.
    Text,
    /// The entries as JSON.
    Json,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 5] = [
        Format::Cue,
        Format::Youtube,
        Format::Mixcloud,
        Format::Text,
        Format::Json,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Cue => "cue",
            Format::Youtube => "youtube",
            Format::Mixcloud => "mixcloud",
            Format::Text => "text",
            Format::Json => "json",
        }
    }

    /// The file name extension of an export.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Cue => "cue",
            Format::Youtube | Format::Text => "txt",
            Format::Mixcloud | Format::Json => "json",
        }
    }

    /// Its media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Cue => "application/x-cue; charset=utf-8",
            Format::Youtube | Format::Text => "text/plain; charset=utf-8",
            Format::Mixcloud | Format::Json => "application/json",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!("unknown tracklist format '{s}': use cue, youtube, mixcloud, text or json")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn mark(s: i64, artist: &str, title: &str) -> TrackMark {
        TrackMark {
            at_ms: T0 + s * 1000,
            artist: artist.into(),
            title: title.into(),
        }
    }

    fn set() -> Vec<TrackMark> {
        vec![
            mark(0, "A", "One"),
            mark(120, "B", "Two"),
            mark(130, "X", "Preview"), // 10 s: a preview
            mark(140, "B", "Two"),     // back: the same entry
            mark(300, "C", "Three"),
        ]
    }

    fn pause(from_s: i64, until_s: Option<i64>) -> Pause {
        Pause {
            from_ms: T0 + from_s * 1000,
            until_ms: until_s.map(|u| T0 + u * 1000),
        }
    }

    #[test]
    fn paused_time_is_not_in_the_file() {
        let p = [pause(100, Some(160)), pause(400, None)];
        assert_eq!(file_offset(&p, T0, T0 + 50_000), 50_000);
        // Inside the pause: where the file resumes.
        assert_eq!(file_offset(&p, T0, T0 + 130_000), 100_000);
        assert_eq!(file_offset(&p, T0, T0 + 200_000), 140_000);
        // A pause still open counts until the time asked for.
        assert_eq!(file_offset(&p, T0, T0 + 450_000), 340_000);
        // A pause before the start (another recording's) does not count.
        assert_eq!(
            file_offset(&[pause(-50, Some(-10))], T0, T0 + 10_000),
            10_000
        );
    }

    #[test]
    fn a_paused_recording_has_the_files_offsets() {
        // Paused 60 s from 200 s: "Three" (on air at 300 s) is 240 s into the file; a track put
        // on during the pause starts where the file resumes.
        let mut marks = set();
        marks.push(mark(230, "P", "During the pause"));
        marks.sort_by_key(|m| m.at_ms);
        let p = [pause(200, Some(260))];
        let e = recording_entries(&marks, &p, T0, T0 + 600_000, DEFAULT_MIN_TRACK_MS);
        let got: Vec<(i64, &str)> = e.iter().map(|e| (e.offset_ms, e.title.as_str())).collect();
        assert_eq!(
            got,
            [
                (0, "One"),
                (120_000, "Two"),
                (200_000, "During the pause"),
                (240_000, "Three")
            ]
        );
        // The last entry ends with the file: 600 s of wall time, 540 s of file.
        let last = e.last().unwrap();
        assert_eq!(last.offset_ms + last.duration_ms, 540_000);
        // Without pauses it is the plain list.
        assert_eq!(
            recording_entries(&set(), &[], T0, T0 + 600_000, DEFAULT_MIN_TRACK_MS),
            entries(&set(), T0, T0 + 600_000, DEFAULT_MIN_TRACK_MS)
        );
    }

    #[test]
    fn previews_are_left_out_and_repeats_merged() {
        let e = entries(&set(), T0, T0 + 600_000, DEFAULT_MIN_TRACK_MS);
        let got: Vec<(i64, &str)> = e.iter().map(|e| (e.offset_ms, e.title.as_str())).collect();
        assert_eq!(got, [(0, "One"), (120_000, "Two"), (300_000, "Three")]);
        assert_eq!(e[1].duration_ms, 180_000);
        assert_eq!(e[2].duration_ms, 300_000);
        // With no minimum the preview is an entry of its own.
        assert_eq!(entries(&set(), T0, T0 + 600_000, 0).len(), 5);
    }

    #[test]
    fn a_later_start_shifts_every_offset_and_the_track_on_air_is_at_zero() {
        let e = entries(&set(), T0 + 10_000, T0 + 600_000, DEFAULT_MIN_TRACK_MS);
        let got: Vec<(i64, &str)> = e.iter().map(|e| (e.offset_ms, e.title.as_str())).collect();
        assert_eq!(got, [(0, "One"), (110_000, "Two"), (290_000, "Three")]);
        // A track that started before the span and ended inside it counts from the span's start.
        let e = entries(&set(), T0 + 200_000, T0 + 600_000, DEFAULT_MIN_TRACK_MS);
        assert_eq!(e[0].title, "Two");
        assert_eq!(e[0].offset_ms, 0);
        assert_eq!(e[0].duration_ms, 100_000);
    }

    #[test]
    fn timestamps_switch_to_hours_past_an_hour() {
        assert_eq!(timestamp(0), "00:00");
        assert_eq!(timestamp(65_999), "01:05");
        assert_eq!(timestamp(3_723_000), "1:02:03");
    }

    #[test]
    fn text_lines_read_offset_artist_title() {
        let e = entries(&set(), T0, T0 + 600_000, DEFAULT_MIN_TRACK_MS);
        assert_eq!(text(&e), "00:00 A – One\n02:00 B – Two\n05:00 C – Three\n");
    }

    fn entry(offset_s: i64, duration_s: i64, title: &str) -> Entry {
        Entry {
            offset_ms: offset_s * 1000,
            offset: timestamp(offset_s * 1000),
            duration_ms: duration_s * 1000,
            artist: "A".into(),
            title: title.into(),
        }
    }

    #[test]
    fn youtube_rule_first_chapter_at_zero() {
        let y = youtube(&[entry(5, 60, "a"), entry(65, 60, "b"), entry(125, 60, "c")]);
        assert_eq!(y.chapters[0].offset_ms, 0);
        assert!(y.text.starts_with("00:00 A – a\n"), "{}", y.text);
        assert!(
            y.notes[0].contains("moved from 00:05 to 00:00"),
            "{:?}",
            y.notes
        );
    }

    #[test]
    fn youtube_rule_at_least_three_chapters() {
        let y = youtube(&[entry(0, 60, "a"), entry(60, 60, "b")]);
        assert!(y.text.is_empty());
        assert!(y.chapters.is_empty());
        assert!(y.notes[0].contains("at least 3"), "{:?}", y.notes);
        let y = youtube(&[entry(0, 60, "a"), entry(60, 60, "b"), entry(120, 60, "c")]);
        assert_eq!(y.chapters.len(), 3);
        assert!(y.notes.is_empty(), "{:?}", y.notes);
    }

    #[test]
    fn youtube_rule_chapters_last_ten_seconds() {
        // A short one in the middle joins the one before; a short first one joins the next; a
        // short last one joins the one before.
        let y = youtube(&[
            entry(0, 5, "short first"),
            entry(5, 60, "a"),
            entry(65, 4, "short middle"),
            entry(69, 60, "b"),
            entry(129, 60, "c"),
            entry(189, 9, "short last"),
        ]);
        let got: Vec<(i64, i64, &str)> = y
            .chapters
            .iter()
            .map(|c| (c.offset_ms / 1000, c.duration_ms / 1000, c.title.as_str()))
            .collect();
        assert_eq!(got, [(0, 69, "a"), (69, 60, "b"), (129, 69, "c")]);
        assert!(y.chapters.iter().all(|c| c.duration_ms >= 10_000));
        assert_eq!(y.notes.len(), 3, "{:?}", y.notes);
        assert!(y.notes.iter().all(|n| n.contains("at least 10 s")));
        assert_eq!(y.text, "00:00 A – a\n01:09 A – b\n02:09 A – c\n");
    }

    #[test]
    fn cue_sheets_count_frames_and_cannot_be_broken_by_quotes() {
        let e = vec![
            entry(0, 60, "Say \"hi\""),
            Entry {
                offset_ms: 6_010_500, // 100 min 10.5 s
                ..entry(0, 60, "Late\nline")
            },
        ];
        let c = cue(&e, "set.mp4", "DJ \"Q\"", "Friday");
        assert!(c.contains("FILE \"set.mp4\" WAVE\n"), "{c}");
        assert!(c.contains("PERFORMER \"DJ 'Q'\"\n"), "{c}");
        assert!(c.contains("TITLE \"Say 'hi'\"\n"), "{c}");
        assert!(c.contains("TITLE \"Late line\"\n"), "{c}");
        assert!(c.contains("INDEX 01 100:10:37\n"), "{c}");
        assert!(cue(&e, "set.MP3", "", "x").contains("\" MP3\n"));
        let many: Vec<Entry> = (0..120).map(|i| entry(i * 60, 60, "t")).collect();
        let c = cue(&many, "set.mp4", "", "x");
        assert_eq!(c.matches("  TRACK ").count(), CUE_MAX_TRACKS);
        assert!(
            c.contains("  TRACK 99 AUDIO\n") && !c.contains("TRACK 100"),
            "{c}"
        );
        assert!(c.contains("REM COMMENT \"21 later tracks left out"), "{c}");
    }

    #[test]
    fn mixcloud_sections_start_in_whole_seconds() {
        let e = entries(&set(), T0 + 500, T0 + 600_000, DEFAULT_MIN_TRACK_MS);
        let m = mixcloud(&e);
        assert_eq!(m[1].start_time, 119);
        assert_eq!(m[1].artist, "B");
        assert_eq!(m[1].song, "Two");
    }

    #[test]
    fn formats_parse_their_wire_names() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
        }
        assert!(
            "mp3"
                .parse::<Format>()
                .unwrap_err()
                .contains("cue, youtube")
        );
    }
}
