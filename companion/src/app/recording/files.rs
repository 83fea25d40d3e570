//! A library entry's file: found for a download (only a finished recording, only the regular
//! file OBS named, read where `obsRoot` says), and deleted with its entry. Deckcast deletes only
//! files of recordings it started itself (through the API, a set or the automatic recording);
//! for a recording started in OBS it removes the entry and leaves the file alone.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::StartedBy;
use crate::app::{App, AppError};
use crate::store::HistoryKind;

/// `DELETE /api/v1/recordings/{id}`: what was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingDeleted {
    /// The library id.
    pub id: i64,
    /// The file as OBS named it.
    pub file: Option<String>,
    /// The file was deleted.
    pub file_deleted: bool,
    /// Why the file was not deleted, when it was asked for and not done.
    pub note: Option<String>,
}

impl App {
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
