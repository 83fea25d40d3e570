//! `deckcast schedule ...` and `deckcast feeds ...`, through the running companion's API.
use deckcast_companion::app::schedule::{AddEntry, AddFeed, FeedReply};
use deckcast_companion::schedule::{Feed, Time};
use serde::Serialize;

use super::args::{ApiArgs, FeedsAction, ScheduleAction};
use super::client::Client;

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
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
        } => {
            let e = client
                .add_set(&AddEntry {
                    title,
                    start: Time::Text(start),
                    end: Time::Text(end),
                    targets,
                    start_main,
                    scene,
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

/// `deckcast feeds ...`.
pub async fn feeds(api: ApiArgs, action: FeedsAction, json: bool) -> anyhow::Result<()> {
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
        } => {
            let r = client
                .add_feed(&AddFeed {
                    url,
                    targets,
                    start_main,
                    scene,
                    refresh_minutes: Some(refresh_minutes),
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
    }
    Ok(())
}
