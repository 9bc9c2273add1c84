//! The index's format version, and rebuilding an index written in an older format.
//!
//! What a document is indexed under depends on the code tokenizer, which tantivy's schema
//! knows only by name: an index written by an older tokenizer opens without complaint and
//! then silently misses what queries now look for (format 2 added the joined identifier
//! token that single-identifier queries use). So every commit records the format in
//! tantivy's commit payload (`meta.json`, written atomically with the commit), and opening
//! checks it:
//! - read-write, an older format is **rebuilt in place** from the chunks the index stores
//!   (repo, ref, commit, path, lines, text, chunk id are all stored fields): one delete of
//!   everything plus the re-tokenised documents, in one commit. A crash midway leaves the
//!   old commit and format, so the next open starts over. The content does not change, so
//!   the indexer's manifests stay true and nothing needs re-fetching;
//! - read-only, an older format is an [`Error::IndexFormat`] (it cannot write), saying to
//!   open it read-write once;
//! - a newer format is an [`Error::IndexFormat`] either way: this build cannot read its
//!   terms correctly and must not rewrite what a newer one wrote.
//!
//! An empty index needs no rebuild: its next commit records the format.

use std::time::Instant;

use indexer::{Chunk, ChunkId, RefKey};
use tantivy::query::AllQuery;
use tantivy::{DocAddress, Index, IndexWriter, Opstamp, TantivyDocument};

use crate::error::Error;
use crate::index::SearchIndex;
use crate::schema::{stored_line, stored_text};
use crate::sink::chunk_document;

/// The format this build writes and reads. 1: before formats were recorded (no payload);
/// 2: joined identifier tokens (`~parsehttprequest`); 3: identifier parts indexed by their
/// English stem (`parsing` as `pars`).
pub const INDEX_FORMAT: u32 = 3;

/// Commit payloads read `search-index-format N`.
const PAYLOAD_PREFIX: &str = "search-index-format ";

/// The format of the last commit of `index` (1 when none was recorded).
pub(crate) fn stored_format(index: &Index) -> Result<u32, Error> {
    let payload = index.load_metas()?.payload;
    Ok(payload
        .as_deref()
        .and_then(|p| p.strip_prefix(PAYLOAD_PREFIX))
        .and_then(|n| n.trim().parse().ok())
        // No payload, or one this crate did not write: the format before payloads.
        .unwrap_or(1))
}

/// Commits everything pending on `writer`, recording [`INDEX_FORMAT`] with the commit.
pub(crate) fn commit(writer: &mut IndexWriter<TantivyDocument>) -> tantivy::Result<Opstamp> {
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&format!("{PAYLOAD_PREFIX}{INDEX_FORMAT}"));
    prepared.commit()
}

/// What opening an index in `found` format with `docs` documents must do.
pub(crate) enum Verdict {
    /// Readable as it is.
    Current,
    /// Older and not empty: rebuild (read-write) or refuse (read-only).
    Older,
    /// Written by a newer build: refuse.
    Newer,
}

pub(crate) fn verdict(found: u32, docs: u64) -> Verdict {
    if found > INDEX_FORMAT {
        Verdict::Newer
    } else if found < INDEX_FORMAT && docs > 0 {
        Verdict::Older
    } else {
        Verdict::Current
    }
}

impl SearchIndex {
    /// Re-tokenises every stored chunk into the current format, in one commit (see the
    /// module docs). Called by a read-write open on an older index.
    pub(crate) fn rebuild_in_place(&self, found: u32) -> Result<(), Error> {
        let started = Instant::now();
        let searcher = self.reader.searcher();
        let docs = searcher.num_docs();
        tracing::info!(
            location = %self.location.path().display(), from_format = found,
            to_format = INDEX_FORMAT, chunks = docs,
            "search index written in an older format: rebuilding it from its stored chunks"
        );
        let f = &self.fields;
        let mut writer = self.lock_writer()?;
        let result = (|| -> Result<(), Error> {
            // Deletes apply to documents added before them only, so this spares the adds.
            writer.delete_query(Box::new(AllQuery))?;
            for (ord, segment) in searcher.segment_readers().iter().enumerate() {
                let ord = u32::try_from(ord).unwrap_or(u32::MAX);
                for doc_id in segment.doc_ids_alive() {
                    let old: TantivyDocument = searcher.doc(DocAddress::new(ord, doc_id))?;
                    let text = |field| stored_text(&old, field);
                    let line = |field| stored_line(&old, field);
                    let key = RefKey::new(text(f.repo), text(f.git_ref));
                    let commit = text(f.commit);
                    let chunk = Chunk {
                        id: ChunkId(text(f.chunk_id)),
                        start_line: line(f.start_line),
                        end_line: line(f.end_line),
                        text: text(f.text),
                    };
                    let commit = (!commit.is_empty()).then_some(commit.as_str());
                    writer.add_document(chunk_document(f, &key, commit, &text(f.path), &chunk))?;
                }
            }
            commit(&mut writer)?;
            Ok(())
        })();
        if let Err(e) = result {
            if let Err(rollback) = writer.rollback() {
                tracing::warn!(error = %rollback, "rolling back a failed format rebuild failed too");
            }
            return Err(e);
        }
        drop(writer);
        self.reader.reload()?;
        tracing::info!(
            chunks = docs,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "search index rebuilt in format {INDEX_FORMAT}"
        );
        Ok(())
    }
}
