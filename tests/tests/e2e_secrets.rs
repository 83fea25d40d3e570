//! End-to-end: every kind of secret Deckcast handles goes through every path that carries one —
//! stream keys (companion API, vendor API, `SetStreamKey`, pulled from the site), the
//! obs-websocket password, the dashboard token (login, bearer, `deckcast listen`), the site's
//! token, the webhook signing secret and the Icecast source password — with the companion logging
//! at `trace`. Then no secret may be found in any file under the OBS config, the companion's home
//! and data directory, any log, or any process's command line. Tier "e2e".
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deckcast_tests::companion::{Companion, CompanionHome};
use deckcast_tests::obs::{Obs, ObsOptions};
use deckcast_tests::rtmp::RtmpServer;
use deckcast_tests::site::{Receiver, received, serve_site};
use deckcast_tests::util::{files_containing, free_port, random_hex, wait_for};
use deckcast_tests::vendor;
use serde_json::json;

/// Every process's command line that contains one of `secrets` (as "pid: argv").
fn argv_hits(secrets: &[(&str, String)]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(argv) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        for (what, s) in secrets {
            if argv.windows(s.len()).any(|w| w == s.as_bytes()) {
                hits.push(format!(
                    "{what} in the argv of pid {}: {}",
                    entry.file_name().to_string_lossy(),
                    String::from_utf8_lossy(&argv).replace('\0', " ")
                ));
            }
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig and python3 (see README: the test command runs this tier)"]
async fn no_secret_reaches_a_file_a_log_or_a_command_line() {
    let secret = |p: &str| format!("{p}_{}", random_hex(12).unwrap());
    let (k_api, k_vendor, k_set, k_site) = (
        secret("live_api"),
        secret("live_vendor"),
        secret("live_setkey"),
        secret("live_site"),
    );
    let (site_token, icecast_pw) = (secret("site_token"), secret("icecast_pw"));

    let rtmp = RtmpServer::start().unwrap();
    let obs = Obs::start(ObsOptions::default()).unwrap();
    let home = CompanionHome::new().unwrap();
    let mut companion =
        Companion::start_logging(&home, obs.ws_port, &obs.password, "trace").unwrap();
    let c = companion.client().unwrap();
    let dashboard_token = c.token.clone().unwrap();
    wait_for("connected", Duration::from_secs(30), || {
        Ok(c.get_json("/api/v1/snapshot")
            .ok()
            .filter(|s| s["obs"]["state"] == "connected"))
    })
    .unwrap();

    // Stream keys through the companion, the vendor API and SetStreamKey; one goes live.
    let r = c
        .post(
            "/api/v1/targets",
            &json!({"name": "Via API", "platform": "custom", "server": rtmp.url(), "key": k_api}),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let api_id = r.json().unwrap()["target"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c
        .post(&format!("/api/v1/targets/{api_id}/start"), &json!({}))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let client = obs.client().await.unwrap();
    let v = vendor::ok(
        &client,
        "CreateTarget",
        json!({"name": "Via vendor", "server": rtmp.url(), "key": k_vendor}),
    )
    .await
    .unwrap();
    let vendor_id = v["target"]["id"].as_str().unwrap().to_owned();
    vendor::ok(
        &client,
        "SetStreamKey",
        json!({"id": vendor_id, "key": k_set}),
    )
    .await
    .unwrap();
    vendor::ok(&client, "ExportTargets", json!({}))
        .await
        .unwrap();

    // The site: a pulled destination (key) behind the site's token; signed webhooks.
    let state = Arc::new(Mutex::new((
        json!({"destinations": [{"id": "d1", "name": "From the site", "server": rtmp.url(), "key": k_site}]}),
        json!({"sets": []}),
    )));
    let site = serve_site(site_token.clone(), state);
    let out = companion
        .run_in_session(&["platform", "token", "set"], &site_token)
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hook_port = free_port().unwrap();
    let r = c
        .call(
            "PUT",
            "/api/v1/platform",
            Some(&json!({
                "baseUrl": format!("http://127.0.0.1:{site}"),
                "webhookUrl": format!("http://127.0.0.1:{hook_port}/hook"),
                "healthIntervalS": 5
            })),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let out = home.run(&["platform", "secret", "show"], "").unwrap();
    let webhook_secret = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(webhook_secret.len(), 64);
    let hooks = home.dir.join("hooks.jsonl");
    let _receiver = Receiver::start(hook_port, &webhook_secret, &hooks, &[]);
    let r = c.post("/api/v1/platform/pull", &json!({})).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json().unwrap()["targetsCreated"], 1);

    // The Icecast receiver's password; a dashboard login; `deckcast listen` with the token.
    let ice_port = free_port().unwrap();
    let r = c
        .call(
            "PUT",
            "/api/v1/nowplaying/sources",
            Some(&json!({"sources": [{"kind": "icecast", "port": ice_port, "password": icecast_pw}]})),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c
        .post("/api/v1/login", &json!({"token": dashboard_token}))
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    let r = c
        .call(
            "PUT",
            "/api/v1/nowplaying",
            Some(&json!({"artist": "Secret Keeper", "title": "Nothing Leaks"})),
        )
        .unwrap();
    assert_eq!(r.status, 204);
    wait_for("signed webhooks", Duration::from_secs(60), || {
        let got = received(&hooks);
        Ok((got.iter().any(|e| e["type"] == "nowplaying")
            && got.iter().all(|e| e["valid"] == true))
        .then_some(()))
    })
    .unwrap();

    let secrets: Vec<(&str, String)> = vec![
        ("a stream key (API)", k_api),
        ("a stream key (vendor)", k_vendor),
        ("a stream key (SetStreamKey)", k_set),
        ("a stream key (site)", k_site),
        ("the obs-websocket password", obs.password.clone()),
        ("the dashboard token", dashboard_token),
        ("the site's token", site_token),
        ("the webhook secret", webhook_secret),
        ("the Icecast password", icecast_pw),
    ];
    // While everything runs: no command line carries a secret.
    let hits = argv_hits(&secrets);
    assert!(hits.is_empty(), "{hits:#?}");

    // Everything stops cleanly; then every file is searched.
    drop(client);
    assert!(companion.stop(), "{}", companion.log_text());
    drop(c);
    let mut obs = obs;
    assert!(obs.stop(), "{}", obs.failure_report());
    let log = companion.log_text();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG") || log.contains("INFO"),
        "{log}"
    );
    let mut hits = Vec::new();
    for (what, s) in &secrets {
        for dir in [obs.dir(), home.dir.as_path()] {
            // The keyrings' files are searched too: gnome-keyring encrypts them. The one file
            // allowed to hold the obs-websocket password is obs-websocket's own settings, where
            // the user (or OBS) set it.
            for f in files_containing(dir, s) {
                if *what == "the obs-websocket password"
                    && f.ends_with("plugin_config/obs-websocket/config.json")
                {
                    continue;
                }
                hits.push(format!("{what} in {f}"));
            }
        }
    }
    assert!(hits.is_empty(), "{hits:#?}");
    eprintln!(
        "searched {} secrets in {} and {}",
        secrets.len(),
        obs.dir().display(),
        home.dir.display()
    );
    drop(companion);
    let _ = std::fs::remove_dir_all(&home.dir);
}
