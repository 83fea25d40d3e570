//! `deckcast`: the Deckcast companion's command line (commands in `cli/`).
//!
//! Exit codes: 0 success, 1 other errors, 2 usage, 3 OBS unreachable, 4 authentication failed,
//! 5 Deckcast plugin missing, 6 unsupported OBS or obs-websocket version, 7 OBS still starting,
//! 8 no usable keyring.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let args = cli::args::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("deckcast: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cli::run(args));
    // Blocking work still running (a keyring call, a reader) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("deckcast: {err:#}");
            ExitCode::from(cli::exit_code(&err))
        }
    }
}
