//! Runs the schedule: every half second it marks due sets `running` (committed first, so a
//! restart never starts one twice), makes sure their outputs are live (keys pushed from the keyring,
//! idle targets started, OBS's stream started, scene switched once), ends sets at their end time
//! (stopping only outputs no other running set needs) and marks sets missed when their whole slot
//! passed while the companion was down. Every few seconds it refreshes iCalendar feeds and pulls
//! from the streamer's site on their timers.
//!
//! After a companion restart, running sets are re-applied idempotently: outputs that are already
//! live are left alone and the scene is not switched again. After an OBS restart in the middle of a
//! set, the set's targets are started again.
//!
//! Threads: one tokio task; database calls on the blocking pool.
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;
use crate::obs::ObsLink;
use crate::schedule::{Entry, EntryState};
use crate::store::{HistoryKind, StoreError};

/// What the runner remembers between ticks.
#[derive(Debug, Default)]
struct Runner {
    /// Running sets whose outputs were made live on the current link.
    applied: HashSet<i64>,
    /// Running sets whose scene switch is still due (only once per set).
    scene_pending: HashSet<i64>,
    /// The connection the sets were applied on (a new one means OBS came back: apply again).
    epoch: u64,
    last_pull: Option<tokio::time::Instant>,
}

/// The scheduler task.
pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let mut runner = Runner::default();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        n += 1;
        if let Err(e) = runner.step(&app).await {
            tracing::error!("scheduler: {e}");
        }
        if n.is_multiple_of(10) {
            refresh_due_feeds(&app).await;
            runner.pull_if_due(&app).await;
        }
    }
}

async fn refresh_due_feeds(app: &App) {
    let Ok(feeds) = app.db.call(|s| s.feeds()).await else {
        return;
    };
    let now = app.now_ms();
    for f in feeds {
        let due = f
            .last_fetch_ms
            .is_none_or(|t| now - t >= f.refresh_s.max(30) * 1000);
        if due && let Err(why) = app.refresh_feed(f.id).await {
            tracing::warn!("calendar feed: {why}");
        }
    }
}

impl Runner {
    async fn step(&mut self, app: &App) -> Result<(), StoreError> {
        let now = app.now_ms();
        for e in app.db.call(move |s| s.take_missed(now)).await? {
            app.record(
                HistoryKind::ScheduleMissed,
                None,
                format!(
                    "'{}' was missed: the companion was not running during it",
                    e.title
                ),
            )
            .await;
            app.schedule_changed();
        }
        for e in app.db.call(move |s| s.take_due(now)).await? {
            app.record(
                HistoryKind::ScheduleStarted,
                None,
                format!("set '{}' started", e.title),
            )
            .await;
            self.scene_pending.insert(e.id);
            app.schedule_changed();
        }
        let (link, epoch) = app.link_with_epoch();
        if epoch != self.epoch {
            // OBS (re)connected: its outputs may have restarted idle, so every running set is
            // applied again on the new connection.
            self.applied.clear();
            self.epoch = epoch;
        }
        let running = app.db.call(|s| s.entries_in(EntryState::Running)).await?;
        for e in &running {
            if e.end_ms <= now {
                let others: Vec<&Entry> = running
                    .iter()
                    .filter(|o| o.id != e.id && o.end_ms > now)
                    .collect();
                app.finish_set(e, &others, EntryState::Done).await;
                self.applied.remove(&e.id);
                self.scene_pending.remove(&e.id);
                continue;
            }
            if self.applied.contains(&e.id) {
                continue;
            }
            let Some(link) = &link else {
                continue; // not connected: try again on the next tick
            };
            match ensure(app, link, e, self.scene_pending.contains(&e.id)).await {
                Ok(()) => {
                    self.applied.insert(e.id);
                    self.scene_pending.remove(&e.id);
                }
                Err(why) => tracing::warn!("set '{}': {why}; retrying", e.title),
            }
        }
        Ok(())
    }

    async fn pull_if_due(&mut self, app: &App) {
        let Ok((Some(_base), interval)) = app
            .db
            .call(|s| {
                Ok((
                    s.setting(crate::app::pull::BASE_URL)?,
                    s.setting(crate::app::pull::PULL_INTERVAL)?
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(300),
                ))
            })
            .await
        else {
            return;
        };
        if self
            .last_pull
            .is_some_and(|t| t.elapsed() < Duration::from_secs(interval))
            || app.link().is_none()
        {
            return;
        }
        self.last_pull = Some(tokio::time::Instant::now());
        if let Err(e) = app.pull_now().await {
            tracing::warn!("platform pull: {e}");
        }
    }
}

/// Makes the set's outputs live without touching those that already are.
async fn ensure(app: &App, link: &ObsLink, e: &Entry, switch_scene: bool) -> Result<(), String> {
    let snap = app.live.get();
    for id in &e.targets {
        let Some(tile) = snap.targets.iter().find(|t| &t.id == id) else {
            app.record(
                HistoryKind::ScheduleProblem,
                Some(id.clone()),
                format!("set '{}': target {id} does not exist", e.title),
            )
            .await;
            continue;
        };
        if tile.state.is_active() {
            continue;
        }
        app.push_key(link, id).await;
        match app.start_target(id).await {
            Ok(_) => {}
            Err(err) => {
                app.record(
                    HistoryKind::ScheduleProblem,
                    Some(id.clone()),
                    format!("set '{}': {} did not start: {err}", e.title, tile.name),
                )
                .await;
            }
        }
    }
    if e.start_main && !snap.main_stream.active {
        link.start_main_stream()
            .await
            .map_err(|err| err.to_string())?;
    }
    if switch_scene && let Some(scene) = &e.scene {
        link.set_program_scene(scene)
            .await
            .map_err(|err| err.to_string())?;
    }
    Ok(())
}
