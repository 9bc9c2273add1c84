//! The one error type of this crate.

use std::path::PathBuf;
use std::sync::Arc;

use crate::job::{JobId, JobState};

/// Everything that can go wrong in a [`JobStore`](crate::JobStore).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another process (or another store in this process) has the database open.
    #[error("another process holds {}; stop it or pick another --data-dir", path.display())]
    Locked {
        /// The sled directory that could not be locked.
        path: PathBuf,
    },
    /// The database exists but cannot be read back.
    #[error(
        "the job database at {} is corrupt ({detail}); restore it from a backup, or move the \
         directory aside to start with an empty queue",
        path.display()
    )]
    Corrupt {
        /// The sled directory.
        path: PathBuf,
        /// What was found to be wrong.
        detail: String,
    },
    /// The store was written in an on-disk format this build does not read.
    #[error(
        "the job store at {} is format {found}, this build reads format {reads}: move the \
         directory away to start with an empty queue (its jobs and delivery keys are then \
         forgotten), or run the release that wrote it",
        path.display()
    )]
    UnsupportedFormat {
        /// The sled directory.
        path: PathBuf,
        /// The format version found (0: written before format versions were recorded).
        found: u32,
        /// The format version this build reads and writes.
        reads: u32,
    },
    /// The database could not be opened for another reason (permissions, not a directory, ...).
    #[error("cannot open the job database at {}: {source}", path.display())]
    Open {
        /// The sled directory.
        path: PathBuf,
        /// The underlying storage error.
        #[source]
        source: sled::Error,
    },
    /// A read or write of the open database failed.
    #[error("job database at {} failed while {action}: {source}", path.display())]
    Storage {
        /// The sled directory.
        path: PathBuf,
        /// What the store was doing.
        action: &'static str,
        /// The underlying storage error.
        #[source]
        source: sled::Error,
    },
    /// A record could not be encoded for writing (a bug: every record is plain data).
    #[error("cannot encode {what} for the job database: {detail}")]
    Encode {
        /// Which record.
        what: String,
        /// The encoder's message.
        detail: String,
    },
    /// The store has been shut down (its background thread is gone).
    #[error("the job store at {} is closed", path.display())]
    Closed {
        /// The sled directory.
        path: PathBuf,
    },
    /// A networked backend (a database server) could not be reached or gave up for now:
    /// connection refused or lost, the server shutting down, a serialization failure or
    /// deadlock. Retrying the operation may succeed; nothing it would have done was done.
    #[error("the job store is unavailable while {action}: {source}")]
    Unavailable {
        /// What the store was doing.
        action: &'static str,
        /// The backend's error (never holding credentials).
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// A networked backend refused the operation for a reason retrying will not fix (a
    /// missing permission, a schema it does not know, a broken constraint).
    #[error("the job store failed while {action}: {source}")]
    Backend {
        /// What the store was doing.
        action: &'static str,
        /// The backend's error (never holding credentials).
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// No job has this id.
    #[error("no job with id {0}")]
    NotFound(JobId),
    /// The operation needs a running job (heartbeat, complete) and this one is not.
    #[error("job {id} is {} and not running (its lease may have expired)", state.as_str())]
    NotRunning {
        /// The job.
        id: JobId,
        /// The state it is in.
        state: JobState,
    },
    /// The lease was taken over: the job was claimed again after this lease expired (the
    /// holder was paused or cut off past its lease). The holder must stop; the job is not
    /// changed.
    #[error("job {id}: the lease was lost (the job was claimed again after it expired)")]
    LeaseLost {
        /// The job.
        id: JobId,
    },
    /// A text did not have the shape of a job id.
    #[error("{0:?} is not a job id (expected 16 lowercase hex digits)")]
    InvalidJobId(String),
    /// A text did not name a job state.
    #[error(
        "{0:?} is not a job state (expected queued, running, succeeded, failed, cancelled or superseded)"
    )]
    InvalidState(String),
    /// A list cursor did not come from a previous page.
    #[error("{0:?} is not a list cursor (use next_cursor from a previous page)")]
    InvalidCursor(String),
    /// A text did not have the shape of a delivery log id.
    #[error("{0:?} is not a delivery log id (expected 16 lowercase hex digits)")]
    InvalidLogId(String),
    /// A text did not name a delivery outcome.
    #[error("{0:?} is not a delivery outcome (expected queued, duplicate, ignored or refused)")]
    InvalidOutcome(String),
    /// An enqueue request was missing something it needs.
    #[error("invalid job request: {0}")]
    InvalidRequest(&'static str),
}

impl Error {
    /// True for failures that may go away on their own ([`Error::Unavailable`]): retry the
    /// operation later. Everything else is permanent for the same input.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }
}
