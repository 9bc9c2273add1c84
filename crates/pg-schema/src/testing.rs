//! For the stores' test suites: the server they run against, and schemas made for one test
//! that are dropped when it ends.
//!
//! The address comes from `CG_POSTGRES_URL` (e.g. `host=127.0.0.1 port=5432 user=postgres
//! dbname=test`). Without it, or with the server down, a test prints one line saying which
//! suite was left out and why, and passes; with `CG_REQUIRE_SERVICES=1` both are failures.
//!
//! Every call that talks to the server does so on a thread and runtime of its own, so it
//! may be made from a plain test or from inside (or after) a test's tokio runtime.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_postgres::NoTls;

/// Runs `statements` on a connection of its own, on a thread and runtime of its own.
fn execute(url: &str, statements: String) -> Result<(), tokio_postgres::Error> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
            tokio::spawn(connection);
            client.batch_execute(&statements).await
        })
    })
    .join()
    .expect("the statements' thread")
}

/// The server's address, or `None` (after saying why) when `suite` is left out.
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
    match execute(&url, "SELECT 1".to_owned()) {
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
#[derive(Debug)]
pub struct Schemas {
    url: String,
    prefix: String,
    made: Mutex<Vec<String>>,
    counter: AtomicUsize,
}

impl Schemas {
    /// Schemas for test `test` of `suite` on the server, or `None` when the suite is left
    /// out.
    pub fn for_test(suite: &str, test: &str) -> Option<Schemas> {
        Some(Schemas::new(&server(suite)?, test))
    }

    /// Schemas for test `test` on the server at `url`, named after the test, the process
    /// and a random number.
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

    /// The server's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `statements` on the server (to look at or tamper with a schema).
    pub fn execute(&self, statements: &str) {
        execute(&self.url, statements.to_owned()).expect("statements");
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
            if let Err(error) = execute(&self.url, drops) {
                eprintln!("could not drop the test schemas: {error}");
            }
        }
    }
}
