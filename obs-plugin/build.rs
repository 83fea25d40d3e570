//! Builds the Qt dock shim (`ui/dock.cpp`) with the `dock` feature (default): a thin C++ view
//! over the Rust core, compiled against Qt 6 Widgets found by pkg-config (Debian: qt6-base-dev).
//! OBS itself loads Qt, so the plugin runs with whatever Qt 6 the OBS build uses.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=ui/dock.cpp");
    if std::env::var_os("CARGO_FEATURE_DOCK").is_none() {
        return;
    }
    let qt = |args: &[&str]| -> Vec<String> {
        let out = std::process::Command::new("pkg-config")
            .args(args)
            .arg("Qt6Widgets")
            .output()
            .unwrap_or_else(|e| panic!("the dock needs pkg-config ({e}); install pkg-config qt6-base-dev or build with --no-default-features"));
        if !out.status.success() {
            panic!(
                "the dock needs Qt 6 Widgets (pkg-config Qt6Widgets failed: {}); install qt6-base-dev or build with --no-default-features",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("ui/dock.cpp")
        .flag("-std=c++17")
        .flag("-fPIC")
        .flag("-fvisibility=hidden")
        .warnings(true);
    for flag in qt(&["--cflags"]) {
        build.flag(&flag);
    }
    build.compile("deckcast_dock");
    for flag in qt(&["--libs"]) {
        if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        } else if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        }
    }
}
