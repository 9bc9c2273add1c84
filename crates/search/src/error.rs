//! The crate's one error type.

use std::path::PathBuf;

/// What went wrong opening, writing or querying a [`SearchIndex`](crate::SearchIndex).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query cannot be run as written; `reason` is meant for the person who typed it.
    #[error("bad query: {reason}")]
    BadQuery {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Another process (or another `SearchIndex` in this one) holds the index writer.
    #[error(
        "the search index at {} is locked by another writer (is `context-gateway serve` \
         running on this data dir?); stop that process, or open the index read-only to search",
        path.display()
    )]
    Locked {
        /// The index directory.
        path: PathBuf,
    },
    /// A write was attempted on an index opened with `open_read_only`.
    #[error("the search index at {} was opened read-only; writes go through the process that holds the writer", path.display())]
    ReadOnly {
        /// The index directory.
        path: PathBuf,
    },
    /// `open_read_only` found no index in the directory.
    #[error("no search index at {}: index something first (`context-gateway index PATH` or `serve`)", path.display())]
    NoIndex {
        /// The directory that was expected to hold an index.
        path: PathBuf,
    },
    /// The index on disk is in another format than this build's
    /// [`INDEX_FORMAT`](crate::INDEX_FORMAT): an older one opened read-only (a read-write
    /// open rebuilds it), or a newer one (written by a newer build).
    #[error(
        "the search index at {} is in format {found}, this build uses format {expected}: {}",
        path.display(),
        format_advice(*found, *expected)
    )]
    IndexFormat {
        /// The index directory.
        path: PathBuf,
        /// The format recorded with the index's last commit.
        found: u32,
        /// The format this build reads and writes.
        expected: u32,
    },
    /// The search engine (tantivy) failed; its message names the file or operation.
    #[error("search engine error: {0}")]
    Engine(#[from] tantivy::TantivyError),
    /// A filesystem operation on the index directory failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn format_advice(found: u32, expected: u32) -> &'static str {
    if found < expected {
        "open it read-write once (`context-gateway serve` or `context-gateway index` on this \
         data dir), which rebuilds it from its stored chunks, then search again"
    } else {
        "it was written by a newer version; run that version, or delete the directory and \
         re-index with this one"
    }
}

impl Error {
    pub(crate) fn bad_query(reason: impl Into<String>) -> Self {
        Error::BadQuery {
            reason: reason.into(),
        }
    }
}
