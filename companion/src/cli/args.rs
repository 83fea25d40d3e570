//! The command line as clap types: commands, their arguments and flags.
use clap::{Args, Parser, Subcommand};
use deckcast_dsp::tempo::Correction;
use deckcast_protocol::targets::Platform;

/// The exit codes, for `--help` and the man page (main.rs maps errors to them).
pub const EXIT_CODES: &str = "\
Exit status:
  0  success
  1  any other error
  2  usage error (an unknown option, a value out of range)
  3  OBS unreachable
  4  obs-websocket authentication failed
  5  the Deckcast plugin is not loaded in OBS
  6  unsupported OBS or obs-websocket version
  7  OBS is still starting
  8  no usable keyring (unlock it, or set the DECKCAST_* variable the message names)";

#[derive(Debug, Parser)]
#[command(
    name = "deckcast",
    version,
    about = "Deckcast companion: multistreaming and live tools for OBS Studio",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// Print JSON instead of text; an error is then one JSON object on standard error.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the companion: follow OBS, keep history, serve the dashboard and API.
    Serve {
        #[command(flatten)]
        obs: ObsArgs,
        /// Address of the dashboard and API (loopback by default; anything else exposes it to
        /// the network, still behind the token).
        #[arg(long, env = "DECKCAST_LISTEN", default_value = "127.0.0.1:8750")]
        listen: std::net::SocketAddr,
        /// Where the database lives [default: the user's data directory: $XDG_DATA_HOME/deckcast or ~/.local/share/deckcast on Linux].
        #[arg(long, env = "DECKCAST_DATA_DIR")]
        data_dir: Option<std::path::PathBuf>,
        /// Another origin allowed to change state (e.g. a reverse proxy's https://host); repeatable.
        #[arg(long = "allow-origin")]
        allow_origins: Vec<String>,
        /// Serve the dashboard to phones on the local network: HTTPS with a self-signed
        /// certificate (kept in the data directory), on every interface unless --listen names an
        /// address; prints a one-time pairing QR code on a terminal (the dashboard shows one too).
        #[arg(long)]
        lan: bool,
        /// Hours of 1 s health samples to keep before rolling them up per minute (1–720).
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=720))]
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
    },
    /// The report of a stream session (through the running companion's API): per-target uptime,
    /// bitrate, drops and reconnects, alerts, tracks played.
    Report {
        #[command(flatten)]
        api: ApiArgs,
        /// Session id (default: the newest session).
        session: Option<i64>,
    },
    /// Alerts (through the running companion's API), and the Prometheus rules file.
    Alerts {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        action: AlertsAction,
    },
    /// Record the set with OBS's own recording, chaptered by track (through the running
    /// companion's API).
    Record {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        action: RecordAction,
    },
    /// Play a recorded set again in OBS, streamed to targets, Now Playing from its tracklist
    /// (through the running companion's API).
    Reair {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        action: ReairAction,
    },
    /// The recording library and its tracklists (through the running companion's API).
    Recordings {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        action: RecordingsAction,
    },
    /// iCalendar subscriptions (through the running companion's API).
    Feeds {
        #[command(flatten)]
        api: ApiArgs,
        #[command(subcommand)]
        action: FeedsAction,
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
        #[command(flatten)]
        data: DataArgs,
        #[command(subcommand)]
        action: TargetsAction,
    },
    /// Show OBS, obs-websocket and Deckcast plugin versions.
    Status {
        #[command(flatten)]
        obs: ObsArgs,
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
        #[arg(long, value_parser = seconds)]
        seconds: Option<f64>,
        /// Lowest BPM to report.
        #[arg(long, default_value_t = 70.0, value_parser = bpm)]
        min_bpm: f64,
        /// Highest BPM (exclusive).
        #[arg(long, default_value_t = 180.0, value_parser = bpm)]
        max_bpm: f64,
        /// Correction after folding.
        #[arg(long, value_enum, default_value = "none")]
        correction: CorrectionArg,
        /// Timeline step in seconds.
        #[arg(long, default_value_t = 1.0, value_parser = step)]
        step: f64,
        /// Send the stable BPM to the running companion, which shows it in OBS's Now Playing sources.
        #[arg(long)]
        to_companion: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Print the BPM timeline and final tempo of a WAV file (the same tracker as the OBS source).
    Analyze {
        /// The WAV file (16/24/32-bit integer or float, any sample rate and channel count).
        #[arg(required_unless_present = "eval", conflicts_with = "eval")]
        file: Option<std::path::PathBuf>,
        /// Score the tracker on every WAV file DIR/truth.csv lists (`file,bpm` lines, `none` for
        /// no beat), beside `aubio tempo` when it is installed: strict ±0.5 BPM, Acc1 ±4 %,
        /// Acc2 (octave, ×3 and ⅔ errors allowed), time to the first stable reading, wander,
        /// real-time factor.
        #[arg(long, value_name = "DIR")]
        eval: Option<std::path::PathBuf>,
        /// Lowest BPM to report (readings fold into the range by octaves).
        #[arg(long, default_value_t = 70.0, value_parser = bpm)]
        min_bpm: f64,
        /// Highest BPM (exclusive).
        #[arg(long, default_value_t = 180.0, value_parser = bpm)]
        max_bpm: f64,
        /// Correction after folding.
        #[arg(long, value_enum, default_value = "none")]
        correction: CorrectionArg,
        /// Timeline step in seconds.
        #[arg(long, default_value_t = 1.0, value_parser = step)]
        step: f64,
    },
    /// Write the man pages and shell completions (bash, zsh, fish) into DIR (packaging).
    #[command(hide = true)]
    GenerateDocs {
        /// Output directory (man1/ and completions/ are made in it).
        dir: std::path::PathBuf,
    },
}

/// Where the running companion (`deckcast serve`) listens; the token comes from the keyring or
/// DECKCAST_DASHBOARD_TOKEN.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The companion's address.
    #[arg(long, env = "DECKCAST_API", default_value = "http://127.0.0.1:8750")]
    pub api: String,
}

/// The companion's database, which commands that change targets record their changes in.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Where the database lives [default: as `serve`].
    #[arg(long, env = "DECKCAST_DATA_DIR")]
    pub data_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleAction {
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
        /// Do not record the set (sets are recorded with OBS's recording by default, a re-air
        /// is not).
        #[arg(long)]
        no_record: bool,
        /// Play this recording again during the set, in its scene (the set ends when it has
        /// played to its end, unless --loop).
        #[arg(long, value_name = "RECORDING")]
        reair: Option<i64>,
        /// With --reair: play it again and again until the set's end.
        #[arg(long = "loop", requires = "reair")]
        looped: bool,
    },
    /// Cancel a set (a running one stops its outputs).
    Rm {
        /// Set id.
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertsAction {
    /// Active alerts and those of the last day.
    List,
    /// Acknowledge an alert (it stays until its condition is over).
    Ack {
        /// Alert id.
        id: i64,
    },
    /// Print the Prometheus alerting rules shipped with Deckcast.
    RulesFile,
}

#[derive(Debug, Subcommand)]
pub enum RecordAction {
    /// Start OBS's recording (a running one is followed, never started twice).
    Start,
    /// Stop OBS's recording.
    Stop,
    /// Whether OBS records, and the tracks so far.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum RecordingsAction {
    /// The newest recordings.
    List {
        /// How many.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
    },
    /// One recording with its tracklist.
    Show {
        /// Recording id.
        id: i64,
    },
    /// A recording's tracklist as CUE, YouTube chapters, Mixcloud sections, text or JSON.
    Export {
        /// Recording id.
        id: i64,
        /// cue, youtube, mixcloud, text or json.
        #[arg(long, default_value = "text")]
        format: String,
        /// Count from this target's own start (its VOD) instead of the recording's.
        #[arg(long)]
        target: Option<String>,
        /// Leave out tracks on air for less than this (default: the configured minimum).
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=600))]
        min_track_seconds: Option<u32>,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// An audio-only copy of a recording (its audio track copied, not re-encoded; needs ffmpeg
    /// where the companion runs), made beside the recording; -o also downloads it.
    Audio {
        /// Recording id.
        id: i64,
        /// Download it to this file.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Upload a recording to the streamer's site (resumable; the site checks its SHA-256), or
    /// show or cancel its upload.
    Upload {
        /// Recording id.
        id: i64,
        /// Show progress until the upload has completed or failed.
        #[arg(long)]
        wait: bool,
        /// Only show where the upload is.
        #[arg(long, conflicts_with_all = ["cancel"])]
        status: bool,
        /// Cancel the upload.
        #[arg(long)]
        cancel: bool,
    },
    /// The newest uploads to the streamer's site.
    Uploads {
        /// How many.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
    },
    /// Delete a recording: its library entry and, if Deckcast started it, its file (asks first).
    Rm {
        /// Recording id.
        id: i64,
        /// Remove the entry only; the file stays.
        #[arg(long)]
        keep_file: bool,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReairAction {
    /// Play a recording again: its file in a media source in the scene (switched to), the
    /// targets started, Now Playing following its tracklist.
    Start {
        /// Recording id.
        id: i64,
        /// Scene to play it in (default: the program scene).
        #[arg(long)]
        scene: Option<String>,
        /// Target id to stream it to (repeatable; started if idle, stopped at the end).
        #[arg(long = "target")]
        targets: Vec<String>,
        /// Play it again and again until stopped.
        #[arg(long = "loop")]
        looped: bool,
    },
    /// Stop the re-air (the scene before it comes back, the targets it started stop).
    Stop,
    /// What is re-airing, where it is and the track on air.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum FeedsAction {
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
        /// Minutes between refreshes (1–1440).
        #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=1440))]
        refresh_minutes: u32,
        /// Length (minutes) of sets the calendar gives no length; 0: do not schedule them
        /// (at most 1440).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(0..=1440))]
        default_length: u32,
        /// Do not record the feed's sets (recorded with OBS's recording by default).
        #[arg(long)]
        no_record: bool,
    },
    /// What a calendar would schedule, and what it would skip and why, without subscribing
    /// (reads the file or URL here; no running companion needed).
    Preview {
        /// An .ics file, or an http(s) URL of one.
        source: String,
        /// Window start: RFC 3339 or Unix ms (default: a day ago).
        #[arg(long)]
        from: Option<String>,
        /// Window end: RFC 3339 or Unix ms (default: 90 days ahead).
        #[arg(long)]
        to: Option<String>,
        /// Length (minutes) of sets the calendar gives no length; 0: do not schedule them
        /// (at most 1440).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(0..=1440))]
        default_length: u32,
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

#[derive(Debug, Subcommand)]
pub enum PlatformAction {
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
pub enum DbAction {
    /// Check the database's integrity and print row counts (JSON).
    Check {
        /// The data directory [default: as `serve`].
        #[arg(long, env = "DECKCAST_DATA_DIR")]
        data_dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Print the token (creating one in the keyring if there is none).
    Show,
    /// Replace the token with a new random one (logs every dashboard out after a restart).
    Rotate,
    /// Store a token read from standard input.
    Set,
}

#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// Store a target's stream key (read from standard input or a hidden prompt) in the keyring
    /// and give it to the plugin.
    Set {
        #[command(flatten)]
        obs: ObsArgs,
        #[command(flatten)]
        data: DataArgs,
        /// Target id (see `deckcast targets list`).
        target: String,
    },
    /// Store the obs-websocket password (read from standard input or a hidden prompt).
    ObsPassword {
        /// Remove the stored password instead (for an OBS with authentication off).
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TargetsAction {
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
pub enum PlatformArg {
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
pub enum CorrectionArg {
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
pub struct ObsArgs {
    /// obs-websocket host.
    #[arg(
        long = "obs-host",
        alias = "host",
        env = "DECKCAST_OBS_HOST",
        default_value = "127.0.0.1"
    )]
    pub host: String,
    /// obs-websocket port.
    #[arg(
        long = "obs-port",
        alias = "port",
        env = "DECKCAST_OBS_PORT",
        default_value_t = 4455
    )]
    pub port: u16,
    /// Read the obs-websocket password from standard input (first line).
    #[arg(long)]
    pub password_stdin: bool,
}

/// A BPM for the tracker's range: 30–400.
fn bpm(v: &str) -> Result<f64, String> {
    let x: f64 = v.parse().map_err(|e| format!("{e}"))?;
    if (30.0..=400.0).contains(&x) {
        Ok(x)
    } else {
        Err(format!("{v} is not a BPM in 30–400"))
    }
}

/// A timeline step: more than 0, at most 60 s.
fn step(v: &str) -> Result<f64, String> {
    let x: f64 = v.parse().map_err(|e| format!("{e}"))?;
    if x > 0.0 && x <= 60.0 {
        Ok(x)
    } else {
        Err(format!("{v} is not a step in (0, 60] seconds"))
    }
}

/// A length of audio in seconds: more than 0.
fn seconds(v: &str) -> Result<f64, String> {
    let x: f64 = v.parse().map_err(|e| format!("{e}"))?;
    if x > 0.0 && x.is_finite() {
        Ok(x)
    } else {
        Err(format!("{v} is not a positive number of seconds"))
    }
}
