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

impl Error {
    pub(crate) fn bad_query(reason: impl Into<String>) -> Self {
        Error::BadQuery {
            reason: reason.into(),
        }
    }
}
