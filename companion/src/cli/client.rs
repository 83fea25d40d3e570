//! A typed client of the running companion's API (`deckcast serve`), for the commands that work
//! through it: schedules, feeds, and `listen --to-companion`. The token comes from the keyring or
//! `DECKCAST_DASHBOARD_TOKEN`.
use anyhow::Context;
use deckcast_companion::Secret;
use deckcast_companion::alerts::Alert;
use deckcast_companion::app::alerts::AlertList;
use deckcast_companion::app::nowplaying::TempoInput;
use deckcast_companion::app::reair::{ReAir, StartReAir};
use deckcast_companion::app::recording::{
    AudioExport, Recording, RecordingDeleted, RecordingList, RecordingNow, RecordingStarted,
};
use deckcast_companion::app::schedule::{AddEntry, AddFeed, FeedReply, Feeds, Schedule};
use deckcast_companion::keys::Keys;
use deckcast_companion::library::{Upload, UploadList};
use deckcast_companion::report::SessionReport;
use deckcast_companion::schedule::Entry;
use deckcast_companion::tracklist::Format;
use deckcast_companion::web::Problem;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::args::ApiArgs;
use super::blocking;

/// The API of a running companion.
#[derive(Debug)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Secret,
}

/// No request body.
const NO_BODY: Option<&()> = None;

impl Client {
    /// A client for `api` with the dashboard token.
    pub async fn open(api: &ApiArgs) -> anyhow::Result<Client> {
        let keys = tokio::task::spawn_blocking(Keys::open).await?;
        let token = blocking(move || keys.dashboard_token()).await?;
        Ok(Client {
            base: api.api.trim_end_matches('/').to_owned(),
            http: deckcast_companion::web::http_client(),
            token,
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(self.token.expose());
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.with_context(|| {
            format!(
                "cannot reach the companion at {} (is `deckcast serve` running?)",
                self.base
            )
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Problem>(&text)
            .map(|p| p.detail)
            .unwrap_or(text);
        anyhow::bail!("{message} (HTTP {status})")
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<T> {
        let resp = self.send(method, path, body).await?;
        resp.json::<T>()
            .await
            .with_context(|| format!("an unexpected answer from the companion to {path}"))
    }

    /// `GET /schedule`.
    pub async fn schedule(&self) -> anyhow::Result<Schedule> {
        self.json(Method::GET, "/schedule", NO_BODY).await
    }

    /// `POST /schedule`.
    pub async fn add_set(&self, set: &AddEntry) -> anyhow::Result<Entry> {
        self.json(Method::POST, "/schedule", Some(set)).await
    }

    /// `DELETE /schedule/{id}`.
    pub async fn cancel_set(&self, id: i64) -> anyhow::Result<()> {
        self.send(Method::DELETE, &format!("/schedule/{id}"), NO_BODY)
            .await
            .map(drop)
    }

    /// `GET /feeds`.
    pub async fn feeds(&self) -> anyhow::Result<Feeds> {
        self.json(Method::GET, "/feeds", NO_BODY).await
    }

    /// `POST /feeds`.
    pub async fn add_feed(&self, feed: &AddFeed) -> anyhow::Result<FeedReply> {
        self.json(Method::POST, "/feeds", Some(feed)).await
    }

    /// `POST /feeds/{id}/refresh`.
    pub async fn refresh_feed(&self, id: i64) -> anyhow::Result<FeedReply> {
        self.json(Method::POST, &format!("/feeds/{id}/refresh"), NO_BODY)
            .await
    }

    /// `DELETE /feeds/{id}`.
    pub async fn delete_feed(&self, id: i64) -> anyhow::Result<()> {
        self.send(Method::DELETE, &format!("/feeds/{id}"), NO_BODY)
            .await
            .map(drop)
    }

    /// `GET /alerts` from `from_ms` on.
    pub async fn alerts(&self, from_ms: i64) -> anyhow::Result<AlertList> {
        self.json(Method::GET, &format!("/alerts?from={from_ms}"), NO_BODY)
            .await
    }

    /// `GET /sessions/{id}/report`, or `GET /report` for the newest session.
    pub async fn report(&self, session: Option<i64>) -> anyhow::Result<SessionReport> {
        let path = match session {
            Some(id) => format!("/sessions/{id}/report"),
            None => "/report".to_owned(),
        };
        self.json(Method::GET, &path, NO_BODY).await
    }

    /// `POST /alerts/{id}/ack`.
    pub async fn acknowledge_alert(&self, id: i64) -> anyhow::Result<Alert> {
        self.json(Method::POST, &format!("/alerts/{id}/ack"), NO_BODY)
            .await
    }

    /// `GET /recording`.
    pub async fn recording_now(&self) -> anyhow::Result<RecordingNow> {
        self.json(Method::GET, "/recording", NO_BODY).await
    }

    /// `POST /recording/start`.
    pub async fn start_recording(&self) -> anyhow::Result<RecordingStarted> {
        self.json(Method::POST, "/recording/start", NO_BODY).await
    }

    /// `POST /recording/stop`.
    pub async fn stop_recording(&self) -> anyhow::Result<Recording> {
        self.json(Method::POST, "/recording/stop", NO_BODY).await
    }

    /// `GET /recordings?limit=`.
    pub async fn recordings(&self, limit: u32) -> anyhow::Result<RecordingList> {
        self.json(Method::GET, &format!("/recordings?limit={limit}"), NO_BODY)
            .await
    }

    /// `GET /recordings/{id}`.
    pub async fn recording(&self, id: i64) -> anyhow::Result<Recording> {
        self.json(Method::GET, &format!("/recordings/{id}"), NO_BODY)
            .await
    }

    /// `POST /recordings/{id}/audio`.
    pub async fn export_audio(&self, id: i64) -> anyhow::Result<AudioExport> {
        self.json(Method::POST, &format!("/recordings/{id}/audio"), NO_BODY)
            .await
    }

    /// `GET /recordings/{id}/audio` written to `to` as it arrives.
    pub async fn download_audio(&self, id: i64, to: &std::path::Path) -> anyhow::Result<u64> {
        use std::io::Write;
        let mut resp = self
            .send(Method::GET, &format!("/recordings/{id}/audio"), NO_BODY)
            .await?;
        let mut f =
            std::fs::File::create(to).with_context(|| format!("creating {}", to.display()))?;
        let mut n = 0u64;
        while let Some(chunk) = resp.chunk().await? {
            f.write_all(&chunk)
                .with_context(|| format!("writing {}", to.display()))?;
            n += chunk.len() as u64;
        }
        Ok(n)
    }

    /// `POST /recordings/{id}/upload`.
    pub async fn upload_recording(&self, id: i64) -> anyhow::Result<Upload> {
        self.json(Method::POST, &format!("/recordings/{id}/upload"), NO_BODY)
            .await
    }

    /// `GET /recordings/{id}/upload`.
    pub async fn upload(&self, id: i64) -> anyhow::Result<Upload> {
        self.json(Method::GET, &format!("/recordings/{id}/upload"), NO_BODY)
            .await
    }

    /// `DELETE /recordings/{id}/upload`.
    pub async fn cancel_upload(&self, id: i64) -> anyhow::Result<Upload> {
        self.json(Method::DELETE, &format!("/recordings/{id}/upload"), NO_BODY)
            .await
    }

    /// `GET /reair`.
    pub async fn reair(&self) -> anyhow::Result<ReAir> {
        self.json(Method::GET, "/reair", NO_BODY).await
    }

    /// `POST /reair`.
    pub async fn start_reair(&self, req: &StartReAir) -> anyhow::Result<ReAir> {
        self.json(Method::POST, "/reair", Some(req)).await
    }

    /// `POST /reair/stop`.
    pub async fn stop_reair(&self) -> anyhow::Result<ReAir> {
        self.json(Method::POST, "/reair/stop", NO_BODY).await
    }

    /// `GET /uploads?limit=`.
    pub async fn uploads(&self, limit: u32) -> anyhow::Result<UploadList> {
        self.json(Method::GET, &format!("/uploads?limit={limit}"), NO_BODY)
            .await
    }

    /// `DELETE /recordings/{id}?deleteFile=`.
    pub async fn delete_recording(
        &self,
        id: i64,
        delete_file: bool,
    ) -> anyhow::Result<RecordingDeleted> {
        self.json(
            Method::DELETE,
            &format!("/recordings/{id}?deleteFile={delete_file}"),
            NO_BODY,
        )
        .await
    }

    /// `GET /recordings/{id}/tracklist` in `format`: the text.
    pub async fn tracklist(
        &self,
        id: i64,
        format: Format,
        target: Option<&str>,
        min_track_seconds: Option<u32>,
    ) -> anyhow::Result<String> {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("format", format.as_str());
        if let Some(t) = target {
            q.append_pair("target", t);
        }
        if let Some(m) = min_track_seconds {
            q.append_pair("minTrackSeconds", &m.to_string());
        }
        let query = q.finish();
        let resp = self
            .send(
                Method::GET,
                &format!("/recordings/{id}/tracklist?{query}"),
                NO_BODY,
            )
            .await?;
        Ok(resp.text().await?)
    }

    /// `PUT /nowplaying/tempo`.
    pub async fn set_tempo(&self, bpm: f64) -> anyhow::Result<()> {
        self.send(Method::PUT, "/nowplaying/tempo", Some(&TempoInput { bpm }))
            .await
            .map(drop)
    }
}
