//! Alerts: every alert raised, acknowledged and cleared, with the measured values. Rows carry the
//! wire names of kind, severity and state (the `alerts` module owns those types).
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// One stored alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    /// Row id.
    pub id: i64,
    /// Kind (wire name).
    pub kind: String,
    /// Severity (wire name).
    pub severity: String,
    /// Target id, for per-target alerts.
    pub target_id: Option<String>,
    /// Target name at the time.
    pub target_name: Option<String>,
    /// What happened.
    pub message: String,
    /// Measured value when raised.
    pub value: f64,
    /// Worst value while it held (updated when it clears).
    pub worst: f64,
    /// The threshold.
    pub threshold: f64,
    /// Raised (Unix ms).
    pub raised_ms: i64,
    /// Acknowledged.
    pub acknowledged_ms: Option<i64>,
    /// Cleared.
    pub cleared_ms: Option<i64>,
    /// What the clearing said.
    pub cleared_message: Option<String>,
    /// What Deckcast did about it.
    pub action: Option<String>,
}

const COLUMNS: &str =
    "id, kind, severity, target_id, target_name, message, value, worst, threshold,
    raised_ms, acknowledged_ms, cleared_ms, cleared_message, action";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok(AlertRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        severity: r.get(2)?,
        target_id: r.get(3)?,
        target_name: r.get(4)?,
        message: r.get(5)?,
        value: r.get(6)?,
        worst: r.get(7)?,
        threshold: r.get(8)?,
        raised_ms: r.get(9)?,
        acknowledged_ms: r.get(10)?,
        cleared_ms: r.get(11)?,
        cleared_message: r.get(12)?,
        action: r.get(13)?,
    })
}

impl Store {
    /// Stores a new alert; returns its id.
    pub fn insert_alert(&mut self, a: &AlertRow) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO alerts (kind, severity, target_id, target_name, message, value, worst,
                threshold, raised_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                a.kind,
                a.severity,
                a.target_id,
                a.target_name,
                a.message,
                a.value,
                a.worst,
                a.threshold,
                a.raised_ms
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Marks alert `id` cleared (if it is not yet); returns the row.
    pub fn clear_alert(
        &mut self,
        id: i64,
        at_ms: i64,
        message: &str,
        worst: f64,
    ) -> Result<Option<AlertRow>, StoreError> {
        self.conn.execute(
            "UPDATE alerts SET cleared_ms = ?2, cleared_message = ?3, worst = ?4
             WHERE id = ?1 AND cleared_ms IS NULL",
            params![id, at_ms, message, worst],
        )?;
        self.alert(id)
    }

    /// Notes what Deckcast did about alert `id` (appended to what it did before).
    pub fn note_alert_action(&mut self, id: i64, action: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE alerts SET action = CASE WHEN action IS NULL THEN ?2 ELSE action || '; ' || ?2 END
             WHERE id = ?1",
            params![id, action],
        )?;
        Ok(())
    }

    /// Acknowledges alert `id` (if active and not acknowledged yet); returns the row, `None` if
    /// there is no such alert.
    pub fn acknowledge_alert(
        &mut self,
        id: i64,
        at_ms: i64,
    ) -> Result<Option<AlertRow>, StoreError> {
        self.conn.execute(
            "UPDATE alerts SET acknowledged_ms = ?2
             WHERE id = ?1 AND cleared_ms IS NULL AND acknowledged_ms IS NULL",
            params![id, at_ms],
        )?;
        self.alert(id)
    }

    /// One alert.
    pub fn alert(&self, id: i64) -> Result<Option<AlertRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1"),
                [id],
                row,
            )
            .optional()?)
    }

    /// Alerts not cleared, oldest first.
    pub fn active_alerts(&self) -> Result<Vec<AlertRow>, StoreError> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM alerts WHERE cleared_ms IS NULL ORDER BY id"
        ))?;
        let rows = st.query_map([], row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The newest `limit` alerts raised in `[from_ms, to_ms)`, newest first.
    pub fn alerts_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<AlertRow>, StoreError> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM alerts WHERE raised_ms >= ?1 AND raised_ms < ?2
             ORDER BY id DESC LIMIT ?3"
        ))?;
        let rows = st
            .query_map(params![from_ms, to_ms, limit], row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Clears every alert a previous run left open (its evaluator is gone); returns how many.
    pub fn close_orphan_alerts(&mut self, at_ms: i64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE alerts SET cleared_ms = ?1,
                cleared_message = 'closed when the companion restarted (checked again from now on)'
             WHERE cleared_ms IS NULL",
            [at_ms],
        )?)
    }

    /// Deletes alerts raised before `before_ms` (history is kept 90 days).
    pub fn prune_alerts(&mut self, before_ms: i64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM alerts WHERE raised_ms < ?1 AND cleared_ms IS NOT NULL",
            [before_ms],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kind: &str, at: i64) -> AlertRow {
        AlertRow {
            id: 0,
            kind: kind.into(),
            severity: "warning".into(),
            target_id: Some("t1".into()),
            target_name: Some("Twitch".into()),
            message: "dropped 12 %".into(),
            value: 12.0,
            worst: 12.0,
            threshold: 1.0,
            raised_ms: at,
            acknowledged_ms: None,
            cleared_ms: None,
            cleared_message: None,
            action: None,
        }
    }

    #[test]
    fn alerts_are_raised_acknowledged_cleared_and_kept_with_their_values() {
        let mut s = Store::open_in_memory().unwrap();
        let a = s.insert_alert(&sample("target_drops", 1000)).unwrap();
        let b = s.insert_alert(&sample("dead_air", 2000)).unwrap();
        assert_eq!(s.active_alerts().unwrap().len(), 2);
        s.note_alert_action(b, "switched to scene 'BRB'").unwrap();
        s.note_alert_action(b, "switched back").unwrap();
        assert_eq!(
            s.alert(b).unwrap().unwrap().action.as_deref(),
            Some("switched to scene 'BRB'; switched back")
        );
        let acked = s.acknowledge_alert(a, 1500).unwrap().unwrap();
        assert_eq!(acked.acknowledged_ms, Some(1500));
        // A second acknowledgement keeps the first time.
        assert_eq!(
            s.acknowledge_alert(a, 1600)
                .unwrap()
                .unwrap()
                .acknowledged_ms,
            Some(1500)
        );
        let c = s
            .clear_alert(a, 3000, "drops 0 % again", 25.0)
            .unwrap()
            .unwrap();
        assert_eq!((c.cleared_ms, c.worst), (Some(3000), 25.0));
        assert_eq!(c.cleared_message.as_deref(), Some("drops 0 % again"));
        // Clearing twice changes nothing.
        let c2 = s.clear_alert(a, 4000, "again", 1.0).unwrap().unwrap();
        assert_eq!(c2.cleared_ms, Some(3000));
        assert_eq!(
            s.active_alerts()
                .unwrap()
                .iter()
                .map(|r| r.id)
                .collect::<Vec<_>>(),
            [b]
        );
        assert_eq!(s.alerts_between(0, 10_000, 10).unwrap().len(), 2);
        assert_eq!(s.alerts_between(1500, 10_000, 10).unwrap()[0].id, b);
        assert!(s.acknowledge_alert(999, 1).unwrap().is_none());
        assert_eq!(s.close_orphan_alerts(5000).unwrap(), 1);
        assert!(s.active_alerts().unwrap().is_empty());
        assert_eq!(s.prune_alerts(1500).unwrap(), 1);
        assert_eq!(s.alerts_between(0, 10_000, 10).unwrap().len(), 1);
    }
}
