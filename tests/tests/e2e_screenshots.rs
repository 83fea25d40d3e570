//! End-to-end: the README's pictures, taken from the running product (OBS with the plugin, the
//! companion, the dashboard in Chromium), and the dashboard used on a phone at 390 × 844 with a
//! finger: every control touch-sized, nothing wider than the screen, a target stopped and started
//! and an alert acknowledged by taps. Tier "e2e".
//!
//! With `DECKCAST_DOCS_IMAGES=1` (what `scripts/screenshots.sh` sets) the pictures are also
//! written to `docs/images/`, the files the README shows; otherwise only to the artifacts.
use std::time::Duration;

use deckcast_tests::browser::Browser;
use deckcast_tests::companion::{Companion, CompanionHome, call, create_targets, wait_snapshot};
use deckcast_tests::image::{decode_data_uri, decode_png, source_screenshot};
use deckcast_tests::obs::{Obs, ObsOptions};
use deckcast_tests::openapi::OpenApi;
use deckcast_tests::rtmp::RtmpServer;
use deckcast_tests::{artifacts, vendor};
use obws::requests::inputs::Create;
use obws::requests::scene_items::{
    Id, Position, SceneItemTransform, SetEnabled, SetIndex, SetTransform,
};
use obws::requests::scenes::SceneId;
use serde_json::{Value, json};

/// Keeps `png` as artifact `name.png` and, when asked, as the README's `docs/images/name.png`.
fn keep(name: &str, png: &[u8]) {
    assert_eq!(&png[1..4], b"PNG", "{name} is not a PNG");
    std::fs::write(
        artifacts::artifacts_dir()
            .unwrap()
            .join(format!("{name}.png")),
        png,
    )
    .unwrap();
    if std::env::var_os("DECKCAST_DOCS_IMAGES").is_some_and(|v| v == "1") {
        let dir = artifacts::workspace_root().join("docs/images");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        eprintln!("wrote docs/images/{name}.png");
    }
}

async fn item(client: &obws::Client, source: &str) -> i64 {
    client
        .scene_items()
        .id(Id {
            scene: SceneId::Name("Scene"),
            source,
            search_offset: None,
        })
        .await
        .unwrap()
}

async fn place(client: &obws::Client, source: &str, x: f32, y: f32) {
    let item_id = item(client, source).await;
    client
        .scene_items()
        .set_transform(SetTransform {
            scene: SceneId::Name("Scene"),
            item_id,
            transform: SceneItemTransform {
                position: Some(Position {
                    x: Some(x),
                    y: Some(y),
                }),
                ..SceneItemTransform::default()
            },
        })
        .await
        .unwrap();
}

/// What a finger cannot hit on the page: controls smaller than 44 × 44 CSS px (WCAG 2.5.5, the
/// platforms' touch guidelines; a checkbox counts with its label), and how wide the page is.
const TOUCH_AUDIT: &str = r#"(() => {
  const small = [];
  for (const e of document.querySelectorAll('button, select, input, textarea, a[href], #sessions li')) {
    const own = e.getBoundingClientRect();
    if (own.width === 0 && own.height === 0) continue; // not shown
    const label = e.type === 'checkbox' ? e.closest('label') : null;
    const r = label ? label.getBoundingClientRect() : own;
    if (r.width < 44 || r.height < 44) {
      small.push(`${e.id || e.dataset.action || e.dataset.range || e.textContent.trim().slice(0, 24) || e.tagName} ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
  }
  const wide = [...document.querySelectorAll('main > *, header, .tile, .card')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .map(e => e.id || e.className);
  return JSON.stringify({small, wide, page: document.documentElement.scrollWidth, screen: window.innerWidth});
})()"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig and chromium (see README: the test command runs this tier)"]
async fn the_readme_pictures_come_from_the_product_and_the_dashboard_works_on_a_phone() {
    let api = OpenApi::load().unwrap();
    let rtmp = RtmpServer::start().unwrap();
    let obs = Obs::start(ObsOptions {
        size: (1280, 720),
        audio_bpm: 124.0,
        env: vec![("DECKCAST_SHOW_DOCK".into(), "1".into())],
        ..ObsOptions::default()
    })
    .unwrap();
    let client = obs.client().await.unwrap();

    // A scene as a DJ would have it: a dark backdrop, the track and tempo at the top, the
    // spectrum of the music along the bottom.
    client
        .inputs()
        .create(Create {
            scene: SceneId::Name("Scene"),
            input: "Backdrop",
            kind: "color_source_v3",
            settings: Some(json!({"color": 0xFF1C1612_u32, "width": 1280, "height": 720})),
            enabled: Some(true),
        })
        .await
        .unwrap();
    let backdrop = item(&client, "Backdrop").await;
    client
        .scene_items()
        .set_index(SetIndex {
            scene: SceneId::Name("Scene"),
            item_id: backdrop,
            index: 0,
        })
        .await
        .unwrap();
    let pattern = item(&client, "Pattern").await;
    client
        .scene_items()
        .set_enabled(SetEnabled {
            scene: SceneId::Name("Scene"),
            item_id: pattern,
            enabled: false,
        })
        .await
        .unwrap();
    for (name, kind, settings) in [
        (
            "Now Playing",
            "deckcast_now_playing",
            json!({"audio_source": "Music", "template": "{artist} – {title}\n{bpm} BPM", "size": 56}),
        ),
        (
            "Visualizer",
            "deckcast_visualizer",
            json!({"audio_source": "Music", "bars": 48, "width": 1200, "height": 300, "rounded": true,
                   "color": 0xFFFF_A34Au32, "gradient": true, "color2": 0xFF9B_3DE8u32}),
        ),
    ] {
        client
            .inputs()
            .create(Create {
                scene: SceneId::Name("Scene"),
                input: name,
                kind,
                settings: Some(settings),
                enabled: Some(true),
            })
            .await
            .unwrap();
    }
    place(&client, "Now Playing", 60.0, 50.0).await;
    place(&client, "Visualizer", 40.0, 390.0).await;

    // The companion, three targets: two reach nginx-rtmp, one points at a closed port and fails
    // (an alert to acknowledge on the phone).
    let home = CompanionHome::new().unwrap();
    let companion = Companion::start(&home, obs.ws_port, &obs.password).unwrap();
    let c = companion.client().unwrap();
    wait_snapshot(
        &c,
        "the companion to connect to OBS",
        Duration::from_secs(30),
        |s| s["obs"]["state"] == "connected",
    );
    let dead = format!(
        "rtmp://127.0.0.1:{}/live",
        deckcast_tests::util::free_port().unwrap()
    );
    let ids = create_targets(
        &api,
        &c,
        &[
            json!({"name": "Twitch", "platform": "custom", "server": rtmp.url(), "key": "shot-twitch"}),
            json!({"name": "YouTube", "platform": "custom", "server": rtmp.url(), "key": "shot-youtube"}),
            json!({"name": "Kick", "platform": "custom", "server": dead, "key": "shot-kick",
                   "reconnect": {"retryDelaySec": 1, "maxRetries": 0}}),
        ],
    );
    let (status, body) = call(
        &api,
        &c,
        "PUT",
        "/api/v1/nowplaying",
        "/api/v1/nowplaying",
        Some(&json!({"artist": "Octave One", "title": "Blackwater"})),
    );
    assert_eq!(status, 204, "{body}");
    for id in &ids {
        let (status, body) = call(
            &api,
            &c,
            "POST",
            &format!("/api/v1/targets/{id}/start"),
            "/api/v1/targets/{id}/start",
            None,
        );
        assert!(status < 300, "{status} {body}");
    }
    wait_snapshot(
        &c,
        "two targets live, one failed",
        Duration::from_secs(40),
        |s| {
            let states: Vec<&str> = s["targets"]
                .as_array()
                .map(|t| t.iter().filter_map(|t| t["state"].as_str()).collect())
                .unwrap_or_default();
            states.iter().filter(|s| **s == "live").count() == 2 && states.contains(&"error")
        },
    );

    // The sources on stream: the tempo locked, the track shown, bars moving.
    let bpm = deckcast_tests::util::wait_for_async(
        "Now Playing to read 124 BPM",
        Duration::from_secs(15),
        async || {
            let a = vendor::ok(&client, "GetAnalysis", json!({"source": "Now Playing"})).await?;
            Ok(a["bpm"].as_f64().filter(|b| (b - 124.0).abs() <= 0.5))
        },
    )
    .await
    .unwrap();
    eprintln!("Now Playing reads {bpm} BPM");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let scene = source_screenshot(&client, "Scene").await.unwrap();
    let img = decode_data_uri(&scene).unwrap();
    assert_eq!((img.width, img.height), (1280, 720));
    let white = img.count_rgb([255, 255, 255], 30);
    let text = img.rgb_bounds([255, 255, 255], 30);
    assert!(
        white > 1_500 && text.is_some_and(|(_, y0, _, y1)| y0 >= 40 && y1 < 380),
        "the track and tempo are drawn in white at the top: {white} px in {text:?}"
    );
    let bars = img.mean_rgb(400, 700).unwrap();
    let backdrop_rgb = img.mean_rgb(0, 30).unwrap();
    assert!(
        bars.iter().sum::<f64>() > backdrop_rgb.iter().sum::<f64>() + 15.0,
        "the visualizer's bars brighten the bottom: {bars:?} vs {backdrop_rgb:?}"
    );
    let scene_png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        scene.split_once("base64,").unwrap().1,
    )
    .unwrap();
    keep("sources", &scene_png);

    // The dock in OBS (it refreshes every second). OBS 32's window is sometimes not drawn on the
    // rig's X display at all in a busy run (the screen stays black); the dock itself is checked
    // by e2e_targets, so here a missing window only means no new picture, said loudly.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let dock = deckcast_tests::util::wait_for(
        "OBS's window with the dock on the display",
        Duration::from_secs(30),
        || {
            let png = std::fs::read(obs.screenshot("dock-readme")?)?;
            if png.len() <= 20_000 {
                std::thread::sleep(Duration::from_secs(1));
            }
            Ok((png.len() > 20_000).then_some(png))
        },
    );
    match dock {
        Ok(png) => keep("dock", &png),
        Err(e) => eprintln!("WARNING: no dock picture this run: {e:#}"),
    }

    // The dashboard on a desktop.
    let mut browser = Browser::start().await.unwrap();
    let base = format!("http://{}", home.addr());
    browser
        .log_in(&base, &companion.token().unwrap())
        .await
        .unwrap();
    browser
        .wait_for(
            "two live tiles, the failed one, the track and its alert",
            "document.querySelectorAll('.tile[data-state=live]').length === 2 && document.querySelector('.tile[data-state=error]') && document.querySelector('#now-playing').textContent.includes('Blackwater') && document.querySelector('#alerts [data-action=ack]')",
            Duration::from_secs(40),
        )
        .await
        .unwrap();
    // Sparklines need a few samples.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let desktop = browser.screenshot().await.unwrap();
    let shown = decode_png(&desktop).unwrap();
    assert!(shown.width >= 1200, "{}", shown.width);
    keep("dashboard", &desktop);

    // The same dashboard on a phone, with a finger.
    browser.set_viewport(390, 844, true).await.unwrap();
    browser.eval("window.scrollTo(0, 0); true").await.unwrap();
    let audit: Value = serde_json::from_str(
        browser
            .wait_for("the phone layout", TOUCH_AUDIT, Duration::from_secs(5))
            .await
            .unwrap()
            .as_str()
            .unwrap(),
    )
    .unwrap();
    eprintln!("phone audit: {audit}");
    assert_eq!(audit["screen"], 390, "{audit}");
    assert!(
        audit["page"].as_f64().unwrap() <= 391.0,
        "the page scrolls sideways: {audit}"
    );
    assert_eq!(audit["wide"], json!([]), "wider than the screen: {audit}");
    assert_eq!(audit["small"], json!([]), "too small to tap: {audit}");
    let phone = browser.screenshot().await.unwrap();
    let shown = decode_png(&phone).unwrap();
    assert_eq!((shown.width, shown.height), (390, 844));
    keep("dashboard-phone", &phone);

    // Tap Stop on the first live tile: that target stops, the other stays live.
    let first = &ids[0];
    browser
        .tap(&format!(
            ".tile[data-target-id='{first}'] [data-action=stop]"
        ))
        .await
        .unwrap();
    wait_snapshot(
        &c,
        "the tapped target to stop",
        Duration::from_secs(20),
        |s| {
            s["targets"].as_array().is_some_and(|t| {
                t.iter().any(|t| t["id"] == *first && t["state"] == "idle")
                    && t.iter().any(|t| t["id"] == ids[1] && t["state"] == "live")
            })
        },
    );
    browser
        .tap(&format!(
            ".tile[data-target-id='{first}'] [data-action=start]"
        ))
        .await
        .unwrap();
    wait_snapshot(
        &c,
        "the tapped target to go live again",
        Duration::from_secs(30),
        |s| {
            s["targets"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["id"] == *first && t["state"] == "live"))
        },
    );

    // Tap Acknowledge on the failed target's alert.
    browser.tap("#alerts [data-action=ack]").await.unwrap();
    deckcast_tests::util::wait_for(
        "the alert to be acknowledged",
        Duration::from_secs(10),
        || {
            let alerts = c.get_json("/api/v1/alerts")?;
            Ok(alerts["active"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["targetId"] == ids[2]))
                .filter(|a| a["state"] == "acknowledged")
                .cloned())
        },
    )
    .unwrap();
    browser
        .wait_for(
            "the banner to show it acknowledged",
            "document.querySelector('#alerts [data-state=acknowledged]') !== null",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    browser.set_viewport(1400, 900, false).await.unwrap();
    drop(browser);
    assert!(obs.alive(), "{}", obs.failure_report());
}
