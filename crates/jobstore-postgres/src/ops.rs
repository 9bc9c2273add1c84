//! The queue's transitions as SQL, each run inside one transaction by the store.
//!
//! Lock order, which keeps replicas free of deadlocks: a transaction that changes the jobs
//! of a (repo, ref) takes the key's advisory lock (blocking) before any row lock. Claims
//! and lease expiry lock rows first (`FOR UPDATE SKIP LOCKED`) and only *try* the key lock,
//! skipping a key someone else is changing.

use std::time::Duration;

use deadpool_postgres::Transaction;
use jobstore::{
    Completion, EnqueueOutcome, Error, Job, JobKind, JobState, Lease, NewJob, Progress, StoreConfig,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::TxError;
use crate::names::Names;
use crate::rows::{self, COLUMNS, JobRow};

/// Statements are prepared once per connection (deadpool keeps them with it): parsing and
/// planning every statement again doubled the round trips and most of the server's CPU.
async fn one(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, TxError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_one(&statement, params).await?)
}

async fn opt(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, TxError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&statement, params).await?)
}

async fn all(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, TxError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query(&statement, params).await?)
}

async fn exec(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, TxError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&statement, params).await?)
}

/// What a transaction needs besides its connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) names: &'a Names,
    pub(crate) config: &'a StoreConfig,
}

/// What a committed transaction must announce to the other replicas.
#[derive(Debug, Default)]
pub(crate) struct Announce {
    /// Some job may have become claimable (or a retry time moved).
    pub(crate) wake: bool,
    /// Jobs whose holder must stop: `(job, Some(token))` for a lease that was taken away,
    /// `(job, None)` for a cancelled job, whoever holds it.
    pub(crate) stop: Vec<(i64, Option<i64>)>,
}

/// How a running job ends: its final state, its error, and for a success the commit and
/// note the worker named.
#[derive(Debug, Clone, Copy)]
struct Ending<'a> {
    state: JobState,
    error: Option<&'a str>,
    commit: Option<&'a str>,
    note: Option<&'a str>,
}

impl<'a> Ending<'a> {
    fn plain(state: JobState) -> Ending<'a> {
        Ending {
            state,
            error: None,
            commit: None,
            note: None,
        }
    }

    fn failed(error: &'a str) -> Ending<'a> {
        Ending {
            error: Some(error),
            ..Ending::plain(JobState::Failed)
        }
    }
}

/// Candidates looked at per claim; more than one so that a key being changed by another
/// transaction does not hide the rest of the queue.
const CLAIM_CANDIDATES: i64 = 16;

impl Ctx<'_> {
    fn s(&self) -> &str {
        &self.names.quoted
    }

    async fn lock_key(
        &self,
        tx: &Transaction<'_>,
        repo: &str,
        git_ref: &str,
    ) -> Result<(), TxError> {
        exec(
            tx,
            "SELECT pg_advisory_xact_lock($1)",
            &[&self.names.key_lock(repo, git_ref)],
        )
        .await?;
        Ok(())
    }

    async fn try_lock_key(
        &self,
        tx: &Transaction<'_>,
        repo: &str,
        git_ref: &str,
    ) -> Result<bool, TxError> {
        let row = one(
            tx,
            "SELECT pg_try_advisory_xact_lock($1)",
            &[&self.names.key_lock(repo, git_ref)],
        )
        .await?;
        Ok(row.get(0))
    }

    /// The job `n`, locked for update, once its key is locked; `None` if there is none.
    async fn lock_job(&self, tx: &Transaction<'_>, n: i64) -> Result<Option<JobRow>, TxError> {
        let s = self.s();
        let Some(key) = opt(
            tx,
            &format!("SELECT repo, git_ref FROM {s}.jobs WHERE id = $1"),
            &[&n],
        )
        .await?
        else {
            return Ok(None);
        };
        self.lock_key(tx, key.get(0), key.get(1)).await?;
        let row = opt(
            tx,
            &format!("SELECT {COLUMNS} FROM {s}.jobs WHERE id = $1 FOR UPDATE"),
            &[&n],
        )
        .await?;
        Ok(row.as_ref().map(rows::job))
    }

    pub(crate) async fn enqueue(
        &self,
        tx: &Transaction<'_>,
        request: &NewJob,
    ) -> Result<(EnqueueOutcome, Announce), TxError> {
        if request.repo.is_empty() {
            return Err(Error::InvalidRequest("repo is empty").into());
        }
        if request.git_ref.is_empty() {
            return Err(Error::InvalidRequest("git_ref is empty").into());
        }
        let s = self.s();
        self.lock_key(tx, &request.repo, &request.git_ref).await?;
        if let Some(key) = &request.dedupe_key {
            let known = opt(
                tx,
                &format!(
                    "SELECT job FROM {s}.deliveries WHERE key = $1 AND expires_at
                        > now()"
                ),
                &[key],
            )
            .await?;
            if let Some(row) = known {
                let outcome = EnqueueOutcome::Duplicate(rows::job_id(row.get(0)));
                return Ok((outcome, Announce::default()));
            }
        }
        let kind = rows::kind_code(request.kind);
        // The common cases in one upsert: a new job, or a fold into the key's queued job of
        // the same kind (newest commit, sticky `full`). An index queued behind a running
        // delete must not diff against a dropped index, hence the `full` of a new row.
        let upsert = format!(
            "INSERT INTO {s}.jobs AS j (repo, git_ref, fetch_ref, kind, commit_id, before_id,
                 full_rebuild, trigger, provider, delivery_id, state)
             VALUES ($1, $2, $3, $4, $5, $6,
                 $7 OR ($4::smallint = 0 AND EXISTS (SELECT 1 FROM {s}.jobs r WHERE r.repo = $1
                     AND r.git_ref = $2 AND r.state = 1 AND r.kind = 1)),
                 $8, $9, $10, 0)
             ON CONFLICT (repo, git_ref) WHERE state = 0 DO UPDATE
                 SET commit_id = EXCLUDED.commit_id,
                     fetch_ref = coalesce(EXCLUDED.fetch_ref, j.fetch_ref),
                     full_rebuild = j.full_rebuild OR $11, coalesced = j.coalesced + 1
                 WHERE j.kind = EXCLUDED.kind
             RETURNING {COLUMNS}, (xmax = 0) AS inserted,
                 NOT EXISTS (SELECT 1 FROM {s}.jobs r WHERE r.repo = $1 AND r.git_ref = $2
                     AND r.state = 1) AS key_free"
        );
        let trigger = rows::trigger_code(request.trigger);
        let upserted = |full: bool| {
            let upsert = &upsert;
            async move {
                opt(
                    tx,
                    upsert,
                    &[
                        &request.repo,
                        &request.git_ref,
                        &request.fetch_ref,
                        &kind,
                        &request.commit,
                        &request.before,
                        &full,
                        &trigger,
                        &request.provider,
                        &request.delivery_id,
                        &request.full,
                    ],
                )
                .await
            }
        };
        let row = match upserted(request.full).await? {
            Some(row) => row,
            None => {
                // The key's queued job is of the other kind: the new one replaces it
                // (deleting makes indexing moot; indexing after a queued delete must rebuild
                // from scratch).
                exec(
                    tx,
                    &format!(
                        "UPDATE {s}.jobs SET state = $3, finished_at = now(), not_before = NULL
                         WHERE repo = $1 AND git_ref = $2 AND state = 0"
                    ),
                    &[
                        &request.repo,
                        &request.git_ref,
                        &rows::state_code(JobState::Superseded),
                    ],
                )
                .await?;
                let full = request.full || request.kind == JobKind::Index;
                upserted(full).await?.ok_or(TxError::Retry)?
            }
        };
        let (inserted, key_free): (bool, bool) = (row.get("inserted"), row.get("key_free"));
        let job = rows::job(&row);
        self.remember_delivery(tx, request, job.id()).await?;
        if !inserted {
            return Ok((EnqueueOutcome::Coalesced(job.job), Announce::default()));
        }
        let announce = Announce {
            wake: key_free,
            stop: Vec::new(),
        };
        Ok((EnqueueOutcome::Queued(job.job), announce))
    }

    /// Records the request's delivery key for job `n`. A live entry for it that appeared
    /// since the check (the same delivery for another key, on another replica) makes the
    /// transaction run again, which then answers `Duplicate`.
    async fn remember_delivery(
        &self,
        tx: &Transaction<'_>,
        request: &NewJob,
        n: i64,
    ) -> Result<(), TxError> {
        let Some(key) = &request.dedupe_key else {
            return Ok(());
        };
        let s = self.s();
        let written = exec(
            tx,
            &format!(
                "INSERT INTO {s}.deliveries (key, job, expires_at)
                     VALUES ($1, $2, now() + $3::bigint * interval '1 microsecond')
                     ON CONFLICT (key) DO UPDATE SET job = EXCLUDED.job, expires_at =
                         EXCLUDED.expires_at
                     WHERE {s}.deliveries.expires_at <= now()"
            ),
            &[key, &n, &rows::micros(self.config.dedupe_retention)],
        )
        .await?;
        if written == 0 {
            Err(TxError::Retry)
        } else {
            Ok(())
        }
    }

    /// Ends job `n` in a final state, keeping its error.
    async fn set_finished(
        &self,
        tx: &Transaction<'_>,
        n: i64,
        state: JobState,
    ) -> Result<JobRow, TxError> {
        let s = self.s();
        let row = one(
            tx,
            &format!(
                "UPDATE {s}.jobs SET state = $2, finished_at = now(), not_before =
                            NULL, lease_until = NULL
                     WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[&n, &rows::state_code(state)],
        )
        .await?;
        Ok(rows::job(&row))
    }

    /// Ends the running job `n` as `ending` says; its key's follow-up becomes claimable.
    async fn finish_running(
        &self,
        tx: &Transaction<'_>,
        n: i64,
        ending: Ending<'_>,
        announce: &mut Announce,
    ) -> Result<JobRow, TxError> {
        let Ending {
            state,
            error,
            commit,
            note,
        } = ending;
        let s = self.s();
        let row = one(
            tx,
            &format!(
                "UPDATE {s}.jobs SET state = $2, finished_at = now(), not_before = NULL,
                         lease_until = NULL, error = $3, commit_id = coalesce($4,
                             commit_id),
                         note = coalesce($5, note)
                     WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[&n, &rows::state_code(state), &error, &commit, &note],
        )
        .await?;
        announce.wake = true;
        Ok(rows::job(&row))
    }

    /// Puts the running job `job` back in the queue (claimable after `delay`). If a newer
    /// request for its key is already queued, that one covers this job's work: it takes this
    /// job's `before` and `full`, and this job ends superseded. A job whose cancellation was
    /// asked ends cancelled instead.
    async fn requeue_running(
        &self,
        tx: &Transaction<'_>,
        job: &JobRow,
        delay: Option<Duration>,
        announce: &mut Announce,
    ) -> Result<JobRow, TxError> {
        let s = self.s();
        let n = job.id();
        announce.wake = true;
        if job.cancel_requested {
            return self.set_finished(tx, n, JobState::Cancelled).await;
        }
        let follow_up = opt(
            tx,
            &format!(
                "SELECT id FROM {s}.jobs WHERE repo = $1 AND git_ref = $2 AND state = 0
                        FOR UPDATE"
            ),
            &[&job.job.repo, &job.job.git_ref],
        )
        .await?;
        if let Some(follow_up) = follow_up {
            let follow_up: i64 = follow_up.get(0);
            exec(
                tx,
                &format!(
                    "UPDATE {s}.jobs SET before_id = $2, full_rebuild = full_rebuild OR $3,
                         coalesced = coalesced + $4 + 1
                     WHERE id = $1"
                ),
                &[
                    &follow_up,
                    &job.job.before,
                    &job.job.full,
                    &(job.job.coalesced as i32),
                ],
            )
            .await?;
            return self.set_finished(tx, n, JobState::Superseded).await;
        }
        let delay = delay.map(rows::micros);
        let row = one(
            tx,
            &format!(
                "UPDATE {s}.jobs SET state = 0, lease_until = NULL,
                         not_before = now() + $2::bigint * interval '1 microsecond'
                     WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[&n, &delay],
        )
        .await?;
        Ok(rows::job(&row))
    }

    /// Requeues (or fails, on the last attempt) running jobs whose lease ran out, and
    /// records their old leases to be stopped.
    async fn expire_leases(
        &self,
        tx: &Transaction<'_>,
        announce: &mut Announce,
    ) -> Result<(), TxError> {
        let s = self.s();
        let expired = all(
            tx,
            &format!(
                "SELECT {COLUMNS} FROM {s}.jobs WHERE state = 1 AND lease_until <= now()
                     ORDER BY lease_until LIMIT $1 FOR UPDATE SKIP LOCKED"
            ),
            &[&CLAIM_CANDIDATES],
        )
        .await?;
        for row in &expired {
            let job = rows::job(row);
            if !self
                .try_lock_key(tx, &job.job.repo, &job.job.git_ref)
                .await?
            {
                continue;
            }
            let attempts = job.job.attempts;
            if attempts >= self.config.max_attempts {
                tracing::warn!(
                    job = %job.job.id,
                    attempts,
                    "lease expired on the last attempt; failing"
                );
                let error = format!("lease expired on attempt {attempts} (worker hung or gone)");
                self.finish_running(tx, job.id(), Ending::failed(&error), announce)
                    .await?;
            } else {
                tracing::warn!(job = %job.job.id, attempts, "lease expired; requeueing");
                self.requeue_running(tx, &job, None, announce).await?;
            }
            announce.stop.push((job.id(), job.lease_token));
        }
        Ok(())
    }

    /// Claims the oldest claimable job for `worker`, after requeueing expired leases.
    pub(crate) async fn claim(
        &self,
        tx: &Transaction<'_>,
        worker: &str,
        announce: &mut Announce,
    ) -> Result<Option<JobRow>, TxError> {
        self.expire_leases(tx, announce).await?;
        let s = self.s();
        let candidates = all(
            tx,
            &format!(
                "SELECT id, repo, git_ref FROM {s}.jobs j
                     WHERE state = 0 AND (not_before IS NULL OR not_before <= now())
                       AND NOT EXISTS (SELECT 1 FROM {s}.jobs r
                                       WHERE r.repo = j.repo AND r.git_ref = j.git_ref
                                           AND r.state = 1)
                     ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
            ),
            &[&CLAIM_CANDIDATES],
        )
        .await?;
        for candidate in &candidates {
            let (n, repo, git_ref): (i64, &str, &str) =
                (candidate.get(0), candidate.get(1), candidate.get(2));
            if !self.try_lock_key(tx, repo, git_ref).await? {
                continue;
            }
            let row = opt(
                tx,
                &format!(
                    "UPDATE {s}.jobs SET state = 1, attempts = attempts + 1,
                                started_at = now(),
                             not_before = NULL, lease_until = now() + $2::bigint *
                                 interval '1 microsecond',
                             lease_token = nextval('{s}.lease_tokens')
                         WHERE id = $1 AND state = 0
                           AND NOT EXISTS (SELECT 1 FROM {s}.jobs r
                                           WHERE r.repo = $3 AND r.git_ref = $4 AND
                                               r.state = 1)
                         RETURNING {COLUMNS}"
                ),
                &[&n, &rows::micros(self.config.lease), &repo, &git_ref],
            )
            .await?;
            if let Some(row) = row {
                let job = rows::job(&row);
                tracing::debug!(job = %job.job.id, worker, attempt = job.job.attempts, "claimed");
                return Ok(Some(job));
            }
        }
        Ok(None)
    }

    /// The job `lease` names, locked, if it is running under that lease.
    async fn leased_job(&self, tx: &Transaction<'_>, lease: &Lease) -> Result<JobRow, TxError> {
        let not_found = || TxError::Queue(Error::NotFound(lease.job.clone()));
        let n = rows::counter(&lease.job).ok_or_else(not_found)?;
        let job = self.lock_job(tx, n).await?.ok_or_else(not_found)?;
        check_lease(&job, lease)?;
        Ok(job)
    }

    pub(crate) async fn complete(
        &self,
        tx: &Transaction<'_>,
        lease: &Lease,
        completion: Completion,
        announce: &mut Announce,
    ) -> Result<Job, TxError> {
        let job = self.leased_job(tx, lease).await?;
        let (n, attempts) = (job.id(), job.job.attempts);
        let s = self.s();
        let done = match completion {
            Completion::Succeeded { commit, note } => {
                let ending = Ending {
                    commit: commit.as_deref(),
                    note: note.as_deref(),
                    ..Ending::plain(JobState::Succeeded)
                };
                self.finish_running(tx, n, ending, announce).await?
            }
            Completion::Cancelled => {
                self.finish_running(tx, n, Ending::plain(JobState::Cancelled), announce)
                    .await?
            }
            Completion::Failed { error, retryable } => {
                if retryable && attempts < self.config.max_attempts && !job.cancel_requested {
                    let delay = self.config.backoff(attempts);
                    tracing::info!(
                        job = %lease.job,
                        attempts,
                        ?delay,
                        %error,
                        "attempt failed; retrying"
                    );
                    exec(
                        tx,
                        &format!("UPDATE {s}.jobs SET error = $2 WHERE id = $1"),
                        &[&n, &error],
                    )
                    .await?;
                    let job = JobRow {
                        job: Job {
                            error: Some(error),
                            ..job.job
                        },
                        ..job
                    };
                    self.requeue_running(tx, &job, Some(delay), announce)
                        .await?
                } else {
                    tracing::warn!(job = %lease.job, attempts, %error, "job failed");
                    self.finish_running(tx, n, Ending::failed(&error), announce)
                        .await?
                }
            }
            Completion::Released => {
                if job.cancel_requested {
                    self.finish_running(tx, n, Ending::plain(JobState::Cancelled), announce)
                        .await?
                } else {
                    exec(
                        tx,
                        &format!(
                            "UPDATE {s}.jobs SET attempts = greatest(attempts - 1, 0)
                                    WHERE id = $1"
                        ),
                        &[&n],
                    )
                    .await?;
                    let job = JobRow {
                        job: Job {
                            attempts: attempts.saturating_sub(1),
                            ..job.job
                        },
                        ..job
                    };
                    self.requeue_running(tx, &job, None, announce).await?
                }
            }
        };
        Ok(done.job)
    }

    pub(crate) async fn heartbeat(
        &self,
        tx: &Transaction<'_>,
        lease: &Lease,
        progress: Progress,
    ) -> Result<bool, TxError> {
        let job = self.leased_job(tx, lease).await?;
        let s = self.s();
        let count = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        exec(
            tx,
            &format!(
                "UPDATE {s}.jobs SET lease_until = now() + $2::bigint * interval '1
                        microsecond',
                     files_seen = $3, files_changed = $4, files_deleted = $5,
                     chunks_added = $6, chunks_removed = $7
                 WHERE id = $1"
            ),
            &[
                &job.id(),
                &rows::micros(self.config.lease),
                &count(progress.files_seen),
                &count(progress.files_changed),
                &count(progress.files_deleted),
                &count(progress.chunks_added),
                &count(progress.chunks_removed),
            ],
        )
        .await?;
        Ok(job.cancel_requested)
    }

    pub(crate) async fn cancel(
        &self,
        tx: &Transaction<'_>,
        n: i64,
        announce: &mut Announce,
    ) -> Result<Option<Job>, TxError> {
        let Some(job) = self.lock_job(tx, n).await? else {
            return Ok(None);
        };
        let s = self.s();
        let job = match job.job.state {
            JobState::Queued => self.set_finished(tx, n, JobState::Cancelled).await?.job,
            JobState::Running => {
                announce.stop.push((n, None));
                let row = one(
                    tx,
                    &format!(
                        "UPDATE {s}.jobs SET cancel_requested = true WHERE id
                                = $1 RETURNING {COLUMNS}"
                    ),
                    &[&n],
                )
                .await?;
                rows::job(&row).job
            }
            _ => job.job,
        };
        Ok(Some(job))
    }
}

/// [`Error::LeaseLost`] if `job` was claimed again since `lease` was granted,
/// [`Error::NotRunning`] if it is not running.
fn check_lease(job: &JobRow, lease: &Lease) -> Result<(), Error> {
    if job.lease_token != i64::try_from(lease.token).ok() {
        return Err(Error::LeaseLost {
            id: lease.job.clone(),
        });
    }
    if job.job.state != JobState::Running {
        return Err(Error::NotRunning {
            id: lease.job.clone(),
            state: job.job.state,
        });
    }
    Ok(())
}
