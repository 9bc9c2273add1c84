//! The server the tests run against, and schemas that are dropped when a test ends.
//!
//! The address comes from `CG_POSTGRES_URL` (e.g. `host=127.0.0.1 port=5432 user=postgres
//! dbname=test`). Without it, or with the server down, a test prints one line saying which
//! suite was left out and why, and passes; with `CG_REQUIRE_SERVICES=1` both are failures.
// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jobstore::StoreConfig;
use jobstore_postgres::{PgJobStore, PgOptions};
use tokio_postgres::NoTls;

/// The server's address, or `None` (after saying why) when the suite is left out.
pub async fn server(suite: &str) -> Option<String> {
    let required = std::env::var("CG_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    let Ok(url) = std::env::var("CG_POSTGRES_URL") else {
        assert!(
            !required,
            "CG_REQUIRE_SERVICES=1 but CG_POSTGRES_URL is not set ({suite})"
        );
        eprintln!("{suite}: left out, CG_POSTGRES_URL is not set");
        return None;
    };
    match tokio_postgres::connect(&url, NoTls).await {
        Ok(_) => Some(url),
        Err(error) => {
            assert!(!required, "{suite}: PostgreSQL at CG_POSTGRES_URL: {error}");
            eprintln!("{suite}: left out, PostgreSQL at CG_POSTGRES_URL does not answer ({error})");
            None
        }
    }
}

/// Schemas made for one test; all are dropped when this is dropped (also when the test
/// panicked).
pub struct Schemas {
    url: String,
    prefix: String,
    made: Mutex<Vec<String>>,
    counter: AtomicUsize,
}

impl Schemas {
    /// Schemas for test `test` of `suite`, or `None` when the suite is left out.
    pub async fn for_test(suite: &str, test: &str) -> Option<Schemas> {
        Some(Schemas::new(&server(suite).await?, test))
    }

    pub fn new(url: &str, test: &str) -> Schemas {
        Schemas {
            url: url.to_owned(),
            prefix: format!(
                "cgt_{}_{}_{:x}",
                &test[..test.len().min(16)],
                std::process::id(),
                fastrand::u32(..)
            ),
            made: Mutex::new(Vec::new()),
            counter: AtomicUsize::new(0),
        }
    }

    /// A new schema name, unique to this test run.
    pub fn fresh(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}_{n}", self.prefix);
        self.made.lock().expect("schemas").push(name.clone());
        name
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A store on `schema`.
    pub async fn open(&self, schema: &str, config: StoreConfig) -> PgJobStore {
        self.open_with(schema, config, PgOptions::default()).await
    }

    pub async fn open_with(
        &self,
        schema: &str,
        config: StoreConfig,
        options: PgOptions,
    ) -> PgJobStore {
        let options = PgOptions {
            schema: schema.to_owned(),
            pool_size: 4,
            ..options
        };
        PgJobStore::connect(&self.url, options, config)
            .await
            .expect("connect the job store")
    }

    /// A plain client, for looking at (and tampering with) the tables.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
    }
}

impl Drop for Schemas {
    fn drop(&mut self) {
        let made = std::mem::take(&mut *self.made.lock().unwrap_or_else(|e| e.into_inner()));
        if made.is_empty() {
            return;
        }
        let url = self.url.clone();
        // Its own thread and runtime: this may run inside (or after) the test's runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
                tokio::spawn(connection);
                for schema in made {
                    client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                        .await?;
                }
                Ok::<_, tokio_postgres::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test schemas: {dropped:?}");
        }
    }
}

/// Generous bound on a wait, so that a store that never wakes fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(20);
