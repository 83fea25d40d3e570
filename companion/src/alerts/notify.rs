//! What goes out when an alert is raised or cleared.
//!
//! - [`Desktop`]: a notification through the freedesktop notification service
//!   (`org.freedesktop.Notifications.Notify` on the session bus, Desktop Notifications
//!   Specification 1.2), so it pops up over the DJ software; the clearing replaces it.
//! - [`Channel`]s: outgoing webhooks in four formats, built by [`body`]:
//!   generic JSON (`{"type": "alert.raised", "alert": {...}}`), Discord's Execute Webhook
//!   (<https://discord.com/developers/docs/resources/webhook#execute-webhook>: `content` ≤ 2000
//!   characters, mentions disabled through `allowed_mentions`), Slack's incoming webhooks
//!   (<https://api.slack.com/messaging/webhooks>: `text`, with `&`, `<`, `>` escaped as Slack's
//!   message formatting asks) and ntfy's JSON publishing (<https://docs.ntfy.sh/publish/#publish-as-json>:
//!   POST `{topic, title, message, priority, tags}` to the server's root).
//!   A channel's URL is a secret: it lives in the keyring and never appears in logs or answers.
//!
//! Threads: [`Desktop::notify`] blocks on D-Bus (at most 2 s per call): run it on the blocking
//! pool. The rest is pure.
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Alert, AlertState, Severity};

/// Most characters of text sent to a channel (Discord allows 2000).
pub const MAX_TEXT: usize = 1900;

/// A channel's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// `{"type", "alert"}` as JSON.
    Json,
    /// A Discord webhook.
    Discord,
    /// A Slack incoming webhook.
    Slack,
    /// An ntfy topic URL (`https://ntfy.sh/my-topic`).
    Ntfy,
}

/// An outgoing alert channel (its URL is in the keyring).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    /// Its id (`[a-z0-9-]`, 1–32).
    pub id: String,
    /// A name for people.
    pub name: String,
    /// The format.
    pub kind: ChannelKind,
    /// Alerts below this severity are not sent.
    pub min_severity: Severity,
    /// Clearings are sent too.
    pub cleared: bool,
}

/// An alert being raised or cleared, as the generic JSON channel and the platform webhook send it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertEvent<'a> {
    /// `alert.raised` or `alert.cleared`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The alert.
    pub alert: &'a Alert,
}

impl<'a> AlertEvent<'a> {
    /// The event for `alert` in its current state.
    pub fn of(alert: &'a Alert) -> AlertEvent<'a> {
        AlertEvent {
            kind: if alert.state == AlertState::Cleared {
                "alert.cleared"
            } else {
                "alert.raised"
            },
            alert,
        }
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The text of a notification: a summary line and a body.
pub fn text(alert: &Alert) -> (String, String) {
    let (summary, body) = match alert.state {
        AlertState::Cleared => (
            format!("Cleared: {}", alert.headline()),
            alert
                .cleared_message
                .clone()
                .unwrap_or_else(|| alert.message.clone()),
        ),
        _ => (alert.headline(), alert.message.clone()),
    };
    match &alert.action {
        Some(a) => (summary, format!("{body} — Deckcast {a}")),
        None => (summary, body),
    }
}

/// Discord's Execute Webhook body.
#[derive(Debug, Serialize)]
struct DiscordBody {
    username: &'static str,
    content: String,
    allowed_mentions: AllowedMentions,
}

/// No `@everyone`, role or user pings, whatever the text says.
#[derive(Debug, Serialize)]
struct AllowedMentions {
    parse: [&'static str; 0],
}

/// A Slack incoming-webhook body.
#[derive(Debug, Serialize)]
struct SlackBody {
    text: String,
}

/// An ntfy JSON publish body.
#[derive(Debug, Serialize)]
struct NtfyBody {
    topic: String,
    title: String,
    message: String,
    priority: u8,
    tags: [&'static str; 1],
}

/// The URL to POST to and the JSON body for a channel of `kind` at `url`.
pub fn body(kind: ChannelKind, url: &str, alert: &Alert) -> Result<(String, Value), String> {
    let (summary, detail) = text(alert);
    let cleared = alert.state == AlertState::Cleared;
    let mark = match (cleared, alert.severity) {
        (true, _) => "✅",
        (false, Severity::Critical) => "🔴",
        (false, Severity::Warning) => "🟠",
    };
    let encoded = match kind {
        ChannelKind::Json => (url.to_owned(), serde_json::to_value(AlertEvent::of(alert))),
        ChannelKind::Discord => (
            url.to_owned(),
            serde_json::to_value(DiscordBody {
                username: "Deckcast",
                content: clip(
                    &format!(
                        "{mark} **{}**\n{}",
                        discord_escape(&summary),
                        discord_escape(&detail)
                    ),
                    MAX_TEXT,
                ),
                allowed_mentions: AllowedMentions { parse: [] },
            }),
        ),
        ChannelKind::Slack => (
            url.to_owned(),
            serde_json::to_value(SlackBody {
                text: clip(
                    &format!(
                        "{mark} *{}*\n{}",
                        slack_escape(&summary),
                        slack_escape(&detail)
                    ),
                    MAX_TEXT,
                ),
            }),
        ),
        ChannelKind::Ntfy => {
            let u = reqwest::Url::parse(url).map_err(|_| "it is not a valid URL".to_owned())?;
            let topic = u
                .path_segments()
                .and_then(|mut s| s.next_back())
                .filter(|t| !t.is_empty())
                .ok_or("an ntfy URL ends with its topic (https://ntfy.sh/my-topic)")?
                .to_owned();
            let mut root = u.clone();
            root.set_path("/");
            root.set_query(None);
            (
                root.to_string(),
                serde_json::to_value(NtfyBody {
                    topic,
                    title: clip(&summary, 200),
                    message: clip(&detail, MAX_TEXT),
                    priority: match (cleared, alert.severity) {
                        (true, _) => 2,
                        (false, Severity::Critical) => 5,
                        (false, Severity::Warning) => 4,
                    },
                    tags: [if cleared {
                        "white_check_mark"
                    } else {
                        "rotating_light"
                    }],
                }),
            )
        }
    };
    let (to, value) = encoded;
    Ok((to, value.map_err(|e| e.to_string())?))
}

/// Discord markdown and mentions made inert (`allowed_mentions` already blocks pings).
fn discord_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '_' | '~' | '`' | '|' | '@' | '#' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Slack's three control characters.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The body markup of the notification spec is a small subset of HTML: escape it.
fn markup_escape(s: &str) -> String {
    slack_escape(s)
}

/// The session bus connection to the notification service, and the notification shown for each
/// alert (so its clearing replaces it).
#[derive(Debug, Default)]
pub struct Desktop {
    conn: Option<zbus::blocking::Connection>,
    shown: HashMap<i64, u32>,
}

impl Desktop {
    /// Shows (or, for a clearing, replaces) the notification of `alert`. Blocking: at most 2 s.
    pub fn notify(&mut self, alert: &Alert) -> Result<u32, String> {
        if self.conn.is_none() {
            self.conn = Some(crate::bus::session()?);
        }
        let conn = self.conn.as_ref().ok_or("no session bus")?;
        let (summary, detail) = text(alert);
        let cleared = alert.state == AlertState::Cleared;
        let urgency: u8 = match (cleared, alert.severity) {
            (true, _) => 0,
            (false, Severity::Warning) => 1,
            (false, Severity::Critical) => 2,
        };
        let mut hints: HashMap<&str, zbus::zvariant::Value<'_>> = HashMap::new();
        hints.insert("urgency", urgency.into());
        hints.insert("category", "network.error".into());
        hints.insert("desktop-entry", "deckcast".into());
        let replaces = self.shown.get(&alert.id).copied().unwrap_or(0);
        // Critical alerts stay until dismissed (0 = never expire); the rest use the server's default.
        let timeout: i32 = match (cleared, alert.severity) {
            (false, Severity::Critical) => 0,
            _ => -1,
        };
        let reply = conn
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "Notify",
                &(
                    "Deckcast",
                    replaces,
                    "dialog-warning",
                    summary.as_str(),
                    markup_escape(&detail),
                    Vec::<&str>::new(),
                    hints,
                    timeout,
                ),
            )
            .map_err(|e| {
                self.conn = None;
                format!("desktop notification: {e}")
            })?;
        let id: u32 = reply
            .body()
            .deserialize()
            .map_err(|e| format!("desktop notification: {e}"))?;
        if cleared {
            self.shown.remove(&alert.id);
        } else {
            self.shown.insert(alert.id, id);
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::AlertKind;
    use serde_json::json;

    fn alert(state: AlertState) -> Alert {
        Alert {
            id: 7,
            kind: AlertKind::TargetDrops,
            severity: Severity::Warning,
            state,
            target_id: Some("t1".into()),
            target_name: Some("Twitch @everyone <b>".into()),
            message: "Twitch dropped 12.5 % of its frames".into(),
            value: 12.5,
            worst: 20.0,
            threshold: 1.0,
            raised_ms: 1000,
            acknowledged_ms: None,
            cleared_ms: None,
            cleared_message: Some("Twitch drops 0.0 % of its frames again".into()),
            action: None,
            title: "Dropped frames".into(),
        }
    }

    #[test]
    fn every_format_carries_the_alert_and_neutralises_markup() {
        let a = alert(AlertState::Raised);
        let (url, v) = body(ChannelKind::Json, "https://example.com/hook", &a).unwrap();
        assert_eq!(url, "https://example.com/hook");
        assert_eq!(v["type"], "alert.raised");
        assert_eq!(v["alert"]["kind"], "target_drops");
        assert_eq!(v["alert"]["value"], 12.5);

        let (_, v) = body(
            ChannelKind::Discord,
            "https://discord.com/api/webhooks/1/x",
            &a,
        )
        .unwrap();
        let content = v["content"].as_str().unwrap();
        assert!(
            content.contains("Dropped frames on Twitch \\@everyone <b>"),
            "{content}"
        );
        assert_eq!(v["allowed_mentions"]["parse"], json!([]));

        let (_, v) = body(ChannelKind::Slack, "https://hooks.slack.com/services/x", &a).unwrap();
        let text = v["text"].as_str().unwrap();
        assert!(text.contains("&lt;b&gt;"), "{text}");
        assert!(!text.contains("<b>"), "{text}");

        let (url, v) = body(ChannelKind::Ntfy, "https://ntfy.sh/dj-alerts?x=1", &a).unwrap();
        assert_eq!(url, "https://ntfy.sh/");
        assert_eq!(v["topic"], "dj-alerts");
        assert_eq!(v["priority"], 4);
        assert!(body(ChannelKind::Ntfy, "https://ntfy.sh/", &a).is_err());

        let c = alert(AlertState::Cleared);
        let (_, v) = body(ChannelKind::Json, "https://example.com/hook", &c).unwrap();
        assert_eq!(v["type"], "alert.cleared");
        let (_, v) = body(ChannelKind::Ntfy, "https://ntfy.sh/t", &c).unwrap();
        assert_eq!(
            v["title"],
            "Cleared: Dropped frames on Twitch @everyone <b>"
        );
        assert_eq!(v["message"], "Twitch drops 0.0 % of its frames again");
    }

    #[test]
    fn long_text_is_cut_to_what_discord_takes() {
        let mut a = alert(AlertState::Raised);
        a.message = "x".repeat(5000);
        let (_, v) = body(
            ChannelKind::Discord,
            "https://discord.com/api/webhooks/1/x",
            &a,
        )
        .unwrap();
        assert_eq!(v["content"].as_str().unwrap().chars().count(), MAX_TEXT);
    }
}
