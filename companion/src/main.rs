//! `deckcast`: the Deckcast companion's command line.
//!
//! Exit codes: 0 success, 1 other errors, 2 usage, 3 OBS unreachable, 4 authentication failed,
//! 5 Deckcast plugin missing, 6 unsupported OBS or obs-websocket version, 7 OBS still starting.
#![forbid(unsafe_code)]

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use deckcast_companion::Secret;
use deckcast_companion::analyze::analyze;
use deckcast_companion::obs_link::{ConnectOptions, LinkError};
use deckcast_companion::status::Status;
use deckcast_dsp::tempo::Correction;

#[derive(Debug, Parser)]
#[command(
    name = "deckcast",
    version,
    about = "Deckcast companion: multistreaming and live tools for OBS Studio"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show OBS, obs-websocket and Deckcast plugin versions.
    Status {
        #[command(flatten)]
        obs: ObsArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the BPM timeline and final tempo of a WAV file (the same tracker as the OBS source).
    Analyze {
        /// The WAV file (16/24/32-bit integer or float, any sample rate and channel count).
        file: std::path::PathBuf,
        /// Lowest BPM to report (readings fold into the range by octaves).
        #[arg(long, default_value_t = 70.0)]
        min_bpm: f64,
        /// Highest BPM (exclusive).
        #[arg(long, default_value_t = 180.0)]
        max_bpm: f64,
        /// Correction after folding.
        #[arg(long, value_enum, default_value = "none")]
        correction: CorrectionArg,
        /// Timeline step in seconds.
        #[arg(long, default_value_t = 1.0)]
        step: f64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CorrectionArg {
    None,
    Double,
    Half,
    TwoThirds,
}

/// How to reach OBS. The password is never taken from the command line (argv is visible to every
/// user of the machine): use DECKCAST_OBS_PASSWORD or --password-stdin.
#[derive(Debug, Args)]
struct ObsArgs {
    /// obs-websocket host.
    #[arg(long, env = "DECKCAST_OBS_HOST", default_value = "127.0.0.1")]
    host: String,
    /// obs-websocket port.
    #[arg(long, env = "DECKCAST_OBS_PORT", default_value_t = 4455)]
    port: u16,
    /// Read the obs-websocket password from standard input (first line).
    #[arg(long)]
    password_stdin: bool,
}

impl ObsArgs {
    fn resolve(&self) -> anyhow::Result<ConnectOptions> {
        let password = if self.password_stdin {
            let mut line = String::new();
            std::io::stdin()
                .read_to_string(&mut line)
                .context("reading the password from standard input")?;
            Secret::new(line.lines().next().unwrap_or_default())
        } else {
            std::env::var("DECKCAST_OBS_PASSWORD")
                .ok()
                .and_then(Secret::new)
        };
        Ok(ConnectOptions {
            host: self.host.clone(),
            port: self.port,
            password,
        })
    }
}

fn exit_code(err: &anyhow::Error) -> u8 {
    match err.downcast_ref::<LinkError>() {
        Some(LinkError::Unreachable { .. }) => 3,
        Some(LinkError::AuthFailed { .. }) => 4,
        Some(LinkError::PluginMissing) => 5,
        Some(LinkError::Unsupported { .. }) => 6,
        Some(LinkError::NotReady) => 7,
        _ => 1,
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Status { obs, json } => {
            let status = Status::fetch(&obs.resolve()?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", status.render());
            }
            Ok(())
        }
        Command::Analyze {
            file,
            min_bpm,
            max_bpm,
            correction,
            step,
            json,
        } => {
            let correction = match correction {
                CorrectionArg::None => Correction::None,
                CorrectionArg::Double => Correction::Double,
                CorrectionArg::Half => Correction::Half,
                CorrectionArg::TwoThirds => Correction::TwoThirds,
            };
            if step.is_nan() || step <= 0.0 {
                anyhow::bail!("--step must be positive");
            }
            let analysis = tokio::task::spawn_blocking(move || {
                analyze(&file, min_bpm, max_bpm, correction, step)
            })
            .await??;
            if json {
                println!("{}", serde_json::to_string_pretty(&analysis)?);
            } else {
                print!("{}", analysis.render());
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("deckcast: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("deckcast: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}
