//! The D-Bus session bus as every D-Bus client of the companion opens it (MPRIS players, the
//! desktop notification service): a peer that hangs must not hang the caller, so every method call
//! waits at most [`METHOD_TIMEOUT`].
//!
//! Threads: blocking; callers run on the blocking pool.

/// The longest a method call waits for its answer.
pub const METHOD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A new connection to the session bus.
pub fn session() -> Result<zbus::blocking::Connection, String> {
    zbus::blocking::connection::Builder::session()
        .and_then(|b| b.method_timeout(METHOD_TIMEOUT).build())
        .map_err(|e| format!("session bus: {e}"))
}
