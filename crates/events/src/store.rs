//! A [`JobStore`] that publishes a `job` event after every call that changes a job.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api_json::JobJson;
use jobstore::{
    Claimed, Completion, EnqueueOutcome, Error, Job, JobFilter, JobId, JobPage, JobState, JobStore,
    Lease, NewJob, PendingRef, Progress, StateCounts,
};

use crate::hub::{Hub, Kind};

/// A running job's progress is published at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// How many jobs' newest event ids are remembered (the oldest half is forgotten past this).
const LATEST_KEPT: usize = 8192;

/// A job this process's workers run, as last published.
#[derive(Debug)]
struct Running {
    job: Job,
    published: Instant,
}

/// Publishes to a [`Hub`] what `enqueue`, `claim`, `next`, `heartbeat` (throttled),
/// `complete`, `complete_and_claim` and `cancel` of `inner` did, and counts the jobs this
/// process's workers hold ([`EventedJobStore::busy`]). Jobs changed inside the store
/// (a lease that expired, a queued job superseded) and jobs of other replicas sharing the
/// store are not seen.
#[derive(Debug)]
pub struct EventedJobStore {
    inner: Arc<dyn JobStore>,
    hub: Arc<Hub>,
    running: Mutex<HashMap<JobId, Running>>,
    /// The id of the newest event published for each job: an enqueue's answer that comes back
    /// after a worker already claimed (or finished) the job is not published over the newer
    /// state, so a job's events always arrive in the order its states happened.
    latest: Mutex<HashMap<JobId, u64>>,
}

impl EventedJobStore {
    /// `inner`, publishing to `hub`.
    pub fn new(inner: Arc<dyn JobStore>, hub: Arc<Hub>) -> Self {
        EventedJobStore {
            inner,
            hub,
            running: Mutex::default(),
            latest: Mutex::default(),
        }
    }

    /// How many jobs this process's workers are running now.
    pub fn busy(&self) -> usize {
        self.lock().len()
    }

    fn publish(&self, job: &Job) {
        self.publish_unless_newer(job, None);
    }

    /// Publishes `job`, unless an event newer than hub id `since` was already published for
    /// it (with `since` given): then what this call saw is older than what clients know.
    fn publish_unless_newer(&self, job: &Job, since: Option<u64>) {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(since), Some(&newest)) = (since, latest.get(&job.id))
            && newest > since
        {
            return;
        }
        let id = self.hub.publish(Kind::Job, &JobJson::new(job));
        latest.insert(job.id.clone(), id);
        if latest.len() > LATEST_KEPT {
            let keep_after = id.saturating_sub(LATEST_KEPT as u64 / 2);
            latest.retain(|_, newest| *newest > keep_after);
        }
        drop(latest);
        if job.state.is_finished() {
            self.hub.job_ended(&job.repo);
        }
    }

    fn claimed(&self, claimed: &Claimed) {
        self.publish_queued_if_unseen(&claimed.job);
        self.publish(&claimed.job);
        self.lock().insert(
            claimed.job.id.clone(),
            Running {
                job: claimed.job.clone(),
                published: Instant::now(),
            },
        );
    }

    fn ended(&self, lease: &Lease, result: Result<&Job, &Error>) {
        self.lock().remove(&lease.job);
        if let Ok(job) = result {
            self.publish(job);
        }
    }

    /// A claim can overtake the answer of the enqueue that made the job (the worker wakes
    /// before the enqueue's caller publishes): the job's `queued` event is then published
    /// here, first, and the enqueue's late answer is dropped ([`Self::publish_unless_newer`]),
    /// so clients always see queued, running, then the end.
    fn publish_queued_if_unseen(&self, job: &Job) {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        if latest.contains_key(&job.id) || job.attempts > 1 {
            return;
        }
        let mut queued = job.clone();
        queued.state = JobState::Queued;
        queued.started_at = None;
        queued.attempts = queued.attempts.saturating_sub(1);
        let id = self.hub.publish(Kind::Job, &JobJson::new(&queued));
        latest.insert(job.id.clone(), id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait::async_trait]
impl JobStore for EventedJobStore {
    async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome, Error> {
        let since = self.hub.newest_id();
        let outcome = self.inner.enqueue(job).await?;
        if let EnqueueOutcome::Queued(job) | EnqueueOutcome::Coalesced(job) = &outcome {
            self.publish_unless_newer(job, Some(since));
        }
        Ok(outcome)
    }

    async fn claim(&self, worker: &str) -> Result<Option<Claimed>, Error> {
        let claimed = self.inner.claim(worker).await?;
        if let Some(claimed) = &claimed {
            self.claimed(claimed);
        }
        Ok(claimed)
    }

    async fn next(&self, worker: &str) -> Result<Claimed, Error> {
        let claimed = self.inner.next(worker).await?;
        self.claimed(&claimed);
        Ok(claimed)
    }

    async fn heartbeat(&self, lease: &Lease, progress: Progress) -> Result<(), Error> {
        self.inner.heartbeat(lease, progress).await?;
        let due = {
            let mut running = self.lock();
            match running.get_mut(&lease.job) {
                Some(run) if run.published.elapsed() >= PROGRESS_EVERY => {
                    run.job.progress = progress;
                    run.published = Instant::now();
                    Some(run.job.clone())
                }
                Some(run) => {
                    run.job.progress = progress;
                    None
                }
                None => None,
            }
        };
        if let Some(job) = due {
            self.publish(&job);
        }
        Ok(())
    }

    async fn complete(&self, lease: &Lease, completion: Completion) -> Result<Job, Error> {
        let result = self.inner.complete(lease, completion).await;
        self.ended(lease, result.as_ref());
        result
    }

    async fn complete_and_claim(
        &self,
        lease: &Lease,
        completion: Completion,
        worker: &str,
    ) -> Result<(Job, Option<Claimed>), Error> {
        let result = self
            .inner
            .complete_and_claim(lease, completion, worker)
            .await;
        match &result {
            Ok((job, next)) => {
                self.ended(lease, Ok(job));
                if let Some(next) = next {
                    self.claimed(next);
                }
            }
            Err(error) => self.ended(lease, Err(error)),
        }
        result
    }

    async fn cancel(&self, id: &JobId) -> Result<Option<Job>, Error> {
        let job = self.inner.cancel(id).await?;
        if let Some(job) = &job {
            self.publish(job);
        }
        Ok(job)
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
        self.inner.cleanup(older_than).await
    }

    async fn flush(&self) -> Result<(), Error> {
        self.inner.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobstore::{MemoryJobStore, StoreConfig, Trigger};
    use serde_json::Value;

    fn state(event: &crate::Event) -> String {
        let job: Value = serde_json::from_str(&event.data).unwrap();
        job["state"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn a_job_life_is_published_in_order() {
        let hub = Arc::new(Hub::new());
        let inner = Arc::new(MemoryJobStore::new(StoreConfig::default()));
        let store = EventedJobStore::new(inner, hub.clone());
        let mut sub = hub.subscribe(None);
        let mut ended = hub.ended_repos().unwrap();

        store
            .enqueue(NewJob::index("demo", "refs/heads/main", Trigger::Manual))
            .await
            .unwrap();
        let claimed = store.next("w").await.unwrap();
        assert_eq!(store.busy(), 1);
        store
            .complete(&claimed.lease, Completion::succeeded())
            .await
            .unwrap();
        assert_eq!(store.busy(), 0);
        let mut states = Vec::new();
        for _ in 0..3 {
            states.push(state(&sub.next().await.unwrap()));
        }
        assert_eq!(states, ["queued", "running", "succeeded"]);
        assert_eq!(ended.try_recv().unwrap(), "demo");
    }

    #[tokio::test]
    async fn a_claim_that_overtakes_its_enqueue_still_shows_queued_first() {
        let hub = Arc::new(Hub::new());
        let inner = Arc::new(MemoryJobStore::new(StoreConfig::default()));
        let store = EventedJobStore::new(inner.clone(), hub.clone());
        // The enqueue commits, then a worker claims the job before the enqueue's answer is
        // published: the claim publishes queued then running, and the late answer is dropped.
        let since = hub.newest_id();
        let EnqueueOutcome::Queued(queued) = inner
            .enqueue(NewJob::index("demo", "refs/heads/main", Trigger::Manual))
            .await
            .unwrap()
        else {
            panic!("queued")
        };
        let mut sub = hub.subscribe(Some(since));
        store.next("w").await.unwrap();
        store.publish_unless_newer(&queued, Some(since));
        assert_eq!(
            hub.newest_id() - since,
            2,
            "queued (by the claim) and running"
        );
        assert_eq!(state(&sub.next().await.unwrap()), "queued");
        assert_eq!(state(&sub.next().await.unwrap()), "running");
        // Without a newer event, the answer is published.
        let since = hub.newest_id();
        store
            .enqueue(NewJob::index("demo", "refs/heads/other", Trigger::Manual))
            .await
            .unwrap();
        assert_eq!(hub.newest_id() - since, 1);
        assert_eq!(state(&sub.next().await.unwrap()), "queued");
    }

    #[tokio::test]
    async fn progress_is_throttled() {
        let hub = Arc::new(Hub::new());
        let inner = Arc::new(MemoryJobStore::new(StoreConfig::default()));
        let store = EventedJobStore::new(inner, hub.clone());
        store
            .enqueue(NewJob::index("demo", "refs/heads/main", Trigger::Manual))
            .await
            .unwrap();
        let claimed = store.next("w").await.unwrap();
        let before = hub.newest_id();
        let started = Instant::now();
        for n in 0..50 {
            let progress = Progress {
                files_seen: n,
                ..Progress::default()
            };
            store.heartbeat(&claimed.lease, progress).await.unwrap();
        }
        // At most one event per throttle period that passed (and none in the first).
        let periods = started.elapsed().as_millis() / PROGRESS_EVERY.as_millis();
        let published = hub.newest_id() - before;
        assert!(
            u128::from(published) <= periods,
            "{published} in {periods} periods"
        );
    }
}
