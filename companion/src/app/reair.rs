//! Re-air: a finished recording played again in OBS through a media source in a chosen scene,
//! streamed to chosen targets, with Now Playing following the recording's tracklist, once or
//! in a loop (a 24/7 channel). One re-air at a time.
//!
//! The media source's own position (`GetMediaInputStatus`) is the clock: the player task
//! ([`crate::player`]) reads it every [`TICK`] and puts the tracklist entry at that position on
//! air ([`App::set_now_playing`], so history, webhooks and a running recording see it as any
//! other track change). A re-air survives a companion restart: what it is playing is kept in
//! the settings table and followed again while OBS still has the source.
//!
//! A scheduled set may carry a re-air ([`crate::schedule::ReAirPlan`]): the scheduler starts it
//! with the set (in the set's scene; the set starts its targets), and the set ends with it when
//! it is over before the set's end: played to the end without loop, stopped, or lost in OBS.
use std::time::Duration;

use deckcast_protocol::nowplaying::Track;
use serde::{Deserialize, Serialize};

use super::{App, AppError};
use crate::obs::{MediaPhase, MediaPlayback};
use crate::store::HistoryKind;
use crate::tracklist;

/// The media source Deckcast adds for a re-air (its name in OBS).
pub const REAIR_INPUT: &str = "Deckcast re-air";
/// How often the player reads the media source's position (Now Playing is at most this late,
/// plus one obs-websocket round trip).
pub const TICK: Duration = Duration::from_millis(200);
/// How long OBS may take to start playing the file before the re-air gives up.
pub const START_TIMEOUT_MS: i64 = 15_000;
/// The settings key that keeps the re-air playing now (JSON), for a restarted companion.
const SETTING: &str = "reair";

/// Why a re-air ended when its file played to the end.
const PLAYED_TO_THE_END: &str = "it played to the end";

/// `POST /reair`: what to play again, where and to whom.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartReAir {
    /// The recording (finished, its file readable).
    pub recording_id: i64,
    /// The scene to play it in (switched to); default: the program scene.
    #[serde(default)]
    pub scene: Option<String>,
    /// Targets to stream it to (started if idle, stopped at the end if the re-air started them).
    #[serde(default)]
    pub targets: Vec<String>,
    /// Play it again and again (a 24/7 channel) until stopped.
    #[serde(default, rename = "loop")]
    pub looped: bool,
}

/// Whether a re-air is playing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReAirState {
    /// Nothing is re-airing.
    Idle,
    /// A recording is playing.
    Playing,
}

/// The tracklist entry on air in a re-air.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReAirTrack {
    /// Its place in the tracklist (from 0).
    pub index: usize,
    /// Where it starts in the file (ms).
    pub offset_ms: i64,
    /// Artist.
    pub artist: String,
    /// Title.
    pub title: String,
}

/// The re-air, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReAir {
    /// Playing or idle.
    pub state: ReAirState,
    /// The recording playing (while idle: the last one played, if any).
    #[schema(required)]
    pub recording_id: Option<i64>,
    /// The scene it plays in.
    #[schema(required)]
    pub scene: Option<String>,
    /// Whether it loops.
    #[serde(rename = "loop")]
    pub looped: bool,
    /// When it started (Unix ms).
    #[schema(required)]
    pub started_ms: Option<i64>,
    /// Where the media source is in the file (ms), as OBS last said.
    #[schema(required)]
    pub position_ms: Option<i64>,
    /// The file's length (ms), as OBS reads it.
    #[schema(required)]
    pub duration_ms: Option<i64>,
    /// How many times it has played to the end and started again (loop).
    pub loops: u32,
    /// The tracklist entry on air.
    #[schema(required)]
    pub track: Option<ReAirTrack>,
    /// Targets the re-air started (stopped when it ends).
    pub targets: Vec<String>,
    /// The scheduled set it belongs to.
    #[schema(required)]
    pub set_id: Option<i64>,
    /// While idle: why the last re-air ended.
    #[schema(required)]
    pub ended: Option<String>,
}

impl ReAir {
    fn idle() -> ReAir {
        ReAir {
            state: ReAirState::Idle,
            recording_id: None,
            scene: None,
            looped: false,
            started_ms: None,
            position_ms: None,
            duration_ms: None,
            loops: 0,
            track: None,
            targets: Vec::new(),
            set_id: None,
            ended: None,
        }
    }
}

/// A re-air under way.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Playing {
    recording_id: i64,
    scene: String,
    looped: bool,
    started_ms: i64,
    /// Targets it started.
    targets: Vec<String>,
    /// The program scene before it (put back at the end if the re-air's is still on).
    previous_scene: Option<String>,
    set_id: Option<i64>,
    /// The recording's tracklist (offsets in the file).
    #[serde(skip)]
    entries: Vec<tracklist::Entry>,
    #[serde(skip)]
    shown: Option<usize>,
    #[serde(skip)]
    position_ms: Option<i64>,
    #[serde(skip)]
    duration_ms: Option<i64>,
    #[serde(skip)]
    loops: u32,
}

impl Playing {
    fn view(&self) -> ReAir {
        ReAir {
            state: ReAirState::Playing,
            recording_id: Some(self.recording_id),
            scene: Some(self.scene.clone()),
            looped: self.looped,
            started_ms: Some(self.started_ms),
            position_ms: self.position_ms,
            duration_ms: self.duration_ms,
            loops: self.loops,
            track: self.shown.map(|i| {
                let e = &self.entries[i];
                ReAirTrack {
                    index: i,
                    offset_ms: e.offset_ms,
                    artist: e.artist.clone(),
                    title: e.title.clone(),
                }
            }),
            targets: self.targets.clone(),
            set_id: self.set_id,
            ended: None,
        }
    }

    /// Takes in what OBS said about the media source. Returns why the re-air is over, or the
    /// entry to put on air now (if it changed).
    fn observe(&mut self, m: &MediaPlayback, now_ms: i64) -> Step {
        let seen_playing = self.position_ms.is_some();
        match m.phase {
            MediaPhase::Ended if !self.looped => return Step::End(PLAYED_TO_THE_END.to_owned()),
            MediaPhase::Error => return Step::End("OBS could not play the file".to_owned()),
            MediaPhase::Stopped | MediaPhase::Idle | MediaPhase::Ended if seen_playing => {
                return Step::End("its media source was stopped in OBS".to_owned());
            }
            MediaPhase::Playing | MediaPhase::Paused => {}
            _ => {
                if !seen_playing && now_ms - self.started_ms > START_TIMEOUT_MS {
                    return Step::End(format!(
                        "OBS did not start playing the file within {} s",
                        START_TIMEOUT_MS / 1000
                    ));
                }
                return Step::Wait;
            }
        }
        let Some(cursor) = m.cursor_ms else {
            return Step::Wait;
        };
        // Back at the start: a loop (a second of slack for a position read early).
        if self.position_ms.is_some_and(|p| cursor + 1000 < p) {
            self.loops += 1;
            self.shown = None;
        }
        self.position_ms = Some(cursor);
        self.duration_ms = m.duration_ms.or(self.duration_ms);
        let at = entry_at(&self.entries, cursor);
        if at == self.shown {
            return Step::Wait;
        }
        self.shown = at;
        match at {
            Some(i) => Step::Show(Track {
                artist: self.entries[i].artist.clone(),
                title: self.entries[i].title.clone(),
                album: None,
                bpm: None,
            }),
            None => Step::Wait,
        }
    }
}

/// What the player does after a look at the media source.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// Nothing new.
    Wait,
    /// Put this track on air.
    Show(Track),
    /// The re-air is over, for this reason.
    End(String),
}

/// The entry on air at `cursor_ms` into the file: the last one that started by then.
fn entry_at(entries: &[tracklist::Entry], cursor_ms: i64) -> Option<usize> {
    entries
        .partition_point(|e| e.offset_ms <= cursor_ms)
        .checked_sub(1)
}

/// The re-air's state in the app.
#[derive(Debug, Default)]
pub(crate) struct ReAirCell {
    /// Held for the whole of a start or a stop (never across a tick's Now Playing call).
    ops: tokio::sync::Mutex<()>,
    now: std::sync::Mutex<Option<Playing>>,
    /// The last re-air, once it ended.
    last: std::sync::Mutex<Option<ReAir>>,
    /// Wakes the player when a re-air starts.
    wake: std::sync::Arc<tokio::sync::Notify>,
    /// Why a set's re-air is over, left by the player for the set's end to record.
    ending: std::sync::Mutex<Option<String>>,
}

impl ReAirCell {
    fn now(&self) -> std::sync::MutexGuard<'_, Option<Playing>> {
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn last(&self) -> std::sync::MutexGuard<'_, Option<ReAir>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl App {
    /// The re-air playing now, or the last one.
    pub fn reair(&self) -> ReAir {
        if let Some(p) = self.reair.now().as_ref() {
            return p.view();
        }
        self.reair.last().clone().unwrap_or_else(ReAir::idle)
    }

    /// Whether a re-air is playing.
    pub fn reair_playing(&self) -> bool {
        self.reair.now().is_some()
    }

    /// Wakes the player task when a re-air starts.
    pub fn reair_wake(&self) -> std::sync::Arc<tokio::sync::Notify> {
        std::sync::Arc::clone(&self.reair.wake)
    }

    /// Plays recording `req.recording_id` again: its file in the media source [`REAIR_INPUT`]
    /// in the scene (switched to), the targets started, Now Playing following its tracklist.
    /// `set_id`: the scheduled set starting it (a set's second ask is answered with the re-air
    /// it already started). Nothing is left changed when it fails.
    pub async fn start_reair(
        &self,
        req: StartReAir,
        set_id: Option<i64>,
    ) -> Result<ReAir, AppError> {
        let _op = self.reair.ops.lock().await;
        if let Some(p) = self.reair.now().as_ref() {
            if set_id.is_some() && p.set_id == set_id {
                return Ok(p.view());
            }
            return Err(AppError::Conflict(format!(
                "recording {} is re-airing; stop it first (POST /api/v1/reair/stop)",
                p.recording_id
            )));
        }
        let id = req.recording_id;
        let row = self.entry(id).await?;
        // Finished, and its file where OBS wrote it (the same checks as a download).
        self.recording_file(id).await?;
        let Some(file) = row.path.clone() else {
            return Err(AppError::NotFound(format!(
                "OBS named no file for recording {id}"
            )));
        };
        let entries = self.tracklist(id, None, None).await?.entries;
        self.check_targets(&req.targets)?;
        let link = self.obs()?;
        let previous = link.program_scene().await?;
        let scene = match req.scene {
            None => previous.clone(),
            Some(s) => {
                let scenes = link.scene_names().await?;
                if !scenes.contains(&s) {
                    return Err(AppError::NotFound(format!(
                        "OBS has no scene named '{s}' (scenes: {})",
                        scenes.join(", ")
                    )));
                }
                s
            }
        };
        let mut p = Playing {
            recording_id: id,
            scene: scene.clone(),
            looped: req.looped,
            started_ms: self.now_ms(),
            targets: Vec::new(),
            previous_scene: (previous != scene).then_some(previous),
            set_id,
            entries,
            shown: None,
            position_ms: None,
            duration_ms: None,
            loops: 0,
        };
        if p.previous_scene.is_some() {
            link.set_program_scene(&scene).await?;
        }
        if let Err(e) = link
            .play_media(&scene, REAIR_INPUT, &file, req.looped)
            .await
        {
            self.undo_reair(&p).await;
            return Err(e.into());
        }
        let snap = self.live.get();
        let mut wanted = req.targets.clone();
        wanted.sort();
        wanted.dedup();
        for t in &wanted {
            if snap
                .targets
                .iter()
                .any(|x| &x.id == t && x.state.is_active())
            {
                continue;
            }
            self.push_key(&link, t).await;
            if let Err(e) = self.start_target(t).await {
                self.undo_reair(&p).await;
                return Err(e);
            }
            p.targets.push(t.clone());
        }
        self.keep_reair(Some(&p)).await;
        let view = p.view();
        let mut message = format!("re-air of recording #{id} started in scene '{scene}'");
        if req.looped {
            message.push_str(", looping");
        }
        if !p.targets.is_empty() {
            message.push_str(&format!(", streaming to {}", p.targets.join(", ")));
        }
        *self.reair.now() = Some(p);
        self.record(HistoryKind::ReAir, None, message).await;
        self.reair.wake.notify_one();
        Ok(view)
    }

    /// Stops the re-air: the media source removed, the targets it started stopped, the scene
    /// before it back on (if the re-air's is still on); a scheduled set's re-air ends its set.
    /// Refused while OBS is not connected (nothing could be undone then).
    pub async fn stop_reair(&self) -> Result<ReAir, AppError> {
        let set_id = {
            let _op = self.reair.ops.lock().await;
            let Some(set_id) = self.reair.now().as_ref().map(|p| p.set_id) else {
                return Err(AppError::Conflict("no re-air is playing".to_owned()));
            };
            // Without OBS nothing could be undone: the re-air stays, to be stopped once OBS is
            // back.
            self.obs()?;
            set_id
        };
        if let Some(set) = set_id {
            // A scheduled re-air stopped ends its set (its targets first, as at its end).
            self.end_set_reair(set, "stopped".to_owned()).await;
            return Ok(self.reair());
        }
        let _op = self.reair.ops.lock().await;
        let taken = self.reair.now().take();
        let Some(p) = taken else {
            return Err(AppError::Conflict("no re-air is playing".to_owned()));
        };
        Ok(self.end_reair(p, "stopped".to_owned()).await)
    }

    /// Stops the re-air of scheduled set `set_id`, if one plays (the set ended).
    pub async fn stop_set_reair(&self, set_id: i64) {
        let _op = self.reair.ops.lock().await;
        let mine = {
            let mut now = self.reair.now();
            if now.as_ref().is_some_and(|p| p.set_id == Some(set_id)) {
                now.take()
            } else {
                None
            }
        };
        if let Some(p) = mine {
            let why = self
                .reair
                .ending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_else(|| "its set ended".to_owned());
            self.end_reair(p, why).await;
        }
    }

    /// Follows a re-air a previous companion started, if OBS still plays it (serve start).
    pub async fn resume_reair(&self) {
        let kept = match self.db.call(|s| s.setting(SETTING)).await {
            Ok(Some(v)) => v,
            Ok(None) => return,
            Err(e) => {
                tracing::error!("re-air: {e}");
                return;
            }
        };
        let Ok(mut p) = serde_json::from_str::<Playing>(&kept) else {
            self.keep_reair(None).await;
            return;
        };
        match self.tracklist(p.recording_id, None, None).await {
            Ok(t) => p.entries = t.entries,
            Err(e) => {
                tracing::warn!("re-air of recording #{}: {e}", p.recording_id);
                self.keep_reair(None).await;
                return;
            }
        }
        let _op = self.reair.ops.lock().await;
        let mut now = self.reair.now();
        if now.is_some() {
            return; // one started meanwhile (the API or a set)
        }
        tracing::info!(
            "following the re-air of recording #{} a previous run started",
            p.recording_id
        );
        *now = Some(p);
        drop(now);
        self.reair.wake.notify_one();
    }

    /// One look at the media source (the player task, every [`TICK`]): the track at its
    /// position on air, or the re-air ended.
    pub async fn reair_tick(&self) {
        // Which re-air this look is for: one stopped and another started while OBS answered
        // is left alone.
        let Some(this) = self.reair.now().as_ref().map(|p| p.started_ms) else {
            return;
        };
        let Some(link) = self.link() else {
            return; // OBS away: the supervisor reconnects, the re-air waits
        };
        let m = match link.media_playback(REAIR_INPUT).await {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("re-air: reading the media source: {e}");
                return;
            }
        };
        let now = self.now_ms();
        let step = {
            let mut g = self.reair.now();
            let Some(p) = g.as_mut().filter(|p| p.started_ms == this) else {
                return;
            };
            match m {
                None => Step::End("its media source was removed in OBS".to_owned()),
                Some(m) => p.observe(&m, now),
            }
        };
        match step {
            Step::Wait => {}
            Step::Show(track) => {
                let label = tracklist::label(&track.artist, &track.title);
                if let Err(e) = self.set_now_playing(track).await {
                    tracing::warn!("re-air: putting {label} on air: {e}");
                }
            }
            Step::End(reason) => {
                let set_id = self
                    .reair
                    .now()
                    .as_ref()
                    .filter(|p| p.started_ms == this)
                    .and_then(|p| p.set_id);
                if let Some(set) = set_id {
                    // The set ends with its re-air, whatever ended it.
                    self.end_set_reair(set, reason).await;
                    return;
                }
                let _op = self.reair.ops.lock().await;
                let taken = self.reair.now().take_if(|p| p.started_ms == this);
                if let Some(p) = taken {
                    self.end_reair(p, reason).await;
                }
            }
        }
    }

    /// Ends scheduled set `set` because its re-air is over (`reason`): the set's targets stop
    /// first (nothing else goes out on them), then the re-air, recorded with `reason`.
    async fn end_set_reair(&self, set: i64, reason: String) {
        *self.reair.ending.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
        if let Err(e) = self.end_set_now(set).await {
            tracing::warn!("re-air: ending set {set}: {e}");
        }
        // A set no longer running leaves its re-air to be ended here.
        self.stop_set_reair(set).await;
        self.reair
            .ending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// Undoes what a re-air changed in OBS and records why it ended.
    async fn end_reair(&self, p: Playing, reason: String) -> ReAir {
        self.undo_reair(&p).await;
        self.keep_reair(None).await;
        self.record(
            HistoryKind::ReAir,
            None,
            format!("re-air of recording #{} ended: {reason}", p.recording_id),
        )
        .await;
        let mut view = p.view();
        view.state = ReAirState::Idle;
        view.ended = Some(reason);
        *self.reair.last() = Some(view.clone());
        view
    }

    /// The media source removed, the targets `p` started stopped, its scene left for the one
    /// before (if it is still on). Failures are logged: the rest still runs.
    async fn undo_reair(&self, p: &Playing) {
        let Some(link) = self.link() else {
            return;
        };
        if let Err(e) = link.remove_input(REAIR_INPUT).await {
            tracing::warn!("re-air: {e}");
        }
        for t in &p.targets {
            if let Err(e) = self.stop_target(t).await {
                tracing::warn!("re-air: stopping {t}: {e}");
            }
        }
        if let Some(previous) = &p.previous_scene
            && link.program_scene().await.ok().as_deref() == Some(p.scene.as_str())
            && let Err(e) = link.set_program_scene(previous).await
        {
            tracing::warn!("re-air: back to scene '{previous}': {e}");
        }
    }

    /// Keeps (or forgets) the re-air playing now, for a restarted companion.
    async fn keep_reair(&self, p: Option<&Playing>) {
        let value = p.and_then(|p| serde_json::to_string(p).ok());
        if let Err(e) = self
            .db
            .call(move |s| s.set_setting(SETTING, value.as_deref()))
            .await
        {
            tracing::error!("re-air: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_s: i64, title: &str) -> tracklist::Entry {
        tracklist::Entry {
            offset_ms: at_s * 1000,
            offset: String::new(),
            duration_ms: 0,
            artist: "A".into(),
            title: title.into(),
        }
    }

    fn playing(looped: bool) -> Playing {
        Playing {
            recording_id: 1,
            scene: "Re-air".into(),
            looped,
            started_ms: 0,
            targets: Vec::new(),
            previous_scene: None,
            set_id: None,
            entries: vec![entry(1, "One"), entry(8, "Two"), entry(14, "Three")],
            shown: None,
            position_ms: None,
            duration_ms: None,
            loops: 0,
        }
    }

    fn at(phase: MediaPhase, cursor_s: f64) -> MediaPlayback {
        MediaPlayback {
            phase,
            cursor_ms: Some((cursor_s * 1000.0) as i64),
            duration_ms: Some(20_000),
        }
    }

    fn shown(step: Step) -> Option<String> {
        match step {
            Step::Show(t) => Some(t.title),
            _ => None,
        }
    }

    #[test]
    fn the_entry_on_air_is_the_last_one_started_by_the_position() {
        let e = playing(false).entries;
        assert_eq!(entry_at(&e, 0), None);
        assert_eq!(entry_at(&e, 999), None);
        assert_eq!(entry_at(&e, 1000), Some(0));
        assert_eq!(entry_at(&e, 7999), Some(0));
        assert_eq!(entry_at(&e, 8000), Some(1));
        assert_eq!(entry_at(&e, 60_000), Some(2));
        assert_eq!(entry_at(&[], 5000), None);
    }

    #[test]
    fn each_track_goes_on_air_once_as_the_position_reaches_it() {
        let mut p = playing(false);
        assert_eq!(p.observe(&at(MediaPhase::Playing, 0.2), 200), Step::Wait);
        assert_eq!(
            shown(p.observe(&at(MediaPhase::Playing, 1.1), 1100)),
            Some("One".into())
        );
        assert_eq!(p.observe(&at(MediaPhase::Playing, 5.0), 5000), Step::Wait);
        assert_eq!(
            shown(p.observe(&at(MediaPhase::Playing, 8.2), 8200)),
            Some("Two".into())
        );
        // Someone seeks back in OBS by less than a second: nothing changes.
        assert_eq!(p.observe(&at(MediaPhase::Playing, 8.0), 8400), Step::Wait);
        assert_eq!(
            shown(p.observe(&at(MediaPhase::Playing, 14.0), 14_000)),
            Some("Three".into())
        );
        assert_eq!(p.view().track.unwrap().index, 2);
        assert_eq!(
            p.observe(
                &MediaPlayback {
                    phase: MediaPhase::Ended,
                    cursor_ms: None,
                    duration_ms: None
                },
                20_100
            ),
            Step::End(PLAYED_TO_THE_END.into())
        );
    }

    #[test]
    fn a_loop_starts_the_tracklist_again() {
        let mut p = playing(true);
        p.observe(&at(MediaPhase::Playing, 1.0), 1000);
        p.observe(&at(MediaPhase::Playing, 19.8), 19_800);
        assert_eq!(p.observe(&at(MediaPhase::Playing, 0.1), 20_200), Step::Wait);
        assert_eq!(p.loops, 1);
        assert_eq!(
            shown(p.observe(&at(MediaPhase::Playing, 1.0), 21_000)),
            Some("One".into())
        );
        // A looping source never ends by itself: one that says so was stopped in OBS.
        assert_eq!(
            p.observe(
                &MediaPlayback {
                    phase: MediaPhase::Ended,
                    cursor_ms: None,
                    duration_ms: None
                },
                22_000
            ),
            Step::End("its media source was stopped in OBS".into())
        );
    }

    #[test]
    fn a_file_obs_never_plays_ends_the_re_air_with_the_reason() {
        let mut p = playing(false);
        let opening = MediaPlayback {
            phase: MediaPhase::Starting,
            cursor_ms: None,
            duration_ms: None,
        };
        assert_eq!(p.observe(&opening, 2000), Step::Wait);
        // Not playing yet and not stopped: a new source may say "none" before it opens.
        let none = MediaPlayback {
            phase: MediaPhase::Idle,
            cursor_ms: None,
            duration_ms: None,
        };
        assert_eq!(p.observe(&none, 3000), Step::Wait);
        assert!(matches!(p.observe(&opening, 16_000), Step::End(r) if r.contains("15 s")));
        let error = MediaPlayback {
            phase: MediaPhase::Error,
            cursor_ms: None,
            duration_ms: None,
        };
        assert!(matches!(p.observe(&error, 100), Step::End(r) if r.contains("could not play")));
    }
}
