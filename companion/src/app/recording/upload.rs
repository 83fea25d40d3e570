//! A finished recording sent to the streamer's site with the tus resumable-upload protocol
//! (`crate::tus`; contract in `docs/platform-api.md`, "Upload: recordings").
//!
//! Asking for an upload ([`App::upload_recording`], the API, the CLI, the dashboard, or the
//! site setting `uploadRecordings` when a recording finishes) only queues it in the database;
//! the uploader task (`crate::uploader`) carries it out one at a time with
//! [`App::run_upload`]. A fresh upload reads the whole file first (its length and SHA-256, which
//! must be the library's), creates the upload on the site with both announced, and sends the
//! file in [`CHUNK`]s, storing what the site confirms after each. An interruption (the network,
//! the site, the companion stopped or killed) waits and goes on from the offset the site
//! reports; the site checks the SHA-256 when the last byte arrives.
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use super::file_name;
use crate::app::pull::{BASE_URL, TOKEN};
use crate::app::{App, AppError};
use crate::library::{Upload, UploadList, UploadState};
use crate::store::{Db, HistoryKind, UploadRow};
use crate::tus::{self, TusError};

/// Settings key: upload every recording when it has finished (`"1"`).
pub const UPLOAD_RECORDINGS: &str = "platform_upload_recordings";
/// Bytes per `PATCH` (what a restart may have to send again, at most).
pub const CHUNK: usize = 4 << 20;
/// How long one chunk may take (4 MiB at about 110 kbit/s).
const CHUNK_TIMEOUT: Duration = Duration::from_secs(300);
/// Failures in a row without progress before an upload is given up on (the waits between them
/// grow from 1 s to [`MAX_WAIT_MS`]: about an hour in all).
pub const MAX_FAILURES: i64 = 16;
/// The longest wait between two attempts.
const MAX_WAIT_MS: i64 = 5 * 60_000;

/// How one attempt ended, other than with the whole file on the site.
enum Stop {
    /// The upload was cancelled or its recording removed meanwhile.
    Dropped,
    /// The site or the file said no.
    Failed(TusError),
}

impl From<TusError> for Stop {
    fn from(e: TusError) -> Stop {
        Stop::Failed(e)
    }
}

/// The wait before attempt `failures + 1`.
fn backoff_ms(failures: i64) -> i64 {
    (1_000i64 << failures.clamp(1, 20).saturating_sub(1)).min(MAX_WAIT_MS)
}

/// Reads up to [`CHUNK`] bytes of `path` at `offset`.
fn read_chunk(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let mut f = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| format!("{shown}: {e}"))?;
    let want = (len.saturating_sub(offset)).min(CHUNK as u64) as usize;
    let mut buf = vec![0u8; want];
    f.read_exact(&mut buf)
        .map_err(|e| format!("reading {shown}: {e}"))?;
    Ok(buf)
}

/// Queues recording `id`'s upload, unless one is under way (that one is returned).
async fn queue(db: &Db, id: i64, sha256: Option<String>, now: i64) -> Result<UploadRow, AppError> {
    Ok(db
        .call(move |s| {
            if let Some(u) = s.upload(id)?
                && UploadState::parse(&u.state).pending()
            {
                return Ok(u);
            }
            let u = UploadRow {
                recording_id: id,
                state: UploadState::Queued.as_str().into(),
                url: None,
                bytes: 0,
                offset: 0,
                sha256: sha256.unwrap_or_default(),
                failures: 0,
                last_error: None,
                created_ms: now,
                updated_ms: now,
                next_ms: now,
                finished_ms: None,
            };
            s.put_upload(&u)?;
            Ok(u)
        })
        .await?)
}

/// When recording `id` has finished (its hash read): queues its upload if the site setting
/// `uploadRecordings` says so, and wakes the uploader.
pub(super) async fn queue_if_asked(
    db: &Db,
    wake: &tokio::sync::Notify,
    id: i64,
    sha256: Option<String>,
    now: i64,
) {
    let wanted = db
        .call(|s| s.setting(UPLOAD_RECORDINGS))
        .await
        .ok()
        .flatten()
        .is_some_and(|v| v == "1");
    if !wanted {
        return;
    }
    match queue(db, id, sha256, now).await {
        Ok(_) => wake.notify_one(),
        Err(e) => tracing::error!("recording #{id}: upload not queued: {e}"),
    }
}

/// The site's base URL and token, or why uploads cannot go there.
async fn site(app: &App) -> Result<(String, deckcast_secrets::Secret), String> {
    let base = app
        .db
        .call(|s| s.setting(BASE_URL))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no site is configured (set baseUrl in the platform settings)")?;
    crate::fetch::check_secret_carrying_url(&base)
        .map_err(|why| format!("the site's base URL cannot carry the token: {why}"))?;
    let token = app
        .keys
        .get_async(TOKEN)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no site token in the keyring (deckcast platform token set)")?;
    Ok((base, token))
}

impl App {
    /// Queues the upload of finished recording `id` to the streamer's site (or returns the one
    /// under way). A completed, failed or cancelled upload is started again from the beginning.
    pub async fn upload_recording(&self, id: i64) -> Result<Upload, AppError> {
        let row = self.entry(id).await?;
        // A running recording, one without a readable file: the same answers as a download.
        self.recording_file(id).await?;
        site(self).await.map_err(AppError::Conflict)?;
        let u = queue(&self.db, id, row.sha256, self.now_ms()).await?;
        self.recording.upload_wake.notify_one();
        Ok(Upload::of(&u))
    }

    /// Recording `id`'s upload.
    pub async fn upload(&self, id: i64) -> Result<Upload, AppError> {
        self.db
            .call(move |s| s.upload(id))
            .await?
            .map(|u| Upload::of(&u))
            .ok_or_else(|| AppError::NotFound(format!("recording {id} has not been uploaded")))
    }

    /// The newest `limit` uploads (1–500).
    pub async fn uploads(&self, limit: u32) -> Result<UploadList, AppError> {
        let limit = limit.clamp(1, 500);
        let rows = self.db.call(move |s| s.uploads(limit)).await?;
        Ok(UploadList {
            uploads: rows.iter().map(Upload::of).collect(),
        })
    }

    /// Cancels recording `id`'s upload (the part on the site is left to the site to expire).
    pub async fn cancel_upload(&self, id: i64) -> Result<Upload, AppError> {
        let now = self.now_ms();
        let u = self
            .db
            .call(move |s| {
                let Some(mut u) = s.upload(id)? else {
                    return Ok(None);
                };
                if UploadState::parse(&u.state).pending() {
                    u.state = UploadState::Cancelled.as_str().into();
                    u.updated_ms = now;
                    u.finished_ms = Some(now);
                    s.put_upload(&u)?;
                }
                Ok(Some(u))
            })
            .await?
            .ok_or_else(|| AppError::NotFound(format!("recording {id} has not been uploaded")))?;
        if u.finished_ms != Some(now) {
            return Err(AppError::Conflict(format!(
                "the upload of recording {id} is {} already",
                u.state
            )));
        }
        self.record(
            HistoryKind::Recording,
            None,
            format!("recording #{id}: upload cancelled"),
        )
        .await;
        Ok(Upload::of(&u))
    }

    /// Fires when an upload was queued (the uploader's wake-up).
    pub fn upload_queued(&self) -> std::sync::Arc<tokio::sync::Notify> {
        std::sync::Arc::clone(&self.recording.upload_wake)
    }

    /// The upload to work on next and when it is due (the uploader).
    pub async fn next_upload(&self) -> Result<Option<UploadRow>, AppError> {
        Ok(self.db.call(|s| s.next_upload()).await?)
    }

    /// One attempt at upload `u` (the uploader): until the site has the whole file, or an
    /// interruption (then it waits, see [`MAX_FAILURES`]), or a refusal (then it has failed).
    pub async fn run_upload(&self, mut u: UploadRow) {
        let id = u.recording_id;
        let before = u.offset;
        let r = self.attempt(&mut u).await;
        let now = self.now_ms();
        u.updated_ms = now;
        let message = match r {
            Ok(()) => {
                u.state = UploadState::Complete.as_str().into();
                u.finished_ms = Some(now);
                u.last_error = None;
                Some(format!(
                    "recording #{id}: uploaded to the site ({} bytes, SHA-256 confirmed)",
                    u.bytes
                ))
            }
            Err(Stop::Dropped) => return,
            Err(Stop::Failed(e)) => {
                if u.offset > before {
                    u.failures = 0;
                }
                u.failures += 1;
                u.last_error = Some(e.to_string());
                let again = match e {
                    TusError::Transient(_) => true,
                    TusError::Gone(_) => {
                        // The site dropped the partial upload: a new one, from the start.
                        u.url = None;
                        u.offset = 0;
                        true
                    }
                    TusError::Mismatch | TusError::Refused(_) => false,
                };
                if again && u.failures < MAX_FAILURES {
                    u.state = UploadState::Waiting.as_str().into();
                    u.next_ms = now + backoff_ms(u.failures);
                    (u.failures == 1).then(|| {
                        format!(
                            "recording #{id}: upload interrupted at {:.0} % ({e}); it goes on by itself",
                            Upload::of(&u).percent
                        )
                    })
                } else {
                    u.state = UploadState::Failed.as_str().into();
                    u.finished_ms = Some(now);
                    Some(format!("recording #{id}: upload failed: {e}"))
                }
            }
        };
        if let Err(e) = self.save_upload(&u).await {
            tracing::error!("recording #{id}: upload state not saved: {e}");
        }
        if let Some(m) = message {
            self.record(HistoryKind::Recording, None, m).await;
        }
    }

    /// Writes `u` unless it was cancelled, removed or asked for anew meanwhile; false then.
    async fn save_upload(&self, u: &UploadRow) -> Result<bool, AppError> {
        let u = u.clone();
        Ok(self
            .db
            .call(move |s| {
                let live = s.upload(u.recording_id)?.is_some_and(|now| {
                    UploadState::parse(&now.state).pending() && now.created_ms == u.created_ms
                });
                if live {
                    s.put_upload(&u)?;
                }
                Ok(live)
            })
            .await?)
    }

    async fn attempt(&self, u: &mut UploadRow) -> Result<(), Stop> {
        let id = u.recording_id;
        let refused = |e: AppError| Stop::Failed(TusError::Refused(e.to_string()));
        let (base, token) = site(self)
            .await
            .map_err(|e| Stop::Failed(TusError::Refused(e)))?;
        let row = self.entry(id).await.map_err(|_| Stop::Dropped)?;
        let path = self.recording_file(id).await.map_err(refused)?;
        let site = tus::Site {
            http: &self.http,
            base: &base,
            token: token.expose(),
        };
        let url = match u.url.clone() {
            Some(url) => {
                u.offset = site.offset(&url).await?;
                url
            }
            None => {
                let (bytes, hex) = {
                    // Not while chapters are remuxed in or the file is deleted.
                    let _held = self.recording.files.lock().await;
                    let p = path.clone();
                    tokio::task::spawn_blocking(move || crate::recfiles::hash(&p))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()))
                        .map_err(|e| Stop::Failed(TusError::Refused(e)))?
                };
                if row.sha256.as_ref().is_some_and(|known| *known != hex) {
                    return Err(Stop::Failed(TusError::Refused(
                        "the file changed since it was recorded (its SHA-256 is not the library's)"
                            .into(),
                    )));
                }
                if bytes == 0 {
                    return Err(Stop::Failed(TusError::Refused("the file is empty".into())));
                }
                let name = file_name(row.path.as_deref(), id);
                let set = row.set_id.map(|s| s.to_string()).unwrap_or_default();
                let (rid, dur) = (
                    id.to_string(),
                    (row.ended_ms.unwrap_or(row.started_ms) - row.started_ms).to_string(),
                );
                let mut meta = vec![
                    ("filename", name.as_str()),
                    ("sha256", hex.as_str()),
                    ("recordingId", rid.as_str()),
                    ("durationMs", dur.as_str()),
                ];
                if !set.is_empty() {
                    meta.push(("setId", set.as_str()));
                }
                let url = site.create(bytes, &tus::metadata(&meta)).await?;
                u.url = Some(url.to_string());
                u.bytes = bytes;
                u.sha256 = hex;
                u.offset = 0;
                url.to_string()
            }
        };
        if u.offset > u.bytes {
            return Err(Stop::Failed(TusError::Refused(format!(
                "the site says it has {} bytes of a {}-byte file",
                u.offset, u.bytes
            ))));
        }
        u.state = UploadState::Uploading.as_str().into();
        u.updated_ms = self.now_ms();
        if !self.save_upload(u).await.map_err(refused)? {
            return Err(Stop::Dropped);
        }
        if u.offset == 0 && u.failures == 0 {
            self.record(
                HistoryKind::Recording,
                None,
                format!(
                    "recording #{id}: upload to {} started ({} bytes)",
                    crate::fetch::redact_url(&base),
                    u.bytes
                ),
            )
            .await;
        }
        while u.offset < u.bytes {
            let (p, at, len) = (path.clone(), u.offset, u.bytes);
            let chunk = tokio::task::spawn_blocking(move || read_chunk(&p, at, len))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
                .map_err(|e| Stop::Failed(TusError::Refused(e)))?;
            let next = site.patch(&url, at, chunk, CHUNK_TIMEOUT).await?;
            if next <= at || next > u.bytes {
                return Err(Stop::Failed(TusError::Transient(format!(
                    "the site answered offset {next} after a chunk sent at {at}"
                ))));
            }
            u.offset = next;
            u.failures = 0;
            u.updated_ms = self.now_ms();
            if !self.save_upload(u).await.map_err(refused)? {
                return Err(Stop::Dropped);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_stop_growing() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(MAX_FAILURES), MAX_WAIT_MS);
        let total: i64 = (1..MAX_FAILURES).map(backoff_ms).sum();
        assert!((30 * 60_000..2 * 3_600_000).contains(&total), "{total}");
    }

    #[test]
    fn chunks_are_read_where_the_site_stopped() {
        let dir = std::env::temp_dir().join(format!("deckcast-chunks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        let data: Vec<u8> = (0..(CHUNK + 10)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let len = data.len() as u64;
        assert_eq!(read_chunk(&p, 0, len).unwrap(), data[..CHUNK]);
        assert_eq!(read_chunk(&p, 5, len).unwrap(), data[5..CHUNK + 5]);
        assert_eq!(read_chunk(&p, CHUNK as u64, len).unwrap(), data[CHUNK..]);
        // A file cut shorter than announced is an error, not a short chunk.
        assert!(
            read_chunk(&p, CHUNK as u64, len + 100)
                .unwrap_err()
                .contains("reading")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
