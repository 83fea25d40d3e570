//! `deckcast schedule ...` and `deckcast feeds ...`, through the running companion's API
//! (`feeds preview` reads the calendar here, with the same reader the companion uses).
use anyhow::Context;
use deckcast_companion::app::schedule::{
    AddEntry, AddFeed, FeedReply, MAX_FEED_BYTES, feed_url, fetch_calendar, preview_window,
    read_calendar,
};
use deckcast_companion::schedule::ics::Parsed;
use deckcast_companion::schedule::{Feed, ReAirPlan, Time};
use serde::Serialize;

use super::args::{ApiArgs, FeedsAction, ScheduleAction};
use super::client::Client;
use super::print_json;

fn when(ms: i64) -> String {
    super::local_time(ms, "%Y-%m-%d %H:%M")
}

#[derive(Serialize)]
struct Cancelled {
    cancelled: i64,
}

#[derive(Serialize)]
struct Deleted {
    deleted: i64,
}

/// `deckcast schedule ...`.
pub async fn schedule(api: ApiArgs, action: ScheduleAction, json: bool) -> anyhow::Result<()> {
    let client = Client::open(&api).await?;
    match action {
        ScheduleAction::List => {
            let s = client.schedule().await?;
            if json {
                return print_json(&s);
            }
            for e in &s.entries {
                println!(
                    "{:>5}  {} – {}  {:<9} {}",
                    e.id,
                    when(e.start_ms),
                    when(e.end_ms),
                    e.state.as_str(),
                    e.title
                );
            }
            for c in &s.conflicts {
                println!("conflict: {}", c.message);
            }
        }
        ScheduleAction::Add {
            title,
            start,
            end,
            targets,
            start_main,
            scene,
            no_record,
            reair,
            looped,
        } => {
            let e = client
                .add_set(&AddEntry {
                    title,
                    start: Time::Text(start),
                    end: Time::Text(end),
                    targets,
                    start_main,
                    scene,
                    // A re-air is not recorded unless asked (`no_record` off is no ask).
                    record: if no_record {
                        Some(false)
                    } else {
                        reair.is_none().then_some(true)
                    },
                    reair: reair.map(|recording_id| ReAirPlan {
                        recording_id,
                        looped,
                    }),
                })
                .await?;
            if json {
                return print_json(&e);
            }
            println!("scheduled {} ({})", e.id, e.title);
        }
        ScheduleAction::Rm { id } => {
            client.cancel_set(id).await?;
            print_json(&Cancelled { cancelled: id })?;
        }
    }
    Ok(())
}

fn print_feeds(feeds: &[Feed]) {
    for f in feeds {
        println!(
            "{:>4}  {}  {}",
            f.id,
            f.url,
            f.last_error
                .as_deref()
                .map(|e| format!("(failing: {e})"))
                .unwrap_or_default()
        );
    }
}

fn print_reply(json: bool, r: &FeedReply) -> anyhow::Result<()> {
    if json {
        return print_json(r);
    }
    print_feeds(std::slice::from_ref(&r.feed));
    if let Some(err) = &r.fetch_error {
        println!("first fetch failed: {err}");
    }
    Ok(())
}

/// A time argument: Unix ms or RFC 3339.
fn time_arg(v: &str) -> Time {
    match v.trim().parse::<i64>() {
        Ok(ms) => Time::Ms(ms),
        Err(_) => Time::Text(v.trim().to_owned()),
    }
}

/// `deckcast feeds preview`.
async fn preview(
    source: &str,
    from: Option<String>,
    to: Option<String>,
    default_length: u32,
    json: bool,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    let win = preview_window(
        from.as_deref().map(time_arg).as_ref(),
        to.as_deref().map(time_arg).as_ref(),
        Some(default_length),
        now,
    )
    .map_err(anyhow::Error::msg)?;
    let remote = source.contains("://");
    let text = if remote {
        let url = feed_url(source).map_err(|e| {
            anyhow::anyhow!("{}: {e}", deckcast_companion::fetch::redact_url(source))
        })?;
        fetch_calendar(&deckcast_companion::web::http_client(), &url)
            .await
            .map_err(anyhow::Error::msg)?
    } else {
        let len = std::fs::metadata(source)
            .with_context(|| format!("reading {source}"))?
            .len();
        anyhow::ensure!(
            len <= MAX_FEED_BYTES as u64,
            "{source} is larger than {} MiB",
            MAX_FEED_BYTES >> 20
        );
        let bytes = std::fs::read(source).with_context(|| format!("reading {source}"))?;
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let shown = if remote {
        deckcast_companion::fetch::redact_url(source)
    } else {
        source.to_owned()
    };
    let parsed = read_calendar(text, win)
        .await
        .with_context(|| shown.clone())?;
    if json {
        return print_json(&parsed);
    }
    print_preview(&shown, &win, &parsed);
    Ok(())
}

fn print_preview(source: &str, win: &deckcast_companion::schedule::ics::Window, p: &Parsed) {
    println!(
        "{source}, {} to {}: {} set(s)",
        when(win.from_ms),
        when(win.to_ms),
        p.instances.len()
    );
    for i in &p.instances {
        let note = if i.length_from_calendar {
            ""
        } else {
            "  (length: the default)"
        };
        println!(
            "  {} – {}  {}{note}",
            when(i.start_ms),
            when(i.end_ms),
            i.title
        );
    }
    if !p.skipped.is_empty() {
        println!("not scheduled: {}", p.skipped.len() + p.more_skipped);
        for s in &p.skipped {
            println!("  {}", s.sentence());
        }
        if p.more_skipped > 0 {
            println!("  … and {} more", p.more_skipped);
        }
    }
    for n in &p.notes {
        println!("note: {n}");
    }
}

/// `deckcast feeds ...`.
pub async fn feeds(api: ApiArgs, action: FeedsAction, json: bool) -> anyhow::Result<()> {
    if let FeedsAction::Preview {
        source,
        from,
        to,
        default_length,
    } = action
    {
        return preview(&source, from, to, default_length, json).await;
    }
    let client = Client::open(&api).await?;
    match action {
        FeedsAction::List => {
            let f = client.feeds().await?;
            if json {
                return print_json(&f);
            }
            print_feeds(&f.feeds);
        }
        FeedsAction::Add {
            url,
            targets,
            start_main,
            scene,
            refresh_minutes,
            default_length,
            no_record,
        } => {
            let r = client
                .add_feed(&AddFeed {
                    url,
                    targets,
                    start_main,
                    scene,
                    refresh_minutes: Some(refresh_minutes),
                    default_length_minutes: Some(default_length),
                    record: Some(!no_record),
                })
                .await?;
            print_reply(json, &r)?;
        }
        FeedsAction::Refresh { id } => {
            let r = client.refresh_feed(id).await?;
            print_reply(json, &r)?;
        }
        FeedsAction::Rm { id } => {
            client.delete_feed(id).await?;
            if json {
                print_json(&Deleted { deleted: id })?;
            }
        }
        FeedsAction::Preview { .. } => unreachable!("handled above"),
    }
    Ok(())
}
