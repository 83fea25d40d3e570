//! End-to-end: the packages install where OBS finds them and uninstall without a trace.
//! - The `.deb` (installers/debian/build-deb.sh): lintian reports no errors; installed into the
//!   test OBS runtime (the cached chroot), OBS loads the plugin from the system path; the systemd
//!   user unit verifies; `dpkg --purge` removes every installed file.
//! - The user-local installer: installs into a fresh config, OBS loads the plugin from there, the
//!   uninstaller leaves nothing behind.
//!
//! Tier "e2e" (ignored by default; needs root, cmake, lintian, dpkg-dev and systemd-analyze).
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use deckcast_tests::obs::{Obs, ObsOptions};
use deckcast_tests::runtime::{Isolation, Runtime};
use deckcast_tests::util::random_hex;
use deckcast_tests::{artifacts, vendor};
use serde_json::json;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command inside the OBS runtime (the chroot) as root.
fn in_runtime(rt: &Runtime, program: &str, args: &[&str]) -> std::process::Output {
    rt.command(
        program,
        args,
        &[("PATH", "/usr/sbin:/usr/bin:/sbin:/bin".to_owned())],
        &Isolation::default(),
    )
    .output()
    .unwrap()
}

/// Every file and directory under `dir` (relative paths).
fn tree(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            out.insert(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out
}

/// Purges the package if a test left it installed (so the cached chroot stays clean).
struct PurgeGuard(&'static Runtime);

impl Drop for PurgeGuard {
    fn drop(&mut self) {
        let _ = in_runtime(self.0, "dpkg", &["--purge", "deckcast"]);
    }
}

/// `systemd-analyze verify --user` of `unit`; with `bin_overlay`, that directory is laid over
/// /usr/bin in a private mount namespace, so `ExecStart=/usr/bin/deckcast` exists as it will once
/// the package is installed. A deliberately broken copy must fail, so the check can fail.
fn verify_unit(unit: &Path, bin_overlay: Option<&Path>, scratch: &Path) {
    let verify = |unit: &Path| {
        let script = match bin_overlay {
            Some(dir) => format!(
                "mount -t overlay overlay -o lowerdir='{}':/usr/bin /usr/bin && exec systemd-analyze verify --user '{}'",
                dir.display(),
                unit.display()
            ),
            None => format!("exec systemd-analyze verify --user '{}'", unit.display()),
        };
        let out = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .env("XDG_RUNTIME_DIR", scratch)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        (
            out.status.success() && !text.contains("deckcast.service:"),
            text,
        )
    };
    let (ok, text) = verify(unit);
    assert!(ok, "systemd-analyze verify {}:\n{text}", unit.display());
    let broken = scratch.join("broken/deckcast.service");
    std::fs::create_dir_all(broken.parent().unwrap()).unwrap();
    let original = std::fs::read_to_string(unit).unwrap();
    std::fs::write(
        &broken,
        original.replace("ExecStart=", "ExecStart=/nonexistent/"),
    )
    .unwrap();
    let (ok, _) = verify(&broken);
    assert!(!ok, "a unit with a missing binary must not verify");
}

fn loads_plugin(obs: &Obs) {
    let log = obs.log();
    assert!(
        log.contains(&format!("[deckcast] Deckcast {VERSION} loaded")),
        "OBS did not load the plugin:\n{}",
        obs.failure_report()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: builds the .deb and installs it into the OBS runtime (see README: the test command runs this tier)"]
async fn the_deb_is_clean_loads_from_the_system_path_and_purges_completely() {
    let root = artifacts::workspace_root();
    let rt = Runtime::get().unwrap();
    let out_dir = rt.scratch_dir("deb").unwrap();
    let deb = run(artifacts::outer_cargo_env(&mut Command::new(
        root.join("installers/debian/build-deb.sh"),
    ))
    .arg(&out_dir));
    let deb = PathBuf::from(deb.lines().last().unwrap_or_default().trim());
    assert!(deb.exists(), "{}", deb.display());
    assert!(
        deb.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&format!("deckcast_{VERSION}_")),
        "{}",
        deb.display()
    );

    // Package metadata and lintian.
    let fields = run(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .args(["Depends", "Version"]));
    assert!(fields.contains("obs-studio (>= 30.2)"), "{fields}");
    assert!(fields.contains(&format!("Version: {VERSION}")), "{fields}");
    let control = run(Command::new("dpkg-deb").args(["--ctrl-tarfile"]).arg(&deb));
    assert!(
        !control.contains("postinst") && !control.contains("postrm") && !control.contains("prerm"),
        "no maintainer scripts"
    );
    let lint = Command::new("lintian")
        .args(["--fail-on", "error", "--tag-display-limit", "0"])
        .arg(&deb)
        .output()
        .unwrap();
    let lint_text =
        String::from_utf8_lossy(&lint.stdout).into_owned() + &String::from_utf8_lossy(&lint.stderr);
    eprintln!("lintian:\n{lint_text}");
    assert!(
        lint.status.success(),
        "lintian reports errors:\n{lint_text}"
    );
    // Not even warnings (the man pages are there, the unit is where Debian wants it).
    assert!(
        !lint_text
            .lines()
            .any(|l| l.starts_with("E: ") || l.starts_with("W: ")),
        "{lint_text}"
    );

    // The systemd user unit verifies against the package's files.
    let extracted = out_dir.join("extracted");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&extracted));
    let unit = extracted.join("usr/lib/systemd/user/deckcast.service");
    let unit = if unit.exists() {
        unit
    } else {
        extracted.join("lib/systemd/user/deckcast.service")
    };
    assert!(unit.exists(), "the package ships a systemd user unit");
    let unit_text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        unit_text.contains("ExecStart=/usr/bin/deckcast serve"),
        "{unit_text}"
    );
    // Exit 8 (no keyring) is final: systemd must not restart the companion every 5 s forever.
    assert!(
        unit_text
            .lines()
            .any(|l| l.starts_with("RestartPreventExitStatus=")
                && l.split(['=', ' ']).any(|c| c == "8")),
        "{unit_text}"
    );
    // Tied to the graphical session: started with it, stopped with it.
    for line in [
        "PartOf=graphical-session.target",
        "WantedBy=graphical-session.target",
    ] {
        assert!(unit_text.lines().any(|l| l == line), "{line}: {unit_text}");
    }
    verify_unit(&unit, Some(&extracted.join("usr/bin")), &out_dir);

    // Man pages (compressed, one per command) and completions for three shells.
    let man1 = extracted.join("usr/share/man/man1");
    for page in [
        "deckcast.1.gz",
        "deckcast-serve.1.gz",
        "deckcast-schedule-add.1.gz",
    ] {
        assert!(man1.join(page).exists(), "{page} in the package");
    }
    let rendered = run(Command::new("man")
        .args(["--warnings", "-E", "UTF-8", "-l"])
        .arg(man1.join("deckcast.1.gz"))
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0"));
    assert!(rendered.contains("no usable keyring"), "{rendered}");
    for file in [
        "usr/share/bash-completion/completions/deckcast",
        "usr/share/zsh/vendor-completions/_deckcast",
        "usr/share/fish/vendor_completions.d/deckcast.fish",
    ] {
        assert!(extracted.join(file).exists(), "{file} in the package");
    }
    run(Command::new("bash")
        .arg("-n")
        .arg(extracted.join("usr/share/bash-completion/completions/deckcast")));

    // The Prometheus alerting rules ship with the package and pass promtool.
    let rules = extracted.join("usr/share/deckcast/prometheus/deckcast-alerts.rules.yml");
    assert!(rules.exists(), "the package ships the Prometheus rules");
    let checked = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("promtool (apt-get install prometheus)");
    let checked_text = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        checked.status.success(),
        "promtool check rules: {checked_text}"
    );
    assert!(
        checked_text.contains("SUCCESS: 11 rules found"),
        "{checked_text}"
    );

    // Install into the OBS runtime; OBS (without the per-user copy) loads it from the system path.
    let _guard = PurgeGuard(rt);
    let guest_deb = rt.guest_path(&deb);
    let install = in_runtime(rt, "dpkg", &["-i", guest_deb.to_str().unwrap()]);
    assert!(
        install.status.success(),
        "dpkg -i: {}{}",
        String::from_utf8_lossy(&install.stdout),
        String::from_utf8_lossy(&install.stderr)
    );
    let listed = in_runtime(rt, "dpkg", &["-L", "deckcast"]);
    let files: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("/obs-plugins/deckcast.so")),
        "{files:?}"
    );
    let version = in_runtime(rt, "deckcast", &["--version"]);
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    assert_eq!(version, format!("deckcast {VERSION}"));
    let obs = Obs::start(ObsOptions {
        plugin: false,
        ..ObsOptions::default()
    })
    .unwrap();
    loads_plugin(&obs);
    let client = obs.client().await.unwrap();
    let v = vendor::ok(&client, "GetVersion", json!({})).await.unwrap();
    assert_eq!(
        v["pluginVersion"], VERSION,
        "--version and the OBS log line agree"
    );
    drop(client);
    drop(obs);

    // Purge: every file the package installed is gone.
    let purge = in_runtime(rt, "dpkg", &["--purge", "deckcast"]);
    assert!(
        purge.status.success(),
        "{}",
        String::from_utf8_lossy(&purge.stderr)
    );
    let host_of = |guest: &str| -> PathBuf {
        match rt {
            Runtime::Chroot { root, .. } => root.join(guest.trim_start_matches('/')),
            _ => PathBuf::from(guest),
        }
    };
    let left: Vec<&String> = files
        .iter()
        .filter(|f| f.contains("deckcast"))
        .filter(|f| host_of(f).exists())
        .collect();
    assert!(left.is_empty(), "purge left {left:?}");
    let status = in_runtime(rt, "dpkg", &["-s", "deckcast"]);
    assert!(
        !status.status.success(),
        "the package is still known to dpkg"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: builds the user layout and installs it into an OBS config (see README: the test command runs this tier)"]
async fn the_user_installer_installs_for_obs_and_uninstalls_without_a_trace() {
    let root = artifacts::workspace_root();
    let scratch = std::env::temp_dir().join(format!(
        "deckcast-e2e-user-install-{}",
        random_hex(6).unwrap()
    ));
    let build = scratch.join("build");
    let stage = scratch.join("stage");
    let cargo_target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    run(Command::new("cmake")
        .args(["-S"])
        .arg(root.join("cmake"))
        .arg("-B")
        .arg(&build)
        .arg("-DDECKCAST_LAYOUT=user")
        .arg(format!("-DCARGO_TARGET_DIR={}", cargo_target.display())));
    run(artifacts::outer_cargo_env(&mut Command::new("cmake"))
        .arg("--build")
        .arg(&build));
    run(Command::new("cmake")
        .arg("--install")
        .arg(&build)
        .arg("--prefix")
        .arg(&stage));
    for f in [
        "deckcast/bin/64bit/deckcast.so",
        "deckcast/data/locale/en-US.ini",
        "bin/deckcast",
        "install-user.sh",
        "uninstall-user.sh",
        "share/deckcast/deckcast.service.in",
        "share/deckcast/prometheus/deckcast-alerts.rules.yml",
    ] {
        assert!(stage.join(f).exists(), "the user layout lacks {f}");
    }
    run(Command::new("sh")
        .arg("-n")
        .arg(stage.join("install-user.sh")));
    run(Command::new("sh")
        .arg("-n")
        .arg(stage.join("uninstall-user.sh")));

    // A fresh OBS config without the plugin.
    let home = scratch.join("obs-home");
    let opts = ObsOptions {
        plugin: false,
        home: Some(home.clone()),
        ..ObsOptions::default()
    };
    let mut obs = Obs::start(opts.clone()).unwrap();
    assert!(!obs.log().contains("[deckcast]"), "no plugin yet");
    assert!(obs.stop());
    drop(obs);
    let cfg = home.join("cfg");
    let user_home = scratch.join("user-home");
    std::fs::create_dir_all(&user_home).unwrap();
    let before = (tree(&cfg.join("obs-studio/plugins")), tree(&user_home));
    let env = |cmd: &mut Command| {
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &user_home)
            .env("XDG_CONFIG_HOME", &cfg);
    };

    // Install (tests run as root, which the script refuses without --force: it is per-user).
    let mut install = Command::new(stage.join("install-user.sh"));
    env(&mut install);
    let refused = install.output().unwrap();
    assert!(!refused.status.success(), "root is refused without --force");
    let mut install = Command::new(stage.join("install-user.sh"));
    install.arg("--force");
    env(&mut install);
    let said = run(&mut install);
    assert!(said.contains("Restart OBS to load the plugin"), "{said}");
    let plugin = cfg.join("obs-studio/plugins/deckcast/bin/64bit/deckcast.so");
    assert!(plugin.exists());
    assert!(user_home.join(".local/bin/deckcast").exists());
    let unit = cfg.join("systemd/user/deckcast.service");
    let unit_text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        unit_text.contains(&format!(
            "ExecStart={}/.local/bin/deckcast serve",
            user_home.display()
        )),
        "{unit_text}"
    );
    verify_unit(&unit, None, &scratch);
    let version = run(Command::new(user_home.join(".local/bin/deckcast")).arg("--version"));
    assert_eq!(version.trim(), format!("deckcast {VERSION}"));

    // OBS loads it from the per-user directory.
    obs = Obs::start(opts.clone()).unwrap();
    loads_plugin(&obs);
    let client = obs.client().await.unwrap();
    let v = vendor::ok(&client, "GetVersion", json!({})).await.unwrap();
    assert_eq!(v["pluginVersion"], VERSION);
    drop(client);
    assert!(obs.stop());
    drop(obs);

    // Installing again replaces the files (upgrade), then the uninstaller removes everything.
    let mut again = Command::new(stage.join("install-user.sh"));
    again.arg("--force");
    env(&mut again);
    run(&mut again);
    let mut uninstall = Command::new(cfg.join("obs-studio/plugins/deckcast/uninstall-user.sh"));
    env(&mut uninstall);
    let said = run(&mut uninstall);
    assert!(said.contains("Deckcast removed"), "{said}");
    let after = (tree(&cfg.join("obs-studio/plugins")), tree(&user_home));
    assert_eq!(
        after, before,
        "the uninstaller left something behind (or removed too much)"
    );
    let _ = std::fs::remove_dir_all(&scratch);
}
