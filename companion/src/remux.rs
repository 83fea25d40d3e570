//! Work on finished recording files with ffmpeg, never re-encoding: chapters written into a
//! file whose format OBS takes no chapters in (MKV, MP4, MOV), and the audio track copied out for
//! audio-only uploads. ffmpeg is optional: without it both say so and change nothing.
//!
//! A remux writes a hidden file beside the recording and replaces the recording with it only
//! once ffmpeg succeeded (a rename on the same file system), so a failure or a kill leaves the
//! original as it was. Each run is bounded in time.
//!
//! Threads: blocking (a child process); callers run it on the blocking pool.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::tracklist::Entry;

/// Containers that hold chapters, by file extension.
pub const CHAPTER_CONTAINERS: [&str; 3] = ["mkv", "mp4", "mov"];

/// The ffmpeg to run: `DECKCAST_FFMPEG`, else `ffmpeg` on `PATH`.
pub fn ffmpeg() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DECKCAST_FFMPEG") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("ffmpeg"))
        .find(|p| p.is_file())
}

/// ffmpeg's metadata file with one chapter per entry (times in ms from the file's start; the
/// last one runs to `end_ms`).
pub fn ffmetadata(entries: &[Entry], end_ms: i64) -> String {
    // ffmetadata escapes '=', ';', '#', '\' and newlines with a backslash.
    let esc = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '=' | ';' | '#' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                '\n' | '\r' => out.push(' '),
                c => out.push(c),
            }
        }
        out
    };
    let mut out = String::from(";FFMETADATA1\n");
    for (i, e) in entries.iter().enumerate() {
        let start = e.offset_ms.max(0);
        let end = entries
            .get(i + 1)
            .map_or(end_ms, |n| n.offset_ms)
            .max(start + 1);
        out.push_str(&format!(
            "[CHAPTER]\nTIMEBASE=1/1000\nSTART={start}\nEND={end}\ntitle={}\n",
            esc(&e.label())
        ));
    }
    out
}

/// How long a run may take for a file of `bytes`: two minutes, plus a second per 5 MB (a copy
/// runs at disk speed; a slow USB disk does 20 MB/s or more).
fn time_limit(bytes: u64) -> Duration {
    Duration::from_secs(120 + bytes / 5_000_000)
}

/// The hidden files a remux of `file` writes beside it (left behind only if it was killed).
pub fn leftovers(file: &Path) -> Vec<PathBuf> {
    let ext = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    vec![
        beside(file, "chapters.txt"),
        beside(file, &format!("remux.{ext}")),
        beside(file, "ffmpeg.log"),
    ]
}

/// Runs ffmpeg with `args`, killed after `limit`; its messages go to `log` (a file, so a
/// chatty ffmpeg never blocks on a full pipe), and the error says the last one.
fn run(
    ffmpeg: &Path,
    args: &[&std::ffi::OsStr],
    limit: Duration,
    log: &Path,
) -> Result<(), String> {
    let r = run_logged(ffmpeg, args, limit, log);
    let _ = std::fs::remove_file(log);
    r
}

fn run_logged(
    ffmpeg: &Path,
    args: &[&std::ffi::OsStr],
    limit: Duration,
    log: &Path,
) -> Result<(), String> {
    let err = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = Command::new(ffmpeg)
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", ffmpeg.display()))?;
    let status = crate::child::wait_bounded(&mut child, limit)
        .map_err(|e| format!("waiting for ffmpeg: {e}"))?
        .ok_or_else(|| format!("ffmpeg took longer than {} s", limit.as_secs()))?;
    if status.success() {
        return Ok(());
    }
    // Its last 4 KiB say why.
    let said = std::fs::read(log)
        .map(|b| String::from_utf8_lossy(&b[b.len().saturating_sub(4096)..]).into_owned())
        .unwrap_or_default();
    Err(format!(
        "ffmpeg failed ({status}): {}",
        said.lines().last().unwrap_or("no message").trim()
    ))
}

/// A hidden path beside `file` (`.<name>.deckcast-<what>`).
fn beside(file: &Path, what: &str) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.with_file_name(format!(".{name}.deckcast-{what}"))
}

/// Writes `entries` as chapters into `file` (copying every stream, nothing re-encoded) and
/// replaces it once ffmpeg succeeded. `end_ms`: the recording's length.
pub fn add_chapters(
    ffmpeg: &Path,
    file: &Path,
    entries: &[Entry],
    end_ms: i64,
) -> Result<(), String> {
    let ext = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if !CHAPTER_CONTAINERS.contains(&ext.as_str()) {
        return Err(format!(
            ".{ext} files hold no chapters (MKV, MP4 and MOV do)"
        ));
    }
    let bytes = std::fs::metadata(file)
        .map_err(|e| format!("{}: {e}", file.display()))?
        .len();
    let meta = beside(file, "chapters.txt");
    let out = beside(file, &format!("remux.{ext}"));
    std::fs::write(&meta, ffmetadata(entries, end_ms))
        .map_err(|e| format!("writing {}: {e}", meta.display()))?;
    let r = run(
        ffmpeg,
        &[
            "-i".as_ref(),
            file.as_os_str(),
            "-f".as_ref(),
            "ffmetadata".as_ref(),
            "-i".as_ref(),
            meta.as_os_str(),
            "-map".as_ref(),
            "0".as_ref(),
            "-map_chapters".as_ref(),
            "1".as_ref(),
            "-codec".as_ref(),
            "copy".as_ref(),
            out.as_os_str(),
        ],
        time_limit(bytes),
        &beside(file, "ffmpeg.log"),
    )
    .and_then(|()| std::fs::rename(&out, file).map_err(|e| format!("replacing the file: {e}")));
    let _ = std::fs::remove_file(&meta);
    if r.is_err() {
        let _ = std::fs::remove_file(&out);
    }
    r
}

/// Copies the audio of `file` into `out` (an `.m4a` for AAC, as OBS records), without
/// re-encoding; written beside `out` first and renamed once ffmpeg succeeded.
pub fn extract_audio(ffmpeg: &Path, file: &Path, out: &Path) -> Result<(), String> {
    let bytes = std::fs::metadata(file)
        .map_err(|e| format!("{}: {e}", file.display()))?
        .len();
    let ext = out
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = beside(out, &format!("partial.{ext}"));
    let r = run(
        ffmpeg,
        &[
            "-i".as_ref(),
            file.as_os_str(),
            "-map".as_ref(),
            "0:a:0".as_ref(),
            "-vn".as_ref(),
            "-codec".as_ref(),
            "copy".as_ref(),
            partial.as_os_str(),
        ],
        time_limit(bytes),
        &beside(out, "ffmpeg.log"),
    )
    .and_then(|()| {
        std::fs::rename(&partial, out).map_err(|e| format!("writing {}: {e}", out.display()))
    });
    if r.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(offset_ms: i64, artist: &str, title: &str) -> Entry {
        Entry {
            offset_ms,
            offset: crate::tracklist::timestamp(offset_ms),
            duration_ms: 0,
            artist: artist.into(),
            title: title.into(),
        }
    }

    #[test]
    fn metadata_has_a_chapter_per_entry_and_escapes_what_ffmpeg_reads_specially() {
        let m = ffmetadata(
            &[entry(0, "A", "One"), entry(61_500, "B=b", "Two; #2\nnew")],
            120_000,
        );
        assert_eq!(
            m,
            ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=61500\ntitle=A – One\n\
             [CHAPTER]\nTIMEBASE=1/1000\nSTART=61500\nEND=120000\ntitle=B\\=b – Two\\; \\#2 new\n"
        );
    }

    #[test]
    fn formats_without_chapters_are_refused_before_ffmpeg_runs() {
        let e = add_chapters(
            Path::new("/nonexistent/ffmpeg"),
            Path::new("/tmp/set.flv"),
            &[],
            0,
        )
        .unwrap_err();
        assert!(e.contains(".flv files hold no chapters"), "{e}");
    }
}
