//! `deckcast-bench`: the multistream benchmark (one command: `scripts/bench.sh`).
//!
//! In one run, on this machine, it measures the CPU the OBS process uses while streaming to a local
//! nginx-rtmp sink in these scenarios, each with a fresh OBS (640x360, 30 fps, x264 ultrafast
//! 1500 kbps, lavfi test pattern + music):
//! - idle: OBS with the plugin, no output;
//! - 1, 2 and 4 targets sharing OBS's streaming encoder;
//! - 4 targets with dedicated encoders at the same settings;
//! - the alternative without Deckcast: OBS streams once to a local nginx-rtmp that `push`es to 4
//!   destinations (OBS CPU and the relay's CPU are both reported).
//!
//! Output: a Markdown table (CPU in cores, ratios to one shared target, dropped frames).
//! Usage: deckcast-bench [--seconds N]   (default 20 s of measurement per scenario)
#![forbid(unsafe_code)]

use std::time::Duration;

use anyhow::{Context, Result, bail};
use deckcast_tests::obs::{Obs, ObsOptions};
use deckcast_tests::rtmp::RtmpServer;
use deckcast_tests::{util, vendor};
use serde_json::json;

struct Row {
    scenario: String,
    obs_cores: f64,
    extra_cores: f64,
    dropped: u64,
    skipped: u64,
}

async fn measure(obs: &Obs, extra_pid: Option<u32>, seconds: u64) -> Result<(f64, f64)> {
    tokio::time::sleep(Duration::from_secs(5)).await; // warm-up: connect, first keyframes
    let (o0, e0) = (
        util::cpu_seconds(obs.pid()).context("OBS cpu")?,
        extra_pid.and_then(util::cpu_seconds).unwrap_or(0.0),
    );
    let t0 = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let dt = t0.elapsed().as_secs_f64();
    let (o1, e1) = (
        util::cpu_seconds(obs.pid()).context("OBS cpu")?,
        extra_pid.and_then(util::cpu_seconds).unwrap_or(0.0),
    );
    Ok(((o1 - o0) / dt, (e1 - e0) / dt))
}

async fn targets_scenario(name: &str, n: usize, dedicated: bool, seconds: u64) -> Result<Row> {
    let sink = RtmpServer::start()?;
    let mut obs = Obs::start(ObsOptions::default())?;
    let client = obs.client().await?;
    let mut ids = Vec::new();
    for i in 0..n {
        let encoder = if dedicated {
            json!({"mode": "dedicated", "config": {"bitrateKbps": 1500, "preset": "ultrafast", "keyintSec": 2}})
        } else {
            json!({"mode": "shared"})
        };
        let v = vendor::ok(&client, "CreateTarget", json!({"name": format!("t{i}"), "server": sink.url(), "key": format!("k{i}"), "encoder": encoder})).await?;
        ids.push(v["target"]["id"].as_str().unwrap_or_default().to_owned());
    }
    if n > 0 {
        vendor::ok(&client, "StartAllTargets", json!({})).await?;
        for id in &ids {
            vendor::wait_state(&client, id, "live", Duration::from_secs(30)).await?;
        }
    }
    let (cores, _) = measure(&obs, None, seconds).await?;
    let mut dropped = 0;
    for id in &ids {
        dropped += vendor::health(&client, id).await?["droppedFrames"]
            .as_u64()
            .unwrap_or(0);
    }
    let stats = client.general().stats().await?;
    drop(client);
    obs.stop();
    Ok(Row {
        scenario: name.into(),
        obs_cores: cores,
        extra_cores: 0.0,
        dropped,
        skipped: u64::from(stats.output_skipped_frames),
    })
}

async fn relay_scenario(seconds: u64) -> Result<Row> {
    let sink = RtmpServer::start_with("application live { live on; record off; }")?;
    let pushes: String = (1..=4)
        .map(|i| format!("push rtmp://127.0.0.1:{}/live/dest{i};", sink.port))
        .collect();
    let relay = RtmpServer::start_with(&format!(
        "application relay {{ live on; record off; {pushes} }}"
    ))?;
    let mut obs = Obs::start(ObsOptions {
        rtmp_server: Some(format!("rtmp://127.0.0.1:{}/relay", relay.port)),
        stream_key: "main".into(),
        ..ObsOptions::default()
    })?;
    let client = obs.client().await?;
    client.streaming().start().await?;
    let (cores, relay_cores) = measure(&obs, relay.pid(), seconds).await?;
    let status = client.streaming().status().await?;
    if !status.active {
        bail!("the main stream to the relay is not active");
    }
    let stats = client.general().stats().await?;
    client.streaming().stop().await?;
    drop(client);
    obs.stop();
    Ok(Row {
        scenario: "main stream to local nginx relay pushing to 4".into(),
        obs_cores: cores,
        extra_cores: relay_cores,
        dropped: u64::from(status.skipped_frames),
        skipped: u64::from(stats.output_skipped_frames),
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut seconds = 20;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().context("--seconds N")?.parse()?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    let mut rows = Vec::new();
    for (name, n, dedicated) in [
        ("OBS idle (plugin loaded, no output)", 0, false),
        ("1 shared-encoder target", 1, false),
        ("2 shared-encoder targets", 2, false),
        ("4 shared-encoder targets", 4, false),
        ("4 dedicated-encoder targets", 4, true),
    ] {
        eprintln!("measuring: {name}");
        rows.push(targets_scenario(name, n, dedicated, seconds).await?);
    }
    eprintln!("measuring: relay");
    rows.push(relay_scenario(seconds).await?);
    let one = rows[1].obs_cores.max(1e-6);
    println!(
        "| scenario | OBS CPU (cores) | relay CPU (cores) | total vs 1 shared target | dropped frames | encoder-lag skipped |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.3} | {} | {:.2}x | {} | {} |",
            r.scenario,
            r.obs_cores,
            if r.extra_cores > 0.0 {
                format!("{:.3}", r.extra_cores)
            } else {
                "–".into()
            },
            (r.obs_cores + r.extra_cores) / one,
            r.dropped,
            r.skipped
        );
    }
    Ok(())
}
