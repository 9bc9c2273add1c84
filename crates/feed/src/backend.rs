//! [`FeedBackend`]: what the gateway needs of a change feed, whichever storage holds it.

use std::sync::Arc;

use indexer::{IndexSink, RefKey};

use crate::entry::{ChunkRecord, Cursor, Page};
use crate::error::FeedError;
use crate::store::{FeedStore, RefRecord};

/// A change feed's storage: one ordered, resumable feed per (repo, ref).
///
/// Writing goes through the [`IndexSink`] supertrait: `apply` stages a run's batches,
/// `commit` writes the run's entries with the ref's new chunk state atomically (nothing when
/// the feed already holds the run), `drop_ref` writes one `ref_deleted` entry and clears the
/// ref, `abort` forgets a staged run. Every method blocks; call it off the async runtime.
/// `feed::conformance` (behind the `conformance` feature) checks the behaviour every backend
/// must have.
pub trait FeedBackend: IndexSink + Send + Sync + std::fmt::Debug {
    /// A page of `key`'s feed after `cursor`: snapshot entries (one per file) while the
    /// cursor is `0` or inside a snapshot, live entries after it; at most `limit` entries.
    fn read(&self, key: &RefKey, cursor: &Cursor, limit: usize) -> Result<Page, FeedError>;

    /// The cursor after the last part of the newest retained entry that indexed `commit`.
    fn cursor_after_commit(&self, key: &RefKey, commit: &str) -> Result<Option<String>, FeedError>;

    /// The record of `key`, if the feed has seen the ref.
    fn ref_record(&self, key: &RefKey) -> Result<Option<RefRecord>, FeedError>;

    /// Every ref the feed has seen, with its record, ordered by (repo, ref).
    fn refs(&self) -> Result<Vec<(RefKey, RefRecord)>, FeedError>;

    /// The current chunks of one path of `key` (empty when the path is not indexed).
    fn file_chunks(&self, key: &RefKey, path: &str) -> Result<Vec<ChunkRecord>, FeedError>;

    /// Indexed paths of `key` starting with `prefix`, in byte order, at most `limit`.
    fn paths(&self, key: &RefKey, prefix: &str, limit: usize) -> Result<Vec<String>, FeedError>;

    /// Applies retention to every ref (entries age even when their ref gets no new ones).
    fn prune_all(&self) -> Result<(), FeedError>;

    /// The newest cursor this store knows was written (1 when the feed is empty).
    fn newest(&self) -> u64;

    /// A receiver that changes whenever an entry is written (its value: the newest cursor).
    fn subscribe(&self) -> tokio::sync::watch::Receiver<u64>;

    /// This backend as the sink a [`Tee`](crate::Tee) takes.
    fn into_sink(self: Arc<Self>) -> Arc<dyn IndexSink>;
}

impl FeedBackend for FeedStore {
    fn read(&self, key: &RefKey, cursor: &Cursor, limit: usize) -> Result<Page, FeedError> {
        FeedStore::read(self, key, cursor, limit)
    }

    fn cursor_after_commit(&self, key: &RefKey, commit: &str) -> Result<Option<String>, FeedError> {
        FeedStore::cursor_after_commit(self, key, commit)
    }

    fn ref_record(&self, key: &RefKey) -> Result<Option<RefRecord>, FeedError> {
        FeedStore::ref_record(self, key)
    }

    fn refs(&self) -> Result<Vec<(RefKey, RefRecord)>, FeedError> {
        FeedStore::refs(self)
    }

    fn file_chunks(&self, key: &RefKey, path: &str) -> Result<Vec<ChunkRecord>, FeedError> {
        FeedStore::file_chunks(self, key, path)
    }

    fn paths(&self, key: &RefKey, prefix: &str, limit: usize) -> Result<Vec<String>, FeedError> {
        FeedStore::paths(self, key, prefix, limit)
    }

    fn prune_all(&self) -> Result<(), FeedError> {
        FeedStore::prune_all(self)
    }

    fn newest(&self) -> u64 {
        FeedStore::newest(self)
    }

    fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        FeedStore::subscribe(self)
    }

    fn into_sink(self: Arc<Self>) -> Arc<dyn IndexSink> {
        self
    }
}
