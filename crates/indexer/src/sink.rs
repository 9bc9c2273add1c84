//! Where change sets go: the `IndexSink` trait and an in-memory implementation.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::change_set::{ChangeSet, Chunk, RefKey};

/// The error a sink reports; the run stops and the manifest is not committed.
pub type SinkError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Receives the batches of a run, then a commit.
///
/// Contract: `apply` may be called several times per run; nothing applied needs to be
/// visible or durable before `commit` returns. The indexer persists its manifest only after
/// `commit` succeeds, so a crash before that makes the next run redo the work; `apply` must
/// therefore be idempotent (an upsert replaces the whole file).
#[async_trait]
pub trait IndexSink: Send + Sync {
    /// Stage one batch: replace every upserted file whole, remove every deleted path.
    async fn apply(&self, changes: &ChangeSet) -> Result<(), SinkError>;
    /// Make everything staged for `key` durable and visible.
    async fn commit(&self, key: &RefKey) -> Result<(), SinkError>;
    /// Remove everything indexed for `key` (a deleted branch, a closed pull request), durably.
    async fn drop_ref(&self, key: &RefKey) -> Result<(), SinkError>;
    /// Forget everything staged for `key` since its last commit (a failed or cancelled run).
    async fn abort(&self, key: &RefKey) -> Result<(), SinkError> {
        let _ = key;
        Ok(())
    }
}

/// An in-memory sink for tests and benches: what a real sink would hold after commit.
#[derive(Debug, Default)]
pub struct MemorySink {
    inner: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    staged: BTreeMap<RefKey, BTreeMap<String, Option<Vec<Chunk>>>>,
    committed: BTreeMap<RefKey, BTreeMap<String, Vec<Chunk>>>,
    commits: u64,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The committed files of `key`, path to chunks.
    pub fn files(&self, key: &RefKey) -> BTreeMap<String, Vec<Chunk>> {
        let state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        state.committed.get(key).cloned().unwrap_or_default()
    }

    /// How many commits the sink has seen.
    pub fn commit_count(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).commits
    }
}

#[async_trait]
impl IndexSink for MemorySink {
    async fn apply(&self, changes: &ChangeSet) -> Result<(), SinkError> {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let staged = state.staged.entry(changes.key.clone()).or_default();
        for path in &changes.deletes {
            staged.insert(path.clone(), None);
        }
        for file in &changes.upserts {
            staged.insert(file.path.clone(), Some(file.chunks.clone()));
        }
        Ok(())
    }

    async fn commit(&self, key: &RefKey) -> Result<(), SinkError> {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let staged = state.staged.remove(key).unwrap_or_default();
        let committed = state.committed.entry(key.clone()).or_default();
        for (path, chunks) in staged {
            match chunks {
                Some(chunks) => committed.insert(path, chunks),
                None => committed.remove(&path),
            };
        }
        state.commits += 1;
        Ok(())
    }

    async fn drop_ref(&self, key: &RefKey) -> Result<(), SinkError> {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        state.staged.remove(key);
        state.committed.remove(key);
        state.commits += 1;
        Ok(())
    }

    async fn abort(&self, key: &RefKey) -> Result<(), SinkError> {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        state.staged.remove(key);
        Ok(())
    }
}
