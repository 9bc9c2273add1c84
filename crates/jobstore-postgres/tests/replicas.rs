//! What the conformance suite cannot check through one store: durability across reopen,
//! several stores on one schema acting as replicas, migrations and errors.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jobstore::{Completion, EnqueueOutcome, JobState, JobStore, NewJob, StoreConfig, Trigger};
use jobstore_postgres::{PgError, PgJobStore, PgOptions, SCHEMA_VERSION};
use pg_schema::SetupError;
use support::{JobStores, PATIENCE, Schemas};

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: still waiting after {PATIENCE:?}"))
}

fn push(repo: &str, git_ref: &str, commit: &str) -> NewJob {
    NewJob {
        commit: Some(commit.to_owned()),
        ..NewJob::index(repo, git_ref, Trigger::Webhook)
    }
}

/// Options whose polling fallback never fires within a test: only a NOTIFY wakes a waiter.
fn notify_only() -> PgOptions {
    PgOptions {
        poll_every: Duration::from_secs(600),
        ..PgOptions::default()
    }
}

/// Schemas for test `name` of this suite (`tag` starts their names) and the first of them,
/// or `None` when the suite is left out.
async fn one_schema(name: &str, tag: &str) -> Option<(Schemas, String)> {
    let schemas = support::schemas(&format!("jobstore-postgres replicas::{name}"), tag).await?;
    let schema = schemas.fresh();
    Some((schemas, schema))
}

/// The default store configuration with leases of `ms` milliseconds.
fn lease_of(ms: u64) -> StoreConfig {
    StoreConfig {
        lease: Duration::from_millis(ms),
        ..StoreConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_across_reopen() {
    let Some((schemas, schema)) = one_schema("reopen", "reopen").await else {
        return;
    };
    let config = lease_of(300);
    let store = schemas.open(&schema, config.clone()).await;
    let mut ids = Vec::new();
    for n in 0..40 {
        let mut request = push("r", &format!("refs/heads/b{n}"), "c1");
        request.dedupe_key = Some(format!("delivery-{n}"));
        ids.push(
            store
                .enqueue(request)
                .await
                .expect("enqueue")
                .job_id()
                .clone(),
        );
    }
    let done = store.claim("w").await.expect("claim").expect("a job");
    store
        .complete(&done.lease, Completion::succeeded())
        .await
        .expect("complete");
    let left_running = store.claim("w").await.expect("claim").expect("a job");
    let counts = store.counts().await.expect("counts");
    drop(store);

    let reopened = schemas.open(&schema, config).await;
    assert_eq!(reopened.counts().await.expect("counts"), counts);
    for id in &ids {
        assert!(
            reopened.get(id).await.expect("get").is_some(),
            "job {id} lost"
        );
    }
    let done_again = reopened.get(&done.job.id).await.expect("get").expect("job");
    assert_eq!(done_again.state, JobState::Succeeded);
    let mut redelivery = push("r", "refs/heads/b0", "c1");
    redelivery.dedupe_key = Some("delivery-0".to_owned());
    match reopened.enqueue(redelivery).await.expect("enqueue") {
        EnqueueOutcome::Duplicate(id) => assert_eq!(id, ids[0]),
        other => panic!("a redelivery after reopen must be a Duplicate, got {other:?}"),
    }
    // The job left running by the dropped store is handed out again once its lease ran out.
    let mut rescued = Vec::new();
    while rescued.len() < ids.len() - 1 {
        let claimed = within("claiming every job", reopened.next("w2"))
            .await
            .expect("next");
        rescued.push(claimed.job.id.clone());
        if claimed.job.id == left_running.job.id {
            assert_eq!(claimed.job.attempts, 2, "the interrupted attempt counts");
        }
        reopened
            .complete(&claimed.lease, Completion::succeeded())
            .await
            .expect("complete");
    }
    assert!(rescued.contains(&left_running.job.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_never_run_two_jobs_of_one_key() {
    let Some((schemas, schema)) = one_schema("exclusivity", "exclusive").await else {
        return;
    };
    let replicas: Vec<Arc<PgJobStore>> = vec![
        Arc::new(schemas.open(&schema, StoreConfig::default()).await),
        Arc::new(schemas.open(&schema, StoreConfig::default()).await),
    ];
    const KEYS: usize = 4;
    const PUSHES: usize = 60;
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    let produced = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for (r, store) in replicas.iter().enumerate() {
        for w in 0..3 {
            let (store, running, produced) = (
                Arc::clone(store),
                Arc::clone(&running),
                Arc::clone(&produced),
            );
            workers.push(tokio::spawn(async move {
                let name = format!("replica{r}-worker{w}");
                let mut ran = 0u32;
                loop {
                    let Some(claimed) = store.claim(&name).await.expect("claim") else {
                        let counts = store.counts().await.expect("counts");
                        if produced.load(Ordering::Acquire) && counts.queued + counts.running == 0 {
                            return ran;
                        }
                        tokio::task::yield_now().await;
                        continue;
                    };
                    let key = claimed.job.git_ref.clone();
                    assert!(
                        running.lock().expect("set").insert(key.clone()),
                        "two jobs of {key} ran at once"
                    );
                    tokio::task::yield_now().await;
                    running.lock().expect("set").remove(&key);
                    store
                        .complete(&claimed.lease, Completion::succeeded())
                        .await
                        .expect("complete");
                    ran += 1;
                }
            }));
        }
    }
    for n in 0..PUSHES {
        let store = &replicas[n % 2];
        store
            .enqueue(push(
                "r",
                &format!("refs/heads/k{}", n % KEYS),
                &format!("c{n}"),
            ))
            .await
            .expect("enqueue");
    }
    produced.store(true, Ordering::Release);
    let mut ran = 0;
    for worker in workers {
        ran += within("workers draining the queue", worker)
            .await
            .expect("worker");
    }
    let counts = replicas[0].counts().await.expect("counts");
    assert_eq!(counts.succeeded, u64::from(ran));
    assert_eq!(counts.queued + counts.running, 0);
    assert!(ran >= KEYS as u32, "every key ran at least once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_on_one_replica_wakes_a_worker_on_another() {
    let Some((schemas, schema)) = one_schema("wake", "wake").await else {
        return;
    };
    let producer = schemas
        .open_with(&schema, StoreConfig::default(), notify_only())
        .await;
    let consumer = Arc::new(
        schemas
            .open_with(&schema, StoreConfig::default(), notify_only())
            .await,
    );
    let waiting = {
        let consumer = Arc::clone(&consumer);
        tokio::spawn(async move { consumer.next("far-worker").await })
    };
    // Give the consumer time to find the queue empty and sleep (it would not poll for ten
    // minutes); the result does not depend on it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let job = producer
        .enqueue(push("r", "refs/heads/main", "c1"))
        .await
        .expect("enqueue");
    let claimed = within("the NOTIFY reaching the other replica", waiting)
        .await
        .expect("task")
        .expect("next");
    assert_eq!(&claimed.job.id, job.job_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_on_one_replica_reaches_the_worker_on_another() {
    let Some((schemas, schema)) = one_schema("cancel", "cancel").await else {
        return;
    };
    let api = schemas
        .open_with(&schema, StoreConfig::default(), notify_only())
        .await;
    let worker = schemas
        .open_with(&schema, StoreConfig::default(), notify_only())
        .await;
    api.enqueue(push("r", "refs/heads/main", "c1"))
        .await
        .expect("enqueue");
    let claimed = worker.claim("w").await.expect("claim").expect("a job");
    let job = api
        .cancel(&claimed.job.id)
        .await
        .expect("cancel")
        .expect("job");
    assert_eq!(
        job.state,
        JobState::Running,
        "the worker decides when to stop"
    );
    // No heartbeat is sent: only the NOTIFY can flip the token.
    within(
        "the cancel reaching the other replica",
        claimed.cancel.cancelled(),
    )
    .await;
    let done = worker
        .complete(&claimed.lease, Completion::Cancelled)
        .await
        .expect("complete");
    assert_eq!(done.state, JobState::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_over_lease_is_refused_across_replicas() {
    let Some((schemas, schema)) = one_schema("fencing", "fence").await else {
        return;
    };
    let config = lease_of(100);
    let paused = schemas.open(&schema, config.clone()).await;
    let rescuer = schemas.open(&schema, config).await;
    paused
        .enqueue(push("r", "refs/heads/main", "c1"))
        .await
        .expect("enqueue");
    let old = paused.claim("paused").await.expect("claim").expect("a job");
    let new = within("the lease expiring", rescuer.next("rescuer"))
        .await
        .expect("next");
    assert_eq!(new.job.id, old.job.id);
    within(
        "the take-over reaching the paused worker",
        old.cancel.cancelled(),
    )
    .await;
    match paused.complete(&old.lease, Completion::succeeded()).await {
        Err(jobstore::Error::LeaseLost { id }) => assert_eq!(id, old.job.id),
        other => panic!("a taken-over lease must be refused, got {other:?}"),
    }
    let job = rescuer.get(&new.job.id).await.expect("get").expect("job");
    assert_eq!((job.state, job.attempts), (JobState::Running, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once() {
    let Some(schemas) =
        support::schemas("jobstore-postgres replicas::migration_lock", "migrate").await
    else {
        return;
    };
    let schemas = Arc::new(schemas);
    let schema = schemas.fresh();
    let starting: Vec<_> = (0..4)
        .map(|_| {
            let (schemas, schema) = (Arc::clone(&schemas), schema.clone());
            tokio::spawn(async move { schemas.open(&schema, StoreConfig::default()).await })
        })
        .collect();
    let mut stores = Vec::new();
    for start in starting {
        stores.push(within("replicas starting", start).await.expect("start"));
    }
    let client = schemas.client().await;
    let versions: Vec<i32> = client
        .query(
            &format!("SELECT version FROM \"{schema}\".schema_version ORDER BY version"),
            &[],
        )
        .await
        .expect("versions")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    drop(stores);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let Some((schemas, schema)) = one_schema("newer_schema", "newer").await else {
        return;
    };
    drop(schemas.open(&schema, StoreConfig::default()).await);
    let newer = SCHEMA_VERSION + 1;
    schemas
        .client()
        .await
        .execute(
            &format!("INSERT INTO \"{schema}\".schema_version (version) VALUES ($1)"),
            &[&newer],
        )
        .await
        .expect("pretend a newer release migrated");
    let options = PgOptions {
        schema: schema.clone(),
        ..PgOptions::default()
    };
    match PgJobStore::connect(schemas.url(), options, StoreConfig::default()).await {
        Err(
            error @ PgError::Setup(SetupError::NewerSchema {
                found, supports, ..
            }),
        ) => {
            assert_eq!((found, supports), (newer, SCHEMA_VERSION));
            assert!(!error.is_transient());
            assert!(
                error
                    .to_string()
                    .contains("run the release that migrated it")
            );
        }
        other => panic!("a newer schema must be refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_reach_errors() {
    let secret = "hunter2-not-for-logs";
    // Nothing listens on port 1: the connection is refused.
    let refused = format!("host=127.0.0.1 port=1 user=postgres password={secret} dbname=test");
    let error = PgJobStore::connect(&refused, PgOptions::default(), StoreConfig::default())
        .await
        .expect_err("nothing listens on port 1");
    assert!(
        error.is_transient(),
        "a refused connection is worth retrying: {error}"
    );
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(secret), "the password leaked: {text}");
    }
    let malformed = format!("host=127.0.0.1 password='{secret}");
    let error = PgJobStore::connect(&malformed, PgOptions::default(), StoreConfig::default())
        .await
        .expect_err("an unterminated quote");
    assert!(matches!(error, PgError::Setup(SetupError::InvalidUrl)));
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(secret), "the password leaked: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_reconnects_and_wakes_waiters() {
    let Some((schemas, schema)) = one_schema("reconnect", "reconnect").await else {
        return;
    };
    let consumer = Arc::new(
        schemas
            .open_with(&schema, StoreConfig::default(), notify_only())
            .await,
    );
    let client = schemas.client().await;
    let killed = client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE pid <> pg_backend_pid() AND query LIKE 'LISTEN%' AND query LIKE $1",
            &[&format!("%{schema}_jobs_wake%")],
        )
        .await
        .expect("terminate the listening connection");
    assert_eq!(killed, 1, "the store has one listening connection");
    let waiting = {
        let consumer = Arc::clone(&consumer);
        tokio::spawn(async move { consumer.next("w").await })
    };
    // Enqueued while the listener may be down: its NOTIFY can be lost, the wake-up after the
    // reconnect is not (the consumer would otherwise sleep for ten minutes).
    let producer = schemas.open(&schema, StoreConfig::default()).await;
    let job = producer
        .enqueue(push("r", "refs/heads/main", "c1"))
        .await
        .expect("enqueue");
    let claimed = within("the listener reconnecting", waiting)
        .await
        .expect("task")
        .expect("next");
    assert_eq!(&claimed.job.id, job.job_id());
}
