//! A generic now-playing file: a text file whose (last non-empty) line reads like `format`
//! (`{artist} - {title}`, `{title} by {artist}`, …), or an M3U playlist whose last entry is the
//! current track (`#EXTINF:<seconds>,Artist - Title`, else the file name without extension).
use std::path::PathBuf;

use super::{Poll, Track};

/// Parses `line` with `format` (placeholders `{artist}`, `{title}`, `{album}`, `{bpm}`; literal
/// text between them must match).
pub fn parse(line: &str, format: &str) -> Option<Track> {
    let mut fields: Vec<(&str, String)> = Vec::new();
    let mut rest = line.trim();
    let mut fmt = format;
    while !fmt.is_empty() {
        if let Some(after) = fmt.strip_prefix('{') {
            let close = after.find('}')?;
            let name = &after[..close];
            fmt = &after[close + 1..];
            // The value runs to the next literal of the format (or the end).
            let next_lit_end = fmt.find('{').unwrap_or(fmt.len());
            let lit = &fmt[..next_lit_end];
            let (value, remaining) = if lit.is_empty() {
                (rest, "")
            } else {
                let at = rest.find(lit)?;
                (&rest[..at], &rest[at..])
            };
            fields.push((name, value.trim().to_owned()));
            rest = remaining;
        } else {
            let lit_end = fmt.find('{').unwrap_or(fmt.len());
            let lit = &fmt[..lit_end];
            rest = rest.strip_prefix(lit)?;
            fmt = &fmt[lit_end..];
        }
    }
    let get = |k: &str| fields.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let title = get("title").filter(|t| !t.is_empty())?;
    Some(Track {
        artist: get("artist").unwrap_or_default(),
        title,
        album: get("album").filter(|a| !a.is_empty()),
        bpm: get("bpm").and_then(|b| b.parse().ok()),
    })
}

/// The current track of a file's text.
pub fn current(text: &str, format: &str, m3u: bool) -> Option<Track> {
    if m3u {
        let mut last_info: Option<&str> = None;
        let mut current: Option<Track> = None;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(info) = line.strip_prefix("#EXTINF:") {
                last_info = info.split_once(',').map(|(_, t)| t);
            } else if !line.starts_with('#') {
                current = last_info.and_then(|i| parse(i, format)).or_else(|| {
                    let name = line.rsplit(['/', '\\']).next()?;
                    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
                    parse(stem, format)
                });
                last_info = None;
            }
        }
        return current;
    }
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .and_then(|l| parse(l, format))
}

/// Follows one file.
#[derive(Debug)]
pub struct Reader {
    path: PathBuf,
    format: String,
    last: Option<Track>,
    /// Stamp of the content read last (unchanged files are not read again).
    seen: Option<super::Stamp>,
}

impl Reader {
    /// Follows `path` with `format`.
    pub fn new(path: PathBuf, format: &str) -> Reader {
        Reader {
            path,
            format: format.to_owned(),
            last: None,
            seen: None,
        }
    }
}

impl Poll for Reader {
    fn poll(&mut self) -> Result<Option<Track>, String> {
        let Some(bytes) = super::read_file(&self.path, Some(super::TEXT_TAIL), &mut self.seen)?
        else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        let m3u = self
            .path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("m3u") || e.eq_ignore_ascii_case("m3u8"));
        let t = current(&text, &self.format, m3u);
        Ok(super::changed(&mut self.last, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_lines() {
        let t = parse("Daft Punk - One More Time", "{artist} - {title}").unwrap();
        assert_eq!(
            (t.artist.as_str(), t.title.as_str()),
            ("Daft Punk", "One More Time")
        );
        let t = parse(
            "Now: Eple by Röyksopp [120]",
            "Now: {title} by {artist} [{bpm}]",
        )
        .unwrap();
        assert_eq!(
            (t.artist.as_str(), t.title.as_str(), t.bpm),
            ("Röyksopp", "Eple", Some(120.0))
        );
        assert_eq!(parse("no separator here", "{artist} - {title}"), None);
        // A hyphen inside the title stays in the title.
        let t = parse("A - B - C", "{artist} - {title}").unwrap();
        assert_eq!((t.artist.as_str(), t.title.as_str()), ("A", "B - C"));
    }

    #[test]
    fn files_and_playlists_give_the_current_track_in_sequence() {
        let dir = std::env::temp_dir().join(format!("deckcast-txt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let txt = dir.join("nowplaying.txt");
        let mut r = Reader::new(txt.clone(), "{artist} - {title}");
        assert_eq!(r.poll().unwrap(), None);
        let mut seen = Vec::new();
        for line in ["A1 - T1", "A1 - T1", "A2 - T2", "", "A3 - T3"] {
            if !line.is_empty() {
                std::fs::write(&txt, format!("{line}\n")).unwrap();
            }
            if let Some(t) = r.poll().unwrap() {
                seen.push(t.title);
            }
        }
        assert_eq!(seen, ["T1", "T2", "T3"]);
        let m3u = dir.join("played.m3u");
        std::fs::write(&m3u, "#EXTM3U\n#EXTINF:240,Artist One - First\n/music/a.mp3\n/music/Artist Two - Second.flac\n").unwrap();
        let mut r = Reader::new(m3u.clone(), "{artist} - {title}");
        let t = r.poll().unwrap().unwrap();
        assert_eq!(
            (t.artist.as_str(), t.title.as_str()),
            ("Artist Two", "Second")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
