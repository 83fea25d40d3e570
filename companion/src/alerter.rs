//! The alert task of `deckcast serve`: twice a second it reads the live picture and the plugin's
//! audio meter, hands both to the evaluator (`alerts::engine`) and applies what it decides
//! (`App::apply_alert_transitions`), and to protection (`alerts::protect`), whose acts
//! `App::protect` carries out. It also tells the plugin which audio to meter (after every
//! reconnect and whenever the rule's source changes), reads OBS's recording status every 2 s
//! (the disk-space rule, and the guard that stops a recording before its disk is full), hands the active alerts to the plugin for its dock, and probes the keyring every 30 s (in the
//! background, at most one probe at a time, 5 s each, so a hung keyring cannot stall alerts).
//!
//! Threads: one tokio task; keyring probes on the blocking pool.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deckcast_protocol::alerts::{DockAlert, SetAlerts};
use deckcast_protocol::audio::{GetAudioLevels, SILENCE_DBFS, SetAudioMeter};
use deckcast_protocol::recording::{GetRecording, RecordingStatus};
use tokio::sync::watch;

use crate::alerts::engine::{Audio, Observation, TargetSeen};
use crate::alerts::protect::Protector;
use crate::alerts::{Alert, AlertKind, AlertState, Evaluator};
use crate::app::App;
use crate::keys::OBS_PASSWORD;
use crate::live::{AudioView, ObsState, Tile};

/// How often the evaluator looks (twice a second: dead air is told within half a second of its
/// duration).
const TICK: Duration = Duration::from_millis(500);
/// Ticks between keyring probes (30 s).
const KEYRING_PROBE_TICKS: u64 = 60;
/// Ticks between refreshes of the dock's list when nothing changed (10 s).
const DOCK_REFRESH_TICKS: u64 = 20;
/// Ticks between reads of OBS's recording status (2 s).
const RECORDING_TICKS: u64 = 4;
/// Ticks between prunes of old alerts (an hour).
const PRUNE_TICKS: u64 = 7200;

/// Runs until `shutdown` turns true.
pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    if let Err(e) = app.load_alert_rules().await {
        tracing::error!("alert rules: {e}");
    }
    match app.close_orphan_alerts().await {
        Ok(n) if n > 0 => tracing::info!("closed {n} alert(s) left open by the previous run"),
        Ok(_) => {}
        Err(e) => tracing::error!("alerts: {e}"),
    }
    let mut evaluator = Evaluator::new();
    let mut protector = Protector::new();
    // (link epoch, source) the meter was last set to; the next block wanted.
    let mut metered: Option<(u64, String)> = None;
    let mut since: Option<u64> = None;
    let mut recording: Option<RecordingStatus> = None;
    let keyring_problem: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let probing = Arc::new(AtomicBool::new(false));
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut n: u64 = 0;
    // What the plugin's dock was last told: (link epoch, alert ids and states).
    let mut docked: Option<(u64, Vec<(i64, AlertState)>)> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if n.is_multiple_of(KEYRING_PROBE_TICKS) {
            probe_keyring(&app, &keyring_problem, &probing);
        }
        n += 1;
        let rules = app.alert_rules();
        let (link, epoch) = app.link_with_epoch();
        let mut levels = None;
        if let Some(link) = link {
            let want = (epoch, rules.audio_source.clone());
            if metered.as_ref() != Some(&want) {
                let source = (!want.1.is_empty()).then(|| want.1.clone());
                match link.call(&SetAudioMeter { source }).await {
                    Ok(_) => {
                        metered = Some(want);
                        since = None;
                    }
                    Err(e) => tracing::debug!("audio meter: {e}"),
                }
            }
            if metered.is_some() {
                match link.call(&GetAudioLevels { since }).await {
                    Ok(l) => {
                        since = Some(l.next);
                        levels = Some(l);
                    }
                    Err(e) => tracing::debug!("audio levels: {e}"),
                }
            }
            // OBS's recording, every 2 s, for the disk-space rule and guard.
            if n.is_multiple_of(RECORDING_TICKS) {
                recording = match link.call(&GetRecording {}).await {
                    Ok(r) => {
                        app.guard_recording_disk(&r).await;
                        Some(r)
                    }
                    Err(e) => {
                        tracing::debug!("recording status: {e}");
                        None
                    }
                };
            }
        } else {
            metered = None;
            recording = None;
        }
        let snap = app.live.get();
        let happened = app.take_alert_reports();
        let problem = keyring_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let audio = match &levels {
            Some(l) => Audio::Blocks {
                attached: l.attached,
                blocks: &l.blocks,
            },
            None => Audio::Unmeasured,
        };
        let targets: Vec<TargetSeen> = snap.targets.iter().map(seen).collect();
        let held = app.protection_holds(&snap.targets);
        let observation = Observation {
            now_ms: app.now_ms(),
            obs_connected: snap.obs.state == ObsState::Connected,
            obs_closing: snap.obs.closing,
            main_stream: &snap.main_stream,
            stats: snap.stats.as_ref(),
            targets: &targets,
            audio,
            keyring_problem: problem.as_deref(),
            webhooks_dead: (snap.sync.dead, snap.sync.last_dead_ms),
            happened: &happened,
            held: &held,
            recording: recording.as_ref(),
        };
        let transitions = evaluator.observe(&rules, &observation);
        let acts = if snap.obs.state == ObsState::Connected {
            protector.decide(&rules.protect, observation.now_ms, &targets, |id| {
                rules.threshold_for(AlertKind::TargetDrops, id)
            })
        } else {
            Vec::new()
        };
        let audio = levels
            .as_ref()
            .map(|l| audio_view(l, evaluator.silent_ms()));
        app.live.update(|s| s.audio = audio);
        app.apply_alert_transitions(transitions).await;
        for id in app.protect(acts).await {
            protector.stop_failed(&id);
        }
        // The dock in OBS shows the active alerts: tell the plugin when they change, and every
        // 10 s (it withholds a list older than 30 s).
        if let Some(link) = app.link() {
            let active = app.live.get().alerts;
            let key = (
                epoch,
                active.iter().map(|a| (a.id, a.state)).collect::<Vec<_>>(),
            );
            if docked.as_ref() != Some(&key) || n.is_multiple_of(DOCK_REFRESH_TICKS) {
                let alerts = active.iter().map(dock_alert).collect();
                match link.call(&SetAlerts { alerts }).await {
                    Ok(_) => docked = Some(key),
                    Err(e) => tracing::debug!("alerts for the dock: {e}"),
                }
            }
        }
        if n.is_multiple_of(PRUNE_TICKS) {
            let before = app.now_ms() - 90 * 86_400_000;
            if let Err(e) = app.db.call(move |s| s.prune_alerts(before)).await {
                tracing::error!("alerts: {e}");
            }
        }
    }
}

/// An alert as the dock shows it.
fn dock_alert(a: &Alert) -> DockAlert {
    DockAlert {
        id: a.id,
        severity: a.severity.as_str().to_owned(),
        title: a.headline(),
        message: match &a.action {
            Some(action) => format!("{} — Deckcast {action}", a.message),
            None => a.message.clone(),
        },
        acknowledged: a.state == AlertState::Acknowledged,
    }
}

/// What the evaluator needs of a tile.
fn seen(t: &Tile) -> TargetSeen {
    TargetSeen {
        id: t.id.clone(),
        name: t.name.clone(),
        state: t.state,
        last_error: t.last_error.clone(),
        kbps: t.kbps,
        expected_kbps: t.expected_kbps,
        dropped_frames: t.dropped_frames,
        total_frames: t.total_frames,
        reconnects: t.reconnects,
        congestion: t.congestion,
        uptime_sec: t.uptime_sec,
        video_bitrate: t.video_bitrate,
        encoder_users: t.encoder_users,
    }
}

/// The last second of `levels` for the live picture.
fn audio_view(l: &deckcast_protocol::audio::AudioLevels, silent_ms: i64) -> AudioView {
    let last = &l.blocks[l.blocks.len().saturating_sub(10)..];
    let peak = last
        .iter()
        .map(|b| b.peak_dbfs)
        .fold(SILENCE_DBFS, f64::max);
    // RMS of the blocks' RMS values (equal lengths): back to power, mean, to dBFS.
    let power: f64 = last
        .iter()
        .map(|b| 10f64.powf(b.rms_dbfs / 10.0))
        .sum::<f64>()
        / last.len().max(1) as f64;
    AudioView {
        source: l.source.clone(),
        attached: l.attached,
        peak_dbfs: peak,
        rms_dbfs: if last.is_empty() {
            SILENCE_DBFS
        } else {
            (10.0 * power.log10()).max(SILENCE_DBFS)
        },
        silent_sec: silent_ms as f64 / 1000.0,
        clipped_frames: last.iter().map(|b| u64::from(b.clipped_frames)).sum(),
    }
}

/// Starts a keyring probe unless one is running; its result lands in `problem`.
fn probe_keyring(
    app: &App,
    problem: &Arc<std::sync::Mutex<Option<String>>>,
    probing: &Arc<AtomicBool>,
) {
    if let Some(why) = app.keys.unavailable_reason() {
        *problem.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.to_owned());
        return;
    }
    if probing.swap(true, Ordering::AcqRel) {
        return;
    }
    let (keys, problem, probing) = (app.keys.clone(), Arc::clone(problem), Arc::clone(probing));
    tokio::spawn(async move {
        let r = tokio::time::timeout(Duration::from_secs(5), keys.get_async(OBS_PASSWORD)).await;
        let now = match r {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => {
                Some("it did not answer within 5 s (is it locked, waiting for a password?)".into())
            }
        };
        *problem.lock().unwrap_or_else(|e| e.into_inner()) = now;
        probing.store(false, Ordering::Release);
    });
}
