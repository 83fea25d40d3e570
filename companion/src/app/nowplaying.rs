//! Now playing: the track on air (from the API, the CLI or a DJ-software reader), a tempo measured
//! outside OBS (`deckcast listen`), the readers' configuration, and tempo readings from OBS.
use deckcast_protocol::nowplaying::{SetNowPlaying, SetTempo, TempoChanged, Track, check_bpm};
use serde::{Deserialize, Serialize};

use super::{App, AppError};
use crate::keys;
use crate::readers::{self, Source};
use crate::store::HistoryKind;
use crate::webhooks::WebhookEvent;

/// How a track change starts in history (reports list the tracks played from it).
pub(crate) const NOW_PLAYING_PREFIX: &str = "now playing: ";

/// `PUT /nowplaying/tempo`: a tempo measured outside OBS.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TempoInput {
    /// The tempo.
    pub bpm: f64,
}

/// The configured DJ-software readers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// The readers.
    pub sources: Vec<Source>,
}

impl App {
    /// Shows `track` in OBS's Now Playing sources if it changed: `SetNowPlaying`, the live
    /// picture, history and the `nowplaying` webhook. Returns false if it was already shown.
    pub async fn set_now_playing(&self, track: Track) -> Result<bool, AppError> {
        let track = track
            .validated()
            .map_err(|e| AppError::invalid(e.message))?;
        let (same, new_track) = {
            let np = self.live.get().now_playing;
            let new_track = np.artist != track.artist || np.title != track.title;
            (
                np.artist == track.artist
                    && np.title == track.title
                    && np.album == track.album
                    && np.library_bpm == track.bpm,
                new_track,
            )
        };
        if same {
            return Ok(false);
        }
        self.obs()?
            .call(&SetNowPlaying {
                track: track.clone(),
            })
            .await?;
        self.live.update(|s| {
            s.now_playing.artist.clone_from(&track.artist);
            s.now_playing.title.clone_from(&track.title);
            s.now_playing.album.clone_from(&track.album);
            s.now_playing.library_bpm = track.bpm;
        });
        if new_track {
            self.recording_track(&track).await;
        }
        self.record(
            HistoryKind::NowPlaying,
            None,
            format!("{NOW_PLAYING_PREFIX}{} – {}", track.artist, track.title),
        )
        .await;
        self.publish(WebhookEvent::NowPlaying {
            artist: track.artist,
            title: track.title,
            album: track.album,
            bpm: track.bpm,
        })
        .await;
        Ok(true)
    }

    /// A live tempo measured outside OBS: the Now Playing sources show it as `{bpm}` while it is
    /// set (`SetTempo`), and the live picture shows it as the live tempo.
    pub async fn set_tempo(&self, input: TempoInput, source: &str) -> Result<(), AppError> {
        let bpm = check_bpm(input.bpm).map_err(|e| AppError::invalid(e.message))?;
        let bpm = (bpm * 10.0).round() / 10.0;
        self.obs()?
            .call(&SetTempo {
                bpm: Some(bpm),
                source: source.to_owned(),
            })
            .await?;
        self.live.update(|s| {
            s.now_playing.bpm = Some(bpm);
            s.now_playing.confidence = None;
            s.now_playing.audio_source = Some(source.to_owned());
        });
        Ok(())
    }

    /// A Now Playing source's stable tempo changed (an OBS event).
    pub fn on_tempo(&self, t: TempoChanged) {
        self.live.update(|s| {
            s.now_playing.bpm = Some(t.bpm);
            s.now_playing.confidence = Some(t.confidence);
            s.now_playing.audio_source = Some(t.audio_source);
        });
    }

    /// The configured readers.
    pub async fn sources(&self) -> Result<Sources, AppError> {
        let raw = self.db.call(|s| s.setting(readers::SOURCES)).await?;
        Ok(Sources {
            sources: raw
                .and_then(|v| serde_json::from_str(&v).ok())
                .unwrap_or_default(),
        })
    }

    /// Replaces the configured readers (they restart with the new list). An Icecast receiver
    /// needs a source password: the one given (stored in the keyring) or one stored before.
    pub async fn set_sources(&self, mut req: Sources) -> Result<Sources, AppError> {
        for s in &req.sources {
            if let Some(why) = s.problem() {
                return Err(AppError::invalid(why));
            }
        }
        let mut given = None;
        let mut icecast = false;
        for s in &mut req.sources {
            if let Source::Icecast { password, .. } = s {
                icecast = true;
                match (password.take(), &given) {
                    (Some(p), Some(g)) if p != *g => {
                        return Err(AppError::invalid(
                            "Icecast receivers share one source password; give the same one to each",
                        ));
                    }
                    (Some(p), _) => given = Some(p),
                    (None, _) => {}
                }
            }
        }
        if let Some(p) = &given {
            self.keys.set_async(keys::ICECAST_PASSWORD, &p.0).await?;
        } else if icecast && self.keys.icecast_password_async().await?.is_none() {
            return Err(AppError::invalid(
                "the Icecast receiver needs a source password: give \"password\" (the one set in Traktor's or Mixxx's broadcast settings)",
            ));
        }
        let raw = serde_json::to_string(&req.sources).unwrap_or_else(|_| "[]".into());
        self.db
            .call(move |s| s.set_setting(readers::SOURCES, Some(&raw)))
            .await?;
        self.sources_changed.send_modify(|v| *v += 1);
        self.record(
            HistoryKind::NowPlayingSource,
            None,
            format!("{} now-playing source(s) configured", req.sources.len()),
        )
        .await;
        Ok(req)
    }
}
