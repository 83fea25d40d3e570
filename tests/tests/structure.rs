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

/// Every `extern "C" fn` defined in the plugin with its file and body.
fn extern_c_fns(root: &Path) -> Vec<(PathBuf, String, String)> {
    let mut files = Vec::new();
    rust_files(&root.join("obs-plugin/src"), &mut files);
    let marker = ["extern \"C\"", " fn "].concat();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(&marker) {
            let from = &rest[at..];
            let name: String = from[marker.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // The body: from the first `{` after the signature to its matching `}`.
            let open = from.find('{').unwrap();
            let mut depth = 0;
            let mut end = open;
            for (i, c) in from[open..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = open + i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            out.push((file.clone(), name, from[..=end].to_owned()));
            rest = &from[end..];
        }
    }
    out
}

#[test]
fn every_extern_c_fn_is_a_guarded_trampoline_at_the_boundary() {
    let root = artifacts::workspace_root();
    let boundary = root.join("obs-plugin/src/obs");
    let fns = extern_c_fns(&root);
    assert!(fns.len() > 20, "found only {} extern \"C\" fns", fns.len());
    let mut problems = Vec::new();
    for (file, name, body) in &fns {
        let rel = file.strip_prefix(&root).unwrap().display().to_string();
        if rel.ends_with("test_stubs.rs") {
            continue; // unit-test link stubs, compiled only into tests
        }
        if !file.starts_with(&boundary) {
            problems.push(format!("{rel}: {name} is outside obs-plugin/src/obs"));
        }
        if !body.contains("guard::catch(") {
            problems.push(format!("{rel}: {name} does not run under guard::catch"));
        }
        // Pointer arguments it uses (not `_unused`) are checked before anything reads them: an
        // explicit null check, or the instance lookup that turns a null data pointer into None.
        let signature = &body[..body.find('{').unwrap()];
        let args = &signature[signature.find('(').unwrap()..signature.rfind(')').unwrap()];
        let used_pointer = args.split(',').any(|a| {
            let a = a.trim().trim_start_matches('(').trim();
            (a.contains("*mut") || a.contains("*const")) && !a.starts_with('_')
        });
        if used_pointer && !(body.contains("is_null()") || body.contains("instance::<")) {
            problems.push(format!(
                "{rel}: {name} takes pointers but never null-checks them"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // The source callbacks are one generic set, not one per source.
    let source_trampolines = fns
        .iter()
        .filter(|(f, _, _)| f.ends_with("obs/source.rs"))
        .count();
    assert!(source_trampolines >= 12, "{source_trampolines}");
    assert!(
        !fns.iter()
            .any(|(f, _, _)| f.to_string_lossy().contains("nowplaying")
                || f.to_string_lossy().contains("visualizer")),
        "the sources are safe code"
    );
}

/// Source files outside the protocol crate and tests (for the contract checks below).
fn product_sources(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["obs-plugin/src", "companion/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    files.retain(|f| {
        let name = f.file_name().unwrap().to_string_lossy();
        !(name == "tests.rs" || name == "test.rs" || name == "test_stubs.rs")
    });
    files
}

/// The part of a file before its `#[cfg(test)]` module.
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests")
        .map_or(text, |i| &text[..i])
}

#[test]
fn request_and_event_names_live_only_in_the_protocol() {
    let root = artifacts::workspace_root();
    let protocol = std::fs::read_to_string(root.join("obs-plugin/protocol/src/lib.rs")).unwrap();
    // Every `as "Name"` in the protocol's contract table.
    let names: Vec<String> = protocol
        .split(" as \"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_owned())
        .collect();
    assert!(names.len() >= 20, "{names:?}");
    let mut offenders = Vec::new();
    for file in product_sources(&root) {
        let text = std::fs::read_to_string(&file).unwrap();
        for name in &names {
            if without_tests(&text).contains(&format!("\"{name}\"")) {
                offenders.push(format!("{}: \"{name}\"", file.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn no_json_macro_builds_a_payload_outside_the_protocol() {
    let root = artifacts::workspace_root();
    let mac = ["json", "!("].concat();
    let offenders: Vec<String> = product_sources(&root)
        .into_iter()
        .filter(|f| without_tests(&std::fs::read_to_string(f).unwrap()).contains(&mac))
        .map(|f| f.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// The companion library's top-level modules and which others each one names (`crate::x`).
fn companion_module_graph(
    root: &Path,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    use std::collections::{BTreeMap, BTreeSet};
    let src = root.join("companion/src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let modules: Vec<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_owned())
        .collect();
    let mut graph = BTreeMap::new();
    for m in &modules {
        let mut files = Vec::new();
        let dir = src.join(m);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        } else {
            files.push(src.join(format!("{m}.rs")));
        }
        let mut uses = BTreeSet::new();
        // Test-only files (`tests.rs`, the fake OBS) may use anything.
        files.retain(|f| {
            let name = f.file_name().unwrap().to_string_lossy();
            name != "tests.rs" && name != "fake.rs"
        });
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            // Code only: doc comments may name other modules without depending on them.
            let text: String = without_tests(&text)
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for other in &modules {
                let path = format!("crate::{other}");
                let named = text.match_indices(&path).any(|(i, _)| {
                    !text[i + path.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
                if other != m && named {
                    uses.insert(other.clone());
                }
            }
        }
        graph.insert(m.clone(), uses);
    }
    graph
}

#[test]
fn companion_modules_have_no_import_cycles() {
    let graph = companion_module_graph(&artifacts::workspace_root());
    assert!(graph.len() > 10, "{graph:?}");
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_owned());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for next in &graph[m] {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    for m in graph.keys() {
        if let Some(cycle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
    // The check itself sees dependencies (the web layer uses the app).
    assert!(graph["web"].contains("app"), "{graph:?}");
}

/// The README's pictures exist, are real PNGs of a useful size, and each is one the e2e rig takes
/// from the running product (`keep("<name>", ..)` in `e2e_screenshots.rs`), so
/// `scripts/screenshots.sh` can bring every one of them up to date.
#[test]
fn the_readme_shows_pictures_the_rig_takes() {
    let root = artifacts::workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let rig = std::fs::read_to_string(root.join("tests/tests/e2e_screenshots.rs")).unwrap();
    let names: Vec<&str> = readme
        .split("](docs/images/")
        .skip(1)
        .filter_map(|rest| rest.split_once(".png)").map(|(name, _)| name))
        .collect();
    assert!(names.len() >= 4, "{names:?}");
    for name in names {
        let path = root.join(format!("docs/images/{name}.png"));
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap_or_else(|e| panic!("{name}.png is not a PNG: {e}"));
        let info = reader.info();
        assert!(
            info.width >= 300 && info.height >= 300,
            "{name}.png is {}x{}",
            info.width,
            info.height
        );
        assert!(
            rig.contains(&format!("keep(\"{name}\"")),
            "{name}.png is not one the rig takes (e2e_screenshots.rs)"
        );
    }
}
