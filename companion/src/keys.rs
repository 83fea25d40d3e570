//! The companion's secrets in the OS keyring (Secret Service through `deckcast-secrets`), service
//! [`SERVICE`]: stream keys (`stream-key:<target id>`), the obs-websocket password, the dashboard
//! token, the Icecast source password and platform tokens.
//!
//! There is no file fallback. Without a usable keyring, storing fails with
//! [`KeysError::NoKeyring`], whose message names the environment variable that can supply the
//! secret instead (`DECKCAST_OBS_PASSWORD`, `DECKCAST_DASHBOARD_TOKEN`).
//!
//! Threads: keyring calls block on D-Bus; async callers wrap them in `spawn_blocking`.
use std::sync::Arc;

use deckcast_secrets::{KeyError, KeyStore, KeyringStore, Secret};

/// Keyring service name of the companion's entries.
pub const SERVICE: &str = "deckcast-companion";
/// Account of the obs-websocket password.
pub const OBS_PASSWORD: &str = "obs-websocket-password";
/// Account of the dashboard/API token.
pub const DASHBOARD_TOKEN: &str = "dashboard-token";
/// Account of the password DJ software gives the built-in Icecast receiver.
pub const ICECAST_PASSWORD: &str = "icecast-source-password";
/// Environment variable that supplies the obs-websocket password instead of the keyring.
pub const OBS_PASSWORD_ENV: &str = "DECKCAST_OBS_PASSWORD";
/// Environment variable that supplies the dashboard token instead of the keyring.
pub const DASHBOARD_TOKEN_ENV: &str = "DECKCAST_DASHBOARD_TOKEN";
/// Shortest dashboard token accepted from the environment (the generated ones have 64).
pub const MIN_TOKEN_LEN: usize = 32;
/// Environment variable that supplies the Icecast source password instead of the keyring.
pub const ICECAST_PASSWORD_ENV: &str = "DECKCAST_ICECAST_PASSWORD";

/// A keyring problem, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// No usable keyring (no Secret Service, or it is locked).
    #[error(
        "no usable OS keyring ({reason}); Deckcast never writes secrets to files. Unlock your desktop keyring (Secret Service, e.g. gnome-keyring or KWallet), or supply {what} through the environment variable {env}"
    )]
    NoKeyring {
        /// Why the keyring could not be used.
        reason: String,
        /// Which secret.
        what: &'static str,
        /// The environment variable alternative.
        env: &'static str,
    },
    /// The keyring failed on this entry.
    #[error(transparent)]
    Keyring(#[from] KeyError),
    /// A token given through the environment is too short to be a secret.
    #[error(
        "{env} must be at least {min} characters long (deckcast token rotate makes a strong one)"
    )]
    TokenTooShort {
        /// The variable.
        env: &'static str,
        /// The shortest accepted.
        min: usize,
    },
    /// The OS could not supply random bytes for a new token.
    #[error("the operating system's random number generator failed ({0}); no token was created")]
    NoRandomness(String),
}

/// The account of a target's stream key.
pub fn stream_key_account(target_id: &str) -> String {
    format!("stream-key:{target_id}")
}

/// The account of a platform token.
pub fn platform_token_account(platform: &str) -> String {
    format!("platform-token:{platform}")
}

/// The companion's keyring, or why there is none.
#[derive(Debug, Clone)]
pub struct Keys {
    store: Result<Arc<dyn KeyStore>, String>,
}

impl Keys {
    /// Opens the OS keyring (a write/read/delete probe decides whether it is usable).
    pub fn open() -> Keys {
        Keys {
            store: KeyringStore::open(SERVICE)
                .map(|k| Arc::new(k) as Arc<dyn KeyStore>)
                .map_err(|e| e.to_string()),
        }
    }

    /// Keys over any store (unit tests use `MemoryStore`).
    pub fn with_store(store: Arc<dyn KeyStore>) -> Keys {
        Keys { store: Ok(store) }
    }

    /// A companion without a keyring (unit tests of the refusal path).
    pub fn unavailable(reason: &str) -> Keys {
        Keys {
            store: Err(reason.to_owned()),
        }
    }

    /// Whether secrets can be stored.
    pub fn available(&self) -> bool {
        self.store.is_ok()
    }

    /// Why the keyring is unusable, if it is.
    pub fn unavailable_reason(&self) -> Option<&str> {
        self.store.as_ref().err().map(String::as_str)
    }

    fn store(&self, what: &'static str, env: &'static str) -> Result<&dyn KeyStore, KeysError> {
        match &self.store {
            Ok(s) => Ok(s.as_ref()),
            Err(reason) => Err(KeysError::NoKeyring {
                reason: reason.clone(),
                what,
                env,
            }),
        }
    }

    /// Stores a secret under `account`.
    pub fn set(&self, account: &str, secret: &Secret) -> Result<(), KeysError> {
        let (what, env) = describe(account);
        Ok(self.store(what, env)?.set(account, secret)?)
    }

    /// Reads a secret; `Ok(None)` if absent or if there is no keyring.
    pub fn get(&self, account: &str) -> Result<Option<Secret>, KeysError> {
        match &self.store {
            Ok(s) => Ok(s.get(account)?),
            Err(_) => Ok(None),
        }
    }

    /// Removes a secret (no error if absent or if there is no keyring).
    pub fn delete(&self, account: &str) -> Result<(), KeysError> {
        match &self.store {
            Ok(s) => Ok(s.delete(account)?),
            Err(_) => Ok(()),
        }
    }

    /// [`Keys::get`] on tokio's blocking pool (the keyring blocks on D-Bus).
    pub async fn get_async(&self, account: &str) -> Result<Option<Secret>, KeysError> {
        let (keys, account) = (self.clone(), account.to_owned());
        tokio::task::spawn_blocking(move || keys.get(&account))
            .await
            .map_err(|e| KeysError::Keyring(KeyError::Keyring(e.to_string())))?
    }

    /// [`Keys::set`] on tokio's blocking pool.
    pub async fn set_async(&self, account: &str, secret: &Secret) -> Result<(), KeysError> {
        let (keys, account, secret) = (self.clone(), account.to_owned(), secret.clone());
        tokio::task::spawn_blocking(move || keys.set(&account, &secret))
            .await
            .map_err(|e| KeysError::Keyring(KeyError::Keyring(e.to_string())))?
    }

    /// [`Keys::delete`] on the blocking pool.
    pub async fn delete_async(&self, account: &str) -> Result<(), KeysError> {
        let (keys, account) = (self.clone(), account.to_owned());
        tokio::task::spawn_blocking(move || keys.delete(&account))
            .await
            .map_err(|e| KeysError::Keyring(KeyError::Keyring(e.to_string())))?
    }

    /// The obs-websocket password: the environment variable wins, then the keyring.
    pub fn obs_password(&self) -> Result<Option<Secret>, KeysError> {
        if let Some(s) = std::env::var(OBS_PASSWORD_ENV).ok().and_then(Secret::new) {
            return Ok(Some(s));
        }
        self.get(OBS_PASSWORD)
    }

    /// The dashboard token: the environment variable wins, then the keyring; if neither has one,
    /// a new random token is stored in the keyring (an error without a keyring).
    pub fn dashboard_token(&self) -> Result<Secret, KeysError> {
        if let Some(s) = std::env::var(DASHBOARD_TOKEN_ENV)
            .ok()
            .and_then(Secret::new)
        {
            if s.expose().trim().len() < MIN_TOKEN_LEN {
                return Err(KeysError::TokenTooShort {
                    env: DASHBOARD_TOKEN_ENV,
                    min: MIN_TOKEN_LEN,
                });
            }
            return Ok(s);
        }
        if let Some(s) = self.get(DASHBOARD_TOKEN)? {
            return Ok(s);
        }
        let token = random_token()?;
        self.set(DASHBOARD_TOKEN, &token)?;
        Ok(token)
    }

    /// The Icecast source password: the environment variable wins, then the keyring.
    pub fn icecast_password(&self) -> Result<Option<Secret>, KeysError> {
        if let Some(s) = std::env::var(ICECAST_PASSWORD_ENV)
            .ok()
            .and_then(Secret::new)
        {
            return Ok(Some(s));
        }
        self.get(ICECAST_PASSWORD)
    }

    /// [`Keys::icecast_password`] on the blocking pool.
    pub async fn icecast_password_async(&self) -> Result<Option<Secret>, KeysError> {
        let keys = self.clone();
        tokio::task::spawn_blocking(move || keys.icecast_password())
            .await
            .map_err(|e| KeysError::Keyring(KeyError::Keyring(e.to_string())))?
    }
}

fn describe(account: &str) -> (&'static str, &'static str) {
    if account == OBS_PASSWORD {
        ("the obs-websocket password", OBS_PASSWORD_ENV)
    } else if account == DASHBOARD_TOKEN {
        ("the dashboard token", DASHBOARD_TOKEN_ENV)
    } else if account == ICECAST_PASSWORD {
        ("the Icecast source password", ICECAST_PASSWORD_ENV)
    } else if account.starts_with("stream-key:") {
        (
            "stream keys",
            "(none: give keys to the OBS plugin directly, which keeps them in memory for the session)",
        )
    } else {
        ("platform tokens", "DECKCAST_PLATFORM_TOKEN")
    }
}

/// 32 random bytes from the OS as 64 hex characters. Fails, rather than guessing, when the OS has
/// no entropy source: a token made from the clock would be guessable.
pub fn random_token() -> Result<Secret, KeysError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| KeysError::NoRandomness(e.to_string()))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Secret::new(hex).unwrap_or_else(|| unreachable!("64 hex characters are never blank")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deckcast_secrets::MemoryStore;

    #[test]
    fn without_a_keyring_storing_is_refused_with_the_alternative() {
        let keys = Keys::unavailable("no Secret Service on the session bus");
        let err = keys
            .set(DASHBOARD_TOKEN, &Secret::new("x").unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("DECKCAST_DASHBOARD_TOKEN"), "{err}");
        assert!(err.contains("never writes secrets to files"), "{err}");
        let err = keys
            .set(&stream_key_account("t1"), &Secret::new("live_x").unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("stream keys"), "{err}");
        assert!(keys.get(OBS_PASSWORD).unwrap().is_none());
    }

    #[test]
    fn dashboard_token_is_created_once() {
        let keys = Keys::with_store(Arc::new(MemoryStore::default()));
        let a = keys.dashboard_token().unwrap();
        let b = keys.dashboard_token().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.expose().len(), 64);
        assert_ne!(random_token().unwrap(), random_token().unwrap());
    }
}
