//! Sets and calendar feeds: adding, cancelling, fetching feeds, and ending sets (the scheduler
//! starts and ends them on time through these).
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{App, AppError};
use crate::live::ObsState;
use crate::schedule::{
    Conflict, Entry, EntryState, FEED_HORIZON_MS, FEED_LOOKBACK_MS, Feed, NewEntry, NewFeed,
    ReAirPlan, Time, conflicts,
};
use crate::store::{HistoryKind, StoreError};
use crate::webhooks::WebhookEvent;

/// Largest calendar feed read (a year of a busy Google calendar is well under 1 MiB).
pub const MAX_FEED_BYTES: usize = 4 << 20;

/// The schedule as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Schedule {
    /// Upcoming and running sets, then recent past ones, by start.
    pub entries: Vec<Entry>,
    /// Overlapping sets that want the same outputs.
    pub conflicts: Vec<Conflict>,
}

/// `POST /schedule`: a set to add.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddEntry {
    /// Title (1–200 characters).
    pub title: String,
    /// Start.
    pub start: Time,
    /// End.
    pub end: Time,
    /// Targets to start.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Also start OBS's own stream.
    #[serde(default)]
    pub start_main: bool,
    /// Scene to switch to at the start.
    #[serde(default)]
    pub scene: Option<String>,
    /// Record the set with OBS's recording (default on, off for a re-air).
    #[serde(default)]
    pub record: Option<bool>,
    /// A recording to play again during the set, in its scene.
    #[serde(default)]
    pub reair: Option<ReAirPlan>,
}

/// `POST /feeds`: a calendar to subscribe to.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddFeed {
    /// URL of the .ics feed (see [`feed_url`]).
    pub url: String,
    /// Targets every set of the feed starts.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Also start OBS's own stream.
    #[serde(default)]
    pub start_main: bool,
    /// Scene to switch to.
    #[serde(default)]
    pub scene: Option<String>,
    /// Minutes between refreshes (default 15).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1440)]
    pub refresh_minutes: Option<u32>,
    /// Length (minutes) of sets the calendar gives no length (default 60; 0: do not schedule
    /// them).
    #[serde(default)]
    #[schema(maximum = 1440)]
    pub default_length_minutes: Option<u32>,
    /// Record every set of the feed (default on).
    #[serde(default)]
    pub record: Option<bool>,
}

/// Default set length (minutes) for events without one.
pub const DEFAULT_SET_MINUTES: u32 = 60;
/// Longest default set length (minutes).
pub const MAX_SET_MINUTES: u32 = 24 * 60;

/// `POST /feeds/preview`: what a calendar would schedule, without subscribing.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreviewFeed {
    /// URL of the .ics feed (see [`feed_url`]).
    pub url: String,
    /// Window start (default: a day ago, as a subscription looks).
    #[serde(default)]
    pub from: Option<Time>,
    /// Window end (default: 90 days ahead).
    #[serde(default)]
    pub to: Option<Time>,
    /// As [`AddFeed::default_length_minutes`].
    #[serde(default)]
    #[schema(maximum = 1440)]
    pub default_length_minutes: Option<u32>,
}

/// The window a preview or a subscription reads, from optional request times.
pub fn preview_window(
    from: Option<&Time>,
    to: Option<&Time>,
    default_length_minutes: Option<u32>,
    now_ms: i64,
) -> Result<crate::schedule::ics::Window, String> {
    let from_ms = from
        .map(Time::ms)
        .transpose()?
        .unwrap_or(now_ms - FEED_LOOKBACK_MS);
    let to_ms = to
        .map(Time::ms)
        .transpose()?
        .unwrap_or(now_ms + FEED_HORIZON_MS);
    // 1900–2200: far beyond any set, and safe for every date computation.
    let (earliest, latest) = (-2_208_988_800_000, 7_258_118_400_000);
    if !(earliest..=latest).contains(&from_ms) || !(earliest..=latest).contains(&to_ms) {
        return Err("the window must lie between the years 1900 and 2200".into());
    }
    if to_ms <= from_ms {
        return Err("the window's end must be after its start".into());
    }
    if to_ms - from_ms > 10 * 366 * 86_400_000 {
        return Err("the window is longer than 10 years".into());
    }
    let minutes = default_length_minutes.unwrap_or(DEFAULT_SET_MINUTES);
    if minutes > MAX_SET_MINUTES {
        return Err(format!(
            "the default set length is at most {MAX_SET_MINUTES} minutes"
        ));
    }
    Ok(crate::schedule::ics::Window {
        from_ms,
        to_ms,
        default_len_ms: i64::from(minutes) * 60_000,
    })
}

/// Reads a calendar's text in a window on the blocking pool.
pub async fn read_calendar(
    text: String,
    win: crate::schedule::ics::Window,
) -> Result<crate::schedule::ics::Parsed, crate::schedule::ics::IcsError> {
    tokio::task::spawn_blocking(move || crate::schedule::ics::read(&text, &win))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Fetches a calendar feed (bounded in time and size); errors name the URL redacted.
pub async fn fetch_calendar(http: &reqwest::Client, url: &str) -> Result<String, String> {
    let shown = crate::fetch::redact_url(url);
    let resp = http
        .get(url)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .map_err(|e| format!("fetching {shown}: {}", crate::fetch::error_text(e)))?;
    if !resp.status().is_success() {
        return Err(format!("fetching {shown}: HTTP {}", resp.status()));
    }
    let body = crate::fetch::body_limited(resp, MAX_FEED_BYTES)
        .await
        .map_err(|e| format!("{shown}: {e}"))?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The feed URL to fetch: `webcal://` (what calendar apps hand out) means `https://`. A calendar's
/// address is often its password (Google's "secret address"), so it must be `https://`, or
/// `http://` to this computer.
pub fn feed_url(url: &str) -> Result<String, AppError> {
    let url = url.trim();
    let url = match url.get(..9) {
        Some(p) if p.eq_ignore_ascii_case("webcal://") => format!("https://{}", &url[9..]),
        _ => url.to_owned(),
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2000 {
        return Err(AppError::invalid(
            "url must be an https:// (or webcal://) address",
        ));
    }
    crate::fetch::check_secret_carrying_url(&url)
        .map_err(|why| AppError::invalid(format!("url: {why}")))?;
    Ok(url)
}

/// A feed after adding or refreshing it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedReply {
    /// The feed.
    pub feed: Feed,
    /// Error of the fetch, if it failed (the feed is kept and retried).
    #[schema(required)]
    pub fetch_error: Option<String>,
}

/// The subscriptions.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Feeds {
    /// Every feed.
    pub feeds: Vec<Feed>,
}

impl App {
    /// Upcoming, running and the newest `past` finished sets, with conflicts.
    pub async fn schedule(&self, past: u32) -> Result<Schedule, AppError> {
        let past = past.min(500);
        let now = self.now_ms();
        let entries = self.db.call(move |s| s.entries(now, past)).await?;
        let conflicts = conflicts(&entries);
        Ok(Schedule { entries, conflicts })
    }

    /// Unknown targets are refused while OBS is connected (otherwise the scheduler reports them
    /// when the set runs).
    pub(crate) fn check_targets(&self, targets: &[String]) -> Result<(), AppError> {
        let snap = self.live.get();
        if snap.obs.state != ObsState::Connected {
            return Ok(());
        }
        match targets
            .iter()
            .find(|t| !snap.targets.iter().any(|x| &x.id == *t))
        {
            Some(t) => Err(AppError::NotFound(format!("no target with id '{t}'"))),
            None => Ok(()),
        }
    }

    /// Schedules a set.
    pub async fn add_set(&self, req: AddEntry) -> Result<Entry, AppError> {
        let title = req.title.trim().to_owned();
        if title.is_empty() || title.chars().count() > 200 {
            return Err(AppError::invalid("title must be 1 to 200 characters"));
        }
        let start_ms = req
            .start
            .ms()
            .map_err(|e| AppError::invalid(format!("start: {e}")))?;
        let end_ms = req
            .end
            .ms()
            .map_err(|e| AppError::invalid(format!("end: {e}")))?;
        if end_ms <= start_ms {
            return Err(AppError::invalid("end must be after start"));
        }
        if end_ms <= self.now_ms() {
            return Err(AppError::invalid("the set is already over"));
        }
        if req.targets.is_empty() && !req.start_main {
            return Err(AppError::invalid("a set needs targets, startMain, or both"));
        }
        self.check_targets(&req.targets)?;
        if let Some(plan) = &req.reair {
            // Finished, and its file readable: the checks a re-air makes when it starts.
            self.recording_file(plan.recording_id).await?;
        }
        let entry = NewEntry {
            title,
            start_ms,
            end_ms,
            targets: req.targets,
            start_main: req.start_main,
            scene: req.scene.filter(|s| !s.trim().is_empty()),
            record: req.record.unwrap_or(req.reair.is_none()),
            reair: req.reair,
        };
        let now = self.now_ms();
        let e = self.db.call(move |s| s.add_entry(&entry, now)).await?;
        self.record(
            HistoryKind::ScheduleAdded,
            None,
            format!("set '{}' scheduled", e.title),
        )
        .await;
        self.schedule_changed();
        Ok(e)
    }

    /// Cancels a set; a running one stops the outputs no other running set needs.
    pub async fn cancel_set(&self, id: i64) -> Result<(), AppError> {
        let Some(e) = self.db.call(move |s| s.entry(id)).await? else {
            return Err(AppError::NotFound(format!("no set {id}")));
        };
        match e.state {
            EntryState::Running => self.finish_running(&e, EntryState::Cancelled).await?,
            EntryState::Planned => {
                let now = self.now_ms();
                self.db
                    .call(move |s| {
                        s.finish_entry(
                            id,
                            EntryState::Cancelled,
                            now,
                            Some("cancelled by the user"),
                        )
                    })
                    .await?;
                self.record(
                    HistoryKind::ScheduleCancelled,
                    None,
                    format!("set '{}' cancelled", e.title),
                )
                .await;
                self.schedule_changed();
            }
            other => {
                return Err(AppError::Conflict(format!(
                    "set {id} is {} and cannot be cancelled",
                    other.as_str()
                )));
            }
        }
        Ok(())
    }

    /// Ends running set `id` now, as at its end time (its re-air played to the end); no-op if
    /// it is no longer running.
    pub async fn end_set_now(&self, id: i64) -> Result<(), AppError> {
        match self.db.call(move |s| s.entry(id)).await? {
            Some(e) if e.state == EntryState::Running => {
                self.finish_running(&e, EntryState::Done).await
            }
            _ => Ok(()),
        }
    }

    /// [`App::finish_set`] for running set `e`, with the other running sets.
    async fn finish_running(&self, e: &Entry, state: EntryState) -> Result<(), AppError> {
        let running = self.db.call(|s| s.entries_in(EntryState::Running)).await?;
        let others: Vec<&Entry> = running.iter().filter(|o| o.id != e.id).collect();
        self.finish_set(e, &others, state).await;
        Ok(())
    }

    /// Stops what the set itself started (a target the user had live before stays live) and ends
    /// it as `state` (done or cancelled). An output another running set also wants is handed to
    /// that set instead, which stops it when it ends.
    ///
    /// A set is finished once: the scheduler (its end time), the player (its re-air over) and
    /// the user (cancel) may all reach here together; the later ones find it ended.
    pub async fn finish_set(&self, e: &Entry, others: &[&Entry], state: EntryState) {
        let Some(_claim) = SetEnd::claim(&self.ending_sets, e.id) else {
            return; // being finished right now
        };
        let id = e.id;
        let e = match self.db.call(move |s| s.entry(id)).await {
            Ok(Some(cur)) if cur.state == EntryState::Running => cur,
            Ok(_) => return, // finished meanwhile
            Err(err) => {
                tracing::error!("schedule: {err}");
                return;
            }
        };
        let e = &e;
        // (set, targets, main) handed over, applied after the stops.
        let mut handed: Vec<(i64, Vec<String>, bool)> = Vec::new();
        let mut hand = |to: i64, target: Option<&String>| {
            let i = handed
                .iter()
                .position(|(id, ..)| *id == to)
                .unwrap_or_else(|| {
                    handed.push((to, Vec::new(), false));
                    handed.len() - 1
                });
            match target {
                Some(t) => handed[i].1.push(t.clone()),
                None => handed[i].2 = true,
            }
        };
        if let Some(link) = self.link() {
            for id in &e.started_targets {
                if let Some(o) = others.iter().find(|o| o.targets.contains(id)) {
                    hand(o.id, Some(id));
                    continue;
                }
                if let Err(err) = self.stop_target(id).await {
                    tracing::warn!("set '{}': stopping {id}: {err}", e.title);
                }
            }
            if e.started_main {
                if let Some(o) = others.iter().find(|o| o.start_main) {
                    hand(o.id, None);
                } else if let Err(err) = link.stop_main_stream().await {
                    tracing::warn!("set '{}': stopping OBS's stream: {err}", e.title);
                }
            }
        }
        self.stop_set_recording(e, others).await;
        if e.reair.is_some() {
            self.stop_set_reair(e.id).await;
        }
        for (id, targets, main) in handed {
            if let Err(err) = self
                .db
                .call(move |s| s.add_started(id, &targets, main))
                .await
            {
                tracing::error!("schedule: {err}");
            }
        }
        let (id, now) = (e.id, self.now_ms());
        if let Err(err) = self
            .db
            .call(move |s| s.finish_entry(id, state, now, None))
            .await
        {
            tracing::error!("schedule: {err}");
        }
        let verb = if state == EntryState::Done {
            "ended"
        } else {
            "was cancelled"
        };
        self.record(
            HistoryKind::ScheduleEnded,
            None,
            format!("set '{}' {verb}", e.title),
        )
        .await;
        self.schedule_changed();
    }

    /// Tells dashboards the schedule changed and queues a `schedule` webhook with the upcoming sets.
    pub fn schedule_changed(&self) {
        self.live.update(|s| s.schedule_version += 1);
        let (db, now) = (self.db.clone(), self.now_ms());
        tokio::spawn(async move {
            let r = db
                .call(move |s| {
                    let entries: Vec<Entry> = s
                        .entries(now, 0)?
                        .into_iter()
                        .filter(|e| e.state.is_open())
                        .collect();
                    crate::webhooks::enqueue(s, &WebhookEvent::Schedule { entries }, now)
                })
                .await;
            if let Err(e) = r {
                tracing::error!("webhook outbox: {e}");
            }
        });
    }

    /// The subscriptions.
    pub async fn feeds(&self) -> Result<Feeds, AppError> {
        Ok(Feeds {
            feeds: self.db.call(|s| s.feeds()).await?,
        })
    }

    /// Subscribes to a calendar and fetches it once.
    pub async fn add_feed(&self, req: AddFeed) -> Result<FeedReply, AppError> {
        let url = feed_url(&req.url)?;
        let default_len = req.default_length_minutes.unwrap_or(DEFAULT_SET_MINUTES);
        if default_len > MAX_SET_MINUTES {
            return Err(AppError::invalid(format!(
                "defaultLengthMinutes is at most {MAX_SET_MINUTES}"
            )));
        }
        if req.targets.is_empty() && !req.start_main {
            return Err(AppError::invalid(
                "a feed needs targets, startMain, or both",
            ));
        }
        self.check_targets(&req.targets)?;
        let refresh = req.refresh_minutes.unwrap_or(15);
        if !(1..=24 * 60).contains(&refresh) {
            return Err(AppError::invalid("refreshMinutes must be 1–1440"));
        }
        let refresh_s = i64::from(refresh) * 60;
        let new = NewFeed {
            url: url.clone(),
            targets: req.targets,
            start_main: req.start_main,
            scene: req.scene,
            refresh_s,
            default_length_min: i64::from(default_len),
            record: req.record.unwrap_or(true),
        };
        let now = self.now_ms();
        let feed = self
            .db
            .call(move |s| s.add_feed(&new, now))
            .await
            .map_err(|e| match e {
                StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    AppError::Conflict(format!(
                        "already subscribed to {}",
                        crate::fetch::redact_url(&url)
                    ))
                }
                other => other.into(),
            })?;
        self.refreshed(feed.id).await
    }

    /// What a calendar would schedule in a window, and what it would not and why, without
    /// subscribing (the dashboard shows it before "Subscribe").
    pub async fn preview_feed(
        &self,
        req: PreviewFeed,
    ) -> Result<crate::schedule::ics::Parsed, AppError> {
        let url = feed_url(&req.url)?;
        let win = preview_window(
            req.from.as_ref(),
            req.to.as_ref(),
            req.default_length_minutes,
            self.now_ms(),
        )
        .map_err(AppError::invalid)?;
        let text = fetch_calendar(&self.http, &url)
            .await
            .map_err(AppError::Platform)?;
        read_calendar(text, win)
            .await
            .map_err(|e| AppError::Platform(format!("{}: {e}", crate::fetch::redact_url(&url))))
    }

    /// Fetches a feed now.
    pub async fn refresh_feed_now(&self, id: i64) -> Result<FeedReply, AppError> {
        if self.db.call(move |s| s.feed(id)).await?.is_none() {
            return Err(AppError::NotFound(format!("no feed {id}")));
        }
        self.refreshed(id).await
    }

    async fn refreshed(&self, id: i64) -> Result<FeedReply, AppError> {
        let fetch_error = self.refresh_feed(id).await.err();
        let feed = self
            .db
            .call(move |s| s.feed(id))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no feed {id}")))?;
        Ok(FeedReply { feed, fetch_error })
    }

    /// Unsubscribes (planned sets of the feed go; running and past ones stay in the history).
    pub async fn delete_feed(&self, id: i64) -> Result<(), AppError> {
        if self.db.call(move |s| s.delete_feed(id)).await? {
            self.schedule_changed();
            Ok(())
        } else {
            Err(AppError::NotFound(format!("no feed {id}")))
        }
    }

    /// Fetches and applies one feed; returns (added, updated, removed) or the reason it failed.
    pub async fn refresh_feed(&self, id: i64) -> Result<(usize, usize, usize), String> {
        let feed = self
            .db
            .call(move |s| s.feed(id))
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no feed {id}"))?;
        let now = self.now_ms();
        let shown = crate::fetch::redact_url(&feed.url);
        let text = match fetch_calendar(&self.http, &feed.url).await {
            Ok(t) => t,
            Err(why) => {
                let w = why.clone();
                let _ = self.db.call(move |s| s.feed_failed(id, now, &w)).await;
                return Err(why);
            }
        };
        let (from, to) = (now - FEED_LOOKBACK_MS, now + FEED_HORIZON_MS);
        let win = crate::schedule::ics::Window {
            from_ms: from,
            to_ms: to,
            default_len_ms: feed.default_length_min.max(0) * 60_000,
        };
        let parsed = match read_calendar(text, win).await {
            Ok(p) => p,
            Err(e) => {
                let why = format!("{shown}: {e}");
                let w = why.clone();
                let _ = self.db.call(move |s| s.feed_failed(id, now, &w)).await;
                return Err(why);
            }
        };
        let f = feed.clone();
        let result = self
            .db
            .call(move |s| s.apply_feed(&f, &parsed.instances, &parsed.problems(), from, to, now))
            .await
            .map_err(|e| e.to_string())?;
        if result != (0, 0, 0) {
            self.record(
                HistoryKind::ScheduleFeed,
                None,
                format!(
                    "calendar {shown}: {} new, {} changed, {} removed",
                    result.0, result.1, result.2
                ),
            )
            .await;
            self.schedule_changed();
        }
        Ok(result)
    }
}

/// The claim on finishing one set, released when dropped.
struct SetEnd<'a> {
    sets: &'a std::sync::Mutex<std::collections::HashSet<i64>>,
    id: i64,
}

impl<'a> SetEnd<'a> {
    /// Claims set `id`, or `None` while another finishes it.
    fn claim(sets: &'a std::sync::Mutex<std::collections::HashSet<i64>>, id: i64) -> Option<Self> {
        let fresh = sets.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
        fresh.then_some(SetEnd { sets, id })
    }
}

impl Drop for SetEnd<'_> {
    fn drop(&mut self) {
        self.sets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::feed_url;

    #[test]
    fn feed_urls_are_https_or_loopback_and_webcal_means_https() {
        assert_eq!(
            feed_url(" webcal://p01.example.com/cal.ics ").unwrap(),
            "https://p01.example.com/cal.ics"
        );
        assert!(feed_url("http://127.0.0.1:9/basic.ics").is_ok());
        let e = feed_url("http://calendar.example.com/private-abc/basic.ics").unwrap_err();
        assert!(e.to_string().contains("must be https://"), "{e}");
        assert!(feed_url("ftp://x/cal.ics").is_err());
        assert!(feed_url("https://user:pw@example.com/cal.ics").is_err());
    }
}
