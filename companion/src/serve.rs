//! `deckcast serve`: opens the keyring and the database, starts the OBS service task and the web
//! server, and stops both cleanly on shutdown.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use crate::keys::{Keys, KeysError};
use crate::service::{Service, ServiceConfig};
use crate::store::{Db, Store, StoreError};
use crate::web::{self, AppState};

/// Everything `serve` needs, already validated.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where the database lives (created if missing).
    pub data_dir: PathBuf,
    /// OBS link settings.
    pub service: ServiceConfig,
    /// Origins besides the dashboard's own that may change state.
    pub extra_origins: Vec<String>,
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
    std::fs::create_dir_all(&cfg.data_dir).map_err(|source| ServeError::DataDir {
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
    let service = Service::new(cfg.service.clone(), Db::new(store), keys);
    let (stop_tx, stop_rx) = watch::channel(false);
    let addr: SocketAddr = listener.local_addr()?;
    let mut state = AppState::new(Arc::clone(&service), token, addr, stop_rx.clone());
    state.extra_origins = cfg.extra_origins.clone();
    let task = tokio::spawn(Arc::clone(&service).run(stop_rx.clone()));
    if let Ok(Some(v)) = service
        .db
        .call(|s| s.setting(crate::sync::HEALTH_INTERVAL))
        .await
        && let Ok(n) = v.parse::<u64>()
    {
        service
            .health_interval_s
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }
    let scheduler = tokio::spawn(crate::scheduler::run(
        Arc::clone(&service),
        state.http.clone(),
        stop_rx.clone(),
    ));
    let webhooks = tokio::spawn(crate::sync::run(
        Arc::clone(&service),
        state.http.clone(),
        stop_rx.clone(),
    ));
    let readers = tokio::spawn(crate::readers::run(
        Arc::clone(&service),
        service.sources_changed.subscribe(),
        stop_rx,
    ));
    tracing::info!(
        "dashboard on http://{addr}/ (log in with the token from `deckcast token show`); following OBS at {}:{}",
        cfg.service.host,
        cfg.service.port
    );
    let stop = async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    };
    let served = web::run(listener, state, stop).await;
    let _ = task.await;
    let _ = scheduler.await;
    let _ = webhooks.await;
    let _ = readers.await;
    served?;
    Ok(())
}
