//! `deckcast alerts ...` (active alerts and history, acknowledging, the shipped Prometheus rules)
//! and `deckcast report [session]`, through the running companion's API.
use deckcast_companion::alerts::Alert;
use deckcast_companion::app::alerts::PROMETHEUS_RULES;

use super::args::{AlertsAction, ApiArgs};
use super::client::Client;

fn line(a: &Alert) -> String {
    let when = clock(a.raised_ms);
    format!(
        "{:>6}  {when}  {:<12} {:<8} {}: {}",
        a.id,
        a.state.as_str(),
        a.severity.as_str(),
        a.headline(),
        a.message
    )
}

/// `deckcast alerts ...`.
pub async fn command(api: ApiArgs, action: AlertsAction, json: bool) -> anyhow::Result<()> {
    if let AlertsAction::RulesFile = action {
        print!("{PROMETHEUS_RULES}");
        return Ok(());
    }
    let client = Client::open(&api).await?;
    match action {
        AlertsAction::List => {
            let day_ago = deckcast_companion::store::now_ms() - 86_400_000;
            let list = client.alerts(day_ago).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            if list.active.is_empty() {
                println!("no active alerts");
            }
            for a in &list.active {
                println!("{}", line(a));
            }
            let past: Vec<&Alert> = list
                .history
                .iter()
                .filter(|a| a.cleared_ms.is_some())
                .collect();
            if !past.is_empty() {
                println!("\ncleared in the last 24 h:");
                for a in past {
                    println!("{}", line(a));
                }
            }
        }
        AlertsAction::Ack { id } => {
            let a = client.acknowledge_alert(id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&a)?);
            } else {
                println!("{}", line(&a));
            }
        }
        AlertsAction::RulesFile => {}
    }
    Ok(())
}

fn clock(ms: i64) -> String {
    super::local_time(ms, "%Y-%m-%d %H:%M:%S")
}

fn hms(sec: f64) -> String {
    let s = sec.max(0.0) as i64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `deckcast report [session]`.
pub async fn report(api: ApiArgs, session: Option<i64>, json: bool) -> anyhow::Result<()> {
    let client = Client::open(&api).await?;
    let r = client.report(session).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "session {}: {} for {}{}",
        r.session.id,
        clock(r.session.started_ms),
        hms(r.duration_sec),
        match (&r.session.ended_ms, &r.session.end_reason) {
            (None, _) => " (live now)".to_owned(),
            (Some(_), Some(why)) => format!(" (ended: {why})"),
            (Some(_), None) => String::new(),
        }
    );
    for t in &r.targets {
        println!(
            "  {:<24} live {} ({:.0} %)  avg {:.0} kbps  min {:.0}  dropped {}  reconnects {}",
            t.name,
            hms(t.stats.live_sec as f64),
            t.uptime_share * 100.0,
            t.stats.avg_kbps,
            t.stats.min_kbps,
            t.stats.dropped_frames,
            t.stats.reconnects
        );
    }
    if !r.alerts.is_empty() {
        println!("alerts:");
        for a in &r.alerts {
            println!("{}", line(a));
        }
    }
    if !r.tracks.is_empty() {
        println!("tracks:");
        for t in &r.tracks {
            println!("  {}  {}", clock(t.ts_ms), t.text);
        }
    }
    Ok(())
}
