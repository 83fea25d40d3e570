//! MPRIS on Linux (Mixxx, VLC, Spotify, …): players on the session bus named
//! `org.mpris.MediaPlayer2.*`. The current track is the `Metadata` (`xesam:artist`, `xesam:title`,
//! `xesam:album`) of a player whose `PlaybackStatus` is `Playing` (paused and stopped players are
//! not what the audience hears); `player` narrows it to names containing that text.
use std::collections::HashMap;

use zbus::zvariant::OwnedValue;

use super::{Poll, Track};

const PREFIX: &str = "org.mpris.MediaPlayer2.";

/// The track of one player's metadata.
pub fn track_of(meta: &HashMap<String, OwnedValue>) -> Option<Track> {
    let text = |k: &str| meta.get(k).and_then(|v| String::try_from(v.clone()).ok());
    let title = text("xesam:title").filter(|t| !t.trim().is_empty())?;
    let artist = meta
        .get("xesam:artist")
        .and_then(|v| Vec::<String>::try_from(v.clone()).ok())
        .map(|a| a.join(", "))
        .or_else(|| text("xesam:artist"))
        .unwrap_or_default();
    Some(Track {
        artist,
        title,
        album: text("xesam:album").filter(|a| !a.is_empty()),
        bpm: None,
    })
}

/// Follows the playing MPRIS player.
pub struct Reader {
    filter: Option<String>,
    conn: Option<zbus::blocking::Connection>,
    last: Option<Track>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// Follows players whose bus name contains `filter` (any player if `None`).
    pub fn new(filter: Option<String>) -> Reader {
        Reader {
            filter,
            conn: None,
            last: None,
        }
    }

    fn playing(&mut self) -> Result<Option<Track>, String> {
        if self.conn.is_none() {
            // A player that hangs must not hang the readers: every call waits at most 2 s.
            self.conn = Some(crate::bus::session()?);
        }
        let conn = self.conn.as_ref().ok_or("no session bus")?;
        let names = zbus::blocking::fdo::DBusProxy::new(conn)
            .map_err(|e| format!("listing MPRIS players: {e}"))?
            .list_names()
            .map_err(|e| format!("listing MPRIS players: {e}"))?;
        for name in names
            .iter()
            .map(|n| n.as_str())
            .filter(|n| n.starts_with(PREFIX))
        {
            if self.filter.as_deref().is_some_and(|f| !name.contains(f)) {
                continue;
            }
            let proxy = zbus::blocking::Proxy::new(
                conn,
                name,
                "/org/mpris/MediaPlayer2",
                "org.mpris.MediaPlayer2.Player",
            )
            .map_err(|e| format!("{name}: {e}"))?;
            let status: String = proxy.get_property("PlaybackStatus").unwrap_or_default();
            if status != "Playing" {
                continue;
            }
            let meta: HashMap<String, OwnedValue> = proxy
                .get_property("Metadata")
                .map_err(|e| format!("{name}: metadata: {e}"))?;
            if let Some(t) = track_of(&meta) {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }
}

impl Poll for Reader {
    fn poll(&mut self) -> Result<Option<Track>, String> {
        let t = match self.playing() {
            Ok(t) => t,
            Err(e) => {
                self.conn = None; // reconnect next time
                return Err(e);
            }
        };
        Ok(super::changed(&mut self.last, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::zvariant::Value;

    #[test]
    fn metadata_gives_artist_title_album() {
        let mut m: HashMap<String, OwnedValue> = HashMap::new();
        m.insert(
            "xesam:title".into(),
            Value::from("One More Time").try_into().unwrap(),
        );
        m.insert(
            "xesam:artist".into(),
            Value::from(vec!["Daft Punk".to_string(), "Romanthony".to_string()])
                .try_into()
                .unwrap(),
        );
        m.insert(
            "xesam:album".into(),
            Value::from("Discovery").try_into().unwrap(),
        );
        let t = track_of(&m).unwrap();
        assert_eq!(
            (t.artist.as_str(), t.title.as_str(), t.album.as_deref()),
            ("Daft Punk, Romanthony", "One More Time", Some("Discovery"))
        );
        m.remove("xesam:title");
        assert_eq!(track_of(&m), None);
    }
}
