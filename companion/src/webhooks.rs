//! Web-platform sync, push side: typed events go into the SQLite outbox in the same process step
//! that notices them ([`queue`]), and a delivery task ([`run`]) POSTs them to the streamer's site
//! as signed webhooks.
//!
//! Delivery is at-least-once: a row is marked delivered only after a 2xx answer; failures back off
//! exponentially (2 s doubling to 10 min) and survive restarts (the outbox is in the database).
//! Each event carries a unique `id` (also in `X-Deckcast-Event-Id`) so receivers can drop
//! duplicates. Signature: `X-Deckcast-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
//! with `X-Deckcast-Timestamp` (Unix seconds); the secret lives in the keyring
//! (`webhook-secret`). Contract: `docs/platform-api.md` and `docs/platform-openapi.json`.
//!
//! Threads: one tokio task; database and keyring calls on the blocking pool.
use std::sync::Arc;
use std::time::Duration;

use deckcast_protocol::targets::TargetState;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::watch;

use crate::keys::Keys;
use crate::live::{Live, SyncStatus};
use crate::obs::{MainStream, ObsStats};
use crate::schedule::Entry;
use crate::store::{Db, EndReason, Store, StoreError, now_ms};

/// Keyring account of the webhook signing secret.
pub const WEBHOOK_SECRET: &str = "webhook-secret";
/// Settings key of the webhook URL.
pub const WEBHOOK_URL: &str = "webhook_url";
/// Settings key of the health summary interval (seconds).
pub const HEALTH_INTERVAL: &str = "health_interval_s";

/// A target in the `health` summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthTarget {
    /// Target id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Platform.
    pub platform: String,
    /// State.
    pub state: TargetState,
    /// Bitrate.
    pub kbps: f64,
    /// Frames per second.
    pub fps: f64,
    /// Dropped frames so far.
    pub dropped_frames: u64,
    /// Seconds live.
    pub uptime_sec: f64,
    /// Reconnects.
    pub reconnects: u32,
}

/// The events the site receives (`type` on the wire, payload as `data`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum WebhookEvent {
    /// `stream.started`: the first output went live.
    StreamStarted {
        /// Session id.
        #[serde(rename = "sessionId")]
        session_id: i64,
        /// When (Unix ms).
        #[serde(rename = "startedMs")]
        started_ms: i64,
        /// Outputs live at the start (target ids, `obs` for OBS's own stream).
        outputs: Vec<String>,
    },
    /// `stream.ended`: the last output stopped.
    StreamEnded {
        /// Session id.
        #[serde(rename = "sessionId")]
        session_id: i64,
        /// When (Unix ms).
        #[serde(rename = "endedMs")]
        ended_ms: i64,
        /// Why.
        reason: EndReason,
    },
    /// `target.state`: a target changed state.
    TargetState {
        /// Target id.
        id: String,
        /// Name.
        name: String,
        /// New state.
        state: TargetState,
        /// Previous state.
        previous: TargetState,
        /// Its last error (`null` when none).
        #[serde(rename = "lastError")]
        last_error: Option<String>,
        /// Reconnects since the last manual start.
        reconnects: u32,
    },
    /// `health`: a summary every few seconds while anything is live.
    Health {
        /// Every target.
        targets: Vec<HealthTarget>,
        /// OBS's own stream.
        #[serde(rename = "mainStream")]
        main_stream: MainStream,
        /// OBS's counters (`null` before the first poll).
        obs: Option<ObsStats>,
    },
    /// `nowplaying`: the track on air changed.
    NowPlaying {
        /// Artist.
        artist: String,
        /// Title.
        title: String,
        /// Album (`null` when unknown).
        album: Option<String>,
        /// Library BPM (`null` when unknown).
        bpm: Option<f64>,
    },
    /// `schedule`: the upcoming and running sets, after any change.
    Schedule {
        /// The sets.
        entries: Vec<Entry>,
    },
}

impl WebhookEvent {
    /// The event type (`X-Deckcast-Event`, `type` in the body).
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookEvent::StreamStarted { .. } => "stream.started",
            WebhookEvent::StreamEnded { .. } => "stream.ended",
            WebhookEvent::TargetState { .. } => "target.state",
            WebhookEvent::Health { .. } => "health",
            WebhookEvent::NowPlaying { .. } => "nowplaying",
            WebhookEvent::Schedule { .. } => "schedule",
        }
    }
}

/// The body of one delivery.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    created_ms: i64,
    data: &'a WebhookEvent,
}

/// A unique event id: random where the OS has randomness, else the time and a counter (an id
/// only has to be unique, not secret).
fn event_id(now_ms: i64) -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    match crate::keys::random_token() {
        Ok(t) => format!("evt_{}", t.expose().get(..24).unwrap_or_default()),
        Err(_) => format!(
            "evt_{now_ms:x}_{}",
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
    }
}

/// Queues `event` in `store` (only while a webhook is configured). Returns its id.
pub fn enqueue(
    store: &mut Store,
    event: &WebhookEvent,
    now_ms: i64,
) -> Result<Option<String>, StoreError> {
    if store.setting(WEBHOOK_URL)?.is_none() {
        return Ok(None);
    }
    let id = event_id(now_ms);
    let body = serde_json::to_string(&Envelope {
        id: &id,
        kind: event.kind(),
        created_ms: now_ms,
        data: event,
    })
    .map_err(|e| StoreError::Task(format!("encoding a webhook: {e}")))?;
    store.insert_outbox(&id, event.kind(), &body, now_ms)?;
    Ok(Some(id))
}

/// Queues `event` at `now_ms` (no-op without a configured webhook); failures are logged.
pub async fn queue(db: &Db, event: WebhookEvent, now_ms: i64) {
    if let Err(e) = db.call(move |s| enqueue(s, &event, now_ms)).await {
        tracing::error!("webhook outbox: {e}");
    }
}

/// Sync status for the dashboard.
pub fn sync_status(store: &Store) -> Result<SyncStatus, StoreError> {
    let url = store.setting(WEBHOOK_URL)?;
    let (pending, last_delivered_ms, last_error) = store.outbox_stats()?;
    Ok(SyncStatus {
        configured: url.is_some(),
        webhook_url: url,
        pending,
        last_delivered_ms,
        last_error,
    })
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

/// The delivery task: every half second, sends what is due and refreshes the dashboard's status.
pub async fn run(
    db: Db,
    keys: Keys,
    live: Arc<Live>,
    http: reqwest::Client,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last_status = SyncStatus::default();
    let mut since_prune = 0u32;
    if let Err(e) = db.call(|s| s.retry_now(now_ms())).await {
        tracing::error!("webhooks: {e}");
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = deliver_due(&db, &keys, &http).await {
            tracing::error!("webhooks: {e}");
        }
        since_prune += 1;
        if since_prune >= 7_200 {
            since_prune = 0;
            let week = now_ms() - 7 * 86_400_000;
            let _ = db.call(move |s| s.prune_outbox(week)).await;
        }
        if let Ok(status) = db.call(|s| sync_status(s)).await
            && status != last_status
        {
            last_status = status.clone();
            live.update(|s| s.sync = status);
        }
    }
}

async fn deliver_due(db: &Db, keys: &Keys, http: &reqwest::Client) -> Result<(), StoreError> {
    let Some(url) = db.call(|s| s.setting(WEBHOOK_URL)).await? else {
        return Ok(());
    };
    let due = db.call(|s| s.due_events(now_ms(), 50)).await?;
    if due.is_empty() {
        return Ok(());
    }
    let secret = keys.get_async(WEBHOOK_SECRET).await.ok().flatten();
    let Some(secret) = secret else {
        tracing::warn!(
            "webhooks: no signing secret in the keyring; run `deckcast platform secret rotate`"
        );
        return Ok(());
    };
    for (row, event_id, kind, body, attempts) in due {
        let ts = now_ms() / 1000;
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
            Ok(()) => db.call(move |s| s.delivered(row, now_ms())).await?,
            Err(why) => {
                let next = now_ms() + backoff_ms(attempts);
                db.call(move |s| s.failed(row, next, &why)).await?;
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

    fn target_state() -> WebhookEvent {
        WebhookEvent::TargetState {
            id: "t".into(),
            name: "T".into(),
            state: TargetState::Live,
            previous: TargetState::Connecting,
            last_error: None,
            reconnects: 0,
        }
    }

    #[test]
    fn events_queue_only_with_a_webhook_and_back_off() {
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(enqueue(&mut s, &target_state(), 1).unwrap(), None);
        s.set_setting(WEBHOOK_URL, Some("http://127.0.0.1:9/hook"))
            .unwrap();
        let id = enqueue(&mut s, &target_state(), 1).unwrap().unwrap();
        let due = s.due_events(1, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].1.as_str(), due[0].2.as_str()),
            (id.as_str(), "target.state")
        );
        let body: serde_json::Value = serde_json::from_str(&due[0].3).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"id": id, "type": "target.state", "createdMs": 1, "data": {
                "id": "t", "name": "T", "state": "live", "previous": "connecting",
                "lastError": null, "reconnects": 0}})
        );
        s.failed(due[0].0, 5_000, "HTTP 500").unwrap();
        enqueue(
            &mut s,
            &WebhookEvent::Schedule {
                entries: Vec::new(),
            },
            2,
        )
        .unwrap();
        // The later event waits behind the one backing off (FIFO).
        assert!(s.due_events(4_999, 10).unwrap().is_empty());
        assert_eq!(s.due_events(5_000, 10).unwrap().len(), 2);
        assert_eq!(
            sync_status(&s).unwrap().last_error.as_deref(),
            Some("HTTP 500")
        );
        s.delivered(due[0].0, 6_000).unwrap();
        let st = sync_status(&s).unwrap();
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
    fn now_playing_payloads_keep_their_nulls_as_the_contract_says() {
        let v = serde_json::to_value(WebhookEvent::NowPlaying {
            artist: "A".into(),
            title: "T".into(),
            album: None,
            bpm: None,
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"artist": "A", "title": "T", "album": null, "bpm": null})
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
