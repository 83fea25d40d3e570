//! The webhook outbox: events queued in the same process step that notices them, delivered in
//! order by `crate::webhooks`, kept a week after delivery. An event the site refuses for good (or
//! that failed too often, or was pushed out of a full outbox) becomes a dead letter: never sent
//! again, kept 30 days for the dashboard.
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError};

/// One queued or delivered event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
    #[schema(required)]
    pub delivered_ms: Option<i64>,
    /// Last failure.
    #[schema(required)]
    pub last_error: Option<String>,
    /// Given up on at (Unix ms): a dead letter, never sent again.
    #[schema(required)]
    pub dead_ms: Option<i64>,
}

/// Counts and newest facts of the outbox, for the sync status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Events waiting for delivery.
    pub pending: i64,
    /// Dead letters.
    pub dead: i64,
    /// Newest delivery (Unix ms).
    pub last_delivered_ms: Option<i64>,
    /// When the newest dead letter was given up on (Unix ms).
    pub last_dead_ms: Option<i64>,
    /// The failure of the oldest waiting event, else of the newest dead letter.
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
             WHERE delivered_ms IS NULL AND dead_ms IS NULL ORDER BY id LIMIT ?1",
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

    /// Gives up on an event: a dead letter with the reason.
    pub fn dead(&mut self, row: i64, now_ms: i64, error: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, dead_ms = ?2, last_error = ?3 WHERE id = ?1",
            params![row, now_ms, error],
        )?;
        Ok(())
    }

    /// Keeps at most `max` events waiting: older ones become dead letters. Returns how many.
    pub fn cap_pending(&mut self, max: i64, now_ms: i64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE outbox SET dead_ms = ?2, last_error = ?3 WHERE id IN (
                SELECT id FROM outbox WHERE delivered_ms IS NULL AND dead_ms IS NULL
                ORDER BY id DESC LIMIT -1 OFFSET ?1)",
            params![
                max,
                now_ms,
                format!("dropped: more than {max} events were waiting")
            ],
        )?)
    }

    /// The newest outbox rows.
    pub fn outbox(&self, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT event_id, kind, created_ms, attempts, delivered_ms, last_error, dead_ms
             FROM outbox ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st.query_map([limit], |r| {
            Ok(OutboxItem {
                event_id: r.get(0)?,
                kind: r.get(1)?,
                created_ms: r.get(2)?,
                attempts: r.get(3)?,
                delivered_ms: r.get(4)?,
                last_error: r.get(5)?,
                dead_ms: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Events waiting and dead, the newest delivery, the most relevant failure.
    pub fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let (pending, dead, last_delivered_ms, last_dead_ms) = self.conn.query_row(
            "SELECT
                (SELECT COUNT(*) FROM outbox WHERE delivered_ms IS NULL AND dead_ms IS NULL),
                (SELECT COUNT(*) FROM outbox WHERE dead_ms IS NOT NULL),
                (SELECT MAX(delivered_ms) FROM outbox),
                (SELECT MAX(dead_ms) FROM outbox)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let waiting_error: Option<String> = self
            .conn
            .query_row(
                "SELECT last_error FROM outbox WHERE delivered_ms IS NULL AND dead_ms IS NULL
                 AND last_error IS NOT NULL ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let last_error = match waiting_error {
            Some(e) => Some(e),
            None => self
                .conn
                .query_row(
                    "SELECT last_error FROM outbox WHERE dead_ms IS NOT NULL ORDER BY dead_ms DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?
                .flatten(),
        };
        Ok(OutboxStats {
            pending,
            dead,
            last_delivered_ms,
            last_dead_ms,
            last_error,
        })
    }

    /// Makes every pending event due now (a fresh start retries at once instead of waiting out
    /// the backoff of a previous run).
    pub fn retry_now(&mut self, now_ms: i64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE outbox SET next_attempt_ms = ?1 WHERE delivered_ms IS NULL AND dead_ms IS NULL",
            [now_ms],
        )?)
    }

    /// Drops events delivered before `delivered_before` and dead letters from before
    /// `dead_before`.
    pub fn prune_outbox(
        &mut self,
        delivered_before: i64,
        dead_before: i64,
    ) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM outbox WHERE (delivered_ms IS NOT NULL AND delivered_ms < ?1)
                OR (dead_ms IS NOT NULL AND dead_ms < ?2)",
            params![delivered_before, dead_before],
        )?)
    }
}
