//! A [`JobStore`] that times its durable writes into the metrics and otherwise passes
//! everything through: the store crate stays free of metrics, and every writer (webhooks,
//! workers, management) is measured the same way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jobstore::{
    Claimed, Completion, EnqueueOutcome, Error, Job, JobFilter, JobId, JobPage, JobStore, Lease,
    NewJob, PendingRef, Progress, StateCounts,
};

use super::Metrics;

/// Times `enqueue`, `complete`, `complete_and_claim`, `cancel` and `cleanup` of `inner`.
#[derive(Debug)]
pub struct TimedJobStore {
    inner: Arc<dyn JobStore>,
    metrics: Arc<Metrics>,
}

impl TimedJobStore {
    /// `inner`, timed into `metrics`.
    pub fn new(inner: Arc<dyn JobStore>, metrics: Arc<Metrics>) -> Self {
        TimedJobStore { inner, metrics }
    }

    async fn timed<T>(
        &self,
        operation: &'static str,
        write: impl std::future::Future<Output = T>,
    ) -> T {
        let started = Instant::now();
        let result = write.await;
        self.metrics.store_write(operation, started.elapsed());
        result
    }
}

#[async_trait::async_trait]
impl JobStore for TimedJobStore {
    async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome, Error> {
        self.timed("enqueue", self.inner.enqueue(job)).await
    }

    async fn claim(&self, worker: &str) -> Result<Option<Claimed>, Error> {
        self.inner.claim(worker).await
    }

    async fn next(&self, worker: &str) -> Result<Claimed, Error> {
        self.inner.next(worker).await
    }

    async fn heartbeat(&self, lease: &Lease, progress: Progress) -> Result<(), Error> {
        self.inner.heartbeat(lease, progress).await
    }

    async fn complete(&self, lease: &Lease, completion: Completion) -> Result<Job, Error> {
        self.timed("complete", self.inner.complete(lease, completion))
            .await
    }

    async fn complete_and_claim(
        &self,
        lease: &Lease,
        completion: Completion,
        worker: &str,
    ) -> Result<(Job, Option<Claimed>), Error> {
        self.timed(
            "complete_and_claim",
            self.inner.complete_and_claim(lease, completion, worker),
        )
        .await
    }

    async fn cancel(&self, id: &JobId) -> Result<Option<Job>, Error> {
        self.timed("cancel", self.inner.cancel(id)).await
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, Error> {
        self.inner.get(id).await
    }

    async fn list(
        &self,
        filter: &JobFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<JobPage, Error> {
        self.inner.list(filter, limit, cursor).await
    }

    async fn counts(&self) -> Result<StateCounts, Error> {
        self.inner.counts().await
    }

    async fn pending(&self) -> Result<Vec<PendingRef>, Error> {
        self.inner.pending().await
    }

    async fn cleanup(&self, older_than: Duration) -> Result<u64, Error> {
        self.timed("cleanup", self.inner.cleanup(older_than)).await
    }

    async fn flush(&self) -> Result<(), Error> {
        self.inner.flush().await
    }
}
