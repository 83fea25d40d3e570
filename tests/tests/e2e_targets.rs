//! End-to-end: multistream targets in a real OBS, streaming to a real nginx-rtmp, checked with
//! ffprobe. Tier "e2e" (ignored by default).
use std::time::Duration;

use deckcast_tests::obs::{Obs, ObsOptions};
use deckcast_tests::rtmp::{self, RtmpServer};
use deckcast_tests::vendor;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn three_targets_go_live_with_shared_and_dedicated_encoders() {
    let rtmp = RtmpServer::start().unwrap();
    let obs = Obs::start(ObsOptions::default()).unwrap();
    let client = obs.client().await.unwrap();

    let mut ids = Vec::new();
    for (name, key, encoder) in [
        ("Shared A", "key-a", json!({"mode": "shared"})),
        ("Shared B", "key-b", json!({"mode": "shared"})),
        (
            "Small",
            "key-c",
            json!({"mode": "dedicated", "config": {"width": 320, "height": 180, "bitrateKbps": 500, "preset": "ultrafast"}}),
        ),
    ] {
        let v = vendor::ok(
            &client,
            "CreateTarget",
            json!({"name": name, "server": rtmp.url(), "key": key, "encoder": encoder}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", obs.failure_report()));
        assert_eq!(v["target"]["hasKey"], true, "{v}");
        assert!(
            v["target"].get("key").is_none(),
            "keys never come back: {v}"
        );
        ids.push(v["target"]["id"].as_str().unwrap().to_owned());
    }
    let all = vendor::ok(&client, "StartAllTargets", json!({}))
        .await
        .unwrap();
    assert_eq!(all["targets"].as_array().unwrap().len(), 3, "{all}");
    for id in &ids {
        vendor::wait_state(&client, id, "live", Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e:#}\n{}", obs.failure_report()));
    }
    for (key, size) in [
        ("key-a", (640, 360)),
        ("key-b", (640, 360)),
        ("key-c", (320, 180)),
    ] {
        let info = rtmp::ffprobe_until_av(&rtmp.stream_url(key), Duration::from_secs(40))
            .unwrap_or_else(|e| panic!("{key}: {e:#}\n{}", obs.failure_report()));
        let v = info.video.unwrap();
        assert_eq!(
            (v.codec.as_str(), v.width, v.height),
            ("h264", size.0, size.1),
            "{key}"
        );
        assert_eq!(info.audio.unwrap().codec, "aac", "{key}");
    }
    // Stock obs-websocket sees each target as its own output.
    for id in &ids {
        let st = client
            .outputs()
            .status(&format!("deckcast:{id}"))
            .await
            .unwrap();
        assert!(st.active, "deckcast:{id} {st:?}");
        assert!(st.bytes > 0);
    }
    let h = vendor::health(&client, &ids[0]).await.unwrap();
    assert!(h["kbps"].as_f64().unwrap() > 50.0, "{h}");
    // Shared targets started OBS's streaming encoder before OBS's own stream ever ran: it must carry
    // the profile's stream settings (ultrafast, 1500 kbps, keyint 60), not the encoder defaults.
    let log = obs.log();
    assert!(
        log.contains("[x264 encoder: 'simple_video_stream'] preset: ultrafast"),
        "{log}"
    );
    assert!(log.contains("keyint = 60"), "{log}");
    vendor::ok(&client, "StopAllTargets", json!({}))
        .await
        .unwrap();
    for id in &ids {
        vendor::wait_state(&client, id, "idle", Duration::from_secs(15))
            .await
            .unwrap();
    }
}

async fn create(client: &obws::Client, obs: &Obs, req: serde_json::Value) -> String {
    let v = vendor::ok(client, "CreateTarget", req)
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", obs.failure_report()));
    v["target"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn sync_targets_follow_the_main_stream() {
    let rtmp = RtmpServer::start().unwrap();
    let obs = Obs::start(ObsOptions {
        rtmp_server: Some(rtmp.url()),
        stream_key: "main".into(),
        ..ObsOptions::default()
    })
    .unwrap();
    let client = obs.client().await.unwrap();
    let synced = create(&client, &obs, json!({"name": "Synced", "server": rtmp.url(), "key": "synced", "syncStart": true, "syncStop": true})).await;
    let manual = create(
        &client,
        &obs,
        json!({"name": "Manual", "server": rtmp.url(), "key": "manual"}),
    )
    .await;

    client.streaming().start().await.unwrap();
    vendor::wait_state(&client, &synced, "live", Duration::from_secs(30))
        .await
        .unwrap();
    let info = rtmp::ffprobe_until_av(&rtmp.stream_url("synced"), Duration::from_secs(40)).unwrap();
    assert_eq!(info.video.unwrap().codec, "h264");
    assert_eq!(
        vendor::health(&client, &manual).await.unwrap()["state"],
        "idle"
    );
    assert!(client.streaming().status().await.unwrap().active);

    client.streaming().stop().await.unwrap();
    vendor::wait_state(&client, &synced, "idle", Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(
        vendor::health(&client, &manual).await.unwrap()["state"],
        "idle"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn a_failing_server_only_affects_its_own_targets() {
    let mut flaky = RtmpServer::start().unwrap();
    let stable = RtmpServer::start().unwrap();
    let closed = deckcast_tests::util::free_port().unwrap();
    let obs = Obs::start(ObsOptions::default()).unwrap();
    let client = obs.client().await.unwrap();
    let events = deckcast_tests::events::Events::collect(&client).unwrap();

    let patient = create(
        &client,
        &obs,
        json!({"name": "Patient", "server": flaky.url(), "key": "patient",
        "reconnect": {"retryDelaySec": 1, "maxRetries": 30}}),
    )
    .await;
    let impatient = create(
        &client,
        &obs,
        json!({"name": "Impatient", "server": flaky.url(), "key": "impatient",
        "reconnect": {"retryDelaySec": 1, "maxRetries": 1}}),
    )
    .await;
    let steady = create(
        &client,
        &obs,
        json!({"name": "Steady", "server": stable.url(), "key": "steady"}),
    )
    .await;
    let nowhere = create(&client, &obs, json!({"name": "Nowhere", "server": format!("rtmp://127.0.0.1:{closed}/live"), "key": "nowhere"})).await;

    vendor::ok(&client, "StartAllTargets", json!({}))
        .await
        .unwrap();
    for id in [&patient, &impatient, &steady] {
        vendor::wait_state(&client, id, "live", Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e:#}\n{}", obs.failure_report()));
    }
    let err = vendor::wait_state(&client, &nowhere, "error", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        err["lastError"]
            .as_str()
            .unwrap()
            .starts_with("Could not connect to the server"),
        "{err}"
    );

    // Let a few seconds of video through, then the flaky server dies.
    tokio::time::sleep(Duration::from_secs(3)).await;
    flaky.kill();
    vendor::wait_state(&client, &patient, "reconnecting", Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", obs.failure_report()));
    let gave_up = vendor::wait_state(&client, &impatient, "error", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        gave_up["lastError"].as_str().unwrap().contains("Gave up"),
        "{gave_up}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    flaky.resume().unwrap();
    let back = std::time::Instant::now();
    let h = vendor::wait_state(&client, &patient, "live", Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "not live within 10 s of the server's return: {e:#}\n{}",
                obs.failure_report()
            )
        });
    eprintln!(
        "patient target live again {:?} after the server returned",
        back.elapsed()
    );
    assert_eq!(h["reconnects"], 1, "{h}");

    // The target on the other server never left `live`, and never dropped a frame.
    assert_eq!(
        events.states(&steady),
        ["connecting", "live"],
        "{:?}",
        events.states(&steady)
    );
    let s = vendor::health(&client, &steady).await.unwrap();
    assert_eq!(
        (s["state"].as_str(), s["droppedFrames"].as_u64()),
        (Some("live"), Some(0)),
        "{s}"
    );

    // A manual start after giving up works again.
    vendor::ok(&client, "StartTarget", json!({"id": impatient}))
        .await
        .unwrap();
    let h = vendor::wait_state(&client, &impatient, "live", Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(h["reconnects"], 0);

    // Every event the plugin sent decodes as the protocol says, on every OBS version: OBS 32.1+
    // turns a JSON null crossing obs_data into `{}`, so none may be sent.
    let all = events.all();
    assert!(all.iter().any(|e| e.kind == "TargetStateChanged"));
    for e in &all {
        let decoded = match e.kind.as_str() {
            "TargetStateChanged" => serde_json::from_value::<
                deckcast_protocol::targets::TargetStateChanged,
            >(e.data.clone())
            .map(drop),
            "TargetHealth" => {
                serde_json::from_value::<deckcast_protocol::targets::HealthReport>(e.data.clone())
                    .map(drop)
            }
            _ => Ok(()),
        };
        assert!(
            decoded.is_ok(),
            "{} does not decode: {decoded:?}: {}",
            e.kind,
            e.data
        );
    }
    assert!(obs.alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn a_slow_link_drops_only_its_own_frames() {
    let rtmp = RtmpServer::start().unwrap();
    // The slow target's server sits behind a 300 kbit/s link (its own network namespace, shaped
    // with tc tbf), far below the ~1.5 Mbit/s stream.
    let link = deckcast_tests::netns::SlowLink::new(300).unwrap();
    let far = RtmpServer::start_behind(&link).unwrap();
    let obs = Obs::start(ObsOptions::default()).unwrap();
    let client = obs.client().await.unwrap();
    let slow = create(
        &client,
        &obs,
        json!({"name": "Slow link", "server": far.url(), "key": "slow"}),
    )
    .await;
    let fast_shared = create(
        &client,
        &obs,
        json!({"name": "Fast shared", "server": rtmp.url(), "key": "fast1"}),
    )
    .await;
    let fast_dedicated = create(&client, &obs, json!({"name": "Fast dedicated", "server": rtmp.url(), "key": "fast2",
        "encoder": {"mode": "dedicated", "config": {"bitrateKbps": 800, "preset": "ultrafast", "width": 426, "height": 240}}})).await;
    vendor::ok(&client, "StartAllTargets", json!({}))
        .await
        .unwrap();
    for id in [&slow, &fast_shared, &fast_dedicated] {
        vendor::wait_state(&client, id, "live", Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e:#}\n{}", obs.failure_report()));
    }
    let slow_h = deckcast_tests::util::wait_for_async(
        "the slow target to drop frames",
        Duration::from_secs(60),
        async || {
            let h = vendor::health(&client, &slow).await?;
            Ok((h["droppedFrames"].as_u64().unwrap_or(0) > 0).then_some(h))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", obs.failure_report()));
    // Keep going a little so any spill-over would show.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for id in [&fast_shared, &fast_dedicated] {
        let h = vendor::health(&client, id).await.unwrap();
        assert_eq!(h["state"], "live", "{h}");
        assert_eq!(
            h["droppedFrames"], 0,
            "a healthy target dropped frames: {h}"
        );
        assert!(h["fps"].as_f64().unwrap() > 20.0, "{h}");
    }
    eprintln!("slow target: {slow_h}");
    let stats = client.general().stats().await.unwrap();
    eprintln!("OBS stats: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn targets_survive_a_restart_with_the_key_only_in_the_keyring() {
    let rtmp = RtmpServer::start().unwrap();
    let home = std::env::temp_dir().join(format!(
        "deckcast-e2e-home-{}",
        deckcast_tests::util::random_hex(6).unwrap()
    ));
    let key = format!("live_{}", deckcast_tests::util::random_hex(12).unwrap());
    let opts = ObsOptions {
        home: Some(home.clone()),
        ..ObsOptions::default()
    };

    let mut obs = Obs::start(opts.clone()).unwrap();
    let client = obs.client().await.unwrap();
    let id = create(
        &client,
        &obs,
        json!({"name": "Twitch", "platform": "custom", "server": rtmp.url(), "key": key,
        "encoder": {"mode": "dedicated", "config": {"bitrateKbps": 700, "preset": "ultrafast"}}}),
    )
    .await;
    vendor::ok(&client, "StartTarget", json!({"id": id}))
        .await
        .unwrap();
    vendor::wait_state(&client, &id, "live", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        obs.keyring_lookup("deckcast", &format!("stream-key:{id}"))
            .unwrap()
            .as_deref(),
        Some(key.as_str())
    );
    drop(client);
    assert!(obs.stop(), "{}", obs.failure_report());
    drop(obs);

    let mut obs = Obs::start(opts).unwrap();
    let client = obs.client().await.unwrap();
    let list = vendor::ok(&client, "ListTargets", json!({})).await.unwrap();
    assert_eq!(list["keyStorage"], "keyring", "{list}");
    let t = &list["targets"][0];
    assert_eq!(
        (t["id"].as_str(), t["hasKey"].as_bool(), t["name"].as_str()),
        (Some(id.as_str()), Some(true), Some("Twitch")),
        "{list}"
    );
    assert_eq!(list["encoders"][0]["bitrateKbps"], 700);
    // The key came back from the keyring: the target goes live without setting it again.
    vendor::ok(&client, "StartTarget", json!({"id": id}))
        .await
        .unwrap();
    vendor::wait_state(&client, &id, "live", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(rtmp::ffprobe_until_av(&rtmp.stream_url(&key), Duration::from_secs(40)).is_ok());
    assert_eq!(
        obs.keyring_lookup("deckcast", &format!("stream-key:{id}"))
            .unwrap()
            .as_deref(),
        Some(key.as_str())
    );
    drop(client);
    assert!(obs.stop(), "{}", obs.failure_report());
    let profile = obs
        .config_dir()
        .join("obs-studio/basic/profiles/Test/deckcast-targets.json");
    assert!(std::fs::read_to_string(&profile).unwrap().contains(&id));
    // Not in the profile JSON, not in any OBS log, not in any config file: only the (encrypted) keyring has it.
    let hits = deckcast_tests::util::files_containing(obs.config_dir(), &key);
    assert!(hits.is_empty(), "the stream key leaked into {hits:?}");
    let logs = obs.config_dir().join("obs-studio/logs");
    assert_eq!(
        std::fs::read_dir(&logs).unwrap().count(),
        2,
        "one log per OBS run"
    );
    drop(obs);
    let _ = std::fs::remove_dir_all(home);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn malformed_requests_get_errors_and_obs_keeps_running_without_a_keyring() {
    let obs = Obs::start(ObsOptions {
        keyring: false,
        ..ObsOptions::default()
    })
    .unwrap();
    let client = obs.client().await.unwrap();
    let id = create(
        &client,
        &obs,
        json!({"name": "A", "server": "rtmp://127.0.0.1:1/live", "key": "k1"}),
    )
    .await;
    let huge = "x".repeat(1_000_000);
    for (kind, data, code) in [
        ("GetTarget", json!({}), "invalid_request"),
        ("GetTarget", json!({"id": 42}), "invalid_request"),
        ("GetTarget", json!({"id": "does-not-exist"}), "not_found"),
        ("StartTarget", json!({"id": ["a"]}), "invalid_request"),
        ("StopTarget", json!({"id": "does-not-exist"}), "not_found"),
        ("DeleteTarget", json!({"id": true}), "invalid_request"),
        (
            "CreateTarget",
            json!({"platform": "twitch"}),
            "invalid_request",
        ),
        (
            "CreateTarget",
            json!({"name": "B", "server": "udp://x/y"}),
            "invalid_value",
        ),
        (
            "CreateTarget",
            json!({"name": huge.clone(), "server": "rtmp://h/a"}),
            "invalid_value",
        ),
        (
            "CreateTarget",
            json!({"name": "B", "server": "rtmp://h/a", "key": huge.clone()}),
            "invalid_value",
        ),
        (
            "CreateTarget",
            json!({"name": "B", "server": "rtmp://h/a", "reconnect": {"retryDelaySec": "soon"}}),
            "invalid_request",
        ),
        (
            "UpdateTarget",
            json!({"id": id, "enabled": "yes"}),
            "invalid_request",
        ),
        (
            "SetStreamKey",
            json!({"id": id, "key": ""}),
            "invalid_value",
        ),
        ("GetTargetHealth", json!({"id": 1.5}), "invalid_request"),
        ("ImportTargets", json!({"data": 7}), "invalid_request"),
        // Keys hidden in a server URL would show wherever the URL does.
        (
            "CreateTarget",
            json!({"name": "B", "server": "rtmp://user:sk_live_userinfo@h/app"}),
            "invalid_value",
        ),
        (
            "CreateTarget",
            json!({"name": "B", "server": "rtmp://h/app?key=sk_live_query"}),
            "invalid_value",
        ),
        (
            "UpdateTarget",
            json!({"id": id, "server": "rtmps://h/app#sk_live_fragment"}),
            "invalid_value",
        ),
    ] {
        let got = vendor::err_code(&client, kind, data)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e:#}"));
        assert_eq!(got, code, "{kind}");
    }
    assert!(obs.alive());
    let v = vendor::ok(&client, "GetVersion", json!({})).await.unwrap();
    assert!(v["pluginVersion"].is_string());
    // Without an unlocked keyring, keys stay in memory and the user is told once.
    let list = vendor::ok(&client, "ListTargets", json!({})).await.unwrap();
    assert_eq!(list["keyStorage"], "memory", "{list}");
    assert_eq!(
        list["targets"].as_array().unwrap().len(),
        1,
        "failed requests changed nothing"
    );
    assert_eq!(list["targets"][0]["server"], "rtmp://127.0.0.1:1/live");
    assert!(
        !obs.log().contains("sk_live_"),
        "a refused URL reached the log"
    );
    // A key pasted after YouTube's ingest path is accepted, with a warning that says so.
    let yt = vendor::ok(
        &client,
        "CreateTarget",
        json!({"name": "YT", "platform": "youtube", "server": "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl"}),
    )
    .await
    .unwrap();
    let warning = yt["target"]["serverWarning"].as_str().unwrap_or_default();
    assert!(warning.contains("stream key"), "{yt}");
    vendor::ok(&client, "DeleteTarget", json!({"id": yt["target"]["id"]}))
        .await
        .unwrap();
    let h = vendor::health(&client, &id).await.unwrap();
    assert!(
        h["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "key_in_memory"),
        "{h}"
    );
    assert_eq!(
        obs.log().matches("no OS keyring is available").count(),
        1,
        "{}",
        obs.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn hotkeys_start_and_stop_targets_and_keep_their_bindings() {
    let rtmp = RtmpServer::start().unwrap();
    let home = std::env::temp_dir().join(format!(
        "deckcast-e2e-home-{}",
        deckcast_tests::util::random_hex(6).unwrap()
    ));
    let opts = ObsOptions {
        home: Some(home.clone()),
        ..ObsOptions::default()
    };
    let mut obs = Obs::start(opts.clone()).unwrap();
    let client = obs.client().await.unwrap();
    let a = create(
        &client,
        &obs,
        json!({"name": "Hot A", "server": rtmp.url(), "key": "hot-a"}),
    )
    .await;
    let b = create(
        &client,
        &obs,
        json!({"name": "Hot B", "server": rtmp.url(), "key": "hot-b"}),
    )
    .await;
    let names = client.hotkeys().list().await.unwrap();
    for n in [
        format!("deckcast.target.{a}.start"),
        format!("deckcast.target.{b}.stop"),
        "deckcast.all.start".into(),
        "deckcast.all.stop".into(),
    ] {
        assert!(names.contains(&n), "{n} not in {names:?}");
    }
    client
        .hotkeys()
        .trigger_by_name(&format!("deckcast.target.{a}.start"), None)
        .await
        .unwrap();
    vendor::wait_state(&client, &a, "live", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(vendor::health(&client, &b).await.unwrap()["state"], "idle");
    client
        .hotkeys()
        .trigger_by_name("deckcast.all.start", None)
        .await
        .unwrap();
    vendor::wait_state(&client, &b, "live", Duration::from_secs(30))
        .await
        .unwrap();
    client
        .hotkeys()
        .trigger_by_name("deckcast.all.stop", None)
        .await
        .unwrap();
    for id in [&a, &b] {
        vendor::wait_state(&client, id, "idle", Duration::from_secs(20))
            .await
            .unwrap();
    }
    drop(client);
    assert!(obs.stop(), "{}", obs.failure_report());

    // A binding saved in the targets file is loaded into OBS and saved back on exit.
    let file = obs
        .config_dir()
        .join("obs-studio/basic/profiles/Test/deckcast-targets.json");
    drop(obs);
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let name = format!("deckcast.target.{a}.start");
    doc["hotkeys"][&name] = json!([{"key": "OBS_KEY_F13", "shift": true}]);
    doc["hotkeys"]["deckcast.recording.start"] = json!([{"key": "OBS_KEY_F14"}]);
    std::fs::write(&file, doc.to_string()).unwrap();
    let mut obs = Obs::start(opts).unwrap();
    let client = obs.client().await.unwrap();
    vendor::ok(&client, "ListTargets", json!({})).await.unwrap();
    // A profile's bindings stay its own: a new profile starts without them (the hotkeys every
    // profile has, like the recording ones, included), and switching back brings them back.
    let mut obs_events = Box::pin(client.events().unwrap());
    client.profiles().create("Unbound").await.unwrap();
    profile_changed(&mut obs_events, "Unbound", &obs).await;
    vendor::ok(&client, "ListTargets", json!({})).await.unwrap();
    client.profiles().set_current("Test").await.unwrap();
    profile_changed(&mut obs_events, "Test", &obs).await;
    vendor::ok(&client, "ListTargets", json!({})).await.unwrap();
    drop(obs_events);
    drop(client);
    assert!(obs.stop(), "{}", obs.failure_report());
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["hotkeys"][&name][0]["key"], "OBS_KEY_F13", "{doc}");
    assert_eq!(doc["hotkeys"][&name][0]["shift"], true, "{doc}");
    assert_eq!(
        doc["hotkeys"]["deckcast.recording.start"][0]["key"], "OBS_KEY_F14",
        "{doc}"
    );
    let other = obs
        .config_dir()
        .join("obs-studio/basic/profiles/Unbound/deckcast-targets.json");
    let other: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&other).unwrap()).unwrap();
    for hotkey in ["deckcast.recording.start", "deckcast.all.start"] {
        let bound = other["hotkeys"][hotkey].as_array().map_or(0, Vec::len);
        assert_eq!(
            bound, 0,
            "{hotkey} carried over to the new profile: {other}"
        );
    }
    assert!(
        other["hotkeys"].as_object().is_some_and(|h| !h.is_empty()),
        "the new profile's file lists its hotkeys: {other}"
    );
    drop(obs);
    let _ = std::fs::remove_dir_all(home);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn the_dock_shows_targets_with_live_state() {
    let rtmp = RtmpServer::start().unwrap();
    let obs = Obs::start(ObsOptions {
        env: vec![("DECKCAST_SHOW_DOCK".into(), "1".into())],
        ..ObsOptions::default()
    })
    .unwrap();
    assert!(
        obs.log().contains("[deckcast] targets dock registered"),
        "{}",
        obs.failure_report()
    );
    let client = obs.client().await.unwrap();
    let live = create(
        &client,
        &obs,
        json!({"name": "Twitch (live)", "server": rtmp.url(), "key": "dock-live"}),
    )
    .await;
    create(
        &client,
        &obs,
        json!({"name": "YouTube (idle)", "platform": "youtube", "key": "dock-idle"}),
    )
    .await;
    vendor::ok(&client, "StartTarget", json!({"id": live}))
        .await
        .unwrap();
    vendor::wait_state(&client, &live, "live", Duration::from_secs(30))
        .await
        .unwrap();
    // The dock refreshes every second.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let path = obs.screenshot("dock-two-targets").unwrap();
    let png = std::fs::read(&path).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert!(
        png.len() > 20_000,
        "screenshot is suspiciously small: {} bytes",
        png.len()
    );
    eprintln!("dock screenshot: {}", path.display());
    assert!(obs.alive());
}

/// SIGCONTs a frozen process when dropped (so a failing test never leaves it stopped).
struct Thaw(u32);

impl Drop for Thaw {
    fn drop(&mut self) {
        let _ = deckcast_tests::util::signal(self.0, "CONT");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn obs_stays_responsive_while_the_keyring_hangs_and_a_hidden_dock_never_polls() {
    // A hidden dock (OBS lists it under Docks) sends nothing.
    let mut hidden = Obs::start(ObsOptions::default()).unwrap();
    let c = hidden.client().await.unwrap();
    create(
        &c,
        &hidden,
        json!({"name": "A", "server": "rtmp://127.0.0.1:1/live", "key": "k0"}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    drop(c);
    assert!(hidden.stop(), "{}", hidden.failure_report());
    assert!(
        hidden
            .log()
            .contains("Deckcast unloaded (the dock sent 0 request(s))"),
        "{}",
        hidden.failure_report()
    );

    // A visible dock polls, but never on OBS's UI thread's time: with the keyring frozen (a
    // prompt nobody answers), the targets worker is stuck in SetStreamKey, and OBS's UI still
    // answers at once.
    let mut obs = Obs::start(ObsOptions {
        env: vec![("DECKCAST_SHOW_DOCK".into(), "1".into())],
        ..ObsOptions::default()
    })
    .unwrap();
    let client = obs.client().await.unwrap();
    let id = create(
        &client,
        &obs,
        json!({"name": "A", "server": "rtmp://127.0.0.1:1/live", "key": "k1"}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let keyring = obs.keyring_daemon_pid().unwrap();
    deckcast_tests::util::signal(keyring, "STOP").unwrap();
    let thaw = Thaw(keyring);
    let other = obs.client().await.unwrap();
    let pending = tokio::spawn(async move {
        vendor::call(&other, "SetStreamKey", json!({"id": id, "key": "k2"})).await
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    for i in 0..8 {
        // obs-websocket runs SetStudioModeEnabled on OBS's UI thread and waits for it.
        tokio::time::timeout(
            Duration::from_secs(5),
            client.ui().set_studio_mode_enabled(i % 2 == 0),
        )
        .await
        .unwrap_or_else(|_| panic!("OBS's UI thread was blocked (toggle {i})"))
        .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(thaw);
    let _ = pending.await.unwrap();
    let listed = deckcast_tests::util::wait_for_async(
        "the worker to answer again",
        Duration::from_secs(40),
        || async {
            Ok(vendor::ok(&client, "ListTargets", json!({}))
                .await
                .ok()
                .filter(|v| v["targets"].as_array().is_some_and(|t| t.len() == 1)))
        },
    )
    .await
    .unwrap();
    assert_eq!(listed["targets"][0]["name"], "A");
    assert!(obs.alive());
    drop(client);
    assert!(obs.stop(), "{}", obs.failure_report());
    let log = obs.log();
    let sent: u64 = log
        .split("the dock sent ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no dock count in the log\n{log}"));
    assert!(sent > 0, "a visible dock polls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn each_profile_has_its_own_targets() {
    let obs = Obs::start(ObsOptions::default()).unwrap();
    let client = obs.client().await.unwrap();
    let id = create(
        &client,
        &obs,
        json!({"name": "In Test", "server": "rtmp://127.0.0.1:1/live", "key": "p1"}),
    )
    .await;
    // obs-websocket answers CreateProfile before the profile exists (since 5.5.4 it queues the
    // creation on OBS's UI thread) and OBS switches to a new profile by itself; the documented
    // signal that both happened is CurrentProfileChanged.
    let mut obs_events = Box::pin(client.events().unwrap());
    client.profiles().create("Second").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        use futures_util::StreamExt;
        while let Some(e) = obs_events.next().await {
            if matches!(&e, obws::events::Event::CurrentProfileChanged { name } if name == "Second")
            {
                return;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no CurrentProfileChanged to Second\n{}",
            obs.failure_report()
        )
    });
    client.profiles().set_current("Second").await.unwrap();
    let empty = deckcast_tests::util::wait_for_async(
        "the second profile's (empty) targets",
        Duration::from_secs(10),
        async || {
            let l = vendor::ok(&client, "ListTargets", json!({})).await?;
            Ok(l["targets"]
                .as_array()
                .is_some_and(|t| t.is_empty())
                .then_some(l))
        },
    )
    .await
    .unwrap();
    assert_eq!(empty["targets"], json!([]));
    create(
        &client,
        &obs,
        json!({"name": "In Second", "server": "rtmp://127.0.0.1:1/live", "key": "p2"}),
    )
    .await;
    client.profiles().set_current("Test").await.unwrap();
    let back = deckcast_tests::util::wait_for_async(
        "the Test profile's targets",
        Duration::from_secs(10),
        async || {
            let l = vendor::ok(&client, "ListTargets", json!({})).await?;
            Ok((l["targets"][0]["id"] == id.as_str()).then_some(l))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", obs.failure_report()));
    assert_eq!(back["targets"].as_array().unwrap().len(), 1);
    assert_eq!(back["targets"][0]["hasKey"], true);
    let second = obs
        .config_dir()
        .join("obs-studio/basic/profiles/Second/deckcast-targets.json");
    assert!(
        std::fs::read_to_string(second)
            .unwrap()
            .contains("In Second")
    );
}

/// Waits for obs-websocket's CurrentProfileChanged to `name` on `events`.
async fn profile_changed(
    events: &mut (impl futures_util::Stream<Item = obws::events::Event> + Unpin),
    name: &str,
    obs: &Obs,
) {
    use futures_util::StreamExt;
    tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(e) = events.next().await {
            if matches!(&e, obws::events::Event::CurrentProfileChanged { name: n } if n == name) {
                return;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no CurrentProfileChanged to {name}\n{}",
            obs.failure_report()
        )
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn profile_switches_under_load_and_a_kill_mid_switch_lose_nothing() {
    let rtmp = RtmpServer::start().unwrap();
    let home = std::env::temp_dir().join(format!(
        "deckcast-e2e-home-{}",
        deckcast_tests::util::random_hex(6).unwrap()
    ));
    let opts = ObsOptions {
        home: Some(home.clone()),
        ..ObsOptions::default()
    };
    let mut obs = Obs::start(opts.clone()).unwrap();
    let client = obs.client().await.unwrap();
    let mut events = Box::pin(client.events().unwrap());
    let first = create(
        &client,
        &obs,
        json!({"name": "In Test", "server": rtmp.url(), "key": "switch-a"}),
    )
    .await;
    client.profiles().create("Second").await.unwrap();
    profile_changed(&mut events, "Second", &obs).await;
    let second = create(
        &client,
        &obs,
        json!({"name": "In Second", "server": rtmp.url(), "key": "switch-b"}),
    )
    .await;

    // Health and list requests never stop while the profile flips back and forth, each time with
    // its target live and OBS's dynamic-bitrate setting changed under it.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammer = {
        let c = obs.client().await.unwrap();
        let stop = std::sync::Arc::clone(&stop);
        tokio::spawn(async move {
            let mut answered = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for kind in ["GetTargetHealth", "ListTargets"] {
                    if vendor::call(&c, kind, json!({})).await.is_ok() {
                        answered += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            answered
        })
    };
    for round in 0..8 {
        let (name, id) = if round % 2 == 0 {
            ("Test", &first)
        } else {
            ("Second", &second)
        };
        client.profiles().set_current(name).await.unwrap();
        profile_changed(&mut events, name, &obs).await;
        client
            .profiles()
            .set_parameter(obws::requests::profiles::SetParameter {
                category: "Output",
                name: "DynamicBitrate",
                value: Some(if round % 4 < 2 { "true" } else { "false" }),
            })
            .await
            .unwrap();
        vendor::ok(&client, "StartTarget", json!({ "id": id }))
            .await
            .unwrap_or_else(|e| panic!("{e:#}\n{}", obs.failure_report()));
        vendor::wait_state(&client, id, "live", Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e:#}\n{}", obs.failure_report()));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(hammer.await.unwrap() > 0);
    assert!(obs.alive(), "{}", obs.failure_report());

    // The profile is Second now; kill OBS the moment it is asked to switch to Test.
    let switching = obs.client().await.unwrap();
    let ask = tokio::spawn(async move { switching.profiles().set_current("Test").await });
    tokio::time::sleep(Duration::from_millis(30)).await;
    drop(events);
    drop(client);
    obs.kill().unwrap();
    let _ = ask.await;
    drop(obs);

    // Both profiles come back with their targets and keys, in valid files.
    let mut obs = Obs::start(opts).unwrap();
    let client = obs.client().await.unwrap();
    for (profile, id, name) in [
        ("Test", &first, "In Test"),
        ("Second", &second, "In Second"),
    ] {
        let file = obs.config_dir().join(format!(
            "obs-studio/basic/profiles/{profile}/deckcast-targets.json"
        ));
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file:?}: {e}\n{text}"));
        assert!(parsed.to_string().contains(id.as_str()), "{text}");
        client.profiles().set_current(profile).await.unwrap();
        let list = deckcast_tests::util::wait_for_async(
            "the profile's targets",
            Duration::from_secs(15),
            async || {
                let l = vendor::ok(&client, "ListTargets", json!({})).await?;
                Ok((l["targets"][0]["id"] == id.as_str()).then_some(l))
            },
        )
        .await
        .unwrap();
        assert_eq!(list["targets"].as_array().unwrap().len(), 1, "{list}");
        assert_eq!(list["targets"][0]["name"], name, "{list}");
        assert_eq!(list["targets"][0]["hasKey"], true, "{list}");
    }
    drop(client);
    assert!(obs.stop(), "{}", obs.failure_report());
    drop(obs);
    let _ = std::fs::remove_dir_all(home);
}
