//! The behaviour every [`FeedBackend`] must have, as runnable checks.
//!
//! Each check takes a factory that builds a fresh, empty feed with a given [`Retention`] and
//! panics with a message naming the broken rule, like any test assertion. Call them from a
//! backend's tests:
//!
//! ```
//! use feed::{FeedBackend, FeedStore, Retention};
//!
//! let dirs = std::sync::Mutex::new(Vec::new());
//! let make = |retention: Retention| {
//!     let dir = tempfile::tempdir().unwrap();
//!     let feed = FeedStore::open(&dir.path().join("feed"), retention).unwrap();
//!     dirs.lock().unwrap().push(dir);
//!     Box::new(feed) as Box<dyn FeedBackend>
//! };
//! feed::conformance::no_entry_twice(&make);
//! ```
//!
//! Durability across reopening and crashes cannot be checked through the trait alone; a
//! durable backend needs its own tests for those.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use indexer::{ChangeSet, Chunk, ChunkDelta, ChunkId, FileUpdate, RefKey};

use crate::backend::FeedBackend;
use crate::context::{RunContext, with_run};
use crate::entry::{ChunkRecord, Cursor, Entry, EntryKind};
use crate::error::FeedError;
use crate::mirror::Mirror;
use crate::plan::FIRST_CURSOR;
use crate::store::Retention;

/// Builds a fresh, empty feed with the given retention.
pub type MakeFeed<'a> = dyn Fn(Retention) -> Box<dyn FeedBackend> + 'a;

/// Invokes macro `$then` with the names of every check, in the order [`run_all`] runs them:
/// a backend's test file makes one test per check with it, and no check is left out when
/// one is added.
///
/// ```
/// macro_rules! count {
///     ($($check:ident),*) => { [$(stringify!($check)),*].len() };
/// }
/// assert!(feed::conformance_checks!(count) > 5);
/// ```
#[macro_export]
macro_rules! conformance_checks {
    ($then:ident) => {
        $then! {
            order_and_no_gaps, no_entry_twice, abort_forgets_the_run, snapshot_then_live,
            retention_by_count, retention_by_age, drop_ref, paging, reads, subscribe_wakes
        }
    };
}

/// Runs every check, in order.
pub fn run_all(make: &MakeFeed<'_>) {
    macro_rules! run {
        ($($check:ident),*) => { $($check(make);)* };
    }
    crate::conformance_checks!(run);
}

fn chunk_id(text: &str) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// A file of one chunk per line.
fn file(path: &str, lines: &[String]) -> FileUpdate {
    let chunks = lines
        .iter()
        .zip(1u32..)
        .map(|(line, n)| Chunk {
            id: ChunkId(chunk_id(line)),
            start_line: n,
            end_line: n,
            text: format!("{line}\n"),
        })
        .collect();
    FileUpdate {
        path: path.to_owned(),
        hash: chunk_id(&lines.concat()),
        size: lines.iter().map(|l| l.len() as u64 + 1).sum(),
        chunks,
    }
}

fn lines(seed: &str, count: usize) -> Vec<String> {
    (0..count).map(|n| format!("{seed} line {n}")).collect()
}

/// One run of `key` at `commit`: `upserts` (path, lines) and `deletes`, committed.
fn push(
    feed: &dyn FeedBackend,
    key: &RefKey,
    commit: &str,
    upserts: &[(&str, Vec<String>)],
    deletes: &[&str],
) {
    let changes = ChangeSet {
        key: key.clone(),
        commit: Some(commit.to_owned()),
        upserts: upserts.iter().map(|(p, l)| file(p, l)).collect(),
        deletes: deletes.iter().map(|d| d.to_string()).collect(),
        delta: ChunkDelta::default(),
    };
    let context = RunContext {
        job_id: Some(format!("job-{commit}")),
        full: false,
    };
    with_run(context, || {
        feed.apply(&changes).expect("apply");
        feed.commit(key).expect("commit");
    });
}

fn key(git_ref: &str) -> RefKey {
    RefKey::new("demo", git_ref)
}

fn cursor_of(entry: &Entry) -> u64 {
    entry
        .cursor
        .parse()
        .unwrap_or_else(|_| panic!("live entry cursor {:?} is not a number", entry.cursor))
}

/// Every live entry of `key` after `since`, read with pages of `limit`.
fn live_after(feed: &dyn FeedBackend, key: &RefKey, since: u64, limit: usize) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut cursor = Cursor::Live(since);
    loop {
        let page = feed.read(key, &cursor, limit).expect("read live entries");
        assert!(
            page.entries.len() <= limit.max(1),
            "a page exceeds its limit"
        );
        if page.entries.is_empty() {
            assert_eq!(
                page.next_cursor,
                cursor.to_string(),
                "an empty page moves the cursor"
            );
            return out;
        }
        cursor = Cursor::parse(&page.next_cursor).expect("next cursor parses");
        out.extend(page.entries);
    }
}

/// Follows `key` from `mirror`'s cursor (or 0) to the end with pages of `limit`.
fn follow(feed: &dyn FeedBackend, key: &RefKey, mirror: &mut Mirror, limit: usize) {
    loop {
        let at = mirror.cursor().unwrap_or("0").to_owned();
        let page = feed
            .read(key, &Cursor::parse(&at).expect("cursor parses"), limit)
            .expect("read");
        page.entries.iter().for_each(|e| mirror.apply(e));
        mirror.set_cursor(page.next_cursor.clone());
        if page.entries.is_empty() && page.next_cursor == at {
            return;
        }
    }
}

fn expected(files: &[(&str, Vec<String>)]) -> BTreeMap<String, Vec<ChunkRecord>> {
    files
        .iter()
        .map(|(path, l)| {
            let chunks = file(path, l).chunks.iter().map(ChunkRecord::from).collect();
            (path.to_string(), chunks)
        })
        .collect()
}

/// Cursors increase within a ref and across refs with no gap; a large commit is split into
/// consecutive parts of which only the last says so.
pub fn order_and_no_gaps(make: &MakeFeed<'_>) {
    let feed = make(Retention::default());
    assert_eq!(
        feed.newest(),
        FIRST_CURSOR - 1,
        "an empty feed's newest cursor"
    );
    let (main, dev) = (key("refs/heads/main"), key("refs/heads/dev"));
    for n in 0..4 {
        push(
            &*feed,
            &main,
            &format!("m{n}"),
            &[("a.rs", lines(&format!("m{n}"), 3))],
            &[],
        );
        push(
            &*feed,
            &dev,
            &format!("d{n}"),
            &[("b.rs", lines(&format!("d{n}"), 3))],
            &[],
        );
    }
    // About 200 KiB of text: more than one part.
    let big: Vec<(String, Vec<String>)> = (0..40)
        .map(|f| (format!("big/{f:02}.rs"), lines(&"x".repeat(100 + f), 50)))
        .collect();
    let big: Vec<(&str, Vec<String>)> = big.iter().map(|(p, l)| (p.as_str(), l.clone())).collect();
    push(&*feed, &main, "big", &big, &[]);

    let mut all = Vec::new();
    for key in [&main, &dev] {
        let entries = live_after(&*feed, key, FIRST_CURSOR - 1, 1000);
        let cursors: Vec<u64> = entries.iter().map(cursor_of).collect();
        assert!(
            cursors.windows(2).all(|w| w[0] < w[1]),
            "cursors of {key:?} do not increase: {cursors:?}"
        );
        assert!(
            entries
                .iter()
                .all(|e| e.repo == key.repo && e.git_ref == key.git_ref)
        );
        all.extend(cursors);
    }
    all.sort_unstable();
    let newest = feed.newest();
    let contiguous: Vec<u64> = (FIRST_CURSOR..=newest).collect();
    assert_eq!(all, contiguous, "the feed's cursors have a gap or a repeat");

    let parts: Vec<Entry> = live_after(&*feed, &main, FIRST_CURSOR - 1, 1000)
        .into_iter()
        .filter(|e| e.commit.as_deref() == Some("big"))
        .collect();
    assert!(parts.len() > 1, "a 200 KiB commit was not split into parts");
    for (n, part) in parts.iter().enumerate() {
        assert_eq!(part.part as usize, n, "part numbers count from 0");
        assert_eq!(
            part.last_part,
            n + 1 == parts.len(),
            "only the last part is last"
        );
    }
    let paths: usize = parts.iter().map(|p| p.paths.len()).sum();
    assert_eq!(paths, 40, "every changed path is in exactly one part");
    assert_eq!(cursor_of(parts.last().unwrap()), newest);
}

/// A repeated run writes nothing; the same files at a new commit write one entry without
/// paths (the ref moved); a first run of a ref always writes an entry.
pub fn no_entry_twice(make: &MakeFeed<'_>) {
    let feed = make(Retention::default());
    let main = key("refs/heads/main");
    let files = [("a.rs", lines("a", 4)), ("b.rs", lines("b", 2))];
    push(&*feed, &main, "c1", &files, &[]);
    let after_first = feed.newest();
    push(&*feed, &main, "c1", &files, &[]);
    assert_eq!(feed.newest(), after_first, "a repeated run wrote an entry");
    assert!(live_after(&*feed, &main, after_first, 10).is_empty());

    push(&*feed, &main, "c2", &files, &[]);
    let moved = live_after(&*feed, &main, after_first, 10);
    assert_eq!(moved.len(), 1, "the same files at a new commit: one entry");
    assert!(moved[0].paths.is_empty(), "no path changed");
    assert_eq!(moved[0].previous_commit.as_deref(), Some("c1"));

    let empty = key("refs/heads/empty");
    push(&*feed, &empty, "e1", &[], &[]);
    let first = live_after(&*feed, &empty, FIRST_CURSOR - 1, 10);
    assert_eq!(
        first.len(),
        1,
        "a ref's first run is announced even when empty"
    );
}

/// An aborted run is forgotten: a commit after it writes nothing.
pub fn abort_forgets_the_run(make: &MakeFeed<'_>) {
    let feed = make(Retention::default());
    let main = key("refs/heads/main");
    let changes = ChangeSet {
        key: main.clone(),
        commit: Some("c1".into()),
        upserts: vec![file("a.rs", &lines("a", 2))],
        deletes: Vec::new(),
        delta: ChunkDelta::default(),
    };
    feed.apply(&changes).expect("apply");
    feed.abort(&main).expect("abort");
    feed.commit(&main).expect("commit");
    assert_eq!(
        feed.newest(),
        FIRST_CURSOR - 1,
        "an aborted run was written"
    );
    assert_eq!(feed.ref_record(&main).expect("record"), None);
}

/// Cursor 0 serves a snapshot (one entry per file, in path order) and then live entries; a
/// follower ends with the ref's files whatever its page size.
pub fn snapshot_then_live(make: &MakeFeed<'_>) {
    let feed = make(Retention::default());
    let main = key("refs/heads/main");
    let unknown = feed
        .read(&key("refs/heads/none"), &Cursor::Start, 10)
        .expect("snapshot of an unknown ref");
    assert!(unknown.entries.is_empty() && unknown.snapshot_end);
    assert_eq!(unknown.next_cursor, (FIRST_CURSOR - 1).to_string());

    let mut files = vec![
        ("src/a.rs", lines("a", 3)),
        ("src/b.rs", lines("b", 2)),
        ("z.rs", lines("z", 1)),
    ];
    push(&*feed, &main, "c1", &files, &[]);
    push(&*feed, &main, "c2", &[("src/b.rs", lines("b2", 3))], &[]);
    files[1].1 = lines("b2", 3);

    let mut snapshot = Vec::new();
    let mut cursor = Cursor::Start;
    loop {
        let page = feed.read(&main, &cursor, 1).expect("snapshot page");
        snapshot.extend(page.entries.iter().cloned());
        cursor = Cursor::parse(&page.next_cursor).expect("cursor");
        if page.snapshot_end {
            break;
        }
        assert_eq!(
            page.entries.len(),
            1,
            "a snapshot page that is not the end is full"
        );
    }
    assert!(snapshot.iter().all(|e| e.kind == EntryKind::Snapshot));
    assert!(snapshot.iter().all(|e| e.commit.as_deref() == Some("c2")));
    let paths: Vec<&str> = snapshot.iter().map(|e| e.paths[0].path.as_str()).collect();
    assert_eq!(
        paths,
        ["src/a.rs", "src/b.rs", "z.rs"],
        "one entry per file, in path order"
    );
    assert_eq!(
        cursor,
        Cursor::Live(feed.newest()),
        "a snapshot continues after the newest entry it saw"
    );

    push(&*feed, &main, "c3", &[], &["z.rs"]);
    files.pop();
    let live = feed
        .read(&main, &cursor, 10)
        .expect("live after the snapshot");
    assert_eq!(live.entries.len(), 1, "the live entry after a snapshot");
    assert_eq!(live.entries[0].commit.as_deref(), Some("c3"));

    for limit in [1, 2, 100] {
        let mut mirror = Mirror::new();
        follow(&*feed, &main, &mut mirror, limit);
        assert_eq!(mirror.files(), &expected(&files), "page size {limit}");
        assert_eq!(mirror.commit(), Some("c3"));
    }
}

/// With at most two entries per ref, older cursors expire ([`FeedError::CursorExpired`],
/// restart from `0`); a cursor ahead of the feed is [`FeedError::CursorAhead`].
pub fn retention_by_count(make: &MakeFeed<'_>) {
    let feed = make(Retention {
        max_age: None,
        max_entries_per_ref: Some(2),
    });
    let main = key("refs/heads/main");
    for n in 1..=4 {
        push(
            &*feed,
            &main,
            &format!("c{n}"),
            &[(&format!("f{n}.rs"), lines("x", n))],
            &[],
        );
    }
    let newest = feed.newest();
    let record = feed.ref_record(&main).expect("record").expect("the ref");
    assert_eq!(record.entries, 2, "entries kept");
    assert_eq!(
        record.pruned_through,
        newest - 2,
        "the newest pruned cursor"
    );
    match feed.read(&main, &Cursor::Live(newest - 3), 10) {
        Err(FeedError::CursorExpired { restart, .. }) => assert_eq!(restart, "0"),
        other => panic!("a cursor behind retention: expected CursorExpired, got {other:?}"),
    }
    let kept = live_after(&*feed, &main, newest - 2, 10);
    assert_eq!(kept.len(), 2, "the retained entries are served");
    match feed.read(&main, &Cursor::Live(newest + 10), 10) {
        Err(FeedError::CursorAhead { newest: n, .. }) => assert_eq!(n, newest),
        other => panic!("a cursor ahead of the feed: expected CursorAhead, got {other:?}"),
    }
    let mut mirror = Mirror::new();
    follow(&*feed, &main, &mut mirror, 2);
    assert_eq!(mirror.files().len(), 4, "a snapshot still holds every file");
}

/// Entries older than `max_age` go at the next `prune_all`, even on a ref with no new entry.
pub fn retention_by_age(make: &MakeFeed<'_>) {
    let feed = make(Retention {
        max_age: Some(Duration::from_millis(1)),
        max_entries_per_ref: None,
    });
    let main = key("refs/heads/main");
    push(&*feed, &main, "c1", &[("a.rs", lines("a", 2))], &[]);
    push(&*feed, &main, "c2", &[("a.rs", lines("b", 2))], &[]);
    let newest = feed.newest();
    // Wall-clock time must pass beyond `max_age`; no assertion depends on how much.
    std::thread::sleep(Duration::from_millis(20));
    feed.prune_all().expect("prune_all");
    let record = feed.ref_record(&main).expect("record").expect("the ref");
    assert_eq!((record.entries, record.pruned_through), (0, newest));
    assert!(matches!(
        feed.read(&main, &Cursor::Live(FIRST_CURSOR), 10),
        Err(FeedError::CursorExpired { .. })
    ));
    assert!(live_after(&*feed, &main, newest, 10).is_empty());
}

/// `drop_ref` writes one `ref_deleted` entry and clears the ref's files; dropping it again,
/// or dropping a ref the feed never saw, writes nothing; pushing it again starts afresh.
pub fn drop_ref(make: &MakeFeed<'_>) {
    let feed = make(Retention::default());
    let main = key("refs/heads/main");
    push(
        &*feed,
        &main,
        "c1",
        &[("a.rs", lines("a", 2)), ("b.rs", lines("b", 2))],
        &[],
    );
    let before = feed.newest();
    feed.drop_ref(&main).expect("drop_ref");
    assert_eq!(feed.newest(), before + 1, "one entry for a deletion");
    let entries = live_after(&*feed, &main, before, 10);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].kind, EntryKind::RefDeleted);
    assert_eq!(entries[0].previous_commit.as_deref(), Some("c1"));
    assert_eq!(entries[0].commit, None);
    let record = feed.ref_record(&main).expect("record").expect("the ref");
    assert!(record.deleted && record.commit.is_none());
    assert_eq!((record.files, record.chunks), (0, 0));
    assert!(feed.file_chunks(&main, "a.rs").expect("file").is_empty());
    assert!(feed.paths(&main, "", 10).expect("paths").is_empty());
    let snapshot = feed.read(&main, &Cursor::Start, 10).expect("snapshot");
    assert!(snapshot.entries.is_empty() && snapshot.snapshot_end);

    feed.drop_ref(&main).expect("drop_ref again");
    feed.drop_ref(&key("refs/heads/never"))
        .expect("drop_ref of an unknown ref");
    assert_eq!(
        feed.newest(),
        before + 1,
        "a repeated or unknown deletion wrote an entry"
    );
    assert_eq!(
        feed.ref_record(&key("refs/heads/never")).expect("record"),
        None
    );

    push(&*feed, &main, "c1", &[("a.rs", lines("a", 2))], &[]);
    let again = live_after(&*feed, &main, before + 1, 10);
    assert_eq!(again.len(), 1, "a ref pushed again after its deletion");
    assert_eq!(again[0].paths.len(), 1);
    assert!(
        !feed
            .ref_record(&main)
            .expect("record")
            .expect("the ref")
            .deleted
    );
}

/// Reading with pages of one entry gives the same entries as one large page.
pub fn paging(make: &MakeFeed<'_>) {
    let feed = make(Retention::default());
    let main = key("refs/heads/main");
    for n in 0..6 {
        push(
            &*feed,
            &main,
            &format!("c{n}"),
            &[(&format!("f{}.rs", n % 3), lines(&n.to_string(), 2))],
            &[],
        );
    }
    let whole = live_after(&*feed, &main, FIRST_CURSOR - 1, 100);
    assert_eq!(whole.len(), 6);
    for limit in [1, 2, 5] {
        assert_eq!(
            live_after(&*feed, &main, FIRST_CURSOR - 1, limit),
            whole,
            "page size {limit}"
        );
    }
    let from_middle = live_after(&*feed, &main, cursor_of(&whole[2]), 2);
    assert_eq!(from_middle, whole[3..], "resuming after an entry's cursor");
    let page = feed
        .read(&main, &Cursor::Live(FIRST_CURSOR - 1), 0)
        .expect("limit 0");
    assert_eq!(page.entries.len(), 1, "a limit of 0 reads one entry");
}

/// Records, refs, files, paths and the cursor after a commit answer what was written.
pub fn reads(make: &MakeFeed<'_>) {
    let feed = make(Retention::default());
    let (main, dev) = (key("refs/heads/main"), key("refs/heads/dev"));
    push(
        &*feed,
        &main,
        "c1",
        &[
            ("src/a.rs", lines("a", 3)),
            ("src/b.rs", lines("b", 2)),
            ("top.rs", lines("t", 1)),
        ],
        &[],
    );
    let after_c1 = feed.newest();
    push(&*feed, &main, "c2", &[], &["top.rs"]);
    push(&*feed, &dev, "d1", &[("x.rs", lines("x", 1))], &[]);

    let record = feed.ref_record(&main).expect("record").expect("the ref");
    assert_eq!(record.commit.as_deref(), Some("c2"));
    assert_eq!((record.files, record.chunks, record.entries), (2, 5, 2));
    assert_eq!(record.last_cursor, after_c1 + 1);
    assert!(!record.deleted);
    let refs: Vec<RefKey> = feed
        .refs()
        .expect("refs")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        refs,
        [dev.clone(), main.clone()],
        "refs in (repo, ref) order"
    );

    let chunks = feed.file_chunks(&main, "src/a.rs").expect("file");
    assert_eq!(chunks, expected(&[("src/a.rs", lines("a", 3))])["src/a.rs"]);
    assert!(
        feed.file_chunks(&main, "top.rs")
            .expect("deleted file")
            .is_empty()
    );
    assert!(
        feed.file_chunks(&dev, "src/a.rs")
            .expect("other ref")
            .is_empty()
    );
    assert_eq!(
        feed.paths(&main, "", 10).expect("paths"),
        ["src/a.rs", "src/b.rs"]
    );
    assert_eq!(feed.paths(&main, "src/b", 10).expect("paths"), ["src/b.rs"]);
    assert_eq!(feed.paths(&main, "src/", 1).expect("paths"), ["src/a.rs"]);
    assert!(feed.paths(&main, "nope", 10).expect("paths").is_empty());

    assert_eq!(
        feed.cursor_after_commit(&main, "c1").expect("cursor"),
        Some(after_c1.to_string())
    );
    assert_eq!(feed.cursor_after_commit(&main, "d1").expect("cursor"), None);
    assert_eq!(feed.cursor_after_commit(&main, "c9").expect("cursor"), None);
}

/// A subscriber sees every commit: the value is the newest cursor once `commit` returned.
pub fn subscribe_wakes(make: &MakeFeed<'_>) {
    let feed = make(Retention::default());
    let main = key("refs/heads/main");
    let mut watch = feed.subscribe();
    watch.mark_unchanged();
    push(&*feed, &main, "c1", &[("a.rs", lines("a", 1))], &[]);
    assert!(
        watch.has_changed().expect("the feed is open"),
        "a commit did not wake a subscriber"
    );
    // Copied out first: a borrow held while the feed updates its value would block it.
    let seen = *watch.borrow_and_update();
    assert_eq!(seen, feed.newest());
    feed.drop_ref(&main).expect("drop_ref");
    assert!(
        watch.has_changed().expect("the feed is open"),
        "a deletion did not wake a subscriber"
    );
    let seen = *watch.borrow_and_update();
    assert_eq!(seen, feed.newest());
}
