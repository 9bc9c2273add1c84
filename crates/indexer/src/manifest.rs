//! The per-(repo, ref) manifest: what was indexed last time, keyed by path, with the stat data
//! that lets an unchanged file go unread — and the stores that persist it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::change_set::{ChunkId, RefKey};
use crate::config::{ChunkConfig, HashAlgo, IndexerConfig};
use crate::error::Error;
use crate::manifest_codec::Header;
use crate::manifest_view::ManifestView;
use crate::skip::SkipReason;

/// Bump whenever chunking rules or the manifest's meaning change: a manifest of another
/// version is not trusted for anything but the list of paths the sink holds.
///
/// Version 2: secret files are skipped and chunks holding secrets withheld, so a manifest of
/// version 1 (whose sink may hold both) makes the next run re-read every file, which removes
/// them from the sink.
pub const MANIFEST_SCHEMA_VERSION: u32 = 2;

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
    pub(crate) schema: u32,
    pub(crate) hash: HashAlgo,
    pub(crate) chunking: ChunkConfig,
    pub(crate) max_file_bytes: u64,
    pub(crate) max_avg_line_len: usize,
    /// Whether secret files were indexed (schema 2 on): a change re-reads the tree, so that
    /// files the new setting skips leave the sink and files it admits are read.
    #[serde(default)]
    pub(crate) index_secret_files: bool,
    pub(crate) commit: Option<String>,
    /// When the manifest was written (ns since the epoch), for the racily-clean rule.
    pub(crate) written_at_ns: i128,
    pub(crate) files: BTreeMap<String, ManifestEntry>,
    #[serde(default)]
    pub(crate) skipped: BTreeMap<String, SkippedEntry>,
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
            index_secret_files: config.index_secret_files,
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
        Header::of(self).matches(config)
    }

    pub(crate) fn files(&self) -> &BTreeMap<String, ManifestEntry> {
        &self.files
    }

    pub(crate) fn skipped_map(&self) -> &BTreeMap<String, SkippedEntry> {
        &self.skipped
    }

    /// A copy with the same settings and only the entries of `paths`.
    pub(crate) fn subset(&self, paths: &BTreeSet<String>) -> Manifest {
        let mut files = BTreeMap::new();
        let mut skipped = BTreeMap::new();
        for path in paths {
            if let Some(entry) = self.files.get(path) {
                files.insert(path.clone(), entry.clone());
            }
            if let Some(entry) = self.skipped.get(path) {
                skipped.insert(path.clone(), entry.clone());
            }
        }
        Header::of(self).into_manifest(files, skipped)
    }

    pub(crate) fn set_written_at(&mut self, ns: i128) {
        self.written_at_ns = ns;
    }
}

/// What a path-hint run changed in a manifest: the new header values and, per path it looked
/// at, the new entry (`Some`) or its removal (`None`). Stores that can persist this without
/// rewriting the whole manifest (as [`FsManifestStore`](crate::FsManifestStore) does, with a
/// journal) make a one-file change cost one small write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestUpdate {
    /// The commit of the tree after the run.
    pub commit: Option<String>,
    /// When the run started (ns since the Unix epoch), for the racily-clean rule.
    pub written_at_ns: i128,
    /// Indexed files: new entry, or `None` when the path is no longer indexed.
    pub files: BTreeMap<String, Option<ManifestEntry>>,
    /// Files skipped for their content: new entry, or `None` when not (or no longer) skipped.
    pub skipped: BTreeMap<String, Option<SkippedEntry>>,
}

impl ManifestUpdate {
    /// Applies the update to `manifest` in place (the manifest's settings stay as they are).
    pub fn apply_to(&self, manifest: &mut Manifest) {
        manifest.commit.clone_from(&self.commit);
        manifest.written_at_ns = self.written_at_ns;
        for (path, entry) in &self.files {
            match entry {
                Some(entry) => manifest.files.insert(path.clone(), entry.clone()),
                None => manifest.files.remove(path),
            };
        }
        for (path, entry) in &self.skipped {
            match entry {
                Some(entry) => manifest.skipped.insert(path.clone(), entry.clone()),
                None => manifest.skipped.remove(path),
            };
        }
    }

    /// True when the update changes no entry (it may still move the commit and write time).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.skipped.is_empty()
    }
}

/// Where manifests live between runs. Implementations must make `save` and `save_update`
/// atomic: after a crash the old or the new manifest is there, never a mix.
///
/// Runs of one (repo, ref) must not overlap (the sink has the same requirement); runs of
/// different refs may.
pub trait ManifestStore: Send + Sync + Debug {
    /// The manifest of `key`, or `None` when there is none yet.
    fn load(&self, key: &RefKey) -> Result<Option<Manifest>, Error>;
    /// Replace the manifest of `key`, atomically.
    fn save(&self, key: &RefKey, manifest: &Manifest) -> Result<(), Error>;
    /// Forget the manifest of `key` (no error when there is none).
    fn remove(&self, key: &RefKey) -> Result<(), Error>;

    /// The manifest of `key` as a [`ManifestView`] (paths and stat data indexed, the rest
    /// decoded on demand), or `None` when there is none. Full runs use this; the default wraps
    /// [`load`](Self::load), stores override it to skip decoding every entry.
    fn load_view(&self, key: &RefKey) -> Result<Option<ManifestView>, Error> {
        Ok(self.load(key)?.as_ref().map(ManifestView::from))
    }

    /// The manifest of `key` with only the entries of `paths` (settings, commit and write
    /// time as stored), or `None` when there is none. Path-hint runs use this; the default
    /// loads everything and drops the rest, stores override it to read less.
    fn load_paths(
        &self,
        key: &RefKey,
        paths: &BTreeSet<String>,
    ) -> Result<Option<Manifest>, Error> {
        Ok(self.load(key)?.map(|mut manifest| {
            manifest.files.retain(|path, _| paths.contains(path));
            manifest.skipped.retain(|path, _| paths.contains(path));
            manifest
        }))
    }

    /// Apply `update` to the stored manifest of `key`, atomically. The default loads, applies
    /// and saves the whole manifest; stores override it to write only the update.
    fn save_update(&self, key: &RefKey, update: &ManifestUpdate) -> Result<(), Error> {
        let Some(mut manifest) = self.load(key)? else {
            return Err(Error::Manifest {
                path: PathBuf::from(format!("{}/{}", key.repo, key.git_ref)),
                reason: "no stored manifest to apply a path-hint update to".into(),
            });
        };
        update.apply_to(&mut manifest);
        self.save(key, &manifest)
    }
}

/// Manifests in memory, for tests, benches and embedders that keep state elsewhere.
#[derive(Debug, Default)]
pub struct MemoryManifestStore {
    /// Each manifest with its view, kept up to date so that full runs (which load the view)
    /// copy buffers instead of re-encoding every entry.
    manifests: Mutex<HashMap<RefKey, (Manifest, ManifestView)>>,
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
        Ok(manifests.get(key).map(|(manifest, _)| manifest.clone()))
    }

    fn save(&self, key: &RefKey, manifest: &Manifest) -> Result<(), Error> {
        let mut manifests = self.manifests.lock().unwrap_or_else(|e| e.into_inner());
        manifests.insert(
            key.clone(),
            (manifest.clone(), ManifestView::from(manifest)),
        );
        Ok(())
    }

    fn remove(&self, key: &RefKey) -> Result<(), Error> {
        self.manifests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        Ok(())
    }

    fn load_view(&self, key: &RefKey) -> Result<Option<ManifestView>, Error> {
        let manifests = self.manifests.lock().unwrap_or_else(|e| e.into_inner());
        Ok(manifests.get(key).map(|(_, view)| view.clone()))
    }

    fn load_paths(
        &self,
        key: &RefKey,
        paths: &BTreeSet<String>,
    ) -> Result<Option<Manifest>, Error> {
        let manifests = self.manifests.lock().unwrap_or_else(|e| e.into_inner());
        Ok(manifests.get(key).map(|(stored, _)| stored.subset(paths)))
    }

    fn save_update(&self, key: &RefKey, update: &ManifestUpdate) -> Result<(), Error> {
        let mut manifests = self.manifests.lock().unwrap_or_else(|e| e.into_inner());
        match manifests.get_mut(key) {
            Some((manifest, view)) => {
                update.apply_to(manifest);
                view.apply(update);
                if view.is_bloated() {
                    *view = ManifestView::from(&*manifest);
                }
                Ok(())
            }
            None => Err(Error::Manifest {
                path: PathBuf::from(format!("memory:{}/{}", key.repo, key.git_ref)),
                reason: "no stored manifest to apply a path-hint update to".into(),
            }),
        }
    }
}
