//! The per-(repo, ref) manifest: what was indexed last time, keyed by path, with the stat data
//! that lets an unchanged file go unread — and the stores that persist it.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::change_set::{ChunkId, RefKey};
use crate::config::{ChunkConfig, HashAlgo, IndexerConfig};
use crate::error::Error;
use crate::skip::SkipReason;

/// Bump whenever chunking rules or the manifest's meaning change: a manifest of another
/// version is not trusted for anything but the list of paths the sink holds.
pub const MANIFEST_SCHEMA_VERSION: u32 = 1;

/// The stat data the cache compares, as `git` does in its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i128,
    /// Inode number.
    pub inode: u64,
    /// Unix mode bits (type and permissions).
    pub mode: u32,
}

/// One indexed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Stat data when the file was last read.
    pub stat: FileStat,
    /// Content hash (the manifest's algorithm, lowercase hex).
    pub hash: String,
    /// The file's chunk ids, in order.
    pub chunks: Vec<ChunkId>,
}

/// A file skipped for what is in it (binary, LFS pointer, minified): remembered with its stat
/// data so that an unchanged one is not read again on every run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedEntry {
    /// Stat data when the file was last read.
    pub stat: FileStat,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// What one (repo, ref) looked like after its last committed run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    schema: u32,
    hash: HashAlgo,
    chunking: ChunkConfig,
    max_file_bytes: u64,
    max_avg_line_len: usize,
    commit: Option<String>,
    /// When the manifest was written (ns since the epoch), for the racily-clean rule.
    written_at_ns: i128,
    files: BTreeMap<String, ManifestEntry>,
    #[serde(default)]
    skipped: BTreeMap<String, SkippedEntry>,
}

impl Manifest {
    pub(crate) fn new(
        config: &IndexerConfig,
        commit: Option<String>,
        files: BTreeMap<String, ManifestEntry>,
        skipped: BTreeMap<String, SkippedEntry>,
    ) -> Self {
        Manifest {
            schema: MANIFEST_SCHEMA_VERSION,
            hash: config.hash,
            chunking: config.chunking,
            max_file_bytes: config.max_file_bytes,
            max_avg_line_len: config.max_avg_line_len,
            commit,
            written_at_ns: 0,
            files,
            skipped,
        }
    }

    /// Number of indexed files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file is indexed.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Indexed paths, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The commit of the tree at the last committed run, when the caller knew it.
    pub fn commit(&self) -> Option<&str> {
        self.commit.as_deref()
    }

    /// The entry of one indexed path.
    pub fn get(&self, path: &str) -> Option<&ManifestEntry> {
        self.files.get(path)
    }

    /// Files skipped for their content, remembered so they are not re-read.
    pub fn skipped(&self) -> impl Iterator<Item = (&str, &SkippedEntry)> {
        self.skipped
            .iter()
            .map(|(path, entry)| (path.as_str(), entry))
    }

    /// When this manifest was saved by a run (ns since the Unix epoch).
    pub fn written_at_ns(&self) -> i128 {
        self.written_at_ns
    }

    /// True when the manifest was made with the same rules as `config` now uses, so its stat
    /// cache and chunk ids can be trusted. A mismatch means "re-read everything".
    pub(crate) fn matches(&self, config: &IndexerConfig) -> bool {
        self.schema == MANIFEST_SCHEMA_VERSION
            && self.hash == config.hash
            && self.chunking == config.chunking
            && self.max_file_bytes == config.max_file_bytes
            && self.max_avg_line_len == config.max_avg_line_len
    }

    pub(crate) fn files(&self) -> &BTreeMap<String, ManifestEntry> {
        &self.files
    }

    pub(crate) fn skipped_map(&self) -> &BTreeMap<String, SkippedEntry> {
        &self.skipped
    }

    pub(crate) fn set_written_at(&mut self, ns: i128) {
        self.written_at_ns = ns;
    }
}

/// Where manifests live between runs. Implementations must make `save` atomic: after a crash
/// the old or the new manifest is there, never a mix.
pub trait ManifestStore: Send + Sync + Debug {
    /// The manifest of `key`, or `None` when there is none yet.
    fn load(&self, key: &RefKey) -> Result<Option<Manifest>, Error>;
    /// Replace the manifest of `key`, atomically.
    fn save(&self, key: &RefKey, manifest: &Manifest) -> Result<(), Error>;
    /// Forget the manifest of `key` (no error when there is none).
    fn remove(&self, key: &RefKey) -> Result<(), Error>;
}

/// Manifests as JSON files in one directory, written with temp file + fsync + rename.
///
/// The file name is the BLAKE3 hash of the key, so no repo or ref name can steer a path.
#[derive(Debug)]
pub struct FsManifestStore {
    dir: PathBuf,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FsManifestStore {
    /// A store in `dir`, created if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(FsManifestStore { dir })
    }

    /// The file that holds the manifest of `key`.
    pub fn path_for(&self, key: &RefKey) -> PathBuf {
        let mut hasher = blake3::Hasher::new();
        // Length-prefixed so ("a", "bc") and ("ab", "c") cannot collide.
        hasher.update(&(key.repo.len() as u64).to_le_bytes());
        hasher.update(key.repo.as_bytes());
        hasher.update(key.git_ref.as_bytes());
        self.dir
            .join(format!("manifest-{}.json", hasher.finalize().to_hex()))
    }
}

impl ManifestStore for FsManifestStore {
    fn load(&self, key: &RefKey) -> Result<Option<Manifest>, Error> {
        let path = self.path_for(key);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Manifest {
                path,
                reason: format!("not a valid manifest: {e}"),
            })
    }

    fn save(&self, key: &RefKey, manifest: &Manifest) -> Result<(), Error> {
        let path = self.path_for(key);
        let temp = path.with_extension(format!(
            "tmp.{}.{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = write_synced(&temp, manifest).and_then(|()| fs::rename(&temp, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(Error::io(&path, e));
        }
        // The rename is durable only once the directory itself is synced.
        sync_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))
    }

    fn remove(&self, key: &RefKey) -> Result<(), Error> {
        let path = self.path_for(key);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir).map_err(|e| Error::io(&self.dir, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(path, e)),
        }
    }
}

fn write_synced(path: &Path, manifest: &Manifest) -> io::Result<()> {
    let file = fs::File::create(path)?;
    let mut writer = io::BufWriter::with_capacity(1 << 20, file);
    serde_json::to_writer(&mut writer, manifest).map_err(io::Error::other)?;
    writer.flush()?;
    writer.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Manifests in memory, for tests, benches and embedders that keep state elsewhere.
#[derive(Debug, Default)]
pub struct MemoryManifestStore {
    manifests: Mutex<HashMap<RefKey, Manifest>>,
}

impl MemoryManifestStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ManifestStore for MemoryManifestStore {
    fn load(&self, key: &RefKey) -> Result<Option<Manifest>, Error> {
        let manifests = self.manifests.lock().unwrap_or_else(|e| e.into_inner());
        Ok(manifests.get(key).cloned())
    }

    fn save(&self, key: &RefKey, manifest: &Manifest) -> Result<(), Error> {
        let mut manifests = self.manifests.lock().unwrap_or_else(|e| e.into_inner());
        manifests.insert(key.clone(), manifest.clone());
        Ok(())
    }

    fn remove(&self, key: &RefKey) -> Result<(), Error> {
        self.manifests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        Ok(())
    }
}
