//! The evaluator driven second by second through episodes a streamer knows: flapping links,
//! restarts, a pulled mixer cable, clipping, OBS lost and closed, one-off events.
use super::*;
use crate::alerts::rules::RulesPatch;

fn tile(id: &str) -> TargetSeen {
    TargetSeen {
        id: id.into(),
        name: format!("T-{id}"),
        state: TargetState::Live,
        last_error: None,
        kbps: 2600.0,
        expected_kbps: Some(2660),
        dropped_frames: 0,
        total_frames: 0,
        reconnects: 0,
        congestion: 0.0,
        uptime_sec: 60.0,
        video_bitrate: None,
        encoder_users: 1,
    }
}

fn block(seq: u64, peak: f64, clipped: u32) -> AudioBlock {
    AudioBlock {
        seq,
        peak_dbfs: peak,
        rms_dbfs: peak - 3.0,
        clipped_frames: clipped,
        frames: 4800,
    }
}

/// A rig: targets advance 30 frames a second; one observation per second.
struct Rig {
    ev: Evaluator,
    rules: AlertRules,
    now: i64,
    targets: Vec<TargetSeen>,
    main: MainStream,
    obs: bool,
    closing: bool,
    seq: u64,
    level: f64,
    clipped: u32,
    happened: Vec<Happened>,
    dead: (i64, Option<i64>),
    keyring: Option<String>,
    stats: ObsStats,
    attached: bool,
    held: Vec<(String, String)>,
    recording: Option<RecordingStatus>,
    log: Vec<(i64, Transition)>,
}

impl Rig {
    fn new(ids: &[&str]) -> Rig {
        Rig {
            ev: Evaluator::new(),
            rules: AlertRules::default(),
            now: 1_000_000,
            targets: ids.iter().map(|i| tile(i)).collect(),
            main: MainStream::default(),
            obs: true,
            closing: false,
            seq: 0,
            level: -12.0,
            clipped: 0,
            happened: Vec::new(),
            dead: (0, None),
            keyring: None,
            stats: ObsStats::default(),
            attached: true,
            held: Vec::new(),
            recording: None,
            log: Vec::new(),
        }
    }

    /// One second: every target sends 30 frames, dropping `drops[id]` of them.
    fn second(&mut self, drops: &[(&str, u64)]) -> Vec<Transition> {
        self.now += 1000;
        for t in &mut self.targets {
            if t.state.is_active() {
                t.total_frames += 30;
                t.dropped_frames += drops.iter().find(|(id, _)| *id == t.id).map_or(0, |d| d.1);
            }
        }
        self.stats.render_total_frames += 30;
        self.stats.output_total_frames += 30;
        let blocks: Vec<AudioBlock> = if self.attached {
            (0..10)
                .map(|_| {
                    self.seq += 1;
                    block(self.seq, self.level, self.clipped)
                })
                .collect()
        } else {
            Vec::new()
        };
        let happened = std::mem::take(&mut self.happened);
        let o = Observation {
            now_ms: self.now,
            obs_connected: self.obs,
            obs_closing: self.closing,
            main_stream: &self.main,
            stats: Some(&self.stats),
            targets: &self.targets,
            audio: if self.obs {
                Audio::Blocks {
                    attached: self.attached,
                    blocks: &blocks,
                }
            } else {
                Audio::Unmeasured
            },
            keyring_problem: self.keyring.as_deref(),
            webhooks_dead: self.dead,
            happened: &happened,
            held: &self.held,
            recording: self.recording.as_ref(),
        };
        let t = self.ev.observe(&self.rules, &o);
        self.log.extend(t.iter().map(|t| (self.now, t.clone())));
        t
    }

    fn seconds(&mut self, n: usize, drops: &[(&str, u64)]) {
        for _ in 0..n {
            self.second(drops);
        }
    }

    fn raised(&self, kind: AlertKind) -> Vec<(i64, Option<String>)> {
        self.log
            .iter()
            .filter_map(|(at, t)| match t {
                Transition::Raise { key, .. } if key.0 == kind => Some((*at, key.1.clone())),
                _ => None,
            })
            .collect()
    }

    fn cleared(&self, kind: AlertKind) -> Vec<(i64, Option<String>)> {
        self.log
            .iter()
            .filter_map(|(at, t)| match t {
                Transition::Clear { key, .. } if key.0 == kind => Some((*at, key.1.clone())),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn a_flapping_link_gives_one_alert_per_episode_for_its_target_only() {
    let mut r = Rig::new(&["a", "b", "c"]);
    r.seconds(20, &[]);
    let start = r.now;
    // The link of "b" flaps for a minute: 2 s dropping half, 1 s clean, over and over.
    for i in 0..60 {
        let d = if i % 3 == 2 { 0 } else { 15 };
        r.second(&[("b", d)]);
    }
    let raised = r.raised(AlertKind::TargetDrops);
    assert_eq!(raised.len(), 1, "{:?}", r.log);
    assert_eq!(raised[0].1.as_deref(), Some("b"));
    assert!(
        raised[0].0 - start <= 2000,
        "raised after {} ms",
        raised[0].0 - start
    );
    assert!(r.cleared(AlertKind::TargetDrops).is_empty());
    // The link recovers: the 10 s window empties, then 10 s of good clear it.
    let fixed = r.now;
    r.seconds(40, &[]);
    let cleared = r.cleared(AlertKind::TargetDrops);
    assert_eq!(cleared.len(), 1);
    let after = cleared[0].0 - fixed;
    assert!(
        (10_000..=22_000).contains(&after),
        "cleared {after} ms after the fix"
    );
    if let Some((_, Transition::Clear { worst, .. })) = r
        .log
        .iter()
        .find(|(_, t)| matches!(t, Transition::Clear { .. }))
    {
        assert!(
            (*worst - 33.3).abs() < 0.5 || *worst > 30.0,
            "worst {worst}"
        );
    }
    // A second episode is a second alert.
    r.seconds(5, &[("b", 30)]);
    assert_eq!(r.raised(AlertKind::TargetDrops).len(), 2);
}

#[test]
fn a_few_drops_below_the_threshold_raise_nothing() {
    let mut r = Rig::new(&["a"]);
    // 1 frame in 300 (0.33 %) never crosses 1 %.
    for i in 0..120 {
        r.second(&[("a", u64::from(i % 10 == 0))]);
    }
    assert!(r.raised(AlertKind::TargetDrops).is_empty(), "{:?}", r.log);
}

#[test]
fn a_restarted_output_starts_its_window_over() {
    let mut r = Rig::new(&["a"]);
    r.seconds(5, &[("a", 10)]);
    assert_eq!(r.raised(AlertKind::TargetDrops).len(), 1);
    // The output restarts: counters go back to zero; no bogus huge delta, it clears.
    r.targets[0].dropped_frames = 0;
    r.targets[0].total_frames = 0;
    r.seconds(25, &[]);
    assert_eq!(r.cleared(AlertKind::TargetDrops).len(), 1);
}

#[test]
fn dead_air_is_raised_after_its_duration_only_while_live_and_clears_fast() {
    let mut r = Rig::new(&["a"]);
    r.seconds(3, &[]);
    let muted = r.now;
    r.level = -90.0;
    r.seconds(12, &[]);
    let raised = r.raised(AlertKind::DeadAir);
    assert_eq!(raised.len(), 1);
    let after = raised[0].0 - muted;
    // Default: 8 s below −50 dBFS; blocks come in whole seconds here.
    assert!(
        (8_000..=9_000).contains(&after),
        "raised {after} ms after muting"
    );
    if let Some((_, Transition::Raise { message, .. })) = r
        .log
        .iter()
        .find(|(_, t)| matches!(t, Transition::Raise { .. }))
    {
        assert!(message.contains("below -50 dBFS"), "{message}");
        assert!(message.contains("loudest -90.0 dBFS"), "{message}");
    }
    let back = r.now;
    r.level = -10.0;
    r.seconds(5, &[]);
    let cleared = r.cleared(AlertKind::DeadAir);
    assert_eq!(cleared.len(), 1);
    assert!(cleared[0].0 - back <= 3_000);
    // Silence while nothing is live is no alert.
    r.targets[0].state = TargetState::Idle;
    r.level = -90.0;
    r.seconds(30, &[]);
    assert_eq!(r.raised(AlertKind::DeadAir).len(), 1);
    // Going live into silence that already lasts: raised at once.
    r.targets[0].state = TargetState::Live;
    r.seconds(1, &[]);
    assert_eq!(r.raised(AlertKind::DeadAir).len(), 2);
}

#[test]
fn a_metered_source_that_is_gone_is_dead_air_too() {
    let mut r = Rig::new(&["a"]);
    r.seconds(3, &[]);
    r.attached = false;
    r.seconds(9, &[]);
    let raised: Vec<String> = r
        .log
        .iter()
        .filter_map(|(_, t)| match t {
            Transition::Raise { key, message, .. } if key.0 == AlertKind::DeadAir => {
                Some(message.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(raised.len(), 1, "{:?}", r.log);
    assert!(raised[0].contains("finds no such source"), "{raised:?}");
    r.attached = true;
    r.seconds(4, &[]);
    assert_eq!(r.cleared(AlertKind::DeadAir).len(), 1);
}

#[test]
fn clipping_needs_its_share_of_the_window() {
    let mut r = Rig::new(&["a"]);
    r.clipped = 24; // 0.5 % of each block
    r.seconds(20, &[]);
    assert!(r.raised(AlertKind::Clipping).is_empty());
    r.clipped = 480; // 10 %
    r.seconds(3, &[]);
    assert_eq!(r.raised(AlertKind::Clipping).len(), 1);
    r.clipped = 0;
    r.seconds(20, &[]);
    assert_eq!(r.cleared(AlertKind::Clipping).len(), 1);
}

#[test]
fn low_bitrate_and_congestion_hold_for_their_duration() {
    let mut r = Rig::new(&["a", "b"]);
    r.seconds(2, &[]);
    r.targets[0].kbps = 900.0; // 34 % of 2660
    r.targets[1].congestion = 0.9;
    r.seconds(9, &[]);
    assert!(r.raised(AlertKind::LowBitrate).is_empty());
    assert!(r.raised(AlertKind::Congestion).is_empty());
    r.seconds(2, &[]);
    assert_eq!(
        r.raised(AlertKind::LowBitrate)
            .iter()
            .map(|x| x.1.clone())
            .collect::<Vec<_>>(),
        [Some("a".to_owned())]
    );
    assert_eq!(r.raised(AlertKind::Congestion).len(), 1);
    // In the hysteresis band (55 % < 60 %): still raised.
    r.targets[0].kbps = 1470.0;
    r.seconds(30, &[]);
    assert!(r.cleared(AlertKind::LowBitrate).is_empty());
    r.targets[0].kbps = 2600.0;
    r.seconds(11, &[]);
    assert_eq!(r.cleared(AlertKind::LowBitrate).len(), 1);
    // Per-target overrides: "a" off entirely.
    let p: RulesPatch =
        serde_json::from_value(serde_json::json!({"targets": {"a": {"enabled": false}}})).unwrap();
    r.rules = r.rules.apply(p).unwrap();
    r.targets[0].kbps = 100.0;
    r.seconds(30, &[]);
    assert_eq!(r.raised(AlertKind::LowBitrate).len(), 1);
}

#[test]
fn reconnect_storms_and_errors_are_per_target() {
    let mut r = Rig::new(&["a", "b"]);
    r.seconds(2, &[]);
    for _ in 0..3 {
        r.targets[0].reconnects += 1;
        r.seconds(20, &[]);
    }
    assert_eq!(r.raised(AlertKind::ReconnectStorm).len(), 1);
    r.targets[1].state = TargetState::Error;
    r.targets[1].last_error = Some("the server refused the stream".into());
    r.second(&[]);
    let raised = r.raised(AlertKind::TargetError);
    assert_eq!(raised, [(r.now, Some("b".to_owned()))]);
    // Deleting the target clears its alerts at once.
    r.targets.remove(1);
    r.second(&[]);
    assert_eq!(r.cleared(AlertKind::TargetError).len(), 1);
    assert!(!r.ev.raised().iter().any(|k| k.1.as_deref() == Some("b")));
}

#[test]
fn obs_lost_is_an_alert_but_a_deliberate_exit_is_not() {
    let mut r = Rig::new(&[]);
    r.seconds(2, &[]);
    r.obs = false;
    r.seconds(4, &[]);
    assert!(r.raised(AlertKind::ObsDisconnected).is_empty());
    r.seconds(2, &[]);
    assert_eq!(r.raised(AlertKind::ObsDisconnected).len(), 1);
    r.obs = true;
    r.seconds(4, &[]);
    assert_eq!(r.cleared(AlertKind::ObsDisconnected).len(), 1);
    r.closing = true;
    r.obs = false;
    r.seconds(30, &[]);
    assert_eq!(r.raised(AlertKind::ObsDisconnected).len(), 1);
    // Never connected at all (the companion started before OBS): nothing.
    let mut fresh = Rig::new(&[]);
    fresh.obs = false;
    fresh.seconds(30, &[]);
    assert!(fresh.raised(AlertKind::ObsDisconnected).is_empty());
}

#[test]
fn one_off_events_hold_for_their_window() {
    let mut r = Rig::new(&[]);
    r.seconds(2, &[]);
    r.happened.push(Happened {
        kind: AlertKind::SetFailed,
        message: "set 'Friday': Twitch did not start".into(),
        at_ms: r.now,
    });
    r.second(&[]);
    assert_eq!(r.raised(AlertKind::SetFailed).len(), 1);
    // Webhooks: old dead letters are no news; new ones are.
    r.dead = (2, Some(r.now));
    r.second(&[]);
    assert_eq!(r.raised(AlertKind::WebhooksDead).len(), 1);
    r.seconds(601, &[]);
    assert_eq!(r.cleared(AlertKind::SetFailed).len(), 1);
    assert_eq!(r.cleared(AlertKind::WebhooksDead).len(), 1);
    let mut old = Rig::new(&[]);
    old.dead = (5, Some(old.now - 3_600_000));
    old.seconds(3, &[]);
    assert!(old.raised(AlertKind::WebhooksDead).is_empty());
}

#[test]
fn lag_and_the_keyring_and_turning_a_rule_off() {
    let mut r = Rig::new(&[]);
    r.seconds(3, &[]);
    for _ in 0..5 {
        r.stats.render_skipped_frames += 6;
        r.second(&[]);
    }
    assert_eq!(r.raised(AlertKind::RenderLag).len(), 1);
    assert!(r.raised(AlertKind::EncodeLag).is_empty());
    r.keyring = Some("locked".into());
    r.second(&[]);
    assert_eq!(r.raised(AlertKind::KeyringLocked).len(), 1);
    // Turning a rule off clears its alert right away.
    let p: RulesPatch = serde_json::from_value(
        serde_json::json!({"rules": {"keyring_locked": {"enabled": false}}}),
    )
    .unwrap();
    r.rules = r.rules.apply(p).unwrap();
    r.second(&[]);
    assert_eq!(r.cleared(AlertKind::KeyringLocked).len(), 1);
}

#[test]
fn a_target_protection_stopped_is_one_critical_alert_until_it_is_started_again() {
    let mut r = Rig::new(&["a", "b"]);
    r.second(&[]);
    r.targets[0].state = TargetState::Idle;
    r.held = vec![("a".into(), "a's link stalled; Deckcast stopped it".into())];
    let t = r.second(&[]);
    let raised: Vec<_> = t
        .iter()
        .filter_map(|t| match t {
            Transition::Raise {
                key,
                severity,
                message,
                ..
            } => Some((key.clone(), *severity, message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        raised,
        vec![(
            (AlertKind::TargetStopped, Some("a".to_owned())),
            Severity::Critical,
            "a's link stalled; Deckcast stopped it".to_owned()
        )]
    );
    for _ in 0..30 {
        assert!(r.second(&[]).is_empty(), "raised once, held while held");
    }
    // Started again: it clears at once.
    r.held.clear();
    r.targets[0].state = TargetState::Live;
    let t = r.second(&[]);
    assert!(
        matches!(&t[..], [Transition::Clear { key, message, .. }] if key.0 == AlertKind::TargetStopped && message.contains("started again")),
        "{t:?}"
    );
}

#[test]
fn a_recording_running_out_of_disk_is_told_with_the_minutes_left() {
    let mut r = Rig::new(&[]);
    // 2.5 Mbit/s = 312.5 kB/s; 1 GB free = 53 min: fine.
    let mut status = RecordingStatus {
        active: true,
        directory: Some("/home/dj/Videos".into()),
        file: None,
        bytes: 0,
        free_bytes: Some(1_000_000_000),
        started_by: None,
    };
    for _ in 0..15 {
        status.bytes += 312_500;
        r.recording = Some(status.clone());
        assert!(r.second(&[]).is_empty(), "{:?}", r.log);
    }
    // 502 MB free, of which OBS leaves the last 52 MB: 24 min left, under 30.
    status.free_bytes = Some(450_000_000 + OBS_STOPS_RECORDING_BELOW);
    status.bytes += 312_500;
    r.recording = Some(status.clone());
    let t = r.second(&[]);
    let [
        Transition::Raise {
            key,
            message,
            value,
            ..
        },
    ] = &t[..]
    else {
        panic!("{t:?}")
    };
    assert_eq!(key.0, AlertKind::DiskSpace);
    assert!((value - 24.0).abs() < 0.5, "{value}");
    assert!(
        message.contains("/home/dj/Videos") && message.contains("2.5 Mbit/s"),
        "{message}"
    );
    // Stopping the recording clears it (after clearSeconds).
    status.active = false;
    r.recording = Some(status.clone());
    let mut cleared = false;
    for _ in 0..12 {
        cleared |= r
            .second(&[])
            .iter()
            .any(|t| matches!(t, Transition::Clear { key, .. } if key.0 == AlertKind::DiskSpace));
    }
    assert!(cleared, "{:?}", r.log);
    // Not known (an older plugin), or no free space figure: nothing either way.
    let mut r = Rig::new(&[]);
    for i in 0..15u64 {
        r.recording = Some(RecordingStatus {
            active: true,
            directory: None,
            file: None,
            bytes: i * 312_500,
            free_bytes: None,
            started_by: None,
        });
        assert!(r.second(&[]).is_empty());
    }
}
