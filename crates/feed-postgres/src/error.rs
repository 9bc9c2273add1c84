//! What can go wrong talking to PostgreSQL, and how it becomes a [`feed::FeedError`].

/// Everything [`PgFeedStore`](crate::PgFeedStore) reports besides the feed's own errors
/// (expired or future cursors). Messages never hold the connection string nor its password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgFeedError {
    /// The connection string, the schema name or the schema's version is not usable.
    #[error(transparent)]
    Setup(#[from] pg_schema::SetupError),
    /// The store's runtime could not be started.
    #[error("starting the feed's PostgreSQL runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// No connection could be had from the pool (server down, pool closed, timeout).
    #[error("no PostgreSQL connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A statement failed.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// A stored value does not decode; `what` names it.
    #[error("the feed's {what} in PostgreSQL is damaged: {source}")]
    Damaged {
        /// Which value (`an entry`, `a ref record`, ...).
        what: &'static str,
        /// Why it does not decode.
        source: serde_json::Error,
    },
    /// A stored cursor or count is negative or out of range.
    #[error("the feed's {0} in PostgreSQL is out of range")]
    OutOfRange(&'static str),
}

impl PgFeedError {
    /// This error as the feed's error, `action` saying what the feed was doing.
    pub(crate) fn during(self, action: &'static str) -> feed::FeedError {
        feed::FeedError::Backend {
            action,
            source: Box::new(self),
        }
    }
}

/// A decoding failure of `what`.
pub(crate) fn damaged(what: &'static str) -> impl Fn(serde_json::Error) -> PgFeedError {
    move |source| PgFeedError::Damaged { what, source }
}

/// A stored `bigint` as a cursor or count.
pub(crate) fn unsigned(value: i64, what: &'static str) -> Result<u64, PgFeedError> {
    u64::try_from(value).map_err(|_| PgFeedError::OutOfRange(what))
}

/// A cursor or count as a `bigint`.
pub(crate) fn signed(value: u64, what: &'static str) -> Result<i64, PgFeedError> {
    i64::try_from(value).map_err(|_| PgFeedError::OutOfRange(what))
}
