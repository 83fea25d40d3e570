//! `deckcast record start|stop|status` and `deckcast recordings list|show|export|audio|upload|uploads|rm`, through the
//! running companion's API.
use anyhow::Context;
use deckcast_companion::app::recording::{Recording, StartedBy};
use deckcast_companion::library::{Upload, UploadState};
use deckcast_companion::tracklist::{Format, timestamp};

use super::args::{ApiArgs, RecordAction, RecordingsAction};
use super::client::Client;
use super::print_json;

fn when(ms: i64) -> String {
    super::local_time(ms, "%Y-%m-%d %H:%M:%S")
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

/// One line: id, start, length, size, state, file.
fn line(r: &Recording) -> String {
    let state = match r.ending {
        None => "recording".to_owned(),
        Some(e) => e.as_str().to_owned(),
    };
    format!(
        "{:>5}  {}  {:>8}  {:>10}  {:<10}  {}",
        r.id,
        when(r.started_ms),
        timestamp(r.duration_ms),
        mib(r.bytes),
        state,
        r.file.as_deref().unwrap_or("(file not named yet)")
    )
}

fn details(r: &Recording) {
    println!("{}", line(r));
    println!(
        "  started by {}, chapters {}{}",
        r.started_by.as_str(),
        r.chapters.as_str(),
        r.set_id
            .map(|s| format!(", scheduled set {s}"))
            .unwrap_or_default()
    );
    for t in &r.targets {
        println!(
            "  live: {} ({}) from {}",
            t.name,
            t.id,
            timestamp(t.started_ms - r.started_ms)
        );
    }
    if r.tracks.is_empty() {
        println!("  no tracks yet");
    }
    for e in &r.tracks {
        println!("  {} {}", e.offset, e.label());
    }
}

/// `deckcast record ...`.
pub async fn record(api: ApiArgs, action: RecordAction, json: bool) -> anyhow::Result<()> {
    let client = Client::open(&api).await?;
    match action {
        RecordAction::Start => {
            let r = client.start_recording().await?;
            if json {
                return print_json(&r);
            }
            if r.started {
                println!("recording #{} started", r.recording.id);
            } else {
                println!(
                    "OBS was already recording; following it as #{}",
                    r.recording.id
                );
            }
        }
        RecordAction::Stop => {
            let r = client.stop_recording().await?;
            if json {
                return print_json(&r);
            }
            println!("recording #{} stopped", r.id);
            details(&r);
        }
        RecordAction::Status => {
            let now = client.recording_now().await?;
            if json {
                return print_json(&now);
            }
            match &now.recording {
                Some(r) => details(r),
                None if now.active => println!("OBS is recording (not in the library yet)"),
                None => println!("not recording"),
            }
        }
    }
    Ok(())
}

/// `deckcast recordings ...`.
pub async fn recordings(api: ApiArgs, action: RecordingsAction, json: bool) -> anyhow::Result<()> {
    let client = Client::open(&api).await?;
    match action {
        RecordingsAction::List { limit } => {
            let list = client.recordings(limit).await?;
            if json {
                return print_json(&list);
            }
            if list.recordings.is_empty() {
                println!("no recordings yet");
            }
            for r in &list.recordings {
                println!("{}", line(r));
            }
        }
        RecordingsAction::Show { id } => {
            let r = client.recording(id).await?;
            if json {
                return print_json(&r);
            }
            details(&r);
        }
        RecordingsAction::Export {
            id,
            format,
            target,
            min_track_seconds,
            output,
        } => {
            let format: Format = format.parse().map_err(anyhow::Error::msg)?;
            let text = client
                .tracklist(id, format, target.as_deref(), min_track_seconds)
                .await?;
            match output {
                Some(path) => std::fs::write(&path, &text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
        }
        RecordingsAction::Audio { id, output } => {
            let a = client.export_audio(id).await?;
            if let Some(path) = &output {
                let n = client.download_audio(id, path).await?;
                if !json {
                    println!("{} ({}) saved as {}", a.file_name, mib(n), path.display());
                }
            }
            if json {
                return print_json(&a);
            }
            if output.is_none() {
                let made = if a.created { "made" } else { "made before" };
                println!(
                    "{} ({}), {made}, beside the recording",
                    a.file_name,
                    mib(a.bytes)
                );
            }
        }
        RecordingsAction::Upload {
            id,
            wait,
            status,
            cancel,
        } => {
            let mut u = if cancel {
                client.cancel_upload(id).await?
            } else if status {
                client.upload(id).await?
            } else {
                client.upload_recording(id).await?
            };
            if wait {
                u = follow_upload(&client, u, json).await?;
            }
            if json {
                return print_json(&u);
            }
            println!("{}", upload_line(&u));
            if wait && u.state != UploadState::Complete {
                anyhow::bail!(
                    "the upload of recording #{id} {}",
                    u.last_error.as_deref().unwrap_or(u.state.as_str())
                );
            }
        }
        RecordingsAction::Uploads { limit } => {
            let list = client.uploads(limit).await?;
            if json {
                return print_json(&list);
            }
            if list.uploads.is_empty() {
                println!("no uploads yet");
            }
            for u in &list.uploads {
                println!("{}", upload_line(u));
            }
        }
        RecordingsAction::Rm { id, keep_file, yes } => {
            let r = client.recording(id).await?;
            // Deckcast deletes only files of recordings it started itself.
            let delete_file = !keep_file && r.started_by != StartedBy::Obs;
            let file = r.file.as_deref().unwrap_or("(no file named)");
            let what = if delete_file {
                format!("recording #{id} and its file {file} ({})", mib(r.bytes))
            } else {
                format!("recording #{id} from the library (the file {file} stays)")
            };
            if !yes && !confirm(&format!("Delete {what}? [y/N] "))? {
                println!("nothing deleted");
                return Ok(());
            }
            let d = client.delete_recording(id, delete_file).await?;
            if json {
                return print_json(&d);
            }
            match (d.file_deleted, &d.note) {
                (true, _) => println!("deleted recording #{id} and {file}"),
                (false, Some(note)) => println!("deleted recording #{id}; the file: {note}"),
                (false, None) => println!("deleted recording #{id} from the library; {file} stays"),
            }
        }
    }
    Ok(())
}

/// One line: recording, state, progress, the newest problem.
fn upload_line(u: &Upload) -> String {
    let mut line = format!(
        "#{:<5} {:<10} {:>5.1} %  {} of {}",
        u.recording_id,
        u.state.as_str(),
        u.percent,
        mib(u.sent),
        mib(u.bytes)
    );
    if let Some(at) = u.next_attempt_ms {
        line.push_str(&format!(", goes on at {}", when(at)));
    }
    if let Some(e) = &u.last_error {
        line.push_str(&format!(" ({e})"));
    }
    line
}

/// Polls the upload every second, a progress line on standard error at each change, until it
/// has completed, failed or been cancelled.
async fn follow_upload(client: &Client, mut u: Upload, json: bool) -> anyhow::Result<Upload> {
    let mut shown = String::new();
    loop {
        let line = upload_line(&u);
        if !json && line != shown {
            eprintln!("{line}");
            shown = line;
        }
        if !u.state.pending() {
            return Ok(u);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        u = client.upload(u.recording_id).await?;
    }
}

/// Asks on the terminal (standard input); only "y" or "yes" agrees.
fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
