//! `deckcast-lab`: the README's "run" command. Starts a real OBS (the host's if ≥ 30.2, else the
//! rig's Debian chroot, headless under Xvfb) with the freshly built Deckcast plugin and a persistent
//! profile, checks it with the companion (`deckcast status`), starts the companion service
//! (`deckcast serve`, in a D-Bus session with an unlocked keyring, as a desktop login provides) with
//! its dashboard, and keeps both running until Ctrl-C, then shuts them down cleanly.
//!
//! Usage: deckcast-lab [--home DIR] [--port PORT] [--dashboard-port PORT]
//!   --home            OBS and companion homes kept across runs (default: $HOME/.local/share/deckcast/lab)
//!   --port            obs-websocket port for a new home (default 4455)
//!   --dashboard-port  the companion's dashboard and API (default 8750)
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use deckcast_tests::artifacts;
use deckcast_tests::companion::{Companion, CompanionHome};
use deckcast_tests::obs::{Obs, ObsOptions};

fn parse_args() -> Result<(PathBuf, u16, u16)> {
    let mut home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".local/share/deckcast/lab");
    let mut port = 4455;
    let mut dashboard = 8750;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--home" => home = PathBuf::from(args.next().context("--home needs a directory")?),
            "--port" => {
                port = args
                    .next()
                    .context("--port needs a number")?
                    .parse()
                    .context("--port")?
            }
            "--dashboard-port" => {
                dashboard = args
                    .next()
                    .context("--dashboard-port needs a number")?
                    .parse()
                    .context("--dashboard-port")?
            }
            "-h" | "--help" => {
                println!("usage: deckcast-lab [--home DIR] [--port PORT] [--dashboard-port PORT]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    Ok((home, port, dashboard))
}

#[tokio::main]
async fn main() -> Result<()> {
    let (home, port, dashboard) = parse_args()?;
    let a = artifacts::get()?;
    let mut obs = Obs::start(ObsOptions {
        home: Some(home.clone()),
        ws_port: Some(port),
        ..ObsOptions::default()
    })?;
    println!(
        "OBS {} runs with the Deckcast plugin (pid {}, X display :{}); obs-websocket on 127.0.0.1:{}.",
        obs.runtime().obs_version(),
        obs.pid(),
        obs.display,
        obs.ws_port
    );
    println!(
        "OBS home: {} (the websocket password is in obs-studio/plugin_config/obs-websocket/config.json there).",
        home.display()
    );
    // The companion gets the password through its environment, never on the command line.
    let status = Command::new(&a.deckcast)
        .arg("status")
        .env("DECKCAST_OBS_PORT", obs.ws_port.to_string())
        .env("DECKCAST_OBS_PASSWORD", &obs.password)
        .status()
        .context("running deckcast status")?;
    if !status.success() {
        eprintln!("{}", obs.failure_report());
        bail!("deckcast status failed ({status})");
    }
    let companion_home = CompanionHome::persistent(&home.join("companion"), dashboard)?;
    let mut companion = Companion::start(&companion_home, obs.ws_port, &obs.password)?;
    let token = companion.token()?;
    println!(
        "Companion (deckcast serve, pid {}): dashboard at http://{}/ — log in with the token {token}",
        companion.pid(),
        companion_home.addr()
    );
    println!(
        "  (its log: {}; database: {})",
        companion.log_path().display(),
        companion_home.data_dir().display()
    );
    println!("Press Ctrl-C to stop the companion and OBS.");
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        () = async { while obs.alive() { tokio::time::sleep(std::time::Duration::from_millis(500)).await } } => {
            bail!("OBS exited on its own:\n{}", obs.failure_report());
        }
    }
    println!("stopping the companion ...");
    if !companion.stop() {
        eprintln!(
            "the companion did not stop cleanly:\n{}",
            companion.log_text()
        );
    }
    println!("stopping OBS ...");
    if !obs.stop() {
        bail!("OBS did not shut down cleanly:\n{}", obs.failure_report());
    }
    println!("OBS stopped cleanly.");
    Ok(())
}
