//! Build products the rig installs: the plugin `.so`, its data and the `deckcast` binary.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};

/// The workspace root (parent of `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `target/<profile>` of the running binary: tests live in `target/<profile>/deps/`, binaries
/// such as `deckcast-lab` in `target/<profile>/`.
fn profile_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the running binary")?;
    let dir = exe.parent().context("binary has no parent directory")?;
    Ok(if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().context("deps/ has no parent")?.to_path_buf()
    } else {
        dir.to_path_buf()
    })
}

/// Paths of the freshly built artifacts.
#[derive(Debug, Clone)]
pub struct Artifacts {
    /// `libdeckcast.so` (installed into OBS as `deckcast.so`).
    pub plugin_so: PathBuf,
    /// `obs-plugin/data` (locale files, ...).
    pub plugin_data: PathBuf,
    /// The companion binary `deckcast`.
    pub deckcast: PathBuf,
}

/// Builds the plugin and the companion (same profile as the tests) once per process.
pub fn get() -> Result<&'static Artifacts> {
    static BUILT: OnceLock<Artifacts> = OnceLock::new();
    if let Some(a) = BUILT.get() {
        return Ok(a);
    }
    let dir = profile_dir()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root()).args([
        "build",
        "--quiet",
        "-p",
        "deckcast-obs",
        "-p",
        "deckcast-companion",
    ]);
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    outer_cargo_env(&mut cmd);
    let status = cmd.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of the plugin and companion failed");
    }
    let artifacts = Artifacts {
        plugin_so: dir.join("libdeckcast.so"),
        plugin_data: workspace_root().join("obs-plugin/data"),
        deckcast: dir.join("deckcast"),
    };
    for p in [&artifacts.plugin_so, &artifacts.deckcast] {
        if !p.exists() {
            bail!("{} was not built", p.display());
        }
    }
    Ok(BUILT.get_or_init(|| artifacts))
}

/// `target/e2e-artifacts/`: screenshots and logs tests keep for humans (created on demand).
pub fn artifacts_dir() -> Result<PathBuf> {
    let dir = profile_dir()?
        .parent()
        .context("target dir")?
        .join("e2e-artifacts");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Gives `cmd` (a cargo build, or a script that runs one) the environment the top-level cargo
/// had. Cargo gives a test process its package's variables (CARGO_MANIFEST_DIR, CARGO_PKG_*,
/// OUT_DIR...); build scripts that track them (ring's does) would see them change and rebuild
/// their crate and everything above it in the inner build, and again in the next top-level one.
pub fn outer_cargo_env(cmd: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name == "OUT_DIR"
            || name == "CARGO_CRATE_NAME"
            || name == "CARGO_PRIMARY_PACKAGE"
            || name == "CARGO_TARGET_TMPDIR"
            || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || name.starts_with("CARGO_BIN_")
        {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// The tempo evaluation corpus that scripts/deps.sh renders into the cache
/// (`$DECKCAST_CACHE/tempo-corpus`, `tune/` and `heldout/`, each with a `truth.csv`).
pub fn tempo_corpus() -> PathBuf {
    std::env::var_os("DECKCAST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/deckcast"))
        .join("tempo-corpus")
}
