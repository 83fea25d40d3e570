//! Runs the schedule: every half second it marks due sets `running` (committed first, so a
//! restart never starts one twice), makes sure their outputs are live (keys pushed from the keyring,
//! idle targets started, OBS's stream started, scene switched once), ends sets at their end time
//! (stopping only outputs no other running set needs) and marks sets missed when their whole slot
//! passed while the companion was down. It also refreshes iCalendar feeds on their timers.
//!
//! After a companion restart, running sets are re-applied idempotently: outputs that are already
//! live are left alone and the scene is not switched again.
//!
//! Threads: one tokio task; database calls on the blocking pool.
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::obs_link::ObsLink;
use crate::schedule::Entry;
use crate::service::Service;
use crate::store::now_ms;

/// How far ahead feed instances are kept.
pub const FEED_HORIZON_MS: i64 = 90 * 86_400_000;
/// How far back a refresh looks (an instance running now must stay).
pub const FEED_LOOKBACK_MS: i64 = 86_400_000;

/// Fetches and applies one feed; returns (added, updated, removed) or the reason it failed.
pub async fn refresh_feed(
    service: &Service,
    http: &reqwest::Client,
    id: i64,
) -> Result<(usize, usize, usize), String> {
    let feed = service
        .db
        .call(move |s| s.feed(id))
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no feed {id}"))?;
    let now = now_ms();
    let fetched = async {
        let resp = http
            .get(&feed.url)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .map_err(|e| format!("fetching {}: {e}", feed.url))?;
        if !resp.status().is_success() {
            return Err(format!("fetching {}: HTTP {}", feed.url, resp.status()));
        }
        resp.text()
            .await
            .map_err(|e| format!("reading {}: {e}", feed.url))
    }
    .await;
    let text = match fetched {
        Ok(t) => t,
        Err(why) => {
            let w = why.clone();
            let _ = service.db.call(move |s| s.feed_failed(id, now, &w)).await;
            return Err(why);
        }
    };
    let (from, to) = (now - FEED_LOOKBACK_MS, now + FEED_HORIZON_MS);
    let parsed = tokio::task::spawn_blocking(move || crate::ics::instances(&text, from, to))
        .await
        .map_err(|e| e.to_string())?;
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            let why = format!("{}: {e}", feed.url);
            let w = why.clone();
            let _ = service.db.call(move |s| s.feed_failed(id, now, &w)).await;
            return Err(why);
        }
    };
    let f = feed.clone();
    let result = service
        .db
        .call(move |s| s.apply_feed(&f, &parsed.instances, &parsed.problems, from, to, now))
        .await
        .map_err(|e| e.to_string())?;
    if result != (0, 0, 0) {
        service
            .record(
                "schedule_feed",
                None,
                format!(
                    "calendar {}: {} new, {} changed, {} removed",
                    feed.url, result.0, result.1, result.2
                ),
            )
            .await;
        service.schedule_changed();
    }
    Ok(result)
}

/// The scheduler task.
pub async fn run(
    service: Arc<Service>,
    http: reqwest::Client,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut applied: HashSet<i64> = HashSet::new();
    let mut scene_pending: HashSet<i64> = HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut n: u64 = 0;
    let mut last_pull: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        n += 1;
        if let Err(e) = step(&service, &mut applied, &mut scene_pending).await {
            tracing::error!("scheduler: {e}");
        }
        if n.is_multiple_of(10) {
            refresh_due_feeds(&service, &http).await;
            pull_if_due(&service, &http, &mut last_pull).await;
        }
    }
}

async fn refresh_due_feeds(service: &Service, http: &reqwest::Client) {
    let Ok(feeds) = service.db.call(|s| s.feeds()).await else {
        return;
    };
    let now = now_ms();
    for f in feeds {
        let due = f
            .last_fetch_ms
            .is_none_or(|t| now - t >= f.refresh_s.max(30) * 1000);
        if due && let Err(why) = refresh_feed(service, http, f.id).await {
            tracing::warn!("calendar feed: {why}");
        }
    }
}

async fn step(
    service: &Service,
    applied: &mut HashSet<i64>,
    scene_pending: &mut HashSet<i64>,
) -> Result<(), crate::store::StoreError> {
    let now = now_ms();
    for e in service.db.call(move |s| s.take_missed(now)).await? {
        service
            .record(
                "schedule_missed",
                None,
                format!(
                    "'{}' was missed: the companion was not running during it",
                    e.title
                ),
            )
            .await;
        service.schedule_changed();
    }
    for e in service.db.call(move |s| s.take_due(now)).await? {
        service
            .record(
                "schedule_started",
                None,
                format!("set '{}' started", e.title),
            )
            .await;
        scene_pending.insert(e.id);
        service.schedule_changed();
    }
    let running = service.db.call(|s| s.entries_in("running")).await?;
    for e in &running {
        if e.end_ms <= now {
            let others: Vec<&Entry> = running
                .iter()
                .filter(|o| o.id != e.id && o.end_ms > now)
                .collect();
            finish(service, e, &others, "done").await;
            applied.remove(&e.id);
            scene_pending.remove(&e.id);
            continue;
        }
        if applied.contains(&e.id) {
            continue;
        }
        let Some(link) = service.link() else {
            continue; // not connected: try again on the next tick
        };
        match ensure(service, &link, e, scene_pending.contains(&e.id)).await {
            Ok(()) => {
                applied.insert(e.id);
                scene_pending.remove(&e.id);
            }
            Err(why) => tracing::warn!("set '{}': {why}; retrying", e.title),
        }
    }
    Ok(())
}

/// Makes the set's outputs live without touching those that already are.
async fn ensure(
    service: &Service,
    link: &ObsLink,
    e: &Entry,
    switch_scene: bool,
) -> Result<(), String> {
    let snap = service.live.get();
    for id in &e.targets {
        let Some(tile) = snap.targets.iter().find(|t| &t.id == id) else {
            service
                .record(
                    "schedule_problem",
                    Some(id.clone()),
                    format!("set '{}': target {id} does not exist", e.title),
                )
                .await;
            continue;
        };
        if tile.state.is_active() {
            continue;
        }
        service.push_key(link, id).await;
        if let Err(err) = link.start_stop(id, true).await {
            service
                .record(
                    "schedule_problem",
                    Some(id.clone()),
                    format!("set '{}': {} did not start: {err}", e.title, tile.name),
                )
                .await;
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

/// Stops what the set started (unless another running set still needs it) and ends it.
pub async fn finish(service: &Service, e: &Entry, others: &[&Entry], state: &'static str) {
    if let Some(link) = service.link() {
        for id in &e.targets {
            if others.iter().any(|o| o.targets.contains(id)) {
                continue;
            }
            if let Err(err) = link.start_stop(id, false).await {
                tracing::warn!("set '{}': stopping {id}: {err}", e.title);
            }
        }
        if e.start_main
            && !others.iter().any(|o| o.start_main)
            && let Err(err) = link.stop_main_stream().await
        {
            tracing::warn!("set '{}': stopping OBS's stream: {err}", e.title);
        }
    }
    let (id, now) = (e.id, now_ms());
    if let Err(err) = service
        .db
        .call(move |s| s.finish_entry(id, state, now, None))
        .await
    {
        tracing::error!("schedule: {err}");
    }
    let verb = if state == "done" {
        "ended"
    } else {
        "was cancelled"
    };
    service
        .record("schedule_ended", None, format!("set '{}' {verb}", e.title))
        .await;
    service.schedule_changed();
}

async fn pull_if_due(
    service: &Service,
    http: &reqwest::Client,
    last: &mut Option<std::time::Instant>,
) {
    let Ok((Some(_base), interval)) = service
        .db
        .call(|s| {
            Ok((
                s.setting(crate::pull::BASE_URL)?,
                s.setting(crate::pull::PULL_INTERVAL)?
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(300),
            ))
        })
        .await
    else {
        return;
    };
    if last.is_some_and(|t| t.elapsed() < Duration::from_secs(interval)) || service.link().is_none()
    {
        return;
    }
    *last = Some(std::time::Instant::now());
    if let Err(e) = crate::pull::pull(service, http).await {
        tracing::warn!("platform pull: {e}");
    }
}
