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
//!
//! `dsp`: real-time factors of the tempo tracker and the spectrum analyzer on 60 s of generated
//! 48 kHz stereo house at 90/128/140/174 BPM, the tempo they find and when, and Debian's
//! `aubio tempo` on the same files as the reference for speed and accuracy.
//! `visualizer`: OBS's CPU and average frame render time with and without a 64-bar visualizer.
//! `companion`: `deckcast serve`'s RSS and CPU while following 4 live targets, and the latency
//! from a target state change in OBS (a `StopTarget`/`StartTarget` sent straight to the plugin)
//! to the companion's Server-Sent Events update that the dashboard renders (median, p99).
//! `calendar`: wall time of the release `deckcast feeds preview` (process start to exit, median of
//! 5) on the recurring-ical-events test corpus (one 91-day window per calendar), on a large
//! realistic feed (2,000 weekly sets over ten years with exceptions) and on the worst case the
//! reader's limits allow (2,000 minutely rules from 1990).
//!
//! Usage: deckcast-bench [all|targets|dsp|visualizer|companion|calendar] [--seconds N]   (default all, 20 s per scenario)
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

fn dsp_bench() -> Result<()> {
    use deckcast_dsp::spectrum::{SpectrumAnalyzer, SpectrumConfig};
    use deckcast_dsp::tempo::{TempoConfig, TempoTracker};
    let sr = 48_000u32;
    let secs = 60.0;
    let dir = std::env::temp_dir().join(format!("deckcast-bench-dsp-{}", util::random_hex(4)?));
    std::fs::create_dir_all(&dir)?;
    println!(
        "| input (60 s, 48 kHz stereo) | tracker BPM | locked (±0.5) after | tracker RTF | `aubio tempo` BPM | `aubio tempo` RTF | spectrum RTF (60 fps) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for bpm in [90.0, 128.0, 140.0, 174.0] {
        let f = deckcast_tests::wav::house(bpm);
        let n = (secs * f64::from(sr)) as usize;
        let stereo: Vec<f32> = (0..n)
            .flat_map(|i| {
                let v = f(i as f64 / f64::from(sr)) as f32;
                [v, v]
            })
            .collect();
        let wav = dir.join(format!("house{bpm}.wav"));
        deckcast_tests::wav::write(&wav, sr, 2, secs, deckcast_tests::wav::house(bpm))?;

        let mut tracker = TempoTracker::new(TempoConfig {
            sample_rate: sr,
            ..TempoConfig::default()
        })?;
        let mut locked: Option<f64> = None;
        let t0 = std::time::Instant::now();
        for (i, block) in stereo.chunks(2048).enumerate() {
            tracker.process_interleaved(block, 2);
            let r = tracker.reading();
            let t = ((i + 1) * 1024) as f64 / f64::from(sr);
            match locked {
                None if (r.bpm - bpm).abs() <= 0.5 => locked = Some(t),
                Some(_) if (r.bpm - bpm).abs() > 0.5 => locked = None,
                _ => {}
            }
        }
        let tracker_rtf = secs / t0.elapsed().as_secs_f64();
        let found = tracker.reading().bpm;

        let mut spectrum = SpectrumAnalyzer::new(SpectrumConfig {
            sample_rate: sr,
            bands: 64,
            ..SpectrumConfig::default()
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let t0 = std::time::Instant::now();
        for block in stereo.chunks(1600) {
            spectrum.push_interleaved(block, 2);
            std::hint::black_box(spectrum.analyze(1.0 / 60.0).sum::<f32>());
        }
        let spectrum_rtf = secs / t0.elapsed().as_secs_f64();

        let t0 = std::time::Instant::now();
        let aubio = std::process::Command::new("aubio")
            .arg("tempo")
            .arg(&wav)
            .output();
        let aubio_time = t0.elapsed().as_secs_f64();
        let (aubio_bpm, aubio_rtf) = match aubio {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                let bpm = text
                    .split_whitespace()
                    .find_map(|w| w.parse::<f64>().ok())
                    .map_or("?".into(), |b| format!("{b:.2}"));
                (bpm, format!("{:.0}x", secs / aubio_time))
            }
            _ => ("(aubio-tools missing)".into(), "–".into()),
        };
        println!(
            "| house {bpm} BPM | {found:.2} | {} | {tracker_rtf:.0}x | {aubio_bpm} | {aubio_rtf} | {spectrum_rtf:.0}x |",
            locked.map_or("never".into(), |t| format!("{t:.1} s")),
        );
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

async fn visualizer_bench(seconds: u64) -> Result<()> {
    println!("| scene | OBS CPU (cores) | average frame render time (ms) |");
    println!("|---|---|---|");
    for with_viz in [false, true] {
        let mut obs = Obs::start(ObsOptions::default())?;
        let client = obs.client().await?;
        if with_viz {
            client
                .inputs()
                .create(obws::requests::inputs::Create {
                    scene: obws::requests::scenes::SceneId::Name("Scene"),
                    input: "Viz",
                    kind: "deckcast_visualizer",
                    settings: Some(
                        json!({"audio_source": "Music", "bars": 64, "width": 640, "height": 360}),
                    ),
                    enabled: Some(true),
                })
                .await?;
        }
        let (cores, _) = measure(&obs, None, seconds).await?;
        let stats = client.general().stats().await?;
        println!(
            "| test pattern + music{} | {cores:.3} | {:.3} |",
            if with_viz {
                " + 64-bar visualizer (640x360)"
            } else {
                ""
            },
            stats.average_frame_render_time
        );
        drop(client);
        obs.stop();
    }
    Ok(())
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn companion_bench(seconds: u64) -> Result<()> {
    use deckcast_tests::companion::{Companion, CompanionHome};
    use deckcast_tests::http::EventStream;
    let sink = RtmpServer::start()?;
    let obs = Obs::start(ObsOptions::default())?;
    let home = CompanionHome::new()?;
    let companion = Companion::start(&home, obs.ws_port, &obs.password)?;
    let api = companion.client()?;
    util::wait_for("the companion to connect", Duration::from_secs(30), || {
        Ok(api
            .get_json("/api/v1/snapshot")
            .ok()
            .filter(|s| s["obs"]["state"] == "connected"))
    })?;
    let mut ids = Vec::new();
    for i in 0..4 {
        let r = api.post(
            "/api/v1/targets",
            &json!({"name": format!("T{i}"), "platform": "custom", "server": sink.url(), "key": format!("k{i}")}),
        )?;
        if r.status != 201 {
            bail!("create: {} {}", r.status, r.text());
        }
        ids.push(r.json()?["target"]["id"].as_str().context("id")?.to_owned());
    }
    for id in &ids {
        api.post(&format!("/api/v1/targets/{id}/start"), &json!({}))?;
    }
    util::wait_for("4 live targets", Duration::from_secs(30), || {
        Ok(api.get_json("/api/v1/snapshot").ok().filter(|s| {
            s["targets"]
                .as_array()
                .is_some_and(|t| t.iter().filter(|t| t["state"] == "live").count() == 4)
        }))
    })?;
    // Resources while following 4 live targets (health every second, samples to SQLite).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let c0 = util::cpu_seconds(companion.pid()).context("companion cpu")?;
    let t0 = std::time::Instant::now();
    let mut peak_rss: f64 = 0.0;
    while t0.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        peak_rss = peak_rss.max(rss_mib(companion.pid()).unwrap_or(0.0));
    }
    let cpu = (util::cpu_seconds(companion.pid()).context("companion cpu")? - c0)
        / t0.elapsed().as_secs_f64();
    // Latency: OBS state change -> SSE update.
    let (tx, rx) = std::sync::mpsc::channel::<(std::time::Instant, serde_json::Value)>();
    let mut sse = EventStream::open(
        home.addr(),
        "/api/v1/events",
        api.token.as_deref().unwrap_or(""),
    )?;
    std::thread::spawn(move || {
        while let Ok(ev) = sse.next_event() {
            let Ok(v) = serde_json::from_str(&ev.data) else {
                continue;
            };
            if tx.send((std::time::Instant::now(), v)).is_err() {
                break;
            }
        }
    });
    let client = obs.client().await?;
    let target = ids[0].clone();
    let state_of = |v: &serde_json::Value| {
        v["targets"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["id"] == target.as_str()))
            .and_then(|t| t["state"].as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let mut latencies = Vec::new();
    for round in 0..30 {
        let stop = round % 2 == 0;
        while rx.try_recv().is_ok() {}
        let t = std::time::Instant::now();
        vendor::ok(
            &client,
            if stop { "StopTarget" } else { "StartTarget" },
            json!({"id": ids[0]}),
        )
        .await?;
        loop {
            let (at, snap) = rx
                .recv_timeout(Duration::from_secs(10))
                .context("no SSE update within 10 s")?;
            let st = state_of(&snap);
            let changed = if stop {
                st == "stopping" || st == "idle"
            } else {
                st == "connecting" || st == "live"
            };
            if changed {
                latencies.push(at.duration_since(t).as_secs_f64() * 1000.0);
                break;
            }
        }
        // Let it settle (live again, or fully idle) before the next change.
        let want = if stop { "idle" } else { "live" };
        let settle = std::time::Instant::now();
        while settle.elapsed() < Duration::from_secs(15) {
            let (_, snap) = rx
                .recv_timeout(Duration::from_secs(15))
                .context("settling")?;
            if state_of(&snap) == want {
                break;
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    println!("| companion, 4 live targets | value |");
    println!("|---|---|");
    println!("| CPU (cores, {seconds} s) | {cpu:.4} |");
    println!("| peak RSS (MiB) | {peak_rss:.1} |");
    println!(
        "| OBS state change → SSE update, median (ms, n={}) | {:.2} |",
        latencies.len(),
        percentile(&latencies, 0.5)
    );
    println!(
        "| OBS state change → SSE update, p99 (ms) | {:.2} |",
        percentile(&latencies, 0.99)
    );
    drop(companion);
    let _ = std::fs::remove_dir_all(&home.dir);
    Ok(())
}

/// Median wall time (ms) of `deckcast feeds preview` with `args`, over 5 runs.
fn preview_ms(deckcast: &std::path::Path, args: &[&str]) -> Result<f64> {
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let out = std::process::Command::new(deckcast)
            .args(["feeds", "preview"])
            .args(args)
            .env("TZ", "UTC")
            .output()?;
        if !out.status.success() {
            bail!(
                "feeds preview {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(percentile(&times, 0.5))
}

fn calendar_bench() -> Result<()> {
    let deckcast = &deckcast_tests::artifacts::get()?.deckcast;
    let dir = std::env::temp_dir().join(format!("deckcast-bench-cal-{}", util::random_hex(4)?));
    std::fs::create_dir_all(&dir)?;
    let event = |i: usize, rule: &str, start: &str| {
        format!(
            "BEGIN:VEVENT\r\nUID:e{i}@bench\r\nSUMMARY:Set {i}\r\nDTSTART;TZID=Europe/Berlin:{start}\r\n\
DURATION:PT2H\r\nRRULE:{rule}\r\nEXDATE;TZID=Europe/Berlin:20270305T220000\r\nEND:VEVENT\r\n"
        )
    };
    let big: String = (0..2_000)
        .map(|i| event(i, "FREQ=WEEKLY;UNTIL=20361231T000000Z", "20261204T220000"))
        .collect();
    let worst: String = (0..2_000)
        .map(|i| event(i, "FREQ=MINUTELY", "19900101T000000"))
        .collect();
    let wrap = |body: &str| format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{body}END:VCALENDAR\r\n");
    std::fs::write(dir.join("big.ics"), wrap(&big))?;
    std::fs::write(dir.join("worst.ics"), wrap(&worst))?;
    let window = [
        "--from",
        "2027-01-01T00:00:00Z",
        "--to",
        "2027-04-01T00:00:00Z",
    ];
    println!("| `deckcast feeds preview` (release, median of 5) | wall time (ms) |");
    println!("|---|---|");
    let corpus = std::path::PathBuf::from(
        std::env::var("DECKCAST_CACHE").unwrap_or_else(|_| "/var/cache/deckcast".into()),
    )
    .join("calendar-oracle/corpus/recurring-ical-events");
    if let Ok(entries) = std::fs::read_dir(&corpus) {
        let files: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "ics"))
            .collect();
        let mut total = 0.0;
        for f in &files {
            total += preview_ms(deckcast, &[&f.to_string_lossy(), "--json"])?;
        }
        println!(
            "| recurring-ical-events corpus, {} calendars, sum | {total:.0} |",
            files.len()
        );
        println!(
            "| … per calendar, mean | {:.1} |",
            total / files.len().max(1) as f64
        );
    }
    for (file, label) in [
        ("big.ics", "2,000 weekly sets over ten years"),
        (
            "worst.ics",
            "2,000 minutely rules from 1990 (the step limits)",
        ),
    ] {
        let path = dir.join(file);
        let path_text = path.to_string_lossy().into_owned();
        let mut args = vec![path_text.as_str(), "--json"];
        args.extend(window);
        let ms = preview_ms(deckcast, &args)?;
        let kib = std::fs::metadata(&path)?.len() / 1024;
        println!("| {label} ({kib} KiB) | {ms:.0} |");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut seconds = 20;
    let mut what = "all".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().context("--seconds N")?.parse()?,
            "all" | "targets" | "dsp" | "visualizer" | "companion" | "calendar" => what = a,
            other => bail!("unknown argument {other:?}"),
        }
    }
    if what == "all" || what == "dsp" {
        dsp_bench()?;
        println!();
    }
    if what == "all" || what == "visualizer" {
        visualizer_bench(seconds).await?;
        println!();
    }
    if what == "all" || what == "companion" {
        companion_bench(seconds).await?;
        println!();
    }
    if what == "all" || what == "calendar" {
        calendar_bench()?;
        println!();
    }
    if what != "all" && what != "targets" {
        return Ok(());
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
