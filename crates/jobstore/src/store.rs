//! The storage-neutral interface callers use, and the waiting logic every backend shares.

use std::future::Future;
use std::pin::pin;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::error::Error;
use crate::job::{
    Claimed, Completion, EnqueueOutcome, Job, JobFilter, JobId, JobPage, Lease, NewJob, PendingRef,
    Progress, StateCounts,
};

/// A durable, coalescing job queue. Every backend passes [`crate::conformance`].
#[async_trait::async_trait]
pub trait JobStore: Send + Sync + std::fmt::Debug {
    /// Queues a request, folds it into the job already queued for its repo and ref, or
    /// recognises its dedupe key. Returns only once the outcome is durable.
    async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome, Error>;

    /// Claims the oldest claimable job, if any, without waiting. A job is claimable when it
    /// is queued, its `not_before` has passed and no job of its repo and ref is running.
    /// Running jobs whose lease expired are requeued first. Durable: the counted attempt
    /// survives a crash, so a job that kills the process on every attempt still ends
    /// `Failed` after `max_attempts` claims.
    async fn claim(&self, worker: &str) -> Result<Option<Claimed>, Error>;

    /// Waits until a job can be claimed and claims it. Woken by enqueues, by completions
    /// that free a key with a waiting follow-up, and at the earliest retry time or lease
    /// expiry; it never polls.
    async fn next(&self, worker: &str) -> Result<Claimed, Error>;

    /// Extends the lease of a running job and records its progress. [`Error::LeaseLost`] when
    /// the job was claimed again since this lease was granted; nothing changes then.
    async fn heartbeat(&self, lease: &Lease, progress: Progress) -> Result<(), Error>;

    /// Ends the current attempt of a running job; returns the job as it now is. Durable.
    /// [`Error::LeaseLost`] when the job was claimed again since this lease was granted;
    /// nothing changes then.
    async fn complete(&self, lease: &Lease, completion: Completion) -> Result<Job, Error>;

    /// Ends the current attempt of the job running under `lease` and, in the same step, claims the
    /// next claimable job for `worker` (or `None` if nothing is claimable right now: wait
    /// with [`JobStore::next`] then). A worker loop calls this instead of `complete` followed
    /// by `claim`: on [`SledJobStore`](crate::SledJobStore) both go into one write and share
    /// one flush and one hand-off. Both are durable when it returns, like `complete` and
    /// `claim` on their own. If the completion fails (for example the lease expired and the
    /// job is no longer running) nothing is claimed and the error is returned.
    ///
    /// The default implementation calls [`JobStore::complete`], then [`JobStore::claim`].
    async fn complete_and_claim(
        &self,
        lease: &Lease,
        completion: Completion,
        worker: &str,
    ) -> Result<(Job, Option<Claimed>), Error> {
        let job = self.complete(lease, completion).await?;
        let next = self.claim(worker).await?;
        Ok((job, next))
    }

    /// Cancels a job. `None`: no such job. A queued job becomes cancelled at once; a running
    /// job's token flips and its worker completes with [`Completion::Cancelled`]; a finished
    /// job is returned unchanged. Durable.
    async fn cancel(&self, id: &JobId) -> Result<Option<Job>, Error>;

    /// One job.
    async fn get(&self, id: &JobId) -> Result<Option<Job>, Error>;

    /// Jobs matching `filter`, newest first, at most `limit` (at least one) per page, starting
    /// after `cursor` (a `next_cursor` of a previous page).
    async fn list(
        &self,
        filter: &JobFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<JobPage, Error>;

    /// How many jobs are in each state.
    async fn counts(&self) -> Result<StateCounts, Error>;

    /// Every (repo, ref) with a queued or running job, with the creation time of its oldest
    /// such job. Costs one pass over the refs with work (not over all jobs).
    async fn pending(&self) -> Result<Vec<PendingRef>, Error>;

    /// Drops finished jobs that finished at least `older_than` ago, and expired delivery
    /// keys; returns how many jobs were dropped. Also run by the store every 10 minutes of
    /// activity with `StoreConfig::finished_retention`.
    async fn cleanup(&self, older_than: Duration) -> Result<u64, Error>;

    /// Returns once everything written so far is durable.
    async fn flush(&self) -> Result<(), Error>;
}

/// The body of every backend's [`JobStore::next`]: claim, else sleep until notified or until
/// the earliest moment a claim could succeed by itself.
pub(crate) async fn claim_when_ready<C, Fut>(
    notify: &Notify,
    mut claim: C,
    next_wakeup: impl Fn() -> Option<Instant>,
    more_ready: impl Fn() -> bool,
) -> Result<Claimed, Error>
where
    C: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<Claimed>, Error>>,
{
    loop {
        let mut notified = pin!(notify.notified());
        // Registered before claiming, so a job made ready during the claim still wakes us.
        notified.as_mut().enable();
        if let Some(claimed) = claim().await? {
            // Stores wake one waiter per event; pass the baton if more work is waiting.
            if more_ready() {
                notify.notify_one();
            }
            return Ok(claimed);
        }
        match next_wakeup() {
            Some(at) => {
                tokio::select! {
                    () = &mut notified => {}
                    () = tokio::time::sleep_until(at.into()) => {}
                }
            }
            None => notified.await,
        }
    }
}
