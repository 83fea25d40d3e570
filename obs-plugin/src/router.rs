//! The one table from vendor request names to typed handlers: obs-websocket (through
//! `obs::vendor`) and the dock (through `obs::ui`) both call it; hotkeys send typed commands to
//! the targets worker directly. Each route decodes its request once ([`decode_request`]), runs the
//! typed handler and encodes the answer ([`encode_reply`]).
//!
//! Called on obs-websocket's worker threads (several at once) and OBS's UI thread (the dock).
//! Handlers never panic on bad input; targets requests wait at most [`WORKER_TIMEOUT`] for the
//! targets worker.
use std::time::Duration;

use deckcast_protocol::alerts::{AlertsView, GetAlerts, SetAlerts};
use deckcast_protocol::audio::{AudioLevels, GetAudioLevels, SetAudioMeter};
use deckcast_protocol::nowplaying::{Analysis, GetAnalysis, SetNowPlaying, SetTempo};
use deckcast_protocol::recording::{
    GetRecording, RecordingControl, RecordingOrigin, RecordingStatus, StartRecording, StopRecording,
};
use deckcast_protocol::targets::{
    CreateTarget, DeleteEncoderConfig, DeleteTarget, ExportTargets, GetTarget, GetTargetHealth,
    ImportTargets, ListTargets, SetStreamKey, SetTargetVideoBitrate, StartAllTargets, StartTarget,
    StopAllTargets, StopTarget, UpdateEncoderConfig, UpdateTarget,
};
use deckcast_protocol::version::{GetVersion, VersionInfo};
use deckcast_protocol::{Error, PROTOCOL_VERSION, Request, decode_request, encode_reply};
use serde_json::Value;

use crate::nowplaying::source::NowPlaying;
use crate::obs::source;
use crate::obs::vendor::VendorRequest;
use crate::plugin::{self, PLUGIN_VERSION};
use crate::targets::command::TargetsRequest;
use crate::visualizer::source::Visualizer;

/// How long a request may wait for the targets worker.
pub const WORKER_TIMEOUT: Duration = Duration::from_secs(10);

macro_rules! route {
    ($req:ty, $handler:expr) => {
        VendorRequest {
            name: <$req as Request>::NAME,
            handler: |data: Value| encode_reply(decode_request::<$req>(data).and_then($handler)),
        }
    };
}

/// Every request the plugin answers, in the protocol's order.
pub static ROUTES: &[VendorRequest] = &[
    route!(GetVersion, get_version),
    route!(ListTargets, targets),
    route!(GetTarget, targets),
    route!(CreateTarget, targets),
    route!(UpdateTarget, targets),
    route!(DeleteTarget, targets),
    route!(SetStreamKey, targets),
    route!(StartTarget, targets),
    route!(StopTarget, targets),
    route!(StartAllTargets, targets),
    route!(StopAllTargets, targets),
    route!(GetTargetHealth, targets),
    route!(UpdateEncoderConfig, targets),
    route!(DeleteEncoderConfig, targets),
    route!(ExportTargets, targets),
    route!(ImportTargets, targets),
    route!(SetTargetVideoBitrate, targets),
    route!(SetNowPlaying, crate::nowplaying::set_now_playing),
    route!(SetTempo, crate::nowplaying::set_tempo),
    route!(GetAnalysis, get_analysis),
    route!(SetAudioMeter, set_audio_meter),
    route!(GetAudioLevels, get_audio_levels),
    route!(SetAlerts, set_alerts),
    route!(GetAlerts, get_alerts),
    route!(GetRecording, get_recording),
    route!(StartRecording, start_recording),
    route!(StopRecording, stop_recording),
];

/// Runs request `name` with `data` (the dock's entry point).
pub fn handle(name: &str, data: Value) -> Value {
    match ROUTES.iter().find(|r| r.name == name) {
        Some(route) => (route.handler)(data),
        None => Error::invalid_request(format!("unknown request {name:?}")).to_wire(),
    }
}

/// `GetVersion`.
fn get_version(_: GetVersion) -> Result<VersionInfo, Error> {
    let ctx = plugin::context()
        .ok_or_else(|| Error::internal("the Deckcast plugin is not loaded yet"))?;
    Ok(VersionInfo {
        plugin_version: PLUGIN_VERSION.to_owned(),
        protocol_version: PROTOCOL_VERSION,
        libobs_version: ctx.libobs_version.clone(),
    })
}

/// A targets request, answered by the targets worker.
fn targets<R: TargetsRequest>(request: R) -> Result<R::Reply, Error> {
    plugin::targets()
        .ok_or_else(|| Error::internal("the Deckcast targets worker is not running"))?
        .call(request, WORKER_TIMEOUT)
}

/// `GetAnalysis {source}`: a Now Playing source's tempo or a Visualizer's bands.
fn get_analysis(r: GetAnalysis) -> Result<Analysis, Error> {
    source::find::<NowPlaying, _>(&r.source, |s| Analysis::Tempo(s.analysis()))
        .or_else(|| source::find::<Visualizer, _>(&r.source, |s| Analysis::Bands(s.analysis())))
        .ok_or_else(|| {
            Error::not_found(format!(
                "no Deckcast Now Playing or Visualizer source named {:?}",
                r.source
            ))
        })
}

fn meter() -> Result<&'static crate::obs::tap::Tap<crate::meter::Meter>, Error> {
    plugin::meter().ok_or_else(|| Error::internal("the Deckcast audio meter is not running"))
}

/// `SetAudioMeter {source?}`: follow that source (or the program mix); answers without blocks.
fn set_audio_meter(r: SetAudioMeter) -> Result<AudioLevels, Error> {
    let name = r.validated()?;
    let tap = meter()?;
    tap.sink().set_source(name.clone());
    tap.follow(&name);
    let mut levels = tap.sink().levels(None, tap.attached());
    levels.blocks.clear();
    Ok(levels)
}

/// `GetAudioLevels {since?}`: the blocks from `since` on (the source is looked up again first, so
/// one created since the last call is picked up).
fn get_audio_levels(r: GetAudioLevels) -> Result<AudioLevels, Error> {
    let tap = meter()?;
    tap.follow(&tap.sink().source());
    Ok(tap.sink().levels(r.since, tap.attached()))
}

/// `GetRecording {}`: OBS's recording, read on the UI thread, and the room left where it writes.
fn get_recording(_: GetRecording) -> Result<RecordingStatus, Error> {
    // The mark is read on the UI thread too, after OBS's started event of this recording.
    let (now, started_by) = crate::obs::frontend::on_ui_thread(
        || {
            (
                crate::obs::output::recording_status(),
                crate::recording::started_by(),
            )
        },
        UI_TIMEOUT,
    )
    .ok_or_else(|| Error::internal("OBS's UI thread did not answer within 2 s"))?;
    let free_bytes = now
        .directory
        .as_deref()
        .and_then(|d| crate::disk::free_bytes(std::path::Path::new(d)));
    Ok(RecordingStatus {
        active: now.active,
        directory: now.directory,
        file: now.file,
        bytes: now.bytes,
        free_bytes,
        started_by: started_by.filter(|_| now.active),
    })
}

/// `StartRecording {from?}`: OBS's own recording, unless it records already.
fn start_recording(r: StartRecording) -> Result<RecordingControl, Error> {
    crate::recording::start(r.from.unwrap_or(RecordingOrigin::Vendor))
}

/// `StopRecording {}`.
fn stop_recording(_: StopRecording) -> Result<RecordingControl, Error> {
    crate::recording::stop()
}

/// How long a request waits for OBS's UI thread.
const UI_TIMEOUT: Duration = Duration::from_secs(2);

/// `SetAlerts {alerts}`: the companion's active alerts, for the dock.
fn set_alerts(r: SetAlerts) -> Result<deckcast_protocol::Empty, Error> {
    crate::alerts::set(r.validated()?.alerts);
    Ok(deckcast_protocol::Empty {})
}

/// `GetAlerts {}`: the newest list and its age.
fn get_alerts(_: GetAlerts) -> Result<AlertsView, Error> {
    Ok(crate::alerts::get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_protocol_request_has_exactly_one_route() {
        let names: Vec<&str> = ROUTES.iter().map(|r| r.name).collect();
        assert_eq!(names, deckcast_protocol::REQUESTS);
    }

    #[test]
    fn routes_decode_at_the_edge_and_answer_errors_as_objects() {
        // No worker runs in unit tests: a valid request reaches the handler, which says so.
        let v = handle(StartTarget::NAME, json!({"id": "x"}));
        assert_eq!(v["error"]["code"], "internal", "{v}");
        // Malformed data never reaches a handler.
        let v = handle(StartTarget::NAME, json!({"nope": 1}));
        assert_eq!(v["error"]["code"], "invalid_request", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("StartTarget: "),
            "{v}"
        );
        let v = handle(
            SetNowPlaying::NAME,
            json!({"artist": "A", "title": "T", "bpm": 999}),
        );
        assert_eq!(v["error"]["code"], "invalid_value", "{v}");
        assert_eq!(
            handle(SetNowPlaying::NAME, json!({"artist": "A", "title": "T"})),
            json!({})
        );
        let v = handle("Nope", json!({}));
        assert_eq!(v["error"]["code"], "invalid_request", "{v}");
    }
}
