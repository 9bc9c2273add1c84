//! Durable enqueue throughput of the sled job store at 1, 16 and 64 concurrent producers,
//! claim+complete throughput (separate calls, and the one-step `complete_and_claim` a worker
//! loop uses), and two references in the same run on the same disk: a plain sled
//! insert+flush loop (what sled alone promises: survives a crash) and the same loop with the
//! `fdatasync` the store adds (survives a power loss), one sync per write.
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

fn durable_enqueue(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("jobstore/durable_enqueue");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    for producers in [1u64, 16, 64] {
        let path = dir.path().join(format!("enqueue-{producers}"));
        let store: Arc<dyn JobStore> =
            Arc::new(SledJobStore::open(&path, StoreConfig::default()).expect("open"));
        group.bench_with_input(
            BenchmarkId::from_parameter(producers),
            &producers,
            |b, &producers| {
                b.iter_custom(|iters| rt.block_on(enqueue_concurrently(&store, producers, iters)));
            },
        );
    }
    group.finish();

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

criterion_group!(benches, durable_enqueue, claim_complete);
criterion_main!(benches);
