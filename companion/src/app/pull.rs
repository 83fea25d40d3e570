//! Web-platform sync, pull side: the site's destinations (server + stream key) and schedule.
//!
//! `GET <base>/deckcast/destinations` → `{"destinations": [{id, name, platform?, server, key}]}`
//! `GET <base>/deckcast/schedule` → `{"sets": [{id, title, start, end, destinations: [id],
//! startMain?, scene?}]}` (times as Unix ms or RFC 3339), both with
//! `Authorization: Bearer <platform token>` from the keyring. Destinations become Deckcast
//! targets (one per destination id, remembered in the database); keys go straight into the
//! keyring and then to the plugin, never to disk or logs. Sets become schedule entries
//! (origin `platform`). Contract: `docs/platform-api.md`.
//!
//! Answers are bounded ([`MAX_PULL_BYTES`], [`MAX_DESTINATIONS`], [`MAX_SETS`]); an item the
//! companion cannot read is reported and skipped. The token goes only to an https:// site (or
//! http:// on this computer).
//!
//! Threads: runs on the scheduler's fetch task (timer) or an API handler (on demand), one pull
//! at a time.
use std::time::Duration;

use deckcast_protocol::targets::{CreateTarget, ListTargets, Platform, UpdateTarget};
use deckcast_secrets::Secret;
use serde::{Deserialize, Serialize};

use super::App;
use crate::keys;
use crate::schedule::{FEED_LOOKBACK_MS, Origin, PLATFORM_SOURCE, PlannedSet, Time};
use crate::store::HistoryKind;

/// Settings key of the site's base URL.
pub const BASE_URL: &str = "platform_base_url";
/// Settings key of the pull interval (seconds).
pub const PULL_INTERVAL: &str = "platform_pull_s";
/// Settings key of the destination → target mapping.
const DESTINATIONS: &str = "platform_destinations";
/// Keyring account of the site's API token.
pub const TOKEN: &str = "platform-token";

/// Largest answer read from the site.
pub const MAX_PULL_BYTES: usize = 1 << 20;
/// Most destinations taken from one pull (a profile holds at most 64 targets).
pub const MAX_DESTINATIONS: usize = 64;
/// Most sets taken from one pull.
pub const MAX_SETS: usize = 1_000;

/// Each item is decoded on its own: one the companion cannot read is a problem, not a failed pull.
#[derive(Debug, Deserialize)]
struct Destinations {
    destinations: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Destination {
    id: String,
    name: String,
    /// A platform name; one this version does not know becomes `custom`.
    #[serde(default)]
    platform: Option<String>,
    server: String,
    key: String,
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("server", &self.server)
            .field("key", &"***")
            .finish()
    }
}

#[derive(Debug, Deserialize)]
struct Sets {
    sets: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SiteSet {
    id: String,
    title: String,
    start: Time,
    end: Time,
    #[serde(default)]
    destinations: Vec<String>,
    #[serde(default)]
    start_main: bool,
    #[serde(default)]
    scene: Option<String>,
    /// Record the set (default on).
    #[serde(default)]
    record: Option<bool>,
}

/// What a pull changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullReport {
    /// Targets created for new destinations.
    pub targets_created: usize,
    /// Targets whose server, name or key changed.
    pub targets_updated: usize,
    /// Sets added, changed, removed.
    pub sets: (usize, usize, usize),
    /// Things that could not be applied.
    pub problems: Vec<String>,
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    token: &Secret,
) -> Result<T, String> {
    let resp = http
        .get(url)
        .bearer_auth(token.expose())
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("{url}: HTTP {}", resp.status()));
    }
    let body = crate::fetch::body_limited(resp, MAX_PULL_BYTES)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    serde_json::from_slice::<T>(&body).map_err(|e| format!("{url}: unexpected answer: {e}"))
}

/// Decodes the items of a list one by one, at most `max`; what cannot be read goes to
/// `problems` (naming the item's `id` when it has one).
fn items<T: serde::de::DeserializeOwned>(
    raw: Vec<serde_json::Value>,
    what: &str,
    max: usize,
    problems: &mut Vec<String>,
) -> Vec<T> {
    if raw.len() > max {
        problems.push(format!(
            "the site sent {} {what}s; only the first {max} are used",
            raw.len()
        ));
    }
    raw.into_iter()
        .take(max)
        .enumerate()
        .filter_map(|(i, v)| {
            let id = v
                .get("id")
                .and_then(|id| id.as_str())
                .map_or_else(|| format!("#{}", i + 1), str::to_owned);
            serde_json::from_value(v)
                .map_err(|e| problems.push(format!("{what} {id}: {e}")))
                .ok()
        })
        .collect()
}

/// Settings key of the last successful pull (Unix ms).
pub const LAST_PULL_MS: &str = "platform_last_pull_ms";
/// Settings key of the last pull's error (absent after a success).
pub const LAST_PULL_ERROR: &str = "platform_last_pull_error";

/// Pulls destinations and schedule once and records the outcome for the dashboard. Pulls never
/// overlap: a manual pull during a timed one waits for it (two at once would create a
/// destination's target twice).
pub async fn pull(app: &App) -> Result<PullReport, String> {
    let _one_at_a_time = app.pull_lock.lock().await;
    let r = fetch_and_apply(app).await;
    let (ok_ms, err) = match &r {
        Ok(_) => (Some(app.now_ms().to_string()), None),
        Err(e) => (None, Some(e.clone())),
    };
    let recorded = app
        .db
        .call(move |s| {
            if let Some(ms) = ok_ms {
                s.set_setting(LAST_PULL_MS, Some(&ms))?;
            }
            s.set_setting(LAST_PULL_ERROR, err.as_deref())
        })
        .await;
    if let Err(e) = recorded {
        tracing::error!("platform pull status: {e}");
    }
    r
}

async fn fetch_and_apply(app: &App) -> Result<PullReport, String> {
    let http = &app.http;
    let base = app
        .db
        .call(|s| s.setting(BASE_URL))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no platform base URL is configured")?;
    let token = app
        .keys
        .get_async(TOKEN)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no platform token in the keyring (deckcast platform token set)")?;
    crate::fetch::check_secret_carrying_url(&base)
        .map_err(|why| format!("the site's base URL cannot carry the token: {why}"))?;
    let link = app
        .link()
        .ok_or("OBS is not connected; destinations need the plugin")?;
    let base = base.trim_end_matches('/');
    let dests: Destinations =
        get_json(http, &format!("{base}/deckcast/destinations"), &token).await?;
    let sets: Sets = get_json(http, &format!("{base}/deckcast/schedule"), &token).await?;
    let mut report = PullReport::default();
    let destinations: Vec<Destination> = items(
        dests.destinations,
        "destination",
        MAX_DESTINATIONS,
        &mut report.problems,
    );
    let site_sets: Vec<SiteSet> = items(sets.sets, "set", MAX_SETS, &mut report.problems);

    let mapping: Vec<(String, String)> = app
        .db
        .call(|s| {
            let raw = s.setting(DESTINATIONS)?.unwrap_or_else(|| "[]".into());
            Ok(serde_json::from_str(&raw).unwrap_or_default())
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut mapping = mapping;
    let list = link
        .call(&ListTargets {})
        .await
        .map_err(|e| e.to_string())?;
    for d in destinations {
        let platform = match d.platform.as_deref() {
            None => Platform::Custom,
            Some(p) => serde_json::from_value(serde_json::Value::String(p.to_owned()))
                .unwrap_or_else(|_| {
                    report.problems.push(format!(
                        "destination {}: unknown platform {p:?}, used as custom",
                        d.id
                    ));
                    Platform::Custom
                }),
        };
        let Some(key) = Secret::new(d.key.as_str()) else {
            report
                .problems
                .push(format!("destination {}: empty key", d.id));
            continue;
        };
        let existing = mapping
            .iter()
            .find(|(dest, _)| *dest == d.id)
            .map(|(_, t)| t.clone())
            .filter(|t| list.targets.iter().any(|x| &x.config.id == t));
        let target_id = match existing {
            None => {
                let reply = link
                    .call(&CreateTarget {
                        name: d.name.clone(),
                        platform,
                        server: Some(d.server.clone()),
                        key: Some(key.expose().to_owned()),
                        ..CreateTarget::default()
                    })
                    .await;
                match reply {
                    Ok(r) => {
                        report.targets_created += 1;
                        mapping.retain(|(dest, _)| *dest != d.id);
                        mapping.push((d.id.clone(), r.target.config.id.clone()));
                        r.target.config.id
                    }
                    Err(e) => {
                        report.problems.push(format!("destination {}: {e}", d.id));
                        continue;
                    }
                }
            }
            Some(id) => {
                let t = list.targets.iter().find(|x| x.config.id == id);
                let stored = app
                    .keys
                    .get_async(&keys::stream_key_account(&id))
                    .await
                    .ok()
                    .flatten();
                let key_changed = stored.as_ref() != Some(&key) || t.is_some_and(|t| !t.has_key);
                let changed =
                    t.is_some_and(|t| t.config.server != d.server || t.config.name != d.name);
                if changed || key_changed {
                    let r = link
                        .call(&UpdateTarget {
                            id: id.clone(),
                            name: Some(d.name.clone()),
                            server: Some(d.server.clone()),
                            key: key_changed.then(|| key.expose().to_owned()),
                            ..UpdateTarget::default()
                        })
                        .await;
                    match r {
                        Ok(_) => report.targets_updated += 1,
                        Err(e) => {
                            report.problems.push(format!("destination {}: {e}", d.id));
                            continue;
                        }
                    }
                }
                id
            }
        };
        let stored = app
            .keys
            .set_async(&keys::stream_key_account(&target_id), &key)
            .await;
        if stored.is_err() {
            report
                .problems
                .push(format!("destination {}: the keyring refused the key", d.id));
        }
    }
    let m = serde_json::to_string(&mapping).unwrap_or_else(|_| "[]".into());
    app.db
        .call(move |s| s.set_setting(DESTINATIONS, Some(&m)))
        .await
        .map_err(|e| e.to_string())?;

    let now = app.now_ms();
    let mut planned = Vec::new();
    for s in site_sets {
        let (Ok(start_ms), Ok(end_ms)) = (s.start.ms(), s.end.ms()) else {
            report
                .problems
                .push(format!("set {}: bad start or end time", s.id));
            continue;
        };
        if end_ms <= start_ms {
            report
                .problems
                .push(format!("set {}: ends before it starts", s.id));
            continue;
        }
        let mut targets = Vec::new();
        for dest in &s.destinations {
            match mapping.iter().find(|(d, _)| d == dest) {
                Some((_, t)) => targets.push(t.clone()),
                None => report
                    .problems
                    .push(format!("set {}: unknown destination {dest}", s.id)),
            }
        }
        planned.push(PlannedSet {
            key: s.id,
            title: s.title,
            start_ms,
            end_ms,
            targets,
            start_main: s.start_main,
            scene: s.scene,
            record: s.record.unwrap_or(true),
        });
    }
    let (from, to) = (now - FEED_LOOKBACK_MS, i64::MAX / 2);
    report.sets = app
        .db
        .call(move |s| s.apply_sets(PLATFORM_SOURCE, Origin::Platform, &planned, from, to, now))
        .await
        .map_err(|e| e.to_string())?;
    app.record(
            HistoryKind::PlatformPull,
            None,
            format!(
                "pulled from the site: {} target(s) created, {} updated; sets {} new, {} changed, {} removed{}",
                report.targets_created,
                report.targets_updated,
                report.sets.0,
                report.sets.1,
                report.sets.2,
                if report.problems.is_empty() {
                    String::new()
                } else {
                    format!("; {} problem(s)", report.problems.len())
                }
            ),
        )
        .await;
    if report.sets != (0, 0, 0) {
        app.schedule_changed();
    }
    if let Err(e) = app.resync(&link, false).await {
        tracing::warn!("resync after a pull: {e}");
    }
    Ok(report)
}
