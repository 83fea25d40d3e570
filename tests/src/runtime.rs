//! Where OBS runs: the host's own OBS (when ≥ 30.2) or a cached Debian chroot.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};

use crate::artifacts;

/// Oldest OBS Deckcast supports.
pub const MIN_OBS: (u32, u32) = (30, 2);

/// Extra isolation for one command inside the runtime.
#[derive(Debug, Clone, Default)]
pub struct Isolation {
    /// Hide OBS's obs-websocket module (bind /dev/null over it) to test running without it.
    pub hide_websocket: bool,
    /// Bind-mount a host directory at a path inside the chroot (ignored on the host runtime).
    pub bind: Option<(PathBuf, String)>,
}

/// The OBS runtime for this test process.
#[derive(Debug)]
pub enum Runtime {
    /// OBS installed on the host.
    Host {
        /// `major.minor.patch`.
        version: String,
    },
    /// A Debian chroot built by `tests/rig/obs-chroot.sh`.
    Chroot {
        /// Host path of the chroot.
        root: PathBuf,
        /// Debian suite (`trixie` or `sid`).
        suite: String,
        /// OBS version inside.
        version: String,
    },
}

/// Path of the obs-websocket module inside a Debian OBS install.
const WEBSOCKET_MODULE: &str = "/usr/lib/x86_64-linux-gnu/obs-plugins/obs-websocket.so";

/// `30.2.3` from `obs --version` / dpkg output such as `OBS Studio - 30.2.3` or `30.2.3+dfsg-3`.
fn parse_version(text: &str) -> Option<(String, (u32, u32))> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let v: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next()??, parts.next()??);
    Some((v.trim_end_matches('.').to_owned(), (major, minor)))
}

impl Runtime {
    /// The runtime for this process, chosen once: `DECKCAST_OBS_SUITE` forces a chroot of that suite;
    /// otherwise the host's `obs` if it is new enough, else the trixie chroot.
    pub fn get() -> Result<&'static Runtime> {
        static RUNTIME: OnceLock<Runtime> = OnceLock::new();
        if let Some(rt) = RUNTIME.get() {
            return Ok(rt);
        }
        let rt = Self::detect()?;
        Ok(RUNTIME.get_or_init(|| rt))
    }

    fn detect() -> Result<Runtime> {
        let forced = std::env::var("DECKCAST_OBS_SUITE")
            .ok()
            .filter(|s| !s.is_empty());
        if forced.is_none()
            && let Ok(out) = Command::new("obs").arg("--version").output()
            && let Some((version, mm)) = parse_version(&String::from_utf8_lossy(&out.stdout))
            && mm >= MIN_OBS
        {
            return Ok(Runtime::Host { version });
        }
        let suite = forced.unwrap_or_else(|| "trixie".to_owned());
        let script = artifacts::workspace_root().join("tests/rig/obs-chroot.sh");
        let out = Command::new(&script)
            .arg("ensure")
            .env("DECKCAST_OBS_SUITE", &suite)
            .output()
            .with_context(|| format!("running {}", script.display()))?;
        if !out.status.success() {
            bail!(
                "{} failed (an OBS >= 30.2 is needed: the rig builds a Debian {suite} chroot, which needs root and debootstrap):\n{}",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let root = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let dpkg = Command::new("chroot")
            .arg(&root)
            .args(["dpkg-query", "-W", "-f=${Version}", "obs-studio"])
            .output()
            .context("asking dpkg in the chroot for the OBS version")?;
        let (version, mm) = parse_version(&String::from_utf8_lossy(&dpkg.stdout))
            .context("cannot read the OBS version in the chroot")?;
        if mm < MIN_OBS {
            bail!("the {suite} chroot has OBS {version}; Deckcast needs >= 30.2");
        }
        Ok(Runtime::Chroot {
            root,
            suite,
            version,
        })
    }

    /// OBS version, e.g. `30.2.3`.
    pub fn obs_version(&self) -> &str {
        match self {
            Runtime::Host { version } | Runtime::Chroot { version, .. } => version,
        }
    }

    /// A fresh scratch directory visible to OBS; returns its host path.
    pub fn scratch_dir(&self, label: &str) -> Result<PathBuf> {
        let base = match self {
            Runtime::Host { .. } => std::env::temp_dir(),
            Runtime::Chroot { root, .. } => root.join("tmp"),
        };
        let dir = base.join(format!(
            "deckcast-e2e-{label}-{}",
            crate::util::random_hex(6)?
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// Where OBS's file system root is on the host (the chroot), if it is not the host's own
    /// (the companion's `obsRoot` recording setting).
    pub fn obs_root(&self) -> Option<&Path> {
        match self {
            Runtime::Chroot { root, .. } => Some(root),
            Runtime::Host { .. } => None,
        }
    }

    /// The path OBS sees for a host path inside a [`Runtime::scratch_dir`].
    pub fn guest_path(&self, host: &Path) -> PathBuf {
        match self {
            Runtime::Chroot { root, .. } => match host.strip_prefix(root) {
                Ok(rel) => Path::new("/").join(rel),
                Err(_) => host.to_path_buf(),
            },
            Runtime::Host { .. } => host.to_path_buf(),
        }
    }

    /// A command that runs `program` with exactly `env` (nothing inherited), inside the runtime.
    /// In a chroot it runs in a private mount namespace with /proc, /sys, /dev, /dev/pts and a private
    /// /dev/shm mounted; those mounts vanish with the process. The PID of the returned child is the
    /// PID of `program` itself (every wrapper execs).
    pub fn command(
        &self,
        program: &str,
        args: &[&str],
        env: &[(&str, String)],
        iso: &Isolation,
    ) -> Command {
        match self {
            Runtime::Host { .. } => {
                let mut cmd = Command::new(program);
                cmd.args(args)
                    .env_clear()
                    .envs(env.iter().map(|(k, v)| (*k, v)));
                cmd
            }
            Runtime::Chroot { root, .. } => {
                let mut script = String::from(
                    r#"R=$1; shift
mount -t proc proc "$R/proc"; mount -t sysfs sys "$R/sys"
mount --bind /dev "$R/dev"; mount --bind /dev/pts "$R/dev/pts"
mount -t tmpfs -o mode=1777,size=512m shm "$R/dev/shm"
"#,
                );
                if let Some((host, guest)) = &iso.bind {
                    script.push_str(&format!(
                        "mkdir -p \"$R{guest}\"; mount --bind '{}' \"$R{guest}\"\n",
                        host.display()
                    ));
                }
                if iso.hide_websocket {
                    script.push_str(&format!(
                        "mount --bind /dev/null \"$R{WEBSOCKET_MODULE}\"\n"
                    ));
                }
                script.push_str("exec chroot \"$R\" /usr/bin/env -i \"$@\"\n");
                let mut cmd = Command::new("unshare");
                cmd.args([
                    "-m",
                    "--propagation",
                    "private",
                    "--",
                    "sh",
                    "-ec",
                    &script,
                    "sh",
                ])
                .arg(root)
                .args(env.iter().map(|(k, v)| format!("{k}={v}")))
                .arg(program)
                .args(args)
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
                cmd
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_obs_and_dpkg_versions() {
        assert_eq!(
            parse_version("OBS Studio - 30.2.3"),
            Some(("30.2.3".into(), (30, 2)))
        );
        assert_eq!(
            parse_version("30.2.3+dfsg-3"),
            Some(("30.2.3".into(), (30, 2)))
        );
        assert_eq!(
            parse_version("32.2.2+ds-1+b2"),
            Some(("32.2.2".into(), (32, 2)))
        );
        assert_eq!(
            parse_version("OBS Studio - 29.0.2 (linux)").map(|v| v.1),
            Some((29, 0))
        );
        assert!((29, 0) < MIN_OBS && (30, 2) >= MIN_OBS && (31, 0) >= MIN_OBS);
        assert_eq!(parse_version("no digits"), None);
    }
}
