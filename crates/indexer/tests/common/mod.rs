//! Helpers shared by the integration tests: temp trees, a recording sink, a run wrapper.
#![allow(dead_code)] // each test binary uses a different subset

use std::fs;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use indexer::{
    ChangeSet, Error, IndexSink, Indexer, IndexerConfig, ManifestStore, MemorySink, RefKey,
    RunRequest, RunSummary, Scope, SinkError,
};

pub fn key() -> RefKey {
    RefKey::new("repo", "refs/heads/main")
}

/// Writes `content` at `rel` under `root`, creating directories.
pub fn write(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, content).unwrap();
}

/// Writes like [`write`], then sets the file's mtime to an hour ago (see [`age_tree`]).
pub fn write_aged(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    write(root, rel, content);
    set_mtime(
        &root.join(rel),
        SystemTime::now() - Duration::from_secs(3600),
    );
}

/// Sets the mtime of every regular file under `root` (not following links, skipping `.git`)
/// to an hour ago, so the racily-clean rule does not apply to them.
pub fn age_tree(root: &Path) {
    let old = SystemTime::now() - Duration::from_secs(3600);
    set_mtimes(root, old);
}

pub fn set_mtimes(dir: &Path, when: SystemTime) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            if entry.file_name() != ".git" {
                set_mtimes(&entry.path(), when);
            }
        } else if kind.is_file() {
            set_mtime(&entry.path(), when);
        }
    }
}

pub fn set_mtime(path: &Path, when: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// A real `MemorySink` plus a record of every call, and optional injected failures.
#[derive(Debug, Default)]
pub struct RecordingSink {
    pub inner: MemorySink,
    pub batches: Mutex<Vec<ChangeSet>>,
    pub aborts: AtomicU64,
    pub commits: AtomicU64,
    /// Fail the n-th `apply` (1-based); 0 = never.
    pub fail_apply_at: AtomicU64,
    pub fail_commit: std::sync::atomic::AtomicBool,
    applies: AtomicU64,
}

impl RecordingSink {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn take_batches(&self) -> Vec<ChangeSet> {
        std::mem::take(&mut *self.batches.lock().unwrap())
    }

    pub fn aborts(&self) -> u64 {
        self.aborts.load(Ordering::SeqCst)
    }
}

impl IndexSink for RecordingSink {
    fn apply(&self, changes: &ChangeSet) -> Result<(), SinkError> {
        let n = self.applies.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_apply_at.load(Ordering::SeqCst) == n {
            return Err(SinkError::Io {
                path: "injected".into(),
                source: std::io::Error::other("disk full (injected)"),
            });
        }
        self.batches.lock().unwrap().push(changes.clone());
        self.inner.apply(changes)
    }

    fn commit(&self, key: &RefKey) -> Result<(), SinkError> {
        if self.fail_commit.load(Ordering::SeqCst) {
            return Err(SinkError::backend("commit refused (injected)"));
        }
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.inner.commit(key)
    }

    fn drop_ref(&self, key: &RefKey) -> Result<(), SinkError> {
        self.inner.drop_ref(key)
    }

    fn abort(&self, key: &RefKey) -> Result<(), SinkError> {
        self.aborts.fetch_add(1, Ordering::SeqCst);
        self.inner.abort(key)
    }
}

/// One run with no progress callback and no cancellation.
pub fn run(
    indexer: &Indexer,
    tree: &Path,
    scope: Scope,
    sink: &dyn IndexSink,
    manifests: &dyn ManifestStore,
) -> Result<RunSummary, Error> {
    let request = RunRequest {
        tree,
        key: key(),
        commit: None,
        scope,
    };
    indexer.run(request, sink, manifests, &|_| {}, &|| false)
}

pub fn indexer() -> Indexer {
    Indexer::new(IndexerConfig {
        threads: 2,
        ..IndexerConfig::default()
    })
    .unwrap()
}

/// (start line, end line, id) of one chunk.
pub type ChunkView = (u32, u32, String);

/// The files a sink holds for the test key: path -> (start, end, id) of every chunk.
pub fn sink_view(sink: &MemorySink) -> Vec<(String, Vec<ChunkView>)> {
    sink.files(&key())
        .into_iter()
        .map(|(path, chunks)| {
            (
                path,
                chunks
                    .into_iter()
                    .map(|c| (c.start_line, c.end_line, c.id.0))
                    .collect(),
            )
        })
        .collect()
}
