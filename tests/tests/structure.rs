//! Structural guarantees of the build (fast tier, no OBS needed): the plugin exports the OBS module
//! ABI and links no libobs at build time; the FFI keyword lives only in the two boundary places.
use std::path::{Path, PathBuf};
use std::process::Command;

use deckcast_tests::artifacts;

fn tool(program: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .expect(program);
    assert!(
        out.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_plugin_exports_the_obs_module_abi() {
    let so = &artifacts::get().unwrap().plugin_so;
    let defined = tool("nm", &["-D", "--defined-only"], so);
    for sym in [
        "obs_module_load",
        "obs_module_post_load",
        "obs_module_unload",
        "obs_module_set_pointer",
        "obs_current_module",
        "obs_module_ver",
        "obs_module_name",
        "obs_module_description",
        "obs_module_set_locale",
        "obs_module_free_locale",
    ] {
        assert!(
            defined.lines().any(|l| l.ends_with(&format!(" T {sym}"))),
            "{sym} not exported:\n{defined}"
        );
    }
    // libobs symbols are resolved inside OBS at load time, not linked.
    let undefined = tool("nm", &["-D", "--undefined-only"], so);
    assert!(
        undefined.lines().any(|l| l.trim_end().ends_with(" blog")),
        "{undefined}"
    );
    let dynamic = tool("readelf", &["-d"], so);
    assert!(
        !dynamic.contains("libobs"),
        "the plugin must not link libobs:\n{dynamic}"
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// True if `line` contains the keyword as a whole word (not `unsafe_code`).
fn has_keyword(line: &str, keyword: &str) -> bool {
    line.match_indices(keyword).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + keyword.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !word(before) && !word(after)
    })
}

#[test]
fn unsafe_appears_only_in_the_two_boundary_places() {
    let root = artifacts::workspace_root();
    let allowed = [root.join("obs-plugin/sys"), root.join("obs-plugin/src/obs")];
    let keyword = ["un", "safe"].concat();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 10, "found only {} .rs files", files.len());
    let mut offenders = Vec::new();
    let mut inside = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let hits = text.lines().filter(|l| has_keyword(l, &keyword)).count();
        if allowed.iter().any(|a| file.starts_with(a)) {
            inside += hits;
        } else if hits > 0 {
            offenders.push(file.display().to_string());
        }
    }
    assert!(
        offenders.is_empty(),
        "`{keyword}` outside the boundary: {offenders:?}"
    );
    assert!(
        inside > 0,
        "the boundary itself should contain the FFI code"
    );
    assert!(has_keyword(&format!("x = {keyword} {{ f() }}"), &keyword));
    assert!(!has_keyword(&format!("{keyword}_code = 1"), &keyword));
}
