//! Recordings on their way to the streamer's site: one row per recording with the upload's
//! address on the site, how many bytes the site has confirmed, the SHA-256 announced, and the
//! uploader's state. The row outlives a restart of the companion, which is what lets an
//! interrupted upload go on where it stopped.
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// The states the uploader still has work in (wire names of the app's `UploadState`).
const PENDING: &str = "'queued', 'uploading', 'waiting'";

/// One recording's upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    /// The recording.
    pub recording_id: i64,
    /// Wire name of the app's `UploadState`.
    pub state: String,
    /// The upload's address on the site, once created.
    pub url: Option<String>,
    /// The file's length.
    pub bytes: u64,
    /// Bytes the site has confirmed.
    pub offset: u64,
    /// The file's SHA-256 as announced to the site (lower-case hex).
    pub sha256: String,
    /// Failures in a row without progress.
    pub failures: i64,
    /// The newest failure.
    pub last_error: Option<String>,
    /// Asked for (Unix ms).
    pub created_ms: i64,
    /// Last changed (Unix ms).
    pub updated_ms: i64,
    /// Not to be tried before (Unix ms).
    pub next_ms: i64,
    /// Completed, failed for good or cancelled (Unix ms).
    pub finished_ms: Option<i64>,
}

const COLUMNS: &str = "recording_id, state, url, bytes, offset, sha256, failures, last_error, \
     created_ms, updated_ms, next_ms, finished_ms";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UploadRow> {
    Ok(UploadRow {
        recording_id: r.get(0)?,
        state: r.get(1)?,
        url: r.get(2)?,
        bytes: r.get::<_, i64>(3)?.max(0) as u64,
        offset: r.get::<_, i64>(4)?.max(0) as u64,
        sha256: r.get(5)?,
        failures: r.get(6)?,
        last_error: r.get(7)?,
        created_ms: r.get(8)?,
        updated_ms: r.get(9)?,
        next_ms: r.get(10)?,
        finished_ms: r.get(11)?,
    })
}

fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Writes `u` whole (a new upload replaces the recording's earlier one).
    pub fn put_upload(&mut self, u: &UploadRow) -> Result<(), StoreError> {
        self.conn.execute(
            &format!(
                "INSERT OR REPLACE INTO recording_uploads ({COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ),
            params![
                u.recording_id,
                u.state,
                u.url,
                big(u.bytes),
                big(u.offset),
                u.sha256,
                u.failures,
                u.last_error,
                u.created_ms,
                u.updated_ms,
                u.next_ms,
                u.finished_ms
            ],
        )?;
        Ok(())
    }

    /// Recording `id`'s upload.
    pub fn upload(&self, id: i64) -> Result<Option<UploadRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM recording_uploads WHERE recording_id = ?1"),
                [id],
                row,
            )
            .optional()?)
    }

    /// The newest `limit` uploads, newest first.
    pub fn uploads(&self, limit: u32) -> Result<Vec<UploadRow>, StoreError> {
        let mut q = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM recording_uploads ORDER BY created_ms DESC, recording_id DESC LIMIT ?1"
        ))?;
        let rows = q.query_map([limit], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The upload to work on next: the oldest asked for among those with work left, and when it
    /// is due (it may be later than now: the uploader waits till then).
    pub fn next_upload(&self) -> Result<Option<UploadRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM recording_uploads WHERE state IN ({PENDING})
                     ORDER BY next_ms, created_ms, recording_id LIMIT 1"
                ),
                [],
                row,
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(id: i64, state: &str, created_ms: i64, next_ms: i64) -> UploadRow {
        UploadRow {
            recording_id: id,
            state: state.into(),
            url: None,
            bytes: 10,
            offset: 0,
            sha256: "ab".into(),
            failures: 0,
            last_error: None,
            created_ms,
            updated_ms: created_ms,
            next_ms,
            finished_ms: None,
        }
    }

    #[test]
    fn the_next_upload_is_the_one_due_first_and_rows_go_with_their_recording() {
        let mut s = Store::open_in_memory().unwrap();
        let a = s.open_recording(1_000, "api", None, "pending").unwrap();
        s.finish_recording(a, 2_000, None, "clean").unwrap();
        let b = s.open_recording(3_000, "api", None, "pending").unwrap();
        s.finish_recording(b, 4_000, None, "clean").unwrap();
        let c = s.open_recording(5_000, "api", None, "pending").unwrap();
        assert_eq!(s.next_upload().unwrap(), None);
        s.put_upload(&upload(a, "complete", 10, 10)).unwrap();
        s.put_upload(&upload(b, "waiting", 20, 900)).unwrap();
        s.put_upload(&upload(c, "queued", 30, 30)).unwrap();
        assert_eq!(s.next_upload().unwrap().unwrap().recording_id, c);
        let mut cu = s.upload(c).unwrap().unwrap();
        cu.state = "cancelled".into();
        cu.offset = 7;
        s.put_upload(&cu).unwrap();
        assert_eq!(s.upload(c).unwrap().unwrap().offset, 7);
        let next = s.next_upload().unwrap().unwrap();
        assert_eq!((next.recording_id, next.next_ms), (b, 900));
        assert_eq!(
            s.uploads(10)
                .unwrap()
                .iter()
                .map(|u| u.recording_id)
                .collect::<Vec<_>>(),
            [c, b, a]
        );
        assert!(s.delete_recording(b).unwrap());
        assert_eq!(s.upload(b).unwrap(), None);
        assert_eq!(s.next_upload().unwrap(), None);
    }
}
