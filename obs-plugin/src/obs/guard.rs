//! Panic containment for every `extern "C"` entry point.
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::log;

/// Runs `body`; if it panics, logs the panic (with `what` naming the entry point) and returns
/// `fallback`. A panic must never unwind into C: that would abort OBS.
pub fn catch<R>(what: &str, fallback: R, body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            // Logging itself must not panic again, or this would unwind into C after all.
            let _ = catch_unwind(|| log::error(&format!("internal error in {what}: {msg}")));
            fallback
        }
    }
}
