//! End-to-end: now playing from DJ software reaches the real OBS. ffmpeg broadcasts Ogg Vorbis
//! with track metadata to the companion's Icecast receiver (as Traktor and Mixxx do), and a
//! VirtualDJ history folder changes, `deckcast listen` sends a tempo, and an MPRIS player plays;
//! the Now Playing source shows each (GetAnalysis text
//! and a screenshot that changes). Tier "e2e".
use std::time::Duration;

use deckcast_tests::companion::{Companion, CompanionHome};
use deckcast_tests::obs::{Obs, ObsOptions};
use deckcast_tests::runtime::Isolation;
use deckcast_tests::util::{free_port, wait_for_async};
use deckcast_tests::vendor;
use obws::requests::inputs::Create;
use obws::requests::scenes::SceneId;
use serde_json::json;

/// What the Now Playing source shows now (GetAnalysis `text`).
async fn text(client: &obws::Client) -> String {
    vendor::ok(client, "GetAnalysis", json!({"source": "Now Playing"}))
        .await
        .map(|v| v["text"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

/// Sends one raw HTTP request to 127.0.0.1:`port`; the response (or the error) as text.
fn raw_http(port: u16, request: &str) -> String {
    use std::io::{Read, Write};
    let mut s = match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) => return format!("connect: {e}"),
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    if let Err(e) = s.write_all(request.as_bytes()) {
        return format!("write: {e}");
    }
    let mut out = Vec::new();
    let _ = s.take(4096).read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig and ffmpeg (see README: the test command runs this tier)"]
async fn icecast_and_virtualdj_titles_show_in_the_now_playing_source() {
    let obs = Obs::start(ObsOptions::default()).unwrap();
    let client = obs.client().await.unwrap();
    client
        .inputs()
        .create(Create {
            scene: SceneId::Name("Scene"),
            input: "Now Playing",
            kind: "deckcast_now_playing",
            settings: Some(json!({"template": "{artist} – {title}", "size": 40})),
            enabled: Some(true),
        })
        .await
        .unwrap();
    let home = CompanionHome::new().unwrap();
    let companion = Companion::start(&home, obs.ws_port, &obs.password).unwrap();
    let c = companion.client().unwrap();
    deckcast_tests::util::wait_for("connected", Duration::from_secs(30), || {
        Ok(c.get_json("/api/v1/snapshot")
            .ok()
            .filter(|s| s["obs"]["state"] == "connected"))
    })
    .unwrap();

    let vdj = home.dir.join("VirtualDJ/History");
    std::fs::create_dir_all(&vdj).unwrap();
    let port = free_port().unwrap();
    // The receiver needs the source password DJ software is configured with; it goes to the
    // keyring and never comes back.
    let sources = json!([{"kind": "icecast", "port": port}, {"kind": "virtualdj", "path": vdj}]);
    let r = c
        .call(
            "PUT",
            "/api/v1/nowplaying/sources",
            Some(&json!({ "sources": sources })),
        )
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("source password"), "{}", r.text());
    let mut with_password = sources.clone();
    with_password[0]["password"] = json!("hackme");
    let r = c
        .call(
            "PUT",
            "/api/v1/nowplaying/sources",
            Some(&json!({ "sources": with_password })),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains("hackme"), "{}", r.text());
    let listed = c.get_json("/api/v1/nowplaying/sources").unwrap();
    assert_eq!(
        listed["sources"], sources,
        "the password is never read back"
    );
    let bad = c
        .call(
            "PUT",
            "/api/v1/nowplaying/sources",
            Some(&json!({"sources": [{"kind": "icecast", "port": 80}]})),
        )
        .unwrap();
    assert_eq!(bad.status, 400);
    deckcast_tests::util::wait_for("the receiver", Duration::from_secs(10), || {
        Ok(deckcast_tests::util::port_open(port).then_some(()))
    })
    .unwrap();

    // A web page the DJ visits (Origin, no credentials) and a wrong password cannot write the
    // overlay.
    let hostile = "GET /admin/metadata?mode=updinfo&song=Pwned%20-%20Overlay HTTP/1.1\r\n";
    let browser = raw_http(
        port,
        &format!("{hostile}Host: 127.0.0.1:{port}\r\nOrigin: https://evil.example\r\n\r\n"),
    );
    assert_eq!(browser.split(' ').nth(1), Some("403"), "{browser}");
    let wrong = raw_http(
        port,
        &format!(
            "{hostile}Host: 127.0.0.1:{port}\r\nAuthorization: Basic c291cmNlOm5vcGU=\r\n\r\n"
        ),
    );
    assert_eq!(wrong.split(' ').nth(1), Some("401"), "{wrong}");

    let before = deckcast_tests::image::source_screenshot(&client, "Now Playing")
        .await
        .unwrap();

    // ffmpeg (in the OBS runtime, like a DJ program) broadcasts Ogg Vorbis with metadata.
    let url = format!("icecast://source:hackme@127.0.0.1:{port}/live.ogg");
    let rt = obs.runtime();
    let mut ffmpeg = rt
        .command(
            "ffmpeg",
            &[
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100",
                "-t",
                "30",
                "-c:a",
                "libvorbis",
                "-b:a",
                "64k",
                "-metadata",
                "ARTIST=Daft Punk",
                "-metadata",
                "TITLE=One More Time",
                "-content_type",
                "application/ogg",
                "-f",
                "ogg",
                &url,
            ],
            &[("PATH", "/usr/bin:/bin".to_owned())],
            &Isolation::default(),
        )
        .spawn()
        .unwrap();
    let shown = wait_for_async(
        "the Icecast title on the source",
        Duration::from_secs(20),
        || async {
            let t = text(&client).await;
            Ok(t.contains("Daft Punk – One More Time").then_some(t))
        },
    )
    .await;
    let _ = deckcast_tests::util::stop_pid(ffmpeg.id(), "TERM", Duration::from_secs(5));
    let _ = ffmpeg.wait();
    let shown = shown.unwrap();
    assert!(!shown.contains("Pwned"), "{shown}");
    let after = deckcast_tests::image::source_screenshot(&client, "Now Playing")
        .await
        .unwrap();
    assert_ne!(before, after, "the text changed on screen");

    // VirtualDJ writes its history: the newest played entry follows.
    std::fs::write(
        vdj.join("2026-11-22.m3u"),
        "#EXTVDJ:<time>21:04</time><artist>Stardust</artist><title>Music Sounds Better With You</title>\r\nC:\\a.mp3\r\n",
    )
    .unwrap();
    wait_for_async("the VirtualDJ title", Duration::from_secs(10), || async {
        Ok(text(&client)
            .await
            .contains("Stardust – Music Sounds Better With You")
            .then_some(()))
    })
    .await
    .unwrap();
    let snap = c.get_json("/api/v1/snapshot").unwrap();
    assert_eq!(snap["nowPlaying"]["title"], "Music Sounds Better With You");
    let history = c.get_json("/api/v1/history?limit=50").unwrap();
    let plays: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "nowplaying")
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(plays.len(), 2, "{plays:?}");
    // `deckcast listen --to-companion` (an audio interface outside OBS) drives {bpm}.
    client
        .inputs()
        .set_settings(obws::requests::inputs::SetSettings {
            input: obws::requests::inputs::InputId::Name("Now Playing"),
            settings: &json!({"template": "{title} · {bpm} BPM"}),
            overlay: Some(true),
        })
        .await
        .unwrap();
    let conf = deckcast_tests::alsa::file_device(
        &home.dir.join("alsa"),
        25.0,
        deckcast_tests::wav::house(128.0),
    )
    .unwrap();
    let out = std::process::Command::new(&deckcast_tests::artifacts::get().unwrap().deckcast)
        .args([
            "listen",
            "--device",
            "alsa:filein",
            "--seconds",
            "20",
            "--to-companion",
            "--api",
        ])
        .arg(format!("http://{}", home.addr()))
        .env("ALSA_CONFIG_PATH", &conf)
        .env("DECKCAST_DASHBOARD_TOKEN", c.token.clone().unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = wait_for_async(
        "the listened tempo on the source",
        Duration::from_secs(10),
        || async {
            let t = text(&client).await;
            Ok(t.contains("Music Sounds Better With You · 128.")
                .then_some(t))
        },
    )
    .await
    .unwrap();
    eprintln!("shown: {shown}");

    // MPRIS (Linux players): a paused player is ignored, a playing one is shown.
    let r = c
        .call(
            "PUT",
            "/api/v1/nowplaying/sources",
            Some(&json!({"sources": [{"kind": "mpris", "player": "deckcasttest"}]})),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    client
        .inputs()
        .set_settings(obws::requests::inputs::SetSettings {
            input: obws::requests::inputs::InputId::Name("Now Playing"),
            settings: &json!({"template": "{artist} – {title}"}),
            overlay: Some(true),
        })
        .await
        .unwrap();
    let bus = std::fs::read_to_string(home.dir.join("companion.pid.bus")).unwrap();
    let paused = deckcast_tests::mpris::FakePlayer::start(
        bus.trim(),
        "deckcasttest.paused",
        "Paused",
        "Nobody",
        "Paused track",
    )
    .unwrap();
    let _playing = deckcast_tests::mpris::FakePlayer::start(
        bus.trim(),
        "deckcasttest.vlc",
        "Playing",
        "Mixxx User",
        "Live Mix",
    )
    .unwrap();
    wait_for_async("the MPRIS title", Duration::from_secs(10), || async {
        Ok(text(&client)
            .await
            .contains("Mixxx User – Live Mix")
            .then_some(()))
    })
    .await
    .unwrap();
    drop(paused);
    assert!(obs.alive());
    drop(companion);
    let _ = std::fs::remove_dir_all(&home.dir);
}
