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

use std::borrow::Cow;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::change_set::Chunk;
use crate::chunker::chunk_text;
use crate::config::IndexerConfig;
use crate::decided::Decided;
use crate::gitattributes::LinguistAttributes;
use crate::manifest::FileStat;
use crate::manifest_view::ManifestView;
use crate::skip::SkipReason;

/// The first bytes git (and we) look at for a NUL to call a file binary.
const BINARY_SNIFF_BYTES: usize = 8000;
const LFS_POINTER_PREFIX: &[u8] = b"version https://git-lfs.github.com/spec/v1";

/// What looking at one path found.
#[derive(Debug)]
pub(crate) enum Probe {
    /// Stat data equal to the previous manifest's entry `index` (a file or a skipped file),
    /// and not racily clean: nothing to do. Carries no path, so the walker allocates nothing.
    Hit { index: usize },
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
        /// The chunks for the sink: those holding a secret are already withheld.
        chunks: Vec<Chunk>,
        /// How many chunks were withheld.
        withheld: u64,
    },
}

/// Everything needed to probe files, shared by the walker threads.
#[derive(Debug)]
pub(crate) struct Prober {
    /// The canonical tree root.
    pub(crate) root: PathBuf,
    pub(crate) config: IndexerConfig,
    pub(crate) attributes: LinguistAttributes,
    /// The previous manifest, when its stat cache can be trusted. Decided by the run once
    /// it has loaded the manifest, which it does while the walk already runs (see
    /// [`look`](Self::look)); [`judge`](Self::judge) waits for the decision.
    pub(crate) cache: Decided<Option<Arc<ManifestView>>>,
    /// How many files were actually read (for the run summary and the stat-cache tests).
    pub(crate) files_read: AtomicU64,
}

impl Prober {
    pub(crate) fn files_read(&self) -> u64 {
        self.files_read.load(Ordering::Relaxed)
    }

    /// Sets the stat cache (once; later calls do nothing), releasing waiting walker threads.
    pub(crate) fn decide_cache(&self, cache: Option<Arc<ManifestView>>) {
        self.cache.set(cache);
    }

    /// True once [`decide_cache`](Self::decide_cache) was called.
    pub(crate) fn cache_decided(&self) -> bool {
        self.cache.get().is_some()
    }

    /// The stat cache; blocks until it is decided.
    fn cache(&self) -> Option<&ManifestView> {
        self.cache.wait().as_deref()
    }

    /// Probes `rel` (relative, `/`-separated), found at `abs` under the root.
    pub(crate) fn probe(&self, rel: &str, abs: &Path) -> Probe {
        match self.look(rel, abs) {
            Look::Done(probe) => probe,
            Look::File(file) => self.judge(rel, &file),
        }
    }

    /// The part of a probe that needs no manifest: attributes, `lstat`, the symlink policy,
    /// the size cap. The walker does this while the run is still loading the manifest.
    ///
    /// (`lstat` relative to a cached directory fd was tried: no gain, the kernel's time goes
    /// to the last component's dentry lookup, not to the directories above it.)
    pub(crate) fn look<'p>(&self, rel: &str, abs: &'p Path) -> Look<'p> {
        if let Some(reason) = self.attributes.classify(rel) {
            return Look::Done(skipped(reason));
        }
        if !self.config.index_secret_files && crate::secrets::is_secret_path(rel) {
            return Look::Done(skipped(SkipReason::SecretFile));
        }
        let link = match fs::symlink_metadata(abs).map(|meta| LinkStat::of(&meta)) {
            Ok(link) => link,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Look::Done(Probe::Gone),
            Err(_) => return Look::Done(skipped(SkipReason::Unreadable)),
        };
        let (open_path, link) = if link.is_symlink {
            match self.resolve_link(abs) {
                Ok((target, meta)) => (Cow::Owned(target), LinkStat::of(&meta)),
                Err(reason) => return Look::Done(skipped(reason)),
            }
        } else {
            (Cow::Borrowed(abs), link)
        };
        if !link.is_file {
            return Look::Done(skipped(SkipReason::NotAFile));
        }
        let stat = link.stat;
        if stat.size > self.config.max_file_bytes {
            return Look::Done(skipped(SkipReason::TooLarge));
        }
        Look::File(FoundFile { open_path, stat })
    }

    /// The rest of a probe: the stat cache, else reading the file. Waits for the cache to be
    /// decided.
    pub(crate) fn judge(&self, rel: &str, file: &FoundFile<'_>) -> Probe {
        if let Some(index) = self.cached(rel, &file.stat) {
            return Probe::Hit { index };
        }
        self.read(rel, &file.open_path)
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

    /// The previous manifest's entry (file or skipped) for `rel`, when its stat data matches
    /// and it is not racily clean.
    fn cached(&self, rel: &str, stat: &FileStat) -> Option<usize> {
        let manifest = self.cache()?;
        // Racily clean (git's rule): a file modified in the same second the manifest was
        // written (or later) may have changed again without its mtime moving, so re-hash it.
        let racy = stat.mtime_ns.div_euclid(1_000_000_000)
            >= manifest.written_at_ns().div_euclid(1_000_000_000);
        if racy {
            return None;
        }
        let index = manifest.lookup(rel)?;
        (manifest.stat(index) == Some(*stat)).then_some(index)
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
            .cache()
            .and_then(|m| m.get(rel))
            .is_some_and(|entry| entry.hash == hash);
        if same {
            return Probe::Unchanged { stat };
        }
        let text = String::from_utf8_lossy(&bytes);
        let mut chunks = chunk_text(&text, &self.config.chunking, self.config.hash);
        let withheld = crate::secrets::withhold(&text, &mut chunks);
        if withheld > 0 {
            tracing::debug!(path = rel, withheld, "chunks holding secrets withheld");
        }
        Probe::Read {
            stat,
            hash,
            size: bytes.len() as u64,
            chunks,
            withheld,
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

/// What `lstat` says about a path, as far as probing cares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkStat {
    pub(crate) is_symlink: bool,
    pub(crate) is_file: bool,
    pub(crate) stat: FileStat,
}

impl LinkStat {
    pub(crate) fn of(meta: &Metadata) -> Self {
        LinkStat {
            is_symlink: meta.file_type().is_symlink(),
            is_file: meta.is_file(),
            stat: file_stat(meta),
        }
    }
}

/// What [`Prober::look`] found.
#[derive(Debug)]
pub(crate) enum Look<'p> {
    /// The probe is over (gone, or skipped without reading).
    Done(Probe),
    /// A regular file within the size cap, to be judged against the stat cache.
    File(FoundFile<'p>),
}

/// A regular file found by [`Prober::look`].
#[derive(Debug)]
pub(crate) struct FoundFile<'p> {
    /// What to open: the walked path, or an in-tree link's target.
    pub(crate) open_path: Cow<'p, Path>,
    pub(crate) stat: FileStat,
}

impl FoundFile<'_> {
    /// The same, owning its path (to be judged later).
    pub(crate) fn into_owned(self) -> FoundFile<'static> {
        FoundFile {
            open_path: Cow::Owned(self.open_path.into_owned()),
            stat: self.stat,
        }
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
