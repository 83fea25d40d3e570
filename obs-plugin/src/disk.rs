//! Free space on a filesystem (`statvfs` through rustix's safe wrapper): what an unprivileged
//! writer such as OBS's recording can still use.
use std::path::Path;

/// Bytes available to unprivileged writers on the filesystem holding `path`; `None` if it cannot
/// be read (no such folder, or a platform without `statvfs`).
pub fn free_bytes(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let s = rustix::fs::statvfs(path).ok()?;
        Some(s.f_bavail.saturating_mul(s.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temp_folder_has_room_and_a_missing_one_has_none() {
        assert!(free_bytes(&std::env::temp_dir()).is_some_and(|b| b > 0));
        assert_eq!(free_bytes(Path::new("/no/such/folder/deckcast")), None);
    }
}
