//! The [`JobStore`] of every backend that keeps the whole queue as a [`Queue`] in memory
//! ([`MemoryJobStore`](crate::MemoryJobStore), [`SledJobStore`](crate::SledJobStore)): they
//! differ only in how a mutation is written down, so one implementation serves both.

use std::future::Future;
use std::sync::MutexGuard;
use std::time::Duration;

use tokio::sync::Notify;

use crate::error::Error;
use crate::job::{
    Claimed, Completion, EnqueueOutcome, Job, JobFilter, JobId, JobPage, Lease, NewJob, PageQuery,
    PendingRef, Progress, StateCounts,
};
use crate::queue::{Changes, Clock, Queue};
use crate::store::{JobStore, claim_when_ready};

/// A backend whose reads and scheduling are answered by a [`Queue`] it holds in memory.
pub(crate) trait QueueBackend: Send + Sync + std::fmt::Debug {
    /// The queue, locked.
    fn queue(&self) -> MutexGuard<'_, Queue>;

    /// Woken when a mutation makes work claimable or moves the earliest deadline.
    fn notify(&self) -> &Notify;

    /// Applies `op` to the queue and answers once its writes are stored, and flushed too if
    /// the operation succeeded and `durable` says its result needs it.
    fn run<R, F>(
        &self,
        durable: fn(&R) -> bool,
        op: F,
    ) -> impl Future<Output = Result<R, Error>> + Send
    where
        R: Send + 'static,
        F: FnOnce(&mut Queue, Clock, &mut Changes) -> Result<R, Error> + Send + 'static;
}

/// For [`QueueBackend::run`]: the answer waits for a flush.
fn always<R>(_: &R) -> bool {
    true
}

/// For [`QueueBackend::run`]: written with the next write, not waited for.
fn never<R>(_: &R) -> bool {
    false
}

#[async_trait::async_trait]
impl<B: QueueBackend> JobStore for B {
    async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome, Error> {
        // Durable even when it is a duplicate: the original may still be in flight in this
        // very batch, and "duplicate" must not be said about something that could be lost.
        self.run(always, move |q, clock, ch| q.enqueue(job, clock, ch))
            .await
    }

    async fn claim(&self, worker: &str) -> Result<Option<Claimed>, Error> {
        // Flushed before the worker sees the job: the attempt count must survive a crash, or
        // a job that kills the process on every attempt would be retried forever. Finding
        // nothing to claim waits for nothing (it wrote nothing the caller depends on).
        let worker = worker.to_owned();
        self.run(Option::is_some, move |q, clock, ch| {
            Ok(q.claim(&worker, clock, ch))
        })
        .await
    }

    async fn next(&self, worker: &str) -> Result<Claimed, Error> {
        claim_when_ready(
            self.notify(),
            || self.claim(worker),
            || self.queue().next_wakeup(Clock::now()),
            || self.queue().has_ready(),
        )
        .await
    }

    async fn heartbeat(&self, lease: &Lease, progress: Progress) -> Result<(), Error> {
        // Not waited for: after a crash the job is requeued anyway, and its progress restarts.
        let lease = lease.clone();
        self.run(never, move |q, clock, ch| {
            q.heartbeat(&lease, progress, clock, ch)
        })
        .await
    }

    async fn complete(&self, lease: &Lease, completion: Completion) -> Result<Job, Error> {
        // Flushed: once a worker is told its job succeeded it may act on that (report it,
        // claim the key's follow-up), and a crash must not bring the job back.
        let lease = lease.clone();
        self.run(always, move |q, clock, ch| {
            q.complete(&lease, completion, clock, ch)
        })
        .await
    }

    async fn complete_and_claim(
        &self,
        lease: &Lease,
        completion: Completion,
        worker: &str,
    ) -> Result<(Job, Option<Claimed>), Error> {
        // One mutation: both records go into one write (on sled one batch and one flush),
        // and the worker pays one hand-off per job instead of two.
        let (lease, worker) = (lease.clone(), worker.to_owned());
        self.run(always, move |q, clock, ch| {
            q.complete_and_claim(&lease, completion, &worker, clock, ch)
        })
        .await
    }

    async fn cancel(&self, id: &JobId) -> Result<Option<Job>, Error> {
        let id = id.clone();
        self.run(always, move |q, clock, ch| Ok(q.cancel(&id, clock, ch)))
            .await
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, Error> {
        Ok(self.queue().get(id))
    }

    async fn list(
        &self,
        filter: &JobFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<JobPage, Error> {
        let query = PageQuery::new(limit, cursor)?;
        Ok(self.queue().list(filter, &query))
    }

    async fn pending(&self) -> Result<Vec<PendingRef>, Error> {
        Ok(self.queue().pending())
    }

    async fn counts(&self) -> Result<StateCounts, Error> {
        Ok(self.queue().counts())
    }

    async fn cleanup(&self, older_than: Duration) -> Result<u64, Error> {
        self.run(always, move |q, clock, ch| {
            Ok(q.cleanup(older_than, clock, ch))
        })
        .await
    }

    async fn flush(&self) -> Result<(), Error> {
        self.run(always, |_, _, _| Ok(())).await
    }
}
