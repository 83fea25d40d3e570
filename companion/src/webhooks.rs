//! Web-platform sync, push side: typed events go into the SQLite outbox in the same process step
//! that notices them ([`queue`]), and a delivery task ([`run`]) POSTs them to the streamer's site
//! as signed webhooks.
//!
//! Delivery is at-least-once: a row is marked delivered only after a 2xx answer; failures back off
//! exponentially (2 s doubling to 10 min) and survive restarts (the outbox is in the database).
//! Delivery is in order, but an event the site refuses for good (a 4xx other than 408, 425 and
//! 429), one that failed [`MAX_ATTEMPTS`] times, or one pushed out when more than
//! [`MAX_PENDING`] wait becomes a dead letter and the next one goes.
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
/// Attempts before an event is given up on (about 3 hours of backoff).
pub const MAX_ATTEMPTS: i64 = 20;
/// Most events waiting; older ones become dead letters.
pub const MAX_PENDING: i64 = 10_000;
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
        /// The session's report (`null` if it could not be made).
        report: Option<Box<crate::report::SessionReport>>,
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
    /// `alert.raised`: an alert was raised.
    AlertRaised {
        /// The alert.
        alert: crate::alerts::Alert,
    },
    /// `alert.cleared`: an alert cleared.
    AlertCleared {
        /// The alert, with its clearing.
        alert: crate::alerts::Alert,
    },
    /// `recording.finished`: a recording's file closed (hash and tracklists included).
    RecordingFinished(Box<crate::library::RecordingFinished>),
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
            WebhookEvent::AlertRaised { .. } => "alert.raised",
            WebhookEvent::AlertCleared { .. } => "alert.cleared",
            WebhookEvent::RecordingFinished(_) => "recording.finished",
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
    if store.cap_pending(MAX_PENDING, now_ms)? > 0 {
        tracing::warn!("webhooks: more than {MAX_PENDING} events waiting; the oldest were dropped");
    }
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
    let stats = store.outbox_stats()?;
    Ok(SyncStatus {
        configured: url.is_some(),
        webhook_url: url,
        pending: stats.pending,
        dead: stats.dead,
        last_dead_ms: stats.last_dead_ms,
        last_delivered_ms: stats.last_delivered_ms,
        last_error: stats.last_error,
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

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx.
    Delivered,
    /// Worth trying again later (5xx, 408, 425, 429, timeouts, connection errors).
    Retry(String),
    /// The site refused it for good (any other 4xx, or a redirect it was not allowed to follow).
    Refused(String),
}

impl Attempt {
    /// Classifies an HTTP status.
    pub fn of_status(status: reqwest::StatusCode) -> Attempt {
        let code = status.as_u16();
        if status.is_success() {
            Attempt::Delivered
        } else if matches!(code, 408 | 425 | 429) || status.is_server_error() {
            Attempt::Retry(format!("HTTP {status}"))
        } else {
            Attempt::Refused(format!("HTTP {status}"))
        }
    }
}

/// The delivery task: every half second, sends what is due; the dashboard's status is refreshed
/// after every attempt and otherwise every 10 s (not a count of the outbox twice a second).
/// Delivered events are pruned after a week, dead letters after 30 days.
pub async fn run(
    db: Db,
    keys: Keys,
    live: Arc<Live>,
    http: reqwest::Client,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last_status = SyncStatus::default();
    let mut ticks = 0u32;
    if let Err(e) = db.call(|s| s.retry_now(now_ms())).await {
        tracing::error!("webhooks: {e}");
    }
    loop {
        let tried = match deliver_due(&db, &keys, &http).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!("webhooks: {e}");
                0
            }
        };
        if ticks.is_multiple_of(7_200) {
            let now = now_ms();
            let _ = db
                .call(move |s| s.prune_outbox(now - 7 * 86_400_000, now - 30 * 86_400_000))
                .await;
        }
        if (tried > 0 || ticks.is_multiple_of(20))
            && let Ok(status) = db.call(|s| sync_status(s)).await
            && status != last_status
        {
            last_status = status.clone();
            live.update(|s| s.sync = status);
        }
        ticks = ticks.wrapping_add(1);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Sends what is due, in order, until one must wait; returns how many were tried.
async fn deliver_due(db: &Db, keys: &Keys, http: &reqwest::Client) -> Result<usize, StoreError> {
    let Some(url) = db.call(|s| s.setting(WEBHOOK_URL)).await? else {
        return Ok(0);
    };
    let due = db.call(|s| s.due_events(now_ms(), 50)).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let secret = keys.get_async(WEBHOOK_SECRET).await.ok().flatten();
    let Some(secret) = secret else {
        tracing::warn!(
            "webhooks: no signing secret in the keyring; run `deckcast platform secret rotate`"
        );
        return Ok(0);
    };
    let mut tried = 0;
    for (row, event_id, kind, body, attempts) in due {
        tried += 1;
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
            Ok(r) => Attempt::of_status(r.status()),
            Err(e) if e.is_timeout() => Attempt::Retry("timed out after 10 s".to_owned()),
            Err(e) => Attempt::Retry(crate::fetch::error_text(e)),
        };
        let now = now_ms();
        match outcome {
            Attempt::Delivered => db.call(move |s| s.delivered(row, now)).await?,
            Attempt::Refused(why) => {
                let why = format!("the site refused it ({why}); it will not be sent again");
                tracing::warn!("webhook {event_id}: {why}");
                db.call(move |s| s.dead(row, now, &why)).await?;
            }
            Attempt::Retry(why) if attempts + 1 >= MAX_ATTEMPTS => {
                let why = format!("gave up after {MAX_ATTEMPTS} attempts (last: {why})");
                tracing::warn!("webhook {event_id}: {why}");
                db.call(move |s| s.dead(row, now, &why)).await?;
            }
            Attempt::Retry(why) => {
                let next = now + backoff_ms(attempts);
                db.call(move |s| s.failed(row, next, &why)).await?;
                // Keep order: later events wait for this one.
                break;
            }
        }
    }
    Ok(tried)
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

    /// A site on 127.0.0.1 answering each request with the next status of `statuses` (then 200);
    /// returns its URL and the event types it was sent, in order.
    async fn site(statuses: Vec<u16>) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            let mut statuses = statuses.into_iter();
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = vec![0u8; 65_536];
                let mut n = 0;
                // Headers and body arrive together for these small requests; read until the
                // declared body is in.
                loop {
                    let k = sock.read(&mut buf[n..]).await.unwrap_or(0);
                    n += k;
                    let text = String::from_utf8_lossy(&buf[..n]).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            let kind = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("x-deckcast-event:")
                                        .map(|v| v.trim().to_owned())
                                })
                                .unwrap_or_default();
                            log.lock().unwrap().push(kind);
                            break;
                        }
                    }
                    if k == 0 {
                        break;
                    }
                }
                let status = statuses.next().unwrap_or(200);
                let _ = sock
                    .write_all(
                        format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await;
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn an_event_the_site_refuses_is_a_dead_letter_and_the_next_one_goes() {
        let (url, seen) = site(vec![400, 503]).await;
        let db = Db::new(Store::open_in_memory().unwrap());
        let keys = Keys::with_store(Arc::new(deckcast_secrets::MemoryStore::default()));
        keys.set(
            WEBHOOK_SECRET,
            &deckcast_secrets::Secret::new("s3cret").unwrap(),
        )
        .unwrap();
        let u = url.clone();
        db.call(move |s| {
            s.set_setting(WEBHOOK_URL, Some(&u))?;
            enqueue(s, &target_state(), 1)?;
            enqueue(
                s,
                &WebhookEvent::Schedule {
                    entries: Vec::new(),
                },
                2,
            )?;
            Ok(())
        })
        .await
        .unwrap();
        let http = crate::web::http_client();
        // 400 for the first: given up on at once, and the second is tried right after (503).
        assert_eq!(deliver_due(&db, &keys, &http).await.unwrap(), 2);
        let st = db.call(|s| sync_status(s)).await.unwrap();
        assert_eq!((st.pending, st.dead), (1, 1), "{st:?}");
        assert_eq!(
            st.last_error.as_deref(),
            Some("HTTP 503 Service Unavailable")
        );
        let items = db.call(|s| s.outbox(10)).await.unwrap();
        let dead = items.iter().find(|i| i.kind == "target.state").unwrap();
        assert!(dead.dead_ms.is_some());
        assert!(
            dead.last_error
                .as_deref()
                .unwrap()
                .contains("refused it (HTTP 400"),
            "{dead:?}"
        );
        // The 503 is retried after its backoff; the dead letter never again.
        db.call(|s| s.retry_now(now_ms()).map(|_| ()))
            .await
            .unwrap();
        assert_eq!(deliver_due(&db, &keys, &http).await.unwrap(), 1);
        let st = db.call(|s| sync_status(s)).await.unwrap();
        assert_eq!((st.pending, st.dead), (0, 1), "{st:?}");
        assert_eq!(
            *seen.lock().unwrap(),
            ["target.state", "schedule", "schedule"]
        );
        assert_eq!(
            Attempt::of_status(reqwest::StatusCode::TOO_MANY_REQUESTS),
            Attempt::Retry("HTTP 429 Too Many Requests".into())
        );
        assert!(matches!(
            Attempt::of_status(reqwest::StatusCode::GONE),
            Attempt::Refused(_)
        ));
    }

    #[test]
    fn a_full_outbox_keeps_the_newest_events() {
        let mut s = Store::open_in_memory().unwrap();
        s.set_setting(WEBHOOK_URL, Some("https://example.com/hook"))
            .unwrap();
        for i in 0..30 {
            enqueue(&mut s, &target_state(), i).unwrap();
        }
        assert_eq!(s.cap_pending(10, 100).unwrap(), 20);
        let st = sync_status(&s).unwrap();
        assert_eq!((st.pending, st.dead), (10, 20));
        let due = s.due_events(1_000, 100).unwrap();
        let newest: Vec<i64> = s.outbox(10).unwrap().iter().map(|i| i.created_ms).collect();
        assert_eq!(due.len(), 10);
        assert_eq!(newest, (20..30).rev().collect::<Vec<_>>());
        // Pruning keeps recent dead letters, drops old ones.
        assert_eq!(s.prune_outbox(0, 50).unwrap(), 0);
        assert_eq!(s.prune_outbox(0, 101).unwrap(), 20);
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
