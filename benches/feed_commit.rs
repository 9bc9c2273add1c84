//! The change feed's write and read paths, on sled and (with `CG_POSTGRES_URL` set, e.g.
//! `host=127.0.0.1 port=5432 user=postgres dbname=test`) on PostgreSQL in the same run:
//! committing a one-file run (ten chunks changed), and reading a page of 100 live entries.
//! Without the variable the PostgreSQL half is left out with a line saying so.

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use feed::{Cursor, FeedBackend, FeedStore, Retention};
use feed_postgres::{PgFeedOptions, PgFeedStore};
use indexer::{ChangeSet, Chunk, ChunkDelta, ChunkId, FileUpdate, RefKey};

fn key() -> RefKey {
    RefKey::new("bench", "refs/heads/main")
}

/// A run that rewrites `src/lib.rs` with ten fresh chunks (numbered by `n`).
fn run(n: u64) -> ChangeSet {
    let chunks = (0..10u32)
        .map(|c| {
            let text = format!("fn f_{n}_{c}() {{ let x = {n} * {c}; }}\n").repeat(8);
            Chunk {
                id: ChunkId(format!("{n:016x}{c:08x}")),
                start_line: c * 8 + 1,
                end_line: c * 8 + 8,
                text,
            }
        })
        .collect();
    ChangeSet {
        key: key(),
        commit: Some(format!("{n:040x}")),
        upserts: vec![FileUpdate {
            path: "src/lib.rs".into(),
            hash: n.to_string(),
            size: 2000,
            chunks,
        }],
        deletes: Vec::new(),
        delta: ChunkDelta::default(),
    }
}

fn commit_and_read(c: &mut Criterion, name: &str, feed: &dyn FeedBackend) {
    let next = AtomicU64::new(0);
    let mut group = c.benchmark_group("feed");
    group.bench_function(format!("{name}_commit_one_file"), |b| {
        b.iter(|| {
            feed.apply(&run(next.fetch_add(1, Ordering::Relaxed)))
                .expect("apply");
            feed.commit(&key()).expect("commit");
        })
    });
    while next.load(Ordering::Relaxed) < 101 {
        feed.apply(&run(next.fetch_add(1, Ordering::Relaxed)))
            .expect("apply");
        feed.commit(&key()).expect("commit");
    }
    let since = Cursor::Live(feed.newest() - 100);
    group.bench_function(format!("{name}_read_100_entries"), |b| {
        b.iter(|| {
            let page = feed.read(&key(), &since, 100).expect("read");
            assert_eq!(page.entries.len(), 100);
        })
    });
    group.finish();
}

fn feeds(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let sled = FeedStore::open(&dir.path().join("feed"), Retention::default()).expect("sled feed");
    commit_and_read(c, "sled", &sled);

    let Ok(url) = std::env::var("CG_POSTGRES_URL") else {
        eprintln!("feed/postgres_*: left out, CG_POSTGRES_URL is not set");
        return;
    };
    let schema = format!("bench_feed_{}", std::process::id());
    let options = PgFeedOptions {
        schema: schema.clone(),
        ..PgFeedOptions::default()
    };
    let pg = PgFeedStore::connect(&url, options, Retention::default()).expect("PostgreSQL feed");
    commit_and_read(c, "postgres", &pg);
    drop(pg);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
            .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await
            .expect("drop the bench schema");
    });
}

criterion_group!(benches, feeds);
criterion_main!(benches);
