//! Resident memory of a job store under a long webhook ingest: enqueues many deliveries
//! (default 300,000) the way the gateway does, each with its own delivery key, all pushes to
//! a few branches so they fold into queued jobs, while one worker drains the queue. Prints
//! the process's RSS as it goes, so growth per delivery can be read off.
//!
//! ```text
//! cargo run --release -p jobstore --example ingest_rss -- [DELIVERIES] [--memory] [--dir DIR] [--cache-mib N]
//! ```
//!
//! Each step also shows the process's CPU time per delivery since the step before, and at
//! the end the latency of each durable enqueue (p50, p99) seen by the 64 producers.
//! `--memory` runs the same load against `MemoryJobStore` (what the scheduling state alone
//! costs); without it the store is a `SledJobStore` in `--dir` (default: a temp dir).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use jobstore::{Completion, JobStore, MemoryJobStore, NewJob, SledJobStore, StoreConfig, Trigger};

const PRODUCERS: u64 = 64;
const BRANCHES: u64 = 4;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// CPU seconds this process has used (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; 100 Hz.
    (ticks(11) + ticks(12)) / 100.0
}

fn delivery(n: u64) -> NewJob {
    let mut job = NewJob::index(
        "hello",
        format!("refs/heads/branch-{}", n % BRANCHES),
        Trigger::Webhook,
    );
    job.commit = Some(format!("{n:040x}"));
    job.before = Some("0000000000000000000000000000000000000000".to_owned());
    job.provider = Some("github".to_owned());
    job.delivery_id = Some(format!("72d3162e-cc78-11e3-81ab-{n:012}"));
    job.dedupe_key = Some(format!("github:hello:72d3162e-cc78-11e3-81ab-{n:012}"));
    job
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut total = 300_000u64;
    let mut memory = false;
    let mut dir = None;
    let mut config = StoreConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--memory" => memory = true,
            "--dir" => dir = args.next(),
            "--cache-mib" => {
                let mib: u64 = args.next().ok_or("--cache-mib needs a number")?.parse()?;
                config.cache_bytes = mib * 1024 * 1024;
            }
            n => total = n.parse()?,
        }
    }
    let temp = tempfile::tempdir()?;
    let path = dir.map_or_else(|| temp.path().join("jobs"), Into::into);
    println!("start: RSS {:.1} MiB", rss_mib());
    let store: Arc<dyn JobStore> = if memory {
        Arc::new(MemoryJobStore::new(config))
    } else {
        Arc::new(SledJobStore::open(&path, config)?)
    };
    println!("opened: RSS {:.1} MiB", rss_mib());

    let worker = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let mut claimed = store.next("worker").await.expect("next");
            loop {
                let (_, next) = store
                    .complete_and_claim(&claimed.lease, Completion::succeeded(), "worker")
                    .await
                    .expect("complete_and_claim");
                claimed = match next {
                    Some(next) => next,
                    None => store.next("worker").await.expect("next"),
                };
            }
        })
    };

    let sent = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let last_cpu = Arc::new(std::sync::Mutex::new(cpu_seconds()));
    let step = (total / 6).max(1);
    let mut producers = Vec::new();
    for _ in 0..PRODUCERS {
        let (store, sent) = (Arc::clone(&store), Arc::clone(&sent));
        let last_cpu = Arc::clone(&last_cpu);
        producers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let asked = Instant::now();
                store.enqueue(delivery(n)).await.expect("enqueue");
                latencies.push(asked.elapsed());
                if (n + 1) % step == 0 {
                    let cpu = cpu_seconds();
                    let used = cpu - std::mem::replace(&mut *last_cpu.lock().unwrap(), cpu);
                    println!(
                        "{:>8} deliveries: RSS {:.1} MiB ({:.1} s), CPU {:.1} us per delivery",
                        n + 1,
                        rss_mib(),
                        start.elapsed().as_secs_f64(),
                        used * 1e6 / step as f64
                    );
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for producer in producers {
        latencies.extend(producer.await?);
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    if !latencies.is_empty() {
        println!(
            "enqueue latency at {PRODUCERS} producers: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    let elapsed = start.elapsed().as_secs_f64();
    let counts = store.counts().await?;
    println!(
        "done: {total} deliveries in {elapsed:.1} s ({:.0}/s), {} jobs, RSS {:.1} MiB",
        total as f64 / elapsed,
        counts.total(),
        rss_mib()
    );
    // What stays resident once the burst is over (sled settles in the background).
    store.flush().await?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    println!("2 s after the last delivery: RSS {:.1} MiB", rss_mib());
    worker.abort();
    Ok(())
}
