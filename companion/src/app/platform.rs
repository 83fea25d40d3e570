//! The streamer's site (where webhooks go, how often health summaries are sent, the pull) and the
//! companion's own status.
use serde::{Deserialize, Serialize};

use super::pull::{self as platform_pull, PullReport};
use super::recording::upload::UPLOAD_RECORDINGS;
use super::{App, AppError};
use crate::Secret;
use crate::live::{NowPlayingView, ObsConn, SyncStatus};
use crate::obs::{MainStream, ObsStats};
use crate::store::{HistoryKind, OutboxItem};
use crate::webhooks::{HEALTH_INTERVAL, WEBHOOK_SECRET, WEBHOOK_URL, sync_status};

/// `GET /platform`: webhook and pull settings with the delivery status. The signing secret and the
/// site's token are never returned, only whether they are in the keyring.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = PlatformStatus)]
#[serde(rename_all = "camelCase")]
pub struct Platform {
    /// Delivery status.
    #[serde(flatten)]
    pub sync: SyncStatus,
    /// Seconds between health summaries.
    pub health_interval_s: u64,
    /// A signing secret is in the keyring.
    pub secret_in_keyring: bool,
    /// The site's base URL for pulls.
    #[schema(required)]
    pub base_url: Option<String>,
    /// Seconds between pulls.
    pub pull_interval_s: i64,
    /// The site's token is in the keyring.
    pub token_in_keyring: bool,
    /// Last successful pull (Unix ms).
    #[schema(required)]
    pub last_pull_ms: Option<i64>,
    /// Why the last pull failed.
    #[schema(required)]
    pub last_pull_error: Option<String>,
    /// Every recording is uploaded to the site when it has finished.
    pub upload_recordings: bool,
}

/// `PUT /platform`: what to change (absent fields stay).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = ConfigurePlatform)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Configure {
    /// `null` turns webhooks off; absent leaves them as they are.
    #[serde(default, deserialize_with = "some")]
    pub webhook_url: Option<Option<String>>,
    /// Seconds between health summaries (5–3600).
    #[serde(default)]
    pub health_interval_s: Option<u64>,
    /// The site's base URL for pulls; `null` turns pulling off.
    #[serde(default, deserialize_with = "some")]
    pub base_url: Option<Option<String>>,
    /// Seconds between pulls (30–86400).
    #[serde(default)]
    pub pull_interval_s: Option<u64>,
    /// Upload every recording to the site when it has finished (`POST <baseUrl>/deckcast/uploads`).
    #[serde(default)]
    pub upload_recordings: Option<bool>,
    /// The site's API token for pulls and uploads: stored in the keyring, never returned (what
    /// `deckcast platform token set` stores).
    #[serde(default, deserialize_with = "secret")]
    #[schema(value_type = Option<String>, write_only, min_length = 1, max_length = 4096)]
    pub token: Option<Secret>,
}

/// The longest site token taken (bytes).
pub const MAX_TOKEN_LEN: usize = 4096;

/// Whether a base URL is set once a request that changes it (`new`) is applied to `old`.
fn base_set_after(old: &Option<String>, new: &Option<Option<String>>) -> bool {
    match new {
        Some(b) => b.is_some(),
        None => old.is_some(),
    }
}

/// A write-only secret field: a non-empty string, kept as a [`Secret`] from the first moment.
fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    let s = String::deserialize(d)?;
    Secret::new(s)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom("the token is empty"))
}

/// Tells a field set to `null` (Some(None)) from an absent one (None).
fn some<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The outbox as the API lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Outbox {
    /// The newest events.
    pub events: Vec<OutboxItem>,
}

/// The companion itself.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Companion {
    /// Its version.
    pub version: &'static str,
    /// The vendor protocol it speaks.
    pub protocol_version: u32,
    /// Whether secrets can be stored.
    pub keyring: bool,
    /// Why not, if not.
    #[schema(required)]
    pub keyring_error: Option<String>,
}

/// `GET /status`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The companion.
    pub companion: Companion,
    /// The link to OBS.
    pub obs: ObsConn,
    /// OBS's own stream.
    pub main_stream: MainStream,
    /// OBS's counters.
    #[schema(required)]
    pub stats: Option<ObsStats>,
    /// Now playing.
    pub now_playing: NowPlayingView,
}

/// A new webhook or base URL, if one is given, must be fit to carry secrets.
fn check_url(field: &str, u: &Option<Option<String>>) -> Result<(), AppError> {
    match u.as_ref().and_then(Option::as_ref) {
        Some(url) => crate::fetch::check_secret_carrying_url(url)
            .map_err(|why| AppError::invalid(format!("{field}: {why}"))),
        None => Ok(()),
    }
}

impl App {
    /// The companion, OBS and now playing.
    pub fn status(&self) -> Status {
        let snap = self.live.get();
        Status {
            companion: Companion {
                version: env!("CARGO_PKG_VERSION"),
                protocol_version: deckcast_protocol::PROTOCOL_VERSION,
                keyring: self.keys.available(),
                keyring_error: self.keys.unavailable_reason().map(str::to_owned),
            },
            obs: snap.obs,
            main_stream: snap.main_stream,
            stats: snap.stats,
            now_playing: snap.now_playing,
        }
    }

    /// Webhook and pull settings and status.
    pub async fn platform(&self) -> Result<Platform, AppError> {
        let (sync, base_url, pull_interval_s, last_pull_ms, last_pull_error, upload_recordings) =
            self.db
                .call(|s| {
                    Ok((
                        sync_status(s)?,
                        s.setting(platform_pull::BASE_URL)?,
                        s.setting(platform_pull::PULL_INTERVAL)?
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(300),
                        s.setting(platform_pull::LAST_PULL_MS)?
                            .and_then(|v| v.parse().ok()),
                        s.setting(platform_pull::LAST_PULL_ERROR)?,
                        s.setting(UPLOAD_RECORDINGS)?.is_some_and(|v| v == "1"),
                    ))
                })
                .await?;
        let secret_in_keyring = self
            .keys
            .get_async(WEBHOOK_SECRET)
            .await
            .ok()
            .flatten()
            .is_some();
        let token_in_keyring = self
            .keys
            .get_async(platform_pull::TOKEN)
            .await
            .ok()
            .flatten()
            .is_some();
        Ok(Platform {
            sync,
            health_interval_s: self.health_interval_s(),
            secret_in_keyring,
            base_url,
            pull_interval_s,
            token_in_keyring,
            last_pull_ms,
            last_pull_error,
            upload_recordings,
        })
    }

    /// Changes webhook and pull settings (a signing secret is created the first time webhooks are
    /// turned on).
    pub async fn configure_platform(&self, req: Configure) -> Result<Platform, AppError> {
        check_url("baseUrl", &req.base_url)?;
        if let Some(n) = req.pull_interval_s
            && !(30..=86_400).contains(&n)
        {
            return Err(AppError::invalid("pullIntervalS must be 30 to 86400"));
        }
        check_url("webhookUrl", &req.webhook_url)?;
        if let Some(n) = req.health_interval_s
            && !(5..=3600).contains(&n)
        {
            return Err(AppError::invalid("healthIntervalS must be 5 to 3600"));
        }
        // The site's address is read once; every check comes before anything is changed.
        let old_base = self.db.call(|s| s.setting(platform_pull::BASE_URL)).await?;
        if let Some(token) = &req.token {
            if token.expose().len() > MAX_TOKEN_LEN {
                return Err(AppError::invalid(format!(
                    "token is longer than {MAX_TOKEN_LEN} bytes"
                )));
            }
            if !base_set_after(&old_base, &req.base_url) {
                return Err(AppError::invalid(
                    "set the site's baseUrl before its token (the token is only ever sent there)",
                ));
            }
        }
        if matches!(req.webhook_url, Some(Some(_)))
            && self.keys.get_async(WEBHOOK_SECRET).await?.is_none()
        {
            // A signing secret must exist in the keyring before anything is sent.
            self.keys
                .set_async(WEBHOOK_SECRET, &crate::keys::random_token()?)
                .await?;
        }
        // The site's token belongs to the site it was given for: a new base URL needs it again
        // (an API token holder must not be able to send it elsewhere).
        let moved = matches!(&req.base_url, Some(new) if *new != old_base && old_base.is_some());
        if moved {
            self.keys.delete_async(platform_pull::TOKEN).await?;
            self.record(
                HistoryKind::Platform,
                None,
                "the site's address changed: its token was removed from the keyring; set it again for the new site (deckcast platform token set)".into(),
            )
            .await;
        }
        let (url, base, interval, pull, upload) = (
            req.webhook_url.clone(),
            req.base_url.clone(),
            req.health_interval_s,
            req.pull_interval_s,
            req.upload_recordings,
        );
        self.db
            .call(move |s| {
                if let Some(u) = url {
                    s.set_setting(WEBHOOK_URL, u.as_deref())?;
                }
                if let Some(b) = base {
                    s.set_setting(platform_pull::BASE_URL, b.as_deref())?;
                }
                if let Some(n) = interval {
                    s.set_setting(HEALTH_INTERVAL, Some(&n.to_string()))?;
                }
                if let Some(n) = pull {
                    s.set_setting(platform_pull::PULL_INTERVAL, Some(&n.to_string()))?;
                }
                if let Some(on) = upload {
                    s.set_setting(UPLOAD_RECORDINGS, Some(if on { "1" } else { "0" }))?;
                }
                Ok(())
            })
            .await?;
        if let Some(n) = interval {
            self.set_health_interval_s(n);
        }
        // After the address it belongs to is written: a pull never sends it to the old site.
        if let Some(token) = &req.token {
            self.keys.set_async(platform_pull::TOKEN, token).await?;
            self.record(
                HistoryKind::Platform,
                None,
                "the site's token was stored in the keyring".into(),
            )
            .await;
        }
        self.record(
            HistoryKind::Platform,
            None,
            match &req.webhook_url {
                Some(Some(u)) => format!("webhooks go to {}", crate::fetch::redact_url(u)),
                Some(None) => "webhooks turned off".into(),
                None => "platform settings changed".into(),
            },
        )
        .await;
        self.platform().await
    }

    /// The newest outbox rows.
    pub async fn outbox(&self, limit: u32) -> Result<Outbox, AppError> {
        let limit = limit.clamp(1, 5000);
        Ok(Outbox {
            events: self.db.call(move |s| s.outbox(limit)).await?,
        })
    }

    /// Pulls destinations and sets from the site now.
    pub async fn pull_now(&self) -> Result<PullReport, AppError> {
        platform_pull::pull(self).await.map_err(AppError::Platform)
    }
}
