//! Looking at one file of the tree: stat, the symlink policy, the stat cache, reading, the
//! content-based skips, hashing and chunking.
//!
//! Symlink policy: a link is never followed out of the tree. Its target is canonicalized; a
//! target outside the tree root (or inside its `.git`) is skipped as `SymlinkOutsideTree`, a
//! loop as `SymlinkLoop`, a dangling link or a link to a directory as `NotAFile` (directories
//! are reached by the walk itself, so following links to them would only duplicate or loop).
//! A link to a regular file inside the tree is indexed under the link's own path, with the
//! target's content and stat data.
//!
//! Every file is opened with `O_NOFOLLOW`, so a path swapped for a symlink after it was
//! checked fails to open instead of being read. The residual race: a *directory* above the
//! file swapped for a link between the check and the open is not caught by `O_NOFOLLOW`
//! (which guards the last component only); closing it would need `openat2(RESOLVE_BENEATH)`.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::change_set::Chunk;
use crate::chunker::chunk_text;
use crate::config::IndexerConfig;
use crate::gitattributes::LinguistAttributes;
use crate::manifest::{FileStat, Manifest};
use crate::skip::SkipReason;

/// The first bytes git (and we) look at for a NUL to call a file binary.
const BINARY_SNIFF_BYTES: usize = 8000;
const LFS_POINTER_PREFIX: &[u8] = b"version https://git-lfs.github.com/spec/v1";

/// What looking at one path found.
#[derive(Debug)]
pub(crate) enum Probe {
    /// Nothing is there (any more).
    Gone,
    /// Not indexed; `remember` is set for content-based reasons, to cache the verdict.
    Skipped {
        reason: SkipReason,
        remember: Option<FileStat>,
    },
    /// Same content as the manifest entry (stat unchanged, or re-read and same hash).
    Unchanged { stat: FileStat },
    /// New or changed content.
    Read {
        stat: FileStat,
        hash: String,
        size: u64,
        chunks: Vec<Chunk>,
    },
}

/// Everything needed to probe files, shared by the walker threads.
#[derive(Debug)]
pub(crate) struct Prober {
    /// The canonical tree root.
    pub(crate) root: PathBuf,
    pub(crate) config: IndexerConfig,
    pub(crate) attributes: LinguistAttributes,
    /// The previous manifest, when its stat cache can be trusted.
    pub(crate) cache: Option<Arc<Manifest>>,
    /// How many files were actually read (for the run summary and the stat-cache tests).
    pub(crate) files_read: AtomicU64,
}

impl Prober {
    pub(crate) fn files_read(&self) -> u64 {
        self.files_read.load(Ordering::Relaxed)
    }

    /// Probes `rel` (relative, `/`-separated), found at `abs` under the root.
    pub(crate) fn probe(&self, rel: &str, abs: &Path) -> Probe {
        if let Some(reason) = self.attributes.classify(rel) {
            return skipped(reason);
        }
        let link_meta = match fs::symlink_metadata(abs) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Probe::Gone,
            Err(_) => return skipped(SkipReason::Unreadable),
        };
        let (open_path, meta) = if link_meta.file_type().is_symlink() {
            match self.resolve_link(abs) {
                Ok(resolved) => resolved,
                Err(reason) => return skipped(reason),
            }
        } else {
            (abs.to_path_buf(), link_meta)
        };
        if !meta.is_file() {
            return skipped(SkipReason::NotAFile);
        }
        let stat = file_stat(&meta);
        if stat.size > self.config.max_file_bytes {
            return skipped(SkipReason::TooLarge);
        }
        if let Some(cached) = self.cached(rel, &stat) {
            return cached;
        }
        self.read(rel, &open_path)
    }

    /// The canonical target of an in-tree link to something, or why it is skipped.
    fn resolve_link(&self, abs: &Path) -> Result<(PathBuf, Metadata), SkipReason> {
        let target = fs::canonicalize(abs).map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => SkipReason::SymlinkLoop,
            _ if e.kind() == io::ErrorKind::NotFound => SkipReason::NotAFile,
            _ => SkipReason::Unreadable,
        })?;
        let inside = target.strip_prefix(&self.root).is_ok_and(|rel| {
            !rel.components()
                .any(|c| c == Component::Normal(".git".as_ref()))
        });
        if !inside {
            return Err(SkipReason::SymlinkOutsideTree);
        }
        let meta = fs::symlink_metadata(&target).map_err(|_| SkipReason::Unreadable)?;
        Ok((target, meta))
    }

    /// The stat-cache verdict, when the stat data matches and the entry is not racily clean.
    fn cached(&self, rel: &str, stat: &FileStat) -> Option<Probe> {
        let manifest = self.cache.as_ref()?;
        // Racily clean (git's rule): a file modified in the same second the manifest was
        // written (or later) may have changed again without its mtime moving, so re-hash it.
        let racy = stat.mtime_ns.div_euclid(1_000_000_000)
            >= manifest.written_at_ns().div_euclid(1_000_000_000);
        if racy {
            return None;
        }
        if let Some(entry) = manifest.get(rel) {
            return (entry.stat == *stat).then_some(Probe::Unchanged { stat: *stat });
        }
        let skipped = manifest.skipped_map().get(rel)?;
        (skipped.stat == *stat).then_some(Probe::Skipped {
            reason: skipped.reason,
            remember: Some(*stat),
        })
    }

    fn read(&self, rel: &str, path: &Path) -> Probe {
        let file = match open_no_follow(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Probe::Gone,
            Err(_) => return skipped(SkipReason::Unreadable),
        };
        // Stat the open file, before reading: if it changes while we read, its mtime moves past
        // what we record and the next run reads it again.
        let meta = match file.metadata() {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => return skipped(SkipReason::NotAFile),
            Err(_) => return skipped(SkipReason::Unreadable),
        };
        let stat = file_stat(&meta);
        self.files_read.fetch_add(1, Ordering::Relaxed);
        let limit = self.config.max_file_bytes;
        if stat.size > limit {
            return skipped(SkipReason::TooLarge);
        }
        let capacity = usize::try_from(stat.size).unwrap_or(0).saturating_add(1);
        let mut bytes = Vec::with_capacity(capacity);
        if file
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .is_err()
        {
            return skipped(SkipReason::Unreadable);
        }
        if bytes.len() as u64 > limit {
            return skipped(SkipReason::TooLarge);
        }
        if let Some(reason) = self.content_skip(&bytes) {
            return Probe::Skipped {
                reason,
                remember: Some(stat),
            };
        }
        let hash = self.config.hash.hex_digest(&bytes);
        let same = self
            .cache
            .as_ref()
            .and_then(|m| m.get(rel))
            .is_some_and(|entry| entry.hash == hash);
        if same {
            return Probe::Unchanged { stat };
        }
        let text = String::from_utf8_lossy(&bytes);
        let chunks = chunk_text(&text, &self.config.chunking, self.config.hash);
        Probe::Read {
            stat,
            hash,
            size: bytes.len() as u64,
            chunks,
        }
    }

    fn content_skip(&self, bytes: &[u8]) -> Option<SkipReason> {
        if bytes[..bytes.len().min(BINARY_SNIFF_BYTES)].contains(&0) {
            return Some(SkipReason::Binary);
        }
        if bytes.starts_with(LFS_POINTER_PREFIX) {
            return Some(SkipReason::LfsPointer);
        }
        let max_avg = self.config.max_avg_line_len;
        if max_avg > 0 && !bytes.is_empty() {
            let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
            let lines = newlines + usize::from(bytes.last() != Some(&b'\n'));
            if bytes.len() / lines.max(1) > max_avg {
                return Some(SkipReason::Minified);
            }
        }
        None
    }
}

fn skipped(reason: SkipReason) -> Probe {
    Probe::Skipped {
        reason,
        remember: None,
    }
}

pub(crate) fn file_stat(meta: &Metadata) -> FileStat {
    FileStat {
        size: meta.len(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        inode: meta.ino(),
        mode: meta.mode(),
    }
}

/// Opens for reading without following a final symlink, and without blocking on a FIFO that
/// replaced the file after it was checked.
pub(crate) fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}
