//! Recording files as the companion sees them: where a path OBS names lies on this computer
//! (OBS may run in a container or a chroot, see `RecordingSettings::obs_root`) and reading a
//! finished file's size and SHA-256. Only regular files are read; nothing here writes or
//! deletes.
//!
//! Threads: blocking file I/O; callers run it on the blocking pool.
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

/// Where the file OBS names `obs_path` is on this computer: below `obs_root` when OBS sees
/// another file system, else the path itself. The path must be absolute and may not climb out
/// with `..`.
pub fn local_path(obs_root: Option<&str>, obs_path: &str) -> Result<PathBuf, String> {
    let p = Path::new(obs_path);
    if !p.is_absolute() {
        return Err(format!("OBS named a relative recording path: {obs_path}"));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(format!("OBS's recording path climbs with '..': {obs_path}"));
    }
    Ok(match obs_root {
        None => p.to_path_buf(),
        Some(root) => {
            let rel: PathBuf = p
                .components()
                .filter(|c| matches!(c, Component::Normal(_)))
                .collect();
            Path::new(root).join(rel)
        }
    })
}

/// Checks an `obs_root` setting: an absolute path to an existing directory.
pub fn check_root(root: &str) -> Result<(), String> {
    let p = Path::new(root);
    if !p.is_absolute() {
        return Err(format!("obsRoot must be an absolute path, not '{root}'"));
    }
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!("obsRoot '{root}' is not a directory")),
        Err(e) => Err(format!("obsRoot '{root}': {e}")),
    }
}

/// A finished file's size and SHA-256 (lower-case hex). Only a regular file is read (a FIFO or
/// device named by mistake would block or never end).
pub fn hash(path: &Path) -> Result<(u64, String), String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    let mut f = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading {shown}: {e}")),
        };
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for b in digest {
        use std::fmt::Write;
        let _ = write!(hex, "{b:02x}");
    }
    Ok((bytes, hex))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_below_the_root_and_never_climb_out() {
        assert_eq!(
            local_path(None, "/home/dj/Videos/set.mp4").unwrap(),
            PathBuf::from("/home/dj/Videos/set.mp4")
        );
        assert_eq!(
            local_path(Some("/srv/obs-root"), "/home/dj/Videos/set.mp4").unwrap(),
            PathBuf::from("/srv/obs-root/home/dj/Videos/set.mp4")
        );
        assert!(local_path(Some("/srv"), "/home/../etc/shadow").is_err());
        assert!(local_path(None, "set.mp4").is_err());
    }

    #[test]
    fn hashes_match_a_known_digest_and_only_regular_files_are_read() {
        let dir = std::env::temp_dir().join(format!("deckcast-recfiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.mkv");
        std::fs::write(&f, b"abc").unwrap();
        // FIPS 180-2, appendix B.1: SHA-256("abc").
        assert_eq!(
            hash(&f).unwrap(),
            (
                3,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_owned()
            )
        );
        let e = hash(&dir).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        assert!(hash(&dir.join("missing.mp4")).is_err());
        assert!(check_root(dir.to_str().unwrap()).is_ok());
        assert!(check_root("relative/dir").is_err());
        assert!(check_root(f.to_str().unwrap()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
