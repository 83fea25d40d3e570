//! The one error type of the vendor API and its wire form `{"error": {"code", "message"}}`.
use serde::{Deserialize, Serialize};

/// Machine-readable error codes in [`Error::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request data is not an object, misses a field or has a field of the wrong type.
    InvalidRequest,
    /// A field value is out of range or otherwise unacceptable.
    InvalidValue,
    /// The addressed object (for example a target id) does not exist.
    NotFound,
    /// The request cannot run in the current state.
    Conflict,
    /// The plugin failed internally; the message says what happened. OBS keeps running.
    Internal,
}

impl ErrorCode {
    /// The wire name (`invalid_request`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed request: what kind of failure and a sentence for humans (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[error("{message} ({code})")]
pub struct Error {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// A sentence for humans; never contains secrets.
    pub message: String,
}

impl Error {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// [`ErrorCode::InvalidRequest`].
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// [`ErrorCode::InvalidValue`].
    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidValue, message)
    }

    /// [`ErrorCode::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// [`ErrorCode::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// [`ErrorCode::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// The wire form: `{"error": {"code", "message"}}`.
    pub fn to_wire(&self) -> serde_json::Value {
        serde_json::to_value(ErrorResponse {
            error: self.clone(),
        })
        .unwrap_or_default()
    }
}

/// The whole response of a failed request: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorResponse {
    /// The failure.
    pub error: Error,
}
