//! Static checks of what cannot be built here (Windows, macOS, Flatpak) and of every shell script:
//! shellcheck, the one version source (CMake reads Cargo.toml), and the install layouts the
//! Windows/macOS/Flatpak scripts assume matching the CMake project. Fast: no OBS, no cargo build.
use std::path::{Path, PathBuf};
use std::process::Command;

use deckcast_tests::artifacts::workspace_root;
use deckcast_tests::util::random_hex;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read(rel: &str) -> String {
    std::fs::read_to_string(workspace_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn shell_scripts(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                shell_scripts(&p, out);
            }
        } else if name.ends_with(".sh") {
            out.push(p);
        }
    }
}

#[test]
fn every_shell_script_passes_shellcheck() {
    let root = workspace_root();
    let mut scripts = vec![root.join(".ci/run")];
    shell_scripts(&root, &mut scripts);
    assert!(scripts.len() >= 10, "{scripts:?}");
    for s in &scripts {
        let out = Command::new("shellcheck")
            .args(["-S", "warning"])
            .arg(s)
            .output()
            .expect("shellcheck is installed by scripts/deps.sh");
        assert!(
            out.status.success(),
            "shellcheck {}:\n{}",
            s.display(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn cmake_takes_its_version_from_cargo_toml() {
    let build = std::env::temp_dir().join(format!("deckcast-cmake-{}", random_hex(4).unwrap()));
    let out = Command::new("cmake")
        .arg("-S")
        .arg(workspace_root().join("cmake"))
        .arg("-B")
        .arg(&build)
        .arg("-DDECKCAST_LAYOUT=user")
        .output()
        .expect("cmake is installed by scripts/deps.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cache = std::fs::read_to_string(build.join("CMakeCache.txt")).unwrap();
    assert!(
        cache.contains(&format!("CMAKE_PROJECT_VERSION:STATIC={VERSION}")),
        "CMake's version differs from Cargo's {VERSION}"
    );
    let bad = Command::new("cmake")
        .arg("-S")
        .arg(workspace_root().join("cmake"))
        .arg("-B")
        .arg(build.join("bad"))
        .arg("-DDECKCAST_LAYOUT=nonsense")
        .output()
        .unwrap();
    assert!(!bad.status.success(), "an unknown layout is refused");
    let _ = std::fs::remove_dir_all(&build);
}

/// OBS 32+'s plugin manager reads `<data>/manifest.json` (libobs `obs_module_load_metadata`):
/// the display name replaces `obs_module_name`, and id and version come only from there.
#[test]
fn the_plugin_manifest_names_the_plugin_and_the_cargo_version() {
    let manifest: serde_json::Value =
        serde_json::from_str(&read("obs-plugin/data/manifest.json")).unwrap();
    assert_eq!(
        manifest["version"], VERSION,
        "one version source: Cargo.toml"
    );
    assert_eq!(manifest["id"], "deckcast");
    assert_eq!(manifest["display_name"], "Deckcast");
    for key in ["repository", "website", "support"] {
        assert!(
            manifest["urls"][key]
                .as_str()
                .is_some_and(|u| u.starts_with("https://")),
            "urls.{key}"
        );
    }
    for key in ["has_banner", "has_icon"] {
        assert_eq!(manifest[key], false, "no banner or icon is shipped");
    }
}

#[test]
fn the_windows_installer_matches_obs_and_the_cmake_layout() {
    let iss = read("installers/windows/deckcast.iss");
    let cmake = read("cmake/CMakeLists.txt");
    // OBS 30+ loads machine-wide plugins from %ProgramData%\obs-studio\plugins\<module>\bin\64bit.
    for needle in [
        r#"DestDir: "{commonappdata}\obs-studio\plugins\deckcast\bin\64bit""#,
        r#"DestDir: "{commonappdata}\obs-studio\plugins\deckcast\data""#,
        r#"Source: "{#StageDir}\deckcast\bin\64bit\deckcast.dll""#,
        r#"Source: "{#StageDir}\bin\deckcast.exe""#,
        "AppVersion={#AppVersion}",
        "#error Pass /DAppVersion",
    ] {
        assert!(iss.contains(needle), "deckcast.iss lacks {needle}");
    }
    // The files it takes are what the CMake windows layout installs.
    assert!(cmake.contains(r#"install(FILES "${_plugin_file}" DESTINATION "deckcast/bin/64bit")"#));
    assert!(cmake.contains(r#"set(_plugin_file "${_profile_dir}/deckcast.dll")"#));
    assert!(cmake.contains(r#"install(DIRECTORY "${_data}" DESTINATION "deckcast/data")"#));
    // Inno Setup sections are well formed: every non-comment line is a section, a directive or
    // an entry of the current section.
    let mut section = String::new();
    for line in iss
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
    {
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            assert!(line.ends_with(']'), "{line}");
            section = line.to_owned();
            continue;
        }
        assert!(!section.is_empty(), "entry outside a section: {line}");
        if section == "[Setup]" {
            assert!(line.contains('='), "[Setup] needs key=value: {line}");
        } else {
            assert!(
                line.contains(": "),
                "{section} entries are 'Key: value; ...': {line}"
            );
        }
    }
}

#[test]
fn the_macos_package_matches_obs_and_the_cmake_layout() {
    let script = read("installers/macos/build-pkg.sh");
    let cmake = read("cmake/CMakeLists.txt");
    let plist = read("cmake/Info.plist.in");
    assert!(
        script.contains(r#"plugins="$build/root/Library/Application Support/obs-studio/plugins""#)
    );
    assert!(script.contains("deckcast.plugin"));
    assert!(cmake.contains(r#"DESTINATION "deckcast.plugin/Contents/MacOS")"#));
    assert!(cmake.contains(r#"DESTINATION "deckcast.plugin/Contents/Resources")"#));
    for key in [
        "CFBundleExecutable",
        "CFBundleVersion",
        "CFBundlePackageType",
    ] {
        assert!(plist.contains(&format!("<key>{key}</key>")), "{key}");
    }
    assert!(plist.contains("<string>@DECKCAST_VERSION@</string>"));
    assert_eq!(
        plist.matches("<key>").count(),
        plist.matches("</key>").count()
    );
    let out = Command::new("sh")
        .arg("-n")
        .arg(workspace_root().join("installers/macos/build-pkg.sh"))
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn the_flatpak_manifest_is_an_obs_plugin_extension() {
    let m: serde_json::Value = serde_json::from_str(&read(
        "installers/flatpak/com.obsproject.Studio.Plugin.Deckcast.json",
    ))
    .unwrap();
    assert_eq!(m["id"], "com.obsproject.Studio.Plugin.Deckcast");
    assert_eq!(m["runtime"], "com.obsproject.Studio");
    assert_eq!(m["build-extension"], true);
    let prefix = m["build-options"]["prefix"].as_str().unwrap();
    assert!(prefix.starts_with("/app/plugins/"), "{prefix}");
    let module = &m["modules"][0];
    assert_eq!(module["subdir"], "cmake", "built by the CMake project");
    let opts: Vec<&str> = module["config-opts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    // OBS's Flatpak merges lib/obs-plugins and share/obs/obs-plugins of every extension.
    assert!(opts.contains(&"-DCMAKE_INSTALL_LIBDIR=lib"), "{opts:?}");
    assert!(opts.contains(&"-DDECKCAST_LAYOUT=system"), "{opts:?}");
    assert!(
        m["sdk-extensions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains("rust")),
        "needs a Rust SDK extension"
    );
}

#[test]
fn the_webhook_verifier_in_the_docs_is_the_shipped_one() {
    let doc = read("docs/platform-api.md");
    let code = read("docs/webhook_verify.py");
    let body = &code[code.find("import hashlib").unwrap()..];
    assert!(
        doc.contains(body.trim()),
        "docs/platform-api.md must show docs/webhook_verify.py verbatim"
    );
    let contract: serde_json::Value =
        serde_json::from_str(&read("docs/platform-openapi.json")).unwrap();
    for kind in [
        "stream.started",
        "stream.ended",
        "target.state",
        "health",
        "nowplaying",
        "schedule",
    ] {
        assert!(
            contract["webhooks"][kind].is_object(),
            "{kind} undocumented"
        );
        assert!(
            doc.contains(&format!("`{kind}`")),
            "{kind} missing in platform-api.md"
        );
    }
}
