//! The per-profile targets file (`<profile dir>/deckcast-targets.json`), written atomically.
//!
//! It holds target and encoder configurations and hotkey bindings, never stream keys (those live
//! in the keyring). Called from the targets worker thread only.
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use deckcast_protocol::targets::{EncoderConfig, TargetConfig, TargetsExport};
use serde::{Deserialize, Serialize};

/// File name inside the OBS profile directory.
pub const FILE_NAME: &str = "deckcast-targets.json";
/// `format` value of the file and of exports.
pub const FORMAT: &str = "deckcast-targets";
/// Current file version.
pub const VERSION: u32 = 1;

/// Reading or writing the targets file failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// I/O on the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a valid targets file.
    #[error("{path} is not a valid Deckcast targets file: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Contents of the targets file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// Targets in display order.
    pub targets: Vec<TargetConfig>,
    /// Dedicated encoder configs.
    #[serde(default)]
    pub encoders: Vec<EncoderConfig>,
    /// Hotkey bindings by hotkey name (OBS's own serialisation).
    #[serde(default)]
    pub hotkeys: BTreeMap<String, serde_json::Value>,
}

impl Default for ProfileFile {
    fn default() -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            targets: Vec::new(),
            encoders: Vec::new(),
            hotkeys: BTreeMap::new(),
        }
    }
}

impl ProfileFile {
    /// The export document (no keys, no hotkeys).
    pub fn export(&self) -> TargetsExport {
        TargetsExport {
            format: FORMAT.into(),
            version: VERSION,
            targets: self.targets.clone(),
            encoders: self.encoders.clone(),
        }
    }
}

/// Path of the targets file in `profile_dir`.
pub fn path_in(profile_dir: &Path) -> PathBuf {
    profile_dir.join(FILE_NAME)
}

/// Loads the file; a missing file is an empty configuration.
pub fn load(profile_dir: &Path) -> Result<ProfileFile, StoreError> {
    let path = path_in(profile_dir);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ProfileFile::default()),
        Err(source) => return Err(StoreError::Io { path, source }),
    };
    let file: ProfileFile = serde_json::from_str(&text).map_err(|e| StoreError::Invalid {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if file.format != FORMAT || file.version > VERSION {
        return Err(StoreError::Invalid {
            path,
            reason: format!(
                "format {:?} version {} is not supported (expected {FORMAT} ≤ {VERSION})",
                file.format, file.version
            ),
        });
    }
    Ok(file)
}

/// Moves an invalid file aside (`deckcast-targets.json.corrupt-<unix seconds>`, never over an
/// earlier one) so saving does not destroy it; returns the new path.
pub fn quarantine(profile_dir: &Path) -> Option<PathBuf> {
    let path = path_in(profile_dir);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let aside = (0..100)
        .map(|n| {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            profile_dir.join(format!("{FILE_NAME}.corrupt-{secs}{suffix}"))
        })
        .find(|p| !p.exists())?;
    fs::rename(&path, &aside).ok().map(|()| aside)
}

/// Writes the file atomically: temp file in the same directory, fsync, rename, fsync the directory.
pub fn save(profile_dir: &Path, file: &ProfileFile) -> Result<(), StoreError> {
    let path = path_in(profile_dir);
    let tmp = profile_dir.join(format!(".{FILE_NAME}.tmp"));
    let io = |source| StoreError::Io {
        path: path.clone(),
        source,
    };
    let json = serde_json::to_vec_pretty(file).map_err(|e| io(std::io::Error::other(e)))?;
    let written = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        // A full disk or a failed rename leaves the old file as it was, and no temp file.
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    if let Ok(dir) = fs::File::open(profile_dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use deckcast_protocol::targets::{EncoderChoice, Platform, ReconnectPolicy};

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "deckcast-store-{tag}-{}",
            crate::targets::model::new_id()
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn sample() -> ProfileFile {
        ProfileFile {
            targets: vec![TargetConfig {
                id: "abc".into(),
                name: "Twitch".into(),
                platform: Platform::Twitch,
                server: "rtmp://live.twitch.tv/app".into(),
                enabled: true,
                sync_start: true,
                sync_stop: false,
                reconnect: ReconnectPolicy::default(),
                encoder: EncoderChoice::Dedicated {
                    config_id: "e1".into(),
                },
            }],
            ..ProfileFile::default()
        }
    }

    #[test]
    fn missing_file_is_empty_and_round_trip_is_exact() {
        let d = temp_dir("rt");
        assert_eq!(load(&d).unwrap(), ProfileFile::default());
        let f = sample();
        save(&d, &f).unwrap();
        assert_eq!(load(&d).unwrap(), f);
        // No temp file is left behind.
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from(FILE_NAME)]);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn corrupt_files_are_reported_and_can_be_moved_aside() {
        let d = temp_dir("bad");
        fs::write(path_in(&d), "{not json").unwrap();
        assert!(matches!(load(&d), Err(StoreError::Invalid { .. })));
        fs::write(
            path_in(&d),
            r#"{"format":"other","version":1,"targets":[]}"#,
        )
        .unwrap();
        assert!(matches!(load(&d), Err(StoreError::Invalid { .. })));
        let aside = quarantine(&d).unwrap();
        assert!(aside.exists() && !path_in(&d).exists());
        fs::remove_dir_all(d).unwrap();
    }
}
