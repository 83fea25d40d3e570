//! End-to-end: `deckcast serve` with a real OBS, a real keyring (gnome-keyring under
//! dbus-run-session), real SQLite, headless Chromium and a real Prometheus. Tier "e2e".
use std::time::Duration;

use deckcast_tests::browser::Browser;
use deckcast_tests::companion::{Companion, CompanionHome, call, wait_snapshot};
use deckcast_tests::http::{self, Client};
use deckcast_tests::obs::{Obs, ObsOptions};
use deckcast_tests::openapi::OpenApi;
use deckcast_tests::prometheus::Prometheus;
use deckcast_tests::rtmp::{RtmpServer, ffprobe_until_av};
use deckcast_tests::util::{files_containing, random_hex, wait_for};
use deckcast_tests::{artifacts, vendor};
use serde_json::{Value, json};

fn count_state(s: &Value, state: &str) -> usize {
    s["targets"]
        .as_array()
        .map_or(0, |t| t.iter().filter(|t| t["state"] == state).count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig, chromium and prometheus (see README: the test command runs this tier)"]
async fn the_companion_runs_targets_survives_restarts_and_shows_it_live() {
    let api = OpenApi::load().unwrap();
    let rtmp = RtmpServer::start().unwrap();
    let obs_home =
        std::env::temp_dir().join(format!("deckcast-e2e-obs-{}", random_hex(6).unwrap()));
    let opts = ObsOptions {
        home: Some(obs_home.clone()),
        ..ObsOptions::default()
    };
    let mut obs = Obs::start(opts.clone()).unwrap();
    let home = CompanionHome::new().unwrap();
    let mut companion = Companion::start(&home, obs.ws_port, &obs.password).unwrap();
    let c = companion.client().unwrap();
    let anonymous = Client {
        addr: home.addr(),
        token: None,
    };
    wait_snapshot(
        &c,
        "the companion to connect to OBS",
        Duration::from_secs(30),
        |s| s["obs"]["state"] == "connected",
    );

    // Refusals: no token, foreign origin, malformed JSON, unknown target.
    let (status, _) = call(
        &api,
        &anonymous,
        "GET",
        "/api/v1/status",
        "/api/v1/status",
        None,
    );
    assert_eq!(status, 401);
    let r = http::send(
        home.addr(),
        &http::Request {
            method: "POST",
            path: "/api/v1/targets",
            headers: vec![
                (
                    "Authorization",
                    format!("Bearer {}", c.token.as_deref().unwrap()),
                ),
                ("Origin", "http://evil.example".into()),
            ],
            body: Some(br#"{"name":"x"}"#.to_vec()),
        },
    )
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    api.check_response("POST", "/api/v1/targets", 403, &r.json().unwrap())
        .unwrap();
    let r = http::send(
        home.addr(),
        &http::Request {
            method: "POST",
            path: "/api/v1/targets",
            headers: vec![(
                "Authorization",
                format!("Bearer {}", c.token.as_deref().unwrap()),
            )],
            body: Some(br#"{"name": "x", "platform": "#.to_vec()),
        },
    )
    .unwrap();
    assert_eq!(r.status, 400);
    let body = r.json().unwrap();
    api.check_response("POST", "/api/v1/targets", 400, &body)
        .unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("line 1"),
        "{body}"
    );
    let (status, body) = call(
        &api,
        &c,
        "GET",
        "/api/v1/targets/nope",
        "/api/v1/targets/{id}",
        None,
    );
    assert_eq!(status, 404, "{body}");
    let (status, _) = call(
        &api,
        &c,
        "POST",
        "/api/v1/targets/nope/start",
        "/api/v1/targets/{id}/start",
        None,
    );
    assert_eq!(status, 404);

    // Three targets through the API.
    let keys: Vec<String> = (0..3)
        .map(|_| format!("live_{}", random_hex(10).unwrap()))
        .collect();
    let mut ids = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let (status, body) = call(
            &api,
            &c,
            "POST",
            "/api/v1/targets",
            "/api/v1/targets",
            Some(
                &json!({"name": format!("Target {i}"), "platform": "custom", "server": rtmp.url(), "key": key}),
            ),
        );
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["target"]["hasKey"], true);
        ids.push(body["target"]["id"].as_str().unwrap().to_owned());
    }
    let client = obs.client().await.unwrap();
    let list = vendor::ok(&client, "ListTargets", json!({})).await.unwrap();
    let names: Vec<&str> = list["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Target 0", "Target 1", "Target 2"]);
    for (id, key) in ids.iter().zip(&keys) {
        assert_eq!(
            home.keyring_lookup(&format!("stream-key:{id}"))
                .unwrap()
                .as_deref(),
            Some(key.as_str())
        );
    }

    // Start them from the API: three streams arrive.
    for id in &ids {
        let (status, body) = call(
            &api,
            &c,
            "POST",
            &format!("/api/v1/targets/{id}/start"),
            "/api/v1/targets/{id}/start",
            None,
        );
        assert_eq!(status, 200, "{body}");
    }
    for key in &keys {
        let info = ffprobe_until_av(&rtmp.stream_url(key), Duration::from_secs(30)).unwrap();
        assert!(info.video.is_some(), "{info:?}");
    }
    let live = wait_snapshot(
        &c,
        "three live tiles with bitrate",
        Duration::from_secs(20),
        |s| {
            count_state(s, "live") == 3
                && s["targets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|t| t["kbps"].as_f64().unwrap_or(0.0) > 50.0)
        },
    );
    api.check_schema("Snapshot", &live).unwrap();

    // The dashboard in a real browser: log in with the token, three live tiles.
    let mut browser = Browser::start().await.unwrap();
    let base = format!("http://{}", home.addr());
    let token = c.token.clone().unwrap();
    browser.log_in(&base, &token).await.unwrap();
    browser
        .wait_for(
            "three live tiles",
            "location.pathname === '/' && document.querySelectorAll('.tile[data-state=live]').length === 3",
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    let kbps = browser
        .wait_for(
            "tiles with bitrate and a sparkline",
            "[...document.querySelectorAll('.tile')].every(t => +t.querySelector('[data-field=kbps]').textContent > 50 && t.querySelector('polyline').getAttribute('points').split(' ').length > 2) && document.querySelector('.tile [data-field=kbps]').textContent",
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    eprintln!("dashboard kbps: {kbps}");
    let page_key = browser
        .eval("document.querySelector('[data-field=key]').textContent")
        .await
        .unwrap();
    assert_eq!(page_key, json!("•••••• set"), "keys are masked");
    let html = browser
        .eval("document.documentElement.outerHTML")
        .await
        .unwrap();
    for key in &keys {
        assert!(
            !html.as_str().unwrap().contains(key.as_str()),
            "a key reached the page"
        );
    }
    let png = browser.screenshot().await.unwrap();
    std::fs::write(
        artifacts::artifacts_dir()
            .unwrap()
            .join("dashboard-live.png"),
        &png,
    )
    .unwrap();

    // A real Prometheus scrapes per-target series.
    let prom = Prometheus::start(home.addr()).unwrap();
    let series = wait_for(
        "Prometheus to scrape three live targets",
        Duration::from_secs(30),
        || {
            let r = prom.query("deckcast_target_state{state=\"live\"} == 1")?;
            Ok((r.len() == 3).then_some(r))
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", prom.log()));
    let mut scraped: Vec<String> = series
        .iter()
        .map(|s| s["metric"]["name"].as_str().unwrap().to_owned())
        .collect();
    scraped.sort();
    assert_eq!(scraped, ["Target 0", "Target 1", "Target 2"]);
    // Target ids (what a program impersonating OBS would ask keys for) only with the token.
    let open = anonymous.get("/metrics").unwrap().text();
    let with_token = c.get("/metrics").unwrap().text();
    for id in &ids {
        assert!(
            !open.contains(id.as_str()),
            "an anonymous scrape shows {id}"
        );
        assert!(
            with_token.contains(&format!("target=\"{id}\"")),
            "{with_token}"
        );
    }
    assert_eq!(
        prom.query("deckcast_target_sent_bytes_per_second > 6250")
            .unwrap()
            .len(),
        3
    );
    // The live scrape passes Prometheus' own linter (names, units, types, help).
    for scrape in [&open, &with_token] {
        promtool_check_metrics(scrape);
    }
    assert_eq!(
        prom.query("deckcast_obs_connected").unwrap()[0]["value"][1],
        "1"
    );

    // The dashboard's own forms: add a target with a key (masked), rename it, delete it.
    let ui_key = format!("live_{}", random_hex(10).unwrap());
    browser
        .eval(&format!(
            "(() => {{ document.querySelector('#add').click(); const f = document.querySelector('#target-form'); \
             f.elements.name.value = 'From the dashboard'; f.elements.platform.value = 'custom'; \
             f.elements.server.value = {}; f.elements.key.value = {}; f.requestSubmit(); return true; }})()",
            json!(rtmp.url()),
            json!(ui_key)
        ))
        .await
        .unwrap();
    let new_id = browser
        .wait_for(
            "the new tile",
            "[...document.querySelectorAll('.tile')].filter(t => t.querySelector('[data-field=name]').textContent === 'From the dashboard' && t.querySelector('[data-field=key]').textContent === '•••••• set').map(t => t.dataset.targetId)[0]",
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    let new_id = new_id.as_str().unwrap().to_owned();
    assert_eq!(
        browser
            .eval("document.querySelector('#editor').open")
            .await
            .unwrap(),
        json!(false),
        "the dialog closes after saving"
    );
    assert_eq!(
        home.keyring_lookup(&format!("stream-key:{new_id}"))
            .unwrap()
            .as_deref(),
        Some(ui_key.as_str())
    );
    browser
        .eval(&format!(
            "(() => {{ document.querySelector('#tile-{new_id} [data-action=edit]').click(); const f = document.querySelector('#target-form'); \
             if (f.elements.key.value !== '') throw new Error('the key field must start empty'); \
             f.elements.name.value = 'Renamed'; f.requestSubmit(); return true; }})()"
        ))
        .await
        .unwrap();
    browser
        .wait_for(
            "the renamed tile",
            &format!("document.querySelector('#tile-{new_id} [data-field=name]').textContent === 'Renamed'"),
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    assert_eq!(
        home.keyring_lookup(&format!("stream-key:{new_id}"))
            .unwrap()
            .as_deref(),
        Some(ui_key.as_str()),
        "saving without a key keeps the stored one"
    );
    browser
        .eval(&format!(
            "window.confirm = () => true; document.querySelector('#tile-{new_id} [data-action=delete]').click(); true"
        ))
        .await
        .unwrap();
    browser
        .wait_for(
            "three tiles again",
            "document.querySelectorAll('.tile').length === 3",
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    assert_eq!(
        home.keyring_lookup(&format!("stream-key:{new_id}"))
            .unwrap(),
        None,
        "deleting removes the key"
    );

    // Now playing from the API reaches the plugin and the dashboard.
    let (status, _) = call(
        &api,
        &c,
        "PUT",
        "/api/v1/nowplaying",
        "/api/v1/nowplaying",
        Some(&json!({"artist": "Daft Punk", "title": "One More Time", "bpm": 122.0})),
    );
    assert_eq!(status, 204);
    browser
        .wait_for(
            "now playing on the dashboard",
            "document.querySelector('#now-playing [data-field=track]').textContent === 'Daft Punk – One More Time' && document.querySelector('#now-playing [data-field=bpm]').textContent.includes('122.0')",
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    // Schedule a set from the dashboard, see it upcoming, cancel it there.
    browser
        .eval(&format!(
            "(() => {{ document.querySelector('#add-set').click(); const f = document.querySelector('#set-form'); \
             const pad = (n) => String(n).padStart(2, '0'); const local = (d) => `${{d.getFullYear()}}-${{pad(d.getMonth() + 1)}}-${{pad(d.getDate())}}T${{pad(d.getHours())}}:${{pad(d.getMinutes())}}`; \
             f.elements.title.value = 'Dashboard set'; f.elements.start.value = local(new Date(Date.now() + 3600e3)); \
             f.elements.end.value = local(new Date(Date.now() + 7200e3)); \
             document.querySelector('#set-targets input[value=\"{}\"]').checked = true; f.requestSubmit(); return true; }})()",
            ids[0]
        ))
        .await
        .unwrap();
    browser
        .wait_for(
            "the set in the upcoming list",
            "[...document.querySelectorAll('#upcoming li')].some(li => li.textContent.includes('Dashboard set') && li.dataset.state === 'planned')",
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    let sched = c.get_json("/api/v1/schedule").unwrap();
    api.check_response("GET", "/api/v1/schedule", 200, &sched)
        .unwrap();
    let set = sched["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["title"] == "Dashboard set")
        .cloned()
        .unwrap();
    assert_eq!(set["targets"], json!([ids[0]]));
    browser
        .eval("window.confirm = () => true; [...document.querySelectorAll('#upcoming li')].find(li => li.textContent.includes('Dashboard set')).querySelector('button').click(); true")
        .await
        .unwrap();
    browser
        .wait_for(
            "the cancelled set among past sets",
            "[...document.querySelectorAll('#past-sets li')].some(li => li.textContent.includes('Dashboard set') && li.dataset.state === 'cancelled')",
            Duration::from_secs(15),
        )
        .await
        .unwrap();

    // The command line: add with the key on stdin, list as JSON, remove.
    let port = obs.ws_port.to_string();
    let cli_key = format!("live_{}", random_hex(10).unwrap());
    let out = home
        .run(
            &[
                "targets",
                "--obs-port",
                &port,
                "add",
                "CLI target",
                "--platform",
                "custom",
                "--server",
                &rtmp.url(),
                "--key-stdin",
                "--json",
            ],
            &cli_key,
        )
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cli_id = added["target"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        home.keyring_lookup(&format!("stream-key:{cli_id}"))
            .unwrap()
            .as_deref(),
        Some(cli_key.as_str())
    );
    let out = home
        .run(&["targets", "--obs-port", &port, "list", "--json"], "")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = listed["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == cli_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(t["hasKey"], true);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&cli_key));
    let out = home
        .run(&["targets", "--obs-port", &port, "rm", &cli_id], "")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        home.keyring_lookup(&format!("stream-key:{cli_id}"))
            .unwrap(),
        None
    );
    let out = home
        .run(&["targets", "--obs-port", &port, "start", "nope"], "")
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nope"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    browser
        .wait_for(
            "three tiles after the CLI round trip",
            "document.querySelectorAll('.tile').length === 3",
            Duration::from_secs(15),
        )
        .await
        .unwrap();

    // OBS dies while live and comes back: the companion reconnects, history shows the outage and
    // the same page (no reload) recovers.
    browser
        .eval("window.__sameDocument = 'yes'; true")
        .await
        .unwrap();
    let seen_before = browser
        .eval("window.deckcast.snapshots")
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    obs.kill().unwrap();
    browser
        .wait_for(
            "the dashboard to show OBS lost",
            "document.querySelector('#obs').dataset.state !== 'connected'",
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    drop(client);
    drop(obs);
    obs = Obs::start(opts.clone()).unwrap();
    browser
        .wait_for(
            "the dashboard to recover",
            "document.querySelector('#obs').dataset.state === 'connected' && document.querySelectorAll('.tile').length === 3",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(
        browser.eval("window.__sameDocument").await.unwrap(),
        json!("yes"),
        "the page reloaded"
    );
    assert!(
        browser
            .eval("window.deckcast.snapshots")
            .await
            .unwrap()
            .as_u64()
            .unwrap()
            > seen_before
    );
    // The reconnection is recorded right after the link is up (after its resync), so the
    // history may lag the dashboard's "connected" by a moment.
    let history = wait_for(
        "the reconnection in the history",
        Duration::from_secs(20),
        || {
            let h = c.get_json("/api/v1/history?limit=100")?;
            let back = h["events"].as_array().is_some_and(|e| {
                e.iter().any(|e| {
                    e["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("OBS connection back after"))
                })
            });
            Ok(back.then_some(h))
        },
    )
    .unwrap();
    api.check_response("GET", "/api/v1/history", 200, &history)
        .unwrap();
    let kinds: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"obs_lost"), "{kinds:?}");
    let back = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["message"]
                .as_str()
                .unwrap()
                .starts_with("OBS connection back after")
        })
        .cloned();
    assert!(back.is_some(), "{history}");
    let session = &history["sessions"][0];
    assert_eq!(session["endReason"], "obs_lost", "{history}");
    assert_eq!(session["targets"].as_array().unwrap().len(), 3);
    browser
        .wait_for("the outage in the dashboard's history", "[...document.querySelectorAll('#history li')].some(li => li.dataset.kind === 'obs_lost')", Duration::from_secs(20))
        .await
        .unwrap();
    let png = browser.screenshot().await.unwrap();
    std::fs::write(
        artifacts::artifacts_dir()
            .unwrap()
            .join("dashboard-after-obs-restart.png"),
        &png,
    )
    .unwrap();

    // The keys were only ever in the keyrings: not in SQLite, the companion's log or OBS's files.
    for key in &keys {
        let hits = [
            files_containing(&home.dir, key),
            files_containing(obs.config_dir(), key),
        ]
        .concat();
        let hits: Vec<&String> = hits.iter().filter(|p| !p.contains("/keyrings/")).collect();
        assert!(hits.is_empty(), "the key is in {hits:?}");
    }

    // Start them again (a second session), then kill the companion with SIGKILL while it writes
    // samples every second: the database opens cleanly and nothing committed is lost.
    for id in &ids {
        call(
            &api,
            &c,
            "POST",
            &format!("/api/v1/targets/{id}/start"),
            "/api/v1/targets/{id}/start",
            None,
        );
    }
    wait_snapshot(&c, "live again", Duration::from_secs(30), |s| {
        count_state(s, "live") == 3
    });
    std::thread::sleep(Duration::from_secs(3));
    let before = c.get_json("/api/v1/history?limit=1000").unwrap();
    let samples_before = c
        .get_json(&format!("/api/v1/targets/{}/kbps?minutes=10", ids[0]))
        .unwrap()["points"]
        .as_array()
        .unwrap()
        .len();
    assert!(samples_before >= 3, "1 s samples are written while live");
    companion.kill().unwrap();
    let out = home
        .run(
            &[
                "db",
                "check",
                "--data-dir",
                home.data_dir().to_str().unwrap(),
            ],
            "",
        )
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(check["integrity"], "ok", "{check}");
    companion = Companion::start(&home, obs.ws_port, &obs.password).unwrap();
    let c = companion.client().unwrap();
    let after = c.get_json("/api/v1/history?limit=1000").unwrap();
    let after_ids: Vec<i64> = after["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    for e in before["events"].as_array().unwrap() {
        assert!(
            after_ids.contains(&e["id"].as_i64().unwrap()),
            "lost event {e}"
        );
    }
    let samples_after = c
        .get_json(&format!("/api/v1/targets/{}/kbps?minutes=10", ids[0]))
        .unwrap()["points"]
        .as_array()
        .unwrap()
        .len();
    assert!(
        samples_after >= samples_before,
        "{samples_after} < {samples_before}"
    );
    // The session the kill interrupted is closed, and the new process follows the live targets.
    let s = wait_snapshot(
        &c,
        "the restarted companion to see the live targets",
        Duration::from_secs(30),
        |s| count_state(s, "live") == 3,
    );
    api.check_schema("Snapshot", &s).unwrap();
    let sessions = &after["sessions"];
    assert!(
        sessions
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["endReason"] == "companion_restart"),
        "{sessions}"
    );
    let (status, _) = call(
        &api,
        &c,
        "POST",
        "/api/v1/actions/stop-all",
        "/api/v1/actions/stop-all",
        None,
    );
    assert_eq!(status, 200);
    wait_snapshot(&c, "all stopped", Duration::from_secs(20), |s| {
        count_state(s, "idle") == 3
    });
    assert!(
        companion.stop(),
        "the companion stops cleanly on SIGTERM:\n{}",
        companion.log_text()
    );
    let log = companion.log_text();
    for key in &keys {
        assert!(!log.contains(key.as_str()));
    }
    assert!(obs.alive());
    drop(companion);
    assert!(
        obs.stop(),
        "OBS shuts down cleanly:\n{}",
        obs.failure_report()
    );
    drop(obs);
    let _ = std::fs::remove_dir_all(&home.dir);
    let _ = std::fs::remove_dir_all(&obs_home);
}

/// `promtool check metrics` on an exposition: exit 0 and no lint finding.
fn promtool_check_metrics(text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics:\n{said}\n--- scrape ---\n{text}"
    );
}
