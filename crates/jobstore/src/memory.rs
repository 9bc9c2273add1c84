//! A backend that keeps everything in memory: for tests, benches and services that do not
//! need the queue to survive a restart.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::config::StoreConfig;
use crate::error::Error;
use crate::job::{
    Claimed, Completion, EnqueueOutcome, Job, JobFilter, JobId, JobPage, Lease, NewJob, PendingRef,
    Progress, StateCounts,
};
use crate::queue::{Changes, Clock, Queue};
use crate::store::{JobStore, claim_when_ready};

/// A [`JobStore`] that lives in memory only. Same semantics as
/// [`SledJobStore`](crate::SledJobStore), minus durability.
#[derive(Debug)]
pub struct MemoryJobStore {
    queue: Mutex<Queue>,
    notify: Notify,
}

impl MemoryJobStore {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Self {
        MemoryJobStore {
            queue: Mutex::new(Queue::new(config)),
            notify: Notify::new(),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave the queue half-updated in a way that
        // matters more than refusing all further work would.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs a mutation and wakes a waiting worker if it made work claimable.
    fn mutate<R>(&self, op: impl FnOnce(&mut Queue, Clock, &mut Changes) -> R) -> R {
        let mut changes = Changes::default();
        let result = op(&mut self.queue(), Clock::now(), &mut changes);
        if changes.deadline_moved {
            self.notify.notify_waiters();
        } else if changes.wake {
            self.notify.notify_one();
        }
        result
    }
}

#[async_trait::async_trait]
impl JobStore for MemoryJobStore {
    async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome, Error> {
        self.mutate(|q, clock, ch| q.enqueue(job, clock, ch))
    }

    async fn claim(&self, worker: &str) -> Result<Option<Claimed>, Error> {
        Ok(self.mutate(|q, clock, ch| q.claim(worker, clock, ch)))
    }

    async fn next(&self, worker: &str) -> Result<Claimed, Error> {
        claim_when_ready(
            &self.notify,
            || self.claim(worker),
            || self.queue().next_wakeup(Clock::now()),
            || self.queue().has_ready(),
        )
        .await
    }

    async fn heartbeat(&self, lease: &Lease, progress: Progress) -> Result<(), Error> {
        self.mutate(|q, clock, ch| q.heartbeat(lease, progress, clock, ch))
    }

    async fn complete(&self, lease: &Lease, completion: Completion) -> Result<Job, Error> {
        self.mutate(|q, clock, ch| q.complete(lease, completion, clock, ch))
    }

    async fn complete_and_claim(
        &self,
        lease: &Lease,
        completion: Completion,
        worker: &str,
    ) -> Result<(Job, Option<Claimed>), Error> {
        self.mutate(|q, clock, ch| q.complete_and_claim(lease, completion, worker, clock, ch))
    }

    async fn cancel(&self, id: &JobId) -> Result<Option<Job>, Error> {
        Ok(self.mutate(|q, clock, ch| q.cancel(id, clock, ch)))
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
        self.queue().list(filter, limit, cursor)
    }

    async fn pending(&self) -> Result<Vec<PendingRef>, Error> {
        Ok(self.queue().pending())
    }

    async fn counts(&self) -> Result<StateCounts, Error> {
        Ok(self.queue().counts())
    }

    async fn cleanup(&self, older_than: Duration) -> Result<u64, Error> {
        Ok(self.mutate(|q, clock, ch| q.cleanup(older_than, clock, ch)))
    }

    async fn flush(&self) -> Result<(), Error> {
        Ok(())
    }
}
