//! What can go wrong talking to PostgreSQL, and how it maps onto [`jobstore::Error`].

use std::sync::Arc;

use tokio_postgres::error::SqlState;

/// Everything [`PgJobStore`](crate::PgJobStore) reports besides the queue's own errors.
/// Messages never hold the connection string (nor its password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The connection string, the schema name or the schema's version is not usable.
    #[error(transparent)]
    Setup(#[from] pg_schema::SetupError),
    /// No connection could be had from the pool (server down, pool closed, timeout).
    #[error("no PostgreSQL connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A statement failed.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
}

impl PgError {
    /// True when retrying may succeed: the server could not be reached or dropped the
    /// connection, is shutting down or out of resources, or the transaction lost a
    /// serialization or deadlock race.
    pub fn is_transient(&self) -> bool {
        match self {
            PgError::Pool(_) => true,
            PgError::Postgres(error) => match error.code() {
                // No SQLSTATE: the connection itself failed (refused, reset, closed).
                None => true,
                Some(code) => {
                    let class = &code.code()[..2];
                    *code == SqlState::T_R_SERIALIZATION_FAILURE
                        || *code == SqlState::T_R_DEADLOCK_DETECTED
                        || *code == SqlState::LOCK_NOT_AVAILABLE
                        || *code == SqlState::QUERY_CANCELED
                        // 08: connection exception; 53: insufficient resources;
                        // 57: operator intervention (shutdown, admin shutdown, crash).
                        || matches!(class, "08" | "53" | "57")
                }
            },
            PgError::Setup(_) => false,
        }
    }

    /// A unique index refused a row: another replica won a race; the operation is run again.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, PgError::Postgres(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION))
    }

    /// This error as the queue's error, `action` saying what the store was doing.
    pub(crate) fn during(self, action: &'static str) -> jobstore::Error {
        let transient = self.is_transient();
        let source = Arc::new(self);
        if transient {
            jobstore::Error::Unavailable { action, source }
        } else {
            jobstore::Error::Backend { action, source }
        }
    }
}

/// What a transaction body returns: either the queue's own verdict (not found, lease lost,
/// ...) or a database failure still to be classified.
#[derive(Debug)]
pub(crate) enum TxError {
    Queue(jobstore::Error),
    Db(PgError),
    /// Another replica changed what the transaction read; run it again.
    Retry,
}

impl From<tokio_postgres::Error> for TxError {
    fn from(error: tokio_postgres::Error) -> Self {
        TxError::Db(PgError::Postgres(error))
    }
}

impl From<PgError> for TxError {
    fn from(error: PgError) -> Self {
        TxError::Db(error)
    }
}

impl From<jobstore::Error> for TxError {
    fn from(error: jobstore::Error) -> Self {
        TxError::Queue(error)
    }
}
