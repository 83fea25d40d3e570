//! The webhook outbox: events queued in the same process step that notices them, delivered in
//! order by `crate::webhooks`, kept a week after delivery.
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError};

/// One queued or delivered event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxItem {
    /// Event id (unique; receivers dedupe on it).
    pub event_id: String,
    /// Event type (`stream.started`, ...).
    pub kind: String,
    /// Queued at (Unix ms).
    pub created_ms: i64,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Delivered at (Unix ms).
    pub delivered_ms: Option<i64>,
    /// Last failure.
    pub last_error: Option<String>,
}

/// An event due for delivery: (row, event id, type, body, attempts so far).
pub type DueEvent = (i64, String, String, String, i64);

impl Store {
    /// Queues an event: its id, type and the whole JSON body to send.
    pub fn insert_outbox(
        &mut self,
        event_id: &str,
        kind: &str,
        body: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO outbox (event_id, kind, payload, created_ms, next_attempt_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
            params![event_id, kind, body, now_ms],
        )?;
        Ok(())
    }

    /// Undelivered events in order as (row, event id, type, body, attempts), up to the first one
    /// that is not due yet (delivery is FIFO: an event waiting out its backoff holds back the
    /// later ones).
    pub fn due_events(&self, now_ms: i64, limit: u32) -> Result<Vec<DueEvent>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT id, event_id, kind, payload, attempts, next_attempt_ms FROM outbox
             WHERE delivered_ms IS NULL ORDER BY id LIMIT ?1",
        )?;
        let rows = st.query_map(params![limit], |r| {
            Ok((
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (item, next) = row?;
            if next > now_ms {
                break;
            }
            out.push(item);
        }
        Ok(out)
    }

    /// Marks an event delivered.
    pub fn delivered(&mut self, row: i64, now_ms: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE outbox SET delivered_ms = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
            params![row, now_ms],
        )?;
        Ok(())
    }

    /// Records a failed attempt and when to try again.
    pub fn failed(&mut self, row: i64, next_ms: i64, error: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?2, last_error = ?3 WHERE id = ?1",
            params![row, next_ms, error],
        )?;
        Ok(())
    }

    /// The newest outbox rows.
    pub fn outbox(&self, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT event_id, kind, created_ms, attempts, delivered_ms, last_error FROM outbox
             ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st.query_map([limit], |r| {
            Ok(OutboxItem {
                event_id: r.get(0)?,
                kind: r.get(1)?,
                created_ms: r.get(2)?,
                attempts: r.get(3)?,
                delivered_ms: r.get(4)?,
                last_error: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Events waiting, the newest delivery (Unix ms) and the failure of the oldest waiting event.
    pub fn outbox_stats(&self) -> Result<(i64, Option<i64>, Option<String>), StoreError> {
        let pending = self.conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE delivered_ms IS NULL",
            [],
            |r| r.get(0),
        )?;
        let last_delivered_ms =
            self.conn
                .query_row("SELECT MAX(delivered_ms) FROM outbox", [], |r| r.get(0))?;
        let last_error = self
            .conn
            .query_row(
                "SELECT last_error FROM outbox WHERE delivered_ms IS NULL AND last_error IS NOT NULL
                 ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok((pending, last_delivered_ms, last_error))
    }

    /// Makes every pending event due now (a fresh start retries at once instead of waiting out
    /// the backoff of a previous run).
    pub fn retry_now(&mut self, now_ms: i64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE outbox SET next_attempt_ms = ?1 WHERE delivered_ms IS NULL",
            [now_ms],
        )?)
    }

    /// Drops delivered events older than `before_ms`.
    pub fn prune_outbox(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM outbox WHERE delivered_ms IS NOT NULL AND delivered_ms < ?1",
            [before_ms],
        )?)
    }
}
