//! Why a source could not produce a tree, by kind: worth another attempt or not, and why.

use std::path::PathBuf;
use std::time::Duration;

/// A failure to produce (or forget) a tree. Messages are worded for a job's `error` field and
/// never carry credentials: git's output is redacted before it gets here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// A git command ran out of time (a silent remote, a huge fetch).
    #[error("git {verb} timed out after {}s", after.as_secs())]
    Timeout {
        /// The git verb (`fetch`, `read-tree`, ...).
        verb: String,
        /// The timeout it ran into.
        after: Duration,
    },
    /// The remote could not be reached or hung up (DNS, refused, reset, an early EOF).
    #[error("git {verb} failed: {detail}")]
    RemoteUnavailable {
        /// The git verb.
        verb: String,
        /// git's last line on stderr, redacted.
        detail: String,
    },
    /// A lock file of the repo or its index is held.
    #[error("git {verb} failed: {detail}")]
    LockHeld {
        /// The git verb.
        verb: String,
        /// git's last line on stderr, redacted.
        detail: String,
    },
    /// The remote has no such ref (deleted, or never pushed).
    #[error("git {verb} failed: {detail}")]
    NoSuchRef {
        /// The git verb.
        verb: String,
        /// git's last line on stderr, redacted.
        detail: String,
    },
    /// git exited with an error this crate has no better kind for.
    #[error("git {verb} failed: {detail}")]
    Git {
        /// The git verb.
        verb: String,
        /// The exit status, if git exited (not killed by a signal).
        status: Option<i32>,
        /// git's last line on stderr, redacted (`no output` when it wrote none).
        detail: String,
    },
    /// git could not be started at all.
    #[error("cannot run git ({source}); is git installed?")]
    GitMissing {
        /// Why the process did not start.
        source: std::io::Error,
    },
    /// Waiting for a running git failed.
    #[error("git {verb} failed: {source}")]
    GitInterrupted {
        /// The git verb.
        verb: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The fetched ref names no commit in the mirror (the remote answered, but without it).
    #[error("{git_ref} names no commit in {remote} after the fetch")]
    RefMissing {
        /// The ref fetched.
        git_ref: String,
        /// The remote, credentials redacted.
        remote: String,
    },
    /// The ref name does not pass `git check-ref-format`.
    #[error("`{git_ref}` is not a valid ref name")]
    InvalidRef {
        /// The ref as given.
        git_ref: String,
    },
    /// The commit id is not a full lowercase hex object id.
    #[error("`{id}` is not a full commit id")]
    InvalidCommit {
        /// The id as given.
        id: String,
    },
    /// The repo's location is not the kind this source reads (a path given to the git source).
    #[error("repo has no {expected}")]
    WrongLocation {
        /// What this source needs: `url` or `path`.
        expected: &'static str,
    },
    /// A local-path repo's directory is missing or not a directory.
    #[error("{} is not a directory", path.display())]
    NotADirectory {
        /// The configured path.
        path: PathBuf,
    },
    /// A directory the source keeps its state in cannot be created.
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Moving or removing the source's own files failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`remove`, `move into place`).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

impl SourceError {
    /// Whether another attempt may succeed: network trouble, a held lock, a timeout or a
    /// file-system hiccup may pass; a bad ref, a missing ref or a missing git will not.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Timeout { .. }
            | SourceError::RemoteUnavailable { .. }
            | SourceError::LockHeld { .. }
            | SourceError::GitInterrupted { .. }
            | SourceError::Io { .. } => true,
            SourceError::Git { .. }
            | SourceError::GitMissing { .. }
            | SourceError::RefMissing { .. }
            | SourceError::NoSuchRef { .. }
            | SourceError::InvalidRef { .. }
            | SourceError::InvalidCommit { .. }
            | SourceError::WrongLocation { .. }
            | SourceError::NotADirectory { .. }
            | SourceError::CreateDir { .. } => false,
        }
    }

    /// The kind as a short stable name for metrics and logs: `timeout`, `remote_unavailable`,
    /// `lock_held`, `no_such_ref`, `git`, `git_missing`, `interrupted`, `ref_missing`, `invalid_ref`,
    /// `invalid_commit`, `wrong_location`, `not_a_directory`, `create_dir`, `io`.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceError::Timeout { .. } => "timeout",
            SourceError::RemoteUnavailable { .. } => "remote_unavailable",
            SourceError::LockHeld { .. } => "lock_held",
            SourceError::NoSuchRef { .. } => "no_such_ref",
            SourceError::Git { .. } => "git",
            SourceError::GitMissing { .. } => "git_missing",
            SourceError::GitInterrupted { .. } => "interrupted",
            SourceError::RefMissing { .. } => "ref_missing",
            SourceError::InvalidRef { .. } => "invalid_ref",
            SourceError::InvalidCommit { .. } => "invalid_commit",
            SourceError::WrongLocation { .. } => "wrong_location",
            SourceError::NotADirectory { .. } => "not_a_directory",
            SourceError::CreateDir { .. } => "create_dir",
            SourceError::Io { .. } => "io",
        }
    }
}
