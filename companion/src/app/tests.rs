//! The companion against the fake obs-websocket (`crate::obs::fake`), on tokio's paused clock:
//! the supervisor reconnecting with backoff and resyncing, keys pushed only for targets the
//! companion knows, a scheduled set starting and ending on time, and OBS restarting mid-set. Real
//! database (SQLite in memory), real keyring API (in-memory store); only OBS is scripted.
use std::sync::Arc;
use std::time::Duration;

use deckcast_protocol::targets::{SetStreamKey, StartTarget, TargetState};
use deckcast_secrets::{KeyStore, MemoryStore, Secret};
use tokio::sync::watch;

use super::schedule::AddEntry;
use super::{App, Clock, Role};
use crate::keys::{Keys, stream_key_account};
use crate::live::ObsState;
use crate::obs::Connector;
use crate::obs::fake::FakeObs;
use crate::schedule::{EntryState, Time};
use crate::store::{Db, HistoryKind, Store, TargetMeta};
use crate::supervisor::{self, Dialer, SupervisorConfig};

struct Rig {
    app: Arc<App>,
    fake: Arc<FakeObs>,
    keys: Arc<MemoryStore>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Rig {
    fn new(fake: Arc<FakeObs>) -> Rig {
        Rig::on(
            fake,
            Db::new(Store::open_in_memory().unwrap()),
            Clock::tokio(),
        )
    }

    /// A companion on an existing database and clock (a restart).
    fn on(fake: Arc<FakeObs>, db: Db, clock: Clock) -> Rig {
        let keys = Arc::new(MemoryStore::default());
        let app = App::with_clock(
            Role::Service,
            db,
            Keys::with_store(keys.clone()),
            crate::web::http_client(),
            clock,
        );
        Rig {
            app,
            fake,
            keys,
            stop: watch::channel(false).0,
            tasks: Vec::new(),
        }
    }

    /// Targets the companion created earlier: in its database, keys in its keyring.
    async fn knows(&self, id: &str, key: &str) {
        let meta = TargetMeta {
            id: id.into(),
            name: id.to_uppercase(),
            platform: "custom".into(),
            server: "rtmp://127.0.0.1:1935/live".into(),
        };
        self.app
            .db
            .call(move |s| s.upsert_target(&meta, 1))
            .await
            .unwrap();
        self.keys
            .set(&stream_key_account(id), &Secret::new(key).unwrap())
            .unwrap();
    }

    fn supervise(&mut self) {
        self.tasks.push(tokio::spawn(supervisor::run(
            Arc::clone(&self.app),
            Dialer::Fixed(Connector::Fake(Arc::clone(&self.fake))),
            SupervisorConfig::default(),
            self.stop.subscribe(),
        )));
    }

    fn schedule(&mut self) {
        self.tasks.push(tokio::spawn(crate::scheduler::run(
            Arc::clone(&self.app),
            self.stop.subscribe(),
        )));
    }

    /// Waits (on the paused clock) until `done` holds; fails after `limit` of virtual time.
    async fn until(&self, what: &str, limit: Duration, done: impl Fn(&Rig) -> bool) {
        let start = tokio::time::Instant::now();
        while !done(self) {
            assert!(
                start.elapsed() < limit,
                "{what}: not within {limit:?}\nrequests: {:?}\nsnapshot: {:?}",
                self.fake.requests(),
                self.app.live.get()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn connected(&self) -> bool {
        self.app.live.get().obs.state == ObsState::Connected
    }

    async fn history(&self) -> Vec<(HistoryKind, String)> {
        let events = self.app.history(1000).await.unwrap().events;
        events
            .into_iter()
            .rev()
            .map(|e| {
                let kind = match e.kind.as_str() {
                    "obs_connected" => HistoryKind::ObsConnected,
                    "obs_lost" => HistoryKind::ObsLost,
                    "key_pushed" => HistoryKind::KeyPushed,
                    "schedule_started" => HistoryKind::ScheduleStarted,
                    "schedule_ended" => HistoryKind::ScheduleEnded,
                    _ => HistoryKind::TargetState,
                };
                (kind, e.message)
            })
            .collect()
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            t.await.unwrap();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_supervisor_reconnects_with_backoff_and_resyncs() {
    let fake = FakeObs::new();
    fake.add_target("a", "Alpha", Some("ka"));
    fake.set_up(false);
    let mut rig = Rig::new(fake);
    rig.supervise();
    rig.until("five attempts", Duration::from_secs(60), |r| {
        r.fake.connects().len() >= 5
    })
    .await;
    let at = rig.fake.connects();
    let gaps: Vec<u64> = at.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    assert_eq!(&gaps[..4], [1, 2, 4, 8], "exponential backoff from 1 s");
    assert_eq!(rig.app.live.get().obs.state, ObsState::Disconnected);

    // OBS comes up: the next attempt connects and resyncs the targets.
    rig.fake.set_up(true);
    rig.until("connected", Duration::from_secs(60), Rig::connected)
        .await;
    let snap = rig.app.live.get();
    assert_eq!(snap.targets.len(), 1);
    assert_eq!(
        (snap.targets[0].id.as_str(), snap.targets[0].has_key),
        ("a", true)
    );

    // OBS crashes and restarts at once: the link dies, the outage is recorded, the backoff starts
    // over at 1 s and the picture is read again.
    let before = rig.fake.connects().len();
    let lost_at = tokio::time::Instant::now();
    rig.fake.restart();
    rig.until("reconnected", Duration::from_secs(10), |r| {
        r.fake.connects().len() > before && r.connected()
    })
    .await;
    let again = rig.fake.connects()[before];
    assert!(
        again - lost_at <= Duration::from_millis(1_500),
        "reconnected after {:?}",
        again - lost_at
    );
    let history = rig.history().await;
    let kinds: Vec<HistoryKind> = history.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| matches!(k, HistoryKind::ObsConnected | HistoryKind::ObsLost))
            .collect::<Vec<_>>(),
        [
            &HistoryKind::ObsConnected,
            &HistoryKind::ObsLost,
            &HistoryKind::ObsConnected
        ]
    );
    assert!(
        history
            .iter()
            .any(|(k, m)| *k == HistoryKind::ObsConnected
                && m.starts_with("OBS connection back after")),
        "{history:?}"
    );
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn keys_go_to_obs_only_for_targets_the_companion_knows() {
    let fake = FakeObs::new();
    // The plugin lists three targets without keys: one the companion created, one whose key
    // happens to be in the keyring but that the companion never recorded (a peer could have read
    // its id somewhere), and one the companion knows nothing about.
    fake.add_target("known", "Known", None);
    fake.add_target("stranger", "Stranger", None);
    fake.add_target("other", "Other", None);
    let mut rig = Rig::new(fake);
    rig.knows("known", "k_known").await;
    rig.keys
        .set(
            &stream_key_account("stranger"),
            &Secret::new("k_stranger").unwrap(),
        )
        .unwrap();
    rig.supervise();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    rig.until("the key push", Duration::from_secs(10), |r| {
        r.fake.key_of("known").is_some()
    })
    .await;
    assert_eq!(rig.fake.key_of("known").as_deref(), Some("k_known"));
    assert_eq!(rig.fake.key_of("stranger"), None);
    let pushed: Vec<String> = rig
        .fake
        .requests_of::<SetStreamKey>()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(pushed, ["known"]);
    rig.stop().await;
}

fn set_in(app: &App, start_in: Duration, length: Duration) -> AddEntry {
    let start = app.now_ms() + start_in.as_millis() as i64;
    AddEntry {
        title: "Friday".into(),
        start: Time::Ms(start),
        end: Time::Ms(start + length.as_millis() as i64),
        targets: vec!["a".into()],
        start_main: true,
        scene: Some("Live".into()),
        record: None,
        reair: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_set_starts_and_ends_on_time() {
    let fake = FakeObs::new();
    fake.add_target("a", "Alpha", None);
    let mut rig = Rig::new(fake);
    rig.knows("a", "ka").await;
    rig.supervise();
    rig.schedule();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    let set = rig
        .app
        .add_set(set_in(
            &rig.app,
            Duration::from_secs(60),
            Duration::from_secs(120),
        ))
        .await
        .unwrap();
    let added = tokio::time::Instant::now();
    rig.until("the set's start", Duration::from_secs(90), |r| {
        r.fake.target_state("a") == Some(TargetState::Live) && r.fake.main_stream_live()
    })
    .await;
    let started = added.elapsed();
    assert!(
        (Duration::from_secs(59)..Duration::from_secs(62)).contains(&started),
        "started after {started:?}"
    );
    assert_eq!(rig.fake.scene_switches(), ["Live"]);
    assert_eq!(
        rig.fake.key_of("a").as_deref(),
        Some("ka"),
        "the key came first"
    );
    rig.until("the set's end", Duration::from_secs(200), |r| {
        r.fake.target_state("a") == Some(TargetState::Idle) && !r.fake.main_stream_live()
    })
    .await;
    let ended = added.elapsed();
    assert!(
        (Duration::from_secs(179)..Duration::from_secs(182)).contains(&ended),
        "ended after {ended:?}"
    );
    let id = set.id;
    let entry = rig
        .app
        .db
        .call(move |s| s.entry(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.state, EntryState::Done);
    assert_eq!(
        rig.fake.requests_of::<StartTarget>().len(),
        1,
        "started once"
    );
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn obs_restarting_in_the_middle_of_a_set_gets_its_outputs_back() {
    let fake = FakeObs::new();
    fake.add_target("a", "Alpha", None);
    let mut rig = Rig::new(fake);
    rig.knows("a", "ka").await;
    rig.supervise();
    rig.schedule();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    rig.app
        .add_set(set_in(
            &rig.app,
            Duration::from_secs(5),
            Duration::from_secs(600),
        ))
        .await
        .unwrap();
    rig.until("the set's start", Duration::from_secs(30), |r| {
        r.fake.target_state("a") == Some(TargetState::Live)
    })
    .await;
    // OBS crashes: its targets come back idle and the plugin lost the key it was given.
    rig.fake.set_up(false);
    rig.fake.restart();
    rig.until("the outage noticed", Duration::from_secs(10), |r| {
        !r.connected()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    rig.fake.set_up(true);
    rig.until("the set's outputs back", Duration::from_secs(60), |r| {
        r.connected()
            && r.fake.target_state("a") == Some(TargetState::Live)
            && r.fake.main_stream_live()
    })
    .await;
    assert_eq!(
        rig.fake.key_of("a").as_deref(),
        Some("ka"),
        "the key was pushed again"
    );
    assert_eq!(rig.fake.requests_of::<StartTarget>().len(), 2);
    assert_eq!(
        rig.fake.scene_switches(),
        ["Live"],
        "the scene is switched only once"
    );
    let sessions = rig.app.history(10).await.unwrap().sessions;
    assert!(
        sessions
            .iter()
            .any(|s| s.end_reason.as_deref() == Some("obs_lost")),
        "{sessions:?}"
    );
    rig.stop().await;
}

#[tokio::test]
async fn the_icecast_password_goes_to_the_keyring_and_never_comes_back() {
    use super::nowplaying::Sources;
    let rig = Rig::new(FakeObs::new());
    let parse = |v: serde_json::Value| serde_json::from_value::<Sources>(v).unwrap();
    // No password given and none stored: refused, nothing configured.
    let err = rig
        .app
        .set_sources(parse(
            serde_json::json!({"sources": [{"kind": "icecast", "port": 8000}]}),
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("source password"), "{err}");
    assert!(rig.app.sources().await.unwrap().sources.is_empty());
    // An empty password is a decoding error, not a password.
    assert!(
        serde_json::from_value::<Sources>(
            serde_json::json!({"sources": [{"kind": "icecast", "port": 8000, "password": " "}]})
        )
        .is_err()
    );
    // Given: stored in the keyring, never read back, never printed.
    let req = parse(serde_json::json!({"sources": [
        {"kind": "icecast", "port": 8000, "password": "booth-secret"}
    ]}));
    assert!(!format!("{req:?}").contains("booth-secret"));
    let back = rig.app.set_sources(req).await.unwrap();
    let shown = serde_json::to_string(&back).unwrap();
    assert!(
        !shown.contains("booth-secret") && !shown.contains("password"),
        "{shown}"
    );
    assert_eq!(
        rig.keys
            .get(crate::keys::ICECAST_PASSWORD)
            .unwrap()
            .unwrap()
            .expose(),
        "booth-secret"
    );
    let stored = serde_json::to_string(&rig.app.sources().await.unwrap()).unwrap();
    assert!(!stored.contains("booth-secret"), "{stored}");
    // Later changes need not repeat it; two different passwords for two receivers are refused.
    rig.app
        .set_sources(parse(
            serde_json::json!({"sources": [{"kind": "icecast", "port": 8001}]}),
        ))
        .await
        .unwrap();
    let err = rig
        .app
        .set_sources(parse(serde_json::json!({"sources": [
            {"kind": "icecast", "port": 8000, "password": "a-one"},
            {"kind": "icecast", "port": 8001, "password": "a-two"}
        ]})))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("one source password"), "{err}");
    assert_eq!(
        rig.keys
            .get(crate::keys::ICECAST_PASSWORD)
            .unwrap()
            .unwrap()
            .expose(),
        "booth-secret"
    );
}

#[tokio::test]
async fn the_sites_token_goes_to_the_keyring_only_with_an_address_and_never_comes_back() {
    use super::platform::Configure;
    let rig = Rig::new(FakeObs::new());
    let parse = |v: serde_json::Value| serde_json::from_value::<Configure>(v).unwrap();
    // An empty token is a decoding error; a token with no site to send it to is refused.
    assert!(serde_json::from_value::<Configure>(serde_json::json!({"token": ""})).is_err());
    let err = rig
        .app
        .configure_platform(parse(serde_json::json!({"token": "site-secret-1"})))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("baseUrl"), "{err}");
    assert!(rig.keys.get(super::pull::TOKEN).unwrap().is_none());
    // With the address in the same request: stored, never printed or returned.
    let req =
        parse(serde_json::json!({"baseUrl": "https://site.example", "token": "site-secret-1"}));
    assert!(!format!("{req:?}").contains("site-secret-1"));
    let back = rig.app.configure_platform(req).await.unwrap();
    assert!(back.token_in_keyring);
    let shown = serde_json::to_string(&back).unwrap();
    assert!(!shown.contains("site-secret-1"), "{shown}");
    assert_eq!(
        rig.keys.get(super::pull::TOKEN).unwrap().unwrap().expose(),
        "site-secret-1"
    );
    // Too long, even with a new address: refused before anything changes (the stored token and
    // the address stay).
    let long = "x".repeat(super::platform::MAX_TOKEN_LEN + 1);
    assert!(
        rig.app
            .configure_platform(parse(
                serde_json::json!({"baseUrl": "https://third.example", "token": long})
            ))
            .await
            .is_err()
    );
    assert_eq!(
        rig.keys.get(super::pull::TOKEN).unwrap().unwrap().expose(),
        "site-secret-1"
    );
    let kept = rig.app.platform().await.unwrap();
    assert_eq!(kept.base_url.as_deref(), Some("https://site.example"));
    // Turning the site off with a token in the same request: refused, nothing removed.
    assert!(
        rig.app
            .configure_platform(parse(
                serde_json::json!({"baseUrl": null, "token": "x-y-z"})
            ))
            .await
            .is_err()
    );
    assert!(rig.keys.get(super::pull::TOKEN).unwrap().is_some());
    // A new address and a new token together: the old token goes, the new one stays.
    let back = rig
        .app
        .configure_platform(parse(
            serde_json::json!({"baseUrl": "https://other.example", "token": "site-secret-2"}),
        ))
        .await
        .unwrap();
    assert!(back.token_in_keyring);
    assert_eq!(
        rig.keys.get(super::pull::TOKEN).unwrap().unwrap().expose(),
        "site-secret-2"
    );
}

/// Messages of the history's `schedule_problem` events.
async fn problems(app: &App) -> Vec<String> {
    app.history(1000)
        .await
        .unwrap()
        .events
        .into_iter()
        .filter(|e| e.kind == "schedule_problem")
        .map(|e| e.message)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_set_leaves_the_users_live_target_alone_and_retries_a_failed_start() {
    let fake = FakeObs::new();
    fake.add_target("a", "Alpha", None);
    fake.add_target("b", "Beta", None);
    let mut rig = Rig::new(fake);
    rig.knows("a", "ka").await;
    rig.knows("b", "kb").await;
    rig.supervise();
    rig.schedule();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    // The DJ is already live on Alpha before the set.
    rig.app.push_key(&rig.app.link().unwrap(), "a").await;
    rig.app.start_target("a").await.unwrap();
    // Beta's server refuses the first two connections.
    rig.fake.fail_starts("b", 2);
    let mut set = set_in(&rig.app, Duration::from_secs(30), Duration::from_secs(120));
    set.targets = vec!["a".into(), "b".into()];
    set.start_main = false;
    rig.app.add_set(set).await.unwrap();
    let added = tokio::time::Instant::now();
    rig.until("Beta live after retries", Duration::from_secs(90), |r| {
        r.fake.target_state("b") == Some(TargetState::Live)
    })
    .await;
    let live_after = added.elapsed();
    assert!(
        (Duration::from_secs(49)..Duration::from_secs(53)).contains(&live_after),
        "two retries {:?} apart: live after {live_after:?}",
        crate::scheduler::RETRY
    );
    let starts_of_b = rig
        .fake
        .requests_of::<StartTarget>()
        .into_iter()
        .filter(|r| r.id == "b")
        .count();
    assert_eq!(starts_of_b, 3);
    let told = problems(&rig.app).await;
    assert_eq!(told.len(), 1, "told once, not every retry: {told:?}");
    assert!(told[0].contains("Beta did not start"), "{told:?}");
    // The set ends: it stops Beta (it started it) and leaves Alpha (the DJ's) live.
    rig.until("the set's end", Duration::from_secs(200), |r| {
        r.fake.target_state("b") == Some(TargetState::Idle)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rig.fake.target_state("a"), Some(TargetState::Live));
    assert!(
        !rig.fake
            .requests_of::<deckcast_protocol::targets::StopTarget>()
            .iter()
            .any(|r| r.id == "a"),
        "Alpha was never stopped"
    );
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn overlapping_sets_hand_a_shared_target_over_and_the_last_one_stops_it() {
    let fake = FakeObs::new();
    fake.add_target("a", "Alpha", None);
    let mut rig = Rig::new(fake);
    rig.knows("a", "ka").await;
    rig.supervise();
    rig.schedule();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    let mut first = set_in(&rig.app, Duration::from_secs(30), Duration::from_secs(60));
    first.start_main = false;
    first.scene = None;
    let mut second = set_in(&rig.app, Duration::from_secs(60), Duration::from_secs(90));
    second.title = "Saturday".into();
    second.start_main = false;
    second.scene = None;
    rig.app.add_set(first).await.unwrap();
    rig.app.add_set(second).await.unwrap();
    let added = tokio::time::Instant::now();
    rig.until("Alpha live", Duration::from_secs(40), |r| {
        r.fake.target_state("a") == Some(TargetState::Live)
    })
    .await;
    // The first set ends at 90 s; the second still needs Alpha.
    tokio::time::sleep(Duration::from_secs(100).saturating_sub(added.elapsed())).await;
    assert_eq!(rig.fake.target_state("a"), Some(TargetState::Live));
    // The second set ends at 150 s and stops what it was handed.
    rig.until(
        "Alpha stopped by the second set",
        Duration::from_secs(100),
        |r| r.fake.target_state("a") == Some(TargetState::Idle),
    )
    .await;
    let stopped = added.elapsed();
    assert!(
        (Duration::from_secs(149)..Duration::from_secs(152)).contains(&stopped),
        "stopped after {stopped:?}"
    );
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn feeds_that_never_answer_never_delay_a_set() {
    // Three calendar servers that accept the connection and then say nothing (each fetch waits
    // for its 20 s timeout), due right away and again and again.
    let mut holds = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..3 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        urls.push(format!(
            "http://127.0.0.1:{}/cal.ics",
            listener.local_addr().unwrap().port()
        ));
        holds.push(std::thread::spawn(move || {
            let mut open = Vec::new();
            for s in listener.incoming().flatten().take(64) {
                open.push(s);
            }
        }));
    }
    let fake = FakeObs::new();
    fake.add_target("a", "Alpha", None);
    let mut rig = Rig::new(fake);
    rig.knows("a", "ka").await;
    for url in urls {
        rig.app
            .db
            .call(move |s| {
                s.add_feed(
                    &crate::schedule::NewFeed {
                        url,
                        targets: vec!["a".to_string()],
                        start_main: false,
                        scene: None,
                        refresh_s: 60,
                        default_length_min: 60,
                        record: true,
                    },
                    0,
                )
            })
            .await
            .unwrap();
    }
    rig.supervise();
    rig.schedule();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    let mut set = set_in(&rig.app, Duration::from_secs(60), Duration::from_secs(60));
    set.start_main = false;
    set.scene = None;
    rig.app.add_set(set).await.unwrap();
    let added = tokio::time::Instant::now();
    rig.until("the set's start", Duration::from_secs(90), |r| {
        r.fake.target_state("a") == Some(TargetState::Live)
    })
    .await;
    let started = added.elapsed();
    assert!(
        (Duration::from_secs(59)..Duration::from_secs(62)).contains(&started),
        "started after {started:?}"
    );
    rig.stop().await;
    drop(holds);
}

fn dead_air(raise: bool) -> crate::alerts::Transition {
    use crate::alerts::{AlertKind, Severity, Transition};
    let key = (AlertKind::DeadAir, None);
    if raise {
        Transition::Raise {
            key,
            severity: Severity::Critical,
            target_name: None,
            message: "the program audio has been below -50 dBFS for 8.0 s".into(),
            value: 8.0,
            threshold: -50.0,
        }
    } else {
        Transition::Clear {
            key,
            message: "the program audio is back".into(),
            worst: 12.0,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn dead_air_switches_to_the_brb_scene_and_back_unless_the_dj_moved_on() {
    let fake = FakeObs::new();
    let mut rig = Rig::new(fake);
    rig.supervise();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    let patch: crate::alerts::rules::RulesPatch =
        serde_json::from_value(serde_json::json!({"deadAirScene": "BRB"})).unwrap();
    rig.app.set_alert_rules(patch).await.unwrap();

    rig.app.apply_alert_transitions(vec![dead_air(true)]).await;
    assert_eq!(rig.fake.scene_switches(), ["BRB"]);
    let active = rig.app.live.get().alerts;
    assert_eq!(active.len(), 1);
    let stored = rig.app.alerts(0, i64::MAX, 10).await.unwrap().active;
    assert_eq!(
        stored[0].action.as_deref(),
        Some("switched from scene 'Scene' to 'BRB'")
    );
    rig.app.apply_alert_transitions(vec![dead_air(false)]).await;
    assert_eq!(rig.fake.scene_switches(), ["BRB", "Scene"]);
    assert!(rig.app.live.get().alerts.is_empty());
    let cleared = &rig.app.alerts(0, i64::MAX, 10).await.unwrap().history[0];
    assert_eq!(
        cleared.action.as_deref(),
        Some("switched from scene 'Scene' to 'BRB'; switched back to scene 'Scene'")
    );
    assert_eq!(cleared.worst, 12.0);

    // The DJ takes over during the next episode: Deckcast leaves their scene on air.
    rig.app.apply_alert_transitions(vec![dead_air(true)]).await;
    rig.app
        .obs()
        .unwrap()
        .set_program_scene("Backup deck")
        .await
        .unwrap();
    rig.app.apply_alert_transitions(vec![dead_air(false)]).await;
    assert_eq!(
        rig.fake.scene_switches(),
        ["BRB", "Scene", "BRB", "Backup deck"]
    );
    // Without a BRB scene nothing switches.
    let patch: crate::alerts::rules::RulesPatch =
        serde_json::from_value(serde_json::json!({"deadAirScene": ""})).unwrap();
    rig.app.set_alert_rules(patch).await.unwrap();
    rig.app.apply_alert_transitions(vec![dead_air(true)]).await;
    rig.app.apply_alert_transitions(vec![dead_air(false)]).await;
    assert_eq!(rig.fake.scene_switches().len(), 4);
    rig.stop().await;
}

#[tokio::test]
async fn a_session_report_has_every_target_its_alerts_and_the_tracks_played() {
    use crate::store::{EndReason, Sample};
    let rig = Rig::new(FakeObs::new());
    let t0 = 1_700_000_000_000i64;
    let meta = |id: &str, name: &str| TargetMeta {
        id: id.into(),
        name: name.into(),
        platform: "twitch".into(),
        server: "rtmp://x/app".into(),
    };
    let (a, b) = (meta("a", "Twitch"), meta("b", "Kick"));
    let session = rig
        .app
        .db
        .call(move |s| {
            s.upsert_target(&a, t0)?;
            s.upsert_target(&b, t0)?;
            let id = s.open_session(t0, &["a".into(), "b".into()])?;
            for i in 0..100 {
                let ts_s = t0 / 1000 + i;
                s.insert_samples(&[
                    Sample {
                        target_id: "a".into(),
                        ts_s,
                        state: "live".into(),
                        kbps: 3000.0,
                        fps: 30.0,
                        dropped_frames: i / 10,
                        reconnects: 0,
                    },
                    Sample {
                        target_id: "b".into(),
                        ts_s,
                        state: if i < 50 { "live" } else { "reconnecting" }.into(),
                        kbps: if i < 50 { 1000.0 } else { 0.0 },
                        fps: 30.0,
                        dropped_frames: 0,
                        reconnects: i64::from(i >= 50),
                    },
                ])?;
            }
            s.record_event(
                t0 + 1000,
                HistoryKind::NowPlaying,
                None,
                "now playing: A – One",
            )?;
            s.record_event(
                t0 + 60_000,
                HistoryKind::NowPlaying,
                None,
                "now playing: B – Two",
            )?;
            // Outside the session: not in its report.
            s.record_event(
                t0 + 500_000,
                HistoryKind::NowPlaying,
                None,
                "now playing: C – Later",
            )?;
            s.close_session(id, t0 + 100_000, EndReason::Stopped)?;
            Ok(id)
        })
        .await
        .unwrap();
    rig.app
        .apply_alert_transitions(vec![dead_air(true), dead_air(false)])
        .await;
    let r = rig.app.session_report(Some(session)).await.unwrap();
    assert_eq!(r.duration_sec, 100.0);
    let a = r.targets.iter().find(|t| t.stats.target_id == "a").unwrap();
    assert_eq!((a.name.as_str(), a.stats.live_sec), ("Twitch", 100));
    assert_eq!(a.stats.dropped_frames, 9);
    assert!((a.uptime_share - 1.0).abs() < 1e-9);
    let b = r.targets.iter().find(|t| t.stats.target_id == "b").unwrap();
    assert_eq!((b.stats.live_sec, b.stats.reconnects), (50, 1));
    assert_eq!((b.stats.avg_kbps, b.stats.min_kbps), (1000.0, 1000.0));
    assert!((b.uptime_share - 0.5).abs() < 1e-9);
    let tracks: Vec<&str> = r.tracks.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(tracks, ["A – One", "B – Two"]);
    // The alert was raised now, long after this old session: not in its report.
    assert!(r.alerts.is_empty());
    assert!(matches!(
        rig.app.session_report(Some(999)).await,
        Err(super::AppError::NotFound(_))
    ));
    assert_eq!(
        rig.app.session_report(None).await.unwrap().session.id,
        session
    );
    // The chart of the same stretch: 10 s buckets.
    let chart = rig.app.chart(t0, t0 + 100_000, 10).await.unwrap();
    assert_eq!(chart.bucket_sec, 10);
    let a_points: Vec<_> = chart.points.iter().filter(|p| p.target_id == "a").collect();
    assert_eq!(a_points.len(), 10);
    assert_eq!(a_points.iter().map(|p| p.dropped_frames).sum::<i64>(), 9);
    assert_eq!(chart.names["b"], "Kick");
    assert_eq!(chart.tracks.len(), 2);
    assert!(rig.app.chart(t0, t0 - 1, 10).await.is_err());
}

fn track(artist: &str, title: &str) -> deckcast_protocol::nowplaying::Track {
    deckcast_protocol::nowplaying::Track {
        artist: artist.into(),
        title: title.into(),
        album: None,
        bpm: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_recording_takes_each_track_as_a_chapter_and_into_the_library() {
    use super::recording::{Chapters, Ending, StartedBy};
    let fake = FakeObs::new();
    fake.add_target("a", "Alpha", None);
    let mut rig = Rig::new(Arc::clone(&fake));
    rig.knows("a", "ka").await;
    rig.supervise();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    let started = rig.app.start_recording(StartedBy::Api, None).await.unwrap();
    assert!(started.started);
    assert_eq!(started.recording.started_by, StartedBy::Api);
    assert_eq!(started.recording.chapters, Chapters::Pending);
    // Never started twice: the running one is followed.
    let again = rig.app.start_recording(StartedBy::Api, None).await.unwrap();
    assert!(!again.started);
    assert_eq!(again.recording.id, started.recording.id);
    assert_eq!(fake.recordings_started(), 1);
    // A target goes live 10 s in; tracks change at 0, 40 and 80 s (one 5 s preview at 60 s).
    rig.app.set_now_playing(track("A", "One")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    rig.app.start_target("a").await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    rig.app.set_now_playing(track("B", "Two")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    rig.app
        .set_now_playing(track("X", "Preview"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    rig.app.set_now_playing(track("B", "Two")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(15)).await;
    rig.app.set_now_playing(track("C", "Three")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(40)).await;
    let chapters = fake.chapters();
    let names: Vec<&str> = chapters.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(
        names,
        ["A – One", "B – Two", "X – Preview", "B – Two", "C – Three"]
    );
    assert!((chapters[1].0 - 40_000).abs() < 100, "{chapters:?}");
    let stopped = rig.app.stop_recording().await.unwrap();
    assert_eq!(stopped.ending, Some(Ending::Clean));
    assert_eq!(stopped.file.as_deref(), Some("/rec/set-1.mp4"));
    assert_eq!(stopped.format.as_deref(), Some("mp4"));
    assert_eq!(stopped.chapters, Chapters::InFile);
    assert!((stopped.duration_ms - 120_000).abs() < 1_000, "{stopped:?}");
    let got: Vec<(i64, &str)> = stopped
        .tracks
        .iter()
        .map(|e| ((e.offset_ms + 500) / 1000, e.title.as_str()))
        .collect();
    assert_eq!(got, [(0, "One"), (40, "Two"), (80, "Three")]);
    // The target's own tracklist is 10 s earlier; the one on air when it started is at 00:00.
    assert_eq!(stopped.targets.len(), 1, "{stopped:?}");
    let list = rig
        .app
        .tracklist(stopped.id, Some("a"), Some(20))
        .await
        .unwrap();
    assert_eq!(list.min_track_seconds, 20);
    let titles: Vec<&str> = list.entries.iter().map(|e| e.title.as_str()).collect();
    assert_eq!(titles, ["One", "Two", "Three"], "{list:?}");
    // (The target's start is read every 2 s: within 2 s of when it went live.)
    let two = list.entries[1].offset_ms;
    assert_eq!(list.entries[0].offset_ms, 0);
    assert!((28_000..=30_100).contains(&two), "{list:?}");
    assert!(
        (list.entries[2].offset_ms - two - 40_000).abs() < 100,
        "{list:?}"
    );
    let err = rig
        .app
        .tracklist(stopped.id, Some("nope"), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("live then: a"), "{err}");
    // Stopping again is a clear conflict.
    let err = rig.app.stop_recording().await.unwrap_err();
    assert!(err.to_string().contains("not recording"), "{err}");
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_restarted_companion_carries_on_with_the_running_recording() {
    use super::recording::StartedBy;
    let fake = FakeObs::new();
    let clock = Clock::tokio();
    let mut first = Rig::on(
        Arc::clone(&fake),
        Db::new(Store::open_in_memory().unwrap()),
        clock.clone(),
    );
    first.supervise();
    first
        .until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    let id = first
        .app
        .start_recording(StartedBy::Api, None)
        .await
        .unwrap()
        .recording
        .id;
    first.app.set_now_playing(track("A", "One")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(40)).await;
    // The companion dies (nothing closes the entry); OBS records on.
    let db = first.app.db.clone();
    first.stop().await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    let mut second = Rig::on(Arc::clone(&fake), db, clock);
    second.supervise();
    second
        .until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    let now = second.app.recording_now().await.unwrap();
    assert!(now.active);
    let rec = now.recording.unwrap();
    assert_eq!(rec.id, id, "the same entry, not a new one");
    assert_eq!(rec.started_by, StartedBy::Api);
    assert_eq!(rec.tracks.len(), 1);
    second.app.set_now_playing(track("B", "Two")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(40)).await;
    let done = second.app.stop_recording().await.unwrap();
    assert_eq!(done.id, id);
    let got: Vec<(i64, &str)> = done
        .tracks
        .iter()
        .map(|e| ((e.offset_ms + 500) / 1000, e.title.as_str()))
        .collect();
    assert_eq!(got, [(0, "One"), (60, "Two")]);
    assert_eq!(fake.recordings_started(), 1);
    second.stop().await;
}

#[tokio::test(start_paused = true)]
async fn recordings_obs_started_or_without_chapters_or_lost_are_followed_honestly() {
    use super::recording::{Chapters, Ending, StartedBy};
    let fake = FakeObs::new();
    fake.set_chapters_supported(false);
    let mut rig = Rig::new(Arc::clone(&fake));
    rig.supervise();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    // Started in OBS itself: adopted.
    assert!(rig.app.obs().unwrap().start_recording().await.unwrap());
    rig.until("adopted", Duration::from_secs(10), |_| true)
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = rig.app.recording_now().await.unwrap();
    let rec = now.recording.expect("adopted");
    assert_eq!(rec.started_by, StartedBy::Obs);
    // A format that takes no chapters: the tracklist still has the tracks.
    rig.app.set_now_playing(track("A", "One")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(40)).await;
    rig.app.set_now_playing(track("B", "Two")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(40)).await;
    let rec = rig.app.recording(rec.id).await.unwrap();
    assert_eq!(rec.chapters, Chapters::Unsupported);
    assert_eq!(rec.tracks.len(), 2);
    assert!(fake.chapters().is_empty());
    let history = rig.app.history(100).await.unwrap().events;
    assert!(
        history
            .iter()
            .any(|e| e.message.contains("chapters need OBS's Hybrid MP4 format")),
        "{history:?}"
    );
    // OBS crashes mid-recording: when it is back, the entry is closed as unobserved.
    rig.fake.set_up(false);
    rig.fake.restart();
    tokio::time::sleep(Duration::from_secs(3)).await;
    rig.fake.set_up(true);
    rig.until("reconnected", Duration::from_secs(60), Rig::connected)
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rec = rig.app.recording(rec.id).await.unwrap();
    assert_eq!(rec.ending, Some(Ending::Unobserved));
    assert!(rig.app.recording_now().await.unwrap().recording.is_none());
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_recording_started_through_deckcast_in_obs_is_deckcasts_own() {
    use super::recording::StartedBy;
    use deckcast_protocol::recording::{RecordingControl, RecordingOrigin, StartRecording};
    let fake = FakeObs::new();
    let mut rig = Rig::new(Arc::clone(&fake));
    rig.supervise();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    // The dock's button (the plugin marks the recording it started).
    let obs = rig.app.obs().unwrap();
    let r = obs
        .call(&StartRecording {
            from: Some(RecordingOrigin::Dock),
        })
        .await
        .unwrap();
    assert_eq!(r, RecordingControl { changed: true });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rec = rig.app.recording_now().await.unwrap().recording.unwrap();
    assert_eq!(rec.started_by, StartedBy::Dock);
    // Never started twice: the plugin says so, and the companion keeps the same entry.
    let again = obs.call(&StartRecording { from: None }).await.unwrap();
    assert!(!again.changed);
    assert_eq!(fake.recordings_started(), 1);
    let stopped = rig.app.stop_recording().await.unwrap();
    assert_eq!(stopped.id, rec.id);
    // Its file is Deckcast's: deleting the entry may delete it (an OBS-started one's never).
    // (The fake's file does not exist: the entry goes, and the note says why no file did.)
    let gone = rig.app.delete_recording(rec.id, true).await.unwrap();
    assert!(!gone.file_deleted);
    assert!(gone.note.unwrap().contains("cannot be read here"));
    // A vendor request without `from`, then OBS's own button: each says who started it.
    obs.call(&StartRecording { from: None }).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rec = rig.app.recording_now().await.unwrap().recording.unwrap();
    assert_eq!(rec.started_by, StartedBy::Vendor);
    rig.app.stop_recording().await.unwrap();
    assert!(obs.start_recording().await.unwrap());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rec = rig.app.recording_now().await.unwrap().recording.unwrap();
    assert_eq!(rec.started_by, StartedBy::Obs);
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_automatic_recording_follows_the_streams_and_leaves_other_recordings_alone() {
    use super::recording::{Ending, RecordingSettings, StartedBy};
    let fake = FakeObs::new();
    fake.add_target("a", "Alpha", None);
    let mut rig = Rig::new(Arc::clone(&fake));
    rig.knows("a", "ka").await;
    rig.supervise();
    rig.schedule();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    // Off by default: a live target records nothing.
    rig.app.start_target("a").await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(!fake.recording());
    rig.app.stop_target("a").await.unwrap();
    rig.app
        .set_recording_settings(RecordingSettings {
            auto_record: true,
            ..RecordingSettings::default()
        })
        .await
        .unwrap();
    rig.app.start_target("a").await.unwrap();
    rig.until("recording", Duration::from_secs(20), |r| r.fake.recording())
        .await;
    rig.app.stop_target("a").await.unwrap();
    // A stream restarted within 10 s does not split the file.
    tokio::time::sleep(Duration::from_secs(4)).await;
    rig.app.start_target("a").await.unwrap();
    tokio::time::sleep(Duration::from_secs(14)).await;
    assert!(fake.recording());
    assert_eq!(fake.recordings_started(), 1);
    // The DJ stops it: not started again while the target stays live.
    rig.app.stop_recording().await.unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(!fake.recording());
    assert_eq!(fake.recordings_started(), 1);
    // Offline and live again: a new recording, stopped 10 s after the stream ends.
    rig.app.stop_target("a").await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    rig.app.start_target("a").await.unwrap();
    rig.until("recording again", Duration::from_secs(10), |r| {
        r.fake.recording()
    })
    .await;
    rig.app.stop_target("a").await.unwrap();
    rig.until("stopped", Duration::from_secs(20), |r| !r.fake.recording())
        .await;
    let list = rig.app.recordings(10).await.unwrap().recordings;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0].started_by, StartedBy::Live);
    assert_eq!(list[0].ending, Some(Ending::Clean));
    assert_eq!(list[0].targets[0].id, "a");
    // One the DJ started is left running when the streams end.
    rig.app.start_recording(StartedBy::Api, None).await.unwrap();
    rig.app.start_target("a").await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    rig.app.stop_target("a").await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(fake.recording());
    assert_eq!(fake.recordings_started(), 3);
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_set_records_itself_and_announces_the_file_with_its_hash() {
    use super::recording::{Ending, RecordingSettings, StartedBy};
    // OBS's files as this computer sees them (OBS "in a chroot" at `root`).
    let root = std::env::temp_dir().join(format!("deckcast-setrec-{}", std::process::id()));
    std::fs::create_dir_all(root.join("rec")).unwrap();
    std::fs::write(root.join("rec/set-1.mp4"), b"abc").unwrap();
    let fake = FakeObs::new();
    fake.add_target("a", "Alpha", None);
    let mut rig = Rig::new(Arc::clone(&fake));
    rig.knows("a", "ka").await;
    rig.app
        .set_recording_settings(RecordingSettings {
            obs_root: Some(root.to_str().unwrap().to_owned()),
            ..RecordingSettings::default()
        })
        .await
        .unwrap();
    rig.app
        .db
        .call(|s| {
            s.set_setting(
                crate::webhooks::WEBHOOK_URL,
                Some("http://127.0.0.1:9/hook"),
            )
        })
        .await
        .unwrap();
    rig.supervise();
    rig.schedule();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    let set = rig
        .app
        .add_set(set_in(
            &rig.app,
            Duration::from_secs(5),
            Duration::from_secs(60),
        ))
        .await
        .unwrap();
    assert!(set.record, "sets record by default");
    rig.until("recording", Duration::from_secs(10), |r| r.fake.recording())
        .await;
    let now = rig.app.recording_now().await.unwrap().recording.unwrap();
    assert_eq!(now.set_id, Some(set.id));
    assert_eq!(now.started_by, StartedBy::Schedule);
    rig.until("the set's end", Duration::from_secs(80), |r| {
        !r.fake.recording() && r.fake.target_state("a") == Some(TargetState::Idle)
    })
    .await;
    assert_eq!(fake.recordings_started(), 1, "started once");
    // The announcement: the hash read from the file, kept in the library and in the webhook.
    let id = now.id;
    let mut rec = rig.app.recording(id).await.unwrap();
    for _ in 0..100 {
        if rec.sha256.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        rec = rig.app.recording(id).await.unwrap();
    }
    assert_eq!(rec.ending, Some(Ending::Clean));
    let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(rec.sha256.as_deref(), Some(abc));
    let events = rig
        .app
        .db
        .call(|s| s.due_events(i64::MAX, 100))
        .await
        .unwrap();
    let (_, _, _, body, _) = events
        .iter()
        .find(|e| e.2 == "recording.finished")
        .expect("a recording.finished event");
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["data"]["sha256"], abc);
    assert_eq!(v["data"]["fileName"], "set-1.mp4");
    assert_eq!(v["data"]["recording"]["setId"], set.id);
    assert!(v["data"]["fileError"].is_null());
    std::fs::remove_dir_all(&root).unwrap();
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_set_never_starts_a_second_recording_nor_stops_one_it_did_not_start() {
    use super::recording::StartedBy;
    let fake = FakeObs::new();
    fake.add_target("a", "Alpha", None);
    let mut rig = Rig::new(Arc::clone(&fake));
    rig.knows("a", "ka").await;
    rig.supervise();
    rig.schedule();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    // Not recorded when asked not to.
    let mut quiet = set_in(&rig.app, Duration::from_secs(2), Duration::from_secs(10));
    quiet.record = Some(false);
    let quiet = rig.app.add_set(quiet).await.unwrap();
    assert!(!quiet.record);
    rig.until("live", Duration::from_secs(10), |r| {
        r.fake.target_state("a") == Some(TargetState::Live)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!fake.recording());
    rig.until("ended", Duration::from_secs(20), |r| {
        r.fake.target_state("a") == Some(TargetState::Idle)
    })
    .await;
    // The DJ records already: the set takes that recording and leaves it running.
    let mine = rig.app.start_recording(StartedBy::Api, None).await.unwrap();
    let set = rig
        .app
        .add_set(set_in(
            &rig.app,
            Duration::from_secs(2),
            Duration::from_secs(10),
        ))
        .await
        .unwrap();
    rig.until("live", Duration::from_secs(10), |r| {
        r.fake.target_state("a") == Some(TargetState::Live)
    })
    .await;
    rig.until("ended", Duration::from_secs(20), |r| {
        r.fake.target_state("a") == Some(TargetState::Idle)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(fake.recording(), "the DJ's recording runs on");
    assert_eq!(fake.recordings_started(), 1);
    let rec = rig.app.recording(mine.recording.id).await.unwrap();
    assert_eq!(rec.set_id, Some(set.id), "it belongs to the set");
    assert_eq!(rec.started_by, StartedBy::Api);
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn deleting_never_touches_a_file_deckcast_did_not_start_nor_a_running_recording() {
    use super::recording::{RecordingSettings, StartedBy};
    let root = std::env::temp_dir().join(format!("deckcast-recrm-{}", std::process::id()));
    std::fs::create_dir_all(root.join("rec")).unwrap();
    let fake = FakeObs::new();
    let mut rig = Rig::new(Arc::clone(&fake));
    rig.app
        .set_recording_settings(RecordingSettings {
            obs_root: Some(root.to_str().unwrap().to_owned()),
            ..RecordingSettings::default()
        })
        .await
        .unwrap();
    rig.supervise();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    // Started in OBS (file /rec/set-1.mp4), then one by Deckcast (/rec/set-2.mp4).
    assert!(rig.app.obs().unwrap().start_recording().await.unwrap());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let theirs = rig.app.recording_now().await.unwrap().recording.unwrap();
    assert_eq!(theirs.started_by, StartedBy::Obs);
    let e = rig
        .app
        .delete_recording(theirs.id, false)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("still running"), "{e}");
    rig.app.stop_recording().await.unwrap();
    let mine = rig
        .app
        .start_recording(StartedBy::Api, None)
        .await
        .unwrap()
        .recording;
    rig.app.stop_recording().await.unwrap();
    for f in ["set-1.mp4", "set-2.mp4"] {
        std::fs::write(root.join("rec").join(f), b"x").unwrap();
    }
    assert_eq!(
        rig.app.recording_file(mine.id).await.unwrap(),
        root.join("rec/set-2.mp4")
    );
    // OBS's own: its file is never deleted; the entry alone can go.
    let e = rig.app.delete_recording(theirs.id, true).await.unwrap_err();
    assert!(e.to_string().contains("started in OBS"), "{e}");
    let d = rig.app.delete_recording(theirs.id, false).await.unwrap();
    assert!(!d.file_deleted);
    assert!(root.join("rec/set-1.mp4").exists());
    assert!(rig.app.recording(theirs.id).await.is_err());
    // Deckcast's: the file goes with it.
    let d = rig.app.delete_recording(mine.id, true).await.unwrap();
    assert!(d.file_deleted);
    assert!(!root.join("rec/set-2.mp4").exists());
    std::fs::remove_dir_all(&root).unwrap();
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_recording_handed_to_the_next_set_stops_with_it_and_one_stopped_on_purpose_stays_stopped()
{
    let fake = FakeObs::new();
    fake.add_target("a", "Alpha", None);
    let mut rig = Rig::new(Arc::clone(&fake));
    rig.knows("a", "ka").await;
    rig.supervise();
    rig.schedule();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    // Two overlapping sets that record: one recording, handed from the first to the second.
    let first = rig
        .app
        .add_set(set_in(
            &rig.app,
            Duration::from_secs(2),
            Duration::from_secs(20),
        ))
        .await
        .unwrap();
    let second = rig
        .app
        .add_set(set_in(
            &rig.app,
            Duration::from_secs(10),
            Duration::from_secs(30),
        ))
        .await
        .unwrap();
    rig.until("recording", Duration::from_secs(10), |r| r.fake.recording())
        .await;
    let id = rig.app.recording_now().await.unwrap().recording.unwrap().id;
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert!(fake.recording(), "the second set keeps it");
    assert_eq!(rig.app.recording(id).await.unwrap().set_id, Some(second.id));
    rig.until("the second set's end", Duration::from_secs(30), |r| {
        !r.fake.recording()
    })
    .await;
    assert_eq!(fake.recordings_started(), 1);
    assert_ne!(first.id, second.id);

    // A set whose recording the DJ stopped: not started again, not even after OBS comes back.
    let third = rig
        .app
        .add_set(set_in(
            &rig.app,
            Duration::from_secs(2),
            Duration::from_secs(120),
        ))
        .await
        .unwrap();
    rig.until("recording", Duration::from_secs(10), |r| r.fake.recording())
        .await;
    rig.app.stop_recording().await.unwrap();
    rig.fake.set_up(false);
    rig.fake.restart();
    tokio::time::sleep(Duration::from_secs(3)).await;
    rig.fake.set_up(true);
    rig.until("reconnected", Duration::from_secs(60), Rig::connected)
        .await;
    rig.until("the set's target back", Duration::from_secs(30), |r| {
        r.fake.target_state("a") == Some(TargetState::Live)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert!(!fake.recording(), "set {} does not record again", third.id);
    assert_eq!(fake.recordings_started(), 2);
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_disk_guard_stops_the_recording_marks_its_entry_and_only_that_one() {
    use super::recording::{Ending, StartedBy};
    use deckcast_protocol::recording::RecordingStatus;
    let fake = FakeObs::new();
    let mut rig = Rig::new(Arc::clone(&fake));
    rig.supervise();
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    let near_full = |bytes: u64| RecordingStatus {
        active: true,
        directory: Some("/rec".into()),
        file: None,
        bytes,
        free_bytes: Some(crate::alerts::engine::OBS_STOPS_RECORDING_BELOW + 1_000_000),
        started_by: None,
    };
    // Not adopted yet: nothing is marked, and it is asked again.
    assert!(rig.app.obs().unwrap().start_recording().await.unwrap());
    rig.app.guard_recording_disk(&near_full(0)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let first = rig.app.recording_now().await.unwrap().recording.unwrap();
    rig.app.guard_recording_disk(&near_full(10)).await;
    rig.until("stopped", Duration::from_secs(10), |r| !r.fake.recording())
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let first = rig.app.recording(first.id).await.unwrap();
    assert_eq!(first.ending, Some(Ending::DiskSpace));
    let history = rig.app.history(50).await.unwrap().events;
    assert!(
        history
            .iter()
            .any(|e| e.message.contains("the streams go on")),
        "{history:?}"
    );
    // The next recording ends as it ends.
    let next = rig
        .app
        .start_recording(StartedBy::Api, None)
        .await
        .unwrap()
        .recording;
    let done = rig.app.stop_recording().await.unwrap();
    assert_eq!((done.id, done.ending), (next.id, Some(Ending::Clean)));
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_re_air_follows_its_tracklist_and_ends_its_set_at_the_files_end() {
    use super::reair::{REAIR_INPUT, ReAirState, StartReAir};
    use super::recording::{RecordingSettings, StartedBy};
    use crate::schedule::ReAirPlan;
    use deckcast_protocol::nowplaying::SetNowPlaying;
    let root = std::env::temp_dir().join(format!("deckcast-reair-{}", std::process::id()));
    std::fs::create_dir_all(root.join("rec")).unwrap();
    std::fs::write(root.join("rec/set-1.mp4"), b"a set").unwrap();
    let fake = FakeObs::new();
    fake.add_target("a", "Alpha", None);
    fake.set_media_ms(20_000);
    let mut rig = Rig::new(Arc::clone(&fake));
    rig.knows("a", "ka").await;
    rig.app
        .set_recording_settings(RecordingSettings {
            obs_root: Some(root.to_str().unwrap().to_owned()),
            min_track_seconds: 1,
            ..RecordingSettings::default()
        })
        .await
        .unwrap();
    rig.supervise();
    rig.schedule();
    rig.tasks.push(tokio::spawn(crate::player::run(
        Arc::clone(&rig.app),
        rig.stop.subscribe(),
    )));
    rig.until("connected", Duration::from_secs(10), Rig::connected)
        .await;
    // A 20 s set: One at 1 s, Two at 8 s, Three at 14 s.
    let rec = rig.app.start_recording(StartedBy::Api, None).await.unwrap();
    let id = rec.recording.id;
    for (wait, title) in [(1, "One"), (7, "Two"), (6, "Three")] {
        tokio::time::sleep(Duration::from_secs(wait)).await;
        rig.app.set_now_playing(track("A", title)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    rig.app.stop_recording().await.unwrap();
    rig.until("the recording closed", Duration::from_secs(10), |_| {
        fake.requests_of::<SetNowPlaying>().len() == 3
    })
    .await;

    // Refused: a re-air of a recording that does not exist, into a scene OBS lacks, or a
    // second one at once; nothing changes in OBS.
    let missing = StartReAir {
        recording_id: 99,
        scene: None,
        targets: Vec::new(),
        looped: false,
    };
    assert!(matches!(
        rig.app.start_reair(missing, None).await,
        Err(super::AppError::NotFound(_))
    ));
    let err = rig
        .app
        .start_reair(
            StartReAir {
                recording_id: id,
                scene: Some("Nope".into()),
                targets: Vec::new(),
                looped: false,
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no scene named 'Nope'"), "{err}");
    assert!(fake.media().is_empty());

    // Scheduled: the set starts its target and the re-air in its scene.
    let start = rig.app.now_ms() + 2_000;
    let set = rig
        .app
        .add_set(AddEntry {
            title: "Rerun".into(),
            start: Time::Ms(start),
            end: Time::Ms(start + 600_000),
            targets: vec!["a".into()],
            start_main: false,
            scene: Some("Re-air".into()),
            record: None,
            reair: Some(ReAirPlan {
                recording_id: id,
                looped: false,
            }),
        })
        .await
        .unwrap();
    assert!(!set.record, "a re-air is not recorded unless asked");
    rig.until("the re-air's start", Duration::from_secs(10), |r| {
        r.app.reair().state == ReAirState::Playing
    })
    .await;
    let started = tokio::time::Instant::now();
    let media = fake.media();
    let m = &media[REAIR_INPUT];
    assert_eq!(
        (m.scene.as_str(), m.file.as_str(), m.looping),
        ("Re-air", "/rec/set-1.mp4", false)
    );
    assert_eq!(
        fake.scene_switches().last().map(String::as_str),
        Some("Re-air")
    );
    assert_eq!(rig.app.reair().set_id, Some(set.id));
    let busy = rig
        .app
        .start_reair(
            StartReAir {
                recording_id: id,
                scene: None,
                targets: Vec::new(),
                looped: false,
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(busy.to_string().contains("is re-airing"), "{busy}");
    // Each track goes on air as the source's position reaches it (a tick, 200 ms, late at
    // most).
    let mut seen: Vec<(String, f64)> = Vec::new();
    while seen.len() < 3 {
        assert!(started.elapsed() < Duration::from_secs(30), "{seen:?}");
        let titles: Vec<String> = fake
            .requests_of::<SetNowPlaying>()
            .into_iter()
            .skip(3)
            .map(|s| s.track.title)
            .collect();
        if titles.len() > seen.len() {
            seen.push((titles[seen.len()].clone(), started.elapsed().as_secs_f64()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for ((title, at), (want, want_at)) in
        seen.iter()
            .zip([("One", 1.0), ("Two", 8.0), ("Three", 14.0)])
    {
        assert_eq!(title, want, "{seen:?}");
        assert!(*at >= want_at - 0.1 && *at < want_at + 0.5, "{seen:?}");
    }
    assert_eq!(rig.app.reair().track.unwrap().title, "Three");
    // The set ends when the file has played to its end: target stopped, source removed.
    rig.until("the set's end", Duration::from_secs(30), |r| {
        r.fake.target_state("a") == Some(TargetState::Idle) && r.fake.media().is_empty()
    })
    .await;
    let ended = started.elapsed();
    assert!(
        (Duration::from_secs(19)..Duration::from_secs(22)).contains(&ended),
        "ended after {ended:?}"
    );
    let now = rig.app.reair();
    assert_eq!(now.state, ReAirState::Idle);
    assert_eq!(now.ended.as_deref(), Some("it played to the end"));
    let sid = set.id;
    let entry = rig
        .app
        .db
        .call(move |s| s.entry(sid))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.state, EntryState::Done);

    // A second re-air set, stopped by the user: refused while OBS is away (nothing changes),
    // then the stop ends the set too, once: its target stops, the re-air ends "stopped".
    let start = rig.app.now_ms() + 2_000;
    let again = rig
        .app
        .add_set(AddEntry {
            title: "Rerun two".into(),
            start: Time::Ms(start),
            end: Time::Ms(start + 600_000),
            targets: vec!["a".into()],
            start_main: false,
            scene: Some("Re-air".into()),
            record: None,
            reair: Some(ReAirPlan {
                recording_id: id,
                looped: true,
            }),
        })
        .await
        .unwrap();
    rig.until("the second re-air", Duration::from_secs(10), |r| {
        r.app.reair().set_id == Some(again.id)
            && r.fake.target_state("a") == Some(TargetState::Live)
    })
    .await;
    fake.set_up(false);
    rig.until("OBS away", Duration::from_secs(10), |r| !r.connected())
        .await;
    assert!(matches!(
        rig.app.stop_reair().await,
        Err(super::AppError::ObsDown)
    ));
    assert_eq!(rig.app.reair().state, ReAirState::Playing);
    fake.set_up(true);
    rig.until("connected again", Duration::from_secs(30), Rig::connected)
        .await;
    let stopped = rig.app.stop_reair().await.unwrap();
    assert_eq!(stopped.state, ReAirState::Idle);
    assert_eq!(stopped.ended.as_deref(), Some("stopped"));
    assert_eq!(fake.target_state("a"), Some(TargetState::Idle));
    assert!(fake.media().is_empty());
    let sid = again.id;
    let entry = rig
        .app
        .db
        .call(move |s| s.entry(sid))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.state, EntryState::Done);
    // The scheduler's next ticks find the set ended: it is not finished a second time.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ends = rig
        .history()
        .await
        .into_iter()
        .filter(|(k, m)| *k == HistoryKind::ScheduleEnded && m.contains("Rerun two"))
        .count();
    assert_eq!(ends, 1);
    std::fs::remove_dir_all(&root).unwrap();
    rig.stop().await;
}
