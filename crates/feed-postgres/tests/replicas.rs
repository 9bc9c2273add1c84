//! Two or three stores on one schema, as gateway replicas sharing one database: entries
//! written through one are read, in order, through another; concurrent writers never let a
//! reader see an entry appear behind its cursor; a subscriber on one replica wakes for a
//! commit on another; a schema from a newer release is refused.

mod support;

use std::time::Duration;

use feed::{Cursor, Entry, FeedBackend, Mirror, Retention};
use feed_postgres::{PgFeedError, PgFeedStore};
use indexer::{ChangeSet, Chunk, ChunkDelta, ChunkId, FileUpdate, IndexSink, RefKey};
use support::{Feeds, Schemas};

/// Generous bound on a wait, so that a store that never wakes fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(20);

fn key() -> RefKey {
    RefKey::new("demo", "refs/heads/main")
}

/// Commits `path` with one chunk of `text` at `commit` through `feed`.
fn push(feed: &PgFeedStore, path: &str, text: &str, commit: &str) {
    let chunk = Chunk {
        id: ChunkId(format!("{commit}-{path}")),
        start_line: 1,
        end_line: 1,
        text: format!("{text}\n"),
    };
    let changes = ChangeSet {
        key: key(),
        commit: Some(commit.to_owned()),
        upserts: vec![FileUpdate {
            path: path.to_owned(),
            hash: commit.to_owned(),
            size: text.len() as u64 + 1,
            chunks: vec![chunk],
        }],
        deletes: Vec::new(),
        delta: ChunkDelta::default(),
    };
    feed.apply(&changes).expect("apply");
    feed.commit(&key()).expect("commit");
}

fn cursor_of(entry: &Entry) -> u64 {
    entry.cursor.parse().expect("a live cursor")
}

/// Every live entry of the ref after `since`, through `feed`, in pages of `limit`.
fn live_after(feed: &dyn FeedBackend, since: u64, limit: usize) -> Vec<Entry> {
    let mut cursor = Cursor::Live(since);
    let mut out = Vec::new();
    loop {
        let page = feed.read(&key(), &cursor, limit).expect("read");
        if page.entries.is_empty() {
            return out;
        }
        cursor = Cursor::parse(&page.next_cursor).expect("cursor");
        out.extend(page.entries);
    }
}

#[test]
fn entries_written_through_one_replica_are_read_in_order_through_the_other() {
    let Some(schemas) = Schemas::for_test("feed-postgres replicas", "read_across") else {
        return;
    };
    let schema = schemas.fresh();
    let (a, b) = (
        schemas.open(&schema, Retention::default()),
        schemas.open(&schema, Retention::default()),
    );
    for n in 0..6 {
        let writer = if n % 2 == 0 { &a } else { &b };
        push(
            writer,
            &format!("f{}.rs", n % 3),
            &format!("text {n}"),
            &format!("c{n}"),
        );
    }
    let through_a = live_after(&a, 1, 100);
    let through_b = live_after(&b, 1, 2);
    assert_eq!(through_a, through_b, "both replicas serve the same entries");
    let cursors: Vec<u64> = through_b.iter().map(cursor_of).collect();
    assert_eq!(cursors, (2..8).collect::<Vec<u64>>(), "one order, no gap");
    let commits: Vec<&str> = through_b
        .iter()
        .map(|e| e.commit.as_deref().expect("a commit"))
        .collect();
    assert_eq!(commits, ["c0", "c1", "c2", "c3", "c4", "c5"]);

    // A snapshot through one replica, then live entries written through the other.
    let mut mirror = Mirror::new();
    let page = b.read(&key(), &Cursor::Start, 100).expect("snapshot");
    page.entries.iter().for_each(|e| mirror.apply(e));
    push(&a, "f0.rs", "text 6", "c6");
    let live = b
        .read(
            &key(),
            &Cursor::parse(&page.next_cursor).expect("cursor"),
            100,
        )
        .expect("live");
    assert_eq!(
        live.entries.len(),
        1,
        "the entry written through the other replica"
    );
    live.entries.iter().for_each(|e| mirror.apply(e));
    assert_eq!(mirror.commit(), Some("c6"));
    assert_eq!(mirror.files()["f0.rs"][0].text, "text 6\n");
    assert_eq!(mirror.files().len(), 3);
    // A re-run through the other replica writes nothing.
    let newest = live_after(&a, 1, 100).len();
    push(&b, "f0.rs", "text 6", "c6");
    assert_eq!(
        live_after(&a, 1, 100).len(),
        newest,
        "a re-run wrote an entry"
    );
}

#[test]
fn concurrent_writers_never_let_a_reader_see_an_entry_appear_behind_its_cursor() {
    let Some(schemas) = Schemas::for_test("feed-postgres replicas", "concurrent") else {
        return;
    };
    let schema = schemas.fresh();
    let writers = [
        schemas.open(&schema, Retention::default()),
        schemas.open(&schema, Retention::default()),
    ];
    let reader = schemas.open(&schema, Retention::default());
    const RUNS: usize = 40;
    let followed = std::thread::scope(|scope| {
        for (w, writer) in writers.iter().enumerate() {
            scope.spawn(move || {
                for n in 0..RUNS {
                    push(
                        writer,
                        &format!("w{w}.rs"),
                        &format!("{w} {n}"),
                        &format!("w{w}-{n}"),
                    );
                }
            });
        }
        let follower = scope.spawn(|| {
            // Follows while the writers write, then to the end.
            let mut seen: Vec<Entry> = Vec::new();
            let mut since = 1;
            while seen.len() < 2 * RUNS {
                let page = reader.read(&key(), &Cursor::Live(since), 3).expect("read");
                if let Some(last) = page.entries.last() {
                    since = cursor_of(last);
                }
                seen.extend(page.entries);
            }
            seen
        });
        follower.join().expect("the follower")
    });
    let all = live_after(&reader, 1, 1000);
    assert_eq!(all.len(), 2 * RUNS);
    assert_eq!(
        followed, all,
        "the follower missed an entry that appeared behind its cursor"
    );
    let cursors: Vec<u64> = all.iter().map(cursor_of).collect();
    assert_eq!(cursors, (2..2 + 2 * RUNS as u64).collect::<Vec<u64>>());
}

#[test]
fn a_subscriber_on_one_replica_wakes_for_a_commit_on_the_other() {
    let Some(schemas) = Schemas::for_test("feed-postgres replicas", "wake") else {
        return;
    };
    let schema = schemas.fresh();
    let (a, b) = (
        schemas.open(&schema, Retention::default()),
        schemas.open(&schema, Retention::default()),
    );
    let mut watch = b.subscribe();
    push(&a, "a.rs", "one", "c1");
    let target = a.newest();
    // The poll interval is an hour: this wake-up can only come by NOTIFY.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let woke = runtime.block_on(async {
        tokio::time::timeout(PATIENCE, watch.wait_for(|newest| *newest >= target)).await
    });
    assert!(
        matches!(woke, Ok(Ok(_))),
        "no wake-up on the other replica within {PATIENCE:?}"
    );
    assert_eq!(b.newest(), target);
}

#[test]
fn a_schema_from_a_newer_release_is_refused_without_the_password() {
    let Some(schemas) = Schemas::for_test("feed-postgres replicas", "newer_schema") else {
        return;
    };
    let schema = schemas.fresh();
    drop(schemas.open(&schema, Retention::default()));
    schemas.execute(&format!(
        "INSERT INTO \"{schema}\".schema_version (version) VALUES ({})",
        feed_postgres::SCHEMA_VERSION + 1
    ));
    let url = format!("{} password=hunter2-secret", schemas.url());
    match schemas.connect(&schema, Retention::default(), &url) {
        Err(error @ PgFeedError::Setup(pg_schema::SetupError::NewerSchema { .. })) => {
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
        other => panic!("expected NewerSchema, got {:?}", other.map(|_| "a store")),
    }
    let junk = "host=127.0.0.1 password=hunter2-secret port=notaport";
    let error = schemas
        .connect(&schema, Retention::default(), junk)
        .expect_err("a bad connection string");
    assert!(
        !format!("{error} {error:?}").contains("hunter2"),
        "{error:?}"
    );
}
