//! [`PgJobStore`]: the connection pool, the transactions and the [`JobStore`] methods.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use jobstore::{
    Claimed, Completion, DeliveryRetention, EnqueueOutcome, Error, Job, JobFilter, JobId, JobPage,
    JobStore, Lease, NewJob, PageQuery, PendingRef, Progress, StateCounts, StoreConfig,
};
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;

use crate::deliveries::PgDeliveryLog;
use crate::error::{PgError, TxError};
use crate::listener::{self, Signals, stop_payload};
use crate::names::Names;
use crate::ops::{Announce, Ctx};
use crate::rows::{self, COLUMNS, JobRow};
use crate::schema;

/// How a [`PgJobStore`] connects, beyond the queue's [`StoreConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// The schema holding the store's tables (created if missing). Lowercase letters,
    /// digits and `_`, starting with a letter, at most 40 characters. Default `jobstore`.
    pub schema: String,
    /// Connections in the pool (the listener has one more of its own). Default 16.
    pub pool_size: usize,
    /// Longest a waiting [`JobStore::next`] sleeps without a notification before it looks
    /// again: the fallback should a NOTIFY be lost. Default 5 s.
    pub poll_every: Duration,
}

impl PgOptions {
    /// Whether `schema` is a name [`PgJobStore::connect`] takes, without connecting: for
    /// checking a configuration before start-up.
    pub fn check_schema(schema: &str) -> Result<(), PgError> {
        Names::new(schema).map(drop)
    }
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            schema: "jobstore".to_owned(),
            pool_size: 16,
            poll_every: Duration::from_secs(5),
        }
    }
}

/// Times a transaction is run again after losing a race to another replica.
const RACE_RETRIES: u32 = 5;
/// Shortest sleep of a waiting `next`, so a due deadline another replica is handling does
/// not turn into a busy loop.
const MIN_SLEEP: Duration = Duration::from_millis(10);
/// How often the store drops finished jobs older than `StoreConfig::finished_retention`.
const CLEANUP_EVERY: Duration = Duration::from_secs(10 * 60);
/// Rows deleted per statement by `cleanup`, so a large cleanup never holds long locks.
const CLEANUP_BATCH: i64 = 1000;

/// A [`JobStore`] in a PostgreSQL schema, shared by any number of stores (gateway replicas)
/// on the same database. See the crate docs for what it guarantees.
#[derive(Debug)]
pub struct PgJobStore {
    pool: Pool,
    names: Names,
    config: StoreConfig,
    options: PgOptions,
    signals: Arc<Signals>,
    tasks: Vec<JoinHandle<()>>,
}

impl PgJobStore {
    /// Connects to the database `url` (a libpq-style `host=... user=... dbname=...` string
    /// or a `postgresql://` URL), migrates `options.schema` to this build's version under an
    /// advisory lock, and starts listening for other replicas' notifications. Must be called
    /// within a tokio runtime.
    ///
    /// A schema migrated by a newer release is refused with [`PgError::NewerSchema`].
    pub async fn connect(
        url: &str,
        options: PgOptions,
        config: StoreConfig,
    ) -> Result<PgJobStore, PgError> {
        let names = Names::new(&options.schema)?;
        let pg_config: tokio_postgres::Config = url.parse().map_err(|_| PgError::InvalidUrl)?;
        let manager = Manager::from_config(
            pg_config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .build()
            .map_err(|_| PgError::InvalidUrl)?;
        let mut client = pool.get().await?;
        let found = schema::migrate(&mut client, &names).await?;
        drop(client);
        let signals = Arc::new(Signals::default());
        let listening = listener::listen(&pg_config, &names).await?;
        let tasks = vec![
            tokio::spawn(listener::run(
                listening,
                pg_config,
                names.clone(),
                Arc::clone(&signals),
            )),
            tokio::spawn(periodic_cleanup(
                pool.clone(),
                names.clone(),
                config.finished_retention,
            )),
        ];
        tracing::info!(
            schema = %names.schema,
            found_version = found,
            version = schema::SCHEMA_VERSION,
            "PostgreSQL job store open"
        );
        Ok(PgJobStore {
            pool,
            names,
            config,
            options,
            signals,
            tasks,
        })
    }

    /// The schema this store keeps its tables in.
    pub fn schema(&self) -> &str {
        &self.names.schema
    }

    /// The delivery log in this store's schema, on its connection pool.
    pub fn delivery_log(&self, retention: DeliveryRetention) -> PgDeliveryLog {
        PgDeliveryLog::new(self.pool.clone(), self.names.clone(), retention)
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            names: &self.names,
            config: &self.config,
        }
    }

    /// Sends what a committed transaction announces. After the commit on purpose: a NOTIFY
    /// inside the transaction would serialise every commit on the server's notify queue lock.
    async fn announce(&self, announce: &Announce) {
        for (job, lease) in &announce.stop {
            // Locally at once (the worker may be in this process), then to every replica.
            self.signals.stop(*job, *lease);
        }
        if announce.wake {
            self.signals.wake.notify_waiters();
        }
        if !announce.wake && announce.stop.is_empty() {
            return;
        }
        let sent = async {
            let client = self.pool.get().await?;
            if announce.wake {
                client
                    .execute("SELECT pg_notify($1, '')", &[&self.names.wake_channel])
                    .await?;
            }
            for (job, lease) in &announce.stop {
                client
                    .execute(
                        "SELECT pg_notify($1, $2)",
                        &[&self.names.cancel_channel, &stop_payload(*job, *lease)],
                    )
                    .await?;
            }
            Ok::<_, PgError>(())
        };
        if let Err(error) = sent.await {
            // The change is committed; replicas find it by polling (and heartbeats).
            tracing::warn!(%error, "could not notify other replicas");
        }
    }

    fn claimed(&self, job: JobRow) -> Claimed {
        let token = job.lease_token.unwrap_or_default();
        let cancel = self.signals.hold(job.id(), token);
        Claimed {
            lease: Lease {
                job: job.job.id.clone(),
                token: token as u64,
            },
            job: job.job,
            cancel,
        }
    }

    /// After a completion: the lease is over when the completion went through or the job
    /// is no longer this holder's; after any other (transient) failure the worker may try
    /// again with it.
    fn end_lease<T>(&self, lease: &Lease, result: &Result<T, Error>) {
        if matches!(
            result,
            Ok(_) | Err(Error::LeaseLost { .. } | Error::NotRunning { .. })
        ) {
            self.forget(lease);
        }
    }

    /// Tells the worker in this process that holds `lease`, if any, to stop.
    fn stop_holder(&self, lease: &Lease) {
        if let Some(n) = rows::counter(&lease.job) {
            self.signals.stop(n, i64::try_from(lease.token).ok());
        }
    }

    fn forget(&self, lease: &Lease) {
        if let (Some(n), Ok(token)) = (rows::counter(&lease.job), i64::try_from(lease.token)) {
            self.signals.release(n, token);
        }
    }

    /// How long a waiting `next` may sleep: until the earliest retry time or lease expiry,
    /// at most `poll_every`.
    async fn next_wakeup(&self) -> Result<Duration, Error> {
        let s = &self.names.quoted;
        let seconds: Option<f64> = self
            .read("computing the next wake-up", |client| async move {
                let row = client
                    .query_one(
                        &format!(
                            "SELECT EXTRACT(EPOCH FROM least(
                                 (SELECT min(not_before) FROM {s}.jobs WHERE state = 0
                                     AND not_before > now()),
                                 (SELECT min(lease_until) FROM {s}.jobs WHERE state =
                                     1)) - now())::float8"
                        ),
                        &[],
                    )
                    .await?;
                Ok(row.get(0))
            })
            .await?;
        let wait = seconds
            .map(|s| Duration::from_secs_f64(s.max(0.0)))
            .unwrap_or(self.options.poll_every);
        Ok(wait.clamp(MIN_SLEEP, self.options.poll_every.max(MIN_SLEEP)))
    }

    /// Runs a read on a pooled connection.
    async fn read<T, F, Fut>(&self, action: &'static str, op: F) -> Result<T, Error>
    where
        F: FnOnce(deadpool_postgres::Object) -> Fut,
        Fut: std::future::Future<Output = Result<T, PgError>>,
    {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| PgError::from(e).during(action))?;
        op(client).await.map_err(|e| e.during(action))
    }
}

/// Runs `$body` (an expression using the transaction `$tx`) in a transaction on a pooled
/// connection, committing on success and running it again when it lost a race to another
/// replica (a unique index refused a row, or a serialization failure or deadlock).
///
/// With `|$tx, $announce|`, `$body` also records in `$announce` (fresh for every run of the
/// transaction) what to announce once it committed; the answer is `(value, announce)`.
macro_rules! in_transaction {
    ($store:expr, $action:expr, |$tx:ident, $announce:ident| $body:expr) => {
        in_transaction!($store, $action, |$tx| async {
            let mut $announce = Announce::default();
            let value = $body.await?;
            Ok::<_, TxError>((value, $announce))
        })
    };
    ($store:expr, $action:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result: Result<_, TxError> = async {
                let mut client = $store.pool.get().await.map_err(PgError::from)?;
                let $tx = client.transaction().await?;
                let value = $body.await?;
                $tx.commit().await?;
                Ok(value)
            }
            .await;
            match result {
                Ok(value) => break Ok(value),
                Err(TxError::Queue(error)) => break Err(error),
                Err(TxError::Retry) if attempt < RACE_RETRIES => continue,
                Err(TxError::Db(error))
                    if attempt < RACE_RETRIES
                        && (error.is_unique_violation() || is_race(&error)) =>
                {
                    continue;
                }
                Err(TxError::Retry) => {
                    break Err(Error::Unavailable {
                        action: $action,
                        source: Arc::new(std::io::Error::other(
                            "lost every race to other replicas",
                        )),
                    });
                }
                Err(TxError::Db(error)) => break Err(error.during($action)),
            }
        }
    }};
}

/// A serialization failure or deadlock: the transaction may simply be run again.
fn is_race(error: &PgError) -> bool {
    use tokio_postgres::error::SqlState;
    matches!(error, PgError::Postgres(e)
        if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
            || e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED))
}

async fn periodic_cleanup(pool: Pool, names: Names, retention: Duration) {
    let mut ticker = tokio::time::interval(CLEANUP_EVERY);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if let Err(error) = cleanup(&pool, &names, retention).await {
            tracing::warn!(%error, "periodic cleanup of the job store failed");
        }
    }
}

/// Drops finished jobs older than `older_than` and expired delivery keys, in batches.
async fn cleanup(pool: &Pool, names: &Names, older_than: Duration) -> Result<u64, PgError> {
    let s = &names.quoted;
    let client = pool.get().await?;
    let mut dropped = 0;
    loop {
        let n = client
            .execute(
                &format!(
                    "DELETE FROM {s}.jobs WHERE id IN (
                         SELECT id FROM {s}.jobs
                         WHERE state >= 2 AND coalesce(finished_at, created_at) <=
                             now() - $1::bigint * interval '1 microsecond'
                         LIMIT $2)"
                ),
                &[&rows::micros(older_than), &CLEANUP_BATCH],
            )
            .await?;
        dropped += n;
        if n < CLEANUP_BATCH as u64 {
            break;
        }
    }
    loop {
        let n = client
            .execute(
                &format!(
                    "DELETE FROM {s}.deliveries WHERE key IN (
                         SELECT key FROM {s}.deliveries WHERE expires_at <= now() LIMIT $1)"
                ),
                &[&CLEANUP_BATCH],
            )
            .await?;
        if n < CLEANUP_BATCH as u64 {
            break;
        }
    }
    if dropped > 0 {
        tracing::info!(removed = dropped, "cleaned up finished jobs");
    }
    Ok(dropped)
}

impl Drop for PgJobStore {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.pool.close();
    }
}

#[async_trait::async_trait]
impl JobStore for PgJobStore {
    async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome, Error> {
        let ctx = self.ctx();
        let (outcome, announce) =
            in_transaction!(self, "enqueueing a job", |tx| ctx.enqueue(&tx, &job))?;
        self.announce(&announce).await;
        Ok(outcome)
    }

    async fn claim(&self, worker: &str) -> Result<Option<Claimed>, Error> {
        let ctx = self.ctx();
        let (claimed, announce) = in_transaction!(self, "claiming a job", |tx, announce| ctx
            .claim(&tx, worker, &mut announce))?;
        self.announce(&announce).await;
        Ok(claimed.map(|job| self.claimed(job)))
    }

    async fn next(&self, worker: &str) -> Result<Claimed, Error> {
        loop {
            let mut notified = pin!(self.signals.wake.notified());
            // Registered before claiming, so a job made ready during the claim still wakes us.
            notified.as_mut().enable();
            if let Some(claimed) = self.claim(worker).await? {
                return Ok(claimed);
            }
            let wait = self.next_wakeup().await?;
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn heartbeat(&self, lease: &Lease, progress: Progress) -> Result<(), Error> {
        let ctx = self.ctx();
        let result = in_transaction!(self, "recording a heartbeat", |tx| ctx
            .heartbeat(&tx, lease, progress));
        match result {
            // The fallback for a lost NOTIFY: the heartbeat answers "cancelled".
            Ok(true) => {
                self.stop_holder(lease);
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(error) => {
                if matches!(error, Error::LeaseLost { .. }) {
                    self.stop_holder(lease);
                    self.forget(lease);
                }
                Err(error)
            }
        }
    }

    async fn complete(&self, lease: &Lease, completion: Completion) -> Result<Job, Error> {
        let ctx = self.ctx();
        let result = in_transaction!(self, "completing a job", |tx, announce| ctx.complete(
            &tx,
            lease,
            completion.clone(),
            &mut announce
        ));
        self.end_lease(lease, &result);
        let (job, announce) = result?;
        self.announce(&announce).await;
        Ok(job)
    }

    async fn complete_and_claim(
        &self,
        lease: &Lease,
        completion: Completion,
        worker: &str,
    ) -> Result<(Job, Option<Claimed>), Error> {
        let ctx = self.ctx();
        let result = in_transaction!(
            self,
            "completing a job and claiming the next",
            |tx, announce| async {
                let job = ctx
                    .complete(&tx, lease, completion.clone(), &mut announce)
                    .await?;
                let next = ctx.claim(&tx, worker, &mut announce).await?;
                Ok::<_, TxError>((job, next))
            }
        );
        self.end_lease(lease, &result);
        let ((job, next), announce) = result?;
        self.announce(&announce).await;
        Ok((job, next.map(|job| self.claimed(job))))
    }

    async fn cancel(&self, id: &JobId) -> Result<Option<Job>, Error> {
        let Some(n) = rows::counter(id) else {
            return Ok(None);
        };
        let ctx = self.ctx();
        let (job, announce) = in_transaction!(self, "cancelling a job", |tx, announce| ctx
            .cancel(&tx, n, &mut announce))?;
        self.announce(&announce).await;
        Ok(job)
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, Error> {
        let Some(n) = rows::counter(id) else {
            return Ok(None);
        };
        let s = &self.names.quoted;
        self.read("reading a job", |client| async move {
            let row = client
                .query_opt(
                    &format!("SELECT {COLUMNS} FROM {s}.jobs WHERE id = $1"),
                    &[&n],
                )
                .await?;
            Ok(row.map(|row| rows::job(&row).job))
        })
        .await
    }

    async fn list(
        &self,
        filter: &JobFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<JobPage, Error> {
        let query = PageQuery::new(limit, cursor)?;
        // Ids past the range of a row id cannot have come from a page of this store.
        let before = query
            .before
            .as_ref()
            .map(|id| rows::counter(id).ok_or_else(|| Error::InvalidCursor(id.0.clone())))
            .transpose()?;
        let state = filter.state.map(rows::state_code);
        let repo = filter.repo.clone();
        let fetch = i64::try_from(query.limit).unwrap_or(i64::MAX - 1) + 1;
        let s = &self.names.quoted;
        let jobs: Vec<Job> = self
            .read("listing jobs", |client| async move {
                let rows = client
                    .query(
                        &format!(
                            "SELECT {COLUMNS} FROM {s}.jobs
                             WHERE ($1::smallint IS NULL OR state = $1)
                               AND ($2::text IS NULL OR repo = $2)
                               AND ($3::bigint IS NULL OR id < $3)
                             ORDER BY id DESC LIMIT $4"
                        ),
                        &[&state, &repo, &before, &fetch],
                    )
                    .await?;
                Ok(rows.iter().map(|row| rows::job(row).job).collect())
            })
            .await?;
        Ok(query.page(jobs))
    }

    async fn counts(&self) -> Result<StateCounts, Error> {
        let s = &self.names.quoted;
        let rows = self
            .read("counting jobs", |client| async move {
                Ok(client
                    .query(
                        &format!("SELECT state, count(*) FROM {s}.jobs GROUP BY state"),
                        &[],
                    )
                    .await?)
            })
            .await?;
        let mut counts = StateCounts::default();
        for row in rows {
            let (state, n): (i16, i64) = (row.get(0), row.get(1));
            let n = n.max(0) as u64;
            match jobstore::JobState::ALL.get(state as usize) {
                Some(jobstore::JobState::Queued) => counts.queued = n,
                Some(jobstore::JobState::Running) => counts.running = n,
                Some(jobstore::JobState::Succeeded) => counts.succeeded = n,
                Some(jobstore::JobState::Failed) => counts.failed = n,
                Some(jobstore::JobState::Cancelled) => counts.cancelled = n,
                Some(jobstore::JobState::Superseded) => counts.superseded = n,
                None => {}
            }
        }
        Ok(counts)
    }

    async fn pending(&self) -> Result<Vec<PendingRef>, Error> {
        let s = &self.names.quoted;
        let rows = self
            .read("listing pending refs", |client| async move {
                Ok(client
                    .query(
                        &format!(
                            "SELECT repo, git_ref, min(created_at),
                                    min(created_at) FILTER (WHERE state = 0)
                             FROM {s}.jobs WHERE state IN (0, 1) GROUP BY repo, git_ref"
                        ),
                        &[],
                    )
                    .await?)
            })
            .await?;
        Ok(rows
            .iter()
            .map(|row| PendingRef {
                repo: row.get(0),
                git_ref: row.get(1),
                since: row.get(2),
                queued_since: row.get(3),
            })
            .collect())
    }

    async fn cleanup(&self, older_than: Duration) -> Result<u64, Error> {
        cleanup(&self.pool, &self.names, older_than)
            .await
            .map_err(|e| e.during("cleaning up"))
    }

    async fn flush(&self) -> Result<(), Error> {
        // Every change committed before its call returned; commits are durable once
        // acknowledged (with the server's default synchronous_commit).
        Ok(())
    }
}
