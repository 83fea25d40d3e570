//! A dedicated encoder's bitrate while live: [`SetTargetVideoBitrate`] runs it below its config's
//! bitrate (the companion's protection does this while a link cannot carry the stream) and back.
//! The config is not changed: the lowered bitrate lasts while an output streams from the
//! encoder; once none does, the encoder is put back at its config's bitrate.
use deckcast_protocol::targets::{
    EncoderChoice, EncoderConfig, MIN_VIDEO_KBPS, SetTargetVideoBitrate, VideoBitrate,
};
use deckcast_protocol::{Error, ErrorCode};

use super::Engine;
use crate::targets::host::{EncoderSpec, Host, Level};

impl<H: Host> Engine<H> {
    /// The dedicated encoder config target `id` streams from: while it is active, the one its
    /// output was built from (a config edited since applies at the next start); else the
    /// profile's. `None` for a shared-encoder target.
    pub(super) fn running_config(&self, id: &str) -> Option<EncoderConfig> {
        if let Some(rt) = self.runtime.get(id)
            && rt.state.is_active()
            && let Some(built) = &rt.built
        {
            return match &built.encoder {
                EncoderSpec::Dedicated(cfg) => Some(cfg.clone()),
                EncoderSpec::Shared => None,
            };
        }
        match &self.config(id).ok()?.encoder {
            EncoderChoice::Shared => None,
            EncoderChoice::Dedicated { config_id } => self.encoder_config(config_id).cloned(),
        }
    }

    /// What target `id`'s dedicated encoder is set to and runs at.
    pub(super) fn video_bitrate(&self, id: &str) -> Option<VideoBitrate> {
        let cfg = self.running_config(id)?;
        Some(VideoBitrate {
            configured_kbps: cfg.bitrate_kbps,
            applied_kbps: self.applied_kbps(&cfg),
            adjustable: self.host.bitrate_adjustable(&cfg.encoder),
        })
    }

    /// The video bitrate the encoder built from `cfg` runs at.
    fn applied_kbps(&self, cfg: &EncoderConfig) -> u32 {
        self.bitrates
            .get(&cfg.id)
            .filter(|(built, _)| built == cfg)
            .map_or(cfg.bitrate_kbps, |(_, kbps)| *kbps)
    }

    /// Active targets streaming from the same encoders as `id` (itself included; 0 if it is
    /// not active).
    pub(super) fn encoder_users(&self, id: &str) -> u32 {
        let active = |t: &str| self.runtime.get(t).is_some_and(|r| r.state.is_active());
        let Ok(mine) = self.config(id) else { return 0 };
        if !active(id) {
            return 0;
        }
        let n = self
            .file
            .targets
            .iter()
            .filter(|t| t.encoder == mine.encoder && active(&t.id))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// `SetTargetVideoBitrate`.
    pub(super) fn set_video_bitrate(
        &mut self,
        r: SetTargetVideoBitrate,
    ) -> Result<VideoBitrate, Error> {
        let name = self.config(&r.id)?.name.clone();
        let conflict = |m: String| Error::new(ErrorCode::Conflict, m);
        let cfg = self.running_config(&r.id).ok_or_else(|| {
            conflict(format!(
                "target {name:?} streams from OBS's own encoder, whose bitrate Deckcast does not change (give it a dedicated encoder)"
            ))
        })?;
        let want = r.kbps.unwrap_or(cfg.bitrate_kbps);
        if want < MIN_VIDEO_KBPS || want > cfg.bitrate_kbps {
            return Err(Error::new(
                ErrorCode::InvalidValue,
                format!(
                    "kbps must be between {MIN_VIDEO_KBPS} and {} (the bitrate of encoder config {:?})",
                    cfg.bitrate_kbps, cfg.name
                ),
            ));
        }
        if self.encoder_users(&r.id) == 0 {
            return Err(conflict(format!("target {name:?} is not live")));
        }
        if !self.host.bitrate_adjustable(&cfg.encoder) {
            return Err(conflict(format!(
                "OBS's {:?} encoder cannot change its bitrate while it runs",
                cfg.encoder
            )));
        }
        let now = self.applied_kbps(&cfg);
        if now != want {
            self.host
                .set_video_bitrate(&cfg, want)
                .map_err(|e| Error::new(ErrorCode::Internal, e))?;
            self.host.log(
                Level::Info,
                &format!(
                    "encoder config {}: video bitrate {now} -> {want} kbit/s (config: {})",
                    cfg.id, cfg.bitrate_kbps
                ),
            );
        }
        if want == cfg.bitrate_kbps {
            self.bitrates.remove(&cfg.id);
        } else {
            self.bitrates.insert(cfg.id.clone(), (cfg.clone(), want));
        }
        self.video_bitrate(&r.id)
            .ok_or_else(|| Error::internal("the encoder config disappeared"))
    }

    /// Puts lowered encoders no active target streams from back at their config's bitrate
    /// (libobs keeps an encoder's settings, and an idle output keeps its encoders for the next
    /// start). Called every tick.
    pub(super) fn forget_idle_bitrates(&mut self) {
        if self.bitrates.is_empty() {
            return;
        }
        let live: Vec<String> = self
            .file
            .targets
            .iter()
            .filter_map(|t| {
                self.running_config(&t.id)
                    .filter(|_| self.encoder_users(&t.id) > 0)
            })
            .map(|c| c.id)
            .collect();
        let idle: Vec<EncoderConfig> = self
            .bitrates
            .iter()
            .filter(|(id, _)| !live.contains(id))
            .map(|(_, (cfg, _))| cfg.clone())
            .collect();
        for cfg in idle {
            self.bitrates.remove(&cfg.id);
            // An encoder already released needs nothing.
            if self.host.set_video_bitrate(&cfg, cfg.bitrate_kbps).is_ok() {
                self.host.log(
                    Level::Info,
                    &format!(
                        "encoder config {}: back at {} kbit/s (no target streams from it)",
                        cfg.id, cfg.bitrate_kbps
                    ),
                );
            }
        }
    }
}
