//! The one error type of the companion's operations. The web layer maps it to HTTP in one place
//! (`crate::web::ApiError`), the CLI to exit codes.
use crate::keys::KeysError;
use crate::obs::LinkError;
use crate::store::StoreError;

/// Why an operation failed. Messages never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// OBS is not connected.
    #[error("OBS is not connected; the companion keeps reconnecting (see /api/v1/status)")]
    ObsDown,
    /// OBS or the plugin refused or failed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The keyring failed or is missing.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// A value the operation cannot take.
    #[error("{0}")]
    Invalid(String),
    /// What the operation names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The operation cannot run in the current state.
    #[error("{0}")]
    Conflict(String),
    /// The streamer's site or a calendar feed failed or refused (502).
    #[error("{0}")]
    Platform(String),
}

impl AppError {
    /// [`AppError::Invalid`].
    pub fn invalid(message: impl Into<String>) -> AppError {
        AppError::Invalid(message.into())
    }
}
