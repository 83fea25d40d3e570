//! Panic containment for every `extern "C"` entry point.
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::log;

/// Runs `body`; if it panics, logs the panic (with `what` naming the entry point) and returns
/// `fallback`. A panic must never unwind into C: that would abort OBS.
pub fn catch<R>(what: &str, fallback: R, body: impl FnOnce() -> R) -> R {
    catch_reporting(what, fallback, body, log::error)
}

/// [`catch`] with the report sink as a parameter (the log in production, a recorder in tests).
fn catch_reporting<R>(
    what: &str,
    fallback: R,
    body: impl FnOnce() -> R,
    report: impl FnOnce(&str),
) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            // Reporting must not panic again, or this would unwind into C after all.
            let line = format!("internal error in {what}: {msg}");
            let _ = catch_unwind(AssertUnwindSafe(|| report(&line)));
            fallback
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn returns_the_value_when_nothing_panics() {
        let reports = RefCell::new(Vec::<String>::new());
        assert_eq!(
            catch_reporting("x", 0, || 42, |m| reports.borrow_mut().push(m.into())),
            42
        );
        assert!(reports.borrow().is_empty());
    }

    #[test]
    fn turns_panics_into_the_fallback_and_reports_them() {
        let reports = RefCell::new(Vec::<String>::new());
        let got = catch_reporting(
            "obs_module_load",
            false,
            || -> bool { panic!("boom {}", 7) },
            |m| reports.borrow_mut().push(m.into()),
        );
        assert!(!got);
        assert_eq!(
            *reports.borrow(),
            ["internal error in obs_module_load: boom 7"]
        );

        let got = catch_reporting(
            "cb",
            "safe",
            || std::panic::panic_any(5u8),
            |m| reports.borrow_mut().push(m.into()),
        );
        assert_eq!(got, "safe");
        assert_eq!(reports.borrow()[1], "internal error in cb: unknown panic");
    }

    #[test]
    fn a_panicking_reporter_is_contained_too() {
        let got = catch_reporting("x", 1, || -> i32 { panic!("first") }, |_| panic!("second"));
        assert_eq!(got, 1);
    }
}
