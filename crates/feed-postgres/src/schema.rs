//! The tables, and the versioned migrations that create them.
//!
//! A store names a schema of its own (a feed and a job store may share one database).
//! `schema_version` holds one row per applied migration. Migrations run at connect in one
//! transaction under an advisory lock of the schema, so replicas starting together apply
//! each exactly once; a schema at a newer version than this build knows is refused with
//! [`pg_schema::SetupError::NewerSchema`].

use pg_schema::MigrationLock;

use crate::error::PgFeedError;

/// Migration `n` is `MIGRATIONS[n - 1]`; `{s}` stands for the quoted schema name and
/// `{first}` for the first cursor the feed hands out.
const MIGRATIONS: &[&str] = &[
    // 1: the cursor counter, entries, each ref's current files and its record. Text sorts
    // by bytes (COLLATE "C"), the order the sled feed serves paths and refs in.
    r#"
    CREATE TABLE {s}.cursor_counter (
        id smallint PRIMARY KEY CHECK (id = 1),
        next bigint NOT NULL
    );
    INSERT INTO {s}.cursor_counter (id, next) VALUES (1, {first});
    CREATE TABLE {s}.entries (
        cursor bigint PRIMARY KEY,
        repo text COLLATE "C" NOT NULL,
        git_ref text COLLATE "C" NOT NULL,
        time_ms bigint NOT NULL,
        commit_id text,
        last_part boolean NOT NULL,
        body text NOT NULL
    );
    CREATE INDEX entries_by_ref ON {s}.entries (repo, git_ref, cursor);
    CREATE TABLE {s}.files (
        repo text COLLATE "C" NOT NULL,
        git_ref text COLLATE "C" NOT NULL,
        path text COLLATE "C" NOT NULL,
        chunks text NOT NULL,
        PRIMARY KEY (repo, git_ref, path)
    );
    CREATE TABLE {s}.refs (
        repo text COLLATE "C" NOT NULL,
        git_ref text COLLATE "C" NOT NULL,
        record text NOT NULL,
        PRIMARY KEY (repo, git_ref)
    );
    "#,
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// A checked schema name and what the store derives from it.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    /// The schema as given.
    pub(crate) schema: String,
    /// The schema as a quoted identifier, for SQL text.
    pub(crate) quoted: String,
    /// The channel commits are announced on (payload: the newest cursor).
    pub(crate) channel: String,
}

impl Names {
    pub(crate) fn new(schema: &str) -> Result<Names, PgFeedError> {
        let schema = pg_schema::check_schema(schema)?;
        Ok(Names {
            schema: schema.to_owned(),
            quoted: pg_schema::quoted(schema),
            channel: format!("{schema}_feed"),
        })
    }
}

/// Creates the schema if needed and applies the migrations it lacks, under the schema's
/// migration lock. Returns the version found before migrating (0 for a new schema).
pub(crate) async fn migrate(
    client: &mut deadpool_postgres::Object,
    names: &Names,
) -> Result<i32, PgFeedError> {
    let first = feed::plan::FIRST_CURSOR.to_string();
    let migrations: Vec<String> = MIGRATIONS
        .iter()
        .map(|m| m.replace("{first}", &first))
        .collect();
    let lock = format!("feed-postgres migrate {}", names.schema);
    pg_schema::migrate(
        client,
        MigrationLock::Named(&lock),
        "feed",
        &names.schema,
        &migrations,
    )
    .await
}
