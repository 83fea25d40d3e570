//! Runs the schedule: every half second it marks due sets `running` (committed first, so a
//! restart never starts one twice), makes sure their outputs are live (keys pushed from the keyring,
//! idle targets started, OBS's stream started, scene switched once), ends sets at their end time
//! (stopping only what the set itself started and no other running set needs) and marks sets
//! missed when their whole slot passed while the companion was down. A set with `record` on
//! starts OBS's recording first (unless OBS already records) and stops it at its end if it
//! started it. A set with a re-air plays its recording again in the set's scene
//! ([`crate::app::reair`]) once its targets are started, and stops it at its end.
//!
//! What a set starts is recorded in the database as it happens, so a target the user had live
//! before the set stays live after it. A target that fails to start is retried every
//! [`RETRY`] (the history says so once). After a companion restart, running sets are re-applied
//! idempotently: live outputs are left alone and the scene is not switched again. After an OBS
//! restart in the middle of a set, the set's targets are started again.
//!
//! Calendar feeds and pulls from the streamer's site run in their own task ([`fetch_loop`]),
//! feeds concurrently: however slow a feed or the site is, sets start on time.
//!
//! Threads: two tokio tasks (the timing loop and the fetch loop); database calls on the
//! blocking pool.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::alerts::AlertKind;
use crate::app::App;
use crate::app::reair::StartReAir;
use crate::obs::ObsLink;
use crate::schedule::{Entry, EntryState};
use crate::store::{HistoryKind, StoreError};

/// How long a set waits before trying a target that failed to start again.
pub const RETRY: Duration = Duration::from_secs(10);
/// The `reported` key of a set's recording (target ids are never empty).
const RECORDING_KEY: &str = "";
/// The `reported` key of a set's re-air (target ids are hex: never this).
const REAIR_KEY: &str = "#reair";
/// How many feeds are fetched at once.
const FEEDS_AT_ONCE: usize = 4;

/// What the runner remembers between ticks.
#[derive(Debug, Default)]
struct Runner {
    /// Running sets whose outputs were made live on the current link.
    applied: HashSet<i64>,
    /// Running sets whose scene switch is still due (only once per set).
    scene_pending: HashSet<i64>,
    /// Running sets that could not be fully applied, and when to try again.
    retry_at: HashMap<i64, tokio::time::Instant>,
    /// (set, target) failures already in the history (told once until it works).
    reported: HashSet<(i64, String)>,
    /// The connection the sets were applied on (a new one means OBS came back: apply again).
    epoch: u64,
}

/// The scheduler: the timing loop here, feeds and pulls in [`fetch_loop`].
pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let fetcher = tokio::spawn(fetch_loop(Arc::clone(&app), shutdown.clone()));
    let recorder = tokio::spawn(auto_record_loop(Arc::clone(&app), shutdown.clone()));
    let mut runner = Runner::default();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        if let Err(e) = runner.step(&app).await {
            tracing::error!("scheduler: {e}");
        }
    }
    let _ = fetcher.await;
    let _ = recorder.await;
}

/// Every 2 s: the automatic recording (`autoRecord`): started when a stream goes live, stopped
/// when the last one ends. Its own task: a stop waits for OBS to finish the file.
pub async fn auto_record_loop(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        tokio::select! {
            r = app.auto_record() => if let Err(e) = r {
                tracing::warn!("automatic recording: {e}");
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// Every 5 s: fetches the feeds that are due ([`FEEDS_AT_ONCE`] at a time) and pulls from the
/// site when its interval has passed. Shutdown interrupts a fetch in progress.
pub async fn fetch_loop(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_pull: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let work = async {
            refresh_due_feeds(&app).await;
            pull_if_due(&app, &mut last_pull).await;
        };
        tokio::select! {
            () = work => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn refresh_due_feeds(app: &Arc<App>) {
    let Ok(feeds) = app.db.call(|s| s.feeds()).await else {
        return;
    };
    let now = app.now_ms();
    let due: Vec<i64> = feeds
        .into_iter()
        .filter(|f| {
            f.last_fetch_ms
                .is_none_or(|t| now - t >= f.refresh_s.max(30) * 1000)
        })
        .map(|f| f.id)
        .collect();
    use futures_util::StreamExt;
    futures_util::stream::iter(due)
        .for_each_concurrent(FEEDS_AT_ONCE, |id| async move {
            if let Err(why) = app.refresh_feed(id).await {
                tracing::warn!("calendar feed: {why}");
            }
        })
        .await;
}

async fn pull_if_due(app: &App, last_pull: &mut Option<tokio::time::Instant>) {
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
    if last_pull.is_some_and(|t| t.elapsed() < Duration::from_secs(interval))
        || app.link().is_none()
    {
        return;
    }
    *last_pull = Some(tokio::time::Instant::now());
    if let Err(e) = app.pull_now().await {
        tracing::warn!("platform pull: {e}");
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
            if self.applied.contains(&e.id)
                || self
                    .retry_at
                    .get(&e.id)
                    .is_some_and(|t| tokio::time::Instant::now() < *t)
            {
                continue;
            }
            let Some(link) = &link else {
                continue; // not connected: try again on the next tick
            };
            let switch_scene = self.scene_pending.contains(&e.id);
            match ensure(app, link, e, switch_scene, &mut self.reported).await {
                Ok(true) => {
                    self.applied.insert(e.id);
                    self.retry_at.remove(&e.id);
                    self.scene_pending.remove(&e.id);
                }
                Ok(false) => {
                    self.scene_pending.remove(&e.id);
                    self.retry_at
                        .insert(e.id, tokio::time::Instant::now() + RETRY);
                }
                Err(why) => {
                    tracing::warn!("set '{}': {why}; retrying", e.title);
                    self.retry_at
                        .insert(e.id, tokio::time::Instant::now() + RETRY);
                }
            }
        }
        let open: HashSet<i64> = running.iter().map(|e| e.id).collect();
        self.retry_at.retain(|id, _| open.contains(id));
        self.reported.retain(|(id, _)| open.contains(id));
        Ok(())
    }
}

/// Makes the set's outputs live without touching those that already are, recording what it
/// starts (before starting it). `Ok(false)` when a target could not be started (retried after [`RETRY`]); each
/// failure reaches the history once (`reported`) until that target starts.
async fn ensure(
    app: &App,
    link: &ObsLink,
    e: &Entry,
    switch_scene: bool,
    reported: &mut HashSet<(i64, String)>,
) -> Result<bool, String> {
    let snap = app.live.get();
    let mut idle = Vec::new();
    for id in &e.targets {
        match snap.targets.iter().find(|t| &t.id == id) {
            Some(tile) if tile.state.is_active() => {}
            // Protection stopped it (its link stalled): only a deliberate start brings it back.
            Some(_) if app.is_held(id) => {}
            Some(tile) => idle.push((id.clone(), tile.name.clone())),
            None => {
                if reported.insert((e.id, id.clone())) {
                    let message = format!("set '{}': target {id} does not exist", e.title);
                    app.report_alert(AlertKind::SetFailed, message.clone());
                    app.record(HistoryKind::ScheduleProblem, Some(id.clone()), message)
                        .await;
                }
            }
        }
    }
    let start_main = e.start_main && !snap.main_stream.active;
    // Committed before starting: a companion killed right after a start still stops it on time.
    if !idle.is_empty() || start_main {
        let (id, targets) = (
            e.id,
            idle.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(),
        );
        app.db
            .call(move |s| s.add_started(id, &targets, start_main))
            .await
            .map_err(|err| err.to_string())?;
    }
    let mut complete = true;
    // The recording first, so it has the set from its first second.
    if e.record {
        let key = (e.id, RECORDING_KEY.to_owned());
        match app.record_set(e).await {
            Ok(()) => {
                reported.remove(&key);
            }
            Err(err) => {
                complete = false;
                if reported.insert(key) {
                    let message = format!(
                        "set '{}': the recording did not start: {err} (retrying every {} s)",
                        e.title,
                        RETRY.as_secs()
                    );
                    app.report_alert(AlertKind::SetFailed, message.clone());
                    app.record(HistoryKind::ScheduleProblem, None, message)
                        .await;
                }
            }
        }
    }
    for (id, name) in idle {
        app.push_key(link, &id).await;
        match app.start_target(&id).await {
            Ok(_) => {
                reported.remove(&(e.id, id));
            }
            Err(err) => {
                complete = false;
                if reported.insert((e.id, id.clone())) {
                    let message = format!(
                        "set '{}': {name} did not start: {err} (retrying every {} s)",
                        e.title,
                        RETRY.as_secs()
                    );
                    app.report_alert(AlertKind::SetFailed, message.clone());
                    app.record(HistoryKind::ScheduleProblem, Some(id), message)
                        .await;
                }
            }
        }
    }
    if start_main {
        link.start_main_stream()
            .await
            .map_err(|err| err.to_string())?;
    }
    if let Some(plan) = e.reair {
        // In the set's scene (the re-air switches to it); the set started the targets.
        let key = (e.id, REAIR_KEY.to_owned());
        let req = StartReAir {
            recording_id: plan.recording_id,
            scene: e.scene.clone(),
            targets: Vec::new(),
            looped: plan.looped,
        };
        match app.start_reair(req, Some(e.id)).await {
            Ok(_) => {
                reported.remove(&key);
            }
            Err(err) => {
                complete = false;
                if reported.insert(key) {
                    let message = format!(
                        "set '{}': the re-air of recording #{} did not start: {err} (retrying every {} s)",
                        e.title,
                        plan.recording_id,
                        RETRY.as_secs()
                    );
                    app.report_alert(AlertKind::SetFailed, message.clone());
                    app.record(HistoryKind::ScheduleProblem, None, message)
                        .await;
                }
            }
        }
    } else if switch_scene && let Some(scene) = &e.scene {
        link.set_program_scene(scene)
            .await
            .map_err(|err| err.to_string())?;
    }
    Ok(complete)
}
