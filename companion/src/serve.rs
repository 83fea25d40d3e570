//! `deckcast serve`: opens the keyring and the database, builds the [`App`], starts its tasks (OBS
//! supervision, the scheduler, the alerts, webhook delivery, the DJ-software readers) and the web server, and
//! stops them all cleanly on shutdown.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::app::{App, Role};
use crate::keys::{Keys, KeysError};
use crate::readers::{self, Report};
use crate::store::{Db, HistoryKind, Store, StoreError};
use crate::supervisor::{self, Dialer, SupervisorConfig};
use crate::web::{self, AppState};

/// Everything `serve` needs, already validated.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where the database lives (created if missing).
    pub data_dir: PathBuf,
    /// OBS link settings.
    pub supervisor: SupervisorConfig,
    /// Origins besides the dashboard's own that may change state.
    pub extra_origins: Vec<String>,
    /// LAN mode (`--lan`): HTTPS with this certificate, phones paired by one-time codes.
    pub lan: Option<crate::lan::Lan>,
}

/// Why `serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The database failed to open.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No token could be read or stored.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The web server failed.
    #[error("web server: {0}")]
    Web(#[from] std::io::Error),
}

/// The database file in `data_dir`.
pub fn database_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("deckcast.sqlite")
}

/// Runs the service on `listener` until `shutdown` resolves.
pub async fn serve(
    cfg: ServeConfig,
    keys: Keys,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    crate::store::create_private_dir(&cfg.data_dir).map_err(|source| ServeError::DataDir {
        path: cfg.data_dir.display().to_string(),
        source,
    })?;
    let path = database_path(&cfg.data_dir);
    let store = tokio::task::spawn_blocking(move || Store::open(&path))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
    let token = {
        let keys = keys.clone();
        tokio::task::spawn_blocking(move || keys.dashboard_token())
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??
    };
    if let Some(why) = keys.unavailable_reason() {
        tracing::warn!(
            "no usable OS keyring ({why}); stream keys cannot be stored until it is unlocked"
        );
    }
    let db = Db::new(store);
    let app = App::new(Role::Service, db.clone(), keys.clone(), web::http_client());
    if let Ok(Some(v)) = db
        .call(|s| s.setting(crate::webhooks::HEALTH_INTERVAL))
        .await
        && let Ok(n) = v.parse::<u64>()
    {
        app.set_health_interval_s(n);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let addr: SocketAddr = listener.local_addr()?;
    let mut state = AppState::new(Arc::clone(&app), token, addr, stop_rx.clone());
    state.extra_origins = cfg.extra_origins.clone();
    state.lan = cfg
        .lan
        .clone()
        .map(|l| Arc::new(web::pairing::LanState::new(l)));
    if let Some(lan) = &state.lan {
        // Bound to every interface, yet only the names the certificate carries are answered
        // (DNS rebinding).
        state.allowed_hosts = Some(vec![
            crate::lan::host_name(lan.lan.ip),
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
            "[::1]".to_owned(),
        ]);
    }
    let dialer = Dialer::Keyring {
        host: cfg.supervisor.host.clone(),
        port: cfg.supervisor.port,
        keys: keys.clone(),
    };
    let tasks = vec![
        tokio::spawn(supervisor::run(
            Arc::clone(&app),
            dialer,
            cfg.supervisor.clone(),
            stop_rx.clone(),
        )),
        tokio::spawn(crate::scheduler::run(Arc::clone(&app), stop_rx.clone())),
        tokio::spawn(crate::alerter::run(Arc::clone(&app), stop_rx.clone())),
        tokio::spawn(crate::uploader::run(Arc::clone(&app), stop_rx.clone())),
        tokio::spawn(crate::player::run(Arc::clone(&app), stop_rx.clone())),
        tokio::spawn(crate::webhooks::run(
            db.clone(),
            keys.clone(),
            Arc::clone(&app.live),
            app.http.clone(),
            stop_rx.clone(),
        )),
        tokio::spawn(show_reports(Arc::clone(&app), db, stop_rx.clone())),
    ];
    match &state.lan {
        None => tracing::info!(
            "dashboard on http://{addr}/ (log in with the token from `deckcast token show`); following OBS at {}:{}",
            cfg.supervisor.host,
            cfg.supervisor.port
        ),
        Some(lan) => {
            tracing::info!(
                "dashboard on the local network at {}/ (HTTPS, certificate SHA-256 {}); following OBS at {}:{}",
                lan.lan.base_url,
                lan.lan.fingerprint,
                cfg.supervisor.host,
                cfg.supervisor.port
            );
            show_pairing(lan);
        }
    }
    let stop = async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    };
    let served = web::run(listener, state, stop).await;
    for task in tasks {
        let _ = task.await;
    }
    served?;
    Ok(())
}

/// On a terminal: a one-time pairing URL and its QR code for a phone. Never into the log (the
/// code is a secret for its 10 minutes); without a terminal the dashboard's "Pair a phone" shows
/// one.
fn show_pairing(lan: &web::pairing::LanState) {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        tracing::info!("pair a phone from the dashboard (Pair a phone): it shows a QR code");
        return;
    }
    match lan.issue() {
        Ok(p) => {
            let qr = crate::lan::terminal_qr(&p.url).unwrap_or_default();
            println!(
                "\nPair a phone on this network: scan the code, or open {url}\n\
                 (works once, for 10 minutes; the browser will warn about the certificate: \
                 accept it if its SHA-256 fingerprint is {fp})\n\n{qr}",
                url = p.url,
                fp = lan.lan.fingerprint,
            );
        }
        Err(e) => tracing::warn!("no pairing code: {e}"),
    }
}

/// Runs the DJ-software readers and shows what they report through the app.
async fn show_reports(app: Arc<App>, db: Db, shutdown: watch::Receiver<bool>) {
    let (tx, mut rx) = mpsc::channel::<Report>(16);
    let readers = tokio::spawn(readers::run(
        db,
        app.keys.clone(),
        tx,
        app.sources_changed(),
        shutdown,
    ));
    while let Some(report) = rx.recv().await {
        match report {
            Report::Track(t) => {
                if let Err(e) = app.set_now_playing(t).await {
                    tracing::warn!("now playing: {e}");
                }
            }
            Report::Problem(why) => app.record(HistoryKind::NowPlayingSource, None, why).await,
        }
    }
    let _ = readers.await;
}
