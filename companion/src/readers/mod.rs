//! Now playing from DJ software. Each reader follows what the audience hears (the played track,
//! not a track merely loaded) as far as its format tells, and reports a [`Track`] when it changes:
//!
//! - [`virtualdj`]: VirtualDJ's `History/*.m3u` (`#EXTVDJ:` lines, written when a track is played);
//! - [`serato`]: Serato DJ's `_Serato_/History/Sessions/*.session` (binary chunks; entries marked
//!   played) and Serato 4's `master.sqlite` history;
//! - [`textfile`]: any text or M3U file with a format string (`{artist} - {title}`);
//! - [`mpris`]: the playing MPRIS player on Linux (Mixxx, VLC, Spotify);
//! - [`icecast`]: a built-in Icecast SOURCE receiver that Traktor and Mixxx broadcast to; titles
//!   come from the Ogg Vorbis/Opus comments (or `/admin/metadata` updates).
//!
//! Threads: file readers are polled once a second on the blocking pool by [`run`]; the Icecast
//! receiver is its own tokio task. Both report to a channel; `deckcast serve` shows each track
//! through the app's now-playing operation.
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use deckcast_secrets::Secret;

use crate::keys::{self, Keys};
use crate::store::Db;

pub mod icecast;
pub mod mpris;
pub mod serato;
pub mod textfile;
pub mod virtualdj;

/// A track as DJ software reports it (the protocol's track: what `SetNowPlaying` carries).
pub use deckcast_protocol::nowplaying::Track;

/// What the readers report.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// A new track is on air.
    Track(Track),
    /// A reader could not run (the message says why).
    Problem(String),
}

/// A configured source of now-playing information.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Source {
    /// VirtualDJ history folder (…/VirtualDJ/History).
    Virtualdj {
        /// The folder.
        #[schema(value_type = String)]
        path: PathBuf,
    },
    /// Serato DJ 3 session folder (…/_Serato_/History/Sessions).
    Serato {
        /// The folder.
        #[schema(value_type = String)]
        path: PathBuf,
    },
    /// Serato DJ 4 database (…/_Serato_/master.sqlite).
    Serato4 {
        /// The file.
        #[schema(value_type = String)]
        path: PathBuf,
    },
    /// A text or M3U file; `format` like `{artist} - {title}`.
    File {
        /// The file.
        #[schema(value_type = String)]
        path: PathBuf,
        /// How a line reads.
        #[serde(default = "default_format")]
        format: String,
    },
    /// MPRIS players on the session bus (Linux), optionally only names containing `player`.
    Mpris {
        /// Part of the player's bus name (`mixxx`, `vlc`, `spotify`).
        #[serde(default)]
        player: Option<String>,
    },
    /// The Icecast SOURCE receiver on 127.0.0.1:`port`; DJ software must send the source
    /// password (kept in the keyring, never shown back).
    Icecast {
        /// Port (Traktor's and Mixxx's default is 8000).
        port: u16,
        /// A new source password (write-only: stored in the keyring, omitted when the sources are
        /// read back).
        // Never written: `skip_serializing_if` rather than `skip_serializing`, which would drop
        // the field from the API document too (it is a request field).
        #[serde(default, skip_serializing_if = "never_written")]
        #[schema(value_type = Option<String>, write_only, min_length = 1, max_length = 256)]
        password: Option<WriteOnly>,
    },
}

/// A secret a client may send but never reads back (`Debug` prints `***`).
#[derive(Clone, PartialEq)]
pub struct WriteOnly(pub Secret);

impl std::fmt::Debug for WriteOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// [`WriteOnly`] values are never written back.
fn never_written(_: &Option<WriteOnly>) -> bool {
    true
}

/// Writes nothing a reader could use (`null`); [`Source`] never writes one at all.
impl Serialize for WriteOnly {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_none()
    }
}

impl<'de> Deserialize<'de> for WriteOnly {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        if raw.len() > 256 {
            return Err(serde::de::Error::custom(
                "password is longer than 256 bytes",
            ));
        }
        Secret::new(raw)
            .map(WriteOnly)
            .ok_or_else(|| serde::de::Error::custom("password is empty"))
    }
}

impl Source {
    /// Why this source cannot be used, if it cannot.
    pub fn problem(&self) -> Option<&'static str> {
        match self {
            Source::Virtualdj { path } | Source::Serato { path } | Source::Serato4 { path } => {
                path.as_os_str().is_empty().then_some("path is empty")
            }
            Source::File { path, format } => {
                if path.as_os_str().is_empty() {
                    Some("path is empty")
                } else if !format.contains("{title}") {
                    Some("format needs {title}")
                } else {
                    None
                }
            }
            Source::Icecast { port, .. } => (*port < 1024).then_some("port must be 1024 or higher"),
            Source::Mpris { .. } => None,
        }
    }
}

/// Largest file a reader takes whole (Serato's binary session files); larger ones are refused.
pub const MAX_FILE: u64 = 16 << 20;
/// How much of the end of a text file is read (the newest entries are at the end).
pub const TEXT_TAIL: u64 = 1 << 20;

/// A file's identity for "has it changed since the last poll" (length and modification time).
pub type Stamp = (u64, Option<std::time::SystemTime>);

/// Reads a file for a reader, safely: it must be a regular file (a FIFO, device or directory,
/// also behind a symlink, is refused without blocking), at most [`MAX_FILE`] bytes, or with
/// `tail` only its last `tail` bytes. `Ok(None)` when it is missing or unchanged since `seen`
/// (which is updated).
fn read_file(
    path: &std::path::Path,
    tail: Option<u64>,
    seen: &mut Option<Stamp>,
) -> Result<Option<Vec<u8>>, String> {
    use std::io::{Read, Seek, SeekFrom};
    let shown = path.display();
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        // Opening a FIFO for reading would wait for a writer; non-blocking never does.
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(libc::O_NONBLOCK);
    }
    let mut file = match open.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{shown}: {e}")),
    };
    let meta = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown}: not a regular file"));
    }
    let stamp = (meta.len(), meta.modified().ok());
    if seen.as_ref() == Some(&stamp) {
        return Ok(None);
    }
    let len = meta.len();
    let start = match tail {
        Some(t) if len > t => len - t,
        Some(_) => 0,
        None if len > MAX_FILE => {
            return Err(format!(
                "{shown}: {len} bytes is more than the {} MiB a reader takes",
                MAX_FILE >> 20
            ));
        }
        None => 0,
    };
    file.seek(SeekFrom::Start(start))
        .map_err(|e| format!("{shown}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(tail.unwrap_or(MAX_FILE))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{shown}: {e}"))?;
    if start > 0 {
        // Start at a line: the first, cut one is not an entry.
        match bytes.iter().position(|b| *b == b'\n') {
            Some(i) => {
                bytes.drain(..=i);
            }
            None => bytes.clear(),
        }
    }
    *seen = Some(stamp);
    Ok(Some(bytes))
}

/// Whether `path` is a regular file (following symlinks); missing counts as not.
fn is_regular(path: &std::path::Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// `now` if it is a track and differs from `last` (which it then becomes); readers report changes
/// only.
fn changed(last: &mut Option<Track>, now: Option<Track>) -> Option<Track> {
    if now.is_some() && now != *last {
        last.clone_from(&now);
        return now;
    }
    None
}

fn default_format() -> String {
    "{artist} - {title}".into()
}

/// A reader that is polled.
trait Poll: Send {
    fn poll(&mut self) -> Result<Option<Track>, String>;
}

fn poller(source: &Source) -> Option<Box<dyn Poll>> {
    match source {
        Source::Virtualdj { path } => Some(Box::new(virtualdj::Reader::new(path.clone()))),
        Source::Serato { path } => Some(Box::new(serato::SessionReader::new(path.clone()))),
        Source::Serato4 { path } => Some(Box::new(serato::DatabaseReader::new(path.clone()))),
        Source::File { path, format } => {
            Some(Box::new(textfile::Reader::new(path.clone(), format)))
        }
        Source::Mpris { player } => Some(Box::new(mpris::Reader::new(player.clone()))),
        Source::Icecast { .. } => None,
    }
}

/// Settings key of the configured sources.
pub const SOURCES: &str = "nowplaying_sources";

/// Runs the configured sources until shutdown, reporting tracks and problems to `reports`;
/// re-reads the configuration (and the Icecast source password) when `changed` fires.
pub async fn run(
    db: Db,
    keys: Keys,
    reports: mpsc::Sender<Report>,
    mut changed: watch::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let sources: Vec<Source> = db
            .call(|s| s.setting(SOURCES))
            .await
            .ok()
            .flatten()
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default();
        let (tx, mut rx) = mpsc::channel::<Track>(16);
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut pollers: Vec<Box<dyn Poll>> = sources.iter().filter_map(poller).collect();
        let icecast_ports: Vec<u16> = sources
            .iter()
            .filter_map(|s| match s {
                Source::Icecast { port, .. } => Some(*port),
                _ => None,
            })
            .collect();
        let password = if icecast_ports.is_empty() {
            None
        } else {
            match keys.icecast_password_async().await {
                Ok(Some(p)) => Some(p),
                Ok(None) => {
                    let _ = reports
                        .send(Report::Problem(format!(
                            "Icecast receiver: no source password (give one with the source, or set {})",
                            keys::ICECAST_PASSWORD_ENV
                        )))
                        .await;
                    None
                }
                Err(e) => {
                    let _ = reports
                        .send(Report::Problem(format!("Icecast receiver: {e}")))
                        .await;
                    None
                }
            }
        };
        for port in icecast_ports {
            let Some(password) = password.clone() else {
                break;
            };
            let (tx, stop, reports) = (tx.clone(), stop_rx.clone(), reports.clone());
            tokio::spawn(async move {
                if let Err(e) = icecast::serve(port, password, tx, stop).await {
                    let _ = reports
                        .send(Report::Problem(format!(
                            "Icecast receiver on port {port}: {e}"
                        )))
                        .await;
                }
            });
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let polled = tokio::task::spawn_blocking(move || {
                        let mut found = Vec::new();
                        for p in pollers.iter_mut() {
                            match p.poll() {
                                Ok(Some(t)) => found.push(t),
                                Ok(None) => {}
                                Err(e) => tracing::debug!("now playing reader: {e}"),
                            }
                        }
                        (pollers, found)
                    });
                    // Shutdown never waits for a reader (a slow disk or a stuck file system).
                    let (back, found) = tokio::select! {
                        r = polled => r.unwrap_or_else(|_| (Vec::new(), Vec::new())),
                        _ = shutdown.changed() => {
                            let _ = stop_tx.send(true);
                            return;
                        }
                    };
                    pollers = back;
                    for t in found {
                        let _ = reports.send(Report::Track(t)).await;
                    }
                }
                Some(t) = rx.recv() => {
                    let _ = reports.send(Report::Track(t)).await;
                }
                _ = changed.changed() => break,
                _ = shutdown.changed() => {
                    let _ = stop_tx.send(true);
                    return;
                }
            }
        }
        let _ = stop_tx.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("deckcast-read-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Runs `f` on a thread and fails if it does not return within 10 s.
    fn promptly<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the reader blocked")
    }

    #[cfg(unix)]
    #[test]
    fn fifos_devices_and_directories_are_refused_without_blocking() {
        let d = scratch("fifo");
        let fifo = d.join("nowplaying.txt");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let path = fifo.clone();
        let err =
            promptly(move || textfile::Reader::new(path, "{artist} - {title}").poll()).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        // The same behind a symlink, and for a device.
        let link = d.join("link.m3u");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let err = promptly(move || textfile::Reader::new(link, "{title}").poll()).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        // A VirtualDJ folder whose newest "history" is a FIFO.
        let vdj = d.join("History");
        std::fs::create_dir(&vdj).unwrap();
        std::process::Command::new("mkfifo")
            .arg(vdj.join("2026-12-01.m3u"))
            .status()
            .unwrap();
        let err = promptly(move || virtualdj::Reader::new(vdj).poll()).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        let db = d.join("master.sqlite");
        std::process::Command::new("mkfifo")
            .arg(&db)
            .status()
            .unwrap();
        let err = promptly(move || serato::DatabaseReader::new(db).poll()).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn huge_files_are_read_from_their_end_and_unchanged_ones_not_again() {
        let d = scratch("huge");
        let path = d.join("nowplaying.txt");
        // 200 MiB of holes, then the line that matters.
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(200 << 20).unwrap();
        drop(f);
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"\nArtist - Title\n").unwrap();
        drop(f);
        let mut seen = None;
        let bytes = read_file(&path, Some(TEXT_TAIL), &mut seen)
            .unwrap()
            .unwrap();
        assert!(bytes.len() as u64 <= TEXT_TAIL);
        let mut r = textfile::Reader::new(path.clone(), "{artist} - {title}");
        let t = r.poll().unwrap().unwrap();
        assert_eq!((t.artist.as_str(), t.title.as_str()), ("Artist", "Title"));
        // Unchanged: not read again.
        assert_eq!(read_file(&path, Some(TEXT_TAIL), &mut seen).unwrap(), None);
        // A binary file too large to take whole is refused with a reason.
        let err = read_file(&path, None, &mut None).unwrap_err();
        assert!(err.contains("MiB a reader takes"), "{err}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
