//! Targets through the plugin, their keys in the keyring, and what the companion observes of them:
//! the live picture, state changes (history and `target.state` webhooks), stream sessions.
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use deckcast_protocol::targets::{
    BulkReply, CreateTarget, DeleteTarget, GetTarget, GetTargetHealth, ListTargets, SetStreamKey,
    StartAllTargets, StartTarget, StopAllTargets, StopTarget, TargetList, TargetReply, TargetState,
    TargetView, UpdateTarget,
};
use serde::Serialize;

use super::{App, AppError};
use crate::Secret;
use crate::keys::{self, KeysError};
use crate::live::{StateChange, Tile, wire_name};
use crate::obs::ObsLink;
use crate::session::Step;
use crate::store::{EndReason, Event, HistoryKind, Point, Session, TargetMeta};
use crate::webhooks::WebhookEvent;

/// The recent history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct History {
    /// Stream sessions, newest first.
    pub sessions: Vec<Session>,
    /// Events, newest first.
    pub events: Vec<Event>,
}

/// The metadata the database keeps of a target.
pub fn meta_of(t: &TargetView) -> TargetMeta {
    TargetMeta {
        id: t.config.id.clone(),
        name: t.config.name.clone(),
        platform: wire_name(&t.config.platform),
        server: t.config.server.clone(),
    }
}

impl App {
    /// Stream keys can only be stored with a usable keyring.
    fn require_keyring(&self) -> Result<(), AppError> {
        match self.keys.unavailable_reason() {
            None => Ok(()),
            Some(reason) => Err(KeysError::NoKeyring {
                reason: reason.to_owned(),
                what: "stream keys",
                env: "(none: set the key in the OBS dock, which keeps it in memory for the session)",
            }
            .into()),
        }
    }

    async fn store_key(&self, id: &str, key: &Secret) -> Result<(), AppError> {
        Ok(self
            .keys
            .set_async(&keys::stream_key_account(id), key)
            .await?)
    }

    /// The targets as the live picture has them (plugin order).
    pub fn list_targets(&self) -> Vec<Tile> {
        self.live.get().targets
    }

    /// Targets and encoder configs as the plugin has them.
    pub async fn target_list(&self) -> Result<TargetList, AppError> {
        Ok(self.obs()?.call(&ListTargets {}).await?)
    }

    /// One target, from the plugin.
    pub async fn get_target(&self, id: &str) -> Result<TargetReply, AppError> {
        Ok(self.obs()?.call(&GetTarget::new(id)).await?)
    }

    /// Creates a target (its key goes to the plugin and the keyring).
    pub async fn create_target(&self, req: CreateTarget) -> Result<TargetReply, AppError> {
        let key = req.key.as_deref().map(secret_of).transpose()?;
        if key.is_some() {
            self.require_keyring()?;
        }
        let link = self.obs()?;
        let reply = link.call(&req).await?;
        if let Some(key) = &key {
            self.store_key(&reply.target.config.id, key).await?;
        }
        self.record(
            HistoryKind::TargetCreated,
            Some(reply.target.config.id.clone()),
            format!("target '{}' created", reply.target.config.name),
        )
        .await;
        self.after_change(&link, &reply).await;
        Ok(reply)
    }

    /// Changes a target (a new key goes to the plugin and the keyring).
    pub async fn update_target(&self, req: UpdateTarget) -> Result<TargetReply, AppError> {
        let key = req.key.as_deref().map(secret_of).transpose()?;
        if key.is_some() {
            self.require_keyring()?;
        }
        let link = self.obs()?;
        let reply = link.call(&req).await?;
        if let Some(key) = &key {
            self.store_key(&req.id, key).await?;
        }
        self.after_change(&link, &reply).await;
        Ok(reply)
    }

    async fn after_change(&self, link: &ObsLink, reply: &TargetReply) {
        let (meta, now) = (meta_of(&reply.target), self.now_ms());
        if let Err(e) = self.db.call(move |s| s.upsert_target(&meta, now)).await {
            tracing::error!("target metadata: {e}");
        }
        if let Err(e) = self.resync(link, false).await {
            tracing::warn!("resync after a change: {e}");
        }
    }

    /// Deletes a target and its key.
    pub async fn delete_target(&self, id: &str) -> Result<(), AppError> {
        let link = self.obs()?;
        link.call(&DeleteTarget::new(id)).await?;
        if let Err(e) = self.keys.delete_async(&keys::stream_key_account(id)).await {
            tracing::warn!("removing the key of {id}: {e}");
        }
        let (target, now) = (id.to_owned(), self.now_ms());
        self.db.call(move |s| s.delete_target(&target, now)).await?;
        self.record(
            HistoryKind::TargetDeleted,
            Some(id.to_owned()),
            "target deleted".into(),
        )
        .await;
        if let Err(e) = self.resync(&link, false).await {
            tracing::warn!("resync after a delete: {e}");
        }
        Ok(())
    }

    /// Starts a target.
    pub async fn start_target(&self, id: &str) -> Result<TargetReply, AppError> {
        let reply = self.obs()?.call(&StartTarget::new(id)).await?;
        self.observe_state(id, reply.target.state, reply.target.last_error.clone())
            .await;
        Ok(reply)
    }

    /// Stops a target.
    pub async fn stop_target(&self, id: &str) -> Result<TargetReply, AppError> {
        self.stop_with(StopTarget::new(id)).await
    }

    /// Stops a target at once, dropping what its output has buffered.
    pub async fn force_stop_target(&self, id: &str) -> Result<TargetReply, AppError> {
        self.stop_with(StopTarget::forced(id)).await
    }

    async fn stop_with(&self, req: StopTarget) -> Result<TargetReply, AppError> {
        let reply = self.obs()?.call(&req).await?;
        self.observe_state(&req.id, reply.target.state, reply.target.last_error.clone())
            .await;
        Ok(reply)
    }

    /// Starts every enabled target.
    pub async fn start_all(&self) -> Result<BulkReply, AppError> {
        Ok(self.obs()?.call(&StartAllTargets {}).await?)
    }

    /// Stops every target.
    pub async fn stop_all(&self) -> Result<BulkReply, AppError> {
        Ok(self.obs()?.call(&StopAllTargets {}).await?)
    }

    /// Replaces a target's stream key (plugin first, then the keyring).
    pub async fn set_key(&self, id: &str, key: Secret) -> Result<(), AppError> {
        self.require_keyring()?;
        let link = self.obs()?;
        link.call(&SetStreamKey {
            id: id.to_owned(),
            key: key.expose().to_owned(),
        })
        .await?;
        self.store_key(id, &key).await?;
        self.record(
            HistoryKind::KeySet,
            Some(id.to_owned()),
            "stream key replaced".into(),
        )
        .await;
        if let Err(e) = self.resync(&link, false).await {
            tracing::warn!("resync after a key change: {e}");
        }
        Ok(())
    }

    /// A target's bitrate over the last `minutes`.
    pub async fn kbps_series(&self, id: &str, minutes: u32) -> Result<Vec<Point>, AppError> {
        let since = self.now_ms() / 1000 - i64::from(minutes.clamp(1, 60 * 24 * 90)) * 60;
        let id = id.to_owned();
        Ok(self.db.call(move |s| s.kbps_series(&id, since)).await?)
    }

    /// The newest sessions and events.
    pub async fn history(&self, limit: u32) -> Result<History, AppError> {
        let limit = limit.clamp(1, 1000);
        let (sessions, events) = self
            .db
            .call(move |s| Ok((s.sessions(limit)?, s.events(limit)?)))
            .await?;
        Ok(History { sessions, events })
    }

    /// Re-reads the targets (the plugin is the source of truth), mirrors their metadata into the
    /// database and, on a fresh connection, gives the plugin the keys it lacks, for targets the
    /// companion already knew (a peer that lists ids it read somewhere gets no keys for them).
    pub async fn resync(&self, link: &ObsLink, fresh: bool) -> Result<(), AppError> {
        let list = link.call(&ListTargets {}).await?;
        let health = link.call(&GetTargetHealth::default()).await?;
        let changes = self.live.update(|s| {
            s.obs.key_storage = Some(list.key_storage.clone());
            let mut changes = s.set_targets(&list.targets);
            changes.extend(s.apply_health(&health.targets));
            changes
        });
        self.publish_state_changes(changes).await;
        if fresh {
            let known = self.known_targets().await;
            for t in list.targets.iter().filter(|t| !t.has_key) {
                if known.contains(&t.config.id) {
                    self.push_key(link, &t.config.id).await;
                }
            }
        }
        let metas: Vec<TargetMeta> = list.targets.iter().map(meta_of).collect();
        let now = self.now_ms();
        let r = self
            .db
            .call(move |s| {
                let present: HashSet<&str> = metas.iter().map(|m| m.id.as_str()).collect();
                for old in s.targets()? {
                    if !present.contains(old.id.as_str()) {
                        s.delete_target(&old.id, now)?;
                    }
                }
                for m in &metas {
                    s.upsert_target(m, now)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = r {
            tracing::error!("target metadata: {e}");
        }
        self.track_session().await;
        Ok(())
    }

    /// Ids of every target the companion has recorded (deleted ones too).
    async fn known_targets(&self) -> HashSet<String> {
        self.db
            .call(|s| s.known_target_ids())
            .await
            .unwrap_or_else(|e| {
                tracing::error!("target metadata: {e}");
                HashSet::new()
            })
    }

    /// Gives the plugin the keyring's key for `id`, if the companion knows the target and the
    /// keyring has a key for it.
    pub async fn push_key(&self, link: &ObsLink, id: &str) {
        if !self.known_targets().await.contains(id) {
            tracing::warn!("not giving OBS a key for target {id}: the companion does not know it");
            return;
        }
        let key = self
            .keys
            .get_async(&keys::stream_key_account(id))
            .await
            .ok()
            .flatten();
        if let Some(key) = key {
            match link
                .call(&SetStreamKey {
                    id: id.to_owned(),
                    key: key.expose().to_owned(),
                })
                .await
            {
                Ok(_) => {
                    self.record(
                        HistoryKind::KeyPushed,
                        Some(id.to_owned()),
                        "gave the plugin the stream key from the keyring".into(),
                    )
                    .await;
                }
                Err(e) => tracing::warn!("pushing the key of {id}: {e}"),
            }
        }
    }

    /// Applies a target's state from a start/stop answer and publishes the change, if it is one.
    pub async fn observe_state(&self, id: &str, state: TargetState, last_error: Option<String>) {
        let changes = self
            .live
            .update(|s| s.apply_state(id, state, last_error, None));
        self.publish_state_changes(changes).await;
    }

    /// Records and sends (`target.state` webhook) every target state change, however the
    /// companion learnt of it: a `TargetStateChanged` event, a health poll or a resync. The live
    /// picture decides what is a change, so a change seen twice is published once and a lost
    /// event (obws drops lagged ones; OBS 32 once sent them undecodable) is caught by the next poll.
    pub async fn publish_state_changes(&self, changes: Vec<StateChange>) {
        if changes.is_empty() || !self.follows_obs() {
            return;
        }
        for c in changes {
            let message = match (&c.state, &c.last_error) {
                (TargetState::Error, Some(err)) => format!("{}: failed: {err}", c.name),
                (TargetState::Reconnecting, _) => {
                    format!(
                        "{}: reconnecting (reconnect {})",
                        c.name,
                        c.reconnects.max(1)
                    )
                }
                (state, _) => format!("{}: {}", c.name, wire_name(state)),
            };
            self.record(HistoryKind::TargetState, Some(c.id.clone()), message)
                .await;
            self.publish(WebhookEvent::TargetState {
                id: c.id,
                name: c.name,
                state: c.state,
                previous: c.previous,
                last_error: c.last_error,
                reconnects: c.reconnects,
            })
            .await;
        }
        self.track_session().await;
    }

    /// Opens, extends or closes the stream session from the live picture.
    pub async fn track_session(&self) {
        if !self.follows_obs() {
            return;
        }
        let snap = self.live.get();
        let mut live: BTreeSet<String> = snap.live_targets().into_iter().collect();
        if snap.main_stream.active {
            live.insert("obs".to_owned());
        }
        let step = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(&live);
        self.apply_session_step(step).await;
    }

    async fn apply_session_step(&self, step: Step) {
        let r = match step {
            Step::None => return,
            Step::Open(outputs) => {
                let targets = outputs.clone();
                let started_ms = self.now_ms();
                match self
                    .db
                    .call(move |s| s.open_session(started_ms, &targets))
                    .await
                {
                    Ok(id) => {
                        self.publish(WebhookEvent::StreamStarted {
                            session_id: id,
                            started_ms,
                            outputs,
                        })
                        .await;
                        let next = self
                            .sessions
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .opened(id);
                        Box::pin(self.apply_session_step(next)).await;
                        Ok(())
                    }
                    Err(e) => {
                        self.sessions
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .open_failed();
                        Err(e)
                    }
                }
            }
            Step::Extend(id, targets) => {
                self.db
                    .call(move |s| s.set_session_targets(id, &targets))
                    .await
            }
            Step::Close(id) => self.end_session(id, EndReason::Stopped).await,
        };
        if let Err(e) = r {
            tracing::error!("stream session: {e}");
        }
    }

    async fn end_session(
        &self,
        id: i64,
        reason: EndReason,
    ) -> Result<(), crate::store::StoreError> {
        let ended_ms = self.now_ms();
        let report = match self.session_report(Some(id)).await {
            Ok(mut r) => {
                r.session.ended_ms = Some(ended_ms);
                r.session.end_reason = Some(reason.as_str().to_owned());
                Some(Box::new(r))
            }
            Err(e) => {
                tracing::warn!("the report of session {id}: {e}");
                None
            }
        };
        self.publish(WebhookEvent::StreamEnded {
            session_id: id,
            ended_ms,
            reason,
            report,
        })
        .await;
        self.db
            .call(move |s| s.close_session(id, ended_ms, reason))
            .await
    }

    /// Ends the open session whatever is live (OBS lost, companion stopping).
    pub async fn close_session(&self, reason: EndReason) {
        let open = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(id) = open
            && let Err(e) = self.end_session(id, reason).await
        {
            tracing::error!("stream session: {e}");
        }
    }
}

/// A key from a request: refused when empty.
fn secret_of(key: &str) -> Result<Secret, AppError> {
    Secret::new(key).ok_or_else(|| AppError::invalid("the stream key is empty"))
}

/// Shared ownership for the supervisor and the scheduler.
pub type SharedApp = Arc<App>;
