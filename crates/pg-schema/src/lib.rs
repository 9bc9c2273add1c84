//! What the gateway's PostgreSQL backends (`jobstore-postgres`, `feed-postgres`) share about
//! their schemas: one rule for the schema names a store accepts, and versioned migrations.
//!
//! Each store lives in a schema of its own. `schema_version` holds one row per applied
//! migration; [`apply_migrations`] creates the schema and that table when missing, refuses a
//! schema newer than the build, and applies what it lacks, all inside the caller's
//! transaction, which holds the caller's advisory lock so that replicas starting together
//! apply each migration once.
//!
//! ```
//! assert!(pg_schema::is_plain_schema("context_gateway"));
//! assert!(!pg_schema::is_plain_schema("Gateway; DROP TABLE jobs"));
//! assert_eq!(pg_schema::quoted("context_gateway"), "\"context_gateway\"");
//! ```

#![deny(missing_docs)]

use tokio_postgres::Transaction;

/// Longest schema name accepted: stores add suffixes to it for their NOTIFY channels, which
/// must stay under PostgreSQL's 63-byte identifier limit.
pub const MAX_SCHEMA: usize = 40;

/// Whether `schema` is a plain lower-case identifier of at most [`MAX_SCHEMA`] bytes
/// (`[a-z][a-z0-9_]*`), safe to splice into SQL text and channel names.
pub fn is_plain_schema(schema: &str) -> bool {
    schema.len() <= MAX_SCHEMA
        && schema.starts_with(|c: char| c.is_ascii_lowercase())
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `schema` as a quoted identifier, for SQL text.
pub fn quoted(schema: &str) -> String {
    format!("\"{schema}\"")
}

/// Why [`apply_migrations`] did not migrate.
#[derive(Debug)]
pub enum MigrateError {
    /// The schema is at a version this build does not know (a newer release wrote it).
    Newer {
        /// The version found in `schema_version`.
        found: i32,
        /// The newest version this build knows.
        supports: i32,
    },
    /// PostgreSQL refused a statement.
    Postgres(tokio_postgres::Error),
}

impl MigrateError {
    /// Into a store's own error type: `newer` builds its newer-schema error from the version
    /// found and the newest one this build knows.
    pub fn into_store_error<E: From<tokio_postgres::Error>>(
        self,
        newer: impl FnOnce(i32, i32) -> E,
    ) -> E {
        match self {
            MigrateError::Newer { found, supports } => newer(found, supports),
            MigrateError::Postgres(error) => E::from(error),
        }
    }
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(error: tokio_postgres::Error) -> MigrateError {
        MigrateError::Postgres(error)
    }
}

/// Creates `schema` and its `schema_version` table if needed and applies the migrations it
/// lacks, in `tx` (the caller holds its lock and commits). Migration `n` is
/// `migrations[n - 1]`; `{s}` in its text stands for the quoted schema name. `what` names
/// the store in the log line of each migration. Returns the version found before migrating
/// (0 for a new schema).
pub async fn apply_migrations(
    tx: &Transaction<'_>,
    schema: &str,
    migrations: &[String],
    what: &str,
) -> Result<i32, MigrateError> {
    let s = quoted(schema);
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.schema_version (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await?;
    let found: i32 = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {s}.schema_version"),
            &[],
        )
        .await?
        .get(0);
    let supports = migrations.len() as i32;
    if found > supports {
        return Err(MigrateError::Newer { found, supports });
    }
    for (index, migration) in migrations.iter().enumerate().skip(found as usize) {
        let version = index as i32 + 1;
        tx.batch_execute(&migration.replace("{s}", &s)).await?;
        tx.execute(
            &format!("INSERT INTO {s}.schema_version (version) VALUES ($1)"),
            &[&version],
        )
        .await?;
        tracing::info!(schema, version, "{what} schema migrated");
    }
    Ok(found)
}
