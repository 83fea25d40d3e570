//! Secrets for Deckcast: stream keys, passwords and tokens.
//!
//! - [`Secret`] never prints its value (`Debug`/`Display` show `***`).
//! - [`KeyStore`] keeps secrets in the OS keyring through `keyring-core` (the Secret Service on
//!   Linux, Credential Manager on Windows, the login keychain on macOS), or, where no keyring
//!   answers, in memory for the session only ([`open`] tells which and why). Secrets are never
//!   written to plain files by this crate. Only the Linux store is built and tested by this
//!   project's CI; the Windows and macOS stores are compiled on those platforms only.
//! - [`redact`] removes known secrets from text before it reaches a log.
//!
//! Threads: every call may block on the keyring (D-Bus on Linux) for a few milliseconds; call from worker threads, never
//! from OBS's UI, audio or graphics threads, nor from an async runtime thread without
//! `spawn_blocking`.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A secret string. `Debug` and `Display` print `***`; only [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret; `None` for an empty (or all-whitespace) string.
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        (!value.trim().is_empty()).then_some(Self(value))
    }

    /// The secret value. Pass it straight to the API that needs it; never log or format it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Replaces every occurrence of each secret in `text` with `***`.
pub fn redact<'a>(text: &str, secrets: impl IntoIterator<Item = &'a Secret>) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        // Very short values would redact ordinary words; keys are far longer than 3 characters.
        if s.expose().len() >= 4 {
            out = out.replace(s.expose(), "***");
        }
    }
    out
}

/// Where a [`KeyStore`] keeps secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The OS keyring (Secret Service).
    Keyring,
    /// Process memory: lost when the process exits.
    Memory,
}

impl Backend {
    /// `keyring` or `memory` (as shown to users and in APIs).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Keyring => "keyring",
            Backend::Memory => "memory",
        }
    }
}

/// A keyring operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The keyring refused or failed; the message says why (never contains the secret).
    #[error("the OS keyring failed: {0}")]
    Keyring(String),
    /// The stored value is unusable (not UTF-8, empty).
    #[error("the stored secret for {0} is unreadable")]
    Corrupt(String),
}

/// Secret storage keyed by account name (for example `stream-key:<target id>`).
pub trait KeyStore: Send + Sync + fmt::Debug {
    /// Where secrets go.
    fn backend(&self) -> Backend;
    /// Stores (or replaces) the secret for `account`.
    fn set(&self, account: &str, secret: &Secret) -> Result<(), KeyError>;
    /// The secret for `account`, or `None` if there is none.
    fn get(&self, account: &str) -> Result<Option<Secret>, KeyError>;
    /// Removes the secret for `account` (no error if absent).
    fn delete(&self, account: &str) -> Result<(), KeyError>;
}

/// In-memory secrets for one session.
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: Mutex<HashMap<String, Secret>>,
}

impl KeyStore for MemoryStore {
    fn backend(&self) -> Backend {
        Backend::Memory
    }

    fn set(&self, account: &str, secret: &Secret) -> Result<(), KeyError> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(account.to_owned(), secret.clone());
        Ok(())
    }

    fn get(&self, account: &str) -> Result<Option<Secret>, KeyError> {
        Ok(self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(account)
            .cloned())
    }

    fn delete(&self, account: &str) -> Result<(), KeyError> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(account);
        Ok(())
    }
}

/// The OS keyring through `keyring-core`; entries are (service, account).
pub struct KeyringStore {
    service: String,
    store: Arc<keyring_core::CredentialStore>,
}

impl fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyringStore")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

fn keyring_error(e: keyring_core::Error) -> KeyError {
    KeyError::Keyring(e.to_string())
}

impl KeyringStore {
    fn entry(&self, account: &str) -> Result<keyring_core::Entry, KeyError> {
        self.store
            .build(&self.service, account, None)
            .map_err(keyring_error)
    }

    /// Opens the platform keyring and checks that it can store, read back and delete a probe
    /// entry (a locked keyring that cannot be written counts as unavailable).
    pub fn open(service: &str) -> Result<Self, KeyError> {
        let store = platform_store()?;
        let this = Self {
            service: service.to_owned(),
            store,
        };
        let probe =
            Secret::new("deckcast-probe-value").unwrap_or_else(|| Secret(String::from("probe")));
        this.set("deckcast-probe", &probe)?;
        let back = this.get("deckcast-probe")?;
        this.delete("deckcast-probe")?;
        if back.as_ref() != Some(&probe) {
            return Err(KeyError::Keyring(
                "the keyring did not return what was stored".into(),
            ));
        }
        Ok(this)
    }
}

/// The Secret Service (GNOME Keyring, KWallet) over the session bus, through the blocking libdbus
/// store: no executor thread, so nothing runs in OBS's process between calls.
#[cfg(target_os = "linux")]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, KeyError> {
    let store = dbus_secret_service_keyring_store::Store::new().map_err(keyring_error)?;
    Ok(store)
}

/// Windows Credential Manager (generic credentials of the signed-in user).
#[cfg(windows)]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, KeyError> {
    let store = windows_native_keyring_store::Store::new().map_err(keyring_error)?;
    Ok(store)
}

/// The login keychain of the signed-in macOS user.
#[cfg(target_os = "macos")]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, KeyError> {
    let store = apple_native_keyring_store::keychain::Store::new().map_err(keyring_error)?;
    Ok(store)
}

#[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, KeyError> {
    Err(KeyError::Keyring(
        "no keyring backend is built for this platform".into(),
    ))
}

impl KeyStore for KeyringStore {
    fn backend(&self) -> Backend {
        Backend::Keyring
    }

    fn set(&self, account: &str, secret: &Secret) -> Result<(), KeyError> {
        self.entry(account)?
            .set_password(secret.expose())
            .map_err(keyring_error)
    }

    fn get(&self, account: &str) -> Result<Option<Secret>, KeyError> {
        match self.entry(account)?.get_password() {
            Ok(v) => Secret::new(v)
                .map(Some)
                .ok_or_else(|| KeyError::Corrupt(account.to_owned())),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(keyring_core::Error::BadEncoding(_)) => Err(KeyError::Corrupt(account.to_owned())),
            Err(e) => Err(keyring_error(e)),
        }
    }

    fn delete(&self, account: &str) -> Result<(), KeyError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(e)),
        }
    }
}

/// The OS keyring for `service` if it answers, else an in-memory store plus the reason the keyring
/// could not be used (tell the user once).
pub fn open(service: &str) -> (Arc<dyn KeyStore>, Option<String>) {
    match KeyringStore::open(service) {
        Ok(k) => (Arc::new(k), None),
        Err(e) => (Arc::new(MemoryStore::default()), Some(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("live_abc123").unwrap();
        assert_eq!(
            format!("{s:?} {s} {:?}", Some(&s)),
            "Secret(***) *** Some(Secret(***))"
        );
        assert_eq!(s.expose(), "live_abc123");
        assert!(Secret::new("").is_none());
        assert!(Secret::new("  ").is_none());
    }

    #[test]
    fn redact_removes_every_occurrence() {
        let k = Secret::new("sk_live_42").unwrap();
        assert_eq!(
            redact("rtmp://h/app/sk_live_42?x=sk_live_42", [&k]),
            "rtmp://h/app/***?x=***"
        );
        assert_eq!(redact("nothing here", [&k]), "nothing here");
    }

    #[test]
    fn memory_store_round_trip() {
        let m = MemoryStore::default();
        let s = Secret::new("abc-key").unwrap();
        assert_eq!(m.get("a").unwrap(), None);
        m.set("a", &s).unwrap();
        assert_eq!(m.get("a").unwrap(), Some(s));
        m.delete("a").unwrap();
        m.delete("a").unwrap();
        assert_eq!(m.get("a").unwrap(), None);
        assert_eq!(m.backend(), Backend::Memory);
    }
}
