//! Where the time of durable enqueue and claim+complete goes: queues jobs from 64
//! producers, drains them with 64 workers (`complete_and_claim`, as the criterion bench
//! does), and prints for each phase the wall time and the CPU time of each thread of the
//! process, per job. On a shared machine the
//! wall time moves with the load; the CPU time per job of the store's own threads
//! (`jobstore-writer`, `jobstore-flusher`, and sled's `sled-io-*`) much less, and the
//! writer's bounds the throughput even on an idle machine (it is one thread).
//!
//! ```text
//! cargo run --release -p jobstore --example claim_cpu -- [JOBS] [WORKERS]
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use jobstore::{Completion, JobStore, NewJob, SledJobStore, StoreConfig, Trigger};

/// CPU seconds (user + system) of each thread of this process, summed by thread name.
fn thread_cpu() -> BTreeMap<String, f64> {
    let mut by_name = BTreeMap::new();
    let ticks = 100.0; // USER_HZ on Linux
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // "pid (name) state ...": the name may hold spaces, so split at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let cpu = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // Fields after the name: state is 0, utime 11, stime 12.
        let seconds = (cpu(11) + cpu(12)) / ticks;
        let group = if name.starts_with("sled-io") {
            "sled-io-*".to_owned()
        } else {
            name
        };
        *by_name.entry(group).or_insert(0.0) += seconds;
    }
    by_name
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let jobs: u64 = args.next().map_or(Ok(200_000), |a| a.parse())?;
    let workers: usize = args.next().map_or(Ok(64), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn JobStore> = Arc::new(SledJobStore::open(
        &dir.path().join("jobs"),
        StoreConfig::default(),
    )?);

    phase(
        "durable enqueue, 64 producers",
        jobs,
        &store,
        64,
        move |p, store| async move {
            for n in (p as u64..jobs).step_by(64) {
                let mut job = NewJob::index(format!("repo-{n}"), "refs/heads/main", Trigger::Test);
                job.commit = Some(format!("{n:040x}"));
                store.enqueue(job).await.expect("enqueue");
            }
        },
    )
    .await?;
    let label = format!("complete_and_claim, {workers} workers");
    phase(&label, jobs, &store, workers, |w, store| async move {
        let worker = format!("worker-{w}");
        let mut next = store.claim(&worker).await.expect("claim");
        while let Some(claimed) = next {
            next = store
                .complete_and_claim(&claimed.lease, Completion::succeeded(), &worker)
                .await
                .expect("complete_and_claim")
                .1;
        }
    })
    .await?;
    Ok(())
}

/// Runs `tasks` copies of `task` (each given its number and the store) at once, waits for
/// all of them and reports the phase's wall and CPU time per job.
async fn phase<F, Fut>(
    label: &str,
    jobs: u64,
    store: &Arc<dyn JobStore>,
    tasks: usize,
    task: F,
) -> Result<(), tokio::task::JoinError>
where
    F: Fn(usize, Arc<dyn JobStore>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let before = thread_cpu();
    let start = Instant::now();
    let running: Vec<_> = (0..tasks)
        .map(|n| tokio::spawn(task(n, Arc::clone(store))))
        .collect();
    for one in running {
        one.await?;
    }
    report(label, jobs, start, &before);
    Ok(())
}

fn report(phase: &str, jobs: u64, start: Instant, before: &BTreeMap<String, f64>) {
    let wall = start.elapsed().as_secs_f64();
    let after = thread_cpu();
    println!(
        "{phase}: {jobs} jobs in {wall:.2} s, {:.1} k jobs/s",
        jobs as f64 / wall / 1e3
    );
    let mut total = 0.0;
    for (name, seconds) in &after {
        let spent = seconds - before.get(name).copied().unwrap_or(0.0);
        total += spent;
        if spent > 0.0 {
            println!(
                "  {name:<18} {spent:6.2} s CPU, {:6.1} µs per job",
                spent * 1e6 / jobs as f64
            );
        }
    }
    println!(
        "  {:<18} {total:6.2} s CPU, {:6.1} µs per job",
        "all threads",
        total * 1e6 / jobs as f64
    );
}
