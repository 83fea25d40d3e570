//! The `deckcast` command line: [`args`] declares it; the other modules run its commands through
//! the same operations the service uses (`deckcast_companion::app`), or through the running
//! service's API ([`client`]).
//!
//! Secrets never come from argv (visible to every user of the machine): keys and tokens are read
//! from standard input or a hidden prompt, passwords from the keyring or the environment.
use std::io::Read;

use anyhow::Context;
use deckcast_companion::Secret;
use deckcast_companion::app::AppError;
use deckcast_companion::keys::{Keys, KeysError};
use deckcast_companion::obs::{ConnectOptions, LinkError};
use deckcast_companion::serve::{ServeConfig, serve};
use deckcast_companion::status::Status;
use deckcast_companion::supervisor::SupervisorConfig;

mod alerts;
pub mod args;
mod client;
mod docs;
mod listen;
mod reair;
mod recording;
mod schedule;
mod secrets;
mod targets;

use args::{Cli, Command, DbAction, ObsArgs, PlatformAction};

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    match cli.command {
        Command::Serve {
            obs,
            listen,
            data_dir,
            allow_origins,
            lan,
            keep_raw_hours,
        } => {
            deckcast_companion::logging::init();
            if obs.password_stdin {
                anyhow::bail!(
                    "serve reads the obs-websocket password from the keyring (deckcast key obs-password) or DECKCAST_OBS_PASSWORD"
                );
            }
            let keys = tokio::task::spawn_blocking(Keys::open).await?;
            // The token exists before the port opens: a client that sees the port (or reads the
            // token from the keyring) must never race the companion into creating a second one.
            {
                let keys = keys.clone();
                blocking(move || keys.dashboard_token()).await?;
            }
            let listen = if lan {
                deckcast_companion::lan::listen_address(listen)
            } else {
                listen
            };
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let data_dir = data_dir.unwrap_or_else(default_data_dir);
            let lan = if lan {
                let bound = listener.local_addr()?;
                let ip = deckcast_companion::lan::phone_address(bound)?;
                let dir = data_dir.clone();
                Some(
                    tokio::task::spawn_blocking(move || {
                        deckcast_companion::lan::prepare(&dir, ip, bound.port())
                    })
                    .await??,
                )
            } else {
                None
            };
            let cfg = ServeConfig {
                data_dir,
                supervisor: SupervisorConfig {
                    host: obs.host,
                    port: obs.port,
                    keep_raw: std::time::Duration::from_secs(keep_raw_hours * 3600),
                    ..SupervisorConfig::default()
                },
                extra_origins: allow_origins,
                lan,
            };
            serve(cfg, keys, listener, shutdown_signal()).await?;
            Ok(())
        }
        Command::Token { action } => {
            secrets::command(action, deckcast_companion::keys::DASHBOARD_TOKEN).await
        }
        Command::Platform {
            action: PlatformAction::Secret { action },
        } => secrets::command(action, deckcast_companion::webhooks::WEBHOOK_SECRET).await,
        Command::Platform {
            action: PlatformAction::Token { action },
        } => secrets::command(action, deckcast_companion::app::pull::TOKEN).await,
        Command::Key { action } => targets::key(action).await,
        Command::Targets { obs, data, action } => targets::command(obs, data, action, json).await,
        Command::Schedule { api, action } => schedule::schedule(api, action, json).await,
        Command::Feeds { api, action } => schedule::feeds(api, action, json).await,
        Command::Alerts { api, action } => alerts::command(api, action, json).await,
        Command::Record { api, action } => recording::record(api, action, json).await,
        Command::Recordings { api, action } => recording::recordings(api, action, json).await,
        Command::Reair { api, action } => reair::reair(api, action, json).await,
        Command::Report { api, session } => alerts::report(api, session, json).await,
        Command::Listen {
            device,
            list,
            seconds,
            min_bpm,
            max_bpm,
            correction,
            step,
            to_companion,
            api,
        } => {
            listen::command(listen::Options {
                device,
                list,
                seconds,
                min_bpm,
                max_bpm,
                correction: correction.into(),
                step,
                json,
                to_companion: to_companion.then_some(api),
            })
            .await
        }
        Command::Db {
            action: DbAction::Check { data_dir },
        } => {
            let path = deckcast_companion::serve::database_path(
                &data_dir.unwrap_or_else(default_data_dir),
            );
            if !path.exists() {
                anyhow::bail!("no database at {}", path.display());
            }
            let check = tokio::task::spawn_blocking(move || {
                deckcast_companion::store::Store::open(&path)?.check()
            })
            .await??;
            println!("{}", serde_json::to_string_pretty(&check)?);
            if check.integrity != "ok" {
                anyhow::bail!("the database is damaged: {}", check.integrity);
            }
            Ok(())
        }
        Command::Status { obs } => {
            let status = Status::fetch(&obs.resolve()?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", status.render());
            }
            Ok(())
        }
        Command::Analyze {
            eval: Some(dir), ..
        } => {
            let evaluation =
                tokio::task::spawn_blocking(move || deckcast_companion::evaluate::evaluate(&dir))
                    .await??;
            if json {
                println!("{}", serde_json::to_string_pretty(&evaluation)?);
            } else {
                print!("{}", evaluation.render());
            }
            Ok(())
        }
        Command::Analyze {
            file,
            min_bpm,
            max_bpm,
            correction,
            step,
            eval: None,
        } => {
            let file = file.ok_or_else(|| anyhow::anyhow!("analyze needs a FILE or --eval DIR"))?;
            let correction = correction.into();
            let analysis = tokio::task::spawn_blocking(move || {
                deckcast_companion::analyze::analyze(&file, min_bpm, max_bpm, correction, step)
            })
            .await??;
            if json {
                println!("{}", serde_json::to_string_pretty(&analysis)?);
            } else {
                print!("{}", analysis.render());
            }
            Ok(())
        }
        Command::GenerateDocs { dir } => docs::generate(&dir),
    }
}

/// The first line of standard input, or a hidden prompt on a terminal (rpassword: raw mode on
/// the terminal, so Ctrl-C arrives as a key and the terminal is restored before we exit).
pub(crate) fn read_secret(what: &str) -> anyhow::Result<Option<Secret>> {
    use std::io::IsTerminal;
    let line = if std::io::stdin().is_terminal() {
        // rpassword raises SIGINT on Ctrl-C while the terminal is still raw; with a handler
        // registered the process lives on, rpassword restores echo and we exit with an error.
        #[cfg(unix)]
        let sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
        let read = rpassword::prompt_password(format!("{what} (input is not shown): "));
        // The handler stays for the rest of the process (tokio never removes one): Ctrl-C
        // must still end the command afterwards, as it would have without the prompt.
        #[cfg(unix)]
        if let Some(mut sigint) = sigint {
            tokio::spawn(async move {
                if sigint.recv().await.is_some() {
                    std::process::exit(130);
                }
            });
        }
        match read {
            Ok(line) => line,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                anyhow::bail!("cancelled while reading {what}")
            }
            Err(e) => return Err(e).with_context(|| format!("reading {what}")),
        }
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_to_string(&mut line)
            .with_context(|| format!("reading {what} from standard input"))?;
        line
    };
    Ok(Secret::new(line.lines().next().unwrap_or_default()))
}

impl ObsArgs {
    /// Where OBS is and its password (`--password-stdin`, the environment or the keyring).
    pub(crate) fn resolve(&self) -> anyhow::Result<ConnectOptions> {
        let password = if self.password_stdin {
            read_secret("the obs-websocket password")?
        } else {
            Keys::open().obs_password()?
        };
        Ok(ConnectOptions {
            host: self.host.clone(),
            port: self.port,
            password,
        })
    }
}

/// An error as `--json` prints it: `{"error": {"message", "causes", "exitCode"}}`.
#[derive(Debug, serde::Serialize)]
pub struct ErrorReport {
    error: ErrorBody,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    /// The whole message, as the text form prints it.
    message: String,
    /// The chain of causes, outermost first.
    causes: Vec<String>,
    /// The process's exit status.
    exit_code: u8,
}

impl ErrorReport {
    /// The report of `err`, which exits with `code`.
    pub fn new(err: &anyhow::Error, code: u8) -> ErrorReport {
        ErrorReport {
            error: ErrorBody {
                message: format!("{err:#}"),
                causes: err.chain().map(ToString::to_string).collect(),
                exit_code: code,
            },
        }
    }

    /// The report of a usage error (exit 2).
    pub fn usage(err: &clap::Error) -> ErrorReport {
        // clap's first line says it all ("error: invalid value '0' for '--step <STEP>': ...").
        let rendered = err.to_string();
        let text = rendered
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_owned();
        ErrorReport {
            error: ErrorBody {
                message: text.clone(),
                causes: vec![text],
                exit_code: 2,
            },
        }
    }

    /// Prints it as one line on standard error.
    pub fn print(&self) {
        match serde_json::to_string(self) {
            Ok(line) => eprintln!("{line}"),
            Err(e) => eprintln!("deckcast: {e}"),
        }
    }
}

/// The exit code for an error (see the binary's docs).
pub fn exit_code(err: &anyhow::Error) -> u8 {
    // The cause may sit anywhere in the chain (context, or an error wrapping another).
    for cause in err.chain() {
        let app = cause.downcast_ref::<AppError>();
        let keys = cause.downcast_ref::<KeysError>().or(match app {
            Some(AppError::Keys(k)) => Some(k),
            _ => None,
        });
        if let Some(KeysError::NoKeyring { .. }) = keys {
            return 8;
        }
        let link = cause.downcast_ref::<LinkError>().or(match app {
            Some(AppError::Link(l)) => Some(l),
            _ => None,
        });
        let code = match link {
            Some(LinkError::Unreachable { .. }) => 3,
            Some(LinkError::AuthFailed { .. } | LinkError::NoAuth { .. }) => 4,
            Some(LinkError::PluginMissing) => 5,
            Some(LinkError::Unsupported { .. }) => 6,
            Some(LinkError::NotReady) => 7,
            _ => continue,
        };
        return code;
    }
    1
}

/// The platform's per-user data directory for Deckcast (the `directories` crate):
/// `$XDG_DATA_HOME/deckcast` or `~/.local/share/deckcast` on Linux, `%APPDATA%\deckcast\data` on
/// Windows, `~/Library/Application Support/deckcast` on macOS; `./deckcast` when there is no home.
pub(crate) fn default_data_dir() -> std::path::PathBuf {
    directories::ProjectDirs::from("", "", "deckcast")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| std::path::PathBuf::from("deckcast"))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Unix ms as local time in `format` (chrono's strftime), empty if out of range.
pub(crate) fn local_time(ms: i64, format: &str) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&chrono::Local).format(format).to_string())
        .unwrap_or_default()
}

/// Prints `value` as pretty JSON.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints `value` as JSON, or `text()`.
pub(crate) fn print_json_or<T: serde::Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce() -> String,
) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value)
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
        );
    } else {
        print!("{}", text());
    }
}

/// A keyring call on the blocking pool.
pub(crate) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, KeysError> + Send + 'static,
) -> anyhow::Result<R> {
    Ok(tokio::task::spawn_blocking(f).await??)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("serve failed")]
    struct Wrapped(#[source] KeysError);

    #[test]
    fn exit_codes_come_from_anywhere_in_the_error_chain() {
        let no_keyring = || KeysError::NoKeyring {
            reason: "no Secret Service".into(),
            what: "the dashboard token",
            env: "DECKCAST_DASHBOARD_TOKEN",
        };
        assert_eq!(exit_code(&anyhow::Error::new(no_keyring())), 8);
        assert_eq!(exit_code(&anyhow::Error::new(Wrapped(no_keyring()))), 8);
        assert_eq!(
            exit_code(&anyhow::Error::new(Wrapped(no_keyring())).context("starting")),
            8
        );
        assert_eq!(
            exit_code(&anyhow::Error::new(AppError::Link(
                LinkError::PluginMissing
            ))),
            5
        );
        assert_eq!(exit_code(&anyhow::anyhow!("something else")), 1);
    }
}
