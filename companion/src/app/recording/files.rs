//! A library entry's file: found for a download (only a finished recording, only the regular
//! file OBS named, read where `obsRoot` says), its audio copied out for audio-only uploads, and
//! deleted with its entry (and the audio copy). Deckcast deletes only
//! files of recordings it started itself (through the API, a set or the automatic recording);
//! for a recording started in OBS it removes the entry and leaves the file alone.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::StartedBy;
use crate::app::{App, AppError};
use crate::store::HistoryKind;

/// `DELETE /api/v1/recordings/{id}`: what was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordingDeleted {
    /// The library id.
    pub id: i64,
    /// The file as OBS named it.
    #[schema(required)]
    pub file: Option<String>,
    /// The file was deleted.
    pub file_deleted: bool,
    /// Why the file was not deleted, when it was asked for and not done.
    #[schema(required)]
    pub note: Option<String>,
}

/// `POST /api/v1/recordings/{id}/audio`: the audio-only copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AudioExport {
    /// The recording.
    pub id: i64,
    /// The audio file's name (beside the recording).
    pub file_name: String,
    /// Its size.
    pub bytes: u64,
    /// False when it had been made before.
    pub created: bool,
}

/// The audio-only copies of `file` Deckcast may make (AAC goes into .m4a, anything else .mka).
fn audio_paths(file: &Path) -> [PathBuf; 2] {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    ["m4a", "mka"].map(|ext| file.with_file_name(format!("{stem}.audio.{ext}")))
}

impl App {
    /// The audio-only copy of recording `id` (its audio track copied, not re-encoded, beside the
    /// file), made now unless it was made before.
    pub async fn export_audio(&self, id: i64) -> Result<AudioExport, AppError> {
        let file = self.recording_file(id).await?;
        let _held = self.recording.files.lock().await;
        let made = tokio::task::spawn_blocking(move || {
            let candidates = audio_paths(&file);
            let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            if let Some(p) = candidates.iter().find(|p| p.is_file()) {
                return Ok((p.clone(), false, size(p)));
            }
            let ff = crate::remux::ffmpeg().ok_or_else(|| {
                "ffmpeg is not installed: audio-only exports need it (install the ffmpeg package)"
                    .to_owned()
            })?;
            // AAC (what OBS records by default) fits .m4a; any other codec goes into .mka.
            crate::remux::extract_audio(&ff, &file, &candidates[0])
                .map(|()| &candidates[0])
                .or_else(|_| {
                    crate::remux::extract_audio(&ff, &file, &candidates[1]).map(|()| &candidates[1])
                })
                .map(|p| (p.clone(), true, size(p)))
        })
        .await
        .map_err(|e| AppError::Conflict(e.to_string()))?
        .map_err(AppError::Conflict)?;
        let (path, created, bytes) = made;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if created {
            self.record(
                HistoryKind::Recording,
                None,
                format!("recording #{id}: audio-only copy {file_name} made (nothing re-encoded)"),
            )
            .await;
        }
        Ok(AudioExport {
            id,
            file_name,
            bytes,
            created,
        })
    }

    /// Where recording `id`'s audio-only copy is, once made.
    pub async fn recording_audio_file(&self, id: i64) -> Result<PathBuf, AppError> {
        let file = self.recording_file(id).await?;
        tokio::task::spawn_blocking(move || audio_paths(&file).into_iter().find(|p| p.is_file()))
            .await
            .map_err(|e| AppError::Conflict(e.to_string()))?
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "recording {id} has no audio-only copy yet (POST /api/v1/recordings/{id}/audio makes one)"
                ))
            })
    }

    /// Where the finished file of recording `id` is on this computer (a regular file).
    pub async fn recording_file(&self, id: i64) -> Result<PathBuf, AppError> {
        let row = self.entry(id).await?;
        if row.ended_ms.is_none() {
            return Err(AppError::Conflict(format!(
                "recording {id} is still running; its file can be fetched once it has finished"
            )));
        }
        let Some(path) = row.path.as_deref() else {
            return Err(AppError::NotFound(format!(
                "OBS named no file for recording {id}"
            )));
        };
        let root = self.recording_settings().await?.obs_root;
        let local =
            crate::recfiles::local_path(root.as_deref(), path).map_err(AppError::Conflict)?;
        let l = local.clone();
        let kind = tokio::task::spawn_blocking(move || std::fs::symlink_metadata(&l))
            .await
            .map_err(|e| AppError::Conflict(e.to_string()))?;
        match kind {
            Ok(m) if m.is_file() => Ok(local),
            Ok(_) => Err(AppError::Conflict(format!(
                "{} is not a regular file",
                local.display()
            ))),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(AppError::Conflict(format!(
                "the file of recording {id} cannot be read here: {}: {e}",
                local.display()
            ))),
            Err(e) => Err(AppError::NotFound(format!(
                "the file of recording {id} cannot be read here: {}: {e}{}",
                local.display(),
                if root.is_none() {
                    " (if OBS runs in a container or chroot, set obsRoot in the recording settings)"
                } else {
                    ""
                }
            ))),
        }
    }

    /// Removes recording `id` from the library, and its file if `delete_file` (only of a
    /// recording Deckcast started; never a running one).
    pub async fn delete_recording(
        &self,
        id: i64,
        delete_file: bool,
    ) -> Result<RecordingDeleted, AppError> {
        let row = self.entry(id).await?;
        if row.ended_ms.is_none() {
            return Err(AppError::Conflict(format!(
                "recording {id} is still running; stop it first"
            )));
        }
        let by = StartedBy::parse(&row.started_by);
        if delete_file && by == StartedBy::Obs {
            return Err(AppError::Conflict(format!(
                "recording {id} was started in OBS, not by Deckcast: Deckcast does not delete its file (remove the entry only, with deleteFile=false)"
            )));
        }
        let mut note = None;
        let mut file_deleted = false;
        // Not while a remux or an audio copy writes beside it.
        let _held = self.recording.files.lock().await;
        if delete_file {
            match self.recording_file(id).await {
                Ok(path) => {
                    let p = path.clone();
                    tokio::task::spawn_blocking(move || std::fs::remove_file(&p))
                        .await
                        .map_err(|e| AppError::Conflict(e.to_string()))?
                        .map_err(|e| {
                            AppError::Conflict(format!(
                                "{} could not be deleted ({e}); the entry is kept",
                                path.display()
                            ))
                        })?;
                    file_deleted = true;
                    // What Deckcast made beside it goes with it: the audio-only copy, a remux's
                    // leftovers.
                    let beside = audio_paths(&path)
                        .into_iter()
                        .chain(crate::remux::leftovers(&path));
                    let beside: Vec<PathBuf> = beside.collect();
                    let _ = tokio::task::spawn_blocking(move || {
                        for p in beside {
                            let _ = std::fs::remove_file(p);
                        }
                    })
                    .await;
                }
                // Gone already: the entry goes, and the answer says so.
                Err(AppError::NotFound(why)) => note = Some(why),
                Err(e) => return Err(e),
            }
        }
        self.db.call(move |s| s.delete_recording(id)).await?;
        let what = match (&row.path, file_deleted) {
            (Some(p), true) => format!("recording #{id} and its file {p} deleted"),
            (Some(p), false) => format!("recording #{id} removed from the library; {p} is kept"),
            (None, _) => format!("recording #{id} removed from the library"),
        };
        self.record(HistoryKind::Recording, None, what).await;
        Ok(RecordingDeleted {
            id,
            file: row.path,
            file_deleted,
            note,
        })
    }
}
