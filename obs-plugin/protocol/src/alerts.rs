//! The companion's active alerts, handed to the plugin so the dock in OBS shows them (the
//! companion decides what an alert is; the plugin only keeps and shows the newest list).
use serde::{Deserialize, Serialize};

use crate::Error;

/// Most alerts one [`SetAlerts`] may carry.
pub const MAX_ALERTS: usize = 32;
/// Most characters of a title or message.
pub const MAX_TEXT_CHARS: usize = 500;
/// Seconds after which a list the companion has not refreshed counts as stale (the companion
/// sends it whenever it changes and at least every 10 s).
pub const STALE_AFTER_SEC: f64 = 30.0;

/// `SetAlerts {alerts}` -> `{}`: the alerts active now (an empty list: none).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetAlerts {
    /// The active alerts, oldest first (a list of objects: obs-websocket keeps only those).
    #[serde(default)]
    pub alerts: Vec<DockAlert>,
}

/// One alert as the dock shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DockAlert {
    /// The companion's alert id.
    pub id: i64,
    /// `warning` or `critical`.
    pub severity: String,
    /// A short title (`Dead air on Twitch`).
    pub title: String,
    /// What is wrong.
    pub message: String,
    /// Someone acknowledged it.
    #[serde(default)]
    pub acknowledged: bool,
}

impl SetAlerts {
    /// Checks counts, severities and lengths; control characters become spaces.
    pub fn validated(self) -> Result<SetAlerts, Error> {
        if self.alerts.len() > MAX_ALERTS {
            return Err(Error::invalid_value(format!(
                "at most {MAX_ALERTS} alerts at once"
            )));
        }
        let clean = |what: &str, s: String| -> Result<String, Error> {
            if s.chars().count() > MAX_TEXT_CHARS {
                return Err(Error::invalid_value(format!(
                    "an alert's {what} is limited to {MAX_TEXT_CHARS} characters"
                )));
            }
            Ok(s.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect())
        };
        let mut alerts = Vec::with_capacity(self.alerts.len());
        for a in self.alerts {
            if a.severity != "warning" && a.severity != "critical" {
                return Err(Error::invalid_value(
                    "an alert's severity is warning or critical",
                ));
            }
            alerts.push(DockAlert {
                title: clean("title", a.title)?,
                message: clean("message", a.message)?,
                ..a
            });
        }
        Ok(SetAlerts { alerts })
    }
}

/// `GetAlerts {}` -> [`AlertsView`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GetAlerts {}

/// The newest list the companion sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AlertsView {
    /// The alerts (empty when stale).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required))]
    pub alerts: Vec<DockAlert>,
    /// Seconds since the companion last sent them; absent if it never did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_sec: Option<f64>,
    /// True when the companion has not refreshed them for [`STALE_AFTER_SEC`].
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required))]
    pub stale: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorCode, decode_request};
    use serde_json::json;

    #[test]
    fn alert_lists_are_bounded_and_cleaned() {
        let one = json!({"id": 1, "severity": "critical", "title": "Dead air", "message": "silent\nfor 8 s"});
        let r: SetAlerts = decode_request(json!({"alerts": [one]})).unwrap();
        let r = r.validated().unwrap();
        assert_eq!(r.alerts[0].message, "silent for 8 s");
        assert!(!r.alerts[0].acknowledged);
        let many: Vec<_> = (0..=MAX_ALERTS).map(|_| one.clone()).collect();
        let r: SetAlerts = decode_request(json!({ "alerts": many })).unwrap();
        assert_eq!(r.validated().unwrap_err().code, ErrorCode::InvalidValue);
        let bad = json!({"id": 1, "severity": "loud", "title": "t", "message": "m"});
        let r: SetAlerts = decode_request(json!({ "alerts": [bad] })).unwrap();
        assert_eq!(r.validated().unwrap_err().code, ErrorCode::InvalidValue);
        let long =
            json!({"id": 1, "severity": "warning", "title": "t", "message": "m".repeat(501)});
        let r: SetAlerts = decode_request(json!({ "alerts": [long] })).unwrap();
        assert_eq!(r.validated().unwrap_err().code, ErrorCode::InvalidValue);
        assert_eq!(
            decode_request::<SetAlerts>(json!({"alerts": [{"id": 1}]}))
                .unwrap_err()
                .code,
            ErrorCode::InvalidRequest
        );
    }
}
