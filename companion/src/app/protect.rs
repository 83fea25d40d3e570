//! Automatic protection carried out: the alert task's controller (`alerts::protect`) decides,
//! these operations act through the plugin, write history, and note what was done on the
//! target's open alert. A target protection stopped is held: the scheduler does not start it
//! again, and the `target_stopped` alert stays raised, until something starts it (the DJ, a
//! hotkey, OBS's own stream with sync start) — the hold ends once it is seen active again
//! after having stopped.
use std::collections::BTreeMap;
use std::sync::Arc;

use deckcast_protocol::targets::SetTargetVideoBitrate;

use super::alerts::lock;
use crate::alerts::AlertKind;
use crate::alerts::protect::Act;
use crate::app::App;
use crate::live::Tile;
use crate::store::HistoryKind;

/// A target protection stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    /// Why, for people.
    pub why: String,
    /// Whether it has been seen stopped since (a hold ends when it is live after that).
    pub seen_stopped: bool,
}

/// Holds by target id.
pub type Holds = BTreeMap<String, Hold>;

impl App {
    /// Carries out what protection decided; returns the targets whose stop did not go through
    /// (protection may try again).
    pub async fn protect(self: &Arc<App>, acts: Vec<Act>) -> Vec<String> {
        let mut failed = Vec::new();
        for act in acts {
            match act {
                Act::SetBitrate {
                    id,
                    kbps,
                    from,
                    configured,
                    why,
                } => {
                    let Some(link) = self.link() else { continue };
                    let req = SetTargetVideoBitrate {
                        id: id.clone(),
                        kbps: (kbps != configured).then_some(kbps),
                    };
                    match link.call(&req).await {
                        Ok(_) => {
                            tracing::info!(kind = "protect", target = %id, "{why}");
                            self.record(HistoryKind::AlertAction, Some(id.clone()), why)
                                .await;
                            let verb = if kbps < from { "lowered" } else { "raised" };
                            self.note_target_action(
                                &id,
                                format!("{verb} the video bitrate {from} → {kbps} kbit/s"),
                            )
                            .await;
                        }
                        Err(e) => tracing::warn!(
                            target = %id,
                            "protection could not set the video bitrate to {kbps} kbit/s: {e}"
                        ),
                    }
                }
                // At once: the stalled link would take minutes to send what is buffered.
                Act::Stop { id, name, why } => match self.force_stop_target(&id).await {
                    Ok(_) => {
                        tracing::warn!(kind = "protect", target = %id, "{why}");
                        lock(&self.alerts.holds).insert(
                            id.clone(),
                            Hold {
                                why: why.clone(),
                                seen_stopped: false,
                            },
                        );
                        self.record(HistoryKind::AlertAction, Some(id.clone()), why)
                            .await;
                        self.note_target_action(&id, format!("stopped {name} (its link stalled)"))
                            .await;
                    }
                    Err(e) => {
                        tracing::warn!(target = %id, "protection could not stop {name}: {e}");
                        failed.push(id);
                    }
                },
            }
        }
        failed
    }

    /// The targets protection holds stopped, (id, why), after ending the holds of targets that
    /// are active again or gone (`targets`: the live picture's). Called by the alert task on
    /// every tick.
    pub fn protection_holds(&self, targets: &[Tile]) -> Vec<(String, String)> {
        let mut holds = lock(&self.alerts.holds);
        holds.retain(|id, h| match targets.iter().find(|t| &t.id == id) {
            None => false,
            Some(t) if !t.state.is_active() => {
                h.seen_stopped = true;
                true
            }
            Some(_) => !h.seen_stopped,
        });
        holds
            .iter()
            .map(|(id, h)| (id.clone(), h.why.clone()))
            .collect()
    }

    /// Whether protection holds target `id` stopped (the scheduler leaves it alone).
    pub fn is_held(&self, id: &str) -> bool {
        lock(&self.alerts.holds).contains_key(id)
    }

    /// Notes `action` on the target's open dropped-frames (else congestion, else low-bitrate)
    /// alert.
    async fn note_target_action(&self, id: &str, action: String) {
        let open = [
            AlertKind::TargetDrops,
            AlertKind::Congestion,
            AlertKind::LowBitrate,
        ]
        .into_iter()
        .find_map(|kind| self.open_alert(kind, Some(id)));
        let Some(alert) = open else { return };
        if let Err(e) = self
            .db
            .call(move |s| s.note_alert_action(alert, &action))
            .await
        {
            tracing::error!("alerts: {e}");
        }
        self.refresh_active_alerts().await;
    }
}
