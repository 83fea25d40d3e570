//! End-to-end: a set from an iCalendar feed (served over HTTP on loopback) starts its targets on
//! time in a real OBS, survives a `kill -9` of the companion mid-set without being started twice,
//! and stops at its end; a calendar is previewed (CLI, API, dashboard in Chromium) before
//! subscribing, with what it would not schedule and why. Tier "e2e".
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use deckcast_tests::artifacts;
use deckcast_tests::browser::Browser;
use deckcast_tests::companion::{Companion, CompanionHome};
use deckcast_tests::http::Client;
use deckcast_tests::obs::{Obs, ObsOptions};
use deckcast_tests::openapi::OpenApi;
use deckcast_tests::rtmp::RtmpServer;
use deckcast_tests::util::{free_port, random_hex, wait_for};
use serde_json::{Value, json};

/// Serves `body` as text/calendar to every request; counts requests.
fn serve_ics(body: String) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            h.fetch_add(1, Ordering::SeqCst);
            let mut s = reader.into_inner();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/calendar; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, hits)
}

fn ics_time(ms: i64) -> String {
    let secs = ms / 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn target_state(c: &Client, id: &str) -> Value {
    let s = c.get_json("/api/v1/snapshot").unwrap_or(Value::Null);
    s["targets"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == id).cloned())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn a_calendar_set_starts_on_time_survives_a_restart_and_stops_at_its_end() {
    let api = OpenApi::load().unwrap();
    let rtmp = RtmpServer::start().unwrap();
    let obs = Obs::start(ObsOptions {
        rtmp_server: Some(rtmp.url()),
        ..ObsOptions::default()
    })
    .unwrap();
    let home = CompanionHome::new().unwrap();
    let mut companion = Companion::start(&home, obs.ws_port, &obs.password).unwrap();
    let c = companion.client().unwrap();
    wait_for("the companion to connect", Duration::from_secs(30), || {
        Ok(c.get_json("/api/v1/snapshot")
            .ok()
            .filter(|s| s["obs"]["state"] == "connected"))
    })
    .unwrap();
    let key = format!("live_{}", random_hex(8).unwrap());
    let r = c
        .post(
            "/api/v1/targets",
            &json!({"name": "Scheduled", "platform": "custom", "server": rtmp.url(), "key": key}),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json().unwrap()["target"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A feed with a set starting in 20 s for 30 s, a cancelled one, and a weekly Berlin set.
    let start = (now_ms() / 1000 + 20) * 1000;
    let end = start + 30_000;
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//deckcast tests//EN\r\n\
BEGIN:VEVENT\r\nUID:soon@test\r\nSUMMARY:Warm-up set\r\nDTSTART:{}\r\nDTEND:{}\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:off@test\r\nSTATUS:CANCELLED\r\nSUMMARY:Called off\r\nDTSTART:{}\r\nDTEND:{}\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:weekly@test\r\nSUMMARY:Friday night\r\nDTSTART;TZID=Europe/Berlin:20300104T220000\r\n\
DTEND;TZID=Europe/Berlin:20300105T000000\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        ics_time(start),
        ics_time(end),
        ics_time(start + 5_000),
        ics_time(end),
    );
    let (port, hits) = serve_ics(ics);
    // Like Google's "secret address": the path is the credential.
    let url = format!("http://127.0.0.1:{port}/calendar/private-5ecre7c0de/basic.ics");
    // A refresh interval out of range is refused, not silently clamped.
    let r = c
        .post(
            "/api/v1/feeds",
            &json!({"url": url, "targets": [id], "refreshMinutes": 0}),
        )
        .unwrap();
    let body = r.json().unwrap();
    assert_eq!(r.status, 400, "{body}");
    assert!(
        body.to_string().contains("refreshMinutes must be 1–1440"),
        "{body}"
    );
    let r = c
        .post(
            "/api/v1/feeds",
            &json!({"url": url, "targets": [id], "refreshMinutes": 1}),
        )
        .unwrap();
    let body = r.json().unwrap();
    assert_eq!(r.status, 201, "{body}");
    api.check_response("POST", "/api/v1/feeds", 201, &body)
        .unwrap();
    assert_eq!(body["fetchError"], Value::Null, "{body}");
    assert!(hits.load(Ordering::SeqCst) >= 1);
    let sched = c.get_json("/api/v1/schedule").unwrap();
    api.check_response("GET", "/api/v1/schedule", 200, &sched)
        .unwrap();
    let entries = sched["entries"].as_array().unwrap();
    let soon = entries
        .iter()
        .find(|e| e["title"] == "Warm-up set")
        .cloned()
        .unwrap();
    assert_eq!(
        (soon["startMs"].as_i64(), soon["endMs"].as_i64()),
        (Some(start), Some(end))
    );
    assert_eq!(soon["state"], "planned");
    assert!(
        !entries.iter().any(|e| e["title"] == "Called off"),
        "cancelled events are not scheduled"
    );
    // The weekly set is outside the 90-day horizon only if far away; here it is years ahead.
    assert!(!entries.iter().any(|e| e["title"] == "Friday night"));
    // Bad input is refused clearly.
    let r = c
        .post(
            "/api/v1/schedule",
            &json!({"title": "x", "start": "tomorrow", "end": 5, "targets": [id]}),
        )
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("RFC 3339"), "{}", r.text());

    // The command line talks to the running companion.
    let api_url = format!("http://{}", home.addr());
    let out = home
        .run(
            &[
                "schedule",
                "--api",
                &api_url,
                "add",
                "CLI set",
                "--start",
                "2031-06-01T20:00:00+02:00",
                "--end",
                "2031-06-01T22:00:00+02:00",
                "--target",
                &id,
                "--json",
            ],
            "",
        )
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added["startMs"].as_i64(), Some(1_938_103_200_000));
    let out = home
        .run(&["schedule", "--api", &api_url, "list"], "")
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("CLI set") && text.contains("Warm-up set"),
        "{text}"
    );
    let out = home
        .run(
            &[
                "schedule",
                "--api",
                &api_url,
                "rm",
                &added["id"].to_string(),
            ],
            "",
        )
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = home
        .run(
            &[
                "schedule",
                "--api",
                &api_url,
                "add",
                "Bad",
                "--start",
                "2031-06-01T22:00:00Z",
                "--end",
                "2031-06-01T20:00:00Z",
                "--target",
                &id,
            ],
            "",
        )
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("end must be after start"));
    let out = home
        .run(&["feeds", "--api", &api_url, "list", "--json"], "")
        .unwrap();
    let feeds: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The private path never leaves the database: the API shows scheme and host only.
    assert_eq!(
        feeds["feeds"][0]["url"],
        json!(format!("http://127.0.0.1:{port}/…"))
    );
    assert!(!out.stdout.windows(10).any(|w| w == b"private-5e"));
    let history = c.get_json("/api/v1/history?limit=200").unwrap().to_string();
    assert!(history.contains("calendar http://127.0.0.1"), "{history}");
    assert!(!history.contains("private-5ecre7c0de"), "{history}");
    let snapshot = c.get_json("/api/v1/snapshot").unwrap().to_string();
    assert!(!snapshot.contains("private-5ecre7c0de"), "{snapshot}");

    // On time: the target starts within 2 s of the set's start.
    let started_at = wait_for(
        "the set to start its target",
        Duration::from_secs(40),
        || {
            let s = target_state(&c, &id);
            Ok((s["state"] != "idle" && !s.is_null()).then(now_ms))
        },
    )
    .unwrap();
    eprintln!(
        "started {} ms after the scheduled start",
        started_at - start
    );
    assert!(
        (started_at - start).abs() <= 2_000,
        "started {} ms off",
        started_at - start
    );
    wait_for("live", Duration::from_secs(15), || {
        Ok((target_state(&c, &id)["state"] == "live").then_some(()))
    })
    .unwrap();

    // kill -9 the companion mid-set and start it again: the set keeps running, not restarted.
    std::thread::sleep(Duration::from_secs(3));
    companion.kill().unwrap();
    let killed_at = Instant::now();
    companion = Companion::start(&home, obs.ws_port, &obs.password).unwrap();
    let c = companion.client().unwrap();
    wait_for(
        "the restarted companion to see the live target",
        Duration::from_secs(30),
        || Ok((target_state(&c, &id)["state"] == "live").then_some(())),
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let t = target_state(&c, &id);
    let uptime = t["uptimeSec"].as_f64().unwrap();
    assert!(
        uptime > killed_at.elapsed().as_secs_f64() + 2.0,
        "the target was restarted (uptime {uptime} s): {t}"
    );
    assert_eq!(t["reconnects"], 0, "{t}");
    let history = c.get_json("/api/v1/history?limit=200").unwrap();
    let started_events = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "schedule_started")
        .count();
    assert_eq!(started_events, 1, "started once: {history}");
    let sched = c.get_json("/api/v1/schedule").unwrap();
    let soon = sched["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["title"] == "Warm-up set")
        .cloned()
        .unwrap();
    assert_eq!(soon["state"], "running");
    let recorded = soon["startedMs"].as_i64().unwrap();
    assert!(
        (recorded - started_at).abs() <= 1_500,
        "startedMs {recorded} vs observed {started_at}"
    );

    // At its end the target stops (within 2 s) and the set is done.
    let stopped_at = wait_for("the set to end", Duration::from_secs(45), || {
        let s = target_state(&c, &id);
        Ok((s["state"] == "stopping" || s["state"] == "idle").then(now_ms))
    })
    .unwrap();
    eprintln!("stopped {} ms after the scheduled end", stopped_at - end);
    assert!(
        (stopped_at - end).abs() <= 2_000,
        "stopped {} ms off",
        stopped_at - end
    );
    let done = wait_for("the entry to be done", Duration::from_secs(10), || {
        let s = c.get_json("/api/v1/schedule").unwrap();
        Ok(s["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["title"] == "Warm-up set" && e["state"] == "done")
            .cloned())
    })
    .unwrap();
    assert!(done["endedMs"].as_i64().unwrap() >= end);

    // A local set that starts OBS's own stream and switches the scene, then stops the stream.
    let obs_client = obs.client().await.unwrap();
    obs_client.scenes().create("Live scene").await.unwrap();
    let s2 = (now_ms() / 1000 + 4) * 1000;
    let r = c
        .post(
            "/api/v1/schedule",
            &json!({"title": "Main stream set", "start": s2, "end": s2 + 10_000, "startMain": true, "scene": "Live scene"}),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    api.check_response("POST", "/api/v1/schedule", 201, &r.json().unwrap())
        .unwrap();
    let mut live_at = None;
    for _ in 0..200 {
        if obs_client.streaming().status().await.unwrap().active {
            live_at = Some(now_ms());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let live_at = live_at.expect("the set started OBS's stream");
    assert!(
        (live_at - s2).abs() <= 2_500,
        "OBS's stream started {} ms off",
        live_at - s2
    );
    let scene = obs_client.scenes().current_program_scene().await.unwrap();
    assert_eq!(scene.id.name, "Live scene");
    let mut stopped = false;
    for _ in 0..200 {
        if now_ms() > s2 + 10_000 && !obs_client.streaming().status().await.unwrap().active {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stopped, "the set stopped OBS's stream at its end");
    assert!(obs.alive());
    drop(companion);
    let _ = std::fs::remove_dir_all(&home.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig (see README: the test command runs this tier)"]
async fn a_calendar_is_previewed_before_subscribing_and_what_it_skips_is_shown() {
    let api = OpenApi::load().unwrap();
    // A timed set, one with no end (the default set length), one in a Windows zone name with no
    // VTIMEZONE, an all-day festival, and a cancelled one; a byte-order mark first.
    let day = 86_400_000;
    let start = (now_ms() / 1000 + 3 * 86_400) * 1000;
    let ics = format!(
        "\u{feff}BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//deckcast tests//EN\r\n\
BEGIN:VEVENT\r\nUID:timed@test\r\nSUMMARY:Club night\r\nDTSTART:{}\r\nDTEND:{}\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:open@test\r\nSUMMARY:Open end\r\nDTSTART:{}\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:win@test\r\nSUMMARY:Outlook set\r\nDTSTART;TZID=W. Europe Standard Time:20300104T220000\r\n\
DTEND;TZID=W. Europe Standard Time:20300105T000000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:fest@test\r\nSUMMARY:Festival weekend\r\nDTSTART;VALUE=DATE:{}\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:off@test\r\nSTATUS:CANCELLED\r\nSUMMARY:Called off\r\nDTSTART:{}\r\nDTEND:{}\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n",
        ics_time(start),
        ics_time(start + 7_200_000),
        ics_time(start + day),
        &ics_time(start + 2 * day)[..8],
        ics_time(start + 3 * day),
        ics_time(start + 3 * day + 3_600_000),
    );
    let (port, hits) = serve_ics(ics);
    let url = format!("http://127.0.0.1:{port}/calendar/private-5ecre7c0de/basic.ics");

    // The command line previews without any companion running.
    let home = CompanionHome::new().unwrap();
    let out = home.run(&["feeds", "preview", &url, "--json"], "").unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    let titles: Vec<&str> = cli["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["Club night", "Open end"], "{cli}");
    assert_eq!(
        cli["instances"][1]["endMs"].as_i64(),
        Some(start + day + 3_600_000)
    );
    assert_eq!(cli["instances"][1]["lengthFromCalendar"], false);
    let reasons: Vec<(&str, &str)> = cli["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["title"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        vec![("Festival weekend", "allDay"), ("Called off", "cancelled")]
    );
    // The Windows zone is years ahead: in a window around it, it is 21:00 UTC (Berlin, winter).
    let out = home
        .run(
            &[
                "feeds",
                "preview",
                &url,
                "--from",
                "2030-01-01T00:00:00Z",
                "--to",
                "2030-02-01T00:00:00Z",
            ],
            "",
        )
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 set(s)") && text.contains("Outlook set"),
        "{text}"
    );
    assert!(
        !text.contains("private-5ecre7c0de"),
        "the private path is not printed: {text}"
    );
    let out = home
        .run(&["feeds", "preview", "/nonexistent.ics"], "")
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading /nonexistent.ics"));

    // The API previews, validates and refuses clearly.
    let mut companion = Companion::start(&home, free_port().unwrap(), "unused").unwrap();
    let c = companion.client().unwrap();
    let r = c
        .post(
            "/api/v1/feeds/preview",
            &json!({"url": url, "defaultLengthMinutes": 90}),
        )
        .unwrap();
    let body = r.json().unwrap();
    assert_eq!(r.status, 200, "{body}");
    api.check_response("POST", "/api/v1/feeds/preview", 200, &body)
        .unwrap();
    assert_eq!(
        body["instances"][1]["endMs"].as_i64(),
        Some(start + day + 5_400_000)
    );
    let r = c
        .post("/api/v1/feeds/preview", &json!({"url": "ftp://x/cal.ics"}))
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    // A calendar's address is often its password: not over the network in clear text.
    let r = c
        .post(
            "/api/v1/feeds/preview",
            &json!({"url": "http://calendar.example.com/private-5ecre7c0de/basic.ics"}),
        )
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("must be https://"), "{}", r.text());
    assert!(!r.text().contains("private-5ecre7c0de"), "{}", r.text());
    let r = c
        .post(
            "/api/v1/feeds/preview",
            &json!({"url": format!("http://127.0.0.1:{}/cal.ics", free_port().unwrap())}),
        )
        .unwrap();
    assert_eq!(r.status, 502, "{}", r.text());
    api.check_response("POST", "/api/v1/feeds/preview", 502, &r.json().unwrap())
        .unwrap();
    assert!(
        c.get_json("/api/v1/feeds").unwrap()["feeds"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The dashboard shows the preview first, then subscribes, and lists what was not scheduled.
    let mut browser = Browser::start().await.unwrap();
    browser
        .open_dashboard(
            &format!("http://{}", home.addr()),
            c.token.as_deref().unwrap(),
        )
        .await
        .unwrap();
    let before = hits.load(Ordering::SeqCst);
    browser
        .eval(&format!(
            "document.querySelector('#add-feed').click(); const f = document.querySelector('#set-form'); \
             f.elements.url.value = {url:?}; f.elements.startMain.checked = true; \
             document.querySelector('#set-submit').click(); true"
        ))
        .await
        .unwrap();
    let shown = browser
        .wait_for(
            "the preview",
            "!document.querySelector('#feed-preview').hidden && document.querySelector('#set-submit').textContent === 'Subscribe' && document.querySelector('#feed-preview').innerText",
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    let shown = shown.as_str().unwrap();
    assert!(
        shown.contains("Club night") && shown.contains("Open end (default length)"),
        "{shown}"
    );
    assert!(
        shown.contains("Festival weekend: not scheduled: all-day"),
        "{shown}"
    );
    assert!(
        shown.contains("Called off") && shown.contains("not scheduled: cancelled"),
        "{shown}"
    );
    assert!(
        hits.load(Ordering::SeqCst) > before,
        "the preview fetched the calendar"
    );
    assert!(
        c.get_json("/api/v1/feeds").unwrap()["feeds"]
            .as_array()
            .unwrap()
            .is_empty(),
        "a preview does not subscribe"
    );
    let png = browser.screenshot().await.unwrap();
    std::fs::write(
        artifacts::artifacts_dir()
            .unwrap()
            .join("calendar-preview.png"),
        &png,
    )
    .unwrap();
    browser
        .eval("document.querySelector('#set-submit').click(); true")
        .await
        .unwrap();
    let listed = browser
        .wait_for(
            "the subscription with its skipped events",
            "document.querySelector('#set-editor').open === false && document.querySelectorAll('#feed-list .feed-problem').length >= 2 && document.querySelector('#feed-list').innerText",
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    let listed = listed.as_str().unwrap();
    assert!(
        listed.contains("'Festival weekend': not scheduled: all-day"),
        "{listed}"
    );
    assert!(!listed.contains("private-5ecre7c0de"), "{listed}");
    let feeds = c.get_json("/api/v1/feeds").unwrap();
    assert_eq!(feeds["feeds"][0]["defaultLengthMin"], 60, "{feeds}");
    let sched = c.get_json("/api/v1/schedule").unwrap();
    let titles: Vec<&str> = sched["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["Club night", "Open end"], "{sched}");
    assert!(companion.stop());
}
