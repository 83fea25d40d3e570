//! `deckcast listen` on an ALSA `file`-plugin capture device (no sound hardware): a raw 128 BPM
//! house track read through cpal reports 128 ± 0.5 BPM. Runs in the default tier (no OBS), but
//! needs the ALSA runtime that scripts/deps.sh installs.
use std::process::Command;

use deckcast_tests::artifacts;
use deckcast_tests::util::random_hex;
use deckcast_tests::wav::house;

#[test]
fn listen_reports_128_bpm_from_an_alsa_capture_device() {
    let dir = std::env::temp_dir().join(format!("deckcast-listen-{}", random_hex(4).unwrap()));
    std::fs::create_dir_all(&dir).unwrap();
    // 25 s: a little more than the 20 s listened to (the file plugin repeats stale data after
    // the end of its input).
    let conf = deckcast_tests::alsa::file_device(&dir, 25.0, house(128.0)).unwrap();
    let deckcast = &artifacts::get().unwrap().deckcast;
    let list = Command::new(deckcast)
        .args(["listen", "--list"])
        .env("ALSA_CONFIG_PATH", &conf)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("filein"),
        "the test device is listed: {}",
        String::from_utf8_lossy(&list.stdout)
    );
    let out = Command::new(deckcast)
        .args([
            "listen",
            "--device",
            "alsa:filein",
            "--seconds",
            "20",
            "--json",
        ])
        .env("ALSA_CONFIG_PATH", &conf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bpm = v["bpm"].as_f64().unwrap();
    assert!((bpm - 128.0).abs() <= 0.5, "listen found {bpm} BPM: {v}");
    assert!(v["sample_rate"].as_u64().unwrap() >= 44_100, "{v}");
    assert!(v["timeline"].as_array().unwrap().len() >= 19);
    // A device that does not exist is a clear error.
    let out = Command::new(deckcast)
        .args(["listen", "--device", "alsa:nope", "--seconds", "1"])
        .env("ALSA_CONFIG_PATH", &conf)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no audio device 'alsa:nope'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
