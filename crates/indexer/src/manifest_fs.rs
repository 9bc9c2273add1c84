//! [`FsManifestStore`]: manifests as binary files in one directory, a snapshot per ref plus an
//! append-only journal of path-hint updates.
//!
//! Why a journal: a one-file change should not rewrite (and fsync) a multi-megabyte snapshot.
//! A path-hint run appends one checksummed record (its entries and the new commit) and syncs
//! the journal once; a full run, or a journal grown past a quarter of the snapshot, writes a
//! new snapshot and the journal starts over.
//!
//! Crash safety:
//! * the snapshot is written to a temp file, fsynced and renamed over the old one, then the
//!   directory is synced: a reader sees the old or the new snapshot, whole;
//! * each snapshot has a random generation; the journal names the generation it extends, so a
//!   journal left behind by a crash just after a new snapshot was renamed in is ignored;
//! * each journal record carries its length and a BLAKE3 checksum (over the generation and the
//!   payload); a torn or damaged tail fails the check, is ignored by readers and cut off by the
//!   next writer. Records are only ever read in order, so nothing after a bad one is trusted.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::change_set::RefKey;
use crate::error::Error;
use crate::manifest::{Manifest, ManifestStore, ManifestUpdate};
use crate::manifest_codec::{
    CHECKSUM_BYTES, FORMAT_VERSION, SNAPSHOT_MAGIC, SNAPSHOT_PREAMBLE, SnapshotIndex,
    decode_update, encode_snapshot, encode_update,
};
use crate::manifest_view::ManifestView;

const JOURNAL_MAGIC: &[u8; 8] = b"CGIXJRNL";
/// magic + format + generation of the snapshot the journal extends.
const JOURNAL_HEADER_BYTES: usize = 8 + 4 + 8;
/// A journal is folded into a new snapshot once it would exceed this, or a quarter of the
/// snapshot when that is bigger: loads stay snapshot-speed, hint runs stay one small write.
const JOURNAL_MIN_COMPACT_BYTES: u64 = 256 * 1024;
/// The journal is kept zero-padded to a multiple of this. Why: an append that grows a file
/// needs a filesystem journal commit on `fdatasync` (the size changed), and on ext4 in
/// ordered mode that commit first flushes every other process's dirty data: under a busy disk
/// it took tens of ms. Overwriting bytes that are already allocated and written makes
/// `fdatasync` a data-only flush. One-file updates are ~0.5-1 KiB, so this is ~100 hint runs
/// per growth.
const JOURNAL_PAD_BYTES: u64 = 64 * 1024;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Manifests as binary files in one directory: a snapshot per (repo, ref), written with temp
/// file + fsync + rename, and a journal of path-hint updates next to it (see the module docs
/// of `manifest_fs` in the source for the crash-safety argument).
///
/// File names are the BLAKE3 hash of the key, so no repo or ref name can steer a path. A file
/// that fails its checksum or is of another format version reads as [`Error::Manifest`],
/// which a run treats as "no manifest" (it re-indexes). A JSON manifest left by an older
/// version of this crate is still read, and replaced by the binary one on the next save.
#[derive(Debug)]
pub struct FsManifestStore {
    dir: PathBuf,
}

impl FsManifestStore {
    /// A store in `dir`, created if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(FsManifestStore { dir })
    }

    /// The snapshot file that holds the manifest of `key` (its journal sits next to it, with
    /// the extension `journal`).
    pub fn path_for(&self, key: &RefKey) -> PathBuf {
        self.file_for(key, "bin")
    }

    /// The journal of path-hint updates to the snapshot of `key`.
    pub fn journal_path_for(&self, key: &RefKey) -> PathBuf {
        self.file_for(key, "journal")
    }

    fn file_for(&self, key: &RefKey, extension: &str) -> PathBuf {
        let mut hasher = blake3::Hasher::new();
        // Length-prefixed so ("a", "bc") and ("ab", "c") cannot collide.
        hasher.update(&(key.repo.len() as u64).to_le_bytes());
        hasher.update(key.repo.as_bytes());
        hasher.update(key.git_ref.as_bytes());
        self.dir.join(format!(
            "manifest-{}.{extension}",
            hasher.finalize().to_hex()
        ))
    }

    /// The whole snapshot plus its journal.
    fn load_all(&self, key: &RefKey) -> Result<Option<Manifest>, Error> {
        let path = self.path_for(key);
        let Some(bytes) = read_if_exists(&path)? else {
            return self.load_legacy_json(key);
        };
        let corrupt = |reason| Error::Manifest {
            path: path.clone(),
            reason,
        };
        let index = SnapshotIndex::parse(&bytes).map_err(corrupt)?;
        let region = bytes.get(index.blocks_start as usize..).unwrap_or_default();
        let mut manifest = index.decode_all(region).map_err(corrupt)?;
        self.apply_journal(key, index.generation, &mut manifest)?;
        Ok(Some(manifest))
    }

    /// The whole snapshot as a view, plus its journal: one read, checksums, no entry decoded.
    fn load_view_of(&self, key: &RefKey) -> Result<Option<ManifestView>, Error> {
        let path = self.path_for(key);
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(self.load_legacy_json(key)?.as_ref().map(ManifestView::from));
        };
        let corrupt = |reason| Error::Manifest {
            path: path.clone(),
            reason,
        };
        let index = SnapshotIndex::parse(&bytes).map_err(corrupt)?;
        let generation = index.generation;
        let mut view = index.into_view(bytes).map_err(corrupt)?;
        let journal = Journal::read(&self.journal_path_for(key), generation)?;
        for update in &journal.updates {
            view.apply(update);
        }
        Ok(Some(view))
    }

    /// The snapshot's index, the blocks holding `paths`, and the journal: a few small reads.
    fn load_some(&self, key: &RefKey, paths: &BTreeSet<String>) -> Result<Option<Manifest>, Error> {
        let path = self.path_for(key);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(self.load_legacy_json(key)?.map(|m| m.subset(paths)));
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        let corrupt = |reason| Error::Manifest {
            path: path.clone(),
            reason,
        };
        let read_at = |offset: u64, len: usize| -> Result<Vec<u8>, String> {
            let mut buf = vec![0; len];
            file.read_exact_at(&mut buf, offset)
                .map_err(|e| format!("cannot read {len} bytes at {offset}: {e}"))?;
            Ok(buf)
        };
        let preamble = read_at(0, SNAPSHOT_PREAMBLE).map_err(corrupt)?;
        let part_len = SnapshotIndex::index_part_len(&preamble).map_err(corrupt)?;
        let index =
            SnapshotIndex::parse(&read_at(0, part_len).map_err(corrupt)?).map_err(corrupt)?;
        let mut manifest = index
            .decode_paths(paths, |offset, len| {
                let len = usize::try_from(len).map_err(|_| "block too long".to_string())?;
                read_at(index.blocks_start.saturating_add(offset), len)
            })
            .map_err(corrupt)?;
        self.apply_journal(key, index.generation, &mut manifest)?;
        // Journal records may name other paths; a caller asked for these only.
        manifest.files.retain(|path, _| paths.contains(path));
        manifest.skipped.retain(|path, _| paths.contains(path));
        Ok(Some(manifest))
    }

    fn apply_journal(
        &self,
        key: &RefKey,
        generation: u64,
        manifest: &mut Manifest,
    ) -> Result<(), Error> {
        let journal = Journal::read(&self.journal_path_for(key), generation)?;
        for update in &journal.updates {
            update.apply_to(manifest);
        }
        Ok(())
    }

    fn load_legacy_json(&self, key: &RefKey) -> Result<Option<Manifest>, Error> {
        let path = self.file_for(key, "json");
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Manifest {
                path,
                reason: format!("not a valid JSON manifest: {e}"),
            })
    }

    /// Generation and size of the current snapshot, without reading all of it.
    fn snapshot_head(&self, key: &RefKey) -> Result<Option<(u64, u64)>, Error> {
        let path = self.path_for(key);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        let mut head = [0u8; SNAPSHOT_PREAMBLE];
        if file.read_exact(&mut head).is_err() || &head[..8] != SNAPSHOT_MAGIC {
            return Ok(None);
        }
        let mut generation = [0u8; 8];
        generation.copy_from_slice(&head[12..20]);
        Ok(Some((u64::from_le_bytes(generation), len)))
    }

    /// Appends `update` to the journal of the snapshot `generation`, cutting off any torn tail
    /// (or a journal of an older snapshot) first; fsynced before returning.
    fn append(
        &self,
        key: &RefKey,
        generation: u64,
        journal: &Journal,
        update: &ManifestUpdate,
    ) -> Result<(), Error> {
        let valid_len = journal.valid_len;
        let path = self.journal_path_for(key);
        let io_err = |e| Error::io(&path, e);
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        let mut out = Vec::new();
        if valid_len == 0 {
            out.extend_from_slice(JOURNAL_MAGIC);
            out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            out.extend_from_slice(&generation.to_le_bytes());
        }
        let payload = encode_update(update);
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        out.extend_from_slice(record_checksum(generation, &payload).as_bytes());
        let end = valid_len + out.len() as u64;
        if valid_len == 0 || !journal.zero_tail || end > journal.file_len {
            // A new journal, a torn or damaged tail to cut off, or no room left: (re)write
            // the tail with fresh zero padding after the record (this once, the size changes).
            let padded = end.div_ceil(JOURNAL_PAD_BYTES) * JOURNAL_PAD_BYTES;
            out.resize(out.len() + (padded - end) as usize, 0);
            file.set_len(valid_len).map_err(io_err)?;
        }
        file.seek(SeekFrom::Start(valid_len)).map_err(io_err)?;
        file.write_all(&out).map_err(io_err)?;
        file.sync_data().map_err(io_err)?;
        if !existed {
            sync_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        }
        Ok(())
    }
}

impl ManifestStore for FsManifestStore {
    fn load(&self, key: &RefKey) -> Result<Option<Manifest>, Error> {
        self.load_all(key)
    }

    fn load_paths(
        &self,
        key: &RefKey,
        paths: &BTreeSet<String>,
    ) -> Result<Option<Manifest>, Error> {
        self.load_some(key, paths)
    }

    fn load_view(&self, key: &RefKey) -> Result<Option<ManifestView>, Error> {
        self.load_view_of(key)
    }

    fn save(&self, key: &RefKey, manifest: &Manifest) -> Result<(), Error> {
        let path = self.path_for(key);
        let bytes = encode_snapshot(manifest, new_generation(&path));
        let temp = path.with_extension(format!(
            "tmp.{}.{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = write_synced(&temp, &bytes).and_then(|()| fs::rename(&temp, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(Error::io(&path, e));
        }
        // The old journal extends the old generation and would be ignored anyway; removing it
        // keeps the directory tidy. Same for a JSON manifest of an older version.
        for stale in [self.journal_path_for(key), self.file_for(key, "json")] {
            remove_if_exists(&stale)?;
        }
        // The rename is durable only once the directory itself is synced.
        sync_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))
    }

    fn save_update(&self, key: &RefKey, update: &ManifestUpdate) -> Result<(), Error> {
        let head = self.snapshot_head(key)?;
        let journal = match head {
            Some((generation, _)) => Journal::read(&self.journal_path_for(key), generation)?,
            None => Journal::default(),
        };
        let record_len = 8 + encode_update(update).len() + CHECKSUM_BYTES;
        let limit = head.map_or(0, |(_, len)| (len / 4).max(JOURNAL_MIN_COMPACT_BYTES));
        match head {
            Some((generation, _)) if journal.valid_len + record_len as u64 <= limit => {
                self.append(key, generation, &journal, update)
            }
            // No snapshot yet (or an old JSON one), or the journal is due for compaction:
            // write a whole new snapshot.
            _ => {
                let Some(mut manifest) = self.load(key)? else {
                    return Err(Error::Manifest {
                        path: self.path_for(key),
                        reason: "no stored manifest to apply a path-hint update to".into(),
                    });
                };
                update.apply_to(&mut manifest);
                self.save(key, &manifest)
            }
        }
    }

    fn remove(&self, key: &RefKey) -> Result<(), Error> {
        let mut removed = false;
        for path in [
            self.path_for(key),
            self.journal_path_for(key),
            self.file_for(key, "json"),
        ] {
            removed |= remove_if_exists(&path)?;
        }
        if removed {
            sync_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        }
        Ok(())
    }
}

/// The valid records of a journal.
#[derive(Debug, Default)]
struct Journal {
    updates: Vec<ManifestUpdate>,
    /// Bytes up to the end of the last valid record; 0 when the journal is missing, of another
    /// generation or has a damaged header (the next append starts it over).
    valid_len: u64,
    /// Everything after `valid_len` is zero padding (so the next record can overwrite it).
    zero_tail: bool,
    /// The journal file's length.
    file_len: u64,
}

impl Journal {
    fn read(path: &Path, generation: u64) -> Result<Journal, Error> {
        let Some(bytes) = read_if_exists(path)? else {
            return Ok(Journal::default());
        };
        let mut expected_header = Vec::with_capacity(JOURNAL_HEADER_BYTES);
        expected_header.extend_from_slice(JOURNAL_MAGIC);
        expected_header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        expected_header.extend_from_slice(&generation.to_le_bytes());
        if !bytes.starts_with(&expected_header) {
            tracing::debug!(path = %path.display(), "journal of another snapshot or format; ignored");
            return Ok(Journal::default());
        }
        let mut journal = Journal {
            updates: Vec::new(),
            valid_len: JOURNAL_HEADER_BYTES as u64,
            zero_tail: true,
            file_len: bytes.len() as u64,
        };
        let mut rest = &bytes[JOURNAL_HEADER_BYTES..];
        while !rest.is_empty() {
            match next_record(rest, generation) {
                Ok((update, used)) => {
                    journal.updates.push(update);
                    journal.valid_len += used as u64;
                    rest = &rest[used..];
                }
                // The padding after the last record (a zero length with a zero checksum is
                // never valid, so padding cannot pass for a record).
                Err(_) if rest.iter().all(|&b| b == 0) => break,
                Err(reason) => {
                    journal.zero_tail = false;
                    tracing::warn!(path = %path.display(), %reason,
                        "journal ends with a torn or damaged record; ignoring it and what follows");
                    break;
                }
            }
        }
        Ok(journal)
    }
}

/// One record: payload length (u64), payload, checksum. Returns the update and bytes used.
fn next_record(bytes: &[u8], generation: u64) -> Result<(ManifestUpdate, usize), String> {
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("truncated record length")?;
    let len = usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|_| "record too long")?;
    let end = len
        .checked_add(8 + CHECKSUM_BYTES)
        .filter(|end| *end <= bytes.len())
        .ok_or("truncated record")?;
    let payload = &bytes[8..8 + len];
    if record_checksum(generation, payload).as_bytes() != &bytes[8 + len..end] {
        return Err("record checksum mismatch".into());
    }
    Ok((decode_update(payload)?, end))
}

fn record_checksum(generation: u64, payload: &[u8]) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&generation.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// A generation id that differs between saves (time, process, counter, path).
fn new_generation(path: &Path) -> u64 {
    let mut hasher = blake3::Hasher::new();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.update(&now.to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    hasher.update(&TEMP_COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    hasher.update(path.as_os_str().as_encoded_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
    u64::from_le_bytes(first)
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn remove_if_exists(path: &Path) -> Result<bool, Error> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
