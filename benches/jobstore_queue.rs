//! Durable enqueue throughput of the sled job store at 1, 16 and 64 concurrent producers,
//! claim+complete throughput (separate calls, and the one-step `complete_and_claim` a worker
//! loop uses), and two references in the same run on the same disk: a plain sled
//! insert+flush loop (what sled alone promises: survives a crash) and the same loop with the
//! `fdatasync` the store adds (survives a power loss), one sync per write.
//!
//! With `CG_POSTGRES_URL` set (e.g. `host=127.0.0.1 port=5432 user=postgres dbname=test`),
//! the same durable enqueue runs against [`jobstore_postgres::PgJobStore`] at 1, 16 and 64
//! concurrent callers, in a schema made for the run and dropped after it.
//!
//! Run: `cargo bench -p gateway-benches --bench jobstore_queue -- --warm-up-time 1 --measurement-time 3`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use jobstore::{Completion, JobStore, MemoryJobStore, NewJob, SledJobStore, StoreConfig, Trigger};

/// Distinct keys across every iteration, so no request folds into another.
static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

fn request() -> NewJob {
    let n = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
    NewJob {
        commit: Some("9fceb02d0ae598e95dc970b74767f19372d61af8".to_owned()),
        before: Some("0000000000000000000000000000000000000000".to_owned()),
        provider: Some("github".to_owned()),
        delivery_id: Some(format!("72d3162e-cc78-11e3-81ab-{n:012}")),
        dedupe_key: Some(format!("github:72d3162e-cc78-11e3-81ab-{n:012}")),
        ..NewJob::index(format!("repo-{n}"), "refs/heads/main", Trigger::Webhook)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs `task(store, i)` for each `i` in `0..n` as concurrent tasks; returns the wall time
/// until all of them are done.
async fn timed_concurrently<Task, Done>(store: &Arc<dyn JobStore>, n: u64, task: Task) -> Duration
where
    Task: Fn(Arc<dyn JobStore>, u64) -> Done,
    Done: std::future::Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| tokio::spawn(task(Arc::clone(store), i)))
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    start.elapsed()
}

/// Runs `total` enqueues split over `producers` concurrent tasks; returns the wall time.
async fn enqueue_concurrently(store: &Arc<dyn JobStore>, producers: u64, total: u64) -> Duration {
    timed_concurrently(store, producers, |store, p| async move {
        let share = total / producers + u64::from(p < total % producers);
        for _ in 0..share {
            store.enqueue(request()).await.expect("enqueue");
        }
    })
    .await
}

/// Durable enqueues from 1, 16 and 64 concurrent producers into `store_for(producers)`.
fn bench_enqueue(
    c: &mut Criterion,
    name: &str,
    rt: &tokio::runtime::Runtime,
    store_for: impl Fn(u64) -> Arc<dyn JobStore>,
) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    for producers in [1u64, 16, 64] {
        let store = store_for(producers);
        group.bench_with_input(
            BenchmarkId::from_parameter(producers),
            &producers,
            |b, &producers| {
                b.iter_custom(|iters| rt.block_on(enqueue_concurrently(&store, producers, iters)));
            },
        );
    }
    group.finish();
}

fn durable_enqueue(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    bench_enqueue(c, "jobstore/durable_enqueue", &rt, |producers| {
        let path = dir.path().join(format!("enqueue-{producers}"));
        Arc::new(SledJobStore::open(&path, StoreConfig::default()).expect("open"))
    });

    // The reference: what one fsync per request costs with sled alone.
    let mut group = c.benchmark_group("jobstore/reference");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    let db = sled::open(dir.path().join("reference")).expect("sled");
    let value = serde_json::to_vec(&serde_json::json!({
        "job": { "repo": "repo-1", "ref": "refs/heads/main", "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
                 "before": "0000000000000000000000000000000000000000", "provider": "github",
                 "delivery_id": "72d3162e-cc78-11e3-81ab-000000000001", "state": "queued",
                 "created_at": "2025-01-01T00:00:00.000000Z", "progress": {"files_seen": 0} }
    }))
    .expect("json");
    group.bench_function("sled_insert_flush_loop", |b| {
        b.iter(|| {
            let n = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
            db.insert(n.to_be_bytes(), value.as_slice())
                .expect("insert");
            db.flush().expect("flush");
        });
    });
    // The same, plus the `fdatasync` of sled's file that the store adds after every flush:
    // the cost of a write that survives a power loss, not only a crash.
    let synced_path = dir.path().join("reference-synced");
    let synced = sled::open(&synced_path).expect("sled");
    let file = std::fs::File::open(synced_path.join("db")).expect("sled's db file");
    group.bench_function("sled_insert_flush_fdatasync_loop", |b| {
        b.iter(|| {
            let n = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
            synced
                .insert(n.to_be_bytes(), value.as_slice())
                .expect("insert");
            synced.flush().expect("flush");
            file.sync_data().expect("fdatasync");
        });
    });
    group.finish();
}

/// How a worker ends one job and gets the next.
#[derive(Clone, Copy)]
enum Loop {
    /// `complete`, then `claim`: two calls, two durable writes.
    Separate,
    /// `complete_and_claim`: one call, one durable write.
    Combined,
}

/// Claims and completes every pre-queued job with `workers` concurrent workers.
async fn drain(store: &Arc<dyn JobStore>, workers: usize, how: Loop) -> Duration {
    timed_concurrently(store, workers as u64, |store, w| async move {
        let worker = format!("worker-{w}");
        let mut next = store.claim(&worker).await.expect("claim");
        while let Some(claimed) = next {
            next = match how {
                Loop::Separate => {
                    store
                        .complete(&claimed.lease, Completion::succeeded())
                        .await
                        .expect("complete");
                    store.claim(&worker).await.expect("claim")
                }
                Loop::Combined => {
                    store
                        .complete_and_claim(&claimed.lease, Completion::succeeded(), &worker)
                        .await
                        .expect("complete_and_claim")
                        .1
                }
            };
        }
    })
    .await
}

fn claim_complete(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("jobstore/claim_complete");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    let sled_store: Arc<dyn JobStore> = Arc::new(
        SledJobStore::open(&dir.path().join("claim"), StoreConfig::default()).expect("open"),
    );
    let memory_store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new(StoreConfig::default()));
    let cases = [
        ("sled", &sled_store, Loop::Separate),
        ("sled_complete_and_claim", &sled_store, Loop::Combined),
        ("memory", &memory_store, Loop::Separate),
        ("memory_complete_and_claim", &memory_store, Loop::Combined),
    ];
    for (name, store, how) in cases {
        for workers in [1usize, 16, 64] {
            group.bench_function(BenchmarkId::new(name, format!("{workers}_workers")), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        // Queue the jobs first (not timed), then time only claim+complete.
                        enqueue_concurrently(store, 64, iters).await;
                        drain(store, workers, how).await
                    })
                });
            });
        }
    }
    group.finish();
}

/// Durable enqueue on PostgreSQL (each call one committed transaction), beside the sled
/// figures; left out with a line saying so when `CG_POSTGRES_URL` is not set.
fn postgres_durable_enqueue(c: &mut Criterion) {
    let Ok(url) = std::env::var("CG_POSTGRES_URL") else {
        eprintln!("jobstore/postgres_durable_enqueue: left out, CG_POSTGRES_URL is not set");
        return;
    };
    let rt = runtime();
    let schema = format!("cg_bench_{}", std::process::id());
    let options = jobstore_postgres::PgOptions {
        schema: schema.clone(),
        pool_size: 64,
        ..jobstore_postgres::PgOptions::default()
    };
    let store: Arc<dyn JobStore> = Arc::new(
        rt.block_on(jobstore_postgres::PgJobStore::connect(
            &url,
            options,
            StoreConfig::default(),
        ))
        .expect("connect to PostgreSQL"),
    );
    bench_enqueue(c, "jobstore/postgres_durable_enqueue", &rt, |_| {
        Arc::clone(&store)
    });
    drop(store);
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await
    })
    .expect("drop the bench schema");
}

criterion_group!(
    benches,
    durable_enqueue,
    postgres_durable_enqueue,
    claim_complete
);
criterion_main!(benches);
