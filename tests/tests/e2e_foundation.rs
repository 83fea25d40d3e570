//! End-to-end: the plugin loads in a real OBS, answers through obs-websocket, and `deckcast status`
//! reports all three versions; failure modes give clear errors. Tier "e2e" (ignored by default; the
//! README test command runs it with `--run-ignored only`).
use std::process::Output;
use std::time::Duration;

use deckcast_protocol::version::VersionInfo;
use deckcast_protocol::{PROTOCOL_VERSION, VENDOR_NAME};
use deckcast_tests::obs::{Obs, ObsOptions};
use deckcast_tests::rtmp::{self, RtmpServer};
use deckcast_tests::runtime::Runtime;
use deckcast_tests::{artifacts, util};
use obws::requests::general::CallVendorRequest;
use serde_json::{Value, json};

const PLUGIN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs `deckcast status` against `obs` with the password from the environment (never argv).
fn deckcast_status(obs: &Obs, password: Option<&str>, extra: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(&artifacts::get().unwrap().deckcast);
    cmd.arg("status")
        .args(extra)
        .env("DECKCAST_OBS_PORT", obs.ws_port.to_string());
    match password {
        Some(p) => cmd.env("DECKCAST_OBS_PASSWORD", p),
        None => cmd.env_remove("DECKCAST_OBS_PASSWORD"),
    };
    cmd.output().expect("running deckcast")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn plugin_loads_and_answers_get_version() {
    let mut obs = Obs::start(ObsOptions::default()).unwrap();
    let obs_version = obs.runtime().obs_version().to_owned();

    // One load line with the plugin version and the runtime libobs version; the vendor registered.
    util::wait_for(
        "the vendor registration log line",
        Duration::from_secs(10),
        || {
            Ok(obs
                .log()
                .contains("[deckcast] obs-websocket vendor 'deckcast' registered")
                .then_some(()))
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", obs.failure_report()));
    let log = obs.log();
    let load_line =
        format!("[deckcast] Deckcast {PLUGIN_VERSION} loaded (libobs {obs_version} at runtime");
    assert_eq!(
        log.matches(&load_line).count(),
        1,
        "load line {load_line:?} once in:\n{log}"
    );
    assert!(!log.contains("obs-websocket is not available"));

    // OBS 32+ lists the plugin in its plugin manager with the name, id and version of
    // data/manifest.json (written to plugin_manager/modules.json once modules are loaded).
    let major: u32 = obs_version.split('.').next().unwrap().parse().unwrap();
    if major >= 32 {
        let modules = obs
            .config_dir()
            .join("obs-studio/plugin_manager/modules.json");
        let listed: Value =
            serde_json::from_str(&std::fs::read_to_string(&modules).unwrap()).unwrap();
        let ours = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["module_name"] == "deckcast")
            .unwrap_or_else(|| panic!("deckcast is not in the plugin manager: {listed}"));
        assert_eq!(
            (
                &ours["display_name"],
                &ours["id"],
                &ours["version"],
                &ours["enabled"]
            ),
            (
                &json!("Deckcast"),
                &json!("deckcast"),
                &json!(PLUGIN_VERSION),
                &json!(true)
            ),
            "{ours}"
        );
        assert!(
            ours["sources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "deckcast_now_playing"),
            "{ours}"
        );
    }

    // `deckcast status` (human and JSON) reports all three versions.
    let out = deckcast_status(&obs, Some(&obs.password), &[]);
    assert!(
        out.status.success(),
        "status failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let human = text(&out.stdout);
    assert!(
        human.contains(&format!("OBS Studio       {obs_version}")),
        "{human}"
    );
    assert!(human.contains("obs-websocket    5."), "{human}");
    assert!(human.contains(&format!("Deckcast plugin  {PLUGIN_VERSION} (vendor protocol {PROTOCOL_VERSION}, libobs {obs_version})")), "{human}");

    let out = deckcast_status(&obs, Some(&obs.password), &["--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["obs"]["obsStudio"], json!(obs_version));
    assert!(
        status["obs"]["obsWebsocket"]
            .as_str()
            .unwrap()
            .starts_with("5."),
        "{status}"
    );
    assert_eq!(
        status["plugin"],
        json!({"pluginVersion": PLUGIN_VERSION, "protocolVersion": PROTOCOL_VERSION, "libobsVersion": obs_version})
    );

    // The vendor request straight through obs-websocket.
    let client = obs.client().await.unwrap();
    let reply = client
        .general()
        .call_vendor_request::<_, VersionInfo>(CallVendorRequest {
            vendor_name: VENDOR_NAME,
            request_type: "GetVersion",
            request_data: &json!({"ignored": [1, 2, 3]}),
        })
        .await
        .unwrap();
    assert_eq!(
        reply.response_data,
        VersionInfo {
            plugin_version: PLUGIN_VERSION.into(),
            protocol_version: PROTOCOL_VERSION,
            libobs_version: obs_version.clone(),
        }
    );
    // An unknown request type is refused by obs-websocket; OBS keeps running.
    let unknown = client
        .general()
        .call_vendor_request::<_, Value>(CallVendorRequest {
            vendor_name: VENDOR_NAME,
            request_type: "NoSuchRequest",
            request_data: &json!({}),
        })
        .await;
    assert!(unknown.is_err(), "{unknown:?}");
    drop(client);

    // Wrong and missing password: exit code 4 and a precise message that does not echo the secret.
    let out = deckcast_status(&obs, Some("definitely-wrong"), &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("OBS rejected the websocket password"), "{err}");
    assert!(!err.contains("definitely-wrong"), "{err}");
    let out = deckcast_status(&obs, None, &[]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("DECKCAST_OBS_PASSWORD"),
        "{}",
        text(&out.stderr)
    );

    assert!(obs.alive());
    assert!(
        obs.stop(),
        "OBS did not shut down cleanly:\n{}",
        obs.failure_report()
    );
    let log = obs.log();
    assert!(
        log.contains("[deckcast] Deckcast unloaded"),
        "{}",
        obs.failure_report()
    );
    assert!(
        !log.contains("[deckcast] internal error"),
        "{}",
        obs.failure_report()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn without_the_plugin_status_fails_clearly_and_the_rig_streams_to_nginx() {
    let rtmp = RtmpServer::start().unwrap();
    let mut obs = Obs::start(ObsOptions {
        plugin: false,
        rtmp_server: Some(rtmp.url()),
        stream_key: "main".into(),
        ..ObsOptions::default()
    })
    .unwrap();

    let out = deckcast_status(&obs, Some(&obs.password), &[]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("the Deckcast plugin is not loaded in OBS"),
        "{}",
        text(&out.stderr)
    );

    // The rig itself: OBS's main stream reaches nginx-rtmp and ffprobe reads it back.
    let client = obs.client().await.unwrap();
    client.streaming().start().await.unwrap();
    let info = rtmp::ffprobe_until_av(&rtmp.stream_url("main"), Duration::from_secs(40))
        .unwrap_or_else(|e| panic!("{e:#}\n{}", obs.failure_report()));
    let video = info.video.unwrap();
    assert_eq!(
        (video.codec.as_str(), video.width, video.height),
        ("h264", 640, 360)
    );
    assert!((video.fps - 30.0).abs() < 0.5, "fps {}", video.fps);
    let audio = info.audio.unwrap();
    assert_eq!(
        (audio.codec.as_str(), audio.sample_rate, audio.channels),
        ("aac", 48_000, 2)
    );
    let status = client.streaming().status().await.unwrap();
    assert!(status.active && status.bytes > 0, "{status:?}");
    client.streaming().stop().await.unwrap();
    util::wait_for_async(
        "the main stream to stop",
        Duration::from_secs(10),
        async || Ok((!client.streaming().status().await?.active).then_some(())),
    )
    .await
    .unwrap();
    drop(client);
    assert!(obs.stop(), "{}", obs.failure_report());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn the_plugin_loads_without_obs_websocket_and_says_so_once() {
    let mut obs = Obs::start(ObsOptions {
        websocket: false,
        ..ObsOptions::default()
    })
    .unwrap();
    let needle = "[deckcast] obs-websocket is not available";
    util::wait_for(
        "the missing-websocket warning",
        Duration::from_secs(20),
        || Ok(obs.log().contains(needle).then_some(())),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", obs.failure_report()));
    let log = obs.log();
    assert_eq!(log.matches(needle).count(), 1, "{log}");
    assert!(log.contains(&format!("[deckcast] Deckcast {PLUGIN_VERSION} loaded")));
    assert!(obs.alive());
    assert!(matches!(
        Runtime::get().unwrap(),
        Runtime::Chroot { .. } | Runtime::Host { .. }
    ));
    assert!(obs.stop(), "{}", obs.failure_report());
}
