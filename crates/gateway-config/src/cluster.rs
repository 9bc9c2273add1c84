//! `[cluster]`: the job queue on PostgreSQL instead of the data dir, so that several gateway
//! replicas share one durable queue. Without the section the gateway keeps its jobs in sled.
//!
//! The connection string may hold a password: it is parsed once here, and only the
//! [`ClusterConfig::target`] (hosts, ports, database, user) is ever printed.

use std::fmt;
use std::time::Duration;

use jobstore::StoreConfig;
use jobstore_postgres::{PgJobStore, PgOptions};
use serde::Deserialize;
use tokio_postgres::config::Host;

/// The schema the job tables live in, unless `schema` says otherwise.
pub const DEFAULT_SCHEMA: &str = "context_gateway";
/// Connections in the job store's pool, unless `pool_size` says otherwise.
pub const DEFAULT_POOL_SIZE: usize = 16;
/// How long start-up waits for the server, unless `connect_timeout_secs` says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;

/// `[cluster]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    postgres_url: Option<String>,
    schema: Option<String>,
    pool_size: Option<usize>,
    connect_timeout_secs: Option<u64>,
}

/// `[cluster]`, validated.
#[derive(Clone)]
pub struct ClusterConfig {
    /// The connection string as configured (libpq `key=value` or a `postgresql://` URL).
    /// Never printed: it may hold a password.
    postgres_url: String,
    /// Where the connection string points, without its password: for messages.
    pub target: String,
    /// The schema the job tables live in.
    pub schema: String,
    /// Connections in the pool.
    pub pool_size: usize,
    /// How long start-up waits for the server.
    pub connect_timeout: Duration,
}

impl fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("target", &self.target)
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// Why the PostgreSQL job store could not be opened at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No answer within `connect_timeout`.
    #[error(
        "PostgreSQL job store at {target}: no answer within {}s; check that the server runs and the host and port are right",
        timeout.as_secs()
    )]
    Timeout {
        /// Where, without the password.
        target: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// The server answered, and connecting or migrating failed.
    #[error("PostgreSQL job store at {target}: {}", with_causes(source))]
    Open {
        /// Where, without the password.
        target: String,
        /// What failed.
        source: jobstore_postgres::PgError,
    },
}

/// `error` and its sources: the pool's message alone hides why ("connection refused").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let next_text = next.to_string();
        if !text.ends_with(&next_text) {
            text.push_str(": ");
            text.push_str(&next_text);
        }
        cause = next.source();
    }
    text
}

impl ClusterSection {
    /// The validated section, or every `(key, message)` wrong in it. Messages never repeat
    /// the connection string.
    pub fn into_config(self) -> Result<ClusterConfig, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        let mut target = String::new();
        match self.postgres_url.as_deref() {
            None | Some("") => problems.push((
                "postgres_url",
                "is required in [cluster], e.g. \"host=127.0.0.1 port=5432 user=gateway dbname=gateway\"".to_string(),
            )),
            Some(url) => match url.parse::<tokio_postgres::Config>() {
                Ok(parsed) if parsed.get_hosts().is_empty() => problems.push((
                    "postgres_url",
                    "names no host (add host=... or postgresql://HOST/...)".to_string(),
                )),
                Ok(parsed) => target = describe(&parsed),
                Err(_) => problems.push((
                    "postgres_url",
                    "does not parse as a libpq key=value string or a postgresql:// URL (check its keys and quoting)".to_string(),
                )),
            },
        }
        let schema = self.schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_string());
        if let Err(wrong) = PgOptions::check_schema(&schema) {
            problems.push(("schema", wrong.to_string()));
        }
        let pool_size = self.pool_size.unwrap_or(DEFAULT_POOL_SIZE);
        if !(1..=1000).contains(&pool_size) {
            problems.push((
                "pool_size",
                format!("{pool_size} connections: choose between 1 and 1000"),
            ));
        }
        let timeout = self
            .connect_timeout_secs
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECS);
        if timeout == 0 {
            problems.push((
                "connect_timeout_secs",
                "must be above 0, or start-up could wait forever".to_string(),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(ClusterConfig {
            postgres_url: self.postgres_url.unwrap_or_default(),
            target,
            schema,
            pool_size,
            connect_timeout: Duration::from_secs(timeout),
        })
    }
}

/// `host:port[, host:port] database D user U`: where a connection string points, without
/// its password.
fn describe(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            // libpq: one port for every host, or one per host; 5432 when none is given.
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(dir) => format!("{}/.s.PGSQL.{port}", dir.display()),
            }
        })
        .collect();
    let mut target = hosts.join(", ");
    if let Some(db) = config.get_dbname() {
        target.push_str(&format!(" database {db}"));
    }
    if let Some(user) = config.get_user() {
        target.push_str(&format!(" user {user}"));
    }
    target
}

impl ClusterConfig {
    /// Connects and migrates the job schema, waiting at most `connect_timeout`.
    pub async fn open(&self, store: StoreConfig) -> Result<PgJobStore, ClusterError> {
        let options = PgOptions {
            schema: self.schema.clone(),
            pool_size: self.pool_size,
            ..PgOptions::default()
        };
        let connect = PgJobStore::connect(&self.postgres_url, options, store);
        match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok(jobs)) => Ok(jobs),
            Ok(Err(source)) => Err(ClusterError::Open {
                target: self.target.clone(),
                source,
            }),
            Err(_) => Err(ClusterError::Timeout {
                target: self.target.clone(),
                timeout: self.connect_timeout,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> ClusterSection {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn target_names_hosts_and_ports_but_never_the_password() {
        for url in [
            "host=db1 port=6543 user=gw password=hunter2-secret dbname=jobs",
            "postgresql://gw:hunter2-secret@db1:6543/jobs",
        ] {
            let config = section(&format!("postgres_url = {url:?}"))
                .into_config()
                .unwrap();
            assert_eq!(config.target, "db1:6543 database jobs user gw");
            assert!(!format!("{config:?}").contains("hunter2"));
            assert_eq!(config.schema, DEFAULT_SCHEMA);
        }
    }

    #[test]
    fn bad_values_name_their_keys_without_echoing_the_url() {
        let problems = section(
            "postgres_url = \"host=db password='hunter2 \"\nschema = \"Jobs-1\"\npool_size = 0\nconnect_timeout_secs = 0\n",
        )
        .into_config()
        .unwrap_err();
        let keys: Vec<_> = problems.iter().map(|(key, _)| *key).collect();
        assert_eq!(
            keys,
            [
                "postgres_url",
                "schema",
                "pool_size",
                "connect_timeout_secs"
            ]
        );
        assert!(problems.iter().all(|(_, m)| !m.contains("hunter2")));
        let missing = section("schema = \"jobs\"").into_config().unwrap_err();
        assert_eq!(missing[0].0, "postgres_url");
    }
}
