//! End-to-end: the "Deckcast Now Playing" source in a real OBS follows a looping 128 BPM track and
//! shows `SetNowPlaying` text. Tier "e2e" (ignored by default).
use std::time::{Duration, Instant};

use deckcast_tests::image::{Rgba, decode_data_uri, save_data_uri};
use deckcast_tests::obs::{Obs, ObsOptions};
use deckcast_tests::{artifacts, vendor};
use obws::requests::inputs::Create;
use obws::requests::scenes::SceneId;
use serde_json::json;

async fn screenshot(client: &obws::Client, name: &str) -> String {
    deckcast_tests::image::source_screenshot(client, name)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn now_playing_reads_128_bpm_and_shows_the_track() {
    let obs = Obs::start(ObsOptions {
        audio_bpm: 128.0,
        ..ObsOptions::default()
    })
    .unwrap();
    let client = obs.client().await.unwrap();
    let events = deckcast_tests::events::Events::collect(&client).unwrap();
    client
        .inputs()
        .create(Create {
            scene: SceneId::Name("Scene"),
            input: "Now Playing",
            kind: "deckcast_now_playing",
            settings: Some(json!({"audio_source": "Music", "template": "{artist} - {title}  {bpm} BPM", "size": 40})),
            enabled: Some(true),
        })
        .await
        .unwrap();
    let created = Instant::now();

    // The live tempo reaches 128 ± 0.5 within 10 s of the source starting to listen.
    let mut last = json!(null);
    let locked = loop {
        let a = vendor::ok(&client, "GetAnalysis", json!({"source": "Now Playing"}))
            .await
            .unwrap();
        if (a["bpm"].as_f64().unwrap_or(0.0) - 128.0).abs() <= 0.5 {
            break Some(created.elapsed());
        }
        last = a;
        if created.elapsed() > Duration::from_secs(10) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        locked.is_some(),
        "not 128 ± 0.5 within 10 s; last reading {last}\n{}",
        obs.failure_report()
    );
    eprintln!("locked to 128 BPM after {:?}", locked.unwrap());
    assert_eq!(
        vendor::err_code(&client, "GetAnalysis", json!({"source": "Music"}))
            .await
            .unwrap(),
        "not_found",
        "only Now Playing sources have an analysis"
    );

    // A TempoChanged vendor event announces the tempo once the readout is stable.
    let announced = deckcast_tests::util::wait_for_async(
        "a TempoChanged event near 128 BPM",
        Duration::from_secs(8),
        async || {
            Ok(events
                .all()
                .iter()
                .filter(|e| e.kind == "TempoChanged")
                .filter_map(|e| e.data["bpm"].as_f64())
                .find(|b| (b - 128.0).abs() <= 0.5))
        },
    )
    .await;
    assert!(announced.is_ok(), "{announced:?}");

    let before = screenshot(&client, "Now Playing").await;
    vendor::ok(
        &client,
        "SetNowPlaying",
        json!({"artist": "Daft Punk", "title": "One More Time", "bpm": 122.0}),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = screenshot(&client, "Now Playing").await;
    assert_ne!(before, after, "the text changed on screen");
    // A rendered line of text compresses to far more than an empty image.
    assert!(
        after.len() > 2_000,
        "screenshot is blank: {} bytes",
        after.len()
    );
    let dir = artifacts::artifacts_dir().unwrap();
    std::fs::write(dir.join("now-playing.png.b64"), &after).unwrap();
    assert_eq!(
        vendor::err_code(&client, "SetNowPlaying", json!({"artist": "x"}))
            .await
            .unwrap(),
        "invalid_request"
    );
    // The properties dialog offers the audio sources to listen to.
    let items = client
        .inputs()
        .properties_list_property_items(
            obws::requests::inputs::InputId::Name("Now Playing"),
            "audio_source",
        )
        .await
        .unwrap();
    assert!(items.iter().any(|i| i.value == json!("Music")), "{items:?}");
    // Style settings reach the text: a bigger font makes a bigger source.
    let small = screenshot(&client, "Now Playing").await.len();
    client
        .inputs()
        .set_settings(obws::requests::inputs::SetSettings {
            input: obws::requests::inputs::InputId::Name("Now Playing"),
            settings: &json!({"size": 80}),
            overlay: Some(true),
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let big = screenshot(&client, "Now Playing").await.len();
    assert!(
        big > small,
        "font size 80 should render larger than 40 ({big} <= {small} bytes)"
    );
    // Alignment: a two-line template in a fixed 900x200 box. Each line sits flush right, centred or
    // flush left, and the block at the bottom, centre or top.
    let lines = |img: &Rgba| {
        let (_, y0, _, y1) = img.opaque_bounds(0, img.height).expect("text is drawn");
        let mid = (y0 + y1) / 2;
        (
            img.opaque_bounds(y0, mid).unwrap(),
            img.opaque_bounds(mid, y1 + 1).unwrap(),
        )
    };
    for (align, valign) in [("right", "bottom"), ("center", "center"), ("left", "top")] {
        client
            .inputs()
            .set_settings(obws::requests::inputs::SetSettings {
                input: obws::requests::inputs::InputId::Name("Now Playing"),
                settings: &json!({"template": "{artist}\n{title}", "size": 40, "align": align,
                    "valign": valign, "box_width": 900, "box_height": 200}),
                overlay: Some(true),
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let uri = screenshot(&client, "Now Playing").await;
        save_data_uri(&uri, &format!("now-playing-{align}-{valign}")).unwrap();
        let img = decode_data_uri(&uri).unwrap();
        assert_eq!((img.width, img.height), (900, 200), "the box sets the size");
        let (first, second) = lines(&img);
        assert!(
            (first.2 - first.0).abs_diff(second.2 - second.0) > 40,
            "two lines of different widths: {first:?} {second:?}"
        );
        for line in [first, second] {
            let centre = (line.0 + line.2) / 2;
            match align {
                "right" => assert!(line.2 >= 880, "{align}: {line:?}"),
                "center" => assert!(centre.abs_diff(450) <= 12, "{align}: {line:?}"),
                _ => assert!(line.0 <= 12, "{align}: {line:?}"),
            }
        }
        let block = (first.1, second.3);
        match valign {
            "bottom" => assert!(block.1 >= 180 && block.0 > 60, "{valign}: {block:?}"),
            "center" => assert!(
                (block.0 + block.1) / 2 >= 85 && (block.0 + block.1) / 2 <= 115,
                "{valign}: {block:?}"
            ),
            _ => assert!(block.0 <= 20 && block.1 < 140, "{valign}: {block:?}"),
        }
    }
    assert!(obs.alive());
}

/// The live path in OBS runs the same tracker as `deckcast analyze`: three tracks of the tempo
/// corpus (tests/rig/tempo-corpus, rendered by scripts/deps.sh; 44.1 and 48 kHz files, which OBS
/// resamples to its 48 kHz), each played once by a media source with a Now Playing source
/// listening to it, end on the same reading as `analyze` gives the file, within 0.2 BPM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn the_live_readout_in_obs_matches_analyze_on_corpus_tracks() {
    let corpus = artifacts::tempo_corpus().join("tune");
    let deckcast = &artifacts::get().unwrap().deckcast;
    let obs = Obs::start(ObsOptions::default()).unwrap();
    let client = obs.client().await.unwrap();
    let tracks = ["house-124.wav", "dnb-174.wav", "live-rock-110.wav"];
    let mut expected = Vec::new();
    for (i, track) in tracks.iter().enumerate() {
        let file = corpus.join(track);
        let out = std::process::Command::new(deckcast)
            .arg("analyze")
            .arg(&file)
            .arg("--json")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        expected.push(v["bpm"].as_f64().unwrap());
        let copy = obs.dir().join(track);
        std::fs::copy(&file, &copy)
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/deps.sh)", file.display()));
        let media = format!("Track {i}");
        client
            .inputs()
            .create(Create {
                scene: SceneId::Name("Scene"),
                input: &media,
                kind: "ffmpeg_source",
                settings: Some(json!({"is_local_file": true, "local_file": obs.runtime().guest_path(&copy), "looping": false})),
                enabled: Some(true),
            })
            .await
            .unwrap();
        client
            .inputs()
            .create(Create {
                scene: SceneId::Name("Scene"),
                input: &format!("Tempo {i}"),
                kind: "deckcast_now_playing",
                settings: Some(json!({"audio_source": media, "template": "{bpm}"})),
                enabled: Some(true),
            })
            .await
            .unwrap();
    }
    // The files are 30 s long (plus the last bar's tail); once they have ended the readouts hold
    // their last value.
    tokio::time::sleep(Duration::from_secs(36)).await;
    for (i, track) in tracks.iter().enumerate() {
        let a = vendor::ok(
            &client,
            "GetAnalysis",
            json!({"source": format!("Tempo {i}")}),
        )
        .await
        .unwrap();
        let live = a["bpm"].as_f64().unwrap_or(0.0);
        eprintln!("{track}: live {live:.2}, analyze {:.2}", expected[i]);
        assert!(
            (live - expected[i]).abs() <= 0.2,
            "{track}: OBS read {a}, analyze {:.2}\n{}",
            expected[i],
            obs.failure_report()
        );
    }
}
