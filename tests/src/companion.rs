//! `deckcast serve` as a user runs it: in its own D-Bus session with an unlocked gnome-keyring
//! (as a desktop login provides), a persistent HOME (keyring file, database), on a free loopback
//! port, with its PID recorded so tests can `kill -9` it and start it again on the same data.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::http;
use crate::util;

/// Service name of the companion's keyring entries.
pub const KEYRING_SERVICE: &str = "deckcast-companion";

/// Shell: starts gnome-keyring with the login keyring unlocked by `$KEYRING_PW`, then waits (at
/// most 5 s) until the daemon owns `org.freedesktop.secrets` and the `default` alias names a
/// collection. `--unlock` can return before the daemon is on the bus; a client asking earlier
/// would have D-Bus start a second daemon, which then finds the login keyring half written.
const UNLOCK_KEYRING: &str = "printf %s \"$KEYRING_PW\" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; unset KEYRING_PW; \
    i=0; until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true \
    && dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
    org.freedesktop.Secret.Service.ReadAlias string:default 2>/dev/null | grep -q collection/; \
    do i=$((i+1)); [ $i -ge 50 ] && break; sleep 0.1; done; ";

/// A companion's persistent home: HOME (keyring), data dir and port survive restarts.
#[derive(Debug, Clone)]
pub struct CompanionHome {
    /// HOME of the process.
    pub dir: PathBuf,
    /// Dashboard/API port.
    pub port: u16,
    /// Password of the session keyring.
    keyring_password: String,
}

impl CompanionHome {
    /// A fresh home in a temporary directory.
    pub fn new() -> Result<CompanionHome> {
        let dir =
            std::env::temp_dir().join(format!("deckcast-e2e-companion-{}", util::random_hex(6)?));
        std::fs::create_dir_all(&dir)?;
        Ok(CompanionHome {
            dir,
            port: util::free_port()?,
            keyring_password: util::random_hex(8)?,
        })
    }

    /// A home kept in `dir` across runs (the lab): the session keyring's unlock password is kept
    /// in `dir/keyring-unlock` (mode 0600), standing in for a desktop login password.
    pub fn persistent(dir: &Path, port: u16) -> Result<CompanionHome> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(dir)?;
        let file = dir.join("keyring-unlock");
        let keyring_password = match std::fs::read_to_string(&file) {
            Ok(p) if !p.trim().is_empty() => p.trim().to_owned(),
            _ => {
                let p = util::random_hex(16)?;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&file)?;
                std::io::Write::write_all(&mut f, p.as_bytes())?;
                p
            }
        };
        Ok(CompanionHome {
            dir: dir.to_path_buf(),
            port,
            keyring_password,
        })
    }

    /// The database directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The dashboard address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Runs `deckcast <args>` in a D-Bus session with this home's keyring unlocked, feeding
    /// `stdin`; returns its output.
    pub fn run(&self, args: &[&str], stdin: &str) -> Result<std::process::Output> {
        let deckcast = crate::artifacts::get()?.deckcast.clone();
        let mut all = vec![deckcast.to_string_lossy().into_owned()];
        all.extend(args.iter().map(|a| a.to_string()));
        self.in_session(&all, stdin)
    }

    /// Runs `argv` in a D-Bus session with this home's keyring unlocked. The command's stdout
    /// goes through a file: the session's own stdout also carries what D-Bus-activated daemons
    /// print (gnome-keyring announces `GNOME_KEYRING_CONTROL=...`).
    fn in_session(&self, argv: &[String], stdin: &str) -> Result<std::process::Output> {
        let out_file = self.dir.join(format!(".out-{}", util::random_hex(4)?));
        let script = format!(r#"{UNLOCK_KEYRING}printf %s "$STDIN_DATA" | "$@" > "$OUT_FILE""#);
        let out = Command::new("dbus-run-session")
            .args(["--", "sh", "-c", &script, "sh"])
            .args(argv)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &self.dir)
            .env("KEYRING_PW", &self.keyring_password)
            .env("STDIN_DATA", stdin)
            .env("OUT_FILE", &out_file)
            .output()
            .context("running a command in a D-Bus session")?;
        let stdout = std::fs::read(&out_file).unwrap_or_default();
        let _ = std::fs::remove_file(&out_file);
        Ok(std::process::Output { stdout, ..out })
    }

    /// Looks an entry up in this home's keyring (`secret-tool`).
    pub fn keyring_lookup(&self, account: &str) -> Result<Option<String>> {
        let argv: Vec<String> = [
            "secret-tool",
            "lookup",
            "service",
            KEYRING_SERVICE,
            "username",
            account,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = self.in_session(&argv, "")?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
    }
}

/// A running `deckcast serve`.
#[derive(Debug)]
pub struct Companion {
    /// Its home.
    pub home: CompanionHome,
    session: Child,
    pid: u32,
    log: PathBuf,
    stopped: bool,
}

impl Companion {
    /// Starts `deckcast serve` following OBS on `obs_port`. On a fresh home it first stores the
    /// obs-websocket password in the keyring (`deckcast key obs-password`).
    pub fn start(home: &CompanionHome, obs_port: u16, obs_password: &str) -> Result<Companion> {
        Companion::start_logging(home, obs_port, obs_password, "info")
    }

    /// [`Companion::start_logging`] following `obs`, and an API client once it has connected.
    pub fn start_connected(
        home: &CompanionHome,
        obs: &crate::obs::Obs,
        level: &str,
    ) -> (Companion, http::Client) {
        let companion = Companion::start_logging(home, obs.ws_port, &obs.password, level).unwrap();
        let c = companion.client().unwrap();
        wait_snapshot(
            &c,
            "the companion to connect to OBS",
            Duration::from_secs(30),
            |s| s["obs"]["state"] == "connected",
        );
        (companion, c)
    }

    /// [`Companion::start`] with `DECKCAST_LOG` set to `log` (`trace` logs everything it can).
    pub fn start_logging(
        home: &CompanionHome,
        obs_port: u16,
        obs_password: &str,
        level: &str,
    ) -> Result<Companion> {
        if !home.dir.join(".obs-password-stored").exists() {
            let out = home.run(&["key", "obs-password"], obs_password)?;
            if !out.status.success() {
                bail!(
                    "deckcast key obs-password failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::fs::write(home.dir.join(".obs-password-stored"), b"")?;
        }
        let deckcast = crate::artifacts::get()?.deckcast.clone();
        let log = home
            .dir
            .join(format!("companion-{}.log", util::random_hex(3)?));
        let log_file = std::fs::File::create(&log)?;
        let pid_file = home.dir.join("companion.pid");
        let _ = std::fs::remove_file(&pid_file);
        let script = format!(
            r#"{UNLOCK_KEYRING}printf %s "$DBUS_SESSION_BUS_ADDRESS" > "$PID_FILE.bus"; echo $$ > "$PID_FILE"; exec "$@""#
        );
        let session = Command::new("dbus-run-session")
            .args(["--", "sh", "-c", &script, "sh"])
            .arg(&deckcast)
            .args(["serve", "--obs-port", &obs_port.to_string(), "--listen"])
            .arg(home.addr().to_string())
            .arg("--data-dir")
            .arg(home.data_dir())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home.dir)
            .env("KEYRING_PW", &home.keyring_password)
            .env("PID_FILE", &pid_file)
            .env("DECKCAST_LOG", level)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("starting deckcast serve")?;
        let pid = util::wait_for("the companion's PID file", Duration::from_secs(15), || {
            Ok(std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok()))
        })?;
        let mut c = Companion {
            home: home.clone(),
            session,
            pid,
            log,
            stopped: false,
        };
        let addr = home.addr();
        if let Err(e) = util::wait_for("the dashboard port", Duration::from_secs(20), || {
            Ok(util::addr_open(addr).then_some(()))
        }) {
            c.stopped = true;
            bail!("{e}\n{}", c.log_text());
        }
        Ok(c)
    }

    /// The companion's PID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Everything it logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The API token (`deckcast token show` in the companion's keyring).
    pub fn token(&self) -> Result<String> {
        let out = self.home.run(&["token", "show"], "")?;
        if !out.status.success() {
            bail!("token show: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Runs `deckcast <args>` in the companion's own D-Bus session (its keyring daemon sees the
    /// change at once, as every program of a desktop session does), feeding `stdin`.
    pub fn run_in_session(&self, args: &[&str], stdin: &str) -> Result<std::process::Output> {
        let bus = std::fs::read_to_string(self.home.dir.join("companion.pid.bus"))
            .context("the companion's session bus address")?;
        let deckcast = crate::artifacts::get()?.deckcast.clone();
        let mut child = Command::new(deckcast)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &self.home.dir)
            .env("DBUS_SESSION_BUS_ADDRESS", bus.trim())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut i) = child.stdin.take() {
            std::io::Write::write_all(&mut i, stdin.as_bytes())?;
        }
        Ok(child.wait_with_output()?)
    }

    /// An API client with the token.
    pub fn client(&self) -> Result<http::Client> {
        Ok(http::Client {
            addr: self.home.addr(),
            token: Some(self.token()?),
        })
    }

    /// `kill -9`.
    pub fn kill(&mut self) -> Result<()> {
        util::signal(self.pid, "KILL")?;
        let _ = self.session.wait();
        self.stopped = true;
        Ok(())
    }

    /// SIGTERM and wait (clean shutdown). True if it exited within 15 s.
    pub fn stop(&mut self) -> bool {
        if self.stopped {
            return true;
        }
        self.stopped = true;
        let ok = util::stop_pid(self.pid, "TERM", Duration::from_secs(15));
        let _ = self.session.wait();
        ok
    }
}

impl Drop for Companion {
    fn drop(&mut self) {
        let clean = self.stop();
        if std::thread::panicking() || !clean {
            eprintln!(
                "--- companion log ({}) ---\n{}",
                self.log.display(),
                self.log_text()
            );
        }
    }
}

/// Calls the companion's API with `c` and checks the answer (its body and its media type) against
/// the OpenAPI document's `doc_path` (the path as documented, e.g. `/api/v1/targets/{id}`); panics
/// if it does not match.
pub fn call(
    api: &crate::openapi::OpenApi,
    c: &http::Client,
    method: &str,
    path: &str,
    doc_path: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let r = c.call(method, path, body).unwrap();
    let v = if r.body.is_empty() {
        serde_json::Value::Null
    } else {
        r.json().unwrap()
    };
    api.check_response(method, doc_path, r.status, &v)
        .and_then(|()| api.check_media(method, doc_path, r.status, r.header("content-type")))
        .unwrap_or_else(|e| panic!("{e:#}"));
    (r.status, v)
}

/// Changes the alert rules (`PUT /api/v1/alerts/rules`, checked against the API document);
/// returns the status and the answer (the rules, or the error).
pub fn put_rules(
    api: &crate::openapi::OpenApi,
    c: &http::Client,
    patch: &serde_json::Value,
) -> (u16, serde_json::Value) {
    call(
        api,
        c,
        "PUT",
        "/api/v1/alerts/rules",
        "/api/v1/alerts/rules",
        Some(patch),
    )
}

/// Creates one target per body (`POST /api/v1/targets`, checked against the API document);
/// their ids, in order.
pub fn create_targets(
    api: &crate::openapi::OpenApi,
    c: &http::Client,
    bodies: &[serde_json::Value],
) -> Vec<String> {
    bodies
        .iter()
        .map(|body| {
            let (status, v) = call(
                api,
                c,
                "POST",
                "/api/v1/targets",
                "/api/v1/targets",
                Some(body),
            );
            assert_eq!(status, 201, "{v}");
            v["target"]["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Waits until the live snapshot satisfies `pred`; panics after `timeout`.
pub fn wait_snapshot(
    c: &http::Client,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    util::wait_for(what, timeout, || {
        Ok(c.get_json("/api/v1/snapshot").ok().filter(|s| pred(s)))
    })
    .unwrap()
}
