//! `deckcast alerts ...`: active alerts and history, acknowledging (through the running
//! companion's API), and the shipped Prometheus rules.
use deckcast_companion::alerts::Alert;
use deckcast_companion::app::alerts::PROMETHEUS_RULES;

use super::args::{AlertsAction, ApiArgs};
use super::client::Client;

fn line(a: &Alert) -> String {
    let when = chrono::DateTime::from_timestamp_millis(a.raised_ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
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
