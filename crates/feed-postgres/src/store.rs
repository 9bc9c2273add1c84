//! [`PgFeedStore`]: the pool, the store's own runtime, and the [`FeedBackend`] methods.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use feed::plan::Staging;
use feed::{ChunkRecord, Cursor, FeedBackend, FeedError, Page, RefRecord, Retention};
use indexer::{ChangeSet, IndexSink, RefKey, SinkError};
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::error::PgFeedError;
use crate::listener;
use crate::read::{self, ReadError};
use crate::schema::{self, Names};
use crate::write;

/// How a [`PgFeedStore`] connects, beyond the feed's [`Retention`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgFeedOptions {
    /// The schema holding the feed's tables (created if missing). Lowercase letters, digits
    /// and `_`, starting with a letter, at most 40 characters. Default `feed`.
    pub schema: String,
    /// Connections in the pool (the listener has one more of its own). Default 8.
    pub pool_size: usize,
    /// How often the store reads the newest cursor should a notification be lost.
    /// Default 5 s.
    pub poll_every: Duration,
}

impl Default for PgFeedOptions {
    fn default() -> Self {
        PgFeedOptions {
            schema: "feed".to_owned(),
            pool_size: 8,
            poll_every: Duration::from_secs(5),
        }
    }
}

/// A change feed in a PostgreSQL schema, shared by any number of stores (gateway replicas)
/// on the same database. See the crate docs for what it guarantees.
///
/// Every method blocks: it runs its statements on the store's own small runtime. Call it
/// from a blocking thread (never from inside an async task).
#[derive(Debug)]
pub struct PgFeedStore {
    /// `None` only while dropping.
    runtime: Option<Runtime>,
    pool: Pool,
    names: Names,
    retention: Retention,
    staged: Staging,
    newest: watch::Sender<u64>,
}

impl PgFeedStore {
    /// Connects to the database `url` (a libpq-style `host=... user=... dbname=...` string or
    /// a `postgresql://` URL), migrates `options.schema` to this build's version under an
    /// advisory lock, and starts listening for other replicas' commits.
    ///
    /// A schema migrated by a newer release is refused with [`PgFeedError::Setup`]
    /// ([`pg_schema::SetupError::NewerSchema`]).
    pub fn connect(
        url: &str,
        options: PgFeedOptions,
        retention: Retention,
    ) -> Result<PgFeedStore, PgFeedError> {
        let names = Names::new(&options.schema)?;
        let (pg_config, pool) = pg_schema::pool(url, options.pool_size)?;
        // One worker: the listener and the connections' tasks run on it while no caller is
        // inside `block_on`; queries run on the calling thread.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("feed-postgres")
            .enable_all()
            .build()
            .map_err(PgFeedError::Runtime)?;
        let (found, newest) = runtime.block_on(async {
            let mut client = pool.get().await?;
            let found = schema::migrate(&mut client, &names).await?;
            drop(client);
            Ok::<_, PgFeedError>((found, listener::newest_committed(&pool, &names).await?))
        })?;
        let (newest, _) = watch::channel(newest);
        runtime.spawn(listener::run(
            pg_config,
            pool.clone(),
            names.clone(),
            newest.clone(),
            options.poll_every,
        ));
        tracing::info!(
            schema = %names.schema,
            found_version = found,
            version = schema::SCHEMA_VERSION,
            "PostgreSQL feed open"
        );
        Ok(PgFeedStore {
            runtime: Some(runtime),
            pool,
            names,
            retention,
            staged: Staging::default(),
            newest,
        })
    }

    /// The schema this store keeps its tables in.
    pub fn schema(&self) -> &str {
        &self.names.schema
    }

    fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
            .block_on(future)
    }

    /// Runs `body` in a transaction (`read_only`: repeatable read, no writes) on a pooled
    /// connection, committing when it succeeds.
    fn transaction<T, E>(
        &self,
        read_only: bool,
        body: impl AsyncFnOnce(&tokio_postgres::Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<PgFeedError>,
    {
        self.block_on(async {
            let mut client = self.pool.get().await.map_err(PgFeedError::from)?;
            let mut builder = client.build_transaction();
            if read_only {
                builder = builder
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .read_only(true);
            }
            let tx = builder.start().await.map_err(PgFeedError::from)?;
            let value = body(&tx).await?;
            tx.commit().await.map_err(PgFeedError::from)?;
            Ok(value)
        })
    }

    /// A read in one consistent snapshot; `action` names it in errors.
    fn read_tx<T>(
        &self,
        action: &'static str,
        body: impl AsyncFnOnce(&tokio_postgres::Transaction<'_>) -> Result<T, PgFeedError>,
    ) -> Result<T, FeedError> {
        self.transaction(true, body)
            .map_err(|e: PgFeedError| e.during(action))
    }

    /// Announces a committed write: here at once, to other replicas by NOTIFY. After the
    /// commit on purpose: a NOTIFY inside the transaction would serialise every commit on
    /// the server's notify queue lock.
    fn announce(&self, cursor: u64) {
        listener::raise(&self.newest, cursor);
        let sent = self.block_on(async {
            let client = self.pool.get().await?;
            client
                .execute(
                    "SELECT pg_notify($1, $2)",
                    &[&self.names.channel, &cursor.to_string()],
                )
                .await?;
            Ok::<_, PgFeedError>(())
        });
        if let Err(error) = sent {
            // Committed; other replicas find it when they next read the counter.
            tracing::warn!(%error, "could not notify other replicas of a feed write");
        }
    }

    /// Writes the staged run of `key` as entries, with the ref's new files, record, counter
    /// and retention, in one transaction; then wakes readers here and on other replicas.
    pub fn commit_ref(&self, key: &RefKey) -> Result<(), FeedError> {
        let Some(staged) = self.staged.take(key) else {
            return Ok(());
        };
        let run = feed::current_run().unwrap_or_default();
        let started = std::time::Instant::now();
        let written = self
            .transaction(false, async |tx| {
                write::commit_run(tx, &self.names, &self.retention, key, staged, &run).await
            })
            .map_err(|e| e.during("writing entries"))?;
        if let Some(last) = written {
            self.announce(last);
            tracing::info!(
                repo = %key.repo,
                git_ref = %key.git_ref,
                last_cursor = last,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "feed entries written"
            );
        }
        Ok(())
    }

    /// The ref is gone: one `ref_deleted` entry and its files cleared, in one transaction.
    pub fn drop_ref(&self, key: &RefKey) -> Result<(), FeedError> {
        self.staged.take(key);
        let run = feed::current_run().unwrap_or_default();
        let written = self
            .transaction(false, async |tx| {
                write::delete_ref(tx, &self.names, &self.retention, key, &run).await
            })
            .map_err(|e| e.during("deleting a ref"))?;
        if let Some(cursor) = written {
            self.announce(cursor);
        }
        Ok(())
    }
}

impl Drop for PgFeedStore {
    fn drop(&mut self) {
        // Without waiting: the store may be dropped on a thread inside another runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl IndexSink for PgFeedStore {
    fn apply(&self, changes: &ChangeSet) -> Result<(), SinkError> {
        self.staged.stage(changes);
        Ok(())
    }

    fn commit(&self, key: &RefKey) -> Result<(), SinkError> {
        Ok(self.commit_ref(key)?)
    }

    fn drop_ref(&self, key: &RefKey) -> Result<(), SinkError> {
        Ok(PgFeedStore::drop_ref(self, key)?)
    }

    fn abort(&self, key: &RefKey) -> Result<(), SinkError> {
        self.staged.take(key);
        Ok(())
    }
}

impl FeedBackend for PgFeedStore {
    fn read(&self, key: &RefKey, cursor: &Cursor, limit: usize) -> Result<Page, FeedError> {
        self.transaction(true, async |tx| {
            read::page(tx, &self.names, key, cursor, limit).await
        })
        .map_err(|error| match error {
            ReadError::Feed(error) => error,
            ReadError::Db(error) => error.during("reading a page"),
        })
    }

    fn cursor_after_commit(&self, key: &RefKey, commit: &str) -> Result<Option<String>, FeedError> {
        self.read_tx("reading entries", async |tx| {
            read::cursor_after_commit(tx, &self.names, key, commit).await
        })
    }

    fn ref_record(&self, key: &RefKey) -> Result<Option<RefRecord>, FeedError> {
        self.read_tx("reading a ref", async |tx| {
            write::ref_record(tx, &self.names, key).await
        })
    }

    fn refs(&self) -> Result<Vec<(RefKey, RefRecord)>, FeedError> {
        self.read_tx("reading refs", async |tx| read::refs(tx, &self.names).await)
    }

    fn file_chunks(&self, key: &RefKey, path: &str) -> Result<Vec<ChunkRecord>, FeedError> {
        self.read_tx("reading a file", async |tx| {
            read::file_chunks(tx, &self.names, key, path).await
        })
    }

    fn paths(&self, key: &RefKey, prefix: &str, limit: usize) -> Result<Vec<String>, FeedError> {
        self.read_tx("listing paths", async |tx| {
            read::paths(tx, &self.names, key, prefix, limit).await
        })
    }

    fn prune_all(&self) -> Result<(), FeedError> {
        if self.retention == Retention::default() {
            return Ok(());
        }
        for (key, _) in FeedBackend::refs(self)? {
            self.transaction(false, async |tx| {
                write::prune_ref(tx, &self.names, &self.retention, &key).await
            })
            .map_err(|e: PgFeedError| e.during("dropping old entries"))?;
        }
        Ok(())
    }

    fn newest(&self) -> u64 {
        *self.newest.borrow()
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.newest.subscribe()
    }

    fn into_sink(self: Arc<Self>) -> Arc<dyn IndexSink> {
        self
    }
}
