//! Secrets (OBS websocket password, stream keys, tokens) that never print.

use std::fmt;

/// A secret string. `Debug` and `Display` print `***`; only [`Secret::expose`] gives the value,
/// and callers pass that straight to the API that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret; `None` for an empty string (an empty password means "none").
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        (!value.is_empty()).then_some(Self(value))
    }

    /// The secret value. Do not log or format it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("hunter2-live_abc").unwrap();
        assert_eq!(
            format!("{s:?} {s} {:?}", Some(&s)),
            "Secret(***) *** Some(Secret(***))"
        );
        assert_eq!(s.expose(), "hunter2-live_abc");
        assert!(Secret::new("").is_none());
    }
}
