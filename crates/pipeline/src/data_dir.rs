//! The data dir is the operator's alone: `serve` and `index` set the process umask to `077`
//! before they create anything, so every mirror, tree, sled and tantivy file under it is
//! created `0600` (directories `0700`), and the data dir itself is made or tightened to
//! `0700`. A data dir that group or others could enter is tightened, with a warning: files
//! made under it by an older version keep their modes, but nobody else can reach them.

use std::io;
use std::path::{Path, PathBuf};

/// Sets the process umask to `077` (Unix; elsewhere nothing happens). Call it before any
/// thread starts: the umask is process-wide.
pub fn restrict_umask() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// What [`ensure_private`] did to an existing dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tightened {
    /// It was created, or already owner-only.
    No,
    /// It had group or other permission bits (the old mode), now removed.
    From(u32),
}

/// Creates `path` (and missing parents) owner-only, or removes the group and other bits of
/// an existing one.
pub fn ensure_private(path: &Path) -> io::Result<Tightened> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !path.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)?;
        }
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
        if mode & 0o077 == 0 {
            return Ok(Tightened::No);
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        Ok(Tightened::From(mode))
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(path)?;
        Ok(Tightened::No)
    }
}

/// [`ensure_private`], with the warning an operator needs when a dir was tightened.
pub fn ensure_private_logged(path: &Path) -> io::Result<()> {
    if let Tightened::From(mode) = ensure_private(path)? {
        tracing::warn!(
            path = %path.display(),
            old_mode = format!("{mode:o}"),
            "the data dir was open to group or others; tightened to owner-only (0700). Files \
             made under it earlier keep their modes but can no longer be reached by others"
        );
    }
    Ok(())
}

/// [`ensure_private_logged`], then a probe write: creating the dir can succeed on a read-only
/// mount that already has it. Answers the dir's absolute path: git runs with other working
/// directories (and resolves a relative `GIT_INDEX_FILE` against the work tree), so relative
/// paths would point elsewhere.
pub fn ensure_writable(path: &Path) -> io::Result<PathBuf> {
    ensure_private_logged(path)?;
    let probe = path.join(".write-probe");
    std::fs::write(&probe, b"ok")?;
    std::fs::remove_file(&probe)?;
    std::fs::canonicalize(path)
}

/// A data dir indexed before it had a change feed (or whose `feed/` was deleted): the feed
/// must learn every indexed file, not only the next changes, so the manifests go and the
/// start-up catch-up jobs re-read every ref once (the search index is rewritten file by file
/// with the same content). Call it before the feed is created, so a crash in between repeats
/// it.
pub fn forget_manifests_without_feed(data: &Path) -> io::Result<()> {
    let manifests = data.join("manifests");
    let has_any = std::fs::read_dir(&manifests).is_ok_and(|mut entries| entries.next().is_some());
    if data.join("feed").exists() || !has_any {
        return Ok(());
    }
    tracing::warn!(
        "the data dir has no change feed yet: every ref is re-indexed once so that the feed holds its chunks"
    );
    std::fs::remove_dir_all(&manifests)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn new_dirs_are_owner_only_and_open_ones_are_tightened() {
        let temp = tempfile::tempdir().unwrap();
        let fresh = temp.path().join("a/b/data");
        assert_eq!(ensure_private(&fresh).unwrap(), Tightened::No);
        assert_eq!(mode(&fresh), 0o700);

        let open = temp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(ensure_private(&open).unwrap(), Tightened::From(0o755));
        assert_eq!(mode(&open), 0o700);
        assert_eq!(ensure_private(&open).unwrap(), Tightened::No);
    }

    #[test]
    fn a_writable_dir_is_made_and_answered_absolute() {
        let temp = tempfile::tempdir().unwrap();
        let data = temp.path().join("data");
        let absolute = ensure_writable(&data.join("../data")).unwrap();
        assert_eq!(absolute, data.canonicalize().unwrap());
        assert_eq!(mode(&data), 0o700);
        assert_eq!(
            std::fs::read_dir(&data).unwrap().count(),
            0,
            "no probe left"
        );
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o500)).unwrap();
        let read_only = ensure_writable(&data);
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        // root writes anyway; everyone else is refused.
        if rustix::process::geteuid().is_root() {
            return;
        }
        assert!(read_only.is_err());
    }

    #[test]
    fn manifests_go_only_when_there_is_no_feed_yet() {
        let temp = tempfile::tempdir().unwrap();
        let data = temp.path();
        std::fs::create_dir_all(data.join("manifests/demo")).unwrap();
        std::fs::create_dir(data.join("feed")).unwrap();
        forget_manifests_without_feed(data).unwrap();
        assert!(
            data.join("manifests/demo").exists(),
            "a feed is there: kept"
        );
        std::fs::remove_dir(data.join("feed")).unwrap();
        forget_manifests_without_feed(data).unwrap();
        assert!(!data.join("manifests").exists(), "no feed: re-indexed once");
        forget_manifests_without_feed(data).unwrap();
    }
}
