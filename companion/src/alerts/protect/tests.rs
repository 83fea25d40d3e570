//! Protection driven second by second through links a streamer knows: one that cannot carry the
//! bitrate and then recovers, one just below a step, a stalled link on a shared encoder.
use super::*;

fn target(id: &str, video: Option<u32>) -> TargetSeen {
    TargetSeen {
        id: id.into(),
        name: format!("T-{id}"),
        state: TargetState::Live,
        last_error: None,
        kbps: 2000.0,
        expected_kbps: Some(2128),
        dropped_frames: 0,
        total_frames: 0,
        reconnects: 0,
        congestion: 0.0,
        uptime_sec: 60.0,
        video_bitrate: video.map(|kbps| deckcast_protocol::targets::VideoBitrate {
            configured_kbps: kbps,
            applied_kbps: kbps,
            adjustable: true,
        }),
        encoder_users: 1,
    }
}

struct Rig {
    p: Protector,
    settings: Protection,
    now: i64,
    targets: Vec<TargetSeen>,
    /// (second, act)
    log: Vec<(i64, Act)>,
}

impl Rig {
    fn new(targets: Vec<TargetSeen>) -> Rig {
        Rig {
            p: Protector::new(),
            settings: Protection::default(),
            now: 0,
            targets,
            log: Vec::new(),
        }
    }

    /// One second (two observations): each live target's encoder makes 30 frames, of which
    /// `drop(id, applied kbps)` are dropped. Bitrate acts are applied the way the plugin does.
    fn second(&mut self, drop: impl Fn(&str, u32) -> u64) -> Vec<Act> {
        let mut acts = Vec::new();
        for _ in 0..2 {
            self.now += 500;
            for t in &mut self.targets {
                if t.state == TargetState::Live {
                    t.total_frames += 15;
                    let applied = t.video_bitrate.map_or(0, |v| v.applied_kbps);
                    t.dropped_frames += drop(&t.id, applied).div_ceil(2);
                }
            }
            let out = self
                .p
                .decide(&self.settings, self.now, &self.targets, |_| 1.0);
            for a in &out {
                if let Act::SetBitrate { id, kbps, .. } = a {
                    let t = self.targets.iter_mut().find(|t| &t.id == id).unwrap();
                    t.video_bitrate.as_mut().unwrap().applied_kbps = *kbps;
                }
                self.log.push((self.now / 1000, a.clone()));
            }
            acts.extend(out);
        }
        acts
    }

    fn bitrates(&self) -> Vec<(i64, u32)> {
        self.log
            .iter()
            .filter_map(|(s, a)| match a {
                Act::SetBitrate { kbps, .. } => Some((*s, *kbps)),
                Act::Stop { .. } => None,
            })
            .collect()
    }
}

/// A link that carries `capacity` kbit/s: above it, a share of the frames is dropped.
fn link(capacity: u32) -> impl Fn(&str, u32) -> u64 {
    move |_, kbps| {
        if kbps + 128 > capacity {
            // The more it exceeds, the more it drops: 30 frames a second at most.
            u64::from(((kbps + 128 - capacity) * 30 / (kbps + 128)).max(3))
        } else {
            0
        }
    }
}

#[test]
fn a_dedicated_encoder_steps_down_until_its_link_carries_it_and_back_up_after() {
    let mut r = Rig::new(vec![target("a", Some(2000))]);
    for _ in 0..5 {
        assert!(r.second(link(10_000)).is_empty(), "a healthy link: nothing");
    }
    // The link now carries 1400 kbit/s: 2000 → 1600 → 1200 (1328 with audio fits).
    for _ in 0..25 {
        r.second(link(1400));
    }
    let steps = r.bitrates();
    assert_eq!(
        steps.iter().map(|s| s.1).collect::<Vec<_>>(),
        vec![1600, 1200],
        "{steps:?}"
    );
    // The first step within a step window (10 s) of the drops starting, the next one 10 s on.
    assert!(steps[0].0 <= 5 + 11, "{steps:?}");
    assert_eq!(steps[1].0 - steps[0].0, 10, "{steps:?}");
    let Act::SetBitrate {
        why,
        from,
        configured,
        ..
    } = &r.log[0].1
    else {
        unreachable!()
    };
    assert_eq!((*from, *configured), (2000, 2000));
    assert!(
        why.contains("lowered its encoder's video bitrate to 1600 kbit/s"),
        "{why}"
    );
    // Holds at 1200 while the link stays at 1400: after 30 s without drops it tries 1600, drops,
    // goes back, and waits twice as long before the next try.
    r.log.clear();
    for _ in 0..200 {
        r.second(link(1400));
    }
    let tries: Vec<u32> = r.bitrates().iter().map(|s| s.1).collect();
    assert!(tries.iter().all(|k| [1200, 1600].contains(k)), "{tries:?}");
    let ups: Vec<i64> = r
        .bitrates()
        .iter()
        .filter(|s| s.1 == 1600)
        .map(|s| s.0)
        .collect();
    assert!(ups.len() >= 2 && ups.len() <= 3, "backs off: {ups:?}");
    assert!(
        ups[1] - ups[0] >= 60,
        "the second try waits longer: {ups:?}"
    );
    // The link recovers: back up one step at a time, to the config's bitrate, and no further.
    r.log.clear();
    let start = r.now / 1000;
    for _ in 0..400 {
        r.second(link(10_000));
    }
    let steps = r.bitrates();
    assert_eq!(steps.last().map(|s| s.1), Some(2000), "{steps:?}");
    assert!(steps.windows(2).all(|w| w[1].1 > w[0].1), "{steps:?}");
    assert!(steps[0].0 > start, "{steps:?}");
    let applied = r.targets[0].video_bitrate.unwrap().applied_kbps;
    assert_eq!(applied, 2000);
}

#[test]
fn it_never_goes_below_the_floor_and_small_drops_do_not_step() {
    let mut r = Rig::new(vec![target("a", Some(2000))]);
    // A link that carries almost nothing: down to 40 % (800) and no further.
    for _ in 0..120 {
        r.second(link(300));
    }
    let steps: Vec<u32> = r.bitrates().iter().map(|s| s.1).collect();
    assert_eq!(steps, vec![1600, 1200, 800], "{steps:?}");
    // A sole dedicated encoder is never stopped, however bad its link.
    assert!(
        r.log
            .iter()
            .all(|(_, a)| matches!(a, Act::SetBitrate { .. }))
    );
    // Drops under the threshold (1 %): no step.
    let mut r = Rig::new(vec![target("b", Some(2000))]);
    for n in 1..=120u64 {
        // Two frames in 420 (0.5 %).
        r.second(|_, _| u64::from(n.is_multiple_of(14)));
    }
    assert!(r.bitrates().is_empty(), "{:?}", r.log);
}

#[test]
fn a_stalled_shared_encoder_target_is_stopped_once_and_struggling_ones_are_left_alone() {
    let mut shared = target("s", None);
    shared.kbps = 12.0;
    let mut two = target("d", Some(2000));
    two.encoder_users = 2;
    let mut r = Rig::new(vec![shared, two, target("ok", Some(2000))]);
    // Struggling (20 % dropped): a shared encoder cannot be lowered for one target; nothing.
    for _ in 0..60 {
        assert!(
            r.second(|id, _| if id == "ok" { 0 } else { 6 }).is_empty(),
            "{:?}",
            r.log
        );
    }
    // Stalled (everything dropped): both stopped once they dropped half their frames over the
    // last `stallSeconds`.
    let from = r.now / 1000;
    for _ in 0..30 {
        r.second(|id, _| if id == "ok" { 0 } else { 30 });
    }
    let stops: Vec<(i64, String, String)> = r
        .log
        .iter()
        .filter_map(|(s, a)| match a {
            Act::Stop { id, why, .. } => Some((*s, id.clone(), why.clone())),
            Act::SetBitrate { .. } => None,
        })
        .collect();
    assert_eq!(
        stops.iter().map(|s| s.1.as_str()).collect::<Vec<_>>(),
        vec!["s", "d"],
        "{stops:?}"
    );
    for (s, _, _) in &stops {
        assert!((from + 1..=from + 11).contains(s), "{stops:?}");
    }
    assert!(
        stops[0].2.contains("OBS's streaming encoder"),
        "{}",
        stops[0].2
    );
    assert!(stops[0].2.contains("sending 12 kbit/s"), "{}", stops[0].2);
    assert!(stops[1].2.contains("1 other live target"), "{}", stops[1].2);
    assert!(r.bitrates().is_empty(), "shared encoders are never lowered");
    // Once it stopped and was started again, a new stall stops it again.
    r.log.clear();
    r.targets[0].state = TargetState::Idle;
    r.second(|_, _| 0);
    r.targets[0].state = TargetState::Live;
    r.targets[0].dropped_frames = 0;
    r.targets[0].total_frames = 0;
    for _ in 0..15 {
        r.second(|id, _| if id == "s" { 30 } else { 0 });
    }
    assert_eq!(r.log.len(), 1, "{:?}", r.log);
}

#[test]
fn switched_off_or_reconnecting_it_does_nothing() {
    let mut r = Rig::new(vec![target("a", Some(2000)), target("s", None)]);
    r.settings = r
        .settings
        .apply(ProtectionPatch {
            lower_bitrate: Some(false),
            stop_stalled: Some(false),
            ..ProtectionPatch::default()
        })
        .unwrap();
    for _ in 0..60 {
        r.second(|_, _| 30);
    }
    assert!(r.log.is_empty(), "{:?}", r.log);
    let mut r = Rig::new(vec![target("s", None)]);
    r.targets[0].state = TargetState::Reconnecting;
    for _ in 0..60 {
        r.second(|_, _| 30);
    }
    assert!(r.log.is_empty(), "{:?}", r.log);
    // Settings are checked.
    let p = Protection::default();
    for bad in [
        ProtectionPatch {
            step_percent: Some(60),
            ..ProtectionPatch::default()
        },
        ProtectionPatch {
            stall_percent: Some(f64::NAN),
            ..ProtectionPatch::default()
        },
        ProtectionPatch {
            recover_seconds: Some(1),
            ..ProtectionPatch::default()
        },
    ] {
        assert!(p.apply(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_link_just_below_the_config_backs_off_longer_and_longer_at_the_top_step() {
    let mut r = Rig::new(vec![target("a", Some(2000))]);
    // Carries 2100 kbit/s: 2000 + 128 audio does not fit, 1600 does.
    for _ in 0..900 {
        r.second(link(2100));
    }
    let tops: Vec<i64> = r
        .bitrates()
        .iter()
        .filter(|s| s.1 == 2000)
        .map(|s| s.0)
        .collect();
    assert!(tops.len() >= 3, "{:?}", r.bitrates());
    let gaps: Vec<i64> = tops.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).all(|g| g[1] > g[0]),
        "the tries space out: {gaps:?}"
    );
    assert!(tops.len() <= 6, "not every 70 s: {tops:?}");
}

#[test]
fn a_lowered_encoder_seen_fresh_waits_before_it_steps_up() {
    // After a companion restart: the plugin still runs it at 1200 of 2000.
    let mut t = target("a", Some(2000));
    t.video_bitrate.as_mut().unwrap().applied_kbps = 1200;
    let mut r = Rig::new(vec![t]);
    for _ in 0..29 {
        assert!(r.second(|_, _| 0).is_empty(), "{:?}", r.log);
    }
    for _ in 0..3 {
        r.second(|_, _| 0);
    }
    assert_eq!(r.bitrates().first().map(|s| s.1), Some(1600), "{:?}", r.log);
}

#[test]
fn a_second_target_on_a_lowered_encoder_puts_it_back_and_a_sole_fixed_one_is_never_stopped() {
    let mut r = Rig::new(vec![target("a", Some(2000))]);
    for _ in 0..20 {
        r.second(link(1400));
    }
    assert!(r.targets[0].video_bitrate.unwrap().applied_kbps < 2000);
    r.log.clear();
    r.targets[0].encoder_users = 2;
    for _ in 0..20 {
        r.second(link(1400));
    }
    let steps = r.bitrates();
    assert_eq!(
        steps.iter().map(|s| s.1).collect::<Vec<_>>(),
        vec![2000],
        "{steps:?}"
    );
    let Act::SetBitrate { why, .. } = &r.log[0].1 else {
        unreachable!()
    };
    assert!(why.contains("another target now streams"), "{why}");
    // An encoder that cannot change its bitrate, with nobody else on it: a stalled link is
    // alerted, not stopped (there is no one to protect).
    let mut fixed = target("f", Some(2000));
    fixed.video_bitrate.as_mut().unwrap().adjustable = false;
    let mut r = Rig::new(vec![fixed]);
    for _ in 0..30 {
        r.second(|_, _| 30);
    }
    assert!(r.log.is_empty(), "{:?}", r.log);
}

#[test]
fn a_stop_that_failed_is_tried_again() {
    let mut r = Rig::new(vec![target("s", None)]);
    for _ in 0..15 {
        r.second(|_, _| 30);
    }
    assert_eq!(r.log.len(), 1);
    r.p.stop_failed("s");
    r.second(|_, _| 30);
    assert_eq!(r.log.len(), 2, "{:?}", r.log);
}
