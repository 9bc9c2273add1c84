//! The server the tests run against and schemas dropped when a test ends
//! ([`pg_schema::testing`]), with job stores opened on them.
// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::time::Duration;

use jobstore::StoreConfig;
use jobstore_postgres::{PgJobStore, PgOptions};
pub use pg_schema::testing::Schemas;
use tokio_postgres::NoTls;

/// Schemas for test `test` of `suite`, or `None` (after saying why) when the suite is left
/// out. The server is looked for off the runtime's workers.
pub async fn schemas(suite: &str, test: &str) -> Option<Schemas> {
    let (suite, test) = (suite.to_owned(), test.to_owned());
    tokio::task::spawn_blocking(move || Schemas::for_test(&suite, &test))
        .await
        .expect("looking for the server")
}

/// Job stores on the schemas of a test, and a plain client for looking at them.
pub trait JobStores {
    /// A store on `schema`.
    async fn open(&self, schema: &str, config: StoreConfig) -> PgJobStore;

    /// A store on `schema` with `options` (but a small pool).
    async fn open_with(&self, schema: &str, config: StoreConfig, options: PgOptions) -> PgJobStore;

    /// A plain client, for looking at (and tampering with) the tables.
    async fn client(&self) -> tokio_postgres::Client;
}

impl JobStores for Schemas {
    async fn open(&self, schema: &str, config: StoreConfig) -> PgJobStore {
        self.open_with(schema, config, PgOptions::default()).await
    }

    async fn open_with(&self, schema: &str, config: StoreConfig, options: PgOptions) -> PgJobStore {
        let options = PgOptions {
            schema: schema.to_owned(),
            pool_size: 4,
            ..options
        };
        PgJobStore::connect(self.url(), options, config)
            .await
            .expect("connect the job store")
    }

    async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(self.url(), NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
    }
}

/// Generous bound on a wait, so that a store that never wakes fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(20);
