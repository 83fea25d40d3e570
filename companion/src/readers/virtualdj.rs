//! VirtualDJ history: `History/<date>.m3u`, one `#EXTVDJ:` line per played track with XML-ish
//! fields (`<artist>`, `<title>`, `<remix>`, `<lastplaytime>`, …) followed by the file path.
//! VirtualDJ writes an entry when a track has played (not when it is loaded), so the newest
//! entry of the newest file is what the audience hears. Files may be UTF-8 or Latin-1.
use std::path::{Path, PathBuf};

use super::{Poll, Track};

/// The value of `<tag>…</tag>` in `line`.
fn field(line: &str, tag: &str) -> Option<String> {
    let start = line.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = line[start..].find(&format!("</{tag}>"))? + start;
    let v = line[start..end]
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'");
    let v = v.trim().to_owned();
    (!v.is_empty()).then_some(v)
}

fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.trim_start_matches('\u{feff}').to_owned(),
        // Latin-1: every byte is the code point.
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// The last played track in a history file's text.
pub fn last_track(text: &str) -> Option<Track> {
    text.lines()
        .rev()
        .filter(|l| l.starts_with("#EXTVDJ:"))
        .find_map(|l| {
            let title = field(l, "title")?;
            let title = match field(l, "remix") {
                Some(r) => format!("{title} ({r})"),
                None => title,
            };
            Some(Track {
                artist: field(l, "artist").unwrap_or_default(),
                title,
                album: None,
                bpm: None,
            })
        })
}

fn newest(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("m3u") || e.eq_ignore_ascii_case("m3u8"))
        })
        .max_by_key(|p| {
            (
                std::fs::metadata(p).and_then(|m| m.modified()).ok(),
                p.file_name().map(|n| n.to_owned()),
            )
        })
}

/// Follows the newest history file of a folder.
#[derive(Debug)]
pub struct Reader {
    dir: PathBuf,
    last: Option<Track>,
    /// The file read last and its stamp (unchanged files are not read again).
    seen: Option<(PathBuf, super::Stamp)>,
}

impl Reader {
    /// Follows `dir`.
    pub fn new(dir: PathBuf) -> Reader {
        Reader {
            dir,
            last: None,
            seen: None,
        }
    }
}

impl Poll for Reader {
    fn poll(&mut self) -> Result<Option<Track>, String> {
        let Some(file) = newest(&self.dir) else {
            return Ok(None);
        };
        let mut stamp = self.seen.take().filter(|(p, _)| *p == file).map(|(_, s)| s);
        let read = super::read_file(&file, Some(super::TEXT_TAIL), &mut stamp);
        if let Some(s) = stamp {
            self.seen = Some((file, s));
        }
        let Some(bytes) = read? else {
            return Ok(None);
        };
        let t = last_track(&decode(&bytes));
        Ok(super::changed(&mut self.last, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(artist: &str, title: &str, remix: Option<&str>) -> String {
        format!(
            "#EXTVDJ:<time>21:04</time><lastplaytime>1795400000</lastplaytime><filesize>9000</filesize><artist>{artist}</artist><title>{title}</title>{}\r\nC:\\Music\\{title}.mp3\r\n",
            remix
                .map(|r| format!("<remix>{r}</remix>"))
                .unwrap_or_default()
        )
    }

    #[test]
    fn follows_the_newest_played_entry() {
        let dir = std::env::temp_dir().join(format!("deckcast-vdj-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Reader::new(dir.clone());
        assert_eq!(r.poll().unwrap(), None, "no history yet");
        let file = dir.join("2026-11-22.m3u");
        let mut text = String::from("#EXTM3U\r\n");
        text += &entry("Daft Punk", "One More Time", None);
        std::fs::write(&file, &text).unwrap();
        let t = r.poll().unwrap().unwrap();
        assert_eq!(
            (t.artist.as_str(), t.title.as_str()),
            ("Daft Punk", "One More Time")
        );
        assert_eq!(r.poll().unwrap(), None, "unchanged");
        text += &entry(
            "Stardust",
            "Music Sounds Better &amp; You",
            Some("Extended"),
        );
        std::fs::write(&file, &text).unwrap();
        let t = r.poll().unwrap().unwrap();
        assert_eq!(t.title, "Music Sounds Better & You (Extended)");
        // Latin-1 files (older VirtualDJ on Windows).
        let latin: Vec<u8> = entry("Röyksopp", "Eple", None)
            .chars()
            .map(|c| c as u32 as u8)
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.join("2026-11-23.m3u"), latin).unwrap();
        let t = r.poll().unwrap().unwrap();
        assert_eq!(t.artist, "Röyksopp");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
