//! Set recording from inside OBS: the dock's record button, the "start/stop set recording"
//! hotkeys and the `StartRecording`/`StopRecording` vendor requests start and stop OBS's own
//! recording (the profile's path, format and encoder), and remember who started the running one.
//!
//! The companion's recording library reads that mark through `GetRecording` (`startedBy`) when it
//! opens the entry, so a set recorded from the dock is Deckcast's own (chapters remuxed in, its
//! file may be deleted with the entry) and not a recording "started in OBS" that it only follows.
//!
//! A start arms the mark; OBS's `RecordingStarted` event (UI thread) turns an armed mark into the
//! running recording's, if the start was asked for within [`ARM_WINDOW`] (a start OBS refused
//! leaves no mark on a later recording); `RecordingStopped` clears it. Requests and hotkeys call
//! in from any thread; the lock is held only to swap a few words.
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deckcast_protocol::recording::{RecordingControl, RecordingOrigin};

use crate::obs::frontend;

/// The recording hotkeys (Settings > Hotkeys): (name, locale key of the description). Their
/// bindings are saved with the profile's targets file, like the target hotkeys.
pub const HOTKEYS: &[(&str, &str)] = &[
    (HOTKEY_START, "Deckcast.Hotkey.StartRecording"),
    (HOTKEY_STOP, "Deckcast.Hotkey.StopRecording"),
];
/// The "start set recording" hotkey's name.
pub const HOTKEY_START: &str = "deckcast.recording.start";
/// The "stop set recording" hotkey's name.
pub const HOTKEY_STOP: &str = "deckcast.recording.stop";

/// A recording hotkey was pressed (hotkey or UI thread): true if `name` is one (never waits).
pub fn on_hotkey(name: &str) -> bool {
    match name {
        HOTKEY_START => drop(start(RecordingOrigin::Hotkey)),
        HOTKEY_STOP => drop(stop()),
        _ => return false,
    }
    true
}

/// How long an armed start waits for OBS's started event.
pub const ARM_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct Marks {
    /// A start asked for, not seen running yet.
    armed: Option<(RecordingOrigin, Instant)>,
    /// Who started the running recording (none: not through Deckcast, or nothing records).
    running: Option<RecordingOrigin>,
}

static MARKS: Mutex<Marks> = Mutex::new(Marks {
    armed: None,
    running: None,
});

fn marks() -> std::sync::MutexGuard<'static, Marks> {
    MARKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts OBS's recording for `origin` unless it records already (any thread; never waits).
pub fn start(origin: RecordingOrigin) -> RecordingControl {
    if frontend::recording_active() {
        return RecordingControl { changed: false };
    }
    marks().armed = Some((origin, Instant::now()));
    frontend::start_recording();
    RecordingControl { changed: true }
}

/// Stops OBS's recording if it records (any thread; never waits).
pub fn stop() -> RecordingControl {
    if !frontend::recording_active() {
        return RecordingControl { changed: false };
    }
    frontend::stop_recording();
    RecordingControl { changed: true }
}

/// OBS's recording started (UI thread): an armed start is now the running recording's mark.
pub fn on_started() {
    on_started_at(&mut marks(), Instant::now());
}

/// OBS's recording stopped (UI thread).
pub fn on_stopped() {
    marks().running = None;
}

/// Who in OBS started the running recording through Deckcast (any thread).
pub fn started_by() -> Option<RecordingOrigin> {
    marks().running
}

fn on_started_at(m: &mut Marks, now: Instant) {
    m.running = m
        .armed
        .take()
        .filter(|(_, at)| now.duration_since(*at) <= ARM_WINDOW)
        .map(|(origin, _)| origin);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_start_marks_the_recording_and_a_stale_one_does_not() {
        let t0 = Instant::now();
        let mut m = Marks {
            armed: Some((RecordingOrigin::Dock, t0)),
            running: None,
        };
        on_started_at(&mut m, t0 + Duration::from_secs(1));
        assert_eq!(m.running, Some(RecordingOrigin::Dock));
        assert!(m.armed.is_none(), "a mark is used once");
        // The next recording, started in OBS itself, carries no mark.
        on_started_at(&mut m, t0 + Duration::from_secs(20));
        assert_eq!(m.running, None);
        // A start OBS refused (no started event in time) does not mark a later recording.
        m.armed = Some((RecordingOrigin::Hotkey, t0));
        on_started_at(&mut m, t0 + ARM_WINDOW + Duration::from_secs(1));
        assert_eq!(m.running, None);
    }
}
