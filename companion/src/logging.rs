//! The companion's log: `DECKCAST_LOG` (an `EnvFilter`, default `info`) chooses what is written
//! to stderr, but other crates never log below `info`, whatever it says. obws logs each request's
//! JSON at `trace` (`SetStreamKey` carries the key) and the HTTP and WebSocket crates log frames:
//! `DECKCAST_LOG=trace` must not put a secret in a log.
use tracing::{Level, Metadata};
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::prelude::*;

/// Whether an event may be written at all (before `DECKCAST_LOG` decides).
pub fn permitted(meta: &Metadata<'_>) -> bool {
    permitted_target(meta.target(), *meta.level())
}

fn permitted_target(target: &str, level: Level) -> bool {
    level <= Level::INFO || target == "deckcast" || target.starts_with("deckcast")
}

/// Installs the stderr log (once, at the start of `serve`).
pub fn init() {
    let filter = EnvFilter::try_from_env("DECKCAST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_filter(filter)
                .with_filter(filter_fn(permitted)),
        )
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_crates_never_log_below_info() {
        assert!(!permitted_target("obws::client", Level::TRACE));
        assert!(!permitted_target("obws::client", Level::DEBUG));
        assert!(!permitted_target("reqwest::connect", Level::DEBUG));
        assert!(!permitted_target("hyper_util::client", Level::TRACE));
        assert!(permitted_target("obws::client", Level::WARN));
        assert!(permitted_target(
            "deckcast_companion::supervisor",
            Level::TRACE
        ));
        assert!(permitted_target("deckcast_companion", Level::DEBUG));
    }
}
