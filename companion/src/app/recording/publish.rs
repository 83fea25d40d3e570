//! A finished recording announced: chapters written into a file whose format OBS took none in
//! (ffmpeg, when installed), the file read for size and SHA-256 (on the blocking pool, however
//! large the file), the hash kept in the library, and the `recording.finished` webhook with the
//! tracklists queued in the outbox; then its upload to the site, if the site setting asks for it.
use super::{Chapters, Ending, PublishedTracklist, RecordingFinished, StartedBy, file_name};
use crate::app::{App, AppError};
use crate::store::{HistoryKind, RecordingRow};
use crate::tracklist;
use crate::webhooks::{self, WebhookEvent};

impl App {
    /// Announces recording `row`, which just closed: the hash is read in a task of its own, so
    /// the caller (the OBS event, a stop) does not wait for a large file.
    pub(super) async fn announce_finished(&self, row: &RecordingRow) {
        let r: Result<(), AppError> = async {
            let recording = self.view(row.clone()).await?;
            let list = self.tracklist(row.id, None, None).await?;
            let name = file_name(row.path.as_deref(), row.id);
            let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
            let tracklist = PublishedTracklist {
                cue: (!list.entries.is_empty())
                    .then(|| tracklist::cue(&list.entries, &name, "", stem)),
                text: tracklist::text(&list.entries),
                mixcloud: tracklist::mixcloud(&list.entries),
                youtube: list.youtube,
                entries: list.entries,
            };
            // The same lookup a download makes: OBS's path below obsRoot, a regular file.
            let local = self
                .recording_file(row.id)
                .await
                .map_err(|e| e.to_string());
            let (db, clock, id) = (self.db.clone(), self.clock.clone(), row.id);
            // Only a file Deckcast made and OBS finished cleanly (not one cut short, and not
            // after the guard stopped it: a remux needs a second copy's room).
            let remux = (Chapters::parse(&row.chapters) == Chapters::Unsupported
                && !tracklist.entries.is_empty()
                && recording.started_by != StartedBy::Obs
                && recording.ending == Some(Ending::Clean))
            .then(|| (tracklist.entries.clone(), recording.duration_ms));
            let files = std::sync::Arc::clone(&self.recording.files);
            let wake = std::sync::Arc::clone(&self.recording.upload_wake);
            tokio::spawn(async move {
                let mut recording = recording;
                // Not while the file is deleted or its audio copied.
                let _held = files.lock().await;
                if let (Some((entries, end_ms)), Ok(path)) = (remux, &local) {
                    let path = path.clone();
                    let done = tokio::task::spawn_blocking(move || match crate::remux::ffmpeg() {
                        None => Err("ffmpeg is not installed".to_owned()),
                        Some(ff) => crate::remux::add_chapters(&ff, &path, &entries, end_ms),
                    })
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()));
                    let message = match &done {
                        Ok(()) => format!(
                            "recording #{id}: the chapters were written into the file afterwards (ffmpeg, nothing re-encoded)"
                        ),
                        Err(why) => format!(
                            "recording #{id}: the chapters could not be written into the file ({why}); the tracklist has them"
                        ),
                    };
                    if done.is_ok() {
                        recording.chapters = Chapters::Remuxed;
                        let c = Chapters::Remuxed.as_str();
                        if let Err(e) = db.call(move |s| s.set_recording_chapters(id, c)).await {
                            tracing::error!("recording library: {e}");
                        }
                    }
                    let now = clock.now_ms();
                    if let Err(e) = db
                        .call(move |s| s.record_event(now, HistoryKind::Recording, None, &message))
                        .await
                    {
                        tracing::error!("history: {e}");
                    }
                }
                let now = clock.now_ms();
                let read = match local {
                    Ok(path) => tokio::task::spawn_blocking(move || crate::recfiles::hash(&path))
                        .await
                        .unwrap_or_else(|e| Err(format!("reading the file: {e}"))),
                    Err(e) => Err(e),
                };
                let (sha256, file_error) = match read {
                    Ok((bytes, hex)) => {
                        let h = hex.clone();
                        if let Err(e) = db.call(move |s| s.set_recording_hash(id, bytes, &h)).await
                        {
                            tracing::error!("recording library: {e}");
                        }
                        recording.bytes = bytes;
                        recording.sha256 = Some(hex.clone());
                        (Some(hex), None)
                    }
                    Err(why) => {
                        tracing::warn!("recording #{id}: no hash: {why}");
                        (None, Some(why))
                    }
                };
                drop(_held);
                super::upload::queue_if_asked(&db, &wake, id, sha256.clone(), now).await;
                let event = WebhookEvent::RecordingFinished(Box::new(RecordingFinished {
                    recording,
                    file_name: name,
                    sha256,
                    file_error,
                    tracklist,
                }));
                webhooks::queue(&db, event, now).await;
            });
            Ok(())
        }
        .await;
        if let Err(e) = r {
            tracing::error!("recording #{}: not announced: {e}", row.id);
        }
    }
}
