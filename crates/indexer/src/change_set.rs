//! What one indexing run found: files to upsert, paths to delete, and chunk-level deltas.

use serde::{Deserialize, Serialize};

/// Which indexed ref a run, a manifest or a change set belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RefKey {
    /// The repository's configured name (`[A-Za-z0-9._-]`).
    pub repo: String,
    /// The full ref name, for example `refs/heads/main`.
    pub git_ref: String,
}

impl RefKey {
    /// Builds a key from a repository name and a full ref name.
    pub fn new(repo: impl Into<String>, git_ref: impl Into<String>) -> Self {
        RefKey {
            repo: repo.into(),
            git_ref: git_ref.into(),
        }
    }
}

/// A chunk's stable id: the lowercase hex content hash of the chunk's text only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChunkId(pub String);

/// One line-bounded piece of a file, sized for retrieval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Hash of `text` alone, so the same text anywhere has the same id.
    pub id: ChunkId,
    /// First line of the chunk, 1-based, inclusive.
    pub start_line: u32,
    /// Last line of the chunk, 1-based, inclusive.
    pub end_line: u32,
    /// The chunk's text (lossily decoded when the file is not valid UTF-8).
    pub text: String,
}

/// A file whose content is new or changed: its whole new chunk list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileUpdate {
    /// Path relative to the tree root, `/`-separated.
    pub path: String,
    /// Content hash of the whole file (algorithm per the indexer's config).
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
    /// All chunks of the file, in order.
    pub chunks: Vec<Chunk>,
}

/// Chunk ids added, removed and kept by a batch, for downstream embedders.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkDelta {
    /// Ids present now that the file did not have before.
    pub added: Vec<ChunkId>,
    /// Ids the file had before and no longer has.
    pub removed: Vec<ChunkId>,
    /// Ids present both before and after (no need to re-embed them).
    pub kept: Vec<ChunkId>,
}

/// One batch of changes for one ref. A run may emit several batches so that memory stays
/// bounded; the run is complete only when the sink's `commit` has been called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSet {
    /// The ref these changes belong to.
    pub key: RefKey,
    /// The commit the tree was checked out at, when known.
    pub commit: Option<String>,
    /// Files to insert or replace, whole.
    pub upserts: Vec<FileUpdate>,
    /// Paths to remove entirely.
    pub deletes: Vec<String>,
    /// Chunk-level deltas over the files of this batch.
    pub delta: ChunkDelta,
}

/// What a run counted: handed to the run's `on_progress` callback as it goes and returned in
/// its [`RunSummary`](crate::RunSummary). The indexer has no notion of jobs: the pipeline maps
/// these onto the job store's `Progress` for heartbeats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    /// Files looked at (stat'ed) in the tree.
    pub files_seen: u64,
    /// Files whose content changed (added or modified).
    pub files_changed: u64,
    /// Files removed from the tree.
    pub files_deleted: u64,
    /// Chunk ids added.
    pub chunks_added: u64,
    /// Chunk ids removed.
    pub chunks_removed: u64,
    /// Chunks of changed files withheld from the sink because they hold a secret (see
    /// [`find_secrets`](crate::find_secrets)); their files are still tracked.
    #[serde(default)]
    pub chunks_withheld: u64,
    /// Files skipped as well-known secret files ([`SkipReason::SecretFile`](crate::SkipReason)).
    #[serde(default)]
    pub files_skipped_secret: u64,
}
