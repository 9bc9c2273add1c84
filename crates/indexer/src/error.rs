//! The crate's one error type.

use std::io;
use std::path::PathBuf;

use crate::sink::SinkError;

/// Everything that can make an indexing run (or setting one up) fail.
///
/// Problems with single files of the tree (unreadable, binary, a link out of the tree...) are
/// not errors: they are counted in [`RunSummary::skipped`](crate::RunSummary::skipped).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory the indexer itself needs (the tree root, a manifest) could not be used.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path being read or written.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// An include or exclude glob of the configuration does not parse.
    #[error("invalid glob {glob:?} in the indexer configuration: {source}")]
    Glob {
        /// The glob as configured.
        glob: String,
        /// Why it does not parse.
        source: globset::Error,
    },
    /// The tree to index does not exist or is not a directory.
    #[error("tree to index {path} does not exist or is not a directory")]
    TreeMissing {
        /// The path given in the request.
        path: PathBuf,
    },
    /// A stored manifest cannot be read or written.
    #[error("manifest {path}: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The output of `git diff --name-status -z` given as a path hint does not parse.
    #[error("cannot parse `git diff --name-status -z` output: {reason}")]
    BadNameStatus {
        /// What is wrong and where (byte offset).
        reason: String,
    },
    /// The index sink refused a batch or the commit; the manifest was left untouched.
    #[error("index sink failed: {0}")]
    Sink(#[source] SinkError),
    /// The caller's `cancelled` callback said stop; the sink was told to abort.
    #[error("the indexing run was cancelled")]
    Cancelled,
}

impl Error {
    /// Whether the run may succeed if tried again later: I/O trouble and transient sink
    /// failures can pass; a bad glob, a missing tree or a cancellation will not change.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Io { .. } => true,
            Error::Sink(error) => error.is_transient(),
            Error::Glob { .. }
            | Error::TreeMissing { .. }
            | Error::Manifest { .. }
            | Error::BadNameStatus { .. }
            | Error::Cancelled => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
