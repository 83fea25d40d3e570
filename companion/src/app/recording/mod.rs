//! Set recording: OBS's own recording (the profile's path, format and encoder), started and
//! stopped by Deckcast or in OBS, followed into the recording library with every track change
//! on air, a chapter in the file at each change (Hybrid MP4), and tracklists for the recording
//! and for each target's own start.
//!
//! Following: OBS's `RecordStateChanged` events open and close the library entry, and a sync
//! every 2 s (and at every connect) catches what events cannot: a companion restarted mid-set
//! finds OBS still recording and carries on with the open entry (tracks and all); a recording
//! started in OBS itself is adopted; one that ended unseen is closed as such. Only the service
//! (`deckcast serve`) follows; one lock serialises opening and closing.
use deckcast_protocol::nowplaying::Track;
use deckcast_protocol::recording::GetRecording;
use deckcast_protocol::targets::TargetState;
use serde::{Deserialize, Serialize};

use super::{App, AppError};
use crate::store::{HistoryKind, LiveTarget, RecordingRow};

mod files;
pub mod guard;
mod publish;
mod sets;
pub mod upload;
use crate::tracklist::{self, Entry, Format, Pause, TrackMark, YoutubeChapters};

pub use crate::library::{
    Chapters, Ending, PublishedTracklist, Recording, RecordingFinished, StartedBy,
};
pub use files::{AudioExport, RecordingDeleted};

/// The setting that holds [`RecordingSettings`].
const SETTINGS: &str = "recording";

/// Recording settings (`GET/PUT /api/v1/recording/settings`); a field left out keeps its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RecordingSettings {
    /// Record whenever OBS's stream or any target is live: started when the first goes live,
    /// stopped when the last one ends (only a recording started this way). Default off.
    pub auto_record: bool,
    /// A track on air for less than this many seconds is not a tracklist entry (0–600,
    /// default 30: a DJ previewing). Chapters in the file are written as the tracks change,
    /// before anyone knows how long they will play, so they include such tracks.
    #[schema(maximum = 600)]
    pub min_track_seconds: u32,
    /// Where OBS's file system is seen from this computer, when OBS runs in a container or a
    /// chroot (an absolute directory; OBS's recording paths are read below it). None (the
    /// default): OBS and the companion see the same files.
    pub obs_root: Option<String>,
}

impl Default for RecordingSettings {
    fn default() -> Self {
        RecordingSettings {
            auto_record: false,
            min_track_seconds: (tracklist::DEFAULT_MIN_TRACK_MS / 1000) as u32,
            obs_root: None,
        }
    }
}

/// How long after its start an entry counts as running although OBS does not report its output
/// active yet (a recording output takes a moment to start).
const STARTING_GRACE_MS: i64 = 10_000;

/// How long a stop waits for OBS to say the recording's file is finished.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The longest [`RecordingSettings::min_track_seconds`].
pub const MAX_MIN_TRACK_SECONDS: u32 = 600;

/// `GET /api/v1/recording`: OBS's recording now and the library entry following it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordingNow {
    /// OBS is recording.
    pub active: bool,
    /// OBS has paused it.
    pub paused: bool,
    /// The entry (none when nothing records).
    #[schema(required)]
    pub recording: Option<Recording>,
}

/// `POST /api/v1/recording/start`: what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordingStarted {
    /// False when OBS was already recording (it is never started twice; the running one is
    /// followed instead).
    pub started: bool,
    /// The entry.
    pub recording: Recording,
}

/// `GET /api/v1/recordings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordingList {
    /// Newest first.
    pub recordings: Vec<Recording>,
}

/// A tracklist in every form: the entries from one start, and the YouTube chapters made from
/// them with what YouTube's rules changed.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tracklist {
    /// The recording.
    pub recording_id: i64,
    /// The target whose stream the offsets count from (none: the recording's start).
    #[schema(required)]
    pub target: Option<LiveTarget>,
    /// The start the offsets count from (Unix ms).
    pub start_ms: i64,
    /// The minimum track length applied (s).
    #[schema(maximum = 600)]
    pub min_track_seconds: u32,
    /// The entries.
    pub entries: Vec<Entry>,
    /// YouTube chapters.
    pub youtube: YoutubeChapters,
}

/// An export ready to send or save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// Its media type.
    pub content_type: &'static str,
    /// A file name for it.
    pub file_name: String,
    /// The text.
    pub body: String,
}

/// How long after OBS's pause or resume event a sync leaves the pauses alone (ms).
const PAUSE_EVENT_GRACE_MS: i64 = 3_000;

/// What the app keeps while following a recording.
#[derive(Debug, Default)]
pub(crate) struct RecordingState {
    /// Held while an entry is opened, updated or closed.
    lock: tokio::sync::Mutex<()>,
    /// Held for the whole of a start (two starts at once would both find OBS idle).
    starting: tokio::sync::Mutex<()>,
    /// Syncs in a row that found OBS not recording while an entry is open (one may fall between
    /// OBS's output stopping and its stopped event).
    idle_syncs: std::sync::atomic::AtomicU32,
    /// The link the last sync ran on (a new one: the first sync after a connect).
    synced_epoch: std::sync::atomic::AtomicU64,
    /// When OBS last said its recording paused or resumed (Unix ms): a sync that read OBS just
    /// before that leaves the pauses alone.
    pause_event_ms: std::sync::atomic::AtomicI64,
    /// The automatic recording's view of the streams.
    auto: std::sync::Mutex<AutoState>,
    /// Who asked for the recording being started now (read when its entry opens).
    pending: std::sync::Mutex<Option<(StartedBy, Option<i64>)>>,
    /// Why the recording being stopped now ends, when not simply "clean": (its entry, the
    /// ending), read when that entry closes.
    pending_ending: std::sync::Mutex<Option<(i64, Ending)>>,
    /// Held while a finished file is changed: chapters remuxed in, an audio-only copy made,
    /// the file deleted (none of them may run into another).
    files: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The disk-space guard's view of the running recording.
    guard: std::sync::Mutex<guard::DiskGuard>,
    /// Wakes the uploader when an upload is queued.
    upload_wake: std::sync::Arc<tokio::sync::Notify>,
}

/// What the automatic recording remembers between its ticks.
#[derive(Debug, Default)]
struct AutoState {
    /// The link the picture below was read on (a new one: wait for the polls first).
    epoch: u64,
    /// Until when not to act (Unix ms): after a (re)connect the live picture is being rebuilt.
    settle_until_ms: i64,
    /// Whether something was live at the last tick.
    was_live: bool,
    /// Since when nothing has been live (Unix ms).
    idle_since_ms: Option<i64>,
}

/// How long the automatic recording waits after a (re)connect before it trusts the picture.
const AUTO_SETTLE_MS: i64 = 5_000;
/// How long nothing must be live before the automatic recording stops (a stream restarted
/// quickly does not split the file).
const AUTO_STOP_AFTER_MS: i64 = 10_000;

fn container(path: &str) -> Option<String> {
    let name = path.rsplit(['/', '\\']).next()?;
    let (_, ext) = name.rsplit_once('.')?;
    (!ext.is_empty() && ext.len() <= 8).then(|| ext.to_ascii_lowercase())
}

fn file_name(path: Option<&str>, id: i64) -> String {
    path.and_then(|p| p.rsplit(['/', '\\']).next())
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("recording-{id}"))
}

impl App {
    fn auto_state(&self) -> std::sync::MutexGuard<'_, AutoState> {
        self.recording
            .auto
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn pending_starter(&self) -> std::sync::MutexGuard<'_, Option<(StartedBy, Option<i64>)>> {
        self.recording
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn pending_ending(&self) -> std::sync::MutexGuard<'_, Option<(i64, Ending)>> {
        self.recording
            .pending_ending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The recording settings.
    pub async fn recording_settings(&self) -> Result<RecordingSettings, AppError> {
        let raw = self.db.call(|s| s.setting(SETTINGS)).await?;
        Ok(raw
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default())
    }

    /// Replaces the recording settings.
    pub async fn set_recording_settings(
        &self,
        settings: RecordingSettings,
    ) -> Result<RecordingSettings, AppError> {
        if settings.min_track_seconds > MAX_MIN_TRACK_SECONDS {
            return Err(AppError::invalid(format!(
                "minTrackSeconds must be 0–{MAX_MIN_TRACK_SECONDS}, not {}",
                settings.min_track_seconds
            )));
        }
        if let Some(root) = settings.obs_root.clone() {
            tokio::task::spawn_blocking(move || crate::recfiles::check_root(&root))
                .await
                .map_err(|e| AppError::invalid(e.to_string()))?
                .map_err(AppError::invalid)?;
        }
        let raw = serde_json::to_string(&settings).unwrap_or_default();
        self.db
            .call(move |s| s.set_setting(SETTINGS, Some(&raw)))
            .await?;
        Ok(settings)
    }

    async fn view(&self, row: RecordingRow) -> Result<Recording, AppError> {
        let min_ms = i64::from(self.recording_settings().await?.min_track_seconds) * 1000;
        let id = row.id;
        let (marks, pauses) = self.marks_and_pauses(id).await?;
        let end = row.ended_ms.unwrap_or_else(|| self.now_ms());
        Ok(Recording {
            id: row.id,
            format: row.path.as_deref().and_then(container),
            file: row.path,
            started_ms: row.started_ms,
            ended_ms: row.ended_ms,
            // The file's length: paused time is not in it.
            duration_ms: tracklist::file_offset(&pauses, row.started_ms, end),
            bytes: row.bytes,
            set_id: row.set_id,
            started_by: StartedBy::parse(&row.started_by),
            targets: row.targets,
            chapters: Chapters::parse(&row.chapters),
            ending: row.ending.as_deref().map(Ending::parse),
            tracks: tracklist::recording_entries(&marks, &pauses, row.started_ms, end, min_ms),
            sha256: row.sha256,
        })
    }

    /// Entry `id`'s track changes and pauses: what its tracklist is made from.
    async fn marks_and_pauses(&self, id: i64) -> Result<(Vec<TrackMark>, Vec<Pause>), AppError> {
        Ok(self
            .db
            .call(move |s| Ok((s.recording_tracks(id)?, s.recording_pauses(id)?)))
            .await?)
    }

    pub(crate) async fn entry(&self, id: i64) -> Result<RecordingRow, AppError> {
        self.db
            .call(move |s| s.recording(id))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no recording with id {id}")))
    }

    /// OBS's recording now and the entry following it.
    pub async fn recording_now(&self) -> Result<RecordingNow, AppError> {
        let out = self.obs()?.record_output().await?;
        let open = self.db.call(|s| s.open_recording_row()).await?;
        let recording = match open {
            Some(row) if out.active => Some(self.view(row).await?),
            _ => None,
        };
        Ok(RecordingNow {
            active: out.active,
            paused: out.paused,
            recording,
        })
    }

    /// Starts OBS's recording, unless it already records (then the running one is followed and
    /// `started` is false). `set_id`: the scheduled set it is for.
    pub async fn start_recording(
        &self,
        by: StartedBy,
        set_id: Option<i64>,
    ) -> Result<RecordingStarted, AppError> {
        let obs = self.obs()?;
        let _starting = self.recording.starting.lock().await;
        let out = obs.record_output().await?;
        // OBS reports a recording active only once its output has started: an entry opened
        // by a start a moment ago counts too.
        let open = self.db.call(|s| s.open_recording_row()).await?;
        let fresh = open
            .as_ref()
            .is_some_and(|r| r.started_ms > self.now_ms() - STARTING_GRACE_MS);
        if !out.active && open.is_some() && !fresh {
            // Left open by a recording that ended unseen (the sync closes it soon anyway).
            self.end_recording(None, Ending::Unobserved).await?;
        } else if out.active || fresh {
            let row = self.follow_recording(out.duration_ms).await?;
            return Ok(RecordingStarted {
                started: false,
                recording: self.view(row).await?,
            });
        }
        *self.pending_starter() = Some((by, set_id));
        let started = match obs.start_recording().await {
            Ok(started) => started,
            Err(e) => {
                *self.pending_starter() = None;
                return Err(e.into());
            }
        };
        if !started {
            *self.pending_starter() = None;
        }
        let row = self.follow_recording(0).await?;
        Ok(RecordingStarted {
            started,
            recording: self.view(row).await?,
        })
    }

    /// Stops OBS's recording and closes its entry.
    pub async fn stop_recording(&self) -> Result<Recording, AppError> {
        let obs = self.obs()?;
        if !obs.record_output().await?.active {
            return Err(AppError::Conflict("OBS is not recording".into()));
        }
        let open = self.db.call(|s| s.open_recording_row()).await?;
        let path = obs.stop_recording().await?;
        // OBS finishes the file (an MP4's index, its chapters) after the request returns and
        // says so with its stopped event, which closes the entry: wait for that, then close it
        // here if the event never came.
        if let Some(open) = open {
            let deadline = tokio::time::Instant::now() + STOP_WAIT;
            while tokio::time::Instant::now() < deadline {
                let row = self.entry(open.id).await?;
                if row.ended_ms.is_some() {
                    return self.view(row).await;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        let row = self
            .end_recording(Some(path), Ending::Clean)
            .await?
            .ok_or_else(|| AppError::Conflict("OBS is not recording".into()))?;
        self.view(row).await
    }

    /// The open entry, opened now if there is none (OBS has been recording for `elapsed_ms`).
    async fn follow_recording(&self, elapsed_ms: i64) -> Result<RecordingRow, AppError> {
        let _held = self.recording.lock.lock().await;
        if let Some(row) = self.db.call(|s| s.open_recording_row()).await? {
            return Ok(row);
        }
        let started_ms = self.now_ms() - elapsed_ms.max(0);
        let pending = self.pending_starter().take();
        let (by, set_id) = match pending {
            Some(p) => p,
            None => (self.started_in_obs_by().await, None),
        };
        let id = self
            .db
            .call(move |s| {
                s.open_recording(started_ms, by.as_str(), set_id, Chapters::Pending.as_str())
            })
            .await?;
        // The track on air when it started is its first entry.
        let np = self.live.get().now_playing;
        if !np.title.is_empty() || !np.artist.is_empty() {
            let mark = TrackMark {
                at_ms: started_ms,
                artist: np.artist,
                title: np.title,
            };
            self.db
                .call(move |s| s.add_recording_track(id, &mark))
                .await?;
        }
        let what = match by {
            StartedBy::Obs => "recording started in OBS; Deckcast follows it",
            StartedBy::Api => "recording started",
            StartedBy::Schedule => "recording started for the scheduled set",
            StartedBy::Live => "recording started: a stream went live (automatic recording)",
            StartedBy::Dock => "recording started from the Deckcast dock in OBS",
            StartedBy::Hotkey => "recording started with the Deckcast hotkey in OBS",
            StartedBy::Vendor => "recording started by an obs-websocket client (StartRecording)",
        };
        self.record(HistoryKind::Recording, None, format!("{what} (#{id})"))
            .await;
        let mut row = self.entry(id).await?;
        self.note_live_targets(&mut row);
        if !row.targets.is_empty() {
            let r = row.clone();
            self.db.call(move |s| s.update_recording(&r)).await?;
        }
        Ok(row)
    }

    /// Who started the running recording, for one the companion did not start itself: the
    /// plugin's mark (dock, hotkey, vendor request), or OBS when there is none or the plugin
    /// cannot say.
    async fn started_in_obs_by(&self) -> StartedBy {
        let Ok(obs) = self.obs() else {
            return StartedBy::Obs;
        };
        match obs.call(&GetRecording {}).await {
            Ok(status) => StartedBy::in_obs(status.started_by),
            Err(e) => {
                tracing::debug!("GetRecording: {e}");
                StartedBy::Obs
            }
        }
    }

    /// Closes the open entry, if any: ended now, with the file OBS named.
    async fn end_recording(
        &self,
        path: Option<String>,
        ending: Ending,
    ) -> Result<Option<RecordingRow>, AppError> {
        let _held = self.recording.lock.lock().await;
        let Some(row) = self.db.call(|s| s.open_recording_row()).await? else {
            return Ok(None);
        };
        // Deckcast stopped this entry's recording for a reason of its own: that is how it ended
        // (a reason noted for another entry is stale and goes).
        let ending = match self.pending_ending().take() {
            Some((rid, why)) if rid == row.id => why,
            _ => ending,
        };
        let (id, now) = (row.id, self.now_ms());
        self.db
            .call(move |s| s.finish_recording(id, now, path.as_deref(), ending.as_str()))
            .await?;
        let row = self.entry(id).await?;
        let message = match ending {
            Ending::Clean => format!(
                "recording #{id} finished: {}",
                row.path.as_deref().unwrap_or("(no file named)")
            ),
            Ending::Unobserved => {
                format!(
                    "recording #{id} had ended when Deckcast looked again; the file may be cut short"
                )
            }
            Ending::DiskSpace => format!(
                "recording #{id} finished before the disk was full: {}",
                row.path.as_deref().unwrap_or("(no file named)")
            ),
        };
        self.record(HistoryKind::Recording, None, message).await;
        self.announce_finished(&row).await;
        Ok(Some(row))
    }

    /// OBS's recording started or stopped (an OBS event; service only).
    pub async fn on_recording_event(&self, active: bool, path: Option<String>) {
        if !self.follows_obs() {
            return;
        }
        let r = if active {
            self.follow_recording(0).await.map(|_| ())
        } else {
            match self.end_recording(path.clone(), Ending::Clean).await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => self.correct_late_stop(path).await,
                Err(e) => Err(e),
            }
        };
        if let Err(e) = r {
            tracing::error!("recording library: {e}");
        }
    }

    /// OBS said its recording stopped, but the entry is closed already: if the sync closed it as
    /// unobserved a moment ago, OBS's word (a clean stop, and the file) wins.
    async fn correct_late_stop(&self, path: Option<String>) -> Result<(), AppError> {
        let _held = self.recording.lock.lock().await;
        let Some(last) = self.db.call(|s| s.last_finished_recording()).await? else {
            return Ok(());
        };
        let recent = last.ended_ms.is_some_and(|e| e > self.now_ms() - 30_000);
        if recent && last.ending.as_deref() == Some(Ending::Unobserved.as_str()) {
            let id = last.id;
            self.db
                .call(move |s| s.correct_ending(id, path.as_deref(), Ending::Clean.as_str()))
                .await?;
            self.record(
                HistoryKind::Recording,
                None,
                format!("recording #{id} finished cleanly after all (OBS said so late)"),
            )
            .await;
        }
        Ok(())
    }

    /// Brings the library in line with OBS (every 2 s and at every connect; service only):
    /// adopts a recording nobody told it about, closes one that ended unseen, and keeps the
    /// open entry's file, size and live targets current.
    pub async fn sync_recording(&self) -> Result<(), AppError> {
        if !self.follows_obs() {
            return Ok(());
        }
        use std::sync::atomic::Ordering;
        let obs = self.obs()?;
        let epoch = self.link_with_epoch().1;
        let first_since_connect =
            self.recording.synced_epoch.swap(epoch, Ordering::AcqRel) != epoch;
        let out = obs.record_output().await?;
        if !out.active {
            let open = self.db.call(|s| s.open_recording_row()).await?;
            // A start a moment ago may not show as active yet, and a stop may show before OBS's
            // stopped event arrives: two syncs in a row (one at a connect) before it counts.
            let now = self.now_ms();
            let idle = (self.recording.idle_syncs.load(Ordering::Acquire) + 1).min(10);
            self.recording.idle_syncs.store(idle, Ordering::Release);
            if open.is_some_and(|r| r.started_ms <= now - STARTING_GRACE_MS)
                && (idle >= 2 || first_since_connect)
            {
                self.end_recording(None, Ending::Unobserved).await?;
            }
            return Ok(());
        }
        self.recording.idle_syncs.store(0, Ordering::Release);
        let file = match obs.call(&GetRecording {}).await {
            Ok(status) => status.file,
            Err(e) => {
                tracing::debug!("GetRecording: {e}");
                None
            }
        };
        // The open entry is of another file: OBS stopped and started again while the
        // companion was away.
        if let Some(open) = self.db.call(|s| s.open_recording_row()).await?
            && let (Some(was), Some(now)) = (&open.path, &file)
            && was != now
        {
            self.end_recording(None, Ending::Unobserved).await?;
        }
        self.follow_recording(out.duration_ms).await?;
        let _held = self.recording.lock.lock().await;
        let Some(mut row) = self.db.call(|s| s.open_recording_row()).await? else {
            return Ok(());
        };
        let before = row.clone();
        if row.path.is_none() {
            row.path = file;
        }
        row.bytes = out.bytes;
        self.note_live_targets(&mut row);
        let (id, now) = (row.id, self.now_ms());
        if row != before {
            self.db.call(move |s| s.update_recording(&row)).await?;
        }
        // OBS's word on pausing, in case its event was missed (a restart, a dropped link); not
        // right after an event, which this sync's reading may predate.
        if now - self.recording.pause_event_ms.load(Ordering::Acquire) > PAUSE_EVENT_GRACE_MS {
            self.note_pause(id, out.paused, now).await?;
        }
        Ok(())
    }

    /// OBS's recording paused or resumed (an OBS event; service only): the tracklist's offsets
    /// leave the pause out.
    pub async fn on_recording_paused(&self, paused: bool) {
        use std::sync::atomic::Ordering;
        if !self.follows_obs() {
            return;
        }
        let now = self.now_ms();
        self.recording.pause_event_ms.store(now, Ordering::Release);
        let r: Result<(), AppError> = async {
            let _held = self.recording.lock.lock().await;
            match self.db.call(|s| s.open_recording_row()).await? {
                Some(row) => self.note_pause(row.id, paused, now).await,
                None => Ok(()),
            }
        }
        .await;
        if let Err(e) = r {
            tracing::error!("recording library: {e}");
        }
    }

    /// Opens or closes entry `id`'s pause at `now`, and says so once in the history.
    async fn note_pause(&self, id: i64, paused: bool, now: i64) -> Result<(), AppError> {
        let changed = self
            .db
            .call(move |s| {
                if paused {
                    s.pause_recording(id, now)
                } else {
                    s.resume_recording(id, now)
                }
            })
            .await?;
        if changed {
            let what = if paused { "paused" } else { "resumed" };
            self.record(
                HistoryKind::Recording,
                None,
                format!("recording {what} (#{id})"),
            )
            .await;
        }
        Ok(())
    }

    /// Adds the targets live now (with their own starts) to `row`'s, once each.
    fn note_live_targets(&self, row: &mut RecordingRow) {
        let now = self.now_ms();
        let snap = self.live.get();
        let mut live: Vec<LiveTarget> = snap
            .targets
            .iter()
            .filter(|t| t.state == TargetState::Live)
            .map(|t| LiveTarget {
                id: t.id.clone(),
                name: t.name.clone(),
                started_ms: now - (t.uptime_sec * 1000.0) as i64,
            })
            .collect();
        if snap.main_stream.active {
            live.push(LiveTarget {
                id: "obs".into(),
                name: "OBS stream".into(),
                started_ms: now - snap.main_stream.duration_ms,
            });
        }
        for t in live {
            if !row.targets.iter().any(|k| k.id == t.id) {
                row.targets.push(t);
            }
        }
    }

    /// The automatic recording (every 2 s, service only, when `autoRecord` is on): starts OBS's
    /// recording when OBS's stream or a target goes live and nothing records; stops a recording
    /// it started itself once nothing has been live for 10 s. Recordings started any other way
    /// are left alone; for 5 s after a (re)connect it only watches.
    pub async fn auto_record(&self) -> Result<(), AppError> {
        if !self.follows_obs() || self.link().is_none() {
            return Ok(());
        }
        if !self.recording_settings().await?.auto_record {
            // Turned on later, it starts from "nothing was live".
            *self.auto_state() = AutoState::default();
            return Ok(());
        }
        let (_, epoch) = self.link_with_epoch();
        let now = self.now_ms();
        let snap = self.live.get();
        let live = snap.main_stream.active || snap.targets.iter().any(|t| t.state.is_active());
        // Act on a change only: from nothing live to live starts (once per live period, so a
        // recording the DJ stopped, or one OBS could not start, is not started again and
        // again); nothing live for a while stops one this started.
        let (start, stop_due) = {
            let mut a = self.auto_state();
            if a.epoch != epoch {
                // A new link (or just turned on): from "nothing was live", once the polls
                // have rebuilt the picture.
                *a = AutoState {
                    epoch,
                    settle_until_ms: now + AUTO_SETTLE_MS,
                    ..AutoState::default()
                };
                return Ok(());
            }
            if now < a.settle_until_ms {
                return Ok(());
            }
            let start = live && !a.was_live;
            a.was_live = live;
            if live {
                a.idle_since_ms = None;
            } else if a.idle_since_ms.is_none() {
                a.idle_since_ms = Some(now);
            }
            let stop_due = a
                .idle_since_ms
                .is_some_and(|since| now - since >= AUTO_STOP_AFTER_MS);
            (start, stop_due)
        };
        let open = self.db.call(|s| s.open_recording_row()).await?;
        match open {
            None if start => {
                let r = self.start_recording(StartedBy::Live, None).await?;
                tracing::info!(
                    "automatic recording: #{} {}",
                    r.recording.id,
                    if r.started { "started" } else { "followed" }
                );
            }
            Some(row) if stop_due && StartedBy::parse(&row.started_by) == StartedBy::Live => {
                let r = self.stop_recording().await?;
                tracing::info!("automatic recording: #{} stopped, nothing is live", r.id);
            }
            _ => {}
        }
        Ok(())
    }

    /// A new track went on air (from [`App::set_now_playing`]): a mark in the running
    /// recording's tracklist and a chapter in its file.
    pub(crate) async fn recording_track(&self, track: &Track) {
        if !self.follows_obs() {
            return;
        }
        let r: Result<(), AppError> = async {
            let Some(row) = self.db.call(|s| s.open_recording_row()).await? else {
                return Ok(());
            };
            let mark = TrackMark {
                at_ms: self.now_ms(),
                artist: track.artist.clone(),
                title: track.title.clone(),
            };
            let id = row.id;
            let label = mark.label();
            self.db
                .call(move |s| s.add_recording_track(id, &mark))
                .await?;
            if Chapters::parse(&row.chapters) == Chapters::Unsupported {
                return Ok(());
            }
            let obs = self.obs()?;
            let chapters = match obs.add_record_chapter(&label).await {
                Ok(true) => Chapters::InFile,
                // Refused while paused: this chapter is lost, the next one may go in.
                Ok(false) if obs.record_output().await.is_ok_and(|o| o.paused) => {
                    return Ok(());
                }
                Ok(false) => {
                    self.record(
                        HistoryKind::Recording,
                        None,
                        format!(
                            "recording #{id}: OBS takes no chapters in this recording (chapters need OBS's Hybrid MP4 format, OBS 30.2 or newer); the tracklist keeps every change"
                        ),
                    )
                    .await;
                    Chapters::Unsupported
                }
                Err(e) => {
                    // OBS did not answer: try again at the next change.
                    tracing::warn!("recording #{id}: no chapter for {label}: {e}");
                    return Ok(());
                }
            };
            if Chapters::parse(&row.chapters) != chapters {
                let c = chapters.as_str();
                self.db
                    .call(move |s| s.set_recording_chapters(id, c))
                    .await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = r {
            tracing::error!("recording library: {e}");
        }
    }

    /// The library, newest first (at most `limit`, 1–500).
    pub async fn recordings(&self, limit: u32) -> Result<RecordingList, AppError> {
        let limit = limit.clamp(1, 500);
        let rows = self.db.call(move |s| s.recordings(limit)).await?;
        let mut recordings = Vec::with_capacity(rows.len());
        for row in rows {
            recordings.push(self.view(row).await?);
        }
        Ok(RecordingList { recordings })
    }

    /// One recording.
    pub async fn recording(&self, id: i64) -> Result<Recording, AppError> {
        let row = self.entry(id).await?;
        self.view(row).await
    }

    /// The tracklist of recording `id`, counted from the recording's start or from `target`'s
    /// own (a target id among those live during it), with the minimum track length given or
    /// the configured one.
    pub async fn tracklist(
        &self,
        id: i64,
        target: Option<&str>,
        min_track_seconds: Option<u32>,
    ) -> Result<Tracklist, AppError> {
        let row = self.entry(id).await?;
        let min = match min_track_seconds {
            Some(m) if m > MAX_MIN_TRACK_SECONDS => {
                return Err(AppError::invalid(format!(
                    "minTrackSeconds must be 0–{MAX_MIN_TRACK_SECONDS}, not {m}"
                )));
            }
            Some(m) => m,
            None => self.recording_settings().await?.min_track_seconds,
        };
        let target =
            match target {
                None => None,
                Some(t) => Some(row.targets.iter().find(|k| k.id == t).cloned().ok_or_else(
                    || {
                        let live: Vec<&str> = row.targets.iter().map(|k| k.id.as_str()).collect();
                        AppError::NotFound(format!(
                            "target '{t}' was not live during recording {id} (live then: {})",
                            if live.is_empty() {
                                "none".to_owned()
                            } else {
                                live.join(", ")
                            }
                        ))
                    },
                )?),
            };
        let start_ms = target.as_ref().map_or(row.started_ms, |t| t.started_ms);
        let end = row.ended_ms.unwrap_or_else(|| self.now_ms());
        let (marks, pauses) = self.marks_and_pauses(id).await?;
        let min_ms = i64::from(min) * 1000;
        // The recording's list has the file's offsets (its pauses left out); a target's stream
        // went on while the recording was paused, so its VOD's offsets are wall-clock ones.
        let entries = match target {
            None => tracklist::recording_entries(&marks, &pauses, start_ms, end, min_ms),
            Some(_) => tracklist::entries(&marks, start_ms, end, min_ms),
        };
        Ok(Tracklist {
            recording_id: id,
            target,
            start_ms,
            min_track_seconds: min,
            youtube: tracklist::youtube(&entries),
            entries,
        })
    }

    /// The tracklist of recording `id` in `format`.
    pub async fn export_tracklist(
        &self,
        id: i64,
        format: Format,
        target: Option<&str>,
        min_track_seconds: Option<u32>,
    ) -> Result<Export, AppError> {
        let list = self.tracklist(id, target, min_track_seconds).await?;
        let row = self.entry(id).await?;
        let base = file_name(row.path.as_deref(), id);
        let stem = base.rsplit_once('.').map_or(base.as_str(), |(s, _)| s);
        let suffix = list
            .target
            .as_ref()
            .map(|t| format!("-{}", t.id))
            .unwrap_or_default();
        let body = match format {
            Format::Cue if list.entries.is_empty() => {
                return Err(AppError::Conflict(format!(
                    "recording {id} has no tracks to put in a CUE sheet"
                )));
            }
            Format::Cue => tracklist::cue(&list.entries, &base, "", stem),
            Format::Youtube => list.youtube.text.clone(),
            Format::Text => tracklist::text(&list.entries),
            Format::Mixcloud => serde_json::to_string_pretty(&tracklist::MixcloudSections {
                sections: tracklist::mixcloud(&list.entries),
            })
            .unwrap_or_default(),
            Format::Json => serde_json::to_string_pretty(&list).unwrap_or_default(),
        };
        Ok(Export {
            content_type: format.content_type(),
            file_name: format!(
                "{stem}{suffix}{}.{}",
                if format == Format::Youtube {
                    "-youtube"
                } else {
                    ""
                },
                format.extension()
            ),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_and_names_come_from_the_file() {
        assert_eq!(
            container("/rec/2026-12-01 21-00-00.mp4").as_deref(),
            Some("mp4")
        );
        assert_eq!(container("C:\\rec\\set.MKV").as_deref(), Some("mkv"));
        assert_eq!(container("/rec/noext"), None);
        assert_eq!(file_name(Some("/rec/a b.mp4"), 3), "a b.mp4");
        assert_eq!(file_name(None, 3), "recording-3");
    }

    #[test]
    fn wire_names_round_trip() {
        for c in [Chapters::Pending, Chapters::InFile, Chapters::Unsupported] {
            assert_eq!(Chapters::parse(c.as_str()), c);
        }
        assert_eq!(StartedBy::parse("schedule"), StartedBy::Schedule);
        assert_eq!(Ending::parse("unobserved"), Ending::Unobserved);
    }
}
