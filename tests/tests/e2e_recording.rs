//! End-to-end set recording: a real OBS recording Hybrid MP4, the companion chaptering it by
//! track, nginx-rtmp for a target that goes live later, ffprobe reading the chapters from the
//! file and cuetools parsing the CUE export. Tier "e2e".
//!
//! One set of about 50 s: recording started through the API; four track changes at known times;
//! a target live 8 s in; the companion killed with SIGKILL mid-set and started again (it carries
//! on with the same recording and its tracklist); stopped through the CLI. A scheduled set that
//! records itself and tells the site (a signed `recording.finished` with the file's SHA-256).
//! An automatic recording in MKV. Recordings started in OBS through Deckcast: a vendor request,
//! the hotkey, and the dock's button clicked with the mouse. A recording uploaded to the tus
//! project's own server, cut off at half and resumed, the companion killed mid-transfer, a
//! copy whose SHA-256 the site refuses, and a wrong token.
use std::time::{Duration, Instant};

use deckcast_tests::companion::{Companion, CompanionHome, call, create_targets};
use deckcast_tests::http::Client;
use deckcast_tests::obs::{Obs, ObsOptions};
use deckcast_tests::openapi::OpenApi;
use deckcast_tests::rtmp::RtmpServer;
use deckcast_tests::runtime::{Isolation, Runtime};
use deckcast_tests::site::{Receiver, received};
use deckcast_tests::util::{free_port, wait_for};
use serde_json::{Value, json};

/// The tracks, in order.
const TRACKS: [(&str, &str); 4] = [
    ("Floorplan", "Never Grow Old"),
    ("DJ Koze", "Pick Up"),
    ("Kerri Chandler", "Rain"),
    ("Moodymann", "Shades Of Jae"),
];

/// Seconds into the recording at which each track goes on air.
const CHANGES_S: [f64; 4] = [2.0, 14.0, 26.0, 38.0];

/// What each test here runs on: nginx-rtmp, OBS recording in `format` into a scratch directory
/// (on a small tmpfs of `disk_mb` MiB if asked, mounted before OBS starts), a companion following
/// it.
struct Rig {
    api: OpenApi,
    runtime: &'static Runtime,
    host_dir: std::path::PathBuf,
    guest_dir: std::path::PathBuf,
    rtmp: RtmpServer,
    obs: Obs,
    home: CompanionHome,
    companion: Companion,
    c: Client,
    disk: Option<deckcast_tests::util::SmallDisk>,
}

impl Rig {
    fn start(label: &str, format: &str, disk_mb: Option<u32>) -> Rig {
        Rig::start_with(label, format, disk_mb, Vec::new())
    }

    /// As [`Rig::start`], with extra environment for OBS.
    fn start_with(
        label: &str,
        format: &str,
        disk_mb: Option<u32>,
        env: Vec<(String, String)>,
    ) -> Rig {
        Rig::start_opts(label, format, disk_mb, env, false)
    }

    /// As [`Rig::start_with`]; `own_encoder`: the recording has its own encoder (OBS pauses
    /// only such a recording).
    fn start_opts(
        label: &str,
        format: &str,
        disk_mb: Option<u32>,
        env: Vec<(String, String)>,
        own_encoder: bool,
    ) -> Rig {
        let api = OpenApi::load().unwrap();
        let runtime = Runtime::get().unwrap();
        let host_dir = runtime.scratch_dir(label).unwrap();
        let disk = disk_mb.map(|mb| deckcast_tests::util::SmallDisk::mount(host_dir.clone(), mb));
        let guest_dir = runtime.guest_path(&host_dir);
        let rtmp = RtmpServer::start().unwrap();
        let obs = Obs::start(ObsOptions {
            recording: Some((format.into(), guest_dir.clone())),
            recording_own_encoder: own_encoder,
            env,
            ..ObsOptions::default()
        })
        .unwrap();
        let home = CompanionHome::new().unwrap();
        let (companion, c) = Companion::start_connected(&home, &obs, "info");
        Rig {
            api,
            runtime,
            host_dir,
            guest_dir,
            rtmp,
            obs,
            home,
            companion,
            c,
            disk,
        }
    }
}

/// `PUT /api/v1/recording/settings`, checked against the API document.
fn put_settings(api: &OpenApi, c: &Client, body: &Value) -> (u16, Value) {
    call(
        api,
        c,
        "PUT",
        "/api/v1/recording/settings",
        "/api/v1/recording/settings",
        Some(body),
    )
}

fn sleep_until(t0: Instant, s: f64) {
    let at = t0 + Duration::from_secs_f64(s);
    if let Some(d) = at.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}

fn set_track(api: &OpenApi, c: &Client, (artist, title): (&str, &str)) {
    let (status, v) = call(
        api,
        c,
        "PUT",
        "/api/v1/nowplaying",
        "/api/v1/nowplaying",
        Some(&json!({"artist": artist, "title": title})),
    );
    assert!(status == 200 || status == 204, "{status} {v}");
}

/// The chapters of a file as ffprobe reads them: (start s, title).
fn chapters(guest_file: &str) -> Vec<(f64, String)> {
    let out = Runtime::get()
        .unwrap()
        .command(
            "ffprobe",
            &["-v", "error", "-show_chapters", "-of", "json", guest_file],
            &[("PATH", "/usr/bin:/bin".to_owned())],
            &Isolation::default(),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["chapters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["start_time"].as_str().unwrap().parse::<f64>().unwrap(),
                c["tags"]["title"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn tracklist(c: &Client, id: i64, query: &str) -> Value {
    c.get_json(&format!(
        "/api/v1/recordings/{id}/tracklist?format=json{query}"
    ))
    .unwrap()
}

fn offsets(list: &Value) -> Vec<(f64, String)> {
    list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["offsetMs"].as_f64().unwrap() / 1000.0,
                e["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn a_set_is_recorded_with_a_chapter_per_track_and_survives_a_companion_kill() {
    let Rig {
        api,
        runtime: _runtime,
        host_dir,
        guest_dir,
        rtmp,
        mut obs,
        home,
        mut companion,
        c,
        ..
    } = Rig::start("rec", "hybrid_mp4", None);
    // Short tracks here: the minimum length goes down to 5 s (and a bad value changes nothing).
    let (status, v) = put_settings(&api, &c, &json!({"minTrackSeconds": 601}));
    assert_eq!(status, 400, "{v}");
    let (status, v) = put_settings(&api, &c, &json!({"minTrackSeconds": 5}));
    assert_eq!((status, &v["minTrackSeconds"]), (200, &json!(5)), "{v}");
    let ids = create_targets(
        &api,
        &c,
        &[json!({"name": "Later", "platform": "custom", "server": rtmp.url(), "key": "later"})],
    );

    let (status, started) = call(
        &api,
        &c,
        "POST",
        "/api/v1/recording/start",
        "/api/v1/recording/start",
        None,
    );
    let t0 = Instant::now();
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["started"], true, "{started}");
    let id = started["recording"]["id"].as_i64().unwrap();
    // Never twice: a second start follows the running one.
    let (_, again) = call(
        &api,
        &c,
        "POST",
        "/api/v1/recording/start",
        "/api/v1/recording/start",
        None,
    );
    assert_eq!(again["started"], false, "{again}");
    assert_eq!(again["recording"]["id"], id);

    sleep_until(t0, CHANGES_S[0]);
    set_track(&api, &c, TRACKS[0]);
    sleep_until(t0, 8.0);
    let (status, v) = call(
        &api,
        &c,
        "POST",
        &format!("/api/v1/targets/{}/start", ids[0]),
        "/api/v1/targets/{id}/start",
        None,
    );
    assert_eq!(status, 200, "{v}");
    let target_started = t0.elapsed().as_secs_f64();
    sleep_until(t0, CHANGES_S[1]);
    set_track(&api, &c, TRACKS[1]);
    sleep_until(t0, CHANGES_S[2]);
    set_track(&api, &c, TRACKS[2]);

    // SIGKILL mid-set: the library keeps the running recording, its tracks up to the kill and
    // the target's start; OBS records on; a new companion carries on with it.
    sleep_until(t0, 30.0);
    companion.kill().unwrap();
    let (mut companion, c) = Companion::start_connected(&home, &obs, "info");
    let (status, now) = call(
        &api,
        &c,
        "GET",
        "/api/v1/recording",
        "/api/v1/recording",
        None,
    );
    assert_eq!(status, 200, "{now}");
    assert_eq!(now["active"], true, "{now}");
    assert_eq!(now["recording"]["id"], id, "the same recording: {now}");
    assert_eq!(now["recording"]["chapters"], "in_file", "{now}");
    // (The third track has been on air for 4 s, under the 5 s minimum: count every change.)
    let so_far = offsets(&tracklist(&c, id, "&minTrackSeconds=0"));
    let titles: Vec<&str> = so_far.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(titles, [TRACKS[0].1, TRACKS[1].1, TRACKS[2].1], "{now}");
    assert_eq!(
        now["recording"]["targets"][0]["id"],
        ids[0].as_str(),
        "{now}"
    );
    sleep_until(t0, CHANGES_S[3]);
    set_track(&api, &c, TRACKS[3]);
    sleep_until(t0, 48.0);

    // Stopped from the CLI.
    let addr = format!("http://{}", home.addr());
    let out = companion
        .run_in_session(&["record", "--api", &addr, "stop"], "")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        printed.contains(&format!("recording #{id} stopped")),
        "{printed}"
    );
    let (_, rec) = call(
        &api,
        &c,
        "GET",
        &format!("/api/v1/recordings/{id}"),
        "/api/v1/recordings/{id}",
        None,
    );
    assert_eq!(rec["ending"], "clean", "{rec}");
    assert_eq!(rec["format"], "mp4", "{rec}");
    assert_eq!(rec["startedBy"], "api", "{rec}");
    let file = rec["file"].as_str().unwrap().to_owned();
    assert!(file.starts_with(guest_dir.to_str().unwrap()), "{rec}");
    let duration = rec["durationMs"].as_f64().unwrap() / 1000.0;
    assert!((46.0..54.0).contains(&duration), "{rec}");
    // The recording's own tracklist: each change at its time (the library counts from when
    // the companion saw the recording start).
    let mine = offsets(&tracklist(&c, id, ""));
    assert_eq!(mine.len(), 4, "{mine:?}");
    for ((at, title), (want_at, (_, want_title))) in mine.iter().zip(CHANGES_S.iter().zip(TRACKS)) {
        assert_eq!(title, want_title);
        assert!(
            (at - want_at).abs() < 1.0,
            "{title}: {at} s, not {want_at} s"
        );
    }

    // The file: four chapters with the tracks' names, each within 0.5 s of its change (the
    // file's zero is the first frame OBS muxed: the spacing is what the test can know exactly,
    // and the first chapter is held to 1 s of the request that started the recording). OBS
    // itself names the part before the first chapter "Start".
    let mut got = chapters(&file);
    eprintln!("chapters in {file}: {got:?}");
    if got
        .first()
        .is_some_and(|(at, t)| *at == 0.0 && t == "Start")
    {
        got.remove(0);
    }
    assert_eq!(got.len(), 4, "{got:?}");
    for (i, ((start, title), (artist, want))) in got.iter().zip(TRACKS).enumerate() {
        assert_eq!(title, &format!("{artist} – {want}"));
        let spacing = start - got[0].0;
        let want_spacing = CHANGES_S[i] - CHANGES_S[0];
        assert!(
            (spacing - want_spacing).abs() <= 0.5,
            "chapter {i} at {start} s: {spacing} s after the first, not {want_spacing} s"
        );
    }
    assert!((got[0].0 - CHANGES_S[0]).abs() <= 1.0, "{got:?}");
    let host_file = host_dir.join(std::path::Path::new(&file).file_name().unwrap());
    assert!(
        host_file.metadata().unwrap().len() > 500_000,
        "{host_file:?}"
    );

    // The target's own tracklist counts from its start (8 s in): 8 s earlier, the track on
    // air when it went live at 00:00.
    let theirs = tracklist(&c, id, &format!("&target={}", ids[0]));
    let theirs = offsets(&theirs);
    eprintln!("recording: {mine:?}\ntarget (started {target_started:.1} s in): {theirs:?}");
    assert_eq!(theirs[0], (0.0, TRACKS[0].1.to_owned()));
    for ((at, title), (their_at, their_title)) in mine[1..].iter().zip(&theirs[1..]) {
        assert_eq!(title, their_title);
        let earlier = at - their_at;
        assert!(
            (earlier - target_started).abs() < 1.5,
            "{title}: {earlier} s earlier, not {target_started} s"
        );
    }
    let r = c
        .get(&format!("/api/v1/recordings/{id}/tracklist?target=nope"))
        .unwrap();
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.text().contains("was not live during recording"),
        "{}",
        r.text()
    );

    // The CUE sheet, through the CLI, parsed by cuetools.
    let cue = host_dir.join("set.cue");
    let out = companion
        .run_in_session(
            &[
                "recordings",
                "--api",
                &addr,
                "export",
                &id.to_string(),
                "--format",
                "cue",
                "-o",
                cue.to_str().unwrap(),
            ],
            "",
        )
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed = std::process::Command::new("cueprint")
        .args(["-d", "%N\n", "-t", "%n|%p|%t\n"])
        .arg(&cue)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&parsed.stderr);
    assert!(
        parsed.status.success() && stderr.trim().is_empty(),
        "{stderr}"
    );
    let text = String::from_utf8_lossy(&parsed.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "4", "{text}");
    for (i, (artist, title)) in TRACKS.iter().enumerate() {
        assert_eq!(
            lines[i + 1],
            format!("{}|{artist}|{title}", i + 1),
            "{text}"
        );
    }
    let breaks = std::process::Command::new("cuebreakpoints")
        .arg(&cue)
        .output()
        .unwrap();
    let breaks: Vec<f64> = String::from_utf8_lossy(&breaks.stdout)
        .lines()
        .map(|l| {
            // mm:ss.ff (75 frames a second)
            let (m, rest) = l.split_once(':').unwrap();
            let (s, f) = rest.split_once('.').unwrap();
            m.parse::<f64>().unwrap() * 60.0
                + s.parse::<f64>().unwrap()
                + f.parse::<f64>().unwrap() / 75.0
        })
        .collect();
    assert_eq!(breaks.len(), 3, "{breaks:?}");
    for (b, (at, _)) in breaks.iter().zip(&mine[1..]) {
        assert!((b - at).abs() < 0.05, "{breaks:?} {mine:?}");
    }
    // YouTube chapters from the same list: first at 00:00.
    let yt = c
        .get(&format!("/api/v1/recordings/{id}/tracklist?format=youtube"))
        .unwrap();
    assert_eq!(yt.status, 200);
    assert!(
        yt.text()
            .starts_with(&format!("00:00 {} – {}\n", TRACKS[0].0, TRACKS[0].1)),
        "{}",
        yt.text()
    );
    // The library lists it, and the CLI shows it.
    let (_, list) = call(
        &api,
        &c,
        "GET",
        "/api/v1/recordings",
        "/api/v1/recordings",
        None,
    );
    assert_eq!(list["recordings"][0]["id"], id, "{list}");
    let out = companion
        .run_in_session(&["recordings", "--api", &addr, "list"], "")
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        printed.contains(&file) && printed.contains("clean"),
        "{printed}"
    );
    // Nothing records now; stopping again is a clear conflict.
    let r = c.call("POST", "/api/v1/recording/stop", None).unwrap();
    assert_eq!(r.status, 409, "{}", r.text());
    let _ = wait_for("OBS idle", Duration::from_secs(10), || {
        Ok(c.get_json("/api/v1/recording")
            .ok()
            .filter(|v| v["active"] == false))
    })
    .unwrap();
    assert!(companion.stop(), "{}", companion.log_text());
    assert!(obs.stop(), "{}", obs.failure_report());
    drop(rtmp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn the_automatic_recording_runs_while_a_target_is_live() {
    let Rig {
        api,
        runtime,
        host_dir,
        guest_dir: _guest_dir,
        rtmp,
        mut obs,
        home,
        mut companion,
        c,
        ..
    } = Rig::start("autorec", "mkv", None);
    let (status, v) = put_settings(&api, &c, &json!({"autoRecord": true}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["minTrackSeconds"], 30,
        "the other setting keeps its default: {v}"
    );
    // Short tracks here, and the companion reads OBS's files below the chroot.
    let mut settings = json!({"autoRecord": true, "minTrackSeconds": 1});
    if let Some(root) = runtime.obs_root() {
        settings["obsRoot"] = json!(root.to_str().unwrap());
    }
    let (status, v) = put_settings(&api, &c, &settings);
    assert_eq!(status, 200, "{v}");
    let ids = create_targets(
        &api,
        &c,
        &[json!({"name": "Live", "platform": "custom", "server": rtmp.url(), "key": "auto"})],
    );
    let (status, v) = call(
        &api,
        &c,
        "POST",
        &format!("/api/v1/targets/{}/start", ids[0]),
        "/api/v1/targets/{id}/start",
        None,
    );
    assert_eq!(status, 200, "{v}");
    // The entry opens with OBS's recording; its live targets are noted by the next sync (2 s).
    let now = wait_for("the automatic recording", Duration::from_secs(20), || {
        Ok(c.get_json("/api/v1/recording").ok().filter(|v| {
            v["active"] == true
                && v["recording"].is_object()
                && v["recording"]["targets"]
                    .as_array()
                    .is_some_and(|t| !t.is_empty())
        }))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", companion.log_text()));
    assert_eq!(now["recording"]["startedBy"], "live", "{now}");
    assert_eq!(
        now["recording"]["targets"][0]["id"],
        ids[0].as_str(),
        "{now}"
    );
    // Tracks on an MKV recording: no chapters from OBS (it takes them in Hybrid MP4 only), said
    // so; written into the file with ffmpeg once it has ended.
    set_track(&api, &c, TRACKS[0]);
    std::thread::sleep(Duration::from_secs(4));
    set_track(&api, &c, TRACKS[1]);
    std::thread::sleep(Duration::from_secs(4));
    let (status, v) = call(
        &api,
        &c,
        "POST",
        &format!("/api/v1/targets/{}/stop", ids[0]),
        "/api/v1/targets/{id}/stop",
        None,
    );
    assert_eq!(status, 200, "{v}");
    let id = now["recording"]["id"].as_i64().unwrap();
    let rec = wait_for("the automatic stop", Duration::from_secs(30), || {
        Ok(c.get_json(&format!("/api/v1/recordings/{id}"))
            .ok()
            .filter(|v| v["ending"] == "clean" && v["sha256"].is_string()))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", companion.log_text()));
    api.check_response("GET", "/api/v1/recordings/{id}", 200, &rec)
        .unwrap();
    assert_eq!(rec["format"], "mkv", "{rec}");
    assert_eq!(rec["chapters"], "remuxed", "{rec}");
    let mut in_file = chapters(rec["file"].as_str().unwrap());
    in_file.retain(|(_, t)| t != "Start");
    let want: Vec<(f64, String)> = rec["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["offsetMs"].as_f64().unwrap() / 1000.0,
                format!(
                    "{} – {}",
                    t["artist"].as_str().unwrap(),
                    t["title"].as_str().unwrap()
                ),
            )
        })
        .collect();
    assert_eq!(want.len(), 2, "{rec}");
    assert_eq!(in_file.len(), 2, "{in_file:?}");
    for ((at, title), (want_at, want_title)) in in_file.iter().zip(&want) {
        assert_eq!(title, want_title);
        assert!((at - want_at).abs() < 0.01, "{in_file:?} vs {want:?}");
    }
    let history = c.get_json("/api/v1/history?limit=200").unwrap();
    assert!(
        history
            .to_string()
            .contains("chapters need OBS's Hybrid MP4 format"),
        "{history}"
    );
    assert!(
        history
            .to_string()
            .contains("written into the file afterwards"),
        "{history}"
    );
    let file = rec["file"].as_str().unwrap();
    let host_file = host_dir.join(std::path::Path::new(file).file_name().unwrap());
    assert!(
        host_file.metadata().unwrap().len() > 100_000,
        "{host_file:?}"
    );
    // The hash is the remuxed file's; nothing was left beside it.
    assert_eq!(rec["sha256"], sha256sum(&host_file).as_str(), "{rec}");
    let left: Vec<_> = std::fs::read_dir(&host_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");

    // The audio-only copy, through the CLI: the audio stream alone, copied (same codec, rate,
    // channels), as long as the recording, with the chapters.
    let addr = format!("http://{}", home.addr());
    let saved = home.dir.join("set-audio.m4a");
    let out = companion
        .run_in_session(
            &[
                "recordings",
                "--api",
                &addr,
                "audio",
                &id.to_string(),
                "-o",
                saved.to_str().unwrap(),
            ],
            "",
        )
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let beside = host_file.with_file_name(format!(
        "{}.audio.m4a",
        host_file.file_stem().unwrap().to_str().unwrap()
    ));
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        std::fs::read(&beside).unwrap()
    );
    let guest_audio = runtime.guest_path(&beside);
    let streams = |f: &str| -> Vec<Value> {
        let out = runtime
            .command(
                "ffprobe",
                &[
                    "-v",
                    "error",
                    "-show_streams",
                    "-show_format",
                    "-of",
                    "json",
                    f,
                ],
                &[("PATH", "/usr/bin:/bin".to_owned())],
                &Isolation::default(),
            )
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["streams"].as_array().unwrap().clone()
    };
    // (MP4 keeps chapters as a text track: they come along, and no video.)
    let audio: Vec<Value> = streams(guest_audio.to_str().unwrap())
        .into_iter()
        .filter(|s| s["codec_type"] != "data")
        .collect();
    assert_eq!(audio.len(), 1, "{audio:?}");
    assert_eq!(chapters(guest_audio.to_str().unwrap()).len(), 2);
    let source = streams(file);
    let source_audio = source.iter().find(|s| s["codec_type"] == "audio").unwrap();
    for k in ["codec_type", "codec_name", "sample_rate", "channels"] {
        assert_eq!(
            audio[0][k], source_audio[k],
            "{k}: {audio:?} vs {source_audio}"
        );
    }
    let length = file_duration(guest_audio.to_str().unwrap());
    let listed = rec["durationMs"].as_f64().unwrap() / 1000.0;
    assert!((length - listed).abs() < 3.0, "{length} s vs {listed} s");
    // Asked again: the copy made before.
    let again = c
        .call("POST", &format!("/api/v1/recordings/{id}/audio"), None)
        .unwrap();
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json().unwrap()["created"], false);
    assert!(companion.stop(), "{}", companion.log_text());
    assert!(obs.stop(), "{}", obs.failure_report());
    drop(rtmp);
}

/// `sha256sum`'s digest of a host file.
fn sha256sum(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "sha256sum {path:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig and python3 (see README: the test command runs this tier)"]
async fn a_scheduled_set_records_itself_and_the_site_gets_the_file_with_its_hash() {
    let platform = OpenApi::load_from("docs/platform-openapi.json").unwrap();
    let Rig {
        api,
        runtime,
        host_dir,
        guest_dir: _guest_dir,
        rtmp,
        mut obs,
        home,
        mut companion,
        c,
        ..
    } = Rig::start("setrec", "hybrid_mp4", None);
    // A root that is not there is refused with its name.
    let (status, v) = put_settings(&api, &c, &json!({"obsRoot": "/no/such/dir"}));
    assert_eq!(status, 400, "{v}");
    assert!(v.to_string().contains("/no/such/dir"), "{v}");
    // OBS runs in a chroot here: the companion reads its files below the chroot.
    let mut settings = json!({"minTrackSeconds": 5});
    if let Some(root) = runtime.obs_root() {
        settings["obsRoot"] = json!(root.to_str().unwrap());
    }
    let (status, v) = put_settings(&api, &c, &settings);
    assert_eq!(status, 200, "{v}");
    // The site's webhook receiver, checking every signature.
    let port = free_port().unwrap();
    let r = c
        .call(
            "PUT",
            "/api/v1/platform",
            Some(&json!({"webhookUrl": format!("http://127.0.0.1:{port}/deckcast")})),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let out = home.run(&["platform", "secret", "show"], "").unwrap();
    let secret = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(secret.len(), 64);
    let log = host_dir.join("received.jsonl");
    let _receiver = Receiver::start(port, &secret, &log, &[]);
    let ids = create_targets(
        &api,
        &c,
        &[json!({"name": "Friday", "platform": "custom", "server": rtmp.url(), "key": "set"})],
    );

    // A set from 3 s to 27 s from now; `record` left out: on by default.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (start_ms, end_ms) = (now_ms + 3_000, now_ms + 27_000);
    let (status, set) = call(
        &api,
        &c,
        "POST",
        "/api/v1/schedule",
        "/api/v1/schedule",
        Some(
            &json!({"title": "Friday recorded", "start": start_ms, "end": end_ms, "targets": ids}),
        ),
    );
    assert_eq!(status, 201, "{set}");
    assert_eq!(set["record"], true, "{set}");
    let now = wait_for("the set's recording", Duration::from_secs(20), || {
        Ok(c.get_json("/api/v1/recording")
            .ok()
            .filter(|v| v["active"] == true && v["recording"].is_object()))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", companion.log_text()));
    let t0 = Instant::now();
    let id = now["recording"]["id"].as_i64().unwrap();
    assert_eq!(now["recording"]["startedBy"], "schedule", "{now}");
    assert_eq!(now["recording"]["setId"], set["id"], "{now}");
    // Never twice: a start now follows the set's recording.
    let (_, again) = call(
        &api,
        &c,
        "POST",
        "/api/v1/recording/start",
        "/api/v1/recording/start",
        None,
    );
    assert_eq!(
        (&again["started"], &again["recording"]["id"]),
        (&json!(false), &json!(id)),
        "{again}"
    );
    sleep_until(t0, 2.0);
    set_track(&api, &c, TRACKS[0]);
    sleep_until(t0, 12.0);
    set_track(&api, &c, TRACKS[1]);

    // The set ends: its recording stops with it, cleanly, with the file's hash.
    let rec = wait_for(
        "the recording's end and hash",
        Duration::from_secs(60),
        || {
            Ok(c.get_json(&format!("/api/v1/recordings/{id}"))
                .ok()
                .filter(|v| v["ending"] == "clean" && v["sha256"].is_string()))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", companion.log_text()));
    api.check_response("GET", "/api/v1/recordings/{id}", 200, &rec)
        .unwrap();
    let sched = c.get_json("/api/v1/schedule").unwrap();
    let entry = sched["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == set["id"])
        .cloned()
        .unwrap();
    assert_eq!(entry["state"], "done", "{sched}");
    let duration = rec["durationMs"].as_f64().unwrap() / 1000.0;
    assert!((20.0..30.0).contains(&duration), "{rec}");
    let titles: Vec<&str> = rec["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, [TRACKS[0].1, TRACKS[1].1], "{rec}");
    assert_eq!(rec["targets"][0]["id"], ids[0].as_str(), "{rec}");
    let file = rec["file"].as_str().unwrap();
    let host_file = host_dir.join(std::path::Path::new(file).file_name().unwrap());
    let digest = sha256sum(&host_file);
    assert_eq!(rec["sha256"], digest.as_str(), "{rec}");
    assert_eq!(
        rec["bytes"].as_u64(),
        Some(host_file.metadata().unwrap().len()),
        "{rec}"
    );
    let mut got = chapters(file);
    got.retain(|(at, t)| !(*at == 0.0 && t == "Start"));
    let names: Vec<&str> = got.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        names,
        [
            format!("{} – {}", TRACKS[0].0, TRACKS[0].1),
            format!("{} – {}", TRACKS[1].0, TRACKS[1].1)
        ],
        "{got:?}"
    );

    // The site hears of it once, signed, with the same hash and the tracklists.
    let event = wait_for(
        "recording.finished at the site",
        Duration::from_secs(60),
        || {
            Ok(received(&log)
                .into_iter()
                .find(|e| e["type"] == "recording.finished"))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", companion.log_text()));
    assert_eq!(event["valid"], true, "{event}");
    let body = &event["event"];
    platform.check_schema("RecordingFinished", body).unwrap();
    platform.check_schema("Event", body).unwrap();
    let data = &body["data"];
    assert_eq!(data["sha256"], digest.as_str(), "{data}");
    assert_eq!(
        data["fileName"],
        host_file.file_name().unwrap().to_str().unwrap()
    );
    assert_eq!(data["recording"]["id"], id);
    assert_eq!(data["recording"]["setId"], set["id"]);
    let text = data["tracklist"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("00:0") && text.contains(TRACKS[1].1),
        "{text}"
    );
    let cue = data["tracklist"]["cue"].as_str().unwrap();
    assert!(cue.contains(&format!("TITLE \"{}\"", TRACKS[1].1)), "{cue}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        received(&log)
            .iter()
            .filter(|e| e["type"] == "recording.finished")
            .count(),
        1
    );

    // The download: whole (the same bytes), a range (206 with Content-Range), past the end (416).
    let whole = c.get(&format!("/api/v1/recordings/{id}/file")).unwrap();
    assert_eq!(whole.status, 200);
    assert!(
        whole
            .header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment")),
        "{:?}",
        whole.headers
    );
    let copy = host_dir.join("downloaded.bin");
    std::fs::write(&copy, &whole.body).unwrap();
    assert_eq!(sha256sum(&copy), digest);
    let original = std::fs::read(&host_file).unwrap();
    let part = c
        .get_with(
            &format!("/api/v1/recordings/{id}/file"),
            &[("Range", "bytes=1000-1999")],
        )
        .unwrap();
    assert_eq!(part.status, 206);
    assert_eq!(part.body, original[1000..2000]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 1000-1999/{}", original.len()).as_str())
    );
    let past = c
        .get_with(
            &format!("/api/v1/recordings/{id}/file"),
            &[("Range", &format!("bytes={}-", original.len() + 10))],
        )
        .unwrap();
    assert_eq!(past.status, 416);

    // The dashboard lists it with its download, which the browser fetches with its session
    // cookie and a range (how a download resumes).
    let mut browser = deckcast_tests::browser::Browser::start().await.unwrap();
    browser
        .open_dashboard(
            &format!("http://{}", home.addr()),
            c.token.as_deref().unwrap(),
        )
        .await
        .unwrap();
    let row = format!("#recording-list li[data-recording-id='{id}']");
    let text = browser
        .wait_for(
            "the recording in the dashboard",
            &format!("document.querySelector(\"{row} a[download]\") && document.querySelector(\"{row}\").textContent"),
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    let text = text.as_str().unwrap();
    assert!(
        text.contains("2 track(s)") && text.contains("clean"),
        "{text}"
    );
    let fetched = browser
        .eval(&format!(
            "fetch(document.querySelector(\"{row} a[download]\").href, {{headers: {{Range: 'bytes=0-9'}}}}).then(async (r) => [r.status, (await r.arrayBuffer()).byteLength])"
        ))
        .await
        .unwrap();
    assert_eq!(fetched, json!([206, 10]), "{fetched}");
    let png = browser.screenshot().await.unwrap();
    std::fs::write(
        deckcast_tests::artifacts::artifacts_dir()
            .unwrap()
            .join("recordings.png"),
        &png,
    )
    .unwrap();
    drop(browser);

    // Deleting asks first: "n" keeps everything, "y" deletes the entry and the file Deckcast made.
    let addr = format!("http://{}", home.addr());
    let out = companion
        .run_in_session(
            &["recordings", "--api", &addr, "rm", &id.to_string()],
            "n\n",
        )
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing deleted"));
    assert!(host_file.exists());
    assert_eq!(
        c.get(&format!("/api/v1/recordings/{id}")).unwrap().status,
        200
    );
    let out = companion
        .run_in_session(
            &["recordings", "--api", &addr, "rm", &id.to_string()],
            "y\n",
        )
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!host_file.exists(), "the file is deleted");
    assert_eq!(
        c.get(&format!("/api/v1/recordings/{id}")).unwrap().status,
        404
    );
    let mut left: Vec<String> = std::fs::read_dir(&host_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["downloaded.bin", "received.jsonl"],
        "nothing else touched"
    );
    assert!(companion.stop(), "{}", companion.log_text());
    assert!(obs.stop(), "{}", obs.failure_report());
    drop(rtmp);
}

/// A file's duration (s) as ffprobe reads its container (an MP4 that was not finished has no
/// index and fails here).
fn file_duration(guest_file: &str) -> f64 {
    let out = Runtime::get()
        .unwrap()
        .command(
            "ffprobe",
            &["-v", "error", "-show_format", "-of", "json", guest_file],
            &[("PATH", "/usr/bin:/bin".to_owned())],
            &Isolation::default(),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {guest_file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no duration: {v}"))
}

fn active_alerts(c: &Client, kind: &str) -> Vec<Value> {
    let snap = c.get_json("/api/v1/snapshot").unwrap();
    snap["alerts"]
        .as_array()
        .map(|a| a.iter().filter(|a| a["kind"] == kind).cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig and root to mount a small tmpfs (see README: the test command runs this tier)"]
async fn a_filling_disk_stops_the_recording_cleanly_and_the_stream_goes_on() {
    /// OBS stops recording by itself below 50 MiB free.
    const OBS_FLOOR: u64 = 50 * 1024 * 1024;
    let Rig {
        api,
        runtime: _runtime,
        host_dir,
        guest_dir: _guest_dir,
        rtmp,
        mut obs,
        home: _home,
        mut companion,
        c,
        disk,
    } = Rig::start("diskfull", "mp4", Some(120));
    let disk = disk.unwrap();
    let ids = create_targets(
        &api,
        &c,
        &[json!({"name": "Stays live", "platform": "custom", "server": rtmp.url(), "key": "on"})],
    );
    let (status, v) = call(
        &api,
        &c,
        "POST",
        &format!("/api/v1/targets/{}/start", ids[0]),
        "/api/v1/targets/{id}/start",
        None,
    );
    assert_eq!(status, 200, "{v}");
    deckcast_tests::rtmp::ffprobe_until_av(&rtmp.stream_url("on"), Duration::from_secs(30))
        .unwrap();
    let (status, started) = call(
        &api,
        &c,
        "POST",
        "/api/v1/recording/start",
        "/api/v1/recording/start",
        None,
    );
    assert_eq!(status, 200, "{started}");
    let id = started["recording"]["id"].as_i64().unwrap();

    // The rate OBS writes at here, then the disk filled to about 110 s of it before OBS's
    // floor: under the 30 min warning at once, and a minute before the end the guard stops.
    let file_bytes = || -> u64 {
        std::fs::read_dir(&host_dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "mp4"))
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum()
    };
    std::thread::sleep(Duration::from_secs(2));
    let (b0, t0) = (file_bytes(), Instant::now());
    std::thread::sleep(Duration::from_secs(6));
    let rate = (file_bytes() - b0) as f64 / t0.elapsed().as_secs_f64();
    assert!(rate > 10_000.0, "OBS writes {rate} B/s");
    let want_free = OBS_FLOOR + (rate * 110.0) as u64;
    let avail = disk.available();
    assert!(
        avail > want_free,
        "the disk is too small for this bitrate: {avail} B free, {rate} B/s"
    );
    disk.fill("filler.bin", avail - want_free);
    eprintln!(
        "recording at {:.2} Mbit/s; {} MB free after the filler",
        rate * 8.0 / 1e6,
        disk.available() / 1_000_000
    );

    // The warning first, then the guard's clean stop.
    let warning = wait_for("the disk-space warning", Duration::from_secs(40), || {
        Ok(active_alerts(&c, "disk_space").into_iter().next())
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", companion.log_text()));
    let warned = Instant::now();
    eprintln!("warning: {}", warning["message"]);
    let rec = wait_for("the guard's stop", Duration::from_secs(150), || {
        Ok(c.get_json(&format!("/api/v1/recordings/{id}"))
            .ok()
            .filter(|v| !v["ending"].is_null()))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}\n{}", companion.log_text(), obs.failure_report()));
    let left_at_stop = disk.available();
    eprintln!(
        "stopped {:?} after the warning with {} MB free: {rec}",
        warned.elapsed(),
        left_at_stop / 1_000_000
    );
    assert_eq!(rec["ending"], "disk_space", "{rec}");
    api.check_response("GET", "/api/v1/recordings/{id}", 200, &rec)
        .unwrap();
    // Before the disk was full, and before OBS's own stop.
    assert!(left_at_stop > OBS_FLOOR, "{left_at_stop} B free");
    let stopped = wait_for(
        "the recording-stopped alert",
        Duration::from_secs(10),
        || Ok(active_alerts(&c, "recording_stopped").into_iter().next()),
    )
    .unwrap();
    assert_eq!(stopped["severity"], "critical", "{stopped}");
    let message = stopped["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("recording #{id}")) && message.contains("the streams go on"),
        "{message}"
    );
    // The file is complete: an MP4 has its index only when OBS finished it.
    let file = rec["file"].as_str().unwrap();
    let duration = file_duration(file);
    let listed = rec["durationMs"].as_f64().unwrap() / 1000.0;
    assert!(
        duration > 20.0 && (duration - listed).abs() < 5.0,
        "{duration} s vs {rec}"
    );
    // The stream never stopped.
    let snap = c.get_json("/api/v1/snapshot").unwrap();
    let tile = &snap["targets"][0];
    assert_eq!(tile["state"], "live", "{tile}");
    assert_eq!(tile["reconnects"], 0, "{tile}");
    deckcast_tests::rtmp::ffprobe_until_av(&rtmp.stream_url("on"), Duration::from_secs(20))
        .unwrap();
    assert_eq!(c.get_json("/api/v1/recording").unwrap()["active"], false);
    assert!(companion.stop(), "{}", companion.log_text());
    assert!(obs.stop(), "{}", obs.failure_report());
    drop(rtmp);
    drop(disk);
}

/// The dock's record button: red while idle, dark red while recording (`ui/dock.cpp`).
const DOCK_RECORD_RGB: [u8; 3] = [0xc8, 0x1e, 0x3c];
const DOCK_STOP_RGB: [u8; 3] = [0x7b, 0x24, 0x1c];

/// Where the dock's button of colour `rgb` is on OBS's display: its centre, once it is drawn.
fn find_button(obs: &Obs, rgb: [u8; 3], name: &str) -> (u32, u32) {
    wait_for(name, Duration::from_secs(10), || {
        let shot = obs.screenshot(name)?;
        let image = deckcast_tests::image::decode_png(&std::fs::read(shot)?)?;
        Ok(image
            .rgb_bounds(rgb, 2)
            .filter(|(x0, y0, x1, y1)| x1 - x0 > 40 && y1 - y0 > 10)
            .map(|(x0, y0, x1, y1)| ((x0 + x1) / 2, (y0 + y1) / 2)))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", obs.failure_report()))
}

/// The recording the companion follows now, once it is `started_by`.
fn followed(c: &Client, started_by: &str) -> Value {
    wait_for(
        &format!("a recording started by {started_by}"),
        Duration::from_secs(20),
        || {
            Ok(c.get_json("/api/v1/recording")
                .ok()
                .filter(|v| v["active"] == true && v["recording"]["startedBy"] == started_by))
        },
    )
    .unwrap()
}

/// The library entry `id` once it has ended.
fn finished(c: &Client, id: &Value) -> Value {
    wait_for("the entry to close", Duration::from_secs(30), || {
        Ok(c.get_json(&format!("/api/v1/recordings/{id}"))
            .ok()
            .filter(|v| v["ending"].is_string()))
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn sets_are_recorded_from_the_dock_the_hotkeys_and_vendor_requests() {
    use deckcast_tests::vendor;
    let rig = Rig::start_with(
        "inobs",
        "hybrid_mp4",
        None,
        vec![("DECKCAST_SHOW_DOCK".into(), "1".into())],
    );
    let Rig { api, obs, c, .. } = &rig;
    let client = obs.client().await.unwrap();

    // A vendor request (a control surface): started once, never twice, and stopped.
    let r = vendor::ok(&client, "StartRecording", json!({}))
        .await
        .unwrap();
    assert_eq!(r, json!({"changed": true}));
    let now = followed(c, "vendor");
    let again = vendor::ok(&client, "StartRecording", json!({"from": "hotkey"}))
        .await
        .unwrap();
    assert_eq!(again, json!({"changed": false}), "never started twice");
    let status = vendor::ok(&client, "GetRecording", json!({}))
        .await
        .unwrap();
    assert_eq!(status["startedBy"], "vendor", "{status}");
    std::thread::sleep(Duration::from_secs(2));
    let r = vendor::ok(&client, "StopRecording", json!({}))
        .await
        .unwrap();
    assert_eq!(r, json!({"changed": true}));
    let rec = finished(c, &now["recording"]["id"]);
    assert_eq!(rec["ending"], "clean", "{rec}");
    assert_eq!(rec["startedBy"], "vendor", "{rec}");
    api.check_response("GET", "/api/v1/recordings/{id}", 200, &rec)
        .unwrap();
    let r = vendor::ok(&client, "StopRecording", json!({}))
        .await
        .unwrap();
    assert_eq!(r, json!({"changed": false}), "nothing to stop");
    let e = vendor::err_code(&client, "StartRecording", json!({"from": "elsewhere"}))
        .await
        .unwrap();
    assert_eq!(e, "invalid_request");

    // The hotkeys (Settings > Hotkeys; triggered here as OBS does for a bound key).
    let names = client.hotkeys().list().await.unwrap();
    for n in ["deckcast.recording.start", "deckcast.recording.stop"] {
        assert!(names.iter().any(|h| h == n), "{n} not in {names:?}");
    }
    client
        .hotkeys()
        .trigger_by_name("deckcast.recording.start", None)
        .await
        .unwrap();
    let now = followed(c, "hotkey");
    std::thread::sleep(Duration::from_secs(2));
    client
        .hotkeys()
        .trigger_by_name("deckcast.recording.stop", None)
        .await
        .unwrap();
    let rec = finished(c, &now["recording"]["id"]);
    assert_eq!(rec["ending"], "clean", "{rec}");

    // The dock: its red button clicked with the mouse starts the set recording; while it runs
    // the button is dark red, and a click stops it.
    let (x, y) = find_button(obs, DOCK_RECORD_RGB, "dock-record-button");
    obs.click(x, y).unwrap();
    let now = followed(c, "dock");
    let (x, y) = find_button(obs, DOCK_STOP_RGB, "dock-stop-button");
    std::thread::sleep(Duration::from_secs(2));
    obs.click(x, y).unwrap();
    let rec = finished(c, &now["recording"]["id"]);
    assert_eq!(rec["ending"], "clean", "{rec}");
    assert_eq!(rec["startedBy"], "dock", "{rec}");
    let file = rec["file"].as_str().expect("the file OBS wrote");
    // The recording is a real, finished file.
    let d = file_duration(file);
    assert!(d > 1.0, "{file}: {d} s");
    find_button(obs, DOCK_RECORD_RGB, "dock-record-again");
    // Three recordings, one each: none started twice.
    let list = c.get_json("/api/v1/recordings").unwrap();
    assert_eq!(list["recordings"].as_array().unwrap().len(), 3, "{list}");
    assert!(obs.alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn quitting_obs_mid_set_finishes_the_recording_and_obs_exits_cleanly() {
    use deckcast_tests::vendor;
    // glibc's per-thread cache off: OBS 30.2.3 then crashes in about one exit in three when it
    // tears down a recording that still runs (measured without Deckcast), instead of corrupting
    // its heap silently; the plugin stops the recording first, so every exit here is clean.
    let mut rig = Rig::start_with(
        "quit",
        "hybrid_mp4",
        None,
        vec![(
            "GLIBC_TUNABLES".into(),
            "glibc.malloc.tcache_count=0".into(),
        )],
    );
    let client = rig.obs.client().await.unwrap();
    vendor::ok(&client, "StartRecording", json!({}))
        .await
        .unwrap();
    let now = followed(&rig.c, "vendor");
    std::thread::sleep(Duration::from_secs(3));
    let status = vendor::ok(&client, "GetRecording", json!({}))
        .await
        .unwrap();
    let file = status["file"]
        .as_str()
        .expect("the file OBS writes")
        .to_owned();
    drop(client);
    // SIGINT: OBS's own quit, with the set still recording.
    assert!(rig.obs.stop(), "{}", rig.obs.failure_report());
    let log = rig.obs.log();
    assert!(
        log.contains("OBS is quitting while recording: stopping the recording first")
            && log.contains("the recording stopped and its file is finished"),
        "{log}"
    );
    // A Hybrid MP4 that was not finished has no index: ffprobe reads a complete one.
    let d = file_duration(&file);
    assert!(d > 2.0, "{file}: {d} s");
    // The companion closes the entry it followed, and the file is the one OBS finished.
    let id = &now["recording"]["id"];
    let rec = wait_for("the entry to close", Duration::from_secs(20), || {
        Ok(rig
            .c
            .get_json(&format!("/api/v1/recordings/{id}"))
            .ok()
            .filter(|v| v["ending"].is_string()))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}\n{}", rig.companion.log_text(), rig.obs.log()));
    assert_eq!(rec["ending"], "clean", "{rec}");
    assert_eq!(rec["file"], file.as_str(), "{rec}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn a_start_refused_for_a_missing_folder_says_why_and_marks_no_later_recording() {
    use deckcast_tests::vendor;
    let runtime = Runtime::get().unwrap();
    let host_dir = runtime.scratch_dir("nofolder").unwrap().join("sets");
    let guest_dir = runtime.guest_path(&host_dir);
    let obs = Obs::start(ObsOptions {
        recording: Some(("mkv".into(), guest_dir.clone())),
        ..ObsOptions::default()
    })
    .unwrap();
    let client = obs.client().await.unwrap();
    let e = vendor::call(&client, "StartRecording", json!({"from": "dock"}))
        .await
        .unwrap();
    assert_eq!(e["error"]["code"], "conflict", "{e}");
    let message = e["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&guest_dir.display().to_string()) && message.contains("does not exist"),
        "{e}"
    );
    let status = vendor::ok(&client, "GetRecording", json!({}))
        .await
        .unwrap();
    assert_eq!(status["active"], false, "{status}");
    // Once the folder exists, a recording OBS itself starts (here through obs-websocket) is not
    // taken for Deckcast's: the refused start left no mark behind.
    std::fs::create_dir_all(&host_dir).unwrap();
    client.recording().start().await.unwrap();
    let status = deckcast_tests::util::wait_for_async(
        "OBS to record",
        Duration::from_secs(10),
        async || {
            let s = vendor::ok(&client, "GetRecording", json!({})).await?;
            Ok((s["active"] == true).then_some(s))
        },
    )
    .await
    .unwrap();
    assert!(status.get("startedBy").is_none(), "{status}");
    client.recording().stop().await.unwrap();
    drop(client);
    assert!(obs.alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn a_paused_recording_has_the_files_offsets_and_chapters() {
    let Rig {
        api,
        runtime,
        obs,
        companion,
        c,
        ..
    } = Rig::start_opts("pause", "mkv", None, Vec::new(), true);
    let mut settings = json!({"minTrackSeconds": 2});
    if let Some(root) = runtime.obs_root() {
        settings["obsRoot"] = json!(root.to_str().unwrap());
    }
    let (status, v) = put_settings(&api, &c, &settings);
    assert_eq!(status, 200, "{v}");
    let client = obs.client().await.unwrap();
    let (status, started) = call(
        &api,
        &c,
        "POST",
        "/api/v1/recording/start",
        "/api/v1/recording/start",
        None,
    );
    let t0 = Instant::now();
    assert_eq!(status, 200, "{started}");
    let id = started["recording"]["id"].as_i64().unwrap();
    // Wall clock: A at 1 s, paused 8–16 s (OBS's own pause, through obs-websocket), B put on
    // air during the pause at 11 s, C at 22 s, stopped at 28 s. In the file: A at 1 s, B where the
    // file resumes (8 s), C at 14 s, 20 s long.
    sleep_until(t0, 1.0);
    set_track(&api, &c, TRACKS[0]);
    sleep_until(t0, 8.0);
    client.recording().pause().await.unwrap();
    sleep_until(t0, 11.0);
    set_track(&api, &c, TRACKS[1]);
    sleep_until(t0, 16.0);
    client.recording().resume().await.unwrap();
    sleep_until(t0, 22.0);
    set_track(&api, &c, TRACKS[2]);
    sleep_until(t0, 28.0);
    let (status, v) = call(
        &api,
        &c,
        "POST",
        "/api/v1/recording/stop",
        "/api/v1/recording/stop",
        None,
    );
    assert_eq!(status, 200, "{v}");
    drop(client);
    let rec = wait_for("the remuxed recording", Duration::from_secs(60), || {
        Ok(c.get_json(&format!("/api/v1/recordings/{id}"))
            .ok()
            .filter(|v| v["ending"] == "clean" && v["chapters"] == "remuxed"))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", companion.log_text()));
    api.check_response("GET", "/api/v1/recordings/{id}", 200, &rec)
        .unwrap();
    let got = offsets(&tracklist(&c, id, ""));
    let want = [(1.0, TRACKS[0].1), (8.0, TRACKS[1].1), (14.0, TRACKS[2].1)];
    assert_eq!(got.len(), 3, "{got:?}\n{rec}");
    for ((at, title), (want_at, want_title)) in got.iter().zip(want) {
        assert_eq!(title, want_title, "{got:?}");
        assert!((at - want_at).abs() < 1.5, "{got:?} vs {want:?}");
    }
    // The length is the file's, as ffprobe reads it (8 s paused are not in it).
    let file = rec["file"].as_str().unwrap();
    let length = file_duration(file);
    let listed = rec["durationMs"].as_f64().unwrap() / 1000.0;
    assert!((length - 20.0).abs() < 2.0, "{file}: {length} s");
    assert!(
        (listed - length).abs() < 1.5,
        "listed {listed} s, file {length} s"
    );
    // The chapters written into the file are where the tracklist says.
    let mut in_file = chapters(file);
    in_file.retain(|(_, t)| t != "Start");
    assert_eq!(in_file.len(), 3, "{in_file:?}");
    for ((at, title), (want_at, want_title)) in in_file.iter().zip(&got) {
        assert!(title.ends_with(want_title.as_str()), "{in_file:?}");
        assert!((at - want_at).abs() < 0.01, "{in_file:?} vs {got:?}");
    }
    let history = c.get_json("/api/v1/history?limit=200").unwrap();
    for what in ["recording paused", "recording resumed"] {
        assert!(history.to_string().contains(what), "{what}: {history}");
    }
}

/// Runs `deckcast` in the companion's session; its output, asserting it succeeded.
fn cli_ok(companion: &Companion, args: &[&str]) -> (String, String) {
    let out = companion.run_in_session(args, "").unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{args:?}: {stdout}\n{stderr}");
    (stdout, stderr)
}

/// The upload of recording `id` once it is no longer under way, checked against the API
/// document.
fn settled_upload(api: &OpenApi, c: &Client, companion: &Companion, id: i64) -> Value {
    let u = wait_for("the upload to settle", Duration::from_secs(90), || {
        Ok(c.get_json(&format!("/api/v1/recordings/{id}/upload"))
            .ok()
            .filter(|u| {
                ["complete", "failed", "cancelled"].contains(&u["state"].as_str().unwrap_or(""))
            }))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", companion.log_text()));
    api.check_response("GET", "/api/v1/recordings/{id}/upload", 200, &u)
        .unwrap();
    u
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig and Node.js with the tus server (see README: the test command runs this tier)"]
async fn an_upload_cut_off_at_half_resumes_and_the_site_confirms_the_hash() {
    use deckcast_tests::site::TusSite;
    let platform: Value = serde_json::from_str(
        &std::fs::read_to_string(
            deckcast_tests::artifacts::workspace_root().join("docs/platform-openapi.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let Rig {
        api,
        runtime,
        host_dir,
        mut companion,
        c,
        home,
        obs,
        rtmp: _rtmp,
        ..
    } = Rig::start("upload", "hybrid_mp4", None);
    let mut settings = json!({"minTrackSeconds": 1});
    if let Some(root) = runtime.obs_root() {
        settings["obsRoot"] = json!(root.to_str().unwrap());
    }
    let (status, v) = put_settings(&api, &c, &settings);
    assert_eq!(status, 200, "{v}");
    let addr = format!("http://{}", home.addr());

    // A 10 s set, recorded through the API.
    let (status, started) = call(
        &api,
        &c,
        "POST",
        "/api/v1/recording/start",
        "/api/v1/recording/start",
        None,
    );
    assert_eq!(status, 200, "{started}");
    let id = started["recording"]["id"].as_i64().unwrap();
    // Not while it runs: the same answer as a download.
    let (status, v) = call(
        &api,
        &c,
        "POST",
        &format!("/api/v1/recordings/{id}/upload"),
        "/api/v1/recordings/{id}/upload",
        None,
    );
    assert_eq!(status, 409, "{v}");
    set_track(&api, &c, TRACKS[0]);
    std::thread::sleep(Duration::from_secs(10));
    let (status, v) = call(
        &api,
        &c,
        "POST",
        "/api/v1/recording/stop",
        "/api/v1/recording/stop",
        None,
    );
    assert_eq!(status, 200, "{v}");
    let rec = wait_for("the hashed recording", Duration::from_secs(30), || {
        Ok(c.get_json(&format!("/api/v1/recordings/{id}"))
            .ok()
            .filter(|v| v["sha256"].is_string()))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", companion.log_text()));
    let file = rec["file"].as_str().unwrap();
    let name = std::path::Path::new(file)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let host_file = host_dir.join(name);
    let digest = sha256sum(&host_file);
    let length = host_file.metadata().unwrap().len();
    assert_eq!(rec["sha256"], digest.as_str(), "{rec}");

    // No site yet: a precise refusal, nothing queued.
    let (status, v) = call(
        &api,
        &c,
        "POST",
        &format!("/api/v1/recordings/{id}/upload"),
        "/api/v1/recordings/{id}/upload",
        None,
    );
    assert_eq!(status, 409, "{v}");
    assert!(v.to_string().contains("no site is configured"), "{v}");
    let (status, v) = call(
        &api,
        &c,
        "GET",
        &format!("/api/v1/recordings/{id}/upload"),
        "/api/v1/recordings/{id}/upload",
        None,
    );
    assert_eq!(status, 404, "{v}");

    // The site: the tus project's own server, which cuts the first transfer at half the file.
    let token = deckcast_tests::util::random_hex(16).unwrap();
    let site_dir = host_dir.join("site");
    std::fs::create_dir_all(&site_dir).unwrap();
    let site = TusSite::start(&token, &site_dir, &["--cut-at-half"]);
    let out = companion
        .run_in_session(&["platform", "token", "set"], &token)
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = c
        .call(
            "PUT",
            "/api/v1/platform",
            Some(&json!({"baseUrl": site.url()})),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    // Uploaded from the CLI, which shows the progress until the site has it.
    let (stdout, stderr) = cli_ok(
        &companion,
        &[
            "recordings",
            "--api",
            &addr,
            "upload",
            &id.to_string(),
            "--wait",
        ],
    );
    assert!(
        stdout.contains("complete") && stdout.contains("100.0 %"),
        "{stdout}"
    );
    assert!(
        stderr.contains("waiting"),
        "the interruption is shown: {stderr}"
    );
    let u = settled_upload(&api, &c, &companion, id);
    assert_eq!(u["state"], "complete", "{u}");
    assert_eq!(u["sent"].as_u64(), Some(length), "{u}");
    assert_eq!(u["bytes"].as_u64(), Some(length), "{u}");
    assert_eq!(u["percent"].as_f64(), Some(100.0), "{u}");
    assert_eq!(u["sha256"], digest.as_str(), "{u}");

    // What the site saw: one upload created, cut at half, asked where it stood, resumed from
    // there (not from 0), and the whole file's SHA-256 checked against the announced one.
    let log = site.log();
    let requests: Vec<&Value> = log.iter().filter(|e| e["event"] == "request").collect();
    let posts: Vec<_> = requests.iter().filter(|e| e["method"] == "POST").collect();
    assert_eq!(posts.len(), 1, "{log:?}");
    assert_eq!(posts[0]["status"], 201, "{log:?}");
    assert_eq!(posts[0]["length"], length.to_string().as_str(), "{log:?}");
    assert!(requests.iter().all(|e| e["tus"] == "1.0.0"), "{log:?}");
    let cuts: Vec<_> = log.iter().filter(|e| e["event"] == "cut").collect();
    assert_eq!(cuts.len(), 1, "{log:?}");
    assert!(
        cuts[0]["received"].as_u64().unwrap() * 2 >= length,
        "{log:?}"
    );
    let head = requests
        .iter()
        .find(|e| e["method"] == "HEAD")
        .unwrap_or_else(|| panic!("no HEAD after the cut: {log:?}"));
    let resumed_at: u64 = head["newOffset"]
        .to_string()
        .trim_matches('"')
        .parse()
        .unwrap();
    assert!(
        resumed_at * 5 >= length * 2 && resumed_at < length,
        "the site kept {resumed_at} of {length} bytes: {log:?}"
    );
    let last = requests.iter().rfind(|e| e["method"] == "PATCH").unwrap();
    assert_eq!(last["offset"], resumed_at.to_string().as_str(), "{log:?}");
    assert_eq!(last["status"], 204, "{log:?}");
    let finished: Vec<_> = log.iter().filter(|e| e["event"] == "finished").collect();
    assert_eq!(finished.len(), 1, "{log:?}");
    let f = finished[0];
    assert_eq!(f["sha256"], digest.as_str(), "{f}");
    assert_eq!(f["announced"], digest.as_str(), "{f}");
    assert_eq!(f["size"].as_u64(), Some(length), "{f}");
    assert_eq!(f["metadata"]["filename"], name, "{f}");
    assert_eq!(f["metadata"]["recordingId"], id.to_string().as_str(), "{f}");
    // The site's copy is the file, byte for byte.
    assert_eq!(
        sha256sum(std::path::Path::new(f["file"].as_str().unwrap())),
        digest
    );
    // The metadata the site read is the documented one.
    let documented = platform["paths"]["/deckcast/uploads"]["post"]["parameters"][2]["description"]
        .as_str()
        .unwrap()
        .to_owned();
    for key in ["filename", "sha256", "recordingId", "durationMs"] {
        assert!(documented.contains(key), "{key}: {documented}");
        assert!(f["metadata"][key].is_string(), "{key}: {f}");
    }
    let list = c.get_json("/api/v1/uploads").unwrap();
    api.check_response("GET", "/api/v1/uploads", 200, &list)
        .unwrap();
    assert_eq!(list["uploads"][0]["recordingId"], id, "{list}");
    let history = c.get_json("/api/v1/history?limit=200").unwrap().to_string();
    for what in [
        "upload interrupted at",
        "uploaded to the site",
        "SHA-256 confirmed",
    ] {
        assert!(history.contains(what), "{what}: {history}");
    }
    drop(site);

    // Sent again, to a site that stops reading at half; the companion is killed (SIGKILL) while
    // its transfer hangs, and the one started after it finishes the same upload.
    let slow_dir = host_dir.join("slow-site");
    std::fs::create_dir_all(&slow_dir).unwrap();
    let slow = TusSite::start(&token, &slow_dir, &["--stall-at-half"]);
    let r = c
        .call(
            "PUT",
            "/api/v1/platform",
            Some(&json!({"baseUrl": slow.url()})),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let out = companion
        .run_in_session(&["platform", "token", "set"], &token)
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, v) = call(
        &api,
        &c,
        "POST",
        &format!("/api/v1/recordings/{id}/upload"),
        "/api/v1/recordings/{id}/upload",
        None,
    );
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["state"], "queued", "a completed upload starts again: {v}");
    wait_for("the transfer to hang", Duration::from_secs(30), || {
        Ok(slow
            .log()
            .iter()
            .any(|e| e["event"] == "stalled")
            .then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", companion.log_text()));
    companion.kill().unwrap();
    let (companion, c) = Companion::start_connected(&home, &obs, "info");
    let u = settled_upload(&api, &c, &companion, id);
    assert_eq!(u["state"], "complete", "{u}");
    let log = slow.log();
    let methods: Vec<&str> = log
        .iter()
        .filter(|e| e["event"] == "request")
        .map(|e| e["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods.iter().filter(|m| **m == "POST").count(),
        1,
        "{log:?}"
    );
    let head = log
        .iter()
        .find(|e| e["method"] == "HEAD")
        .unwrap_or_else(|| panic!("no HEAD after the restart: {log:?}"));
    let kept: u64 = head["newOffset"]
        .to_string()
        .trim_matches('"')
        .parse()
        .unwrap();
    assert!(kept > 0 && kept < length, "{log:?}");
    let last = log.iter().rfind(|e| e["method"] == "PATCH").unwrap();
    assert_eq!(last["offset"], kept.to_string().as_str(), "{log:?}");
    assert_eq!(last["status"], 204, "{log:?}");
    let f = log.iter().find(|e| e["event"] == "finished").unwrap();
    assert_eq!(f["sha256"], digest.as_str(), "{f}");
    drop(slow);

    // A site whose copy comes out different answers 460: the upload fails and says why.
    let bad_dir = host_dir.join("bad-site");
    std::fs::create_dir_all(&bad_dir).unwrap();
    let bad = TusSite::start(&token, &bad_dir, &["--corrupt"]);
    let r = c
        .call(
            "PUT",
            "/api/v1/platform",
            Some(&json!({"baseUrl": bad.url()})),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    // A new site: its token must be given again.
    let (status, v) = call(
        &api,
        &c,
        "POST",
        &format!("/api/v1/recordings/{id}/upload"),
        "/api/v1/recordings/{id}/upload",
        None,
    );
    assert_eq!(status, 409, "{v}");
    assert!(v.to_string().contains("token"), "{v}");
    let out = companion
        .run_in_session(&["platform", "token", "set"], &token)
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, v) = call(
        &api,
        &c,
        "POST",
        &format!("/api/v1/recordings/{id}/upload"),
        "/api/v1/recordings/{id}/upload",
        None,
    );
    assert_eq!(status, 202, "{v}");
    let u = settled_upload(&api, &c, &companion, id);
    assert_eq!(u["state"], "failed", "{u}");
    assert!(
        u["lastError"].as_str().unwrap().contains("SHA-256 differs"),
        "{u}"
    );
    assert!(
        bad.log()
            .iter()
            .any(|e| e["event"] == "finished" && e["sha256"] != e["announced"])
    );

    // A wrong token: refused at once, with the status, and never retried.
    let out = companion
        .run_in_session(&["platform", "token", "set"], "not-the-token")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, _) = call(
        &api,
        &c,
        "POST",
        &format!("/api/v1/recordings/{id}/upload"),
        "/api/v1/recordings/{id}/upload",
        None,
    );
    assert_eq!(status, 202);
    let u = settled_upload(&api, &c, &companion, id);
    assert_eq!(u["state"], "failed", "{u}");
    assert!(u["lastError"].as_str().unwrap().contains("401"), "{u}");
    let refused = bad.log().iter().filter(|e| e["status"] == 401).count();
    assert_eq!(refused, 1, "{:?}", bad.log());
    drop(bad);

    // From the dashboard: the failed upload shows why; "Upload again" sends it to a working
    // site and the row follows it to 100 %.
    let good_dir = host_dir.join("good-site");
    std::fs::create_dir_all(&good_dir).unwrap();
    let good = TusSite::start(&token, &good_dir, &[]);
    let r = c
        .call(
            "PUT",
            "/api/v1/platform",
            Some(&json!({"baseUrl": good.url()})),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let out = companion
        .run_in_session(&["platform", "token", "set"], &token)
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut browser = deckcast_tests::browser::Browser::start().await.unwrap();
    browser
        .open_dashboard(&addr, c.token.as_deref().unwrap())
        .await
        .unwrap();
    let row = format!("#recording-list li[data-recording-id='{id}']");
    let text = browser
        .wait_for(
            "the failed upload in the dashboard",
            &format!("(document.querySelector(\"{row} .upload\") || {{}}).textContent"),
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    let text = text.as_str().unwrap();
    assert!(text.contains("failed") && text.contains("401"), "{text}");
    browser
        .eval(&format!(
            "[...document.querySelectorAll(\"{row} .upload button\")].find((b) => b.textContent === 'Upload again').click()"
        ))
        .await
        .unwrap();
    let done = browser
        .wait_for(
            "the upload to complete in the dashboard",
            &format!(
                "(() => {{ const s = document.querySelector(\"{row} .upload\"); return s && s.textContent.includes('complete') && [s.textContent, s.querySelector('progress').value]; }})()"
            ),
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", companion.log_text()));
    assert!(done[0].as_str().unwrap().contains("100.0 %"), "{done}");
    assert_eq!(done[1].as_f64(), Some(100.0), "{done}");
    let png = browser.screenshot().await.unwrap();
    std::fs::write(
        deckcast_tests::artifacts::artifacts_dir()
            .unwrap()
            .join("uploads.png"),
        &png,
    )
    .unwrap();
    drop(browser);
    let f = good
        .log()
        .into_iter()
        .find(|e| e["event"] == "finished")
        .unwrap();
    assert_eq!(f["sha256"], digest.as_str(), "{f}");

    // Asked to upload every recording: the next set goes to the site by itself once hashed.
    let r = c
        .call(
            "PUT",
            "/api/v1/platform",
            Some(&json!({"uploadRecordings": true})),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let (status, started) = call(
        &api,
        &c,
        "POST",
        "/api/v1/recording/start",
        "/api/v1/recording/start",
        None,
    );
    assert_eq!(status, 200, "{started}");
    let next = started["recording"]["id"].as_i64().unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let (status, v) = call(
        &api,
        &c,
        "POST",
        "/api/v1/recording/stop",
        "/api/v1/recording/stop",
        None,
    );
    assert_eq!(status, 200, "{v}");
    let u = settled_upload(&api, &c, &companion, next);
    assert_eq!(u["state"], "complete", "{u}");
    let rec = c.get_json(&format!("/api/v1/recordings/{next}")).unwrap();
    let next_file = host_dir.join(
        std::path::Path::new(rec["file"].as_str().unwrap())
            .file_name()
            .unwrap(),
    );
    let next_digest = sha256sum(&next_file);
    assert_eq!(u["sha256"], next_digest.as_str(), "{u}");
    let f = good
        .log()
        .into_iter()
        .find(|e| {
            e["event"] == "finished" && e["metadata"]["recordingId"] == next.to_string().as_str()
        })
        .unwrap_or_else(|| panic!("the site has no copy of #{next}: {:?}", good.log()));
    assert_eq!(f["sha256"], next_digest.as_str(), "{f}");
    assert_eq!(
        sha256sum(std::path::Path::new(f["file"].as_str().unwrap())),
        next_digest
    );
    drop(good);

    // The token is in no log, history or answer.
    assert!(!companion.log_text().contains(&token));
    assert!(
        !c.get_json("/api/v1/history?limit=500")
            .unwrap()
            .to_string()
            .contains(&token)
    );
}

/// The re-air's media source (`app::reair::REAIR_INPUT`).
const REAIR_INPUT: &str = "Deckcast re-air";

/// Now Playing's text and the re-air source's position (ms; `None` without the source).
async fn on_air(client: &obws::Client) -> (String, Option<i64>) {
    use obws::requests::inputs::InputId;
    let text = deckcast_tests::vendor::ok(client, "GetAnalysis", json!({"source": "Now Playing"}))
        .await
        .map(|v| v["text"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let cursor = client
        .media_inputs()
        .status(InputId::Name(REAIR_INPUT))
        .await
        .ok()
        .and_then(|s| s.cursor)
        .map(|c| c.whole_milliseconds() as i64);
    (text, cursor)
}

/// Polls Now Playing and the re-air source's position every 100 ms until `want` titles have
/// come on air (or `limit`); each change with the position OBS gave right after it (s).
async fn changes(client: &obws::Client, want: usize, limit: Duration) -> Vec<(String, f64)> {
    let t0 = Instant::now();
    let (mut last, _) = on_air(client).await;
    let mut seen = Vec::new();
    while seen.len() < want && t0.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (text, cursor) = on_air(client).await;
        if text != last {
            seen.push((text.clone(), cursor.unwrap_or(-1) as f64 / 1000.0));
            last = text;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn a_recorded_set_re_airs_to_a_target_with_each_track_on_air_at_its_chapter() {
    use obws::requests::inputs::{Create, InputId};
    use obws::requests::scenes::SceneId;
    let Rig {
        api,
        runtime,
        rtmp,
        obs,
        home,
        companion,
        c,
        ..
    } = Rig::start("reair", "hybrid_mp4", None);
    let mut settings = json!({"minTrackSeconds": 1});
    if let Some(root) = runtime.obs_root() {
        settings["obsRoot"] = json!(root.to_str().unwrap());
    }
    let (status, v) = put_settings(&api, &c, &settings);
    assert_eq!(status, 200, "{v}");
    let addr = format!("http://{}", home.addr());
    let client = obs.client().await.unwrap();
    // A scene for re-airs with a Now Playing source in it.
    client.scenes().create("Re-air").await.unwrap();
    client
        .inputs()
        .create(Create {
            scene: SceneId::Name("Re-air"),
            input: "Now Playing",
            kind: "deckcast_now_playing",
            settings: Some(json!({"audio_source": "Music", "template": "{artist} – {title}"})),
            enabled: Some(true),
        })
        .await
        .unwrap();

    // A 21 s set: A at 1 s, B at 8 s, C at 14 s.
    let (status, started) = call(
        &api,
        &c,
        "POST",
        "/api/v1/recording/start",
        "/api/v1/recording/start",
        None,
    );
    assert_eq!(status, 200, "{started}");
    let t0 = Instant::now();
    let id = started["recording"]["id"].as_i64().unwrap();
    for (at, track) in [(1.0, TRACKS[0]), (8.0, TRACKS[1]), (14.0, TRACKS[2])] {
        sleep_until(t0, at);
        set_track(&api, &c, track);
    }
    sleep_until(t0, 21.0);
    let (status, v) = call(
        &api,
        &c,
        "POST",
        "/api/v1/recording/stop",
        "/api/v1/recording/stop",
        None,
    );
    assert_eq!(status, 200, "{v}");
    let rec = wait_for("the finished recording", Duration::from_secs(30), || {
        Ok(c.get_json(&format!("/api/v1/recordings/{id}"))
            .ok()
            .filter(|v| v["ending"] == "clean"))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", companion.log_text()));
    // The reference: the chapters ffprobe reads in the file.
    let mut in_file = chapters(rec["file"].as_str().unwrap());
    in_file.retain(|(_, t)| t != "Start");
    assert_eq!(in_file.len(), 3, "{in_file:?}");
    let ids = create_targets(
        &api,
        &c,
        &[json!({"name": "Rerun", "platform": "custom", "server": rtmp.url(), "key": "rerun"})],
    );
    let target = ids[0].clone();

    // Refusals, each precise, with nothing changed in OBS.
    let refusals = [
        (json!({"recordingId": 999}), 404, "no recording with id 999"),
        (
            json!({"recordingId": id, "scene": "Nope"}),
            404,
            "no scene named 'Nope'",
        ),
        (
            json!({"recordingId": id, "targets": ["000000000000"]}),
            404,
            "no target with id",
        ),
        (json!({"recording": id}), 400, "unknown field `recording`"),
    ];
    for (body, want, text) in refusals {
        let (status, v) = call(
            &api,
            &c,
            "POST",
            "/api/v1/reair",
            "/api/v1/reair",
            Some(&body),
        );
        assert_eq!(status, want, "{body}: {v}");
        assert!(v.to_string().contains(text), "{body}: {v}");
    }
    let (status, v) = call(
        &api,
        &c,
        "POST",
        "/api/v1/reair/stop",
        "/api/v1/reair/stop",
        None,
    );
    assert_eq!(status, 409, "{v}");
    assert!(
        client
            .media_inputs()
            .status(InputId::Name(REAIR_INPUT))
            .await
            .is_err()
    );

    // Re-aired in a loop to the target: each track comes on air when the source reaches its
    // chapter (OBS's own position, read right after the change), ±1 s.
    let (status, v) = call(
        &api,
        &c,
        "POST",
        "/api/v1/reair",
        "/api/v1/reair",
        Some(&json!({"recordingId": id, "scene": "Re-air", "targets": [target], "loop": true})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "playing", "{v}");
    assert_eq!(v["targets"], json!([target]), "{v}");
    assert_eq!(
        client
            .scenes()
            .current_program_scene()
            .await
            .unwrap()
            .id
            .name,
        "Re-air"
    );
    let seen = changes(&client, 3, Duration::from_secs(40)).await;
    eprintln!("on air at (s into the file): {seen:?}; chapters: {in_file:?}");
    assert_eq!(seen.len(), 3, "{seen:?}\n{}", companion.log_text());
    for ((text, at), (chapter, title)) in seen.iter().zip(&in_file) {
        assert_eq!(title, text, "{seen:?} vs {in_file:?}");
        assert!(
            (at - chapter).abs() <= 1.0,
            "{text} on air at {at} s into the file, its chapter at {chapter} s: {seen:?}"
        );
    }
    deckcast_tests::rtmp::ffprobe_until_av(&rtmp.stream_url("rerun"), Duration::from_secs(20))
        .unwrap();
    // The loop: back at the start, the first track comes on air again at its chapter.
    let again = changes(&client, 1, Duration::from_secs(30)).await;
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].0, in_file[0].1, "{again:?}");
    assert!((again[0].1 - in_file[0].0).abs() <= 1.0, "{again:?}");
    let now = c.get_json("/api/v1/reair").unwrap();
    api.check_response("GET", "/api/v1/reair", 200, &now)
        .unwrap();
    assert_eq!(now["loops"], 1, "{now}");
    assert_eq!(now["track"]["title"], TRACKS[0].1, "{now}");
    let (stdout, _) = cli_ok(&companion, &["reair", "--api", &addr, "status"]);
    assert!(
        stdout.contains(&format!(
            "re-airing recording #{id} in scene 'Re-air', looping"
        )) && stdout.contains(&format!("on air: {}", in_file[0].1)),
        "{stdout}"
    );
    // A second re-air at once is refused.
    let (status, v) = call(
        &api,
        &c,
        "POST",
        "/api/v1/reair",
        "/api/v1/reair",
        Some(&json!({"recordingId": id})),
    );
    assert_eq!(status, 409, "{v}");

    // The dashboard shows it, offers a re-air per recording, and stops it: the source gone,
    // the target it started stopped, the scene before it back.
    let mut browser = deckcast_tests::browser::Browser::start().await.unwrap();
    browser
        .open_dashboard(&addr, c.token.as_deref().unwrap())
        .await
        .unwrap();
    let shown = browser
        .wait_for(
            "the re-air in the dashboard",
            &format!(
                "(() => {{ const t = document.querySelector('#reair-now').textContent; return t.includes('re-airing #{id}') && !document.querySelector('#reair-stop').hidden && t; }})()"
            ),
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    assert!(shown.as_str().unwrap().contains("in 'Re-air'"), "{shown}");
    let offered = browser
        .eval(&format!(
            "(() => {{ const b = [...document.querySelectorAll(\"#recording-list li[data-recording-id='{id}'] button\")].find((b) => b.textContent === 'Re-air'); b.click(); const d = document.querySelector('#reair-editor'); const names = document.querySelector('#reair-targets').textContent; d.close(); return [d.querySelector('h2').textContent, names]; }})()"
        ))
        .await
        .unwrap();
    assert_eq!(offered[0], format!("Re-air recording #{id}"), "{offered}");
    assert!(offered[1].as_str().unwrap().contains("Rerun"), "{offered}");
    let png = browser.screenshot().await.unwrap();
    std::fs::write(
        deckcast_tests::artifacts::artifacts_dir()
            .unwrap()
            .join("reair.png"),
        &png,
    )
    .unwrap();
    browser
        .eval("document.querySelector('#reair-stop').click()")
        .await
        .unwrap();
    let ended = browser
        .wait_for(
            "the re-air stopped in the dashboard",
            "(() => { const t = document.querySelector('#reair-now').textContent; return t.includes('ended: stopped') && document.querySelector('#reair-stop').hidden && t; })()",
            Duration::from_secs(15),
        )
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", companion.log_text()));
    assert!(
        ended.as_str().unwrap().contains(&format!("#{id}")),
        "{ended}"
    );
    drop(browser);
    let v = c.get_json("/api/v1/reair").unwrap();
    api.check_response("GET", "/api/v1/reair", 200, &v).unwrap();
    assert_eq!(
        (v["state"].as_str(), v["ended"].as_str()),
        (Some("idle"), Some("stopped"))
    );
    assert!(
        client
            .media_inputs()
            .status(InputId::Name(REAIR_INPUT))
            .await
            .is_err()
    );
    assert_eq!(
        client
            .scenes()
            .current_program_scene()
            .await
            .unwrap()
            .id
            .name,
        "Scene"
    );
    wait_for("the target stopped", Duration::from_secs(15), || {
        let snap = c.get_json("/api/v1/snapshot")?;
        Ok((snap["targets"][0]["state"] == "idle").then_some(()))
    })
    .unwrap();

    // Scheduled: a set with the re-air starts its target and plays the recording once in its
    // scene; the set ends when the file has played to its end.
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 2_000;
    let set = json!({
        "title": "Rerun of the set",
        "start": start,
        "end": start + 600_000,
        "targets": [target],
        "scene": "Re-air",
        "reair": {"recordingId": id},
    });
    let (status, entry) = call(
        &api,
        &c,
        "POST",
        "/api/v1/schedule",
        "/api/v1/schedule",
        Some(&set),
    );
    assert_eq!(status, 201, "{entry}");
    assert_eq!(
        entry["record"], false,
        "a re-air is not recorded unless asked: {entry}"
    );
    assert_eq!(
        entry["reair"],
        json!({"recordingId": id, "loop": false}),
        "{entry}"
    );
    let set_id = entry["id"].as_i64().unwrap();
    let playing = wait_for("the set's re-air", Duration::from_secs(20), || {
        Ok(c.get_json("/api/v1/reair")
            .ok()
            .filter(|v| v["state"] == "playing"))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", companion.log_text()));
    assert_eq!(playing["setId"], set_id, "{playing}");
    deckcast_tests::rtmp::ffprobe_until_av(&rtmp.stream_url("rerun"), Duration::from_secs(20))
        .unwrap();
    let done = wait_for(
        "the set's end with the file's",
        Duration::from_secs(45),
        || {
            let s = c.get_json("/api/v1/schedule")?;
            Ok(s["entries"]
                .as_array()
                .and_then(|a| a.iter().find(|e| e["id"] == set_id).cloned())
                .filter(|e| e["state"] == "done"))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", companion.log_text()));
    let took =
        (done["endedMs"].as_i64().unwrap() - done["startedMs"].as_i64().unwrap()) as f64 / 1000.0;
    assert!((took - 21.0).abs() < 4.0, "the set ran {took} s: {done}");
    let now = c.get_json("/api/v1/reair").unwrap();
    assert_eq!(now["ended"], "it played to the end", "{now}");
    assert_eq!(
        client
            .scenes()
            .current_program_scene()
            .await
            .unwrap()
            .id
            .name,
        "Scene",
        "the scene before the set's re-air is back"
    );
    wait_for("the set's target stopped", Duration::from_secs(15), || {
        let snap = c.get_json("/api/v1/snapshot")?;
        Ok((snap["targets"][0]["state"] == "idle").then_some(()))
    })
    .unwrap();
    assert!(
        client
            .media_inputs()
            .status(InputId::Name(REAIR_INPUT))
            .await
            .is_err()
    );
    let history = c.get_json("/api/v1/history?limit=200").unwrap().to_string();
    for what in [
        format!(
            "re-air of recording #{id} started in scene 'Re-air', looping, streaming to {target}"
        ),
        format!("re-air of recording #{id} ended: stopped"),
        format!("re-air of recording #{id} ended: it played to the end"),
    ] {
        assert!(history.contains(&what), "{what}: {history}");
    }
    drop(client);
}
