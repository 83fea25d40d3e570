//! A fake MPRIS player (`org.mpris.MediaPlayer2.<name>`) on a given session bus, as Mixxx, VLC
//! or Spotify would register one.
use std::collections::HashMap;

use anyhow::{Context, Result};
use zbus::zvariant::{OwnedValue, Value};

struct Player {
    status: String,
    artist: String,
    title: String,
}

#[zbus::interface(name = "org.mpris.MediaPlayer2.Player")]
impl Player {
    #[zbus(property)]
    fn playback_status(&self) -> String {
        self.status.clone()
    }

    #[zbus(property)]
    fn metadata(&self) -> HashMap<String, OwnedValue> {
        let mut m = HashMap::new();
        if let Ok(v) = Value::from(vec![self.artist.clone()]).try_into() {
            m.insert("xesam:artist".to_owned(), v);
        }
        if let Ok(v) = Value::from(self.title.clone()).try_into() {
            m.insert("xesam:title".to_owned(), v);
        }
        m
    }
}

/// A registered player; dropped = gone from the bus.
pub struct FakePlayer {
    _conn: zbus::blocking::Connection,
}

impl std::fmt::Debug for FakePlayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakePlayer").finish_non_exhaustive()
    }
}

impl FakePlayer {
    /// Registers `org.mpris.MediaPlayer2.<name>` on the bus at `address`.
    pub fn start(
        address: &str,
        name: &str,
        status: &str,
        artist: &str,
        title: &str,
    ) -> Result<FakePlayer> {
        let conn = zbus::blocking::connection::Builder::address(address)
            .context("bus address")?
            .name(format!("org.mpris.MediaPlayer2.{name}"))?
            .serve_at(
                "/org/mpris/MediaPlayer2",
                Player {
                    status: status.to_owned(),
                    artist: artist.to_owned(),
                    title: title.to_owned(),
                },
            )?
            .build()
            .context("registering the fake MPRIS player")?;
        Ok(FakePlayer { _conn: conn })
    }
}
