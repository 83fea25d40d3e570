//! End-to-end: what used to be API- and CLI-only, done from the dashboard in Chromium against the
//! real companion and OBS: DJ software connected (a now-playing file whose line reaches the Now
//! playing card) and removed; the streamer's site set up (address, token into the keyring, never
//! onto the page), pulled (its destination becomes a target tile), and its webhook refusals shown
//! as dead letters. Tier "e2e".
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deckcast_tests::browser::Browser;
use deckcast_tests::companion::{Companion, CompanionHome, wait_snapshot};
use deckcast_tests::obs::{Obs, ObsOptions};
use deckcast_tests::openapi::OpenApi;
use deckcast_tests::rtmp::RtmpServer;
use deckcast_tests::site::serve_site;
use deckcast_tests::util::{random_hex, wait_for};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "e2e: needs the real-OBS rig and chromium (see README: the test command runs this tier)"]
async fn dj_software_and_the_site_are_set_up_from_the_dashboard() {
    let api = OpenApi::load().unwrap();
    let rtmp = RtmpServer::start().unwrap();
    let obs = Obs::start(ObsOptions::default()).unwrap();
    let home = CompanionHome::new().unwrap();
    let companion = Companion::start(&home, obs.ws_port, &obs.password).unwrap();
    let c = companion.client().unwrap();
    wait_snapshot(
        &c,
        "the companion to connect to OBS",
        Duration::from_secs(30),
        |s| s["obs"]["state"] == "connected",
    );
    let mut browser = Browser::start().await.unwrap();
    let base = format!("http://{}", home.addr());
    browser
        .log_in(&base, &companion.token().unwrap())
        .await
        .unwrap();
    browser
        .wait_for(
            "the dashboard with its DJ software and site sections",
            "!document.querySelector('#np-none').hidden && document.querySelector('#site [data-field=base]').textContent === 'off'",
            Duration::from_secs(15),
        )
        .await
        .unwrap();

    // DJ software: a text file the software writes, connected from the dashboard.
    let np_file = home.dir.join("nowplaying.txt");
    std::fs::write(&np_file, "").unwrap();
    browser.click("#np-add").await.unwrap();
    browser
        .fill("#np-form", "kind", &json!("file"))
        .await
        .unwrap();
    assert_eq!(
        browser
            .eval("document.querySelector('#np-form [name=port]').closest('label').hidden && !document.querySelector('#np-form [name=format]').closest('label').hidden")
            .await
            .unwrap(),
        json!(true),
        "only the file's fields are shown"
    );
    browser
        .fill("#np-form", "path", &json!(np_file.to_string_lossy()))
        .await
        .unwrap();
    browser
        .fill("#np-form", "format", &json!("{artist} - {title}"))
        .await
        .unwrap();
    browser
        .eval("document.querySelector('#np-form').requestSubmit(); true")
        .await
        .unwrap();
    let sources = wait_for(
        "the source to be configured",
        Duration::from_secs(10),
        || {
            let s = c.get_json("/api/v1/nowplaying/sources")?;
            Ok((s["sources"].as_array().map_or(0, Vec::len) == 1).then_some(s))
        },
    )
    .unwrap();
    api.check_response("GET", "/api/v1/nowplaying/sources", 200, &sources)
        .unwrap();
    assert_eq!(sources["sources"][0]["kind"], "file", "{sources}");
    assert_eq!(
        sources["sources"][0]["format"], "{artist} - {title}",
        "{sources}"
    );
    std::fs::write(&np_file, "Paula Temple - Gegen\n").unwrap();
    browser
        .wait_for(
            "the file's track on the Now playing card, the source listed",
            "document.querySelector('#now-playing [data-field=track]').textContent === 'Paula Temple – Gegen' && document.querySelectorAll('#np-list li[data-kind=file]').length === 1",
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    browser
        .click("#np-list [data-action=remove-source]")
        .await
        .unwrap();
    wait_for("the source to be removed", Duration::from_secs(10), || {
        let s = c.get_json("/api/v1/nowplaying/sources")?;
        Ok(s["sources"]
            .as_array()
            .is_some_and(Vec::is_empty)
            .then_some(()))
    })
    .unwrap();

    // The site: one destination to pull; webhooks the site refuses (no bearer token on them).
    let site_token = random_hex(16).unwrap();
    let key = format!("live_{}", random_hex(8).unwrap());
    let state = Arc::new(Mutex::new((
        json!({"destinations": [{"id": "yt", "name": "YouTube (site)", "server": rtmp.url(), "key": key}]}),
        json!({"sets": []}),
    )));
    let port = serve_site(site_token.clone(), Arc::clone(&state));
    browser.click("#site-edit").await.unwrap();
    browser
        .fill(
            "#site-form",
            "baseUrl",
            &json!(format!("http://127.0.0.1:{port}")),
        )
        .await
        .unwrap();
    browser
        .fill("#site-form", "token", &json!(site_token))
        .await
        .unwrap();
    browser
        .fill(
            "#site-form",
            "webhookUrl",
            &json!(format!("http://127.0.0.1:{port}/hook")),
        )
        .await
        .unwrap();
    browser
        .fill("#site-form", "healthIntervalS", &json!(5))
        .await
        .unwrap();
    browser
        .eval("document.querySelector('#site-form').requestSubmit(); true")
        .await
        .unwrap();
    let platform = wait_for(
        "the site settings to be saved",
        Duration::from_secs(10),
        || {
            let p = c.get_json("/api/v1/platform")?;
            Ok((p["tokenInKeyring"] == true).then_some(p))
        },
    )
    .unwrap();
    api.check_response("GET", "/api/v1/platform", 200, &platform)
        .unwrap();
    assert_eq!(
        home.keyring_lookup("platform-token").unwrap().as_deref(),
        Some(site_token.as_str()),
        "the token went into the keyring"
    );
    browser
        .wait_for(
            "the token shown as stored",
            "document.querySelector('#site [data-field=token]').textContent.includes('in the keyring') && !document.querySelector('#site-pull').disabled",
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    browser.click("#site-pull").await.unwrap();
    browser
        .wait_for(
            "the pull's report and the pulled target's tile",
            "document.querySelector('#site-report').textContent.startsWith('pulled: 1 new') && [...document.querySelectorAll('.tile [data-field=name]')].some(n => n.textContent === 'YouTube (site)') && document.querySelector('#site').dataset.pull === 'ok'",
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    // A track change is a webhook; the site refuses it (401, no bearer token on webhooks): given
    // up on at once, listed as a dead letter.
    let r = c
        .call(
            "PUT",
            "/api/v1/nowplaying",
            Some(&json!({"artist": "Surgeon", "title": "Floorshow"})),
        )
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    browser
        .wait_for(
            "dead letters on the dashboard",
            "document.querySelectorAll('#site-dead li').length > 0 && document.querySelector('#site [data-field=dead]').textContent.includes('event(s)')",
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let dead_line = browser
        .eval("document.querySelector('#site-dead li').textContent")
        .await
        .unwrap();
    assert!(
        dead_line.as_str().unwrap().contains("401"),
        "the refusal is shown: {dead_line}"
    );
    let html = browser
        .eval("document.documentElement.outerHTML")
        .await
        .unwrap();
    let html = html.as_str().unwrap();
    assert!(
        !html.contains(&site_token),
        "the site token reached the page"
    );
    assert!(!html.contains(&key), "a pulled stream key reached the page");
    // Nor any field's value (values set by script are not in the markup).
    let values = browser
        .eval("JSON.stringify([...document.querySelectorAll('input, textarea')].map(e => e.value))")
        .await
        .unwrap();
    assert!(
        !values.as_str().unwrap().contains(&site_token),
        "the site token stayed in a form field"
    );
    let shot = browser.screenshot().await.unwrap();
    std::fs::write(
        deckcast_tests::artifacts::artifacts_dir()
            .unwrap()
            .join("dashboard-settings.png"),
        shot,
    )
    .unwrap();
    drop(browser);
    assert!(obs.alive(), "{}", obs.failure_report());
}
