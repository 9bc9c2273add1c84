//! Where change sets go: the `IndexSink` trait, its error, and an in-memory implementation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::change_set::{ChangeSet, Chunk, RefKey};

/// Why a sink refused a batch, a commit or a drop; the run stops and the manifest is not saved.
///
/// The kinds say whether another attempt can help ([`SinkError::is_transient`]): storage
/// trouble and engine failures can pass, a sink that cannot take writes or cannot read its
/// own data will refuse again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Reading or writing the sink's storage failed (a full disk, a permission, a vanished file).
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The sink cannot take writes: opened read-only, or another writer holds its storage.
    #[error("{reason}")]
    Unavailable {
        /// Which storage and why, worded for an operator.
        reason: String,
    },
    /// The sink's stored data is in a format it cannot use.
    #[error("{reason}")]
    Format {
        /// What was found and what to do about it.
        reason: String,
    },
    /// The sink's engine failed on this operation; its message names the file or step.
    #[error("{source}")]
    Backend {
        /// The engine's own error.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl SinkError {
    /// Whether the same operation may succeed if tried again later.
    pub fn is_transient(&self) -> bool {
        match self {
            SinkError::Io { .. } | SinkError::Backend { .. } => true,
            SinkError::Unavailable { .. } | SinkError::Format { .. } => false,
        }
    }

    /// A [`SinkError::Backend`] wrapping `source`.
    pub fn backend(source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        SinkError::Backend {
            source: source.into(),
        }
    }
}

/// Receives the batches of a run, then a commit.
///
/// Every method blocks the calling thread until its work is done (like ripgrep's `Sink`): a
/// sink writes files and runs engines, so an async caller calls it from a blocking thread.
///
/// Contract: `apply` may be called several times per run; nothing applied needs to be
/// visible or durable before `commit` returns. The indexer persists its manifest only after
/// `commit` succeeds, so a crash before that makes the next run redo the work; `apply` must
/// therefore be idempotent (an upsert replaces the whole file).
pub trait IndexSink: Send + Sync {
    /// Stage one batch: replace every upserted file whole, remove every deleted path.
    fn apply(&self, changes: &ChangeSet) -> Result<(), SinkError>;
    /// Make everything staged for `key` durable and visible.
    fn commit(&self, key: &RefKey) -> Result<(), SinkError>;
    /// Remove everything indexed for `key` (a deleted branch, a closed pull request), durably.
    fn drop_ref(&self, key: &RefKey) -> Result<(), SinkError>;
    /// Forget everything staged for `key` since its last commit (a failed or cancelled run).
    fn abort(&self, key: &RefKey) -> Result<(), SinkError> {
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

impl IndexSink for MemorySink {
    fn apply(&self, changes: &ChangeSet) -> Result<(), SinkError> {
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

    fn commit(&self, key: &RefKey) -> Result<(), SinkError> {
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

    fn drop_ref(&self, key: &RefKey) -> Result<(), SinkError> {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        state.staged.remove(key);
        state.committed.remove(key);
        state.commits += 1;
        Ok(())
    }

    fn abort(&self, key: &RefKey) -> Result<(), SinkError> {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        state.staged.remove(key);
        Ok(())
    }
}
