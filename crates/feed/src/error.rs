//! The feed's one error type.

use std::path::PathBuf;

/// What went wrong opening, writing or reading the feed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// sled failed; `action` says what the feed was doing.
    #[error("feed at {}: {action}: {source}", path.display())]
    Storage {
        /// The feed's directory.
        path: PathBuf,
        /// What the feed was doing (`opening`, `writing an entry`, ...).
        action: &'static str,
        /// sled's error.
        source: sled::Error,
    },
    /// A backend other than sled failed; `action` says what the feed was doing. Its message
    /// never holds a connection string or password.
    #[error("feed: {action}: {source}")]
    Backend {
        /// What the feed was doing (`writing entries`, `reading a page`, ...).
        action: &'static str,
        /// The backend's own error.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The stored data is in a format this build does not read.
    #[error("feed at {}: {reason}", path.display())]
    Format {
        /// The feed's directory.
        path: PathBuf,
        /// What was found and what to do.
        reason: String,
    },
    /// The reader's cursor is older than what retention kept: restart from `restart`
    /// (a snapshot of the ref's current chunks).
    #[error(
        "cursor {cursor} is older than the feed's retention for this ref; restart from cursor {restart} (a snapshot)"
    )]
    CursorExpired {
        /// The cursor the reader sent.
        cursor: String,
        /// The cursor to restart from.
        restart: String,
    },
    /// A read was torn down before it finished (its thread panicked or the runtime stopped).
    #[error("the feed read was interrupted: {0}")]
    Interrupted(String),
    /// The cursor is ahead of every entry this feed has written (a feed from another data dir).
    #[error(
        "cursor {cursor} is ahead of this feed (its newest entry is {newest}); restart from cursor 0"
    )]
    CursorAhead {
        /// The cursor the reader sent.
        cursor: String,
        /// The newest cursor the feed has.
        newest: u64,
    },
}
