//! Writing: runs are staged per ref and handed to tantivy whole at commit.
//!
//! Why staging: tantivy has one writer per index and its `commit` publishes everything
//! added so far. If two refs' runs fed the writer directly, one ref's commit would publish
//! the other's half-applied run. So `apply` only records the run's files in memory (per ref,
//! later batches overriding earlier ones, as the indexer's contract says), and `commit`
//! takes the writer, deletes and re-adds that run's files, commits, and reloads the reader,
//! all in one critical section. Consequences, by design:
//! - a run never becomes partly visible, and refs never publish each other's work;
//! - `abort` only drops the staged run: tantivy never saw it;
//! - a crash (kill -9) before `commit` returns leaves tantivy's last commit point
//!   (`meta.json`) untouched, and the indexer, whose manifest was not saved, redoes the run;
//! - memory: a run's changed files are held until its commit (the text of the changed
//!   files, not the whole tree, except for a first full index).

use std::collections::BTreeMap;
use std::sync::{MutexGuard, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use indexer::{ChangeSet, Chunk, IndexSink, RefKey, SinkError};
use tantivy::{IndexWriter, TantivyDocument, Term};

use crate::declarations::declared_names;
use crate::error::Error;
use crate::index::SearchIndex;
use crate::schema::{self, Fields};

/// One ref's run between its first `apply` and its `commit` or `abort`.
#[derive(Debug, Default)]
pub(crate) struct StagedRun {
    commit: Option<String>,
    /// Path to its new chunks, or `None` for a deleted path.
    files: BTreeMap<String, Option<Vec<Chunk>>>,
}

fn chunk_document(
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
    fn lock_writer(&self) -> Result<MutexGuard<'_, IndexWriter<TantivyDocument>>, Error> {
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

    fn staged_runs(&self) -> MutexGuard<'_, std::collections::HashMap<RefKey, StagedRun>> {
        self.staged.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stages one batch of a run (the synchronous form of [`IndexSink::apply`]). Nothing is
    /// visible until [`SearchIndex::commit_ref`].
    pub fn stage(&self, changes: &ChangeSet) -> Result<(), Error> {
        if self.writer.is_none() {
            return Err(Error::ReadOnly {
                path: self.location.path(),
            });
        }
        let mut runs = self.staged_runs();
        let run = runs.entry(changes.key.clone()).or_default();
        if changes.commit.is_some() {
            run.commit.clone_from(&changes.commit);
        }
        for path in &changes.deletes {
            run.files.insert(path.clone(), None);
        }
        for file in &changes.upserts {
            run.files
                .insert(file.path.clone(), Some(file.chunks.clone()));
        }
        Ok(())
    }

    /// Publishes the staged run of `key` atomically: each of its files' old chunks are
    /// deleted and the new ones added in one tantivy commit, then the reader is reloaded, so
    /// when this returns the new state is what searches see. A ref with nothing staged is
    /// left as it is.
    pub fn commit_ref(&self, key: &RefKey) -> Result<(), Error> {
        let Some(run) = self.staged_runs().remove(key) else {
            return Ok(());
        };
        let started = Instant::now();
        let mut writer = self.lock_writer()?;
        let mut chunks_added = 0usize;
        let result = (|| -> Result<(), Error> {
            for (path, chunks) in &run.files {
                writer.delete_term(Term::from_field_text(
                    self.fields.file_key,
                    &schema::file_key(&key.repo, &key.git_ref, path),
                ));
                for chunk in chunks.iter().flatten() {
                    writer.add_document(chunk_document(
                        &self.fields,
                        key,
                        run.commit.as_deref(),
                        path,
                        chunk,
                    ))?;
                    chunks_added += 1;
                }
            }
            writer.commit()?;
            Ok(())
        })();
        if let Err(e) = result {
            if let Err(rollback) = writer.rollback() {
                tracing::warn!(error = %rollback, "rolling back a failed search commit failed too");
            }
            return Err(e);
        }
        self.reader.reload()?;
        tracing::debug!(
            repo = %key.repo, git_ref = %key.git_ref, files = run.files.len(), chunks_added,
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
        if let Err(e) = writer.commit() {
            let _ = writer.rollback();
            return Err(e.into());
        }
        self.reader.reload()?;
        tracing::debug!(repo = %key.repo, git_ref = %key.git_ref, "search index dropped ref");
        Ok(())
    }
}

/// The indexer's sink. The methods do their (CPU-bound) work on the calling thread;
/// `commit` and `drop_ref` wait for other refs' commits to finish first.
#[async_trait]
impl IndexSink for SearchIndex {
    async fn apply(&self, changes: &ChangeSet) -> Result<(), SinkError> {
        self.stage(changes).map_err(SinkError::from)
    }

    async fn commit(&self, key: &RefKey) -> Result<(), SinkError> {
        self.commit_ref(key).map_err(SinkError::from)
    }

    async fn drop_ref(&self, key: &RefKey) -> Result<(), SinkError> {
        self.remove_ref(key).map_err(SinkError::from)
    }

    async fn abort(&self, key: &RefKey) -> Result<(), SinkError> {
        self.abort_ref(key);
        Ok(())
    }
}
