//! `deckcast`: the Deckcast companion's command line.
//!
//! Exit codes: 0 success, 1 other errors, 2 usage, 3 OBS unreachable, 4 authentication failed,
//! 5 Deckcast plugin missing, 6 unsupported OBS or obs-websocket version, 7 OBS still starting,
//! 8 no usable keyring.
//!
//! Secrets never come from argv (visible to every user of the machine): keys and tokens are read
//! from standard input or a hidden prompt, passwords from the keyring or the environment.
#![forbid(unsafe_code)]

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use deckcast_companion::Secret;
use deckcast_companion::analyze::analyze;
use deckcast_companion::keys::{self, Keys, KeysError};
use deckcast_companion::obs_link::{ConnectOptions, LinkError, ObsLink};
use deckcast_companion::serve::{ServeConfig, serve};
use deckcast_companion::service::ServiceConfig;
use deckcast_companion::status::Status;
use deckcast_dsp::tempo::Correction;
use deckcast_protocol::targets::{CreateTarget, Platform, UpdateTarget};

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
    /// Run the companion: follow OBS, keep history, serve the dashboard and API.
    Serve {
        #[command(flatten)]
        obs: ObsArgs,
        /// Address of the dashboard and API (loopback by default; anything else exposes it to
        /// the network, still behind the token).
        #[arg(long, env = "DECKCAST_LISTEN", default_value = "127.0.0.1:8750")]
        listen: std::net::SocketAddr,
        /// Where the database lives [default: $XDG_DATA_HOME/deckcast or ~/.local/share/deckcast].
        #[arg(long, env = "DECKCAST_DATA_DIR")]
        data_dir: Option<std::path::PathBuf>,
        /// Another origin allowed to change state (e.g. a reverse proxy's https://host); repeatable.
        #[arg(long = "allow-origin")]
        allow_origins: Vec<String>,
        /// Hours of 1 s health samples to keep before rolling them up per minute.
        #[arg(long, default_value_t = 6)]
        keep_raw_hours: u64,
    },
    /// The dashboard/API token.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Secrets in the OS keyring.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Scheduled sets (through the running companion's API).
    Schedule {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        action: ScheduleAction,
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
    },
    /// iCalendar subscriptions (through the running companion's API).
    Feeds {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        action: FeedsAction,
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
    },
    /// The streamer's web platform (webhook signing secret).
    Platform {
        #[command(subcommand)]
        action: PlatformAction,
    },
    /// The companion's database.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// Multistream targets in OBS (through the plugin).
    Targets {
        #[command(flatten)]
        obs: ObsArgs,
        #[command(subcommand)]
        action: TargetsAction,
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Show OBS, obs-websocket and Deckcast plugin versions.
    Status {
        #[command(flatten)]
        obs: ObsArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Detect the tempo of an audio interface outside OBS (the same tracker as the OBS source).
    Listen {
        /// Input device id (see --list); the default input if left out.
        #[arg(long)]
        device: Option<String>,
        /// List input devices and exit.
        #[arg(long)]
        list: bool,
        /// Stop after this many seconds of audio (default: until Ctrl-C).
        #[arg(long)]
        seconds: Option<f64>,
        /// Lowest BPM to report.
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
        /// Print JSON (timeline and tempo) at the end instead of text as it goes.
        #[arg(long)]
        json: bool,
        /// Send the stable BPM to the running companion, which shows it in OBS's Now Playing sources.
        #[arg(long)]
        to_companion: bool,
        #[command(flatten)]
        api: ApiArgs,
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

/// Where the running companion (`deckcast serve`) listens; the token comes from the keyring or
/// DECKCAST_DASHBOARD_TOKEN.
#[derive(Debug, Args)]
struct ApiArgs {
    /// The companion's address.
    #[arg(long, env = "DECKCAST_API", default_value = "http://127.0.0.1:8750")]
    api: String,
}

#[derive(Debug, Subcommand)]
enum ScheduleAction {
    /// Upcoming, running and recent sets, and conflicts.
    List,
    /// Schedule a set.
    Add {
        /// Title.
        title: String,
        /// Start, RFC 3339 (e.g. 2026-11-27T22:00:00+01:00).
        #[arg(long)]
        start: String,
        /// End, RFC 3339.
        #[arg(long)]
        end: String,
        /// Target id to start (repeatable).
        #[arg(long = "target")]
        targets: Vec<String>,
        /// Also start OBS's own stream.
        #[arg(long)]
        start_main: bool,
        /// Scene to switch to at the start.
        #[arg(long)]
        scene: Option<String>,
    },
    /// Cancel a set (a running one stops its outputs).
    Rm {
        /// Set id.
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum FeedsAction {
    /// Subscriptions and their last fetch.
    List,
    /// Subscribe to an iCalendar feed.
    Add {
        /// http(s) URL of the .ics feed.
        url: String,
        /// Target id every set of the feed starts (repeatable).
        #[arg(long = "target")]
        targets: Vec<String>,
        /// Also start OBS's own stream.
        #[arg(long)]
        start_main: bool,
        /// Scene to switch to.
        #[arg(long)]
        scene: Option<String>,
        /// Minutes between refreshes.
        #[arg(long, default_value_t = 15)]
        refresh_minutes: u32,
    },
    /// Fetch a feed now.
    Refresh {
        /// Feed id.
        id: i64,
    },
    /// Unsubscribe.
    Rm {
        /// Feed id.
        id: i64,
    },
}

/// Calls the running companion's API.
async fn api_call(
    api: &ApiArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let keys = tokio::task::spawn_blocking(Keys::open).await?;
    let token = blocking(move || keys.dashboard_token()).await?;
    let http = deckcast_companion::web::http_client();
    let url = format!("{}/api/v1{path}", api.api.trim_end_matches('/'));
    let mut req = http.request(method, &url).bearer_auth(token.expose());
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.with_context(|| {
        format!(
            "cannot reach the companion at {} (is `deckcast serve` running?)",
            api.api
        )
    })?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let value: serde_json::Value = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    if !status.is_success() {
        let msg = value["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string());
        anyhow::bail!("{msg} (HTTP {status})");
    }
    Ok(value)
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

async fn schedule_command(api: ApiArgs, action: ScheduleAction, json: bool) -> anyhow::Result<()> {
    use reqwest::Method;
    let v = match action {
        ScheduleAction::List => {
            let v = api_call(&api, Method::GET, "/schedule", None).await?;
            if !json {
                for e in v["entries"].as_array().into_iter().flatten() {
                    println!(
                        "{:>5}  {} – {}  {:<9} {}",
                        e["id"],
                        when(e["startMs"].as_i64().unwrap_or(0)),
                        when(e["endMs"].as_i64().unwrap_or(0)),
                        e["state"].as_str().unwrap_or(""),
                        e["title"].as_str().unwrap_or("")
                    );
                }
                for c in v["conflicts"].as_array().into_iter().flatten() {
                    println!("conflict: {}", c["message"].as_str().unwrap_or(""));
                }
                return Ok(());
            }
            v
        }
        ScheduleAction::Add {
            title,
            start,
            end,
            targets,
            start_main,
            scene,
        } => {
            let v = api_call(
                &api,
                Method::POST,
                "/schedule",
                Some(serde_json::json!({"title": title, "start": start, "end": end, "targets": targets,
                    "startMain": start_main, "scene": scene})),
            )
            .await?;
            if !json {
                println!(
                    "scheduled {} ({})",
                    v["id"],
                    v["title"].as_str().unwrap_or("")
                );
                return Ok(());
            }
            v
        }
        ScheduleAction::Rm { id } => {
            api_call(&api, Method::DELETE, &format!("/schedule/{id}"), None).await?;
            serde_json::json!({"cancelled": id})
        }
    };
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

async fn feeds_command(api: ApiArgs, action: FeedsAction, json: bool) -> anyhow::Result<()> {
    use reqwest::Method;
    let v = match action {
        FeedsAction::List => api_call(&api, Method::GET, "/feeds", None).await?,
        FeedsAction::Add {
            url,
            targets,
            start_main,
            scene,
            refresh_minutes,
        } => {
            api_call(
                &api,
                Method::POST,
                "/feeds",
                Some(
                    serde_json::json!({"url": url, "targets": targets, "startMain": start_main,
                    "scene": scene, "refreshMinutes": refresh_minutes}),
                ),
            )
            .await?
        }
        FeedsAction::Refresh { id } => {
            api_call(&api, Method::POST, &format!("/feeds/{id}/refresh"), None).await?
        }
        FeedsAction::Rm { id } => {
            api_call(&api, Method::DELETE, &format!("/feeds/{id}"), None).await?;
            serde_json::json!({"deleted": id})
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let feeds: Vec<serde_json::Value> = match v.get("feeds") {
            Some(f) => f.as_array().cloned().unwrap_or_default(),
            None => v.get("feed").cloned().into_iter().collect(),
        };
        for f in feeds {
            println!(
                "{:>4}  {}  {}",
                f["id"],
                f["url"].as_str().unwrap_or(""),
                f["lastError"]
                    .as_str()
                    .map(|e| format!("(failing: {e})"))
                    .unwrap_or_default()
            );
        }
        if let Some(err) = v["fetchError"].as_str() {
            println!("first fetch failed: {err}");
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
enum PlatformAction {
    /// The webhook signing secret (HMAC-SHA256), kept in the keyring.
    Secret {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// The site's API token for pulling destinations and schedule, kept in the keyring.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Debug, Subcommand)]
enum DbAction {
    /// Check the database's integrity and print row counts (JSON).
    Check {
        /// The data directory [default: as `serve`].
        #[arg(long, env = "DECKCAST_DATA_DIR")]
        data_dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenAction {
    /// Print the token (creating one in the keyring if there is none).
    Show,
    /// Replace the token with a new random one (logs every dashboard out after a restart).
    Rotate,
    /// Store a token read from standard input.
    Set,
}

#[derive(Debug, Subcommand)]
enum KeyAction {
    /// Store a target's stream key (read from standard input or a hidden prompt) in the keyring
    /// and give it to the plugin.
    Set {
        #[command(flatten)]
        obs: ObsArgs,
        /// Target id (see `deckcast targets list`).
        target: String,
    },
    /// Store the obs-websocket password (read from standard input or a hidden prompt).
    ObsPassword,
}

#[derive(Debug, Subcommand)]
enum TargetsAction {
    /// List targets with state.
    List,
    /// Add a target.
    Add {
        /// Display name.
        name: String,
        /// Platform.
        #[arg(long, value_enum, default_value = "custom")]
        platform: PlatformArg,
        /// Server URL (platform default if left out).
        #[arg(long)]
        server: Option<String>,
        /// Read the stream key from standard input.
        #[arg(long)]
        key_stdin: bool,
        /// Leave it out of "start all".
        #[arg(long)]
        disabled: bool,
    },
    /// Change a target.
    Edit {
        /// Target id.
        id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New server URL.
        #[arg(long)]
        server: Option<String>,
        /// Include in "start all" (true/false).
        #[arg(long)]
        enabled: Option<bool>,
        /// Read a new stream key from standard input.
        #[arg(long)]
        key_stdin: bool,
    },
    /// Delete a target (and its key).
    Rm {
        /// Target id.
        id: String,
    },
    /// Start a target.
    Start {
        /// Target id.
        id: String,
    },
    /// Stop a target.
    Stop {
        /// Target id.
        id: String,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PlatformArg {
    Twitch,
    Youtube,
    Facebook,
    Tiktok,
    Kick,
    Custom,
}

impl From<PlatformArg> for Platform {
    fn from(p: PlatformArg) -> Platform {
        match p {
            PlatformArg::Twitch => Platform::Twitch,
            PlatformArg::Youtube => Platform::Youtube,
            PlatformArg::Facebook => Platform::Facebook,
            PlatformArg::Tiktok => Platform::Tiktok,
            PlatformArg::Kick => Platform::Kick,
            PlatformArg::Custom => Platform::Custom,
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CorrectionArg {
    None,
    Double,
    Half,
    TwoThirds,
}

impl From<CorrectionArg> for Correction {
    fn from(c: CorrectionArg) -> Correction {
        match c {
            CorrectionArg::None => Correction::None,
            CorrectionArg::Double => Correction::Double,
            CorrectionArg::Half => Correction::Half,
            CorrectionArg::TwoThirds => Correction::TwoThirds,
        }
    }
}

/// How to reach OBS. The password is never taken from the command line (argv is visible to every
/// user of the machine): use DECKCAST_OBS_PASSWORD or --password-stdin.
#[derive(Debug, Args)]
struct ObsArgs {
    /// obs-websocket host.
    #[arg(
        long = "obs-host",
        alias = "host",
        env = "DECKCAST_OBS_HOST",
        default_value = "127.0.0.1"
    )]
    host: String,
    /// obs-websocket port.
    #[arg(
        long = "obs-port",
        alias = "port",
        env = "DECKCAST_OBS_PORT",
        default_value_t = 4455
    )]
    port: u16,
    /// Read the obs-websocket password from standard input (first line).
    #[arg(long)]
    password_stdin: bool,
}

/// The first line of standard input, or a hidden prompt on a terminal.
fn read_secret(what: &str) -> anyhow::Result<Option<Secret>> {
    use std::io::IsTerminal;
    let mut line = String::new();
    if std::io::stdin().is_terminal() {
        eprint!("{what} (input is not shown): ");
        // Echo off via stty, the most portable way without extra crates.
        let _ = std::process::Command::new("stty").arg("-echo").status();
        let r = std::io::stdin().read_line(&mut line);
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
        r.with_context(|| format!("reading {what}"))?;
    } else {
        std::io::stdin()
            .read_to_string(&mut line)
            .with_context(|| format!("reading {what} from standard input"))?;
    }
    Ok(Secret::new(line.lines().next().unwrap_or_default()))
}

impl ObsArgs {
    fn resolve(&self) -> anyhow::Result<ConnectOptions> {
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

fn exit_code(err: &anyhow::Error) -> u8 {
    if let Some(KeysError::NoKeyring { .. }) = err.downcast_ref::<KeysError>() {
        return 8;
    }
    match err.downcast_ref::<LinkError>() {
        Some(LinkError::Unreachable { .. }) => 3,
        Some(LinkError::AuthFailed { .. }) => 4,
        Some(LinkError::PluginMissing) => 5,
        Some(LinkError::Unsupported { .. }) => 6,
        Some(LinkError::NotReady) => 7,
        _ => 1,
    }
}

fn default_data_dir() -> std::path::PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".local/share")))
        .unwrap_or_else(|| std::path::PathBuf::from("."))
        .join("deckcast")
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

fn print_json_or<T: serde::Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) {
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

async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, KeysError> + Send + 'static,
) -> anyhow::Result<R> {
    Ok(tokio::task::spawn_blocking(f).await??)
}

async fn targets(obs: ObsArgs, action: TargetsAction, json: bool) -> anyhow::Result<()> {
    // Read a key before connecting, so the prompt is not interleaved with connection errors.
    let key = match &action {
        TargetsAction::Add {
            key_stdin: true, ..
        }
        | TargetsAction::Edit {
            key_stdin: true, ..
        } => Some(read_secret("the stream key")?.context("the stream key is empty")?),
        _ => None,
    };
    let keys = Keys::open();
    if key.is_some()
        && let Some(why) = keys.unavailable_reason()
    {
        return Err(KeysError::NoKeyring {
            reason: why.to_owned(),
            what: "stream keys",
            env: "(none: set the key in the OBS dock, which keeps it in memory for the session)",
        }
        .into());
    }
    let link = ObsLink::connect(&obs.resolve()?).await?;
    let store_key = |id: String, key: Secret| {
        let keys = keys.clone();
        blocking(move || keys.set(&keys::stream_key_account(&id), &key))
    };
    match action {
        TargetsAction::List => {
            let list = link.list_targets().await?;
            print_json_or(json, &list, || {
                let mut out = String::new();
                for t in &list.targets {
                    out.push_str(&format!(
                        "{:<14} {:<24} {:<9} {:<12} key {}\n",
                        t.config.id,
                        t.config.name,
                        deckcast_companion::live::platform_name(&t.config.platform),
                        deckcast_companion::live::platform_name(&t.state),
                        if t.has_key { "set" } else { "missing" }
                    ));
                }
                if list.targets.is_empty() {
                    out.push_str("no targets\n");
                }
                out
            });
        }
        TargetsAction::Add {
            name,
            platform,
            server,
            disabled,
            ..
        } => {
            let reply = link
                .create_target(&CreateTarget {
                    name,
                    platform: platform.into(),
                    server,
                    key: key.as_ref().map(|k| k.expose().to_owned()),
                    enabled: Some(!disabled),
                    ..CreateTarget::default()
                })
                .await?;
            if let Some(k) = key {
                store_key(reply.target.config.id.clone(), k).await?;
            }
            print_json_or(json, &reply, || {
                format!("created {}\n", reply.target.config.id)
            });
        }
        TargetsAction::Edit {
            id,
            name,
            server,
            enabled,
            ..
        } => {
            let reply = link
                .update_target(&UpdateTarget {
                    id: id.clone(),
                    name,
                    server,
                    enabled,
                    key: key.as_ref().map(|k| k.expose().to_owned()),
                    ..UpdateTarget::default()
                })
                .await?;
            if let Some(k) = key {
                store_key(id, k).await?;
            }
            print_json_or(json, &reply, || {
                format!("updated {}\n", reply.target.config.id)
            });
        }
        TargetsAction::Rm { id } => {
            link.delete_target(&id).await?;
            let k = keys.clone();
            let account = keys::stream_key_account(&id);
            blocking(move || k.delete(&account)).await?;
            print_json_or(json, &serde_json::json!({"deleted": id}), || {
                format!("deleted {id}\n")
            });
        }
        TargetsAction::Start { id } => {
            let reply = link.start_stop(&id, true).await?;
            print_json_or(json, &reply, || {
                format!(
                    "{}: {}\n",
                    id,
                    deckcast_companion::live::platform_name(&reply.target.state)
                )
            });
        }
        TargetsAction::Stop { id } => {
            let reply = link.start_stop(&id, false).await?;
            print_json_or(json, &reply, || {
                format!(
                    "{}: {}\n",
                    id,
                    deckcast_companion::live::platform_name(&reply.target.state)
                )
            });
        }
    }
    Ok(())
}

/// `show` (creating the dashboard token if missing), `rotate` or `set` for a keyring secret.
async fn secret_command(action: TokenAction, account: &'static str) -> anyhow::Result<()> {
    let keys = tokio::task::spawn_blocking(Keys::open).await?;
    let secret = match action {
        TokenAction::Show if account == keys::DASHBOARD_TOKEN => {
            blocking(move || keys.dashboard_token()).await?
        }
        TokenAction::Show => blocking(move || keys.get(account))
            .await?
            .with_context(|| format!("no {account} in the keyring yet (use rotate or set)"))?,
        TokenAction::Rotate => {
            let t = keys::random_token();
            let stored = t.clone();
            blocking(move || keys.set(account, &stored)).await?;
            t
        }
        TokenAction::Set => {
            let t = read_secret(account)?.context("the value is empty")?;
            blocking(move || keys.set(account, &t)).await?;
            eprintln!("stored");
            return Ok(());
        }
    };
    println!("{}", secret.expose());
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            obs,
            listen,
            data_dir,
            allow_origins,
            keep_raw_hours,
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("DECKCAST_LOG")
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .init();
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
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let cfg = ServeConfig {
                data_dir: data_dir.unwrap_or_else(default_data_dir),
                service: ServiceConfig {
                    host: obs.host,
                    port: obs.port,
                    keep_raw: std::time::Duration::from_secs(
                        keep_raw_hours.clamp(1, 24 * 30) * 3600,
                    ),
                    ..ServiceConfig::default()
                },
                extra_origins: allow_origins,
            };
            serve(cfg, keys, listener, shutdown_signal()).await?;
            Ok(())
        }
        Command::Token { action } => secret_command(action, keys::DASHBOARD_TOKEN).await,
        Command::Platform {
            action: PlatformAction::Secret { action },
        } => secret_command(action, deckcast_companion::sync::WEBHOOK_SECRET).await,
        Command::Platform {
            action: PlatformAction::Token { action },
        } => secret_command(action, deckcast_companion::pull::TOKEN).await,
        Command::Key { action } => match action {
            KeyAction::ObsPassword => {
                let p =
                    read_secret("the obs-websocket password")?.context("the password is empty")?;
                let keys = tokio::task::spawn_blocking(Keys::open).await?;
                blocking(move || keys.set(keys::OBS_PASSWORD, &p)).await?;
                eprintln!("stored in the keyring");
                Ok(())
            }
            KeyAction::Set { obs, target } => {
                let key = read_secret("the stream key")?.context("the stream key is empty")?;
                let keys = tokio::task::spawn_blocking(Keys::open).await?;
                let stored = key.clone();
                let account = keys::stream_key_account(&target);
                blocking(move || keys.set(&account, &stored)).await?;
                let link = ObsLink::connect(&obs.resolve()?).await?;
                link.set_stream_key(&target, &key).await?;
                eprintln!("stored in the keyring and given to the plugin");
                Ok(())
            }
        },
        Command::Targets { obs, action, json } => targets(obs, action, json).await,
        Command::Schedule { api, action, json } => schedule_command(api, action, json).await,
        Command::Listen {
            device,
            list,
            seconds,
            min_bpm,
            max_bpm,
            correction,
            step,
            json,
            to_companion,
            api,
        } => {
            if list {
                for d in tokio::task::spawn_blocking(deckcast_companion::listen::devices).await? {
                    println!("{d}");
                }
                return Ok(());
            }
            if step.is_nan() || step <= 0.0 {
                anyhow::bail!("--step must be positive");
            }
            let opts = deckcast_companion::listen::ListenOptions {
                device,
                seconds,
                tempo: deckcast_dsp::tempo::TempoConfig {
                    sample_rate: 48_000,
                    min_bpm,
                    max_bpm,
                    correction: correction.into(),
                },
            };
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<f64>();
            let sender = to_companion.then(|| {
                tokio::spawn(async move {
                    while let Some(bpm) = rx.recv().await {
                        if let Err(e) = api_call(
                            &api,
                            reqwest::Method::PUT,
                            "/nowplaying/tempo",
                            Some(serde_json::json!({"bpm": bpm})),
                        )
                        .await
                        {
                            eprintln!("deckcast: sending the tempo to the companion: {e:#}");
                        }
                    }
                })
            });
            let (timeline, rate, last) = tokio::task::spawn_blocking(move || {
                let mut timeline = Vec::new();
                let mut next = step;
                let mut sent = 0.0f64;
                let r = deckcast_companion::listen::listen(&opts, |t, r| {
                    while t >= next {
                        let p = deckcast_companion::analyze::point(next, *r);
                        if !json {
                            print!("{}", deckcast_companion::analyze::Analysis::line(&p));
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
            let analysis = deckcast_companion::analyze::Analysis {
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
        Command::Feeds { api, action, json } => feeds_command(api, action, json).await,
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
            let correction: Correction = correction.into();
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
