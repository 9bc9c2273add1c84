//! The server the tests run against, and schemas that are dropped when a test ends.
//!
//! The address comes from `CG_POSTGRES_URL` (e.g. `host=127.0.0.1 port=5432 user=postgres
//! dbname=test`). Without it, or with the server down, a test prints one line saying which
//! suite was left out and why, and passes; with `CG_REQUIRE_SERVICES=1` both are failures.
// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use feed::Retention;
use feed_postgres::{PgFeedOptions, PgFeedStore};
use tokio_postgres::NoTls;

/// Runs `statements` on a connection of its own, on a runtime of its own.
fn execute(url: &str, statements: &str) -> Result<(), tokio_postgres::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(connection);
        client.batch_execute(statements).await
    })
}

/// The server's address, or `None` (after saying why) when the suite is left out.
pub fn server(suite: &str) -> Option<String> {
    let required = std::env::var("CG_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    let Ok(url) = std::env::var("CG_POSTGRES_URL") else {
        assert!(
            !required,
            "CG_REQUIRE_SERVICES=1 but CG_POSTGRES_URL is not set ({suite})"
        );
        eprintln!("{suite}: left out, CG_POSTGRES_URL is not set");
        return None;
    };
    match execute(&url, "SELECT 1") {
        Ok(()) => Some(url),
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
    pub fn for_test(suite: &str, test: &str) -> Option<Schemas> {
        let url = server(suite)?;
        Some(Schemas {
            url,
            prefix: format!(
                "cgf_{}_{}_{:x}",
                &test[..test.len().min(16)],
                std::process::id(),
                fastrand::u32(..)
            ),
            made: Mutex::new(Vec::new()),
            counter: AtomicUsize::new(0),
        })
    }

    /// A new schema name, unique to this test run.
    pub fn fresh(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}_{n}", self.prefix);
        self.made.lock().expect("schemas").push(name.clone());
        name
    }

    /// A store on `schema`.
    pub fn open(&self, schema: &str, retention: Retention) -> PgFeedStore {
        self.connect(schema, retention, &self.url)
            .expect("connect the feed")
    }

    /// A store on `schema` through `url`, with a poll interval long enough that every
    /// wake-up it sees came by NOTIFY.
    pub fn connect(
        &self,
        schema: &str,
        retention: Retention,
        url: &str,
    ) -> Result<PgFeedStore, feed_postgres::PgFeedError> {
        let options = PgFeedOptions {
            schema: schema.to_owned(),
            pool_size: 2,
            poll_every: std::time::Duration::from_secs(3600),
        };
        PgFeedStore::connect(url, options, retention)
    }

    /// The server's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `statements` on the server (to look at or tamper with a schema).
    pub fn execute(&self, statements: &str) {
        execute(&self.url, statements).expect("statements");
    }
}

impl Drop for Schemas {
    fn drop(&mut self) {
        let made = std::mem::take(&mut *self.made.lock().unwrap_or_else(|e| e.into_inner()));
        let drops: String = made
            .iter()
            .map(|schema| format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE;"))
            .collect();
        if !drops.is_empty() {
            if let Err(error) = execute(&self.url, &drops) {
                eprintln!("could not drop the test schemas: {error}");
            }
        }
    }
}
