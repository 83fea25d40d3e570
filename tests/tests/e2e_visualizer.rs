//! End-to-end: the "Deckcast Visualizer" in a real OBS is flat without audio and shows bars while the
//! music plays. Tier "e2e" (ignored by default).
use std::time::Duration;

use deckcast_tests::image::{Rgba, decode_data_uri, source_screenshot};
use deckcast_tests::obs::{Obs, ObsOptions};
use obws::requests::inputs::{Create, InputId, SetSettings};
use obws::requests::scenes::SceneId;
use serde_json::json;

/// The visualizer's screenshot (kept as `target/e2e-artifacts/<keep>.png` if named), decoded.
async fn shot(client: &obws::Client, keep: Option<&str>) -> Rgba {
    let uri = source_screenshot(client, "Viz").await.unwrap();
    if let Some(name) = keep {
        deckcast_tests::image::save_data_uri(&uri, name).unwrap();
    }
    let img = decode_data_uri(&uri).unwrap();
    assert_eq!((img.width, img.height), (800, 200));
    img
}

async fn coverage(client: &obws::Client) -> f64 {
    shot(client, None).await.coverage()
}

async fn coverage_saved(client: &obws::Client, keep: Option<&str>) -> f64 {
    shot(client, keep).await.coverage()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn the_visualizer_is_flat_in_silence_and_moves_with_the_music() {
    let obs = Obs::start(ObsOptions::default()).unwrap();
    let client = obs.client().await.unwrap();
    client
        .inputs()
        .create(Create {
            scene: SceneId::Name("Scene"),
            input: "Viz",
            kind: "deckcast_visualizer",
            settings: Some(json!({"audio_source": "", "bars": 32, "width": 800, "height": 200})),
            enabled: Some(true),
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let silent = coverage(&client).await;
    assert!(
        silent < 0.001,
        "bars must rest at zero without audio: {silent}"
    );

    // The music source appears to the visualizer (as a late source would): bars show up.
    client
        .inputs()
        .set_settings(SetSettings {
            input: InputId::Name("Viz"),
            settings: &json!({"audio_source": "Music"}),
            overlay: Some(true),
        })
        .await
        .unwrap();
    let mut best = 0.0f64;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        best = best.max(coverage_saved(&client, Some("visualizer-bars")).await);
    }
    assert!(
        best > 0.03,
        "bars should cover part of the source while music plays: {best}\n{}",
        obs.failure_report()
    );
    for mode in ["mirrored", "line", "radial"] {
        client
            .inputs()
            .set_settings(SetSettings {
                input: InputId::Name("Viz"),
                settings: &json!({"mode": mode}),
                overlay: Some(true),
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        // A frame in a quiet moment of the music may show next to nothing: look at a few.
        let mut c = 0.0f64;
        for _ in 0..8 {
            c = c.max(coverage_saved(&client, Some(&format!("visualizer-{mode}"))).await);
            if c > 0.005 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(c > 0.005, "{mode}: nothing drawn ({c})");
    }
    // Rounded ends in red: the bars keep their colour and reach the bottom rows.
    client
        .inputs()
        .set_settings(SetSettings {
            input: InputId::Name("Viz"),
            settings: &json!({"mode": "bars", "rounded": true, "color": 0xFF00_00FFu32}),
            overlay: Some(true),
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    // A frame in a quiet moment of the music may have no bars: look at a few.
    let mut low = None;
    for _ in 0..12 {
        let img = shot(&client, Some("visualizer-rounded")).await;
        low = img.mean_rgb(180, 200);
        if low.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let low = low.expect("bars reach the bottom rows");
    assert!(
        low[0] > 200.0 && low[2] < 60.0,
        "the bars should be red: {low:?}"
    );
    // A gradient from red at the base to blue at the peaks: the bottom rows are red, the highest
    // drawn rows are clearly bluer.
    client
        .inputs()
        .set_settings(SetSettings {
            input: InputId::Name("Viz"),
            settings: &json!({"rounded": false, "gradient": true, "color2": 0xFFFF_0000u32}),
            overlay: Some(true),
        })
        .await
        .unwrap();
    let blueness = |c: [f64; 3]| c[2] / (c[0] + c[2]).max(1.0);
    let mut best_top = 0.0f64;
    let mut bottom = 1.0f64;
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let img = shot(&client, Some("visualizer-gradient")).await;
        let Some(top) = img.first_opaque_row() else {
            continue;
        };
        if top > 120 {
            continue; // bars too low in this frame to tell the ends apart
        }
        let (Some(peak), Some(base)) = (img.mean_rgb(top, top + 8), img.mean_rgb(190, 200)) else {
            continue;
        };
        best_top = best_top.max(blueness(peak));
        bottom = bottom.min(blueness(base));
    }
    assert!(
        bottom < 0.15 && best_top > bottom + 0.3,
        "gradient: base blueness {bottom:.2}, peak blueness {best_top:.2}"
    );
    // OBS's output mix (what the stream hears) works as an audio source too.
    client
        .inputs()
        .set_settings(SetSettings {
            input: InputId::Name("Viz"),
            settings: &json!({"audio_source": "__output_mix__", "rounded": false}),
            overlay: Some(true),
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut mix_best = 0.0f64;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        mix_best = mix_best.max(coverage(&client).await);
    }
    assert!(
        mix_best > 0.03,
        "the output mix should drive the bars: {mix_best}"
    );
    // Analyzer settings reach the analyzer: a floor of -6 dBFS leaves little above it, and settings
    // the analyzer refuses (lowest frequency above the highest) fall back to the defaults instead
    // of blanking the source.
    let coverage_with = async |settings: serde_json::Value| {
        client
            .inputs()
            .set_settings(SetSettings {
                input: InputId::Name("Viz"),
                settings: &settings,
                overlay: Some(true),
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        let mut best = 0.0f64;
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            best = best.max(coverage(&client).await);
        }
        best
    };
    let high_floor = coverage_with(json!({"floor_db": -6})).await;
    assert!(
        high_floor < mix_best * 0.5,
        "a -6 dB floor should shrink the bars: {high_floor} vs {mix_best}"
    );
    let refused = coverage_with(json!({"floor_db": -70, "min_hz": 20000, "max_hz": 100})).await;
    assert!(
        refused > 0.03,
        "refused analyzer settings must fall back, not blank the source: {refused}"
    );
    assert!(obs.alive());
}
