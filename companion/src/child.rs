//! Waiting for a child process with a deadline (ffmpeg's remuxes, `aubio tempo` in
//! `analyze --eval`): polled, so no thread is left behind; a child past its deadline is killed
//! and reaped.
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Waits for `child` at most `limit`: its status, or `None` when it ran longer (it has then been
/// killed and reaped).
pub fn wait_bounded(child: &mut Child, limit: Duration) -> std::io::Result<Option<ExitStatus>> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
