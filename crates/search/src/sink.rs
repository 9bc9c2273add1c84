//! Writing: runs are staged per ref (spilled to disk) and handed to tantivy whole at commit.
//!
//! Why staging: tantivy has one writer per index and its `commit` publishes everything
//! added so far. If two refs' runs fed the writer directly, one ref's commit would publish
//! the other's half-applied run. So `apply` only appends the run's batches to a spill file
//! (per ref; see the `staging` module), and `commit` takes the writer, replays that run's
//! files (each path's latest batch only: delete its old chunks, add the new ones), commits,
//! and reloads the reader, all in one critical section. Consequences, by design:
//! - a run never becomes partly visible, and refs never publish each other's work; runs of
//!   different refs stage concurrently and never wait for each other (only their commits
//!   take turns on the writer), so no run can wedge another;
//! - `abort` only drops the staged run: tantivy never saw it;
//! - a run dropped without `commit` or `abort` stays staged until its ref's next `commit`,
//!   `abort` or `drop_ref` (as before; the indexer always ends a run with one of them);
//! - a crash (kill -9) before `commit` returns leaves tantivy's last commit point
//!   (`meta.json`) untouched, and the indexer, whose manifest was not saved, redoes the run;
//!   the spill files left behind are deleted at the next open;
//! - memory: bounded by one file's chunks at commit plus, per staged run, a write buffer and
//!   the run's changed paths; the text waits on disk, so a first full index of a large tree
//!   holds no more of it in memory than an incremental run does.

use std::collections::HashMap;
use std::sync::{MutexGuard, PoisonError};
use std::time::Instant;

use indexer::{ChangeSet, Chunk, IndexSink, RefKey, SinkError};
use tantivy::indexer::UserOperation;
use tantivy::{IndexWriter, TantivyDocument, Term};

use crate::declarations::declared_names;
use crate::error::Error;
use crate::format;
use crate::index::SearchIndex;
use crate::schema::{self, Fields};
use crate::staging::{Staged, StagedRun};

/// Runs changing at most this many files hand each file's chunks to tantivy as one batch.
const MAX_PATHS_BATCHED_BY_FILE: usize = 64;

/// The document of one chunk (also used to rebuild an index in a new format).
pub(crate) fn chunk_document(
    f: &Fields,
    key: &RefKey,
    commit: Option<&str>,
    path: &str,
    chunk: &Chunk,
) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(f.repo, &key.repo);
    doc.add_text(f.git_ref, &key.git_ref);
    doc.add_text(f.ref_key, schema::ref_key(&key.repo, &key.git_ref));
    doc.add_text(f.file_key, schema::file_key(&key.repo, &key.git_ref, path));
    if let Some(commit) = commit {
        doc.add_text(f.commit, commit);
    }
    doc.add_text(f.path, path);
    doc.add_text(f.path_text, path);
    doc.add_text(f.text, &chunk.text);
    doc.add_text(f.grams, &chunk.text);
    let symbols = declared_names(&chunk.text);
    if !symbols.is_empty() {
        doc.add_text(f.symbols, symbols);
    }
    doc.add_u64(f.start_line, u64::from(chunk.start_line));
    doc.add_u64(f.end_line, u64::from(chunk.end_line));
    doc.add_text(f.chunk_id, &chunk.id.0);
    doc
}

impl SearchIndex {
    pub(crate) fn lock_writer(
        &self,
    ) -> Result<MutexGuard<'_, IndexWriter<TantivyDocument>>, Error> {
        let mutex = self.writer.as_ref().ok_or_else(|| Error::ReadOnly {
            path: self.location.path(),
        })?;
        match mutex.lock() {
            Ok(guard) => Ok(guard),
            Err(poisoned) => {
                // A panic mid-commit may have left documents staged in tantivy: drop them.
                let mut guard = poisoned.into_inner();
                guard.rollback()?;
                mutex.clear_poison();
                Ok(guard)
            }
        }
    }

    fn staged_runs(&self) -> MutexGuard<'_, HashMap<RefKey, StagedRun>> {
        self.staged.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stages one batch of a run (the synchronous form of [`IndexSink::apply`]): appended to
    /// the run's spill file, later batches overriding earlier ones path by path. Nothing is
    /// visible until [`SearchIndex::commit_ref`].
    pub fn stage(&self, changes: &ChangeSet) -> Result<(), Error> {
        let Some(staging) = self.staging.as_ref() else {
            return Err(Error::ReadOnly {
                path: self.location.path(),
            });
        };
        let mut runs = self.staged_runs();
        let run = match runs.entry(changes.key.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(StagedRun::create(&staging.path)?)
            }
        };
        run.append(changes)
    }

    /// Publishes the staged run of `key` atomically: each of its files' old chunks are
    /// deleted and the new ones added in one tantivy commit, then the reader is reloaded, so
    /// when this returns the new state is what searches see. A ref with nothing staged is
    /// left as it is.
    pub fn commit_ref(&self, key: &RefKey) -> Result<(), Error> {
        let Some(mut run) = self.staged_runs().remove(key) else {
            return Ok(());
        };
        let started = Instant::now();
        let mut writer = self.lock_writer()?;
        let mut chunks_added = 0usize;
        let commit = run.commit.clone();
        // tantivy's queue to its indexing threads is bounded in batches, not documents: a
        // large run sent a file per batch could queue most of its text in memory, so only
        // small runs (pushes) are batched by file; large ones go a document at a time.
        let one_batch_per_file = run.num_paths() <= MAX_PATHS_BATCHED_BY_FILE;
        let result = (|| -> Result<(), Error> {
            run.replay(|change| {
                let (path, chunks) = match &change {
                    Staged::Delete(path) => (path, &[][..]),
                    Staged::Upsert(path, chunks) => (path, &chunks[..]),
                };
                let delete = Term::from_field_text(
                    self.fields.file_key,
                    &schema::file_key(&key.repo, &key.git_ref, path),
                );
                let docs = chunks
                    .iter()
                    .map(|chunk| chunk_document(&self.fields, key, commit.as_deref(), path, chunk));
                if one_batch_per_file {
                    // tantivy hands a batch to one indexing thread, so a one-file push
                    // makes one new segment (one set of files to write and sync, less to
                    // merge later) instead of one per thread that got some of its chunks.
                    // Within the batch the delete precedes the adds, so it spares them.
                    let mut ops = Vec::with_capacity(chunks.len() + 1);
                    ops.push(UserOperation::Delete(delete));
                    ops.extend(docs.map(UserOperation::Add));
                    writer.run(ops)?;
                } else {
                    writer.delete_term(delete);
                    for doc in docs {
                        writer.add_document(doc)?;
                    }
                }
                chunks_added += chunks.len();
                Ok(())
            })?;
            format::commit(&mut writer)?;
            Ok(())
        })();
        if let Err(e) = result {
            if let Err(rollback) = writer.rollback() {
                tracing::warn!(error = %rollback, "rolling back a failed search commit failed too");
            }
            return Err(e);
        }
        let committed = started.elapsed();
        self.reader.reload()?;
        tracing::debug!(
            repo = %key.repo, git_ref = %key.git_ref, files = run.num_paths(), chunks_added,
            commit_ms = committed.as_millis() as u64,
            elapsed_ms = started.elapsed().as_millis() as u64, "search index committed"
        );
        Ok(())
    }

    /// Forgets the staged run of `key` (the synchronous form of [`IndexSink::abort`]).
    pub fn abort_ref(&self, key: &RefKey) {
        self.staged_runs().remove(key);
    }

    /// Removes every chunk of `key` durably and visibly, and anything staged for it.
    pub fn remove_ref(&self, key: &RefKey) -> Result<(), Error> {
        let mut writer = self.lock_writer()?;
        self.staged_runs().remove(key);
        writer.delete_term(Term::from_field_text(
            self.fields.ref_key,
            &schema::ref_key(&key.repo, &key.git_ref),
        ));
        if let Err(e) = format::commit(&mut writer) {
            let _ = writer.rollback();
            return Err(e.into());
        }
        self.reader.reload()?;
        tracing::debug!(repo = %key.repo, git_ref = %key.git_ref, "search index dropped ref");
        Ok(())
    }
}

/// The indexer's sink. The methods do their (CPU-bound and disk) work on the calling thread;
/// `commit` and `drop_ref` wait for other refs' commits to finish first.
impl IndexSink for SearchIndex {
    fn apply(&self, changes: &ChangeSet) -> Result<(), SinkError> {
        self.stage(changes).map_err(SinkError::from)
    }

    fn commit(&self, key: &RefKey) -> Result<(), SinkError> {
        self.commit_ref(key).map_err(SinkError::from)
    }

    fn drop_ref(&self, key: &RefKey) -> Result<(), SinkError> {
        self.remove_ref(key).map_err(SinkError::from)
    }

    fn abort(&self, key: &RefKey) -> Result<(), SinkError> {
        self.abort_ref(key);
        Ok(())
    }
}

/// The sink's kinds of failure: storage trouble and engine errors may pass on a retry, an
/// index that cannot take writes or is in another format will refuse again.
impl From<Error> for SinkError {
    fn from(error: Error) -> Self {
        match error {
            Error::Io { path, source } => SinkError::Io { path, source },
            error @ (Error::Locked { .. } | Error::ReadOnly { .. } | Error::NoIndex { .. }) => {
                SinkError::Unavailable {
                    reason: error.to_string(),
                }
            }
            error @ Error::IndexFormat { .. } => SinkError::Format {
                reason: error.to_string(),
            },
            // The engine's own failures, and whatever else a write can meet.
            error => SinkError::backend(error),
        }
    }
}
