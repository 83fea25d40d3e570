//! Stream sessions as a pure state machine: a session opens when the first output goes live (a
//! target live or reconnecting, or OBS's own stream as `obs`), remembers every output seen live in
//! it, and closes when none is live any more. The caller stores what [`Step`]s say; the session's
//! id comes back through [`Sessions::opened`].
use std::collections::BTreeSet;

/// What the caller must do after an observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing changed.
    None,
    /// Open a session with these outputs, then call [`Sessions::opened`] with its id.
    Open(Vec<String>),
    /// Session `id` saw more outputs: store the full list.
    Extend(i64, Vec<String>),
    /// Session `id` ended (no output is live).
    Close(i64),
}

#[derive(Debug, Default)]
enum Phase {
    #[default]
    Idle,
    /// The session's row is being written; outputs seen meanwhile are kept.
    Opening {
        first: BTreeSet<String>,
        seen: BTreeSet<String>,
    },
    Open {
        id: i64,
        seen: BTreeSet<String>,
    },
}

/// The open session, if any.
#[derive(Debug, Default)]
pub struct Sessions(Phase);

impl Sessions {
    /// The outputs live now.
    pub fn observe(&mut self, live: &BTreeSet<String>) -> Step {
        match &mut self.0 {
            Phase::Idle if live.is_empty() => Step::None,
            Phase::Idle => {
                self.0 = Phase::Opening {
                    first: live.clone(),
                    seen: live.clone(),
                };
                Step::Open(live.iter().cloned().collect())
            }
            Phase::Opening { seen, .. } => {
                seen.extend(live.iter().cloned());
                Step::None
            }
            Phase::Open { id, .. } if live.is_empty() => {
                let id = *id;
                self.0 = Phase::Idle;
                Step::Close(id)
            }
            Phase::Open { id, seen } => {
                let before = seen.len();
                seen.extend(live.iter().cloned());
                if seen.len() == before {
                    Step::None
                } else {
                    Step::Extend(*id, seen.iter().cloned().collect())
                }
            }
        }
    }

    /// The session asked for by [`Step::Open`] was stored as `id`; returns the list to store if
    /// more outputs went live meanwhile.
    pub fn opened(&mut self, id: i64) -> Step {
        match std::mem::take(&mut self.0) {
            Phase::Opening { first, seen } => {
                let grew = seen != first;
                let list = seen.iter().cloned().collect();
                self.0 = Phase::Open { id, seen };
                if grew {
                    Step::Extend(id, list)
                } else {
                    Step::None
                }
            }
            other => {
                self.0 = other;
                Step::None
            }
        }
    }

    /// Storing the session failed: forget it (the next observation tries again).
    pub fn open_failed(&mut self) {
        if matches!(self.0, Phase::Opening { .. }) {
            self.0 = Phase::Idle;
        }
    }

    /// Ends the open session whatever is live (OBS lost, companion stopping); its id.
    pub fn take(&mut self) -> Option<i64> {
        match std::mem::take(&mut self.0) {
            Phase::Open { id, .. } => Some(id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_session_spans_from_the_first_output_live_to_the_last_one_stopping() {
        let mut s = Sessions::default();
        assert_eq!(s.observe(&set(&[])), Step::None);
        assert_eq!(s.observe(&set(&["a"])), Step::Open(vec!["a".into()]));
        // While the row is written, more outputs go live: stored once the id is known.
        assert_eq!(s.observe(&set(&["a", "obs"])), Step::None);
        assert_eq!(s.opened(7), Step::Extend(7, vec!["a".into(), "obs".into()]));
        assert_eq!(
            s.observe(&set(&["obs"])),
            Step::None,
            "seen outputs are kept"
        );
        assert_eq!(
            s.observe(&set(&["b"])),
            Step::Extend(7, vec!["a".into(), "b".into(), "obs".into()])
        );
        assert_eq!(s.observe(&set(&[])), Step::Close(7));
        assert_eq!(s.observe(&set(&[])), Step::None);
        assert_eq!(s.take(), None);
    }

    #[test]
    fn losing_obs_ends_the_session_and_a_failed_write_is_retried() {
        let mut s = Sessions::default();
        assert!(matches!(s.observe(&set(&["a"])), Step::Open(_)));
        s.open_failed();
        assert!(matches!(s.observe(&set(&["a"])), Step::Open(_)));
        assert_eq!(s.opened(3), Step::None);
        assert_eq!(s.take(), Some(3));
        assert!(
            matches!(s.observe(&set(&["a"])), Step::Open(_)),
            "a new session"
        );
    }
}
