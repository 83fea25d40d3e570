//! Target hotkeys by name: OBS saves bindings under the name, and a press comes back as the name,
//! so the name says what the hotkey does (`deckcast.target.<id>.start`, `deckcast.all.stop`, ...).
use deckcast_protocol::targets::{StartAllTargets, StartTarget, StopAllTargets, StopTarget};

use super::worker::Worker;

/// What a target hotkey does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// The target, or `None` for all targets.
    pub target: Option<String>,
    /// Start (true) or stop (false).
    pub start: bool,
}

impl Action {
    /// The stable hotkey name of this action.
    pub fn name(&self) -> String {
        let verb = if self.start { "start" } else { "stop" };
        match &self.target {
            Some(id) => format!("deckcast.target.{id}.{verb}"),
            None => format!("deckcast.all.{verb}"),
        }
    }

    /// The action a hotkey name stands for (`None` for names that are not ours).
    pub fn parse(name: &str) -> Option<Action> {
        let rest = name.strip_prefix("deckcast.")?;
        let (scope, verb) = rest.rsplit_once('.')?;
        let start = match verb {
            "start" => true,
            "stop" => false,
            _ => return None,
        };
        let target = match scope {
            "all" => None,
            s => Some(s.strip_prefix("target.")?.to_owned()).filter(|id| !id.is_empty()),
        };
        if scope != "all" && target.is_none() {
            return None;
        }
        Some(Action { target, start })
    }

    /// Queues the action on the worker (never waits: hotkey threads must not block).
    pub fn fire(self, worker: &Worker) {
        match (self.target, self.start) {
            (Some(id), true) => worker.fire(StartTarget { id }),
            (Some(id), false) => worker.fire(StopTarget::new(id)),
            (None, true) => worker.fire(StartAllTargets {}),
            (None, false) => worker.fire(StopAllTargets {}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_foreign_names_are_ignored() {
        for a in [
            Action {
                target: Some("abc123".into()),
                start: true,
            },
            Action {
                target: Some("abc123".into()),
                start: false,
            },
            Action {
                target: None,
                start: true,
            },
            Action {
                target: None,
                start: false,
            },
        ] {
            assert_eq!(Action::parse(&a.name()), Some(a));
        }
        assert_eq!(Action::parse("deckcast.all.start").unwrap().target, None);
        for foreign in [
            "OBSBasic.StartStreaming",
            "deckcast.target..start",
            "deckcast.target.x.pause",
            "deckcast.other.start",
            "deckcast.all",
        ] {
            assert_eq!(Action::parse(foreign), None, "{foreign}");
        }
    }
}
