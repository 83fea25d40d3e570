//! Serato DJ history.
//!
//! **Serato 3 sessions** (`_Serato_/History/Sessions/*.session`): a sequence of chunks, each a
//! 4-byte ASCII tag and a big-endian u32 length. Every `oent` chunk holds an `adat` chunk whose
//! payload is a list of fields: big-endian u32 field id, u32 length, data. Fields used: 6 title,
//! 7 artist, 8 album (UTF-16BE strings, NUL-terminated), 15 BPM (u32), 28 start time (Unix
//! seconds, u32), 50 played (u8, 1 once the track was played, 0 while only loaded). The newest
//! played entry is the current track.
//!
//! **Serato 4** (`_Serato_/master.sqlite`): `history_session` (`id`, `start_time`, `end_time`, -1
//! while the session runs) and `history_entry` (`session_id`, `artist`, `title`, `album`, `bpm`,
//! `start_time`, `played`); the newest played entry of the running session is current. The
//! database is opened read-only, so Serato keeps writing undisturbed.
use std::path::PathBuf;

use super::{Poll, Track};

fn chunks(mut data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 8 {
            return None;
        }
        let tag = [data[0], data[1], data[2], data[3]];
        let len = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
        let body = data.get(8..8 + len)?;
        data = &data[8 + len..];
        Some((tag, body))
    })
}

fn utf16(data: &[u8]) -> String {
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units).trim().to_owned()
}

fn uint(data: &[u8]) -> u64 {
    data.iter()
        .take(8)
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

#[derive(Debug, Default)]
struct Entry {
    track: Track,
    start: u64,
    played: Option<bool>,
}

/// Entries of a session file, in file order.
fn entries(data: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    for (tag, body) in chunks(data) {
        if &tag != b"oent" {
            continue;
        }
        for (tag, adat) in chunks(body) {
            if &tag != b"adat" {
                continue;
            }
            let mut e = Entry::default();
            for (id, value) in chunks(adat).map(|(t, v)| (u32::from_be_bytes(t), v)) {
                match id {
                    6 => e.track.title = utf16(value),
                    7 => e.track.artist = utf16(value),
                    8 => e.track.album = Some(utf16(value)).filter(|a| !a.is_empty()),
                    15 => e.track.bpm = Some(uint(value) as f64).filter(|b| *b > 0.0),
                    28 => e.start = uint(value),
                    50 => e.played = Some(value.iter().any(|&b| b != 0)),
                    _ => {}
                }
            }
            out.push(e);
        }
    }
    out
}

/// The current track of a session file: the newest entry marked played.
pub fn current_in_session(data: &[u8]) -> Option<Track> {
    entries(data)
        .into_iter()
        .enumerate()
        .filter(|(_, e)| e.played.unwrap_or(true) && !e.track.title.is_empty())
        .max_by_key(|(i, e)| (e.start, *i))
        .map(|(_, e)| e.track)
}

/// Follows the newest session file of a folder.
#[derive(Debug)]
pub struct SessionReader {
    dir: PathBuf,
    last: Option<Track>,
    /// The file read last and its stamp (unchanged files are not read again).
    seen: Option<(PathBuf, super::Stamp)>,
}

impl SessionReader {
    /// Follows `dir`.
    pub fn new(dir: PathBuf) -> SessionReader {
        SessionReader {
            dir,
            last: None,
            seen: None,
        }
    }
}

impl Poll for SessionReader {
    fn poll(&mut self) -> Result<Option<Track>, String> {
        let newest = std::fs::read_dir(&self.dir)
            .map_err(|e| format!("{}: {e}", self.dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "session"))
            .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        let Some(file) = newest else { return Ok(None) };
        let mut stamp = self.seen.take().filter(|(p, _)| *p == file).map(|(_, s)| s);
        let read = super::read_file(&file, None, &mut stamp);
        if let Some(s) = stamp {
            self.seen = Some((file, s));
        }
        let Some(data) = read? else { return Ok(None) };
        let t = current_in_session(&data);
        Ok(super::changed(&mut self.last, t))
    }
}

/// Follows Serato 4's database.
#[derive(Debug)]
pub struct DatabaseReader {
    path: PathBuf,
    last: Option<Track>,
}

impl DatabaseReader {
    /// Follows `path` (master.sqlite).
    pub fn new(path: PathBuf) -> DatabaseReader {
        DatabaseReader { path, last: None }
    }
}

/// The current track in a Serato 4 database.
pub fn current_in_database(path: &std::path::Path) -> Result<Option<Track>, String> {
    use rusqlite::{Connection, OpenFlags, OptionalExtension};
    if !path.exists() {
        return Ok(None);
    }
    if !super::is_regular(path) {
        return Err(format!("{}: not a regular file", path.display()));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // Serato writes while we read: wait a moment for its lock, never longer.
    conn.busy_timeout(std::time::Duration::from_millis(500))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    conn.query_row(
        "SELECT e.artist, e.title, e.album, e.bpm FROM history_entry e
         JOIN history_session s ON e.session_id = s.id
         WHERE s.end_time = -1 AND e.played = 1
         ORDER BY e.start_time DESC, e.id DESC LIMIT 1",
        [],
        |r| {
            Ok(Track {
                artist: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                title: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                album: r.get::<_, Option<String>>(2)?.filter(|a| !a.is_empty()),
                bpm: r.get::<_, Option<f64>>(3)?.filter(|b| *b > 0.0),
            })
        },
    )
    .optional()
    .map_err(|e| format!("{}: {e}", path.display()))
}

impl Poll for DatabaseReader {
    fn poll(&mut self) -> Result<Option<Track>, String> {
        if !self.path.exists() {
            return Ok(None);
        }
        let t = current_in_database(&self.path)?.filter(|t| !t.title.is_empty());
        Ok(super::changed(&mut self.last, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(tag: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = tag.to_vec();
        v.extend((body.len() as u32).to_be_bytes());
        v.extend(body);
        v
    }

    fn field(id: u32, data: &[u8]) -> Vec<u8> {
        chunk(&id.to_be_bytes(), data)
    }

    fn text(s: &str) -> Vec<u8> {
        s.encode_utf16()
            .chain([0])
            .flat_map(u16::to_be_bytes)
            .collect()
    }

    /// An `oent` as the documented format describes it.
    fn entry(artist: &str, title: &str, start: u32, played: bool) -> Vec<u8> {
        let adat = [
            field(2, &text("/Music/x.mp3")),
            field(6, &text(title)),
            field(7, &text(artist)),
            field(8, &text("Album")),
            field(15, &124u32.to_be_bytes()),
            field(28, &start.to_be_bytes()),
            field(31, &1u32.to_be_bytes()),
            field(50, &[u8::from(played)]),
        ]
        .concat();
        chunk(b"oent", &chunk(b"adat", &adat))
    }

    #[test]
    fn session_files_give_the_newest_played_track() {
        let dir = std::env::temp_dir().join(format!("deckcast-serato-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("1.session");
        let mut data = chunk(b"vrsn", &text("1.0/Serato Scratch LIVE Review"));
        let mut r = SessionReader::new(dir.clone());
        let mut seen = Vec::new();
        for (artist, title, start, played) in [
            ("A1", "First", 100, true),
            ("A2", "Loaded only", 150, false),
            ("A2", "Second", 200, true),
            ("A3", "Third", 300, true),
        ] {
            data.extend(entry(artist, title, start, played));
            std::fs::write(&file, &data).unwrap();
            if let Some(t) = r.poll().unwrap() {
                seen.push(format!("{} – {}", t.artist, t.title));
            }
        }
        assert_eq!(seen, ["A1 – First", "A2 – Second", "A3 – Third"]);
        let t = current_in_session(&data).unwrap();
        assert_eq!((t.album.as_deref(), t.bpm), (Some("Album"), Some(124.0)));
        // Truncated files (Serato is still writing) do not panic.
        assert!(current_in_session(&data[..data.len() - 5]).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn serato4_databases_give_the_newest_played_entry_of_the_running_session() {
        let dir = std::env::temp_dir().join(format!("deckcast-serato4-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("master.sqlite");
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE history_session (id INTEGER PRIMARY KEY, start_time INTEGER, end_time INTEGER);
             CREATE TABLE history_entry (id INTEGER PRIMARY KEY, session_id INTEGER, artist TEXT,
               title TEXT, album TEXT, bpm REAL, start_time INTEGER, played INTEGER);
             INSERT INTO history_session VALUES (1, 10, 20), (2, 30, -1);
             INSERT INTO history_entry VALUES (1, 1, 'Old', 'Old session', NULL, 120, 15, 1);",
        )
        .unwrap();
        let mut r = DatabaseReader::new(path.clone());
        assert_eq!(r.poll().unwrap(), None, "only an ended session so far");
        let mut seen = Vec::new();
        for (id, title, start, played) in
            [(2, "One", 31, 1), (3, "Loaded", 32, 0), (4, "Two", 33, 1)]
        {
            db.execute(
                "INSERT INTO history_entry VALUES (?1, 2, 'DJ', ?2, 'LP', 126.0, ?3, ?4)",
                rusqlite::params![id, title, start, played],
            )
            .unwrap();
            if let Some(t) = r.poll().unwrap() {
                seen.push(t.title);
            }
        }
        assert_eq!(seen, ["One", "Two"]);
        drop(db);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
