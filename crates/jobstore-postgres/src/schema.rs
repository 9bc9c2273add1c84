//! The tables, and the versioned migrations that create them.
//!
//! Every store names a schema of its own (several gateways may share one database with
//! different schemas). `schema_version` holds one row per applied migration. Migrations run
//! at start in one transaction under an advisory lock of the schema, so replicas starting
//! together apply each exactly once; a schema at a newer version than this build knows is
//! refused with [`PgError::NewerSchema`].

use deadpool_postgres::Object;

use crate::error::PgError;
use crate::names::Names;

/// Migration `n` is `MIGRATIONS[n - 1]`; `{s}` stands for the quoted schema name.
const MIGRATIONS: &[&str] = &[
    // 1: jobs, delivery keys and lease tokens.
    r#"
    CREATE SEQUENCE {s}.lease_tokens;
    CREATE TABLE {s}.jobs (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        repo text NOT NULL,
        git_ref text NOT NULL,
        fetch_ref text,
        kind smallint NOT NULL,
        commit_id text,
        before_id text,
        full_rebuild boolean NOT NULL,
        trigger smallint NOT NULL,
        provider text,
        delivery_id text,
        state smallint NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        coalesced integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz,
        not_before timestamptz,
        lease_until timestamptz,
        lease_token bigint,
        cancel_requested boolean NOT NULL DEFAULT false,
        files_seen bigint NOT NULL DEFAULT 0,
        files_changed bigint NOT NULL DEFAULT 0,
        files_deleted bigint NOT NULL DEFAULT 0,
        chunks_added bigint NOT NULL DEFAULT 0,
        chunks_removed bigint NOT NULL DEFAULT 0,
        error text,
        note text
    );
    -- One queued and one running job per (repo, ref), whatever any replica does.
    CREATE UNIQUE INDEX jobs_one_queued ON {s}.jobs (repo, git_ref) WHERE state = 0;
    CREATE UNIQUE INDEX jobs_one_running ON {s}.jobs (repo, git_ref) WHERE state = 1;
    CREATE INDEX jobs_leases ON {s}.jobs (lease_until) WHERE state = 1;
    CREATE INDEX jobs_finished ON {s}.jobs (finished_at) WHERE state >= 2;
    CREATE INDEX jobs_by_state ON {s}.jobs (state, id);
    CREATE TABLE {s}.deliveries (
        key text PRIMARY KEY,
        job bigint NOT NULL,
        expires_at timestamptz NOT NULL
    );
    CREATE INDEX deliveries_expiry ON {s}.deliveries (expires_at);
    "#,
    // 2: the delivery log, and the bodies kept beside it.
    r#"
    CREATE TABLE {s}.delivery_log (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        received_at timestamptz NOT NULL,
        provider text NOT NULL,
        event text,
        repo text,
        delivery_id text,
        verification smallint NOT NULL,
        status integer NOT NULL,
        outcome smallint NOT NULL,
        reason text,
        job_id text,
        header_names text[] NOT NULL,
        header_values text[] NOT NULL,
        body_bytes bigint NOT NULL,
        body_kept boolean NOT NULL,
        redelivery_of bigint
    );
    CREATE INDEX delivery_log_repo ON {s}.delivery_log (repo, id);
    CREATE INDEX delivery_log_job ON {s}.delivery_log (job_id, id);
    CREATE TABLE {s}.delivery_bodies (
        id bigint PRIMARY KEY REFERENCES {s}.delivery_log (id) ON DELETE CASCADE,
        path_repo text,
        header_names text[] NOT NULL,
        header_values bytea[] NOT NULL,
        body bytea NOT NULL
    );
    "#,
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Creates the schema if needed and applies the migrations it lacks. Returns the version
/// it found before migrating (0 for a new schema).
pub(crate) async fn migrate(client: &mut Object, names: &Names) -> Result<i32, PgError> {
    let tx = client.transaction().await?;
    // Held until commit: a replica starting at the same moment waits here, then finds the
    // migrations applied.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&names.migration_lock])
        .await?;
    let migrations: Vec<String> = MIGRATIONS.iter().map(|m| m.to_string()).collect();
    let found = pg_schema::apply_migrations(&tx, &names.schema, &migrations, "job")
        .await
        .map_err(|error| {
            error.into_store_error(|found, supports| PgError::NewerSchema {
                schema: names.schema.clone(),
                found,
                supports,
            })
        })?;
    tx.commit().await?;
    Ok(found)
}
