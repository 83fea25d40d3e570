//! The uploader: one task that carries out queued recording uploads to the streamer's site, one
//! at a time, oldest first (`app::recording::upload` has the steps; the queue is in the
//! database, so uploads go on after a restart).
//!
//! Threads: one tokio task; it waits for the next due upload, a newly queued one, or shutdown.
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;

/// Runs until `shutdown` turns true. An upload cut off by shutdown goes on at the next start
/// from the offset the site reports.
pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let wake = app.upload_queued();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let wait = match app.next_upload().await {
            Ok(Some(u)) => {
                let due_in = u.next_ms - app.now_ms();
                if due_in <= 0 {
                    tokio::select! {
                        () = app.run_upload(u) => {}
                        _ = shutdown.changed() => return,
                    }
                    continue;
                }
                Duration::from_millis(due_in as u64)
            }
            Ok(None) => Duration::from_secs(3600),
            Err(e) => {
                tracing::error!("uploader: {e}");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}
