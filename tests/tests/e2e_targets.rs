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
    vendor::ok(&client, "StopAllTargets", json!({}))
        .await
        .unwrap();
    for id in &ids {
        vendor::wait_state(&client, id, "idle", Duration::from_secs(15))
            .await
            .unwrap();
    }
}
