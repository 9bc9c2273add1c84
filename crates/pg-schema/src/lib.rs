//! What the gateway's PostgreSQL backends (`jobstore-postgres`, `feed-postgres`) share: one
//! rule for the schema names a store accepts, the connection pool, the errors of setting a
//! store up, versioned migrations under an advisory lock, and (feature `testing`) schemas
//! made for one test and dropped after it.
//!
//! Each store lives in a schema of its own. `schema_version` holds one row per applied
//! migration; [`migrate`] takes the store's advisory lock in one transaction, creates the
//! schema and that table when missing, refuses a schema newer than the build, and applies
//! what it lacks, so that replicas starting together apply each migration once.
//!
//! ```
//! assert!(pg_schema::is_plain_schema("context_gateway"));
//! assert!(!pg_schema::is_plain_schema("Gateway; DROP TABLE jobs"));
//! assert_eq!(pg_schema::quoted("context_gateway"), "\"context_gateway\"");
//! assert!(matches!(
//!     pg_schema::check_schema("Jobs"),
//!     Err(pg_schema::SetupError::InvalidSchema(_))
//! ));
//! let (_config, pool) = pg_schema::pool("host=127.0.0.1 user=postgres dbname=test", 4)?;
//! assert_eq!(pool.status().max_size, 4);
//! # Ok::<(), pg_schema::SetupError>(())
//! ```

#![deny(missing_docs)]

mod error;
mod migrate;
mod name;
mod pool;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::SetupError;
pub use migrate::{MigrationLock, migrate};
pub use name::{MAX_SCHEMA, check_schema, is_plain_schema, quoted};
pub use pool::pool;
