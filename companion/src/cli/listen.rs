//! `deckcast listen`: the tempo of an audio interface outside OBS, printed as a timeline and, with
//! `--to-companion`, sent to the running companion as the live tempo of the Now Playing sources.
use deckcast_companion::analyze::{Analysis, point};
use deckcast_companion::listen::{ListenOptions, devices, listen};
use deckcast_dsp::tempo::{Correction, TempoConfig};

use super::args::ApiArgs;
use super::client::Client;

/// What `deckcast listen` was asked.
#[derive(Debug)]
pub struct Options {
    /// Input device id (the default input if `None`).
    pub device: Option<String>,
    /// List devices and exit.
    pub list: bool,
    /// Stop after this many seconds of audio.
    pub seconds: Option<f64>,
    /// Lowest BPM.
    pub min_bpm: f64,
    /// Highest BPM (exclusive).
    pub max_bpm: f64,
    /// Correction after folding.
    pub correction: Correction,
    /// Timeline step (s).
    pub step: f64,
    /// JSON at the end instead of text as it goes.
    pub json: bool,
    /// Send stable readings to the companion at this API.
    pub to_companion: Option<ApiArgs>,
}

/// Runs `deckcast listen`.
pub async fn command(o: Options) -> anyhow::Result<()> {
    if o.list {
        for d in tokio::task::spawn_blocking(devices).await? {
            println!("{d}");
        }
        return Ok(());
    }
    if o.step.is_nan() || o.step <= 0.0 {
        anyhow::bail!("--step must be positive");
    }
    let opts = ListenOptions {
        device: o.device,
        seconds: o.seconds,
        tempo: TempoConfig {
            sample_rate: 48_000,
            min_bpm: o.min_bpm,
            max_bpm: o.max_bpm,
            correction: o.correction,
        },
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<f64>();
    let sender = match o.to_companion {
        Some(api) => {
            let client = Client::open(&api).await?;
            Some(tokio::spawn(async move {
                while let Some(bpm) = rx.recv().await {
                    if let Err(e) = client.set_tempo(bpm).await {
                        eprintln!("deckcast: sending the tempo to the companion: {e:#}");
                    }
                }
            }))
        }
        None => None,
    };
    let (step, json) = (o.step, o.json);
    let (timeline, rate, last) = tokio::task::spawn_blocking(move || {
        let mut timeline = Vec::new();
        let mut next = step;
        let mut sent = 0.0f64;
        let r = listen(&opts, |t, r| {
            while t >= next {
                let p = point(next, *r);
                if !json {
                    print!("{}", Analysis::line(&p));
                }
                timeline.push(p);
                next += step;
            }
            if r.stable && (r.bpm - sent).abs() >= 0.1 {
                sent = r.bpm;
                let _ = tx.send(r.bpm);
            }
        });
        r.map(|(rate, last)| (timeline, rate, last))
    })
    .await??;
    if let Some(s) = sender {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s).await;
    }
    let analysis = Analysis {
        sample_rate: rate,
        duration_s: timeline.last().map_or(0.0, |p| p.time_s),
        timeline,
        bpm: last.bpm,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&analysis)?);
    } else if last.bpm > 0.0 {
        println!("tempo: {:.1} BPM", last.bpm);
    } else {
        println!("tempo: not found (no steady beat)");
    }
    Ok(())
}
