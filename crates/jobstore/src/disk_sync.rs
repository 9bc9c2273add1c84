//! Making sled's writes survive a power loss, not only a crash of the process.
//!
//! `sled::Tree::flush` (0.34.7) writes its log buffers with `pwrite` and then calls
//! `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)` on the written range of its `db` file
//! (`pagecache/iobuf.rs`, `write_to_log`). That puts the bytes in the device's queue but
//! neither flushes the device's volatile write cache nor writes the file's metadata (the
//! file grows as sled allocates log segments), so after a power loss an acknowledged write
//! can be missing. sled calls `fsync` on its own only from its background flusher, every
//! 500 ms. Values too large for a log segment (over about 128 KiB, which a leaf full of
//! delivery-key batches can reach) go to files under `blobs/` that sled never syncs.
//!
//! So after every flush the store calls `fdatasync` on the `db` file, and on every blob file
//! sled wrote since the last sync (then on `blobs/` itself, for their names). One sync serves
//! every caller of a group commit. The directory entries of the store's files are synced once
//! at open.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// The files of one sled directory that hold acknowledged writes, kept open for syncing.
#[derive(Debug)]
pub(crate) struct DiskSync {
    db: File,
    blobs: PathBuf,
    /// Blob files already synced (sled names them by log sequence number).
    synced_blobs: Mutex<BTreeSet<std::ffi::OsString>>,
    /// Successful syncs since open.
    count: AtomicU64,
}

impl DiskSync {
    /// Opens the `db` file of the sled directory `dir` and syncs the directory entries that
    /// make the store findable after a power loss (`dir` in its parent, sled's files in
    /// `dir`). Call it after sled created its files.
    pub(crate) fn open(dir: &Path) -> io::Result<DiskSync> {
        let db = File::open(dir.join("db"))?;
        let sync = DiskSync {
            db,
            blobs: dir.join("blobs"),
            synced_blobs: Mutex::new(BTreeSet::new()),
            count: AtomicU64::new(0),
        };
        sync.sync()?;
        sync_dir(dir)?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(sync)
    }

    /// `fdatasync` of everything sled wrote so far: its log file and new blob files.
    /// Call it after `sled::Tree::flush` returned.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.db.sync_data()?;
        self.sync_new_blobs()?;
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// How many syncs succeeded since open (the one at open included).
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn sync_new_blobs(&self) -> io::Result<()> {
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut synced = self
            .synced_blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut present = BTreeSet::new();
        let mut new = false;
        for entry in entries {
            let name = entry?.file_name();
            if !synced.contains(&name) {
                match File::open(self.blobs.join(&name)) {
                    Ok(file) => file.sync_data()?,
                    // Collected by sled since the listing: nothing left to keep.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new = true;
            }
            present.insert(name);
        }
        if new {
            sync_dir(&self.blobs)?;
        }
        // Forget blobs sled removed, so the set stays as small as the directory.
        *synced = present;
        Ok(())
    }
}

/// `fsync` of a directory, so the names in it survive a power loss.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
