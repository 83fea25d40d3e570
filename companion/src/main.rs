//! `deckcast`: the Deckcast companion's command line (commands in `cli/`).
//!
//! Exit codes: 0 success, 1 other errors, 2 usage, 3 OBS unreachable, 4 authentication failed,
//! 5 Deckcast plugin missing, 6 unsupported OBS or obs-websocket version, 7 OBS still starting,
//! 8 no usable keyring (`cli::args::EXIT_CODES`, shown by `--help` and the man page).
//!
//! With `--json`, an error is one JSON object on standard error ([`cli::ErrorReport`]), usage
//! errors included.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let json = std::env::args_os().skip(1).any(|a| a == "--json");
    let args = match cli::args::Cli::try_parse() {
        Ok(args) => args,
        Err(e) if json && e.use_stderr() => {
            // A usage error (help and --version print as usual).
            cli::ErrorReport::usage(&e).print();
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    let json = args.json;
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            let err = anyhow::Error::new(e).context("cannot start the async runtime");
            return fail(&err, json);
        }
    };
    let result = runtime.block_on(cli::run(args));
    // Blocking work still running (a keyring call, a reader) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err, json),
    }
}

/// Reports `err` (text, or JSON with `--json`) and gives its exit code.
fn fail(err: &anyhow::Error, json: bool) -> ExitCode {
    let code = cli::exit_code(err);
    if json {
        cli::ErrorReport::new(err, code).print();
    } else {
        eprintln!("deckcast: {err:#}");
    }
    ExitCode::from(code)
}
