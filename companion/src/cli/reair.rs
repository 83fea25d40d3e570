//! `deckcast reair start|stop|status`, through the running companion's API.
use deckcast_companion::app::reair::{ReAir, ReAirState, StartReAir};
use deckcast_companion::tracklist::{label, timestamp};

use super::args::{ApiArgs, ReairAction};
use super::client::Client;
use super::print_json;

/// What is re-airing, in one or two lines.
fn describe(r: &ReAir) -> String {
    let id = r.recording_id.map_or("?".to_owned(), |i| i.to_string());
    match r.state {
        ReAirState::Playing => {
            let mut s = format!(
                "re-airing recording #{id} in scene '{}'{}",
                r.scene.as_deref().unwrap_or("?"),
                if r.looped { ", looping" } else { "" }
            );
            if let Some(at) = r.position_ms {
                s.push_str(&format!(
                    " at {}{}",
                    timestamp(at),
                    r.duration_ms
                        .map(|d| format!(" of {}", timestamp(d)))
                        .unwrap_or_default()
                ));
            }
            if r.loops > 0 {
                s.push_str(&format!(" (loop {})", r.loops + 1));
            }
            if !r.targets.is_empty() {
                s.push_str(&format!("\n  streaming to {}", r.targets.join(", ")));
            }
            if let Some(t) = &r.track {
                s.push_str(&format!("\n  on air: {}", label(&t.artist, &t.title)));
            }
            s
        }
        ReAirState::Idle => match (&r.recording_id, &r.ended) {
            (Some(_), Some(why)) => {
                format!("nothing is re-airing (the re-air of recording #{id} ended: {why})")
            }
            _ => "nothing is re-airing".to_owned(),
        },
    }
}

/// `deckcast reair ...`.
pub async fn reair(api: ApiArgs, action: ReairAction, json: bool) -> anyhow::Result<()> {
    let client = Client::open(&api).await?;
    let r = match action {
        ReairAction::Start {
            id,
            scene,
            targets,
            looped,
        } => {
            client
                .start_reair(&StartReAir {
                    recording_id: id,
                    scene,
                    targets,
                    looped,
                })
                .await?
        }
        ReairAction::Stop => client.stop_reair().await?,
        ReairAction::Status => client.reair().await?,
    };
    if json {
        return print_json(&r);
    }
    println!("{}", describe(&r));
    Ok(())
}
