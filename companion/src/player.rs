//! The re-air player: while a re-air plays, one look at its media source every
//! [`TICK`](crate::app::reair::TICK) puts the track at the source's position on air and notices
//! its end (`app::reair` has the steps). At start it follows a re-air a previous run left
//! playing.
//!
//! Threads: one tokio task; idle, it waits for a re-air to start or for shutdown.
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;
use crate::app::reair::TICK;

/// Runs until `shutdown` turns true; a re-air playing then goes on in OBS and is followed
/// again by the next run.
pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let wake = app.reair_wake();
    app.resume_reair().await;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if *shutdown.borrow() {
            return;
        }
        if app.reair_playing() {
            tokio::select! {
                _ = tick.tick() => app.reair_tick().await,
                _ = shutdown.changed() => return,
            }
        } else {
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(3600)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
