//! The `deckcast` binary's command line without OBS: version, usage errors, unreachable OBS.
use std::net::TcpListener;
use std::process::{Command, Output};

fn deckcast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deckcast"))
        .args(args)
        .env_remove("DECKCAST_OBS_PASSWORD")
        .env_remove("DECKCAST_OBS_PORT")
        .env_remove("DECKCAST_OBS_HOST")
        .output()
        .expect("running deckcast")
}

#[test]
fn version_matches_the_workspace_version() {
    let out = deckcast(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("deckcast {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn status_against_a_closed_port_fails_with_exit_3_and_says_why() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = deckcast(&["status", "--port", &port.to_string()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot reach obs-websocket at 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    assert!(out.stdout.is_empty());
}

/// `deckcast [--json] serve` with no Secret Service on the session bus and no token in the
/// environment.
fn serve_without_a_keyring(json: bool) -> Output {
    let dir = std::env::temp_dir().join(format!(
        "deckcast-cli-nokeyring-{json}-{}",
        std::process::id()
    ));
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--data-dir"];
    if json {
        args.insert(0, "--json");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_deckcast"))
        .args(args)
        .arg(&dir)
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/deckcast-test-bus",
        )
        .env_remove("DECKCAST_DASHBOARD_TOKEN")
        .env_remove("DECKCAST_OBS_PASSWORD")
        .output()
        .expect("running deckcast");
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[test]
fn serve_without_a_keyring_exits_8_and_names_the_alternative() {
    let out = serve_without_a_keyring(false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{err}");
    assert!(err.contains("DECKCAST_DASHBOARD_TOKEN"), "{err}");
}

#[test]
fn a_short_dashboard_token_from_the_environment_is_refused() {
    let dir = std::env::temp_dir().join(format!("deckcast-cli-short-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_deckcast"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env("DECKCAST_DASHBOARD_TOKEN", "hunter2")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/deckcast-test-bus",
        )
        .output()
        .expect("running deckcast");
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("at least 32 characters"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn the_password_is_never_accepted_on_the_command_line() {
    let out = deckcast(&["status", "--password", "secret-in-argv"]);
    assert_eq!(out.status.code(), Some(2), "clap usage error expected");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--password"), "{err}");
}

/// Writes `seconds` of a kick drum at `bpm` as 16-bit stereo WAV.
fn kick_wav(path: &std::path::Path, bpm: f64, sr: u32, seconds: f64) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: sr,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let period = 60.0 / bpm;
    for i in 0..(seconds * f64::from(sr)) as usize {
        let t = i as f64 / f64::from(sr);
        let since = t % period;
        let phase =
            std::f64::consts::TAU * (45.0 * since + 105.0 / 30.0 * (1.0 - (-30.0 * since).exp()));
        let v = if since < 0.25 {
            0.8 * phase.sin() * (-since / 0.12).exp()
        } else {
            0.0
        };
        let s = (v * 32767.0) as i16;
        w.write_sample(s).unwrap();
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn analyze_eval_scores_a_directory_beside_aubio() {
    let dir = std::env::temp_dir().join(format!("deckcast-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    kick_wav(&dir.join("kick128.wav"), 128.0, 44_100, 12.0);
    kick_wav(&dir.join("kick100.wav"), 100.0, 48_000, 16.0);
    // 10 s of silence: no beat.
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(dir.join("silence.wav"), spec).unwrap();
    for _ in 0..441_000 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    std::fs::write(
        dir.join("truth.csv"),
        "file,bpm\nkick128.wav,128\nkick100.wav,100\nsilence.wav,none\n\
         # the same file under a half-tempo truth: an octave error, Acc2 only\nkick128.wav,64\n",
    )
    .unwrap();
    let out = deckcast(&["analyze", "--eval", dir.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = v["files"].as_array().unwrap();
    let classes: Vec<&str> = files.iter().map(|f| f["class"].as_str().unwrap()).collect();
    assert_eq!(classes, ["strict", "strict", "rightly_none", "acc2"], "{v}");
    assert_eq!(v["deckcast"]["files"], 4);
    assert_eq!(v["deckcast"]["strict"], 3);
    assert_eq!(v["deckcast"]["acc2"], 4);
    for f in &files[..2] {
        let first = f["first_stable_s"].as_f64().unwrap();
        assert!(first > 0.0 && first < 12.0, "{f}");
        assert!(f["wander_bpm"].as_f64().unwrap() >= 0.0, "{f}");
        assert!(f["realtime_factor"].as_f64().unwrap() > 1.0, "{f}");
    }
    // aubio (python3-aubio, installed by scripts/deps.sh) ran on the same files.
    let aubio = &v["aubio"];
    assert_eq!(aubio["files"], 4, "{v}");
    // Its readings are its own (on a bare kick it reads about 67 BPM): only that it read the
    // beat files, found nothing in the silence and was scored like Deckcast is checked here.
    for f in &files[..2] {
        assert!(f["aubio_bpm"].as_f64().is_some_and(|b| b > 0.0), "{f}");
        assert!(f["aubio_class"].is_string(), "{f}");
    }
    assert_eq!(files[2]["aubio_class"], "rightly_none", "{v}");
    // The table says the same.
    let text = deckcast(&["analyze", "--eval", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("deckcast     strict 3/4"), "{text}");
    assert!(text.contains("aubio tempo  strict"), "{text}");
    // A bad truth line is named, and nothing is scored.
    std::fs::write(dir.join("truth.csv"), "kick128.wav,fast\n").unwrap();
    let bad = deckcast(&["analyze", "--eval", dir.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("line 1"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    // A FILE and --eval together is a usage error.
    let both = deckcast(&["analyze", "x.wav", "--eval", dir.to_str().unwrap()]);
    assert_eq!(both.status.code(), Some(2));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn analyze_prints_the_tempo_of_a_wav_file() {
    let dir = std::env::temp_dir().join(format!("deckcast-analyze-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wav = dir.join("kick128.wav");
    kick_wav(&wav, 128.0, 44_100, 12.0);
    let out = deckcast(&["analyze", wav.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bpm = v["bpm"].as_f64().unwrap();
    assert!((bpm - 128.0).abs() <= 0.5, "{bpm}");
    assert_eq!(v["timeline"].as_array().unwrap().len(), 12);
    let text = deckcast(&[
        "analyze",
        wav.to_str().unwrap(),
        "--max-bpm",
        "120",
        "--min-bpm",
        "60",
    ]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines().last().unwrap().starts_with("tempo: 64.0 BPM"),
        "{text}"
    );
    let missing = deckcast(&["analyze", dir.join("nope.wav").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("cannot read"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// With `--json`, an error is one JSON object on standard error, with the exit status in it.
fn json_error(out: &Output) -> serde_json::Value {
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line of JSON: {err}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).expect("JSON on standard error");
    assert_eq!(
        v["error"]["exitCode"].as_i64(),
        out.status.code().map(i64::from),
        "{v}"
    );
    v
}

#[test]
fn json_prints_errors_as_json_with_the_documented_exit_code() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = deckcast(&["--json", "status", "--port", &port.to_string()]);
    assert_eq!(out.status.code(), Some(3));
    let v = json_error(&out);
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("cannot reach obs-websocket"), "{v}");
    assert_eq!(v["error"]["causes"][0].as_str(), Some(message), "{v}");

    // The flag is global: after the command too, and for usage errors (exit 2).
    let out = deckcast(&["status", "--no-such-flag", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let v = json_error(&out);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unexpected argument '--no-such-flag'"),
        "{v}"
    );

    // Without --json the same error stays text.
    let out = deckcast(&["status", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
}

#[test]
fn serve_without_a_keyring_exits_8_in_json_too() {
    let out = serve_without_a_keyring(true);
    assert_eq!(out.status.code(), Some(8));
    let v = json_error(&out);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DECKCAST_DASHBOARD_TOKEN"),
        "{v}"
    );
}

#[test]
fn values_out_of_range_are_usage_errors_not_silently_clamped() {
    for (args, says) in [
        (&["serve", "--keep-raw-hours", "0"][..], "--keep-raw-hours"),
        (&["serve", "--keep-raw-hours", "721"][..], "1..=720"),
        (
            &[
                "feeds",
                "add",
                "https://example.com/x.ics",
                "--refresh-minutes",
                "0",
            ][..],
            "1..=1440",
        ),
        (
            &["feeds", "preview", "x.ics", "--default-length", "1441"][..],
            "0..=1440",
        ),
        (
            &["analyze", "x.wav", "--min-bpm", "10"][..],
            "not a BPM in 30–400",
        ),
        (&["analyze", "x.wav", "--step", "0"][..], "not a step"),
        (&["analyze", "x.wav", "--step", "nan"][..], "not a step"),
        (
            &["listen", "--seconds=-1"][..],
            "not a positive number of seconds",
        ),
        (&["recordings", "list", "--limit", "0"][..], "1..=500"),
    ] {
        let out = deckcast(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn help_and_man_pages_list_the_exit_codes_and_completions_parse() {
    let out = deckcast(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("8  no usable keyring"), "{help}");
    assert!(help.contains("--json"), "{help}");

    let dir = std::env::temp_dir().join(format!("deckcast-cli-docs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.to_str().unwrap();
    let out = deckcast(&["generate-docs", dir_arg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(dir.join("man1/deckcast.1")).unwrap();
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH deckcast 1"),
        "{page}"
    );
    assert!(page.contains("no usable keyring"), "{page}");
    // Every command has its own page (a page per subcommand, as git does).
    for sub in ["serve", "schedule-add", "recordings-export", "reair-start"] {
        let p = dir.join(format!("man1/deckcast-{sub}.1"));
        assert!(p.exists(), "{}", p.display());
    }
    // The hidden packaging command is not documented.
    assert!(!dir.join("man1/deckcast-generate-docs.1").exists());
    let bash = dir.join("completions/deckcast.bash");
    let text = std::fs::read_to_string(&bash).unwrap();
    assert!(text.contains("complete -F _deckcast"), "{text}");
    assert!(text.contains("--keep-raw-hours"));
    let syntax = Command::new("bash").arg("-n").arg(&bash).output().unwrap();
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    assert!(dir.join("completions/_deckcast").exists());
    assert!(dir.join("completions/deckcast.fish").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Floating times (no `TZID`, no `Z`) are this computer's wall clock, RFC 5545 §3.3.5: a daily
/// 20:00 set stays at 20:00 local across the change to summer time, so its UTC start moves by an
/// hour; in UTC it does not move. The local zone comes from `TZ`, as for any program.
#[test]
fn floating_recurrences_follow_the_local_clock_across_summer_time() {
    let dir = std::env::temp_dir().join(format!("deckcast-floating-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ics = dir.join("floating.ics");
    std::fs::write(
        &ics,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//floating//EN\r\nBEGIN:VEVENT\r\n\
         UID:floating-daily\r\nSUMMARY:Evening set\r\nDTSTART:20260327T200000\r\n\
         DTEND:20260327T210000\r\nRRULE:FREQ=DAILY;COUNT=5\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .unwrap();
    let starts = |tz: &str| -> Vec<i64> {
        let out = Command::new(env!("CARGO_BIN_EXE_deckcast"))
            .args(["--json", "feeds", "preview"])
            .arg(&ics)
            .args([
                "--from",
                "2026-03-26T00:00:00Z",
                "--to",
                "2026-04-02T00:00:00Z",
            ])
            .env("TZ", tz)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["instances"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|i| i["startMs"].as_i64().unwrap())
            .collect()
    };
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    };
    // London moves from GMT to BST (UTC+1) at 01:00 UTC on Sunday 29 March 2026.
    assert_eq!(
        starts("Europe/London"),
        vec![
            at("2026-03-27T20:00:00Z"),
            at("2026-03-28T20:00:00Z"),
            at("2026-03-29T19:00:00Z"),
            at("2026-03-30T19:00:00Z"),
            at("2026-03-31T19:00:00Z"),
        ]
    );
    // New York has been on EDT (UTC−4) since 8 March: every set at 00:00 UTC the next day.
    assert_eq!(
        starts("America/New_York"),
        (0..5)
            .map(|d| at("2026-03-28T00:00:00Z") + d * 86_400_000)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        starts("UTC"),
        (0..5)
            .map(|d| at("2026-03-27T20:00:00Z") + d * 86_400_000)
            .collect::<Vec<_>>()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
