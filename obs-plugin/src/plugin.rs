//! The module lifecycle in safe Rust: what happens on load, post-load and unload. All functions
//! here run on OBS's UI thread, except the hotkey handler (hotkey thread).
use std::sync::OnceLock;
use std::time::Duration;

use deckcast_protocol::{PROTOCOL_VERSION, VENDOR_NAME};

use crate::meter::Meter;
use crate::nowplaying::source::NowPlaying;
use crate::obs::frontend::{self, Event};
use crate::obs::tap::{self, Tap};
use crate::obs::{self, hotkeys, log, source, ui};
use crate::targets::engine::FrontendEvent;
use crate::targets::hotkey::Action;
use crate::targets::obs_host::{ObsHost, ProfileSettings};
use crate::targets::worker::{Stopped, Worker};
use crate::visualizer::source::Visualizer;

/// The plugin version: the workspace version, shared with the companion and the packaging.
pub const PLUGIN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Facts fixed at load time, readable from any thread.
#[derive(Debug, Clone)]
pub struct Context {
    /// Version of the libobs we run in (`obs_get_version_string`).
    pub libobs_version: String,
}

static CONTEXT: OnceLock<Context> = OnceLock::new();
static TARGETS: OnceLock<Worker> = OnceLock::new();
static METER: OnceLock<Tap<Meter>> = OnceLock::new();

/// The targets worker, once post-load has started it (any thread).
pub fn targets() -> Option<&'static Worker> {
    TARGETS.get()
}

/// The audio meter's tap, once post-load has started it (any thread).
pub fn meter() -> Option<&'static Tap<Meter>> {
    METER.get()
}

/// The load-time context; `None` only before `obs_module_load` ran (any thread).
pub fn context() -> Option<&'static Context> {
    CONTEXT.get()
}

/// `obs_module_load`: register the sources and log who we are; returning false would make OBS
/// unload the module.
pub fn load() -> bool {
    source::register::<NowPlaying>();
    source::register::<Visualizer>();
    let ctx = CONTEXT.get_or_init(|| Context {
        libobs_version: obs::libobs_runtime_version(),
    });
    log::info(&format!(
        "Deckcast {PLUGIN_VERSION} loaded (libobs {} at runtime [{}], built against {}, vendor protocol {PROTOCOL_VERSION})",
        ctx.libobs_version,
        obs::libobs_runtime_version_string(),
        obs::libobs_compiled_version(),
    ));
    true
}

/// `obs_module_post_load`: every module is loaded now, so obs-websocket's vendor API is reachable.
pub fn post_load() {
    let profile = ProfileSettings::read();
    let worker = TARGETS.get_or_init(|| Worker::spawn(move || ObsHost::new(profile)));
    // The profile is already loaded when modules load: read its targets before obs-websocket
    // clients can ask for them (FinishedLoading then finds the same profile and keeps them).
    worker.frontend(FrontendEvent::ProfileLoaded(
        frontend::current_profile_path(),
    ));
    // The meter listens to the program mix until a client chooses a source (`SetAudioMeter`).
    METER
        .get_or_init(|| Tap::new(Meter::new(tap::sample_rate())))
        .follow("");
    frontend::on_events(on_frontend_event);
    frontend::on_save_requested(|| {
        if let Some(w) = targets() {
            w.frontend(FrontendEvent::Save);
        }
    });
    hotkeys::on_pressed(on_hotkey);
    ui::on_request(crate::router::handle);
    // The dock opens floating at start when DECKCAST_SHOW_DOCK=1 (headless and kiosk setups);
    // otherwise OBS lists it under Docks, hidden until the user shows it.
    let show = std::env::var("DECKCAST_SHOW_DOCK").is_ok_and(|v| v == "1");
    if ui::create_dock(show) {
        log::info("targets dock registered (Docks > Deckcast Targets)");
    }
    match obs::vendor::Vendor::register(VENDOR_NAME, crate::router::ROUTES) {
        Ok(vendor) => log::info(&format!(
            "obs-websocket vendor '{VENDOR_NAME}' registered with {} request(s)",
            vendor.request_count()
        )),
        Err(obs::vendor::RegisterError::WebsocketUnavailable) => log::warn(
            "obs-websocket is not available: Deckcast runs without remote control (no vendor requests or events)",
        ),
        Err(e) => log::error(&format!("obs-websocket vendor registration failed: {e}")),
    }
}

/// Frontend events (UI thread): forwarded to the targets worker without waiting, except on exit,
/// where every target must stop before OBS tears libobs down.
fn on_frontend_event(ev: Event) {
    match ev {
        Event::RecordingStarting => crate::recording::on_starting(),
        Event::RecordingStarted => crate::recording::on_started(),
        Event::RecordingStopping => crate::recording::on_stopping(),
        Event::RecordingStopped => crate::recording::on_stopped(),
        // Both: a frontend that skips the first still has its recording finished.
        Event::Quitting | Event::Exit => crate::recording::on_exit(),
        _ => {}
    }
    let Some(worker) = targets() else { return };
    match ev {
        Event::FinishedLoading | Event::ProfileChanged => worker.frontend(
            FrontendEvent::ProfileLoaded(frontend::current_profile_path()),
        ),
        Event::ProfileRenamed => worker.frontend(FrontendEvent::ProfileRenamed(
            frontend::current_profile_path(),
        )),
        Event::ProfileChanging => worker.frontend(FrontendEvent::ProfileChanging),
        Event::StreamingStarting => worker.frontend(FrontendEvent::MainStreamStarting),
        Event::StreamingStopping => worker.frontend(FrontendEvent::MainStreamStopping),
        Event::Exit => {
            if let Some(meter) = meter() {
                meter.detach();
            }
            frontend::remove_save_handler();
            stop_worker(worker);
            frontend::remove_event_handler();
        }
        Event::StreamingStarted | Event::StreamingStopped | Event::Quitting => {}
        Event::RecordingStarting
        | Event::RecordingStarted
        | Event::RecordingStopping
        | Event::RecordingStopped => {}
    }
}

/// A Deckcast hotkey was pressed (hotkey or UI thread): queue its action, never wait.
fn on_hotkey(name: &str) {
    if crate::recording::on_hotkey(name) {
        return;
    }
    if let (Some(worker), Some(action)) = (targets(), Action::parse(name)) {
        action.fire(worker);
    }
}

/// Stops every target, waiting at most 5 s for the worker (UI thread, at exit).
fn stop_worker(worker: &Worker) {
    if let Stopped::Abandoned(_) = worker.shutdown(Duration::from_secs(5)) {
        log::warn(
            "the targets worker did not stop within 5 s (is a keyring prompt waiting?); OBS exits without it",
        );
    }
}

/// `obs_module_unload`.
pub fn unload() {
    if let Some(worker) = targets() {
        stop_worker(worker);
    }
    log::info(&format!(
        "Deckcast unloaded (the dock sent {} request(s))",
        ui::requests_answered()
    ));
}
