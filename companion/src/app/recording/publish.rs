//! A finished recording announced: its file read for size and SHA-256 (on the blocking pool,
//! however large the file), the hash kept in the library, and the `recording.finished` webhook
//! with the tracklists queued in the outbox.
use super::{PublishedTracklist, RecordingFinished, file_name};
use crate::app::{App, AppError};
use crate::store::RecordingRow;
use crate::tracklist;
use crate::webhooks::{self, WebhookEvent};

impl App {
    /// Announces recording `row`, which just closed: the hash is read in a task of its own, so
    /// the caller (the OBS event, a stop) does not wait for a large file.
    pub(super) async fn announce_finished(&self, row: &RecordingRow) {
        let r: Result<(), AppError> = async {
            let recording = self.view(row.clone()).await?;
            let list = self.tracklist(row.id, None, None).await?;
            let settings = self.recording_settings().await?;
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
            let local = match row.path.as_deref() {
                None => Err("OBS named no file for this recording".to_owned()),
                Some(p) => crate::recfiles::local_path(settings.obs_root.as_deref(), p),
            };
            let (db, now, id) = (self.db.clone(), self.now_ms(), row.id);
            tokio::spawn(async move {
                let read = match local {
                    Ok(path) => tokio::task::spawn_blocking(move || crate::recfiles::hash(&path))
                        .await
                        .unwrap_or_else(|e| Err(format!("reading the file: {e}"))),
                    Err(e) => Err(e),
                };
                let mut recording = recording;
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
