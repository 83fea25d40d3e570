//! Web-platform sync, push side: events go into the SQLite outbox in the same process step that
//! notices them, and a delivery task POSTs them to the streamer's site as signed webhooks.
//!
//! Delivery is at-least-once: a row is marked delivered only after a 2xx answer; failures back off
//! exponentially (2 s doubling to 10 min) and survive restarts (the outbox is in the database).
//! Each event carries a unique `id` (also in `X-Deckcast-Event-Id`) so receivers can drop
//! duplicates. Signature: `X-Deckcast-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
//! with `X-Deckcast-Timestamp` (Unix seconds); the secret lives in the keyring
//! (`webhook-secret`). Contract: `docs/platform-api.md`.
//!
//! Threads: one tokio task; database and keyring calls on the blocking pool.
use std::time::Duration;

use hmac::{Hmac, Mac};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::watch;

use crate::store::{Store, StoreError, now_ms};

/// Keyring account of the webhook signing secret.
pub const WEBHOOK_SECRET: &str = "webhook-secret";
/// Settings key of the webhook URL.
pub const WEBHOOK_URL: &str = "webhook_url";
/// Settings key of the health summary interval (seconds).
pub const HEALTH_INTERVAL: &str = "health_interval_s";

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

/// What the dashboard shows about sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// A webhook URL is set.
    pub configured: bool,
    /// The webhook URL (not a secret).
    pub webhook_url: Option<String>,
    /// Events waiting for delivery.
    pub pending: i64,
    /// Last successful delivery (Unix ms).
    pub last_delivered_ms: Option<i64>,
    /// Last failure, if the newest attempt failed.
    pub last_error: Option<String>,
}

impl Store {
    /// A setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Sets (or with `None` removes) a setting.
    pub fn set_setting(&mut self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        match value {
            Some(v) => self.conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, v],
            )?,
            None => self
                .conn
                .execute("DELETE FROM settings WHERE key = ?1", [key])?,
        };
        Ok(())
    }

    /// Queues an event (only while a webhook is configured). Returns its id.
    pub fn enqueue(
        &mut self,
        kind: &str,
        data: &serde_json::Value,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        if self.setting(WEBHOOK_URL)?.is_none() {
            return Ok(None);
        }
        let id = format!(
            "evt_{}",
            crate::keys::random_token()
                .expose()
                .get(..24)
                .unwrap_or_default()
        );
        let body = serde_json::json!({"id": id, "type": kind, "createdMs": now_ms, "data": data});
        self.conn.execute(
            "INSERT INTO outbox (event_id, kind, payload, created_ms, next_attempt_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
            params![id, kind, body.to_string(), now_ms],
        )?;
        Ok(Some(id))
    }

    /// Undelivered events in order, up to the first one that is not due yet (delivery is FIFO:
    /// an event waiting out its backoff holds back the later ones).
    pub fn due_events(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String, String, i64)>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT id, event_id, payload, attempts, next_attempt_ms FROM outbox
             WHERE delivered_ms IS NULL ORDER BY id LIMIT ?1",
        )?;
        let rows = st.query_map(params![limit], |r| {
            Ok((
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?),
                r.get::<_, i64>(4)?,
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

    /// Sync status for the dashboard.
    pub fn sync_status(&self) -> Result<SyncStatus, StoreError> {
        let url = self.setting(WEBHOOK_URL)?;
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
        Ok(SyncStatus {
            configured: url.is_some(),
            webhook_url: url,
            pending,
            last_delivered_ms,
            last_error,
        })
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

/// `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// Delay before attempt `attempts + 1`: 2 s doubling, at most 10 min.
pub fn backoff_ms(attempts: i64) -> i64 {
    (2_000i64 << attempts.clamp(0, 20)).min(600_000)
}

/// The delivery task.
pub async fn run(
    service: std::sync::Arc<crate::service::Service>,
    http: reqwest::Client,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last_status = SyncStatus::default();
    let mut since_prune = 0u32;
    if let Err(e) = service.db.call(|s| s.retry_now(now_ms())).await {
        tracing::error!("webhooks: {e}");
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = deliver_due(&service, &http).await {
            tracing::error!("webhooks: {e}");
        }
        since_prune += 1;
        if since_prune >= 7_200 {
            since_prune = 0;
            let week = now_ms() - 7 * 86_400_000;
            let _ = service.db.call(move |s| s.prune_outbox(week)).await;
        }
        if let Ok(status) = service.db.call(|s| s.sync_status()).await
            && status != last_status
        {
            last_status = status.clone();
            service.live.update(|s| s.sync = status);
        }
    }
}

async fn deliver_due(
    service: &crate::service::Service,
    http: &reqwest::Client,
) -> Result<(), StoreError> {
    let Some(url) = service.db.call(|s| s.setting(WEBHOOK_URL)).await? else {
        return Ok(());
    };
    let due = service.db.call(|s| s.due_events(now_ms(), 50)).await?;
    if due.is_empty() {
        return Ok(());
    }
    let secret = service.keys.get_async(WEBHOOK_SECRET).await.ok().flatten();
    let Some(secret) = secret else {
        tracing::warn!(
            "webhooks: no signing secret in the keyring; run `deckcast platform secret rotate`"
        );
        return Ok(());
    };
    for (row, event_id, body, attempts) in due {
        let ts = now_ms() / 1000;
        let kind = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["type"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let sent = http
            .post(&url)
            .timeout(Duration::from_secs(10))
            .header("content-type", "application/json")
            .header("x-deckcast-event", kind)
            .header("x-deckcast-event-id", &event_id)
            .header("x-deckcast-timestamp", ts.to_string())
            .header("x-deckcast-signature", sign(secret.expose(), ts, &body))
            .body(body)
            .send()
            .await;
        let outcome = match sent {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status())),
            Err(e) if e.is_timeout() => Err("timed out after 10 s".to_owned()),
            Err(e) => Err(format!("{e}")),
        };
        match outcome {
            Ok(()) => service.db.call(move |s| s.delivered(row, now_ms())).await?,
            Err(why) => {
                let next = now_ms() + backoff_ms(attempts);
                service.db.call(move |s| s.failed(row, next, &why)).await?;
                // Keep order: later events wait for this one.
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_queue_only_with_a_webhook_and_back_off() {
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(
            s.enqueue("target.state", &serde_json::json!({}), 1)
                .unwrap(),
            None
        );
        s.set_setting(WEBHOOK_URL, Some("http://127.0.0.1:9/hook"))
            .unwrap();
        let id = s
            .enqueue("target.state", &serde_json::json!({"id": "t"}), 1)
            .unwrap()
            .unwrap();
        let due = s.due_events(1, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1, id);
        let body: serde_json::Value = serde_json::from_str(&due[0].2).unwrap();
        assert_eq!(
            (body["id"].as_str(), body["type"].as_str()),
            (Some(id.as_str()), Some("target.state"))
        );
        s.failed(due[0].0, 5_000, "HTTP 500").unwrap();
        s.enqueue("health", &serde_json::json!({}), 2).unwrap();
        // The later event waits behind the one backing off (FIFO).
        assert!(s.due_events(4_999, 10).unwrap().is_empty());
        assert_eq!(s.due_events(5_000, 10).unwrap().len(), 2);
        assert_eq!(
            s.sync_status().unwrap().last_error.as_deref(),
            Some("HTTP 500")
        );
        s.delivered(due[0].0, 6_000).unwrap();
        let st = s.sync_status().unwrap();
        assert_eq!(
            (st.pending, st.last_delivered_ms, st.last_error),
            (1, Some(6_000), None)
        );
        assert_eq!(s.outbox(10).unwrap()[1].attempts, 2);
        assert_eq!(
            (backoff_ms(0), backoff_ms(1), backoff_ms(30)),
            (2_000, 4_000, 600_000)
        );
    }

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_and_body() {
        // RFC 4231 test case 2 (key "Jefe"), message "what do ya want for nothing?".
        let sig = sign("Jefe", 0, "x");
        assert!(sig.starts_with("v1=") && sig.len() == 3 + 64);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_ne!(sign("k", 1, "body"), sign("k", 1, "bodY"));
        assert_ne!(sign("k", 1, "body"), sign("k", 2, "body"));
    }
}
