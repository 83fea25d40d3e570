//! Alerts as operations: the rules, the list and history, acknowledging, the outgoing channels
//! (their URLs in the keyring), and what happens when the evaluator raises or clears one: stored
//! with its values, shown in the live picture (dashboard banner, `/metrics`), written to history,
//! sent as the platform webhook (`alert.raised` / `alert.cleared`), to every channel and as a
//! desktop notification.
//!
//! Threads: async on the runtime; the std mutexes are held only to copy or swap; desktop
//! notifications and keyring calls run on the blocking pool; channel deliveries are tasks of their
//! own (3 attempts, 10 s each), so a slow channel never delays the evaluator.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deckcast_secrets::Secret;
use serde::{Deserialize, Serialize};

use super::{App, AppError};
use crate::alerts::engine::{Happened, Key, Transition};
use crate::alerts::notify::{self, Channel, ChannelKind, Desktop};
use crate::alerts::rules::{self, AlertRules, RulesPatch, SPECS, Spec};
use crate::alerts::{Alert, AlertKind, AlertState, Severity};
use crate::store::{AlertRow, HistoryKind};
use crate::webhooks::WebhookEvent;

/// The Prometheus alerting rules shipped with Deckcast (`deckcast alerts rules-file`).
pub const PROMETHEUS_RULES: &str = include_str!("../../data/prometheus/deckcast-alerts.rules.yml");

/// Settings key of the channel list (URLs are in the keyring).
pub const CHANNELS: &str = "alert_channels";
/// Most outgoing channels.
pub const MAX_CHANNELS: usize = 16;
/// Most one-off reports waiting for the evaluator.
const MAX_REPORTS: usize = 100;

/// The keyring account of a channel's URL.
pub fn channel_account(id: &str) -> String {
    format!("alert-channel-{id}")
}

/// How a channel's deliveries went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelStatus {
    /// Last delivery that worked (Unix ms).
    #[schema(required)]
    pub last_ok_ms: Option<i64>,
    /// Why the last one failed (never the URL).
    #[schema(required)]
    pub last_error: Option<String>,
    /// When it failed.
    #[schema(required)]
    pub last_error_ms: Option<i64>,
}

/// A channel as the API shows it: never its URL.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = AlertChannel)]
#[serde(rename_all = "camelCase")]
pub struct ChannelView {
    /// The channel.
    #[serde(flatten)]
    pub channel: Channel,
    /// Its URL is in the keyring.
    pub url_in_keyring: bool,
    /// Deliveries.
    pub status: ChannelStatus,
}

/// `PUT /alerts/channels/{id}`: a new channel needs `kind` and `url`; otherwise absent fields
/// stay. `url` is write-only.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = AlertChannelInput)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelInput {
    /// A name for people (default: the id).
    pub name: Option<String>,
    /// The format.
    pub kind: Option<ChannelKind>,
    /// The webhook or topic URL (https, or http to this computer); a secret.
    #[schema(write_only)]
    pub url: Option<String>,
    /// Least severity sent (default `warning`: everything).
    pub min_severity: Option<Severity>,
    /// Send clearings too (default true).
    pub cleared: Option<bool>,
}

impl std::fmt::Debug for ChannelInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelInput")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url.as_ref().map(|_| "***"))
            .field("min_severity", &self.min_severity)
            .field("cleared", &self.cleared)
            .finish()
    }
}

/// Longest channel URL accepted.
pub const MAX_URL: usize = 2048;

/// `GET /alerts`: the active alerts and the history of a time range.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertList {
    /// Not cleared yet, oldest first.
    pub active: Vec<Alert>,
    /// Raised in the range, newest first.
    pub history: Vec<Alert>,
}

/// `GET /alerts/rules`: the rules and what each one's numbers mean.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RulesView {
    /// The rules.
    #[serde(flatten)]
    pub rules: AlertRules,
    /// Every rule's meaning, defaults and limits.
    pub specs: &'static [Spec],
}

/// The alert machinery's state inside the [`App`].
#[derive(Debug, Default)]
pub struct AlertsState {
    rules: Mutex<AlertRules>,
    reports: Mutex<Vec<Happened>>,
    open: Mutex<HashMap<Key, i64>>,
    status: Mutex<BTreeMap<String, ChannelStatus>>,
    desktop: Arc<Mutex<Desktop>>,
    desktop_failing: std::sync::atomic::AtomicBool,
    /// The scene to return to after a dead-air switch to the "be right back" scene.
    brb_return: Mutex<Option<String>>,
    /// Targets protection stopped (`app::protect`).
    pub(super) holds: Mutex<super::protect::Holds>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Alert {
    /// The alert of a stored row (`None` for a kind this build does not know).
    pub fn from_row(r: AlertRow) -> Option<Alert> {
        let kind = AlertKind::parse(&r.kind)?;
        let severity = if r.severity == "critical" {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let state = match (r.cleared_ms, r.acknowledged_ms) {
            (Some(_), _) => AlertState::Cleared,
            (None, Some(_)) => AlertState::Acknowledged,
            (None, None) => AlertState::Raised,
        };
        Some(Alert {
            id: r.id,
            kind,
            severity,
            state,
            target_id: r.target_id,
            target_name: r.target_name,
            message: r.message,
            value: r.value,
            worst: r.worst,
            threshold: r.threshold,
            raised_ms: r.raised_ms,
            acknowledged_ms: r.acknowledged_ms,
            cleared_ms: r.cleared_ms,
            cleared_message: r.cleared_message,
            action: r.action,
            title: kind.title().to_owned(),
        })
    }
}

fn check_channel_id(id: &str) -> Result<(), AppError> {
    if id.is_empty()
        || id.len() > 32
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(AppError::invalid(
            "a channel id is 1 to 32 characters of a-z, 0-9 and -",
        ));
    }
    Ok(())
}

impl App {
    /// The alert rules in force.
    pub fn alert_rules(&self) -> AlertRules {
        lock(&self.alerts.rules).clone()
    }

    /// The rules with their specs.
    pub fn alert_rules_view(&self) -> RulesView {
        RulesView {
            rules: self.alert_rules(),
            specs: SPECS,
        }
    }

    /// Reads the stored rules (at start).
    pub async fn load_alert_rules(&self) -> Result<(), AppError> {
        let text = self.db.call(|s| s.setting(rules::SETTING)).await?;
        *lock(&self.alerts.rules) = AlertRules::from_setting(text.as_deref());
        Ok(())
    }

    /// Changes the rules (only what `patch` names); on a bad value nothing changes.
    pub async fn set_alert_rules(&self, patch: RulesPatch) -> Result<RulesView, AppError> {
        let next = self.alert_rules().apply(patch).map_err(AppError::Invalid)?;
        let text = serde_json::to_string(&next)
            .map_err(|e| AppError::invalid(format!("encoding the rules: {e}")))?;
        self.db
            .call(move |s| s.set_setting(rules::SETTING, Some(&text)))
            .await?;
        *lock(&self.alerts.rules) = next;
        self.record(
            HistoryKind::AlertSettings,
            None,
            "alert rules changed".into(),
        )
        .await;
        Ok(self.alert_rules_view())
    }

    /// Active alerts and those raised in `[from_ms, to_ms)` (at most `limit`, newest first).
    pub async fn alerts(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<AlertList, AppError> {
        let (active, history) = self
            .db
            .call(move |s| {
                Ok((
                    s.active_alerts()?,
                    s.alerts_between(from_ms, to_ms, limit.min(1000))?,
                ))
            })
            .await?;
        Ok(AlertList {
            active: active.into_iter().filter_map(Alert::from_row).collect(),
            history: history.into_iter().filter_map(Alert::from_row).collect(),
        })
    }

    /// Someone is on it: the alert stays until its condition is over, but the banner calms down.
    pub async fn acknowledge_alert(&self, id: i64) -> Result<Alert, AppError> {
        let now = self.now_ms();
        let row = self
            .db
            .call(move |s| s.acknowledge_alert(id, now))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no alert {id}")))?;
        let alert =
            Alert::from_row(row).ok_or_else(|| AppError::NotFound(format!("no alert {id}")))?;
        if alert.state == AlertState::Acknowledged && alert.acknowledged_ms == Some(now) {
            self.record(
                HistoryKind::AlertAcknowledged,
                alert.target_id.clone(),
                format!("acknowledged: {}", alert.headline()),
            )
            .await;
        }
        self.refresh_active_alerts().await;
        Ok(alert)
    }

    /// Something happened once that is worth an alert (a set failed to start); the evaluator picks
    /// it up within a second.
    pub fn report_alert(&self, kind: AlertKind, message: String) {
        let mut r = lock(&self.alerts.reports);
        if r.len() < MAX_REPORTS {
            r.push(Happened {
                kind,
                message,
                at_ms: self.now_ms(),
            });
        }
    }

    /// The reports since the last call.
    pub(crate) fn take_alert_reports(&self) -> Vec<Happened> {
        std::mem::take(&mut *lock(&self.alerts.reports))
    }

    /// Clears what a previous run left open (at start).
    pub async fn close_orphan_alerts(&self) -> Result<usize, AppError> {
        let now = self.now_ms();
        Ok(self.db.call(move |s| s.close_orphan_alerts(now)).await?)
    }

    /// The id of the open alert `kind` (about `target`), if one is.
    pub(super) fn open_alert(&self, kind: AlertKind, target: Option<&str>) -> Option<i64> {
        lock(&self.alerts.open)
            .get(&(kind, target.map(str::to_owned)))
            .copied()
    }

    pub(super) async fn refresh_active_alerts(&self) {
        match self.db.call(|s| s.active_alerts()).await {
            Ok(rows) => {
                let active: Vec<Alert> = rows.into_iter().filter_map(Alert::from_row).collect();
                self.live.update(|s| s.alerts = active);
            }
            Err(e) => tracing::error!("alerts: {e}"),
        }
    }

    /// Stores and sends what the evaluator decided.
    pub async fn apply_alert_transitions(self: &Arc<App>, transitions: Vec<Transition>) {
        if transitions.is_empty() {
            return;
        }
        let now = self.now_ms();
        for t in transitions {
            let stored = match t {
                Transition::Raise {
                    key,
                    severity,
                    target_name,
                    message,
                    value,
                    threshold,
                } => {
                    let row = AlertRow {
                        id: 0,
                        kind: key.0.as_str().to_owned(),
                        severity: severity.as_str().to_owned(),
                        target_id: key.1.clone(),
                        target_name,
                        message: message.clone(),
                        value,
                        worst: value,
                        threshold,
                        raised_ms: now,
                        acknowledged_ms: None,
                        cleared_ms: None,
                        cleared_message: None,
                        action: None,
                    };
                    let r = self
                        .db
                        .call(move |s| {
                            let id = s.insert_alert(&row)?;
                            s.alert(id)
                        })
                        .await;
                    if let Ok(Some(r)) = &r {
                        lock(&self.alerts.open).insert(key.clone(), r.id);
                        self.record(HistoryKind::AlertRaised, key.1.clone(), message)
                            .await;
                    }
                    r
                }
                Transition::Clear {
                    key,
                    message,
                    worst,
                } => {
                    let Some(id) = lock(&self.alerts.open).remove(&key) else {
                        continue;
                    };
                    let text = message.clone();
                    let r = self
                        .db
                        .call(move |s| s.clear_alert(id, now, &text, worst))
                        .await;
                    if let Ok(Some(_)) = &r {
                        self.record(HistoryKind::AlertCleared, key.1.clone(), message)
                            .await;
                    }
                    r
                }
            };
            match stored {
                Ok(Some(row)) => {
                    if let Some(mut alert) = Alert::from_row(row) {
                        if alert.kind == AlertKind::DeadAir
                            && let Some(action) = self.dead_air_scene(&alert).await
                        {
                            let (id, a) = (alert.id, action.clone());
                            if let Err(e) = self.db.call(move |s| s.note_alert_action(id, &a)).await
                            {
                                tracing::error!("alerts: {e}");
                            }
                            alert.action = Some(match alert.action.take() {
                                Some(before) => format!("{before}; {action}"),
                                None => action,
                            });
                        }
                        self.deliver_alert(alert).await;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::error!("alerts: {e}"),
            }
        }
        self.refresh_active_alerts().await;
    }

    /// Dead-air protection: on the alert, switch to the "be right back" scene (remembering the
    /// scene on air); when it clears, switch back if that scene is still on air (a DJ who switched
    /// elsewhere meanwhile is not overruled). Returns what it did.
    async fn dead_air_scene(&self, alert: &Alert) -> Option<String> {
        let brb = self.alert_rules().dead_air_scene;
        let link = self.link()?;
        if alert.state == AlertState::Cleared {
            let back = lock(&self.alerts.brb_return).take()?;
            let on_air = link.program_scene().await.ok()?;
            if on_air != brb {
                return Some(format!(
                    "left scene '{on_air}' on air (it is no longer '{brb}')"
                ));
            }
            let done = match link.set_program_scene(&back).await {
                Ok(()) => format!("switched back to scene '{back}'"),
                Err(e) => format!("could not switch back to scene '{back}': {e}"),
            };
            self.record(HistoryKind::AlertAction, None, done.clone())
                .await;
            return Some(done);
        }
        if brb.is_empty() {
            return None;
        }
        let on_air = match link.program_scene().await {
            Ok(s) => s,
            Err(e) => return Some(format!("could not read the scene on air: {e}")),
        };
        if on_air == brb {
            return None;
        }
        let done = match link.set_program_scene(&brb).await {
            Ok(()) => {
                *lock(&self.alerts.brb_return) = Some(on_air.clone());
                format!("switched from scene '{on_air}' to '{brb}'")
            }
            Err(e) => format!("could not switch to scene '{brb}': {e}"),
        };
        self.record(HistoryKind::AlertAction, None, done.clone())
            .await;
        Some(done)
    }

    /// Sends `alert` everywhere it goes: the platform webhook, the desktop, every channel.
    async fn deliver_alert(self: &Arc<App>, alert: Alert) {
        let event = if alert.state == AlertState::Cleared {
            WebhookEvent::AlertCleared {
                alert: alert.clone(),
            }
        } else {
            WebhookEvent::AlertRaised {
                alert: alert.clone(),
            }
        };
        self.publish(event).await;
        if self.alert_rules().desktop {
            let desktop = Arc::clone(&self.alerts.desktop);
            let app = Arc::clone(self);
            let a = alert.clone();
            tokio::spawn(async move {
                let r = tokio::task::spawn_blocking(move || lock(&desktop).notify(&a)).await;
                let failing = &app.alerts.desktop_failing;
                match r {
                    Ok(Ok(_)) => failing.store(false, std::sync::atomic::Ordering::Relaxed),
                    Ok(Err(e)) => {
                        if !failing.swap(true, std::sync::atomic::Ordering::Relaxed) {
                            tracing::warn!("alerts: {e} (said once until it works again)");
                        }
                    }
                    Err(e) => tracing::error!("alerts: desktop notification task: {e}"),
                }
            });
        }
        let channels = match self.stored_channels().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("alert channels: {e}");
                return;
            }
        };
        for ch in channels {
            if alert.severity < ch.min_severity
                || (alert.state == AlertState::Cleared && !ch.cleared)
            {
                continue;
            }
            let app = Arc::clone(self);
            let a = alert.clone();
            tokio::spawn(async move {
                for (attempt, pause) in [0u64, 5, 30].into_iter().enumerate() {
                    tokio::time::sleep(Duration::from_secs(pause)).await;
                    match app.send_to_channel(&ch, &a).await {
                        Ok(()) => return,
                        Err(e) if attempt == 2 => {
                            tracing::warn!(
                                "alert channel {}: {e} (gave up after 3 attempts)",
                                ch.id
                            )
                        }
                        Err(_) => {}
                    }
                }
            });
        }
    }

    /// One delivery to `ch`; the outcome goes into its status. Errors never carry the URL.
    async fn send_to_channel(&self, ch: &Channel, alert: &Alert) -> Result<(), String> {
        let r = self.try_send(ch, alert).await;
        let now = self.now_ms();
        let mut status = lock(&self.alerts.status);
        let s = status.entry(ch.id.clone()).or_default();
        match &r {
            Ok(()) => s.last_ok_ms = Some(now),
            Err(e) => {
                s.last_error = Some(e.clone());
                s.last_error_ms = Some(now);
            }
        }
        r
    }

    async fn try_send(&self, ch: &Channel, alert: &Alert) -> Result<(), String> {
        let url = self
            .keys
            .get_async(&channel_account(&ch.id))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("its URL is not in the keyring (set it again)")?;
        let (to, body) = notify::body(ch.kind, url.expose(), alert)?;
        let resp = self
            .http
            .post(to)
            .timeout(Duration::from_secs(10))
            .json(&body)
            .send()
            .await
            .map_err(crate::fetch::error_text)?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", resp.status()))
        }
    }

    async fn stored_channels(&self) -> Result<Vec<Channel>, AppError> {
        let text = self.db.call(|s| s.setting(CHANNELS)).await?;
        Ok(text
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default())
    }

    async fn save_channels(&self, list: Vec<Channel>) -> Result<(), AppError> {
        let text = serde_json::to_string(&list)
            .map_err(|e| AppError::invalid(format!("encoding the channels: {e}")))?;
        self.db
            .call(move |s| s.set_setting(CHANNELS, Some(&text)))
            .await?;
        Ok(())
    }

    async fn channel_view(&self, channel: Channel) -> ChannelView {
        let url_in_keyring = matches!(
            self.keys.get_async(&channel_account(&channel.id)).await,
            Ok(Some(_))
        );
        let status = lock(&self.alerts.status)
            .get(&channel.id)
            .cloned()
            .unwrap_or_default();
        ChannelView {
            channel,
            url_in_keyring,
            status,
        }
    }

    /// The outgoing channels (never their URLs).
    pub async fn alert_channels(&self) -> Result<Vec<ChannelView>, AppError> {
        let mut out = Vec::new();
        for c in self.stored_channels().await? {
            out.push(self.channel_view(c).await);
        }
        Ok(out)
    }

    /// Creates or changes channel `id`; its URL goes to the keyring.
    pub async fn put_alert_channel(
        &self,
        id: &str,
        input: ChannelInput,
    ) -> Result<ChannelView, AppError> {
        check_channel_id(id)?;
        let mut list = self.stored_channels().await?;
        let existing = list.iter().position(|c| c.id == id);
        let base = match existing {
            Some(i) => list[i].clone(),
            None => {
                if list.len() >= MAX_CHANNELS {
                    return Err(AppError::Conflict(format!(
                        "at most {MAX_CHANNELS} alert channels"
                    )));
                }
                if input.url.is_none() {
                    return Err(AppError::invalid("a new channel needs its url"));
                }
                Channel {
                    id: id.to_owned(),
                    name: id.to_owned(),
                    kind: input.kind.ok_or_else(|| {
                        AppError::invalid(
                            "a new channel needs its kind (json, discord, slack or ntfy)",
                        )
                    })?,
                    min_severity: Severity::Warning,
                    cleared: true,
                }
            }
        };
        let mut ch = base;
        if let Some(name) = input.name {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
                return Err(AppError::invalid(
                    "a channel name is 1 to 100 characters without control characters",
                ));
            }
            ch.name = name.to_owned();
        }
        if let Some(k) = input.kind {
            ch.kind = k;
        }
        if let Some(s) = input.min_severity {
            ch.min_severity = s;
        }
        if let Some(c) = input.cleared {
            ch.cleared = c;
        }
        if let Some(url) = &input.url {
            let u = url.trim();
            if u.len() > MAX_URL {
                return Err(AppError::invalid(format!("url: at most {MAX_URL} bytes")));
            }
            crate::fetch::check_secret_carrying_url(u)
                .map_err(|why| AppError::invalid(format!("url: {why}")))?;
            if ch.kind == ChannelKind::Ntfy {
                let sample = sample_alert();
                notify::body(ch.kind, u, &sample)
                    .map_err(|why| AppError::invalid(format!("url: {why}")))?;
            }
            let secret =
                Secret::new(u.to_owned()).ok_or_else(|| AppError::invalid("url is empty"))?;
            self.keys.set_async(&channel_account(id), &secret).await?;
        }
        match existing {
            Some(i) => list[i] = ch.clone(),
            None => list.push(ch.clone()),
        }
        self.save_channels(list).await?;
        self.record(
            HistoryKind::AlertSettings,
            None,
            format!("alert channel {id} ({}) saved", ch.name),
        )
        .await;
        Ok(self.channel_view(ch).await)
    }

    /// Removes channel `id` and its URL.
    pub async fn delete_alert_channel(&self, id: &str) -> Result<(), AppError> {
        let mut list = self.stored_channels().await?;
        let before = list.len();
        list.retain(|c| c.id != id);
        if list.len() == before {
            return Err(AppError::NotFound(format!("no alert channel {id}")));
        }
        self.keys.delete_async(&channel_account(id)).await?;
        self.save_channels(list).await?;
        lock(&self.alerts.status).remove(id);
        self.record(
            HistoryKind::AlertSettings,
            None,
            format!("alert channel {id} removed"),
        )
        .await;
        Ok(())
    }

    /// Sends a test alert to channel `id` now and says how it went.
    pub async fn test_alert_channel(&self, id: &str) -> Result<ChannelView, AppError> {
        let ch = self
            .stored_channels()
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| AppError::NotFound(format!("no alert channel {id}")))?;
        self.send_to_channel(&ch, &sample_alert())
            .await
            .map_err(|e| AppError::Platform(format!("alert channel {id}: {e}")))?;
        Ok(self.channel_view(ch).await)
    }
}

/// The alert a channel test sends.
fn sample_alert() -> Alert {
    Alert {
        id: 0,
        kind: AlertKind::DeadAir,
        severity: Severity::Warning,
        state: AlertState::Raised,
        target_id: None,
        target_name: None,
        message: "This is a test alert from Deckcast: the channel works.".into(),
        value: 0.0,
        worst: 0.0,
        threshold: 0.0,
        raised_ms: crate::store::now_ms(),
        acknowledged_ms: None,
        cleared_ms: None,
        cleared_message: None,
        action: None,
        title: AlertKind::DeadAir.title().to_owned(),
    }
}
