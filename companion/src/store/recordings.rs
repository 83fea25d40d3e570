//! The recording library: every recording Deckcast followed (its file as OBS named it, start and
//! end, size, the set it belongs to, the targets that were live, how it ended) and the track
//! changes during it. At most one recording is open (a unique index says so), which is what
//! lets a restarted companion pick up the recording it was following.
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::tracklist::{Pause, TrackMark};

/// A target that was live during a recording, with its own start (its VOD's 00:00).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveTarget {
    /// Target id (`obs`: OBS's own stream).
    pub id: String,
    /// Its name then.
    pub name: String,
    /// When it went live (Unix ms): the first time during this recording.
    pub started_ms: i64,
}

/// One recording in the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingRow {
    /// Row id.
    pub id: i64,
    /// The file, as OBS named it (known once OBS says, at the latest when it stops).
    pub path: Option<String>,
    /// Started (Unix ms).
    pub started_ms: i64,
    /// Ended (Unix ms); none while it runs.
    pub ended_ms: Option<i64>,
    /// Bytes written (the last count seen).
    pub bytes: u64,
    /// The scheduled set it was recorded for.
    pub set_id: Option<i64>,
    /// Who started it (wire name of the app's `StartedBy`).
    pub started_by: String,
    /// Targets live during it.
    pub targets: Vec<LiveTarget>,
    /// Whether chapters went into the file (wire name of the app's `Chapters`).
    pub chapters: String,
    /// How it ended (wire name of the app's `Ending`); none while it runs.
    pub ending: Option<String>,
    /// The finished file's SHA-256 (lower-case hex), once it has been read.
    pub sha256: Option<String>,
}

const COLUMNS: &str =
    "id, path, started_ms, ended_ms, bytes, set_id, started_by, targets, chapters, ending, sha256";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordingRow> {
    let targets: String = r.get(7)?;
    Ok(RecordingRow {
        id: r.get(0)?,
        path: r.get(1)?,
        started_ms: r.get(2)?,
        ended_ms: r.get(3)?,
        bytes: r.get::<_, i64>(4)?.max(0) as u64,
        set_id: r.get(5)?,
        started_by: r.get(6)?,
        targets: serde_json::from_str(&targets).unwrap_or_default(),
        chapters: r.get(8)?,
        ending: r.get(9)?,
        sha256: r.get(10)?,
    })
}

impl Store {
    /// Opens a library entry for a recording that started at `started_ms`; fails if one is open.
    pub fn open_recording(
        &mut self,
        started_ms: i64,
        started_by: &str,
        set_id: Option<i64>,
        chapters: &str,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO recordings (started_ms, started_by, set_id, chapters)
             VALUES (?1, ?2, ?3, ?4)",
            params![started_ms, started_by, set_id, chapters],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The open entry (the recording running now), if any.
    pub fn open_recording_row(&self) -> Result<Option<RecordingRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM recordings WHERE ended_ms IS NULL"),
                [],
                row,
            )
            .optional()?)
    }

    /// One entry.
    pub fn recording(&self, id: i64) -> Result<Option<RecordingRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM recordings WHERE id = ?1"),
                [id],
                row,
            )
            .optional()?)
    }

    /// The newest `limit` entries, newest first.
    pub fn recordings(&self, limit: u32) -> Result<Vec<RecordingRow>, StoreError> {
        let mut q = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM recordings ORDER BY started_ms DESC, id DESC LIMIT ?1"
        ))?;
        let rows = q.query_map([limit], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Updates what the sync learns of a running recording: its file, bytes and targets (the
    /// chapters column is [`Store::set_recording_chapters`]'s).
    pub fn update_recording(&mut self, r: &RecordingRow) -> Result<(), StoreError> {
        let targets = serde_json::to_string(&r.targets).unwrap_or_else(|_| "[]".into());
        self.conn.execute(
            "UPDATE recordings SET path = ?2, bytes = ?3, targets = ?4 WHERE id = ?1",
            params![
                r.id,
                r.path,
                i64::try_from(r.bytes).unwrap_or(i64::MAX),
                targets
            ],
        )?;
        Ok(())
    }

    /// Whether chapters went into recording `id`'s file.
    pub fn set_recording_chapters(&mut self, id: i64, chapters: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE recordings SET chapters = ?2 WHERE id = ?1",
            params![id, chapters],
        )?;
        Ok(())
    }

    /// Recording `id` belongs to scheduled set `set_id`, unless it belongs to one already.
    pub fn attach_recording_set(&mut self, id: i64, set_id: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE recordings SET set_id = ?2 WHERE id = ?1 AND set_id IS NULL",
            params![id, set_id],
        )?;
        Ok(())
    }

    /// Recording `id` now belongs to set `set_id` (handed over by the set that started it).
    pub fn hand_recording_to_set(&mut self, id: i64, set_id: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE recordings SET set_id = ?2 WHERE id = ?1",
            params![id, set_id],
        )?;
        Ok(())
    }

    /// The newest entry of scheduled set `set_id`.
    pub fn last_recording_of_set(&self, set_id: i64) -> Result<Option<RecordingRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM recordings WHERE set_id = ?1
                     ORDER BY started_ms DESC, id DESC LIMIT 1"
                ),
                [set_id],
                row,
            )
            .optional()?)
    }

    /// The finished file's size and SHA-256, as read from the file.
    pub fn set_recording_hash(
        &mut self,
        id: i64,
        bytes: u64,
        sha256: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE recordings SET bytes = ?2, sha256 = ?3 WHERE id = ?1",
            params![id, bytes as i64, sha256],
        )?;
        Ok(())
    }

    /// Removes recording `id`, its track marks, pauses and upload from the library; false when there is none.
    pub fn delete_recording(&mut self, id: i64) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM recording_tracks WHERE recording_id = ?1", [id])?;
        tx.execute("DELETE FROM recording_pauses WHERE recording_id = ?1", [id])?;
        tx.execute(
            "DELETE FROM recording_uploads WHERE recording_id = ?1",
            [id],
        )?;
        let n = tx.execute("DELETE FROM recordings WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// The newest entry that ended (to correct how it ended when OBS's word comes late).
    pub fn last_finished_recording(&self) -> Result<Option<RecordingRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM recordings WHERE ended_ms IS NOT NULL
                     ORDER BY ended_ms DESC, id DESC LIMIT 1"
                ),
                [],
                row,
            )
            .optional()?)
    }

    /// Corrects how a finished entry ended (and its file, if given).
    pub fn correct_ending(
        &mut self,
        id: i64,
        path: Option<&str>,
        ending: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE recordings SET ending = ?2, path = COALESCE(?3, path) WHERE id = ?1",
            params![id, ending, path],
        )?;
        Ok(())
    }

    /// Closes an entry: when and how it ended, and its file if OBS named it only now.
    pub fn finish_recording(
        &mut self,
        id: i64,
        ended_ms: i64,
        path: Option<&str>,
        ending: &str,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE recordings SET ended_ms = ?2, path = COALESCE(?3, path), ending = ?4
             WHERE id = ?1 AND ended_ms IS NULL",
            params![id, ended_ms, path, ending],
        )?;
        // A recording stopped while paused: the pause ends with it.
        close_pause(&tx, id, ended_ms)?;
        tx.commit()?;
        Ok(())
    }

    /// A track change during recording `id`.
    pub fn add_recording_track(&mut self, id: i64, mark: &TrackMark) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO recording_tracks (recording_id, at_ms, artist, title)
             VALUES (?1, ?2, ?3, ?4)",
            params![id, mark.at_ms, mark.artist, mark.title],
        )?;
        Ok(())
    }

    /// Recording `id` was paused at `at_ms` (nothing if a pause of it is open already). Returns
    /// whether a pause was opened.
    pub fn pause_recording(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "INSERT INTO recording_pauses (recording_id, from_ms)
             SELECT ?1, ?2 WHERE NOT EXISTS (
                 SELECT 1 FROM recording_pauses WHERE recording_id = ?1 AND until_ms IS NULL)",
            params![id, at_ms],
        )?;
        Ok(n > 0)
    }

    /// Recording `id` resumed (or ended) at `at_ms`: closes its open pause. Returns whether one
    /// was open.
    pub fn resume_recording(&mut self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        Ok(close_pause(&self.conn, id, at_ms)?)
    }

    /// The pauses of recording `id`, in order.
    pub fn recording_pauses(&self, id: i64) -> Result<Vec<Pause>, StoreError> {
        let mut q = self.conn.prepare(
            "SELECT from_ms, until_ms FROM recording_pauses WHERE recording_id = ?1
             ORDER BY from_ms, rowid",
        )?;
        let rows = q.query_map([id], |r| {
            Ok(Pause {
                from_ms: r.get(0)?,
                until_ms: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The track changes of recording `id`, in order.
    pub fn recording_tracks(&self, id: i64) -> Result<Vec<TrackMark>, StoreError> {
        let mut q = self.conn.prepare(
            "SELECT at_ms, artist, title FROM recording_tracks WHERE recording_id = ?1
             ORDER BY at_ms, rowid",
        )?;
        let rows = q.query_map([id], |r| {
            Ok(TrackMark {
                at_ms: r.get(0)?,
                artist: r.get(1)?,
                title: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Closes recording `id`'s open pause at `at_ms` (never before it began); true if one was open.
fn close_pause(conn: &rusqlite::Connection, id: i64, at_ms: i64) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE recording_pauses SET until_ms = MAX(?2, from_ms)
         WHERE recording_id = ?1 AND until_ms IS NULL",
        params![id, at_ms],
    )?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_recording_is_open_at_a_time_and_keeps_its_tracks() {
        let mut s = Store::open_in_memory().unwrap();
        let id = s.open_recording(1_000, "api", None, "pending").unwrap();
        assert!(s.open_recording(2_000, "obs", None, "pending").is_err());
        let mark = |at_ms, title: &str| TrackMark {
            at_ms,
            artist: "A".into(),
            title: title.into(),
        };
        s.add_recording_track(id, &mark(1_500, "One")).unwrap();
        s.add_recording_track(id, &mark(1_200, "Zero")).unwrap();
        let mut r = s.open_recording_row().unwrap().unwrap();
        r.bytes = 4096;
        r.targets.push(LiveTarget {
            id: "t1".into(),
            name: "Twitch".into(),
            started_ms: 1_100,
        });
        r.chapters = "unsupported".into();
        s.update_recording(&r).unwrap();
        assert_eq!(s.recording(id).unwrap().unwrap().chapters, "pending");
        s.set_recording_chapters(id, "in_file").unwrap();
        s.finish_recording(id, 9_000, Some("/rec/a.mp4"), "clean")
            .unwrap();
        // Finishing again changes nothing; correcting does.
        s.finish_recording(id, 10_000, None, "lost").unwrap();
        assert_eq!(s.last_finished_recording().unwrap().unwrap().id, id);
        s.correct_ending(id, None, "clean").unwrap();
        let r = s.recording(id).unwrap().unwrap();
        assert_eq!(r.ended_ms, Some(9_000));
        assert_eq!(r.ending.as_deref(), Some("clean"));
        assert_eq!(r.path.as_deref(), Some("/rec/a.mp4"));
        assert_eq!(r.bytes, 4096);
        assert_eq!(r.targets[0].started_ms, 1_100);
        assert!(s.open_recording_row().unwrap().is_none());
        let titles: Vec<String> = s
            .recording_tracks(id)
            .unwrap()
            .into_iter()
            .map(|m| m.title)
            .collect();
        assert_eq!(titles, ["Zero", "One"]);
        // The next one can open now.
        let next = s.open_recording(20_000, "obs", Some(3), "pending").unwrap();
        assert_eq!(s.recordings(10).unwrap()[0].id, next);
    }

    #[test]
    fn pauses_open_once_close_on_resume_and_with_the_recording() {
        let mut s = Store::open_in_memory().unwrap();
        let id = s.open_recording(1_000, "api", None, "pending").unwrap();
        assert!(s.pause_recording(id, 2_000).unwrap());
        assert!(!s.pause_recording(id, 2_500).unwrap(), "one open pause");
        assert!(s.resume_recording(id, 3_000).unwrap());
        assert!(!s.resume_recording(id, 3_500).unwrap(), "nothing to resume");
        assert!(s.pause_recording(id, 5_000).unwrap());
        s.finish_recording(id, 6_000, None, "clean").unwrap();
        assert_eq!(
            s.recording_pauses(id).unwrap(),
            [
                Pause {
                    from_ms: 2_000,
                    until_ms: Some(3_000)
                },
                Pause {
                    from_ms: 5_000,
                    until_ms: Some(6_000)
                }
            ]
        );
        // Deleting the entry deletes its pauses.
        assert!(s.delete_recording(id).unwrap());
        assert!(s.recording_pauses(id).unwrap().is_empty());
    }
}
