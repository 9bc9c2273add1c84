//! The behaviour every [`JobStore`] backend must have, as runnable checks.
//!
//! Each check takes a factory that builds a fresh, empty store for a given [`StoreConfig`]
//! (checks that need short leases or backoffs build their own) and panics with a message
//! naming the broken rule, like any test assertion. Call them from your backend's tests:
//!
//! ```
//! use jobstore::{JobStore, MemoryJobStore, StoreConfig};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! let make = |config: StoreConfig| Box::new(MemoryJobStore::new(config)) as Box<dyn JobStore>;
//! jobstore::conformance::coalescing(&make).await;
//! # }
//! ```
//!
//! Durability across reopen and crashes cannot be checked through the trait alone; a durable
//! backend needs its own tests for those (see this crate's `tests/sled_durability.rs`).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::Error;
use crate::config::StoreConfig;
use crate::job::{
    Claimed, Completion, EnqueueOutcome, Job, JobFilter, JobId, JobKind, JobState, Lease, NewJob,
    Progress, Trigger,
};
use crate::store::JobStore;

/// Builds a fresh, empty store with the given configuration.
pub type MakeStore = dyn Fn(StoreConfig) -> Box<dyn JobStore> + Send + Sync;

/// Generous bound on any wait, so that a backend that never wakes fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: still waiting after {PATIENCE:?}"),
    }
}

fn push(repo: &str, git_ref: &str, commit: &str, before: &str) -> NewJob {
    NewJob {
        commit: Some(commit.to_owned()),
        before: Some(before.to_owned()),
        provider: Some("github".to_owned()),
        ..NewJob::index(repo, git_ref, Trigger::Webhook)
    }
}

fn delete(repo: &str, git_ref: &str) -> NewJob {
    NewJob::delete_ref(repo, git_ref, Trigger::Webhook)
}

async fn enqueued(store: &dyn JobStore, job: NewJob) -> EnqueueOutcome {
    store.enqueue(job).await.expect("enqueue")
}

fn queued_job(outcome: EnqueueOutcome) -> Job {
    match outcome {
        EnqueueOutcome::Queued(job) => job,
        other => panic!("expected a newly queued job, got {other:?}"),
    }
}

async fn must_get(store: &dyn JobStore, id: &JobId) -> Job {
    store
        .get(id)
        .await
        .expect("get")
        .unwrap_or_else(|| panic!("job {id} is missing"))
}

async fn must_claim(store: &dyn JobStore, worker: &str) -> Claimed {
    store
        .claim(worker)
        .await
        .expect("claim")
        .unwrap_or_else(|| panic!("{worker}: expected a claimable job"))
}

async fn claims_nothing(store: &dyn JobStore, why: &str) {
    if let Some(claimed) = store.claim("idle-check").await.expect("claim") {
        panic!("{why}, but job {} was claimable", claimed.job.id);
    }
}

/// Invokes macro `$then` with the name of every check, in the order [`run_all`] runs them,
/// after the tokens given past a comma (then a `;`): a backend's test file makes one test
/// per check with it, and no check is left out when one is added.
///
/// ```
/// macro_rules! count {
///     ($($check:ident),*) => { [$(stringify!($check)),*].len() };
/// }
/// assert!(jobstore::conformance_checks!(count) > 20);
/// ```
#[macro_export]
macro_rules! conformance_checks {
    ($then:ident $(, $($before:tt)+)?) => {
        $then! {
            $($($before)+ ;)?
            lifecycle, job_ids, coalescing, follow_up_while_running, kinds_supersede,
            per_key_exclusivity, dedupe, retries_with_backoff, retries_run_out, lease_expiry,
            fencing, cancel_queued, cancel_running, release, list_and_counts, cleanup,
            next_waits_for_work, producers_and_consumers, complete_and_claim,
            success_records_commit_and_note, fetch_ref_is_kept_and_folded, pending_refs
        }
    };
}

/// Runs every check, in order.
pub async fn run_all(make: &MakeStore) {
    macro_rules! run {
        ($($check:ident),*) => { $($check(make).await;)* };
    }
    crate::conformance_checks!(run);
}

/// A job goes queued → running → succeeded, with its request fields, attempts, timestamps
/// and progress recorded; heartbeats and completion require a running job.
pub async fn lifecycle(make: &MakeStore) {
    let store = make(StoreConfig::default());
    let store = store.as_ref();
    let mut request = push("hello", "refs/heads/main", "c1", "c0");
    request.delivery_id = Some("d-1".to_owned());
    let job = queued_job(enqueued(store, request).await);
    assert_eq!(job.state, JobState::Queued);
    assert_eq!((job.attempts, job.coalesced), (0, 0));
    assert_eq!(job.commit.as_deref(), Some("c1"));
    assert_eq!(job.before.as_deref(), Some("c0"));
    assert_eq!(job.delivery_id.as_deref(), Some("d-1"));
    assert_eq!(job.provider.as_deref(), Some("github"));
    assert_eq!((job.trigger, job.kind), (Trigger::Webhook, JobKind::Index));
    assert!(job.started_at.is_none() && job.finished_at.is_none());
    assert_eq!(
        must_get(store, &job.id).await,
        job,
        "get returns what enqueue returned"
    );

    let claimed = must_claim(store, "w1").await;
    assert_eq!(claimed.job.id, job.id);
    assert_eq!(claimed.job.state, JobState::Running);
    assert_eq!(claimed.job.attempts, 1, "attempts count claims");
    assert!(claimed.job.started_at.is_some());
    assert!(!claimed.cancel.is_cancelled());
    claims_nothing(store, "the only job is running").await;

    let progress = Progress {
        files_seen: 10,
        files_changed: 3,
        files_deleted: 1,
        chunks_added: 7,
        chunks_removed: 2,
    };
    store
        .heartbeat(&claimed.lease, progress)
        .await
        .expect("heartbeat");
    assert_eq!(must_get(store, &job.id).await.progress, progress);

    let done = store
        .complete(&claimed.lease, Completion::succeeded())
        .await
        .expect("complete");
    assert_eq!(done.state, JobState::Succeeded);
    assert!(done.finished_at.is_some());
    assert_eq!(done.progress, progress, "progress survives completion");
    assert_eq!(must_get(store, &job.id).await.state, JobState::Succeeded);

    match store.heartbeat(&claimed.lease, progress).await {
        Err(Error::NotRunning { state, .. }) => assert_eq!(state, JobState::Succeeded),
        other => panic!("heartbeat on a finished job must fail with NotRunning, got {other:?}"),
    }
    match store
        .complete(&claimed.lease, Completion::succeeded())
        .await
    {
        Err(Error::NotRunning { .. }) => {}
        other => panic!("completing a finished job must fail with NotRunning, got {other:?}"),
    }
    let unknown: JobId = "00000000ffffffff".parse().expect("well-formed id");
    assert!(store.get(&unknown).await.expect("get").is_none());
    match store
        .complete(
            &Lease {
                job: unknown.clone(),
                token: claimed.lease.token,
            },
            Completion::succeeded(),
        )
        .await
    {
        Err(Error::NotFound(id)) => assert_eq!(id, unknown),
        other => panic!("completing an unknown job must fail with NotFound, got {other:?}"),
    }
    assert!(
        store
            .enqueue(push("", "refs/heads/main", "c", "b"))
            .await
            .is_err(),
        "an empty repo name is refused"
    );
}

/// Ids sort by creation order, parse back, and malformed ids are errors.
pub async fn job_ids(make: &MakeStore) {
    let store = make(StoreConfig::default());
    let mut ids = Vec::new();
    for n in 0..20 {
        let job = queued_job(
            enqueued(
                store.as_ref(),
                push("r", &format!("refs/heads/b{n}"), "c", "b"),
            )
            .await,
        );
        assert_eq!(
            job.id.to_string().parse::<JobId>().expect("id parses"),
            job.id
        );
        ids.push(job.id);
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ids sort in creation order");
    for bad in [
        "",
        "abc",
        "../../etc/passwd",
        "000000000000000G",
        "00000000000000001",
    ] {
        assert!(
            bad.parse::<JobId>().is_err(),
            "{bad:?} must not parse as a job id"
        );
    }
}

/// Requests for a key with a queued job fold into it: newest commit, oldest `before`, sticky
/// `full`, counted in `coalesced`, and their dedupe keys point at it.
pub async fn coalescing(make: &MakeStore) {
    let store = make(StoreConfig::default());
    let store = store.as_ref();
    let first = queued_job(enqueued(store, push("hello", "refs/heads/main", "c1", "c0")).await);

    let mut second = push("hello", "refs/heads/main", "c2", "c1");
    second.full = true;
    second.dedupe_key = Some("delivery-2".to_owned());
    match enqueued(store, second.clone()).await {
        EnqueueOutcome::Coalesced(job) => {
            assert_eq!(job.id, first.id, "folded into the queued job");
            assert_eq!(job.commit.as_deref(), Some("c2"), "newest commit wins");
            assert_eq!(job.before.as_deref(), Some("c0"), "oldest before is kept");
            assert!(job.full, "full is sticky");
            assert_eq!(job.coalesced, 1);
        }
        other => panic!("expected Coalesced, got {other:?}"),
    }
    let third = push("hello", "refs/heads/main", "c3", "c2");
    let job = match enqueued(store, third).await {
        EnqueueOutcome::Coalesced(job) => job,
        other => panic!("expected Coalesced, got {other:?}"),
    };
    assert_eq!(job.commit.as_deref(), Some("c3"));
    assert!(
        job.full,
        "full stays set once any folded request asked for it"
    );
    assert_eq!(job.coalesced, 2);
    match enqueued(store, second).await {
        EnqueueOutcome::Duplicate(id) => {
            assert_eq!(id, first.id, "dedupe key points at the folded job")
        }
        other => panic!("expected Duplicate, got {other:?}"),
    }
    // Another ref and another repo are other keys.
    let other_ref = queued_job(enqueued(store, push("hello", "refs/heads/dev", "d1", "d0")).await);
    let other_repo =
        queued_job(enqueued(store, push("world", "refs/heads/main", "w1", "w0")).await);
    assert!(other_ref.id != first.id && other_repo.id != first.id);
    assert_eq!(store.counts().await.expect("counts").queued, 3);
}

/// While a key's job runs, exactly one follow-up is queued and later requests fold into it;
/// a burst of 1,000 pushes runs as one follow-up.
pub async fn follow_up_while_running(make: &MakeStore) {
    let store = make(StoreConfig::default());
    let store = store.as_ref();
    let first = queued_job(enqueued(store, push("hello", "refs/heads/main", "c1", "c0")).await);
    let running = must_claim(store, "w1").await;
    assert_eq!(running.job.id, first.id);

    let follow_up = queued_job(enqueued(store, push("hello", "refs/heads/main", "c2", "c1")).await);
    assert_ne!(follow_up.id, first.id, "a running job is never folded into");
    for n in 3..1002 {
        let outcome = enqueued(
            store,
            push(
                "hello",
                "refs/heads/main",
                &format!("c{n}"),
                &format!("c{}", n - 1),
            ),
        )
        .await;
        assert!(
            matches!(&outcome, EnqueueOutcome::Coalesced(job) if job.id == follow_up.id),
            "push {n} must fold into the follow-up, got {outcome:?}"
        );
    }
    let follow_up = must_get(store, &follow_up.id).await;
    assert_eq!(follow_up.coalesced, 999);
    assert_eq!(follow_up.commit.as_deref(), Some("c1001"));
    assert_eq!(follow_up.before.as_deref(), Some("c1"));
    claims_nothing(
        store,
        "the follow-up must wait for the running job of its key",
    )
    .await;

    store
        .complete(&running.lease, Completion::succeeded())
        .await
        .expect("complete");
    let next = must_claim(store, "w1").await;
    assert_eq!(
        next.job.id, follow_up.id,
        "the follow-up runs once the key is free"
    );
    let counts = store.counts().await.expect("counts");
    assert_eq!(counts.total(), 2, "1,001 pushes made two jobs");
}

/// DeleteRef supersedes a queued Index; Index supersedes a queued DeleteRef and is full; an
/// Index queued behind a running DeleteRef is full.
pub async fn kinds_supersede(make: &MakeStore) {
    let store = make(StoreConfig::default());
    let store = store.as_ref();
    let index = queued_job(enqueued(store, push("hello", "refs/heads/gone", "c1", "c0")).await);
    let deletion = queued_job(enqueued(store, delete("hello", "refs/heads/gone")).await);
    assert_eq!(deletion.kind, JobKind::DeleteRef);
    let superseded = must_get(store, &index.id).await;
    assert_eq!(superseded.state, JobState::Superseded);
    assert!(superseded.finished_at.is_some());

    let again = queued_job(enqueued(store, push("hello", "refs/heads/gone", "c2", "0000")).await);
    assert_eq!(again.kind, JobKind::Index);
    assert!(
        again.full,
        "an index replacing a queued delete must be full"
    );
    assert_eq!(
        must_get(store, &deletion.id).await.state,
        JobState::Superseded
    );
    assert_eq!(
        store.counts().await.expect("counts").queued,
        1,
        "one queued job per key"
    );

    let other = queued_job(enqueued(store, delete("hello", "refs/heads/other")).await);
    let running = must_claim(store, "w").await;
    assert_eq!(running.job.id, again.id, "oldest claimable job first");
    let running_delete = must_claim(store, "w").await;
    assert_eq!(running_delete.job.id, other.id);
    let behind = queued_job(enqueued(store, push("hello", "refs/heads/other", "c9", "c8")).await);
    assert!(behind.full, "an index behind a running delete must be full");
}

/// Never two running jobs for one key; different keys run in parallel.
pub async fn per_key_exclusivity(make: &MakeStore) {
    let store = make(StoreConfig::default());
    let store = store.as_ref();
    for repo in ["a", "b", "c"] {
        enqueued(store, push(repo, "refs/heads/main", "c1", "c0")).await;
    }
    let mut running = HashSet::new();
    for _ in 0..3 {
        let claimed = must_claim(store, "w").await;
        assert!(running.insert(claimed.job.repo.clone()), "each key once");
    }
    for repo in ["a", "b", "c"] {
        enqueued(store, push(repo, "refs/heads/main", "c2", "c1")).await;
    }
    claims_nothing(store, "every key has a running job").await;
    assert_eq!(store.counts().await.expect("counts").running, 3);
}

/// Accepted dedupe keys are recognised while retained, and forgotten after `dedupe_retention`.
pub async fn dedupe(make: &MakeStore) {
    let retention = Duration::from_millis(300);
    let store = make(StoreConfig {
        dedupe_retention: retention,
        ..StoreConfig::default()
    });
    let store = store.as_ref();
    let mut request = push("hello", "refs/heads/main", "c1", "c0");
    request.dedupe_key = Some("github:abc".to_owned());
    let job = queued_job(enqueued(store, request.clone()).await);
    let claimed = must_claim(store, "w").await;
    store
        .complete(&claimed.lease, Completion::succeeded())
        .await
        .expect("complete");
    match enqueued(store, request.clone()).await {
        EnqueueOutcome::Duplicate(id) => assert_eq!(id, job.id),
        other => {
            panic!("a redelivery must be a Duplicate even after the job finished, got {other:?}")
        }
    }
    tokio::time::sleep(retention + Duration::from_millis(50)).await;
    match enqueued(store, request).await {
        EnqueueOutcome::Queued(newer) => assert_ne!(newer.id, job.id),
        other => panic!("an expired dedupe key must not match, got {other:?}"),
    }
}

/// A retryable failure requeues with `not_before` within the backoff bound and keeps the
/// error; a non-retryable one fails at once.
pub async fn retries_with_backoff(make: &MakeStore) {
    let config = StoreConfig {
        backoff_base: Duration::from_secs(3600),
        backoff_max: Duration::from_secs(7200),
        ..StoreConfig::default()
    };
    let store = make(config.clone());
    let store = store.as_ref();
    let job = queued_job(enqueued(store, push("hello", "refs/heads/main", "c1", "c0")).await);
    let claimed = must_claim(store, "w").await;
    assert_eq!(claimed.job.id, job.id);
    let before_fail = SystemTime::now();
    let retried = store
        .complete(
            &claimed.lease,
            Completion::Failed {
                error: "git fetch: connection reset".to_owned(),
                retryable: true,
            },
        )
        .await
        .expect("complete");
    assert_eq!(
        retried.state,
        JobState::Queued,
        "retryable failure is queued again"
    );
    assert_eq!(retried.attempts, 1, "attempts are kept");
    assert_eq!(
        retried.error.as_deref(),
        Some("git fetch: connection reset")
    );
    let not_before = retried.not_before.expect("a retry has a not_before");
    let latest = SystemTime::now() + config.backoff_base;
    assert!(
        not_before >= before_fail - Duration::from_secs(1) && not_before <= latest,
        "not_before {not_before:?} must be within the first backoff bound"
    );
    // Unless the jitter drew zero, the job waits; either way nothing else is claimable.
    if not_before > SystemTime::now() + Duration::from_secs(1) {
        claims_nothing(store, "the retry waits for its not_before").await;
    }

    let other = queued_job(enqueued(store, push("hello", "refs/heads/dev", "d1", "d0")).await);
    let claimed = must_claim(store, "w").await;
    assert_eq!(claimed.job.id, other.id);
    let failed = store
        .complete(
            &claimed.lease,
            Completion::Failed {
                error: "no such commit".to_owned(),
                retryable: false,
            },
        )
        .await
        .expect("complete");
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error.as_deref(), Some("no such commit"));
    assert!(failed.finished_at.is_some());
}

/// Retries stop at `max_attempts`: the job fails with the last error kept.
pub async fn retries_run_out(make: &MakeStore) {
    let store = make(StoreConfig {
        max_attempts: 3,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        ..StoreConfig::default()
    });
    let store = store.as_ref();
    let job = queued_job(enqueued(store, push("hello", "refs/heads/main", "c1", "c0")).await);
    let mut last = None;
    for attempt in 1..=3u32 {
        let claimed = within("waiting for a retry", store.next("w"))
            .await
            .expect("next");
        assert_eq!(claimed.job.id, job.id);
        assert_eq!(claimed.job.attempts, attempt);
        let error = format!("attempt {attempt} failed");
        last = Some(
            store
                .complete(
                    &claimed.lease,
                    Completion::Failed {
                        error,
                        retryable: true,
                    },
                )
                .await
                .expect("complete"),
        );
    }
    let last = last.expect("three attempts ran");
    assert_eq!(last.state, JobState::Failed, "out of attempts");
    assert_eq!(last.attempts, 3);
    assert_eq!(
        last.error.as_deref(),
        Some("attempt 3 failed"),
        "the last error is kept"
    );
}

/// A store whose leases last 100 ms, with one job queued and claimed by `holder`.
async fn claimed_on_a_short_lease(
    make: &MakeStore,
    holder: &str,
) -> (Box<dyn JobStore>, Job, Claimed) {
    let store = make(StoreConfig {
        lease: Duration::from_millis(100),
        ..StoreConfig::default()
    });
    let job =
        queued_job(enqueued(store.as_ref(), push("hello", "refs/heads/main", "c1", "c0")).await);
    let claimed = must_claim(store.as_ref(), holder).await;
    (store, job, claimed)
}

/// A running job whose lease runs out is handed to the next claimer (attempts kept and
/// counted), and the hung worker's token flips.
pub async fn lease_expiry(make: &MakeStore) {
    let (store, job, hung) = claimed_on_a_short_lease(make, "hung-worker").await;
    let store = store.as_ref();
    store
        .heartbeat(&hung.lease, Progress::default())
        .await
        .expect("heartbeat while leased");
    let rescued = within("waiting for the lease to expire", store.next("rescuer"))
        .await
        .expect("next");
    assert_eq!(rescued.job.id, job.id, "the expired job is claimed again");
    assert_eq!(rescued.job.attempts, 2, "the hung attempt counts");
    assert!(hung.cancel.is_cancelled(), "the hung worker's token flips");
    assert!(!rescued.cancel.is_cancelled());
    store
        .complete(&rescued.lease, Completion::succeeded())
        .await
        .expect("complete");
}

/// A worker whose lease expired and whose job was claimed again is fenced off: its
/// heartbeat, completion and complete-and-claim fail with [`Error::LeaseLost`] and leave the
/// job as the new holder has it; every claim has a lease of its own.
pub async fn fencing(make: &MakeStore) {
    let (store, job, paused) = claimed_on_a_short_lease(make, "paused-worker").await;
    let store = store.as_ref();
    assert_eq!(paused.lease.job, job.id);
    let taken_over = within("waiting for the lease to expire", store.next("rescuer"))
        .await
        .expect("next");
    assert_eq!(
        taken_over.job.id, job.id,
        "the expired job is claimed again"
    );
    assert_ne!(
        taken_over.lease.token, paused.lease.token,
        "every claim gets a fresh lease token"
    );
    let progress = Progress {
        files_seen: 3,
        ..Progress::default()
    };
    store
        .heartbeat(&taken_over.lease, progress)
        .await
        .expect("the new holder's heartbeat");
    let before = must_get(store, &job.id).await;

    let lost = |what: &str, result: Result<(), Error>| match result {
        Err(Error::LeaseLost { id }) => assert_eq!(id, job.id),
        other => panic!(
            "{what} with a lease that was taken over must fail with LeaseLost, got {other:?}"
        ),
    };
    let stale_progress = Progress {
        files_seen: 99,
        ..Progress::default()
    };
    lost(
        "a heartbeat",
        store.heartbeat(&paused.lease, stale_progress).await,
    );
    lost(
        "a completion",
        store
            .complete(&paused.lease, Completion::succeeded())
            .await
            .map(|_| ()),
    );
    lost(
        "a failure",
        store
            .complete(
                &paused.lease,
                Completion::Failed {
                    error: "stale".to_owned(),
                    retryable: false,
                },
            )
            .await
            .map(|_| ()),
    );
    lost(
        "complete_and_claim",
        store
            .complete_and_claim(&paused.lease, Completion::Released, "paused-worker")
            .await
            .map(|_| ()),
    );
    assert_eq!(
        must_get(store, &job.id).await,
        before,
        "a lost lease changes nothing"
    );
    let done = store
        .complete(&taken_over.lease, Completion::succeeded())
        .await
        .expect("the new holder completes");
    assert_eq!((done.state, done.attempts), (JobState::Succeeded, 2));
    assert_eq!(done.progress, progress);
}

/// A cancelled queued job never runs.
pub async fn cancel_queued(make: &MakeStore) {
    let store = make(StoreConfig::default());
    let store = store.as_ref();
    let job = queued_job(enqueued(store, push("hello", "refs/heads/main", "c1", "c0")).await);
    let cancelled = store
        .cancel(&job.id)
        .await
        .expect("cancel")
        .expect("job exists");
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert!(cancelled.finished_at.is_some());
    claims_nothing(store, "a cancelled job never runs").await;
    // The key is free again: a new request makes a new job.
    let next = queued_job(enqueued(store, push("hello", "refs/heads/main", "c2", "c1")).await);
    assert_ne!(next.id, job.id);
    let unknown: JobId = "00000000fffffffe".parse().expect("well-formed id");
    assert!(store.cancel(&unknown).await.expect("cancel").is_none());
    assert_eq!(
        store
            .cancel(&job.id)
            .await
            .expect("cancel")
            .map(|j| j.state),
        Some(JobState::Cancelled),
        "cancelling a finished job changes nothing"
    );
}

/// Cancelling a running job flips its token; the worker completes with `Cancelled`.
/// A cancelled job is not retried or released back into the queue.
pub async fn cancel_running(make: &MakeStore) {
    let store = make(StoreConfig::default());
    let store = store.as_ref();
    let job = queued_job(enqueued(store, push("hello", "refs/heads/main", "c1", "c0")).await);
    let claimed = must_claim(store, "w").await;
    let token = claimed.cancel.clone();
    let waiter = tokio::spawn(async move { token.cancelled().await });
    let still_running = store
        .cancel(&job.id)
        .await
        .expect("cancel")
        .expect("job exists");
    assert_eq!(
        still_running.state,
        JobState::Running,
        "the worker decides when to stop"
    );
    within("waiting for the token", waiter)
        .await
        .expect("token task");
    assert!(claimed.cancel.is_cancelled());
    let done = store
        .complete(&claimed.lease, Completion::Cancelled)
        .await
        .expect("complete");
    assert_eq!(done.state, JobState::Cancelled);

    for completion in [
        Completion::Released,
        Completion::Failed {
            error: "stopped".to_owned(),
            retryable: true,
        },
    ] {
        let job = queued_job(enqueued(store, push("hello", "refs/heads/x", "c1", "c0")).await);
        let claimed = must_claim(store, "w").await;
        store.cancel(&job.id).await.expect("cancel");
        let done = store
            .complete(&claimed.lease, completion.clone())
            .await
            .expect("complete");
        assert!(
            done.state.is_finished(),
            "{completion:?} after cancel must not requeue"
        );
    }
    claims_nothing(store, "cancelled jobs are not requeued").await;
}

/// `Released` puts the job back without counting the attempt.
pub async fn release(make: &MakeStore) {
    let store = make(StoreConfig::default());
    let store = store.as_ref();
    let job = queued_job(enqueued(store, push("hello", "refs/heads/main", "c1", "c0")).await);
    let claimed = must_claim(store, "w").await;
    let released = store
        .complete(&claimed.lease, Completion::Released)
        .await
        .expect("complete");
    assert_eq!(released.state, JobState::Queued);
    assert_eq!(released.attempts, 0, "a released attempt is not counted");
    let again = must_claim(store, "w").await;
    assert_eq!((again.job.id, again.job.attempts), (job.id, 1));
}

/// Listing is newest first with state and repo filters and cursor pages; counts match.
pub async fn list_and_counts(make: &MakeStore) {
    let store = make(StoreConfig::default());
    let store = store.as_ref();
    let mut ids = Vec::new();
    for n in 0..7 {
        let repo = if n % 2 == 0 { "even" } else { "odd" };
        let job =
            queued_job(enqueued(store, push(repo, &format!("refs/heads/b{n}"), "c", "b")).await);
        ids.push(job.id);
    }
    let claimed = must_claim(store, "w").await;
    assert_eq!(claimed.job.id, ids[0]);
    store
        .complete(&claimed.lease, Completion::succeeded())
        .await
        .expect("complete");
    must_claim(store, "w").await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .list(&JobFilter::default(), 3, cursor.as_deref())
            .await
            .expect("list");
        assert!(page.jobs.len() <= 3);
        seen.extend(page.jobs.into_iter().map(|j| j.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let newest_first: Vec<JobId> = ids.iter().rev().cloned().collect();
    assert_eq!(
        seen, newest_first,
        "pages cover every job once, newest first"
    );

    let even = store
        .list(
            &JobFilter {
                repo: Some("even".to_owned()),
                state: None,
            },
            100,
            None,
        )
        .await
        .expect("list");
    assert_eq!(even.jobs.len(), 4);
    assert!(even.next_cursor.is_none());
    assert!(even.jobs.iter().all(|j| j.repo == "even"));
    let queued_odd = store
        .list(
            &JobFilter {
                repo: Some("odd".to_owned()),
                state: Some(JobState::Queued),
            },
            100,
            None,
        )
        .await
        .expect("list");
    assert_eq!(
        queued_odd.jobs.len(),
        2,
        "ids[1] runs; ids[3] and ids[5] are queued"
    );
    assert!(
        store
            .list(&JobFilter::default(), 10, Some("not a cursor"))
            .await
            .is_err()
    );

    let counts = store.counts().await.expect("counts");
    assert_eq!((counts.queued, counts.running, counts.succeeded), (5, 1, 1));
    assert_eq!(counts.total(), 7);
    for state in JobState::ALL {
        assert_eq!(
            state.as_str().parse::<JobState>().expect("state parses"),
            state
        );
    }
    assert!("done".parse::<JobState>().is_err());
}

/// Cleanup drops finished jobs older than the given age and expired delivery keys, and
/// leaves queued and running jobs alone.
pub async fn cleanup(make: &MakeStore) {
    let store = make(StoreConfig {
        dedupe_retention: Duration::from_millis(200),
        ..StoreConfig::default()
    });
    let store = store.as_ref();
    let mut finished = Vec::new();
    for n in 0..4 {
        let mut request = push("hello", &format!("refs/heads/b{n}"), "c", "b");
        request.dedupe_key = Some(format!("delivery-{n}"));
        let job = queued_job(enqueued(store, request).await);
        let claimed = must_claim(store, "w").await;
        store
            .complete(&claimed.lease, Completion::succeeded())
            .await
            .expect("complete");
        finished.push(job.id);
    }
    let queued = queued_job(enqueued(store, push("hello", "refs/heads/q", "c", "b")).await);
    let running = queued_job(enqueued(store, push("hello", "refs/heads/r", "c", "b")).await);
    let claimed = must_claim(store, "w").await;
    assert_eq!(claimed.job.id, queued.id);
    let _ = running;

    assert_eq!(
        store
            .cleanup(Duration::from_secs(3600))
            .await
            .expect("cleanup"),
        0,
        "nothing is an hour old"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(store.cleanup(Duration::ZERO).await.expect("cleanup"), 4);
    for id in &finished {
        assert!(
            store.get(id).await.expect("get").is_none(),
            "job {id} was cleaned up"
        );
    }
    let counts = store.counts().await.expect("counts");
    assert_eq!((counts.queued, counts.running, counts.succeeded), (1, 1, 0));
    let mut redelivery = push("hello", "refs/heads/b0", "c", "b");
    redelivery.dedupe_key = Some("delivery-0".to_owned());
    assert!(
        matches!(enqueued(store, redelivery).await, EnqueueOutcome::Queued(_)),
        "expired delivery keys are dropped"
    );
}

/// `next` wakes on enqueue, on completion of a job whose key has a waiting follow-up, and at
/// a retry's `not_before`.
pub async fn next_waits_for_work(make: &MakeStore) {
    let store: Arc<dyn JobStore> = Arc::from(make(StoreConfig {
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(50),
        ..StoreConfig::default()
    }));
    let waiting = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.next("waiter").await })
    };
    tokio::task::yield_now().await;
    let job =
        queued_job(enqueued(store.as_ref(), push("hello", "refs/heads/main", "c1", "c0")).await);
    let claimed = within("next after enqueue", waiting)
        .await
        .expect("task")
        .expect("next");
    assert_eq!(claimed.job.id, job.id);

    let follow_up =
        queued_job(enqueued(store.as_ref(), push("hello", "refs/heads/main", "c2", "c1")).await);
    let waiting = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.next("waiter").await })
    };
    tokio::task::yield_now().await;
    store
        .complete(&claimed.lease, Completion::succeeded())
        .await
        .expect("complete");
    let claimed = within("next after the key is freed", waiting)
        .await
        .expect("task")
        .expect("next");
    assert_eq!(claimed.job.id, follow_up.id);

    store
        .complete(
            &claimed.lease,
            Completion::Failed {
                error: "flaky".to_owned(),
                retryable: true,
            },
        )
        .await
        .expect("complete");
    let claimed = within("next at not_before", store.next("waiter"))
        .await
        .expect("next");
    assert_eq!((claimed.job.id, claimed.job.attempts), (follow_up.id, 2));
}

/// Several producers and consumers on one store: every request's job runs, no key runs
/// twice at once, and bursts coalesce.
pub async fn producers_and_consumers(make: &MakeStore) {
    const PRODUCERS: usize = 6;
    const CONSUMERS: usize = 4;
    const PER_PRODUCER: usize = 60;
    const KEYS: usize = 5;
    let store: Arc<dyn JobStore> = Arc::from(make(StoreConfig::default()));
    let running_keys: Arc<Mutex<HashSet<String>>> = Arc::default();
    let accepted: Arc<Mutex<HashSet<JobId>>> = Arc::default();

    let mut consumers = Vec::new();
    for c in 0..CONSUMERS {
        let store = Arc::clone(&store);
        let running_keys = Arc::clone(&running_keys);
        consumers.push(tokio::spawn(async move {
            let worker = format!("consumer-{c}");
            let mut ran = Vec::new();
            loop {
                let claimed = store.next(&worker).await.expect("next");
                if claimed.job.repo == "stop" {
                    store
                        .complete(&claimed.lease, Completion::succeeded())
                        .await
                        .expect("complete");
                    return ran;
                }
                let key = format!("{}@{}", claimed.job.repo, claimed.job.git_ref);
                assert!(
                    running_keys.lock().expect("lock").insert(key.clone()),
                    "key {key} is running twice at once"
                );
                // Work long enough for follow-ups to queue up and fold.
                tokio::time::sleep(Duration::from_millis(2)).await;
                running_keys.lock().expect("lock").remove(&key);
                store
                    .complete(&claimed.lease, Completion::succeeded())
                    .await
                    .expect("complete");
                ran.push(claimed.job.id);
            }
        }));
    }

    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let store = Arc::clone(&store);
        let accepted = Arc::clone(&accepted);
        producers.push(tokio::spawn(async move {
            for n in 0..PER_PRODUCER {
                let key = (p + n) % KEYS;
                let mut request = push(
                    &format!("repo{key}"),
                    "refs/heads/main",
                    &format!("p{p}n{n}"),
                    "b",
                );
                request.dedupe_key = Some(format!("p{p}-n{n}"));
                let outcome = store.enqueue(request).await.expect("enqueue");
                assert!(
                    !matches!(outcome, EnqueueOutcome::Duplicate(_)),
                    "keys are distinct"
                );
                accepted
                    .lock()
                    .expect("lock")
                    .insert(outcome.job_id().clone());
            }
        }));
    }
    for producer in producers {
        within("producers", producer).await.expect("producer");
    }
    // One stop job per consumer, on distinct keys so none folds into another.
    for c in 0..CONSUMERS {
        let mut stop = NewJob::index("stop", format!("refs/heads/{c}"), Trigger::Test);
        stop.full = true;
        store.enqueue(stop).await.expect("enqueue stop");
    }
    let mut ran: HashMap<JobId, usize> = HashMap::new();
    for consumer in consumers {
        for id in within("consumers", consumer).await.expect("consumer") {
            *ran.entry(id).or_default() += 1;
        }
    }
    let accepted = accepted.lock().expect("lock").clone();
    for id in &accepted {
        assert_eq!(
            ran.get(id),
            Some(&1),
            "accepted job {id} must run exactly once"
        );
        assert_eq!(
            must_get(store.as_ref(), id).await.state,
            JobState::Succeeded
        );
    }
    assert_eq!(
        ran.len(),
        accepted.len(),
        "nothing ran that was not accepted"
    );
    assert!(
        accepted.len() < PRODUCERS * PER_PRODUCER,
        "{} requests on {KEYS} keys must coalesce, made {} jobs",
        PRODUCERS * PER_PRODUCER,
        accepted.len()
    );
    let counts = store.counts().await.expect("counts");
    assert_eq!((counts.queued, counts.running), (0, 0));
}

/// `complete_and_claim` ends the attempt exactly like `complete` and then claims like
/// `claim`: the key's follow-up freed by the completion can be the job it hands back, it
/// claims nothing when nothing is claimable, and a failed completion claims nothing.
pub async fn complete_and_claim(make: &MakeStore) {
    let store = make(StoreConfig::default());
    let store = store.as_ref();
    let first = queued_job(enqueued(store, push("a", "refs/heads/main", "c1", "c0")).await);
    let claimed = must_claim(store, "w").await;
    assert_eq!(claimed.job.id, first.id);
    // A follow-up for the running key, then a job for another key.
    let follow_up = enqueued(store, push("a", "refs/heads/main", "c2", "c1")).await;
    let other = queued_job(enqueued(store, push("b", "refs/heads/main", "c1", "c0")).await);

    let (done, next) = store
        .complete_and_claim(&claimed.lease, Completion::succeeded(), "w")
        .await
        .expect("complete_and_claim");
    assert_eq!(
        (done.id.clone(), done.state),
        (first.id.clone(), JobState::Succeeded)
    );
    assert!(done.finished_at.is_some());
    assert_eq!(must_get(store, &first.id).await.state, JobState::Succeeded);
    let next = next.expect("two claimable jobs were waiting");
    assert_eq!(
        &next.job.id,
        follow_up.job_id(),
        "the completion frees its key, and the follow-up is the oldest claimable job"
    );
    assert_eq!((next.job.state, next.job.attempts), (JobState::Running, 1));
    assert_eq!(next.job.commit.as_deref(), Some("c2"));
    assert!(!next.cancel.is_cancelled());

    let (failed, next) = store
        .complete_and_claim(
            &next.lease,
            Completion::Failed {
                error: "bad tree".to_owned(),
                retryable: false,
            },
            "w",
        )
        .await
        .expect("complete_and_claim");
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error.as_deref(), Some("bad tree"));
    let next = next.expect("the job of key b is claimable");
    assert_eq!(next.job.id, other.id);

    // Nothing claimable: the completion still happens, the claim is `None`.
    let (done, none) = store
        .complete_and_claim(&next.lease, Completion::succeeded(), "w")
        .await
        .expect("complete_and_claim");
    assert_eq!(done.state, JobState::Succeeded);
    assert!(none.is_none(), "nothing was claimable, got {none:?}");

    // A completion that fails claims nothing, even with work waiting.
    let waiting = queued_job(enqueued(store, push("c", "refs/heads/main", "c1", "c0")).await);
    match store
        .complete_and_claim(&next.lease, Completion::succeeded(), "w")
        .await
    {
        Err(Error::NotRunning { state, .. }) => assert_eq!(state, JobState::Succeeded),
        other => panic!("completing a finished job must fail with NotRunning, got {other:?}"),
    }
    assert_eq!(
        must_get(store, &waiting.id).await.state,
        JobState::Queued,
        "a failed completion must not claim"
    );
    let counts = store.counts().await.expect("counts");
    assert_eq!(
        (
            counts.running,
            counts.succeeded,
            counts.failed,
            counts.queued
        ),
        (0, 2, 1, 1)
    );
}

/// A job that fetches another ref than it indexes keeps that ref through folding (the
/// newest request's wins) and its whole life; jobs without one have none.
pub async fn fetch_ref_is_kept_and_folded(make: &MakeStore) {
    let store = make(StoreConfig::default());
    let store = store.as_ref();
    let pr = |fetch: &str| {
        let mut job = NewJob::index("r", "refs/pull-requests/5/from", Trigger::Webhook);
        job.fetch_ref = Some(fetch.to_owned());
        job
    };
    let first = queued_job(enqueued(store, pr("refs/heads/feature")).await);
    assert_eq!(first.fetch_ref.as_deref(), Some("refs/heads/feature"));
    match enqueued(store, pr("refs/heads/feature-renamed")).await {
        EnqueueOutcome::Coalesced(job) => {
            assert_eq!(job.id, first.id);
            assert_eq!(job.fetch_ref.as_deref(), Some("refs/heads/feature-renamed"));
        }
        other => panic!("expected the request folded, got {other:?}"),
    }
    let claimed = must_claim(store, "w").await;
    assert_eq!(
        claimed.job.fetch_ref.as_deref(),
        Some("refs/heads/feature-renamed")
    );
    let done = store
        .complete(&claimed.lease, Completion::succeeded())
        .await
        .expect("complete");
    assert_eq!(
        done.fetch_ref.as_deref(),
        Some("refs/heads/feature-renamed")
    );
    assert_eq!(must_get(store, &done.id).await, done);
    let plain = queued_job(enqueued(store, push("r", "refs/heads/main", "c1", "c0")).await);
    assert_eq!(plain.fetch_ref, None);
}

/// A success may name the commit the worker actually indexed and leave a note: the job then
/// shows that commit instead of the requested one, and the note. Without them the job keeps
/// its requested commit and has no note; other outcomes never set a note.
pub async fn success_records_commit_and_note(make: &MakeStore) {
    let store = make(StoreConfig::default());
    let store = store.as_ref();

    // The payload said c1; the ref's real tip was c3.
    let id = queued_job(enqueued(store, push("r", "refs/heads/main", "c1", "c0")).await).id;
    let claimed = must_claim(store, "w").await;
    assert_eq!(claimed.job.id, id);
    let indexed = Completion::Succeeded {
        commit: Some("c3".to_owned()),
        note: None,
    };
    let done = store
        .complete(&claimed.lease, indexed)
        .await
        .expect("complete");
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(
        done.commit.as_deref(),
        Some("c3"),
        "the commit actually indexed"
    );
    assert_eq!(
        done.before.as_deref(),
        Some("c0"),
        "the request's before stays"
    );
    assert_eq!(done.note, None);
    assert_eq!(must_get(store, &id).await, done);

    // A late delivery for an older commit: nothing to index, said in a note.
    let id = queued_job(enqueued(store, push("r", "refs/heads/main", "c2", "c1")).await).id;
    let claimed = must_claim(store, "w").await;
    let nothing = Completion::Succeeded {
        commit: Some("c3".to_owned()),
        note: Some("already at c3: nothing to index".to_owned()),
    };
    let (done, next) = store
        .complete_and_claim(&claimed.lease, nothing, "w")
        .await
        .expect("complete_and_claim");
    assert!(next.is_none());
    assert_eq!(done.commit.as_deref(), Some("c3"));
    assert_eq!(
        done.note.as_deref(),
        Some("already at c3: nothing to index")
    );
    assert_eq!(must_get(store, &id).await, done);

    // Plain success: the requested commit stays, no note.
    let id = queued_job(enqueued(store, push("r", "refs/heads/dev", "d1", "d0")).await).id;
    let claimed = must_claim(store, "w").await;
    assert_eq!(claimed.job.id, id);
    let done = store
        .complete(&claimed.lease, Completion::succeeded())
        .await
        .expect("complete");
    assert_eq!(
        (done.commit.as_deref(), done.note.as_deref()),
        (Some("d1"), None)
    );

    // A request without a commit ("the tip when it runs") learns which one that was.
    let id =
        queued_job(enqueued(store, NewJob::index("r", "refs/heads/tip", Trigger::Manual)).await).id;
    let claimed = must_claim(store, "w").await;
    assert_eq!(claimed.job.id, id);
    let done = store
        .complete(
            &claimed.lease,
            Completion::Succeeded {
                commit: Some("t9".to_owned()),
                note: None,
            },
        )
        .await
        .expect("complete");
    assert_eq!(done.commit.as_deref(), Some("t9"));

    // Failures carry errors, not notes.
    let id = queued_job(enqueued(store, push("r", "refs/heads/x", "x1", "x0")).await).id;
    let claimed = must_claim(store, "w").await;
    assert_eq!(claimed.job.id, id);
    let failed = Completion::Failed {
        error: "boom".to_owned(),
        retryable: false,
    };
    let done = store
        .complete(&claimed.lease, failed)
        .await
        .expect("complete");
    assert_eq!((done.state, done.note), (JobState::Failed, None));
    assert_eq!(done.commit.as_deref(), Some("x1"));
}

/// `pending` lists each (repo, ref) with a queued or running job, with the creation time of the
/// oldest of them and of the queued one; a ref whose jobs all finished is not listed.
pub async fn pending_refs(make: &MakeStore) {
    let store = make(StoreConfig::default());
    let store = store.as_ref();
    assert!(store.pending().await.expect("pending").is_empty());
    let first = queued_job(enqueued(store, push("hello", "refs/heads/main", "c1", "c0")).await);
    let other = queued_job(enqueued(store, push("hello", "refs/heads/dev", "d1", "d0")).await);
    let running = must_claim(store, "w1").await;
    assert_eq!(running.job.id, first.id);
    let follow_up = queued_job(enqueued(store, push("hello", "refs/heads/main", "c2", "c1")).await);
    let mut pending = store.pending().await.expect("pending");
    pending.sort_by(|a, b| a.git_ref.cmp(&b.git_ref));
    let want = vec![
        crate::PendingRef {
            repo: "hello".into(),
            git_ref: "refs/heads/dev".into(),
            since: other.created_at,
            queued_since: Some(other.created_at),
        },
        crate::PendingRef {
            repo: "hello".into(),
            git_ref: "refs/heads/main".into(),
            since: first.created_at,
            queued_since: Some(follow_up.created_at),
        },
    ];
    assert_eq!(pending, want);
    store
        .complete(&running.lease, Completion::succeeded())
        .await
        .expect("complete");
    let dev = must_claim(store, "w1").await;
    store
        .complete(&dev.lease, Completion::succeeded())
        .await
        .expect("complete");
    let main = must_claim(store, "w1").await;
    store
        .complete(&main.lease, Completion::succeeded())
        .await
        .expect("complete");
    assert!(
        store.pending().await.expect("pending").is_empty(),
        "every job finished"
    );
}
