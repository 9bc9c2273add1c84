//! Versioned migrations, applied once under a store's advisory lock.

use tokio_postgres::Client;

use crate::error::SetupError;
use crate::name::quoted;

/// The advisory lock a store migrates under, held until the migration transaction ends.
#[derive(Debug, Clone, Copy)]
pub enum MigrationLock<'a> {
    /// `pg_advisory_xact_lock(key)`.
    Key(i64),
    /// `pg_advisory_xact_lock(hashtextextended(name, 0))`.
    Named(&'a str),
}

/// Migrates `schema` of store `store` (`job`, `feed`: named in the log line of each migration
/// and in [`SetupError::NewerSchema`]) in one transaction on `client`, under `lock`: a
/// replica starting at the same moment waits, then finds the migrations applied.
///
/// Creates the schema and its `schema_version` table if needed and applies the migrations it
/// lacks. Migration `n` is `migrations[n - 1]`; `{s}` in its text stands for the quoted
/// schema name. Returns the version found before migrating (0 for a new schema).
pub async fn migrate<E>(
    client: &mut Client,
    lock: MigrationLock<'_>,
    store: &'static str,
    schema: &str,
    migrations: &[String],
) -> Result<i32, E>
where
    E: From<SetupError> + From<tokio_postgres::Error>,
{
    let tx = client.transaction().await?;
    match lock {
        MigrationLock::Key(key) => {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])
                .await?
        }
        MigrationLock::Named(name) => {
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                &[&name],
            )
            .await?
        }
    };
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
        return Err(E::from(SetupError::NewerSchema {
            store,
            schema: schema.to_owned(),
            found,
            supports,
        }));
    }
    for (index, migration) in migrations.iter().enumerate().skip(found as usize) {
        let version = index as i32 + 1;
        tx.batch_execute(&migration.replace("{s}", &s)).await?;
        tx.execute(
            &format!("INSERT INTO {s}.schema_version (version) VALUES ($1)"),
            &[&version],
        )
        .await?;
        tracing::info!(schema, version, "{store} schema migrated");
    }
    tx.commit().await?;
    Ok(found)
}
