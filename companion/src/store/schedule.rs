//! Sets and calendar feeds in the database (the model is `crate::schedule`).
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError, json_list};
use crate::schedule::ics::Instance;
use crate::schedule::{Entry, EntryState, Feed, NewEntry, NewFeed, Origin, PlannedSet, ReAirPlan};

impl ToSql for EntryState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for EntryState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        EntryState::parse(text)
            .ok_or_else(|| FromSqlError::Other(format!("unknown set state {text:?}").into()))
    }
}

impl ToSql for Origin {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Origin {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(Origin::parse(value.as_str()?))
    }
}

/// id, state, start, end, title, targets (JSON), start_main, scene, record of a stored set.
type StoredSet = (
    i64,
    EntryState,
    i64,
    i64,
    String,
    String,
    bool,
    Option<String>,
    bool,
);

const ENTRY_COLUMNS: &str = "id, title, start_ms, end_ms, targets, start_main, scene, origin, \
    feed_id, state, started_ms, ended_ms, note, started_targets, started_main, record, started_record, \
    reair_recording, reair_loop";

fn entry_of(r: &Row) -> rusqlite::Result<Entry> {
    let targets: String = r.get(4)?;
    Ok(Entry {
        id: r.get(0)?,
        title: r.get(1)?,
        start_ms: r.get(2)?,
        end_ms: r.get(3)?,
        targets: serde_json::from_str(&targets).unwrap_or_default(),
        start_main: r.get(5)?,
        scene: r.get(6)?,
        origin: r.get(7)?,
        feed_id: r.get(8)?,
        state: r.get(9)?,
        started_ms: r.get(10)?,
        ended_ms: r.get(11)?,
        note: r.get(12)?,
        started_targets: serde_json::from_str(&r.get::<_, String>(13)?).unwrap_or_default(),
        started_main: r.get(14)?,
        record: r.get(15)?,
        started_record: r.get(16)?,
        reair: r
            .get::<_, Option<i64>>(17)?
            .map(|recording_id| -> rusqlite::Result<ReAirPlan> {
                Ok(ReAirPlan {
                    recording_id,
                    looped: r.get(18)?,
                })
            })
            .transpose()?,
    })
}

fn feed_of(r: &Row) -> rusqlite::Result<Feed> {
    let targets: String = r.get(2)?;
    let problems: String = r.get(8)?;
    Ok(Feed {
        id: r.get(0)?,
        url: r.get(1)?,
        targets: serde_json::from_str(&targets).unwrap_or_default(),
        start_main: r.get(3)?,
        scene: r.get(4)?,
        refresh_s: r.get(5)?,
        last_fetch_ms: r.get(6)?,
        last_error: r.get(7)?,
        problems: serde_json::from_str(&problems).unwrap_or_default(),
        default_length_min: r.get(9)?,
        record: r.get(10)?,
    })
}

impl Store {
    /// Adds a local entry.
    pub fn add_entry(&mut self, e: &NewEntry, now_ms: i64) -> Result<Entry, StoreError> {
        self.conn.execute(
            "INSERT INTO schedule (title, start_ms, end_ms, targets, start_main, scene, origin, created_ms,
               record, reair_recording, reair_loop)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'local', ?7, ?8, ?9, ?10)",
            params![e.title, e.start_ms, e.end_ms, json_list(&e.targets), e.start_main, e.scene, now_ms,
                    e.record, e.reair.map(|r| r.recording_id), e.reair.is_some_and(|r| r.looped)],
        )?;
        let id = self.conn.last_insert_rowid();
        Ok(self
            .entry(id)?
            .unwrap_or_else(|| unreachable!("just inserted")))
    }

    /// Adds to what a running set started itself (see [`Entry::started_targets`]): `targets`
    /// join the recorded ones, `main` sets the flag (never clears it).
    pub fn add_started(
        &mut self,
        id: i64,
        targets: &[String],
        main: bool,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let current: Option<(String, bool)> = tx
            .query_row(
                "SELECT started_targets, started_main FROM schedule WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((raw, was_main)) = current {
            let mut all: Vec<String> = serde_json::from_str(&raw).unwrap_or_default();
            for t in targets {
                if !all.contains(t) {
                    all.push(t.clone());
                }
            }
            tx.execute(
                "UPDATE schedule SET started_targets = ?2, started_main = ?3 WHERE id = ?1",
                params![id, json_list(&all), was_main || main],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Notes that running set `id` started OBS's recording itself (so it stops it at its end).
    pub fn set_started_record(&mut self, id: i64, started: bool) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE schedule SET started_record = ?2 WHERE id = ?1",
            params![id, started],
        )?;
        Ok(())
    }

    /// One entry.
    pub fn entry(&self, id: i64) -> Result<Option<Entry>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {ENTRY_COLUMNS} FROM schedule WHERE id = ?1"),
                [id],
                entry_of,
            )
            .optional()?)
    }

    /// Entries ending after `since_ms` (upcoming and running), plus the newest `past` finished
    /// ones, by start.
    pub fn entries(&self, since_ms: i64, past: u32) -> Result<Vec<Entry>, StoreError> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM schedule WHERE end_ms > ?1 OR state = 'running'
             UNION
             SELECT * FROM (SELECT {ENTRY_COLUMNS} FROM schedule
                WHERE end_ms <= ?1 AND state != 'running' ORDER BY end_ms DESC LIMIT ?2)
             ORDER BY 3, 1"
        ))?;
        let rows = st.query_map(params![since_ms, past], entry_of)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Entries in `state`.
    pub fn entries_in(&self, state: EntryState) -> Result<Vec<Entry>, StoreError> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM schedule WHERE state = ?1 ORDER BY start_ms, id"
        ))?;
        let rows = st.query_map([state], entry_of)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Planned entries whose start is due and whose end has not passed: marks them `running`
    /// (committed before the caller starts anything) and returns them.
    pub fn take_due(&mut self, now_ms: i64) -> Result<Vec<Entry>, StoreError> {
        let tx = self.conn.transaction()?;
        let due: Vec<Entry> = {
            let mut st = tx.prepare(&format!(
                "SELECT {ENTRY_COLUMNS} FROM schedule
                 WHERE state = 'planned' AND start_ms <= ?1 AND end_ms > ?1 ORDER BY start_ms, id"
            ))?;
            let rows = st.query_map([now_ms], entry_of)?;
            rows.collect::<Result<_, _>>()?
        };
        for e in &due {
            tx.execute(
                "UPDATE schedule SET state = 'running', started_ms = ?2 WHERE id = ?1",
                params![e.id, now_ms],
            )?;
        }
        tx.commit()?;
        Ok(due)
    }

    /// Planned entries whose end passed without them running: marks them `missed`.
    pub fn take_missed(&mut self, now_ms: i64) -> Result<Vec<Entry>, StoreError> {
        let tx = self.conn.transaction()?;
        let missed: Vec<Entry> = {
            let mut st = tx.prepare(&format!(
                "SELECT {ENTRY_COLUMNS} FROM schedule WHERE state = 'planned' AND end_ms <= ?1"
            ))?;
            let rows = st.query_map([now_ms], entry_of)?;
            rows.collect::<Result<_, _>>()?
        };
        tx.execute(
            "UPDATE schedule SET state = 'missed', note = 'the companion was not running during this set'
             WHERE state = 'planned' AND end_ms <= ?1",
            [now_ms],
        )?;
        tx.commit()?;
        Ok(missed)
    }

    /// Ends an entry (`done` or `cancelled`).
    pub fn finish_entry(
        &mut self,
        id: i64,
        state: EntryState,
        now_ms: i64,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE schedule SET state = ?2, ended_ms = CASE WHEN state = 'running' THEN ?3 ELSE ended_ms END,
               note = COALESCE(?4, note)
             WHERE id = ?1",
            params![id, state, now_ms, note],
        )?;
        Ok(())
    }

    /// Adds a feed.
    pub fn add_feed(&mut self, f: &NewFeed, now_ms: i64) -> Result<Feed, StoreError> {
        self.conn.execute(
            "INSERT INTO feeds (url, targets, start_main, scene, refresh_s, created_ms,
               default_length_min, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                f.url,
                json_list(&f.targets),
                f.start_main,
                f.scene,
                f.refresh_s,
                now_ms,
                f.default_length_min,
                f.record
            ],
        )?;
        let id = self.conn.last_insert_rowid();
        Ok(self
            .feed(id)?
            .unwrap_or_else(|| unreachable!("just inserted")))
    }

    /// One feed.
    pub fn feed(&self, id: i64) -> Result<Option<Feed>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, url, targets, start_main, scene, refresh_s, last_fetch_ms, last_error, problems,
                 default_length_min, record FROM feeds WHERE id = ?1",
                [id],
                feed_of,
            )
            .optional()?)
    }

    /// All feeds.
    pub fn feeds(&self) -> Result<Vec<Feed>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT id, url, targets, start_main, scene, refresh_s, last_fetch_ms, last_error, problems,
             default_length_min, record FROM feeds ORDER BY id",
        )?;
        let rows = st.query_map([], feed_of)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes a feed and its planned instances (running and past ones stay in the history).
    pub fn delete_feed(&mut self, id: i64) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM schedule WHERE feed_id = ?1 AND state = 'planned'",
            [id],
        )?;
        let n = tx.execute("DELETE FROM feeds WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// Records a failed fetch.
    pub fn feed_failed(&mut self, id: i64, now_ms: i64, error: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE feeds SET last_fetch_ms = ?2, last_error = ?3 WHERE id = ?1",
            params![id, now_ms, error],
        )?;
        Ok(())
    }

    /// Applies a fetched feed: instances in `[from_ms, to_ms)` are inserted or updated (only while
    /// still planned); planned instances of the feed in that window that the feed no longer has
    /// are removed. Returns (added, updated, removed).
    pub fn apply_feed(
        &mut self,
        feed: &Feed,
        instances: &[Instance],
        problems: &[String],
        from_ms: i64,
        to_ms: i64,
        now_ms: i64,
    ) -> Result<(usize, usize, usize), StoreError> {
        let sets: Vec<PlannedSet> = instances
            .iter()
            .map(|i| PlannedSet {
                key: i.key.clone(),
                title: i.title.clone(),
                start_ms: i.start_ms,
                end_ms: i.end_ms,
                targets: feed.targets.clone(),
                start_main: feed.start_main,
                scene: feed.scene.clone(),
                record: feed.record,
            })
            .collect();
        let r = self.apply_sets(feed.id, Origin::Feed, &sets, from_ms, to_ms, now_ms)?;
        self.conn.execute(
            "UPDATE feeds SET last_fetch_ms = ?2, last_error = NULL, problems = ?3 WHERE id = ?1",
            params![feed.id, now_ms, json_list(problems)],
        )?;
        Ok(r)
    }

    /// Inserts or updates the planned sets of one source (`feed_id`: a feed's id, or
    /// [`PLATFORM_SOURCE`]) and removes its planned sets in the window that it no longer has.
    /// Running and finished sets are never changed; sets already over when first seen are not
    /// added (they were never planned, so they are not "missed"). Returns (added, updated, removed).
    pub fn apply_sets(
        &mut self,
        feed_id: i64,
        origin: Origin,
        sets: &[PlannedSet],
        from_ms: i64,
        to_ms: i64,
        now_ms: i64,
    ) -> Result<(usize, usize, usize), StoreError> {
        let tx = self.conn.transaction()?;
        let (mut added, mut updated) = (0, 0);
        for i in sets {
            let existing: Option<StoredSet> = tx
                .query_row(
                    "SELECT id, state, start_ms, end_ms, title, targets, start_main, scene, record
                     FROM schedule WHERE feed_id = ?1 AND external_id = ?2",
                    params![feed_id, i.key],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            r.get(7)?,
                            r.get(8)?,
                        ))
                    },
                )
                .optional()?;
            let targets = json_list(&i.targets);
            match existing {
                // A set that ended before the source first showed it is history, not a miss.
                None if i.end_ms <= now_ms => {}
                None => {
                    tx.execute(
                        "INSERT INTO schedule (title, start_ms, end_ms, targets, start_main, scene, origin,
                           external_id, feed_id, created_ms, record)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                        params![i.title, i.start_ms, i.end_ms, targets, i.start_main, i.scene, origin,
                                i.key, feed_id, now_ms, i.record],
                    )?;
                    added += 1;
                }
                Some((id, state, s, e, t, tg, sm, sc, rec))
                    if state == EntryState::Planned
                        && (s != i.start_ms
                            || e != i.end_ms
                            || t != i.title
                            || tg != targets
                            || sm != i.start_main
                            || sc != i.scene
                            || rec != i.record) =>
                {
                    tx.execute(
                        "UPDATE schedule SET title = ?2, start_ms = ?3, end_ms = ?4, targets = ?5,
                           start_main = ?6, scene = ?7, record = ?8 WHERE id = ?1",
                        params![
                            id,
                            i.title,
                            i.start_ms,
                            i.end_ms,
                            targets,
                            i.start_main,
                            i.scene,
                            i.record
                        ],
                    )?;
                    updated += 1;
                }
                Some(_) => {}
            }
        }
        let keys: std::collections::HashSet<&str> = sets.iter().map(|i| i.key.as_str()).collect();
        let stale: Vec<(i64, String)> = {
            let mut st = tx.prepare(
                "SELECT id, external_id FROM schedule WHERE feed_id = ?1 AND state = 'planned'
                 AND end_ms > ?2 AND start_ms < ?3",
            )?;
            let rows = st.query_map(params![feed_id, from_ms, to_ms], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        let mut removed = 0;
        for (id, key) in stale {
            if !keys.contains(&key.as_str()) {
                tx.execute("DELETE FROM schedule WHERE id = ?1", [id])?;
                removed += 1;
            }
        }
        tx.commit()?;
        Ok((added, updated, removed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::EntryState;
    use crate::schedule::ics::Instance;
    use crate::schedule::test_entry as new;

    fn inst(key: &str, st: i64) -> Instance {
        Instance {
            key: key.into(),
            uid: key.into(),
            title: format!("set {key}"),
            start_ms: st,
            end_ms: st + 1_000,
            length_from_calendar: true,
        }
    }

    fn test_feed() -> NewFeed {
        NewFeed {
            url: "http://x/cal.ics".into(),
            targets: vec!["t1".into()],
            start_main: false,
            scene: None,
            refresh_s: 900,
            default_length_min: 60,
            record: true,
        }
    }

    #[test]
    fn entries_run_once_and_missed_ones_never_start() {
        let mut s = Store::open_in_memory().unwrap();
        let a = s.add_entry(&new("A", 1_000, 5_000, &["t1"]), 0).unwrap();
        let b = s.add_entry(&new("B", 2_000, 3_000, &["t2"]), 0).unwrap();
        assert!(s.take_due(500).unwrap().is_empty());
        assert_eq!(
            s.take_due(1_000)
                .unwrap()
                .iter()
                .map(|e| e.id)
                .collect::<Vec<_>>(),
            vec![a.id]
        );
        // A second look (say after a restart) does not hand it out again.
        assert!(s.take_due(1_500).unwrap().is_empty());
        assert_eq!(s.entries_in(EntryState::Running).unwrap().len(), 1);
        // B's whole slot passes while nobody looks: missed, never started.
        let missed = s.take_missed(3_500).unwrap();
        assert_eq!(missed.iter().map(|e| e.id).collect::<Vec<_>>(), vec![b.id]);
        assert!(s.take_due(3_600).unwrap().is_empty());
        s.finish_entry(a.id, EntryState::Done, 5_000, None).unwrap();
        let a = s.entry(a.id).unwrap().unwrap();
        assert_eq!(
            (a.state, a.started_ms, a.ended_ms),
            (EntryState::Done, Some(1_000), Some(5_000))
        );
        assert_eq!(s.entry(b.id).unwrap().unwrap().state, EntryState::Missed);
        // Listing: upcoming/running plus recent past.
        assert_eq!(s.entries(10_000, 10).unwrap().len(), 2);
        assert_eq!(s.entries(10_000, 1).unwrap().len(), 1);
    }

    #[test]
    fn feeds_update_planned_instances_in_place() {
        let mut s = Store::open_in_memory().unwrap();
        let feed = s.add_feed(&test_feed(), 0).unwrap();
        let r = s
            .apply_feed(
                &feed,
                &[inst("a", 10_000), inst("b", 20_000)],
                &[],
                0,
                100_000,
                1,
            )
            .unwrap();
        assert_eq!(r, (2, 0, 0));
        // Moved, unchanged, and one dropped from the feed.
        let r = s
            .apply_feed(
                &feed,
                &[inst("a", 12_000)],
                &["x skipped".into()],
                0,
                100_000,
                2,
            )
            .unwrap();
        assert_eq!(r, (0, 1, 1));
        let all = s.entries(0, 0).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(
            (all[0].start_ms, all[0].targets.clone()),
            (12_000, vec!["t1".to_string()])
        );
        assert_eq!(
            s.feed(feed.id).unwrap().unwrap().problems,
            vec!["x skipped"]
        );
        // A running instance is never changed by a refresh.
        s.take_due(12_000).unwrap();
        let r = s
            .apply_feed(&feed, &[inst("a", 50_000)], &[], 0, 100_000, 3)
            .unwrap();
        assert_eq!(r, (0, 0, 0));
        assert!(s.delete_feed(feed.id).unwrap());
        assert_eq!(
            s.entries_in(EntryState::Running).unwrap().len(),
            1,
            "history stays"
        );
    }

    #[test]
    fn a_set_over_before_its_feed_showed_it_is_not_recorded_as_missed() {
        let mut s = Store::open_in_memory().unwrap();
        let feed = s.add_feed(&test_feed(), 0).unwrap();
        // Subscribed at 5 000: "past" ended at 2 000 (in the look-back window), "now" runs.
        let r = s
            .apply_feed(
                &feed,
                &[inst("past", 1_000), inst("now", 4_500)],
                &[],
                0,
                100_000,
                5_000,
            )
            .unwrap();
        assert_eq!(r, (1, 0, 0));
        assert!(
            s.take_missed(10_000)
                .unwrap()
                .iter()
                .all(|e| e.title != "set past")
        );
        assert_eq!(
            s.entries(0, 10)
                .unwrap()
                .iter()
                .filter(|e| e.title == "set past")
                .count(),
            0
        );
    }
}
