//! The companion's active alerts, kept for the dock (`SetAlerts` / `GetAlerts`). The plugin
//! decides nothing about alerts: it keeps the newest list and says how old it is, so a dock never
//! shows alerts from a companion that stopped talking as if they were current.
//!
//! Threads: obs-websocket workers (set) and the dock's request thread (get); one short lock.
use std::sync::Mutex;
use std::time::Instant;

use deckcast_protocol::alerts::{AlertsView, DockAlert, STALE_AFTER_SEC};

static LATEST: Mutex<Option<(Instant, Vec<DockAlert>)>> = Mutex::new(None);

/// Replaces the list.
pub fn set(alerts: Vec<DockAlert>) {
    *LATEST.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), alerts));
}

/// The list with its age; a stale list is withheld.
pub fn get() -> AlertsView {
    let latest = LATEST.lock().unwrap_or_else(|e| e.into_inner());
    match latest.as_ref() {
        None => AlertsView::default(),
        Some((at, alerts)) => {
            let age = at.elapsed().as_secs_f64();
            let stale = age > STALE_AFTER_SEC;
            AlertsView {
                alerts: if stale { Vec::new() } else { alerts.clone() },
                age_sec: Some(age),
                stale,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_list_is_kept_with_its_age() {
        assert!(get().age_sec.is_none());
        set(vec![DockAlert {
            id: 3,
            severity: "critical".into(),
            title: "Dead air".into(),
            message: "silent for 8 s".into(),
            acknowledged: false,
        }]);
        let v = get();
        assert_eq!(v.alerts.len(), 1);
        assert!(!v.stale && v.age_sec.unwrap() < 5.0);
        set(Vec::new());
        assert!(get().alerts.is_empty());
    }
}
