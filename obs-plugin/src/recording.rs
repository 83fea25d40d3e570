//! Set recording from inside OBS: the dock's record button, the "start/stop set recording"
//! hotkeys and the `StartRecording`/`StopRecording` vendor requests start and stop OBS's own
//! recording (the profile's path, format and encoder), and remember who started the running one.
//!
//! The companion's recording library reads that mark through `GetRecording` (`startedBy`) when it
//! opens the entry, so a set recorded from the dock is Deckcast's own (chapters remuxed in, its
//! file may be deleted with the entry) and not a recording "started in OBS" that it only follows.
//!
//! A start runs on the UI thread and arms the mark around OBS's own `StartRecording`, which runs
//! inside the call: OBS's starting event, sent once its refusal checks (outputs disabled while
//! Settings are open, invalid path, low disk) passed, confirms the arm, and its started event
//! turns it into the running recording's mark (within [`ARM_WINDOW`]). A start OBS refuses is
//! disarmed at once and reported; another starting event, or a stopped one, takes an arm away,
//! so a start that failed later never marks someone else's recording. Requests queue the start
//! on the UI thread and wait for it; hotkeys queue it and do not wait. The lock is held only to
//! swap a few words, never across a call into OBS.
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deckcast_protocol::Error;
use deckcast_protocol::recording::{RecordingControl, RecordingOrigin, RecordingStopped};

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

/// A recording hotkey was pressed (hotkey thread): true if `name` is one. Queues the action on
/// the UI thread and never waits (the hotkey thread holds OBS's hotkey lock).
pub fn on_hotkey(name: &str) -> bool {
    match name {
        HOTKEY_START => {
            frontend::queue_on_ui_thread(|| match start_here(RecordingOrigin::Hotkey) {
                Start::Refused => crate::obs::log::warn(REFUSED),
                Start::NoFolder(dir) => crate::obs::log::warn(&no_folder(&dir)),
                Start::Starting | Start::AlreadyRecording => {}
            })
        }
        HOTKEY_STOP => frontend::queue_on_ui_thread(|| {
            let _ = stop_here();
        }),
        _ => return false,
    }
    true
}

/// How long an armed start waits for OBS's started event.
pub const ARM_WINDOW: Duration = Duration::from_secs(10);
/// How long a request waits for OBS's UI thread to run the start.
pub const UI_WAIT: Duration = Duration::from_secs(3);
/// Why OBS went no further than its own checks (it shows a message for the last two).
const REFUSED: &str = "OBS did not start its recording: outputs are disabled while its Settings \
                       are open, the recording path is invalid, or the disk is nearly full";

fn no_folder(dir: &str) -> String {
    format!(
        "OBS's recording folder {dir:?} does not exist: create it or choose another in Settings > Output"
    )
}

/// A start Deckcast asked OBS for.
#[derive(Debug, Clone, Copy)]
struct Arm {
    origin: RecordingOrigin,
    at: Instant,
    /// OBS passed its checks and announced the start (its starting event).
    starting: bool,
}

#[derive(Debug, Default)]
struct Marks {
    /// A start asked for, not seen running yet.
    armed: Option<Arm>,
    /// Who started the running recording (none: not through Deckcast, or nothing records).
    running: Option<RecordingOrigin>,
    /// OBS is stopping the recording (its stopping event came, its stopped one not yet).
    stopping: bool,
}

static MARKS: Mutex<Marks> = Mutex::new(Marks {
    armed: None,
    running: None,
    stopping: false,
});

fn marks() -> std::sync::MutexGuard<'static, Marks> {
    MARKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether OBS records: its started event came, or its output is already active before it
/// (UI thread).
fn records() -> bool {
    frontend::recording_active() || frontend::recording_output_active()
}

/// What asking OBS to start did.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Start {
    /// OBS passed its checks and is starting the recording.
    Starting,
    /// It records already (or is starting): nothing was done.
    AlreadyRecording,
    /// OBS refused (outputs disabled, invalid path, low disk): nothing records.
    Refused,
    /// The profile's recording folder does not exist (OBS was not asked).
    NoFolder(String),
}

/// Starts OBS's recording for `origin` (UI thread only). OBS's `StartRecording` runs inside the
/// call, so its starting event, sent after its refusal checks, tells whether it went ahead.
fn start_here(origin: RecordingOrigin) -> Start {
    if records() {
        return Start::AlreadyRecording;
    }
    // OBS would refuse a missing folder with a modal dialog on the streamer's screen: answer
    // precisely instead.
    if let Some(dir) = crate::obs::output::recording_status().directory
        && !std::path::Path::new(&dir).is_dir()
    {
        return Start::NoFolder(dir);
    }
    marks().armed = Some(Arm {
        origin,
        at: Instant::now(),
        starting: false,
    });
    // Not under the lock: OBS calls `on_starting` from inside.
    frontend::start_recording();
    let mut m = marks();
    // Past OBS's checks its output can still fail (a modal, no stopped event); an output that
    // starts on its own thread (custom FFmpeg) is not active yet either, so OBS's word counts:
    // the arm stays until a stop, another start, or the window.
    if m.armed.is_some_and(|a| a.starting) || m.running == Some(origin) {
        return Start::Starting;
    }
    m.armed = None;
    if frontend::recording_output_active() {
        Start::AlreadyRecording
    } else {
        Start::Refused
    }
}

/// Starts OBS's recording for `origin` unless it records already (worker threads: waits up to
/// [`UI_WAIT`] for the UI thread to run it). A start OBS refuses is an error, and leaves no mark.
pub fn start(origin: RecordingOrigin) -> Result<RecordingControl, Error> {
    match frontend::on_ui_thread(move || start_here(origin), UI_WAIT) {
        Some(Start::Starting) => Ok(RecordingControl { changed: true }),
        Some(Start::AlreadyRecording) => Ok(RecordingControl { changed: false }),
        Some(Start::Refused) => Err(Error::conflict(REFUSED)),
        Some(Start::NoFolder(dir)) => Err(Error::conflict(no_folder(&dir))),
        None => Err(Error::internal(
            "OBS's UI thread did not run the start within 3 s (a dialog may be open); it may \
             still start",
        )),
    }
}

/// Stops OBS's recording if it records (worker threads: waits up to [`UI_WAIT`] for the UI
/// thread to run it).
pub fn stop() -> Result<RecordingControl, Error> {
    frontend::on_ui_thread(stop_here, UI_WAIT).ok_or_else(|| {
        Error::internal("OBS's UI thread did not run the stop within 3 s (a dialog may be open)")
    })
}

/// Stops OBS's recording if it records and is not stopping already (UI thread: OBS replaces
/// its outputs there). A second stop while the first one drains would make OBS force-stop
/// and cut the end of the set off.
fn stop_here() -> RecordingControl {
    if !records() || marks().stopping {
        return RecordingControl { changed: false };
    }
    frontend::stop_recording();
    RecordingControl { changed: true }
}

/// OBS's recording is starting: its checks passed (UI thread).
pub fn on_starting() {
    on_starting_in(&mut marks());
}

/// OBS's recording started (UI thread): an armed start is now the running recording's mark.
pub fn on_started() {
    on_started_at(&mut marks(), Instant::now());
}

/// OBS's recording stopped, or failed to start (UI thread): no mark survives it.
pub fn on_stopped() {
    let mut m = marks();
    m.running = None;
    m.stopping = false;
    // A start that ran between the output stopping and this (queued) event keeps its arm.
    if !frontend::recording_output_active() {
        m.armed = None;
    }
}

/// OBS's recording is stopping (UI thread): it drains until its stopped event.
pub fn on_stopping() {
    marks().stopping = true;
}

/// How long OBS's exit waits for a running recording to finish its file.
pub const EXIT_WAIT: Duration = Duration::from_secs(10);

/// OBS is quitting (UI thread; its quitting event, before it clears its scenes, and again at
/// exit): a recording still running is stopped here, and its file finished (at most
/// [`EXIT_WAIT`]), before OBS tears its outputs down; clients hear [`RecordingStopped`].
/// OBS 30.2.3 can corrupt its heap when it destroys a recording output that still runs at exit
/// (an encoder's settings are freed on the output's thread while shutdown goes on; measured
/// here: 2 crashes in 6 exits without Deckcast, with glibc's tcache off); a recording stopped
/// first takes OBS's normal, clean path.
pub fn on_exit() {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    // Once: a recording that did not stop within the wait is OBS's to stop (no second wait).
    if DONE.swap(true, std::sync::atomic::Ordering::AcqRel) || !frontend::recording_output_active()
    {
        return;
    }
    crate::obs::log::info("OBS is quitting while recording: stopping the recording first");
    let file = crate::obs::output::recording_status().file;
    // Not again if the streamer's own stop is draining (a second stop would force it).
    if !marks().stopping {
        frontend::stop_recording();
    }
    let deadline = Instant::now() + EXIT_WAIT;
    while frontend::recording_output_active() {
        if Instant::now() >= deadline {
            crate::obs::log::warn(
                "the recording did not stop within 10 s of OBS quitting; OBS stops it itself",
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    crate::obs::log::info("the recording stopped and its file is finished");
    // obs-websocket still runs (it stops at OBS's exit event): clients hear it now.
    crate::events::emit(&RecordingStopped { file });
}

/// Who in OBS started the running (or starting) recording through Deckcast (any thread).
pub fn started_by() -> Option<RecordingOrigin> {
    let m = marks();
    m.running
        .or(m.armed.filter(|a| a.starting).map(|a| a.origin))
}

/// The first starting event after a start belongs to it; a later one is a start by someone else
/// (ours failed after OBS's checks, without a stopped event), which takes the mark away.
fn on_starting_in(m: &mut Marks) {
    match &mut m.armed {
        Some(a) if !a.starting => a.starting = true,
        _ => m.armed = None,
    }
}

fn on_started_at(m: &mut Marks, now: Instant) {
    m.running = m
        .armed
        .take()
        .filter(|a| a.starting && now.duration_since(a.at) <= ARM_WINDOW)
        .map(|a| a.origin);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn armed(origin: RecordingOrigin, at: Instant) -> Marks {
        Marks {
            armed: Some(Arm {
                origin,
                at,
                starting: false,
            }),
            running: None,
            stopping: false,
        }
    }

    #[test]
    fn a_fresh_start_marks_the_recording_and_a_stale_one_does_not() {
        let t0 = Instant::now();
        let mut m = armed(RecordingOrigin::Dock, t0);
        on_starting_in(&mut m);
        on_started_at(&mut m, t0 + Duration::from_secs(1));
        assert_eq!(m.running, Some(RecordingOrigin::Dock));
        assert!(m.armed.is_none(), "a mark is used once");
        // The next recording, started in OBS itself, carries no mark.
        on_starting_in(&mut m);
        on_started_at(&mut m, t0 + Duration::from_secs(20));
        assert_eq!(m.running, None);
        // A start whose started event comes too late does not mark it.
        let mut m = armed(RecordingOrigin::Hotkey, t0);
        on_starting_in(&mut m);
        on_started_at(&mut m, t0 + ARM_WINDOW + Duration::from_secs(1));
        assert_eq!(m.running, None);
    }

    #[test]
    fn a_start_that_failed_after_obs_checks_does_not_mark_the_next_one() {
        let t0 = Instant::now();
        let mut m = armed(RecordingOrigin::Vendor, t0);
        on_starting_in(&mut m);
        // The output failed to start: no started event. The user then records in OBS itself,
        // which announces its own start first.
        on_starting_in(&mut m);
        assert!(
            m.armed.is_none(),
            "a second starting event takes the arm away"
        );
        on_started_at(&mut m, t0 + Duration::from_secs(2));
        assert_eq!(m.running, None);
        // An arm OBS never confirmed (it refused) marks nothing either.
        let mut m = armed(RecordingOrigin::Dock, t0);
        on_started_at(&mut m, t0 + Duration::from_secs(1));
        assert_eq!(m.running, None);
    }
}
