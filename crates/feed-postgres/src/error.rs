//! What can go wrong talking to PostgreSQL, and how it becomes a [`feed::FeedError`].

/// Everything [`PgFeedStore`](crate::PgFeedStore) reports besides the feed's own errors
/// (expired or future cursors). Messages never hold the connection string nor its password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgFeedError {
    /// The connection string does not parse. The string itself is not repeated: it may
    /// hold a password.
    #[error("the PostgreSQL connection string does not parse (check its keys and quoting)")]
    InvalidUrl,
    /// The schema name is not a plain lowercase identifier.
    #[error(
        "{0:?} is not a usable schema name (lowercase letters, digits and '_', starting with a letter, at most 40)"
    )]
    InvalidSchema(String),
    /// The schema was written by a newer release of this crate.
    #[error(
        "the feed schema {schema:?} is at version {found}, this build knows versions up to {supports}: \
         run the release that migrated it, or point this one at another schema"
    )]
    NewerSchema {
        /// The schema.
        schema: String,
        /// The version found in its `schema_version` table.
        found: i32,
        /// The newest version this build knows.
        supports: i32,
    },
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
