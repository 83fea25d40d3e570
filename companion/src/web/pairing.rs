//! Pairing a phone in LAN mode (`deckcast serve --lan`): one-time codes, each good for one login
//! within [`CODE_TTL_MS`], carried in the fragment of `https://<address>:<port>/pair#<code>` (a
//! fragment never reaches a server, so no proxy or server log holds it). `POST /api/v1/pairing`
//! makes one for the dashboard's QR code; the `/pair` page trades it for a session cookie through
//! `POST /api/v1/login`.
use std::collections::HashMap;
use std::sync::Mutex;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::{ApiError, AppState};
use crate::lan::Lan;

/// How long a pairing code can be used (10 minutes).
pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;
/// Most codes alive at once (older ones are dropped first).
const MAX_CODES: usize = 16;

/// LAN mode: where the phone connects and the codes handed out.
#[derive(Debug)]
pub struct LanState {
    /// The address, certificate and TLS configuration.
    pub lan: Lan,
    /// Live codes → expiry (Unix ms).
    codes: Mutex<HashMap<String, i64>>,
}

/// A one-time code, as its URL.
#[derive(Debug, Clone)]
pub struct Code {
    /// The URL to open on the phone: the code is in its fragment.
    pub url: String,
    /// When the code stops working (Unix ms).
    pub expires_ms: i64,
}

/// A code made for the dashboard's "Pair a phone", with its QR code.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pairing {
    /// The URL to open on the phone: the code is in its fragment.
    pub url: String,
    /// When the code stops working (Unix ms).
    pub expires_ms: i64,
    /// SHA-256 of the server's certificate, to compare with what the phone's browser shows.
    #[schema(pattern = "^([0-9A-F]{2}:){31}[0-9A-F]{2}$")]
    pub fingerprint: String,
    /// The URL as a QR code (SVG).
    pub svg: String,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl LanState {
    /// LAN mode with `lan` and no codes yet.
    pub fn new(lan: Lan) -> LanState {
        LanState {
            lan,
            codes: Mutex::default(),
        }
    }

    /// A new one-time code and its URL.
    pub fn issue(&self) -> Result<Code, crate::keys::KeysError> {
        // 128 random bits are plenty for a code that lives 10 minutes and is used once.
        let code = crate::keys::random_token()?.expose()[..32].to_owned();
        let now = now_ms();
        let expires_ms = now + CODE_TTL_MS;
        {
            let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
            codes.retain(|_, exp| *exp > now);
            while codes.len() >= MAX_CODES {
                let oldest = codes
                    .iter()
                    .min_by_key(|(_, exp)| **exp)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => codes.remove(&k),
                    None => break,
                };
            }
            codes.insert(code.clone(), expires_ms);
        }
        Ok(Code {
            url: format!("{}/pair#{code}", self.lan.base_url),
            expires_ms,
        })
    }

    /// A new code for the dashboard: its URL as a QR code (SVG) and the certificate's fingerprint.
    pub fn pairing(&self) -> Result<Pairing, crate::keys::KeysError> {
        let code = self.issue()?;
        let svg = crate::lan::svg_qr(&code.url).unwrap_or_default();
        Ok(Pairing {
            url: code.url,
            expires_ms: code.expires_ms,
            fingerprint: self.lan.fingerprint.clone(),
            svg,
        })
    }

    /// Uses `code` up: true once for a live code, false for anything else.
    pub fn redeem(&self, code: &str) -> bool {
        let now = now_ms();
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        codes.retain(|_, exp| *exp > now);
        let found = codes
            .keys()
            .find(|k| super::auth::constant_time_eq(k.as_bytes(), code.as_bytes()))
            .cloned();
        found.is_some_and(|k| codes.remove(&k).is_some())
    }
}

/// A one-time pairing code for a phone, with its URL and QR code (LAN mode only: `deckcast serve
/// --lan`).
#[utoipa::path(post, path = "/pairing", tag = "auth",
    responses(
        (status = 200, description = "Pairing", body = Pairing),
        (status = 409, description = "Not in LAN mode (`not_on_lan`)."),
        (status = 503, description = "No randomness for a code."),
    ))]
pub(super) async fn create_pairing(
    State(state): State<AppState>,
) -> Result<Json<Pairing>, ApiError> {
    let lan = state.lan.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_on_lan",
            "pairing a phone needs the dashboard on the local network: run deckcast serve --lan",
        )
    })?;
    lan.pairing()
        .map(Json)
        .map_err(|e| ApiError::from(crate::app::AppError::from(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_works_once_and_only_while_it_lives() {
        let dir = std::env::temp_dir().join(format!("deckcast-pairing-{}", std::process::id()));
        let lan = crate::lan::prepare(&dir, "192.0.2.9".parse().unwrap(), 8750).unwrap();
        let state = LanState::new(lan);
        let p = state.pairing().unwrap();
        let (base, code) = p.url.split_once("/pair#").unwrap();
        assert_eq!(base, "https://192.0.2.9:8750");
        assert_eq!(code.len(), 32);
        assert!(p.svg.contains("<svg"));
        assert!(!state.redeem("not-a-code"));
        assert!(state.redeem(code));
        assert!(!state.redeem(code), "used up");
        // Old codes make way for new ones; each stays single-use.
        let codes: Vec<String> = (0..MAX_CODES + 4)
            .map(|_| {
                state
                    .issue()
                    .unwrap()
                    .url
                    .split_once('#')
                    .unwrap()
                    .1
                    .to_owned()
            })
            .collect();
        let live = codes.iter().filter(|c| state.redeem(c)).count();
        assert_eq!(live, MAX_CODES);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
