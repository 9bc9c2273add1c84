//! A consumer following the feed through random changes ends with exactly the chunks a fresh
//! full index of the final tree produces, whatever page size it reads with and wherever it
//! starts; repeated runs (a job re-run after its feed write landed) write no entry twice.

use std::collections::BTreeMap;
use std::path::Path;

use feed::{ChunkRecord, Cursor, FeedStore, Mirror, Retention, RunContext, with_run};
use indexer::{Indexer, IndexerConfig, MemoryManifestStore, RefKey, RunRequest, Scope};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    /// Write a file (new or edited) with `lines` lines drawn from `seed`.
    Write {
        file: u8,
        seed: u8,
        lines: u8,
    },
    /// Insert a line at the top of a file (moves every chunk's lines).
    Prepend {
        file: u8,
    },
    Delete {
        file: u8,
    },
    Rename {
        from: u8,
        to: u8,
    },
    /// Reset the tree to what it was `back` steps ago (a force push).
    ForcePush {
        back: u8,
    },
    /// Delete the branch, then push it again as it is.
    DeleteBranch,
    /// Run the same job again with a lost manifest (a crash after the feed write).
    Rerun,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..6, any::<u8>(), 1u8..120).prop_map(|(file, seed, lines)| Step::Write { file, seed, lines }),
        1 => (0u8..6).prop_map(|file| Step::Prepend { file }),
        1 => (0u8..6).prop_map(|file| Step::Delete { file }),
        1 => (0u8..6, 0u8..6).prop_map(|(from, to)| Step::Rename { from, to }),
        1 => (1u8..4).prop_map(|back| Step::ForcePush { back }),
        1 => Just(Step::DeleteBranch),
        1 => Just(Step::Rerun),
    ]
}

fn name(file: u8) -> String {
    format!("src/f{file}.rs")
}

fn text(seed: u8, lines: u8) -> String {
    (0..lines)
        .map(|i| {
            format!(
                "fn item_{}_{}() {{ let x = {}; }}\n",
                seed % 7,
                i,
                (seed as u32 * 31 + i as u32) % 11
            )
        })
        .collect()
}

type Tree = BTreeMap<String, String>;

fn write_tree(root: &Path, tree: &Tree) {
    let src = root.join("src");
    if src.exists() {
        std::fs::remove_dir_all(&src).unwrap();
    }
    std::fs::create_dir_all(&src).unwrap();
    for (path, text) in tree {
        std::fs::write(root.join(path), text).unwrap();
    }
}

/// What a fresh full index of `root` holds: path → chunks in line order.
fn fresh_index(root: &Path, key: &RefKey) -> BTreeMap<String, Vec<ChunkRecord>> {
    feed::fresh_index(root, key).unwrap()
}

/// Reads one page of one entry after the mirror's cursor into it.
fn one_page(feed: &FeedStore, key: &RefKey, mirror: &mut Mirror) {
    let cursor = Cursor::parse(mirror.cursor().unwrap_or("0")).unwrap();
    let page = feed.read(key, &cursor, 1).unwrap();
    page.entries.iter().for_each(|e| mirror.apply(e));
    mirror.set_cursor(page.next_cursor);
}

/// Reads every page after the mirror's cursor into it.
fn follow(feed: &FeedStore, key: &RefKey, mirror: &mut Mirror, limit: usize) {
    loop {
        let cursor = Cursor::parse(mirror.cursor().unwrap_or("0")).unwrap();
        let page = feed.read(key, &cursor, limit).unwrap();
        page.entries.iter().for_each(|e| mirror.apply(e));
        let moved = page.next_cursor != mirror.cursor().unwrap_or("0");
        mirror.set_cursor(page.next_cursor.clone());
        if page.entries.is_empty() && !moved {
            return;
        }
    }
}

fn run(
    indexer: &Indexer,
    root: &Path,
    key: &RefKey,
    feed: &FeedStore,
    manifests: &MemoryManifestStore,
    commit: u32,
) {
    let request = RunRequest {
        tree: root,
        key: key.clone(),
        commit: Some(format!("{commit:040x}")),
        scope: Scope::Full,
    };
    let context = RunContext {
        job_id: Some(format!("job-{commit}")),
        full: false,
    };
    with_run(context, || {
        indexer.run(request, feed, manifests, &|_| {}, &|| false)
    })
    .unwrap();
}

/// Runs `steps`, following the feed with two consumers (one from the start, one from a
/// snapshot taken at step `late_start`), and checks all end with a fresh full index.
fn follow_steps(steps: &[Step], limit: usize, late_start: usize) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    let feed = FeedStore::open(&dir.path().join("feed"), Retention::default()).unwrap();
    let key = RefKey::new("demo", "refs/heads/main");
    let indexer = Indexer::new(IndexerConfig::default()).unwrap();
    let mut manifests = MemoryManifestStore::new();
    let mut history: Vec<Tree> = vec![Tree::new()];
    let mut tree = Tree::new();
    let (mut early, mut late) = (Mirror::new(), None::<Mirror>);
    // Reads one page of size 1 per step: its snapshot spans many writes.
    let mut slow = Mirror::new();
    write_tree(&root, &tree);
    for (n, step) in steps.iter().enumerate() {
        let n = n as u32 + 1;
        match step {
            Step::Write { file, seed, lines } => {
                tree.insert(name(*file), text(*seed, *lines));
            }
            Step::Prepend { file } => {
                if let Some(t) = tree.get_mut(&name(*file)) {
                    t.insert_str(0, "// a new first line\n");
                }
            }
            Step::Delete { file } => {
                tree.remove(&name(*file));
            }
            Step::Rename { from, to } => {
                if let Some(t) = tree.remove(&name(*from)) {
                    tree.insert(name(*to), t);
                }
            }
            Step::ForcePush { back } => {
                let at = history.len().saturating_sub(*back as usize + 1);
                tree = history[at].clone();
            }
            Step::DeleteBranch => {
                indexer.drop_ref(&key, &feed, &manifests).unwrap();
                manifests = MemoryManifestStore::new();
            }
            Step::Rerun if n > 1 => {
                let before = feed.newest();
                run(
                    &indexer,
                    &root,
                    &key,
                    &feed,
                    &MemoryManifestStore::new(),
                    n - 1,
                );
                assert_eq!(feed.newest(), before, "a repeated run wrote an entry");
            }
            Step::Rerun => {}
        }
        write_tree(&root, &tree);
        run(&indexer, &root, &key, &feed, &manifests, n);
        history.push(tree.clone());
        follow(&feed, &key, &mut early, limit);
        one_page(&feed, &key, &mut slow);
        match late.as_mut() {
            Some(mirror) => follow(&feed, &key, mirror, limit + 1),
            None if n as usize >= late_start => {
                let mut mirror = Mirror::new();
                follow(&feed, &key, &mut mirror, limit + 1);
                late = Some(mirror);
            }
            None => {}
        }
    }
    let expected = fresh_index(&root, &key);
    assert_eq!(early.files(), &expected);
    follow(&feed, &key, &mut slow, 1);
    assert_eq!(
        slow.files(),
        &expected,
        "a snapshot paged while entries were written"
    );
    if let Some(late) = late {
        assert_eq!(late.files(), &expected);
    }
    // A consumer starting now, from a snapshot, sees the same.
    let mut fresh = Mirror::new();
    follow(&feed, &key, &mut fresh, 3);
    assert_eq!(fresh.files(), &expected);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_follower_ends_with_the_fresh_index(
        steps in proptest::collection::vec(step(), 1..40),
        limit in 1usize..5,
        late_start in 0usize..40,
    ) {
        follow_steps(&steps, limit, late_start);
    }
}

/// 200 random pushes in one history (a fixed seed, so the run is repeatable).
#[test]
fn a_follower_through_200_pushes_ends_with_the_fresh_index() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let steps = proptest::collection::vec(step(), 200)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    follow_steps(&steps, 7, 100);
}

#[test]
fn entries_carry_job_commit_and_previous_commit_and_deletions_have_a_kind() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    let feed = FeedStore::open(&dir.path().join("feed"), Retention::default()).unwrap();
    let key = RefKey::new("demo", "refs/heads/main");
    let indexer = Indexer::new(IndexerConfig::default()).unwrap();
    let manifests = MemoryManifestStore::new();
    let mut tree = Tree::from([(name(1), text(1, 10))]);
    write_tree(&root, &tree);
    run(&indexer, &root, &key, &feed, &manifests, 1);
    tree.insert(name(2), text(2, 10));
    write_tree(&root, &tree);
    run(&indexer, &root, &key, &feed, &manifests, 2);
    indexer.drop_ref(&key, &feed, &manifests).unwrap();

    let page = feed.read(&key, &Cursor::Live(1), 10).unwrap();
    let kinds: Vec<_> = page.entries.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            feed::EntryKind::Commit,
            feed::EntryKind::Commit,
            feed::EntryKind::RefDeleted
        ]
    );
    let second = &page.entries[1];
    assert_eq!(second.job_id.as_deref(), Some("job-2"));
    assert_eq!(second.commit, Some(format!("{:040x}", 2)));
    assert_eq!(second.previous_commit, Some(format!("{:040x}", 1)));
    assert_eq!(second.paths.len(), 1, "only the new file changed");
    assert_eq!(second.paths[0].path, name(2));
    assert_eq!(page.entries[2].previous_commit, Some(format!("{:040x}", 2)));
    assert_eq!(page.next_cursor, page.entries[2].cursor);
    // Cursors increase; a snapshot of a deleted ref is empty and ends at once.
    let cursors: Vec<u64> = page
        .entries
        .iter()
        .map(|e| e.cursor.parse().unwrap())
        .collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    let snapshot = feed.read(&key, &Cursor::Start, 10).unwrap();
    assert!(snapshot.entries.is_empty() && snapshot.snapshot_end);
}

#[test]
fn entries_survive_reopening_and_retention_expires_old_cursors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    let key = RefKey::new("demo", "refs/heads/main");
    let indexer = Indexer::new(IndexerConfig::default()).unwrap();
    let manifests = MemoryManifestStore::new();
    let retention = Retention {
        max_age: None,
        max_entries_per_ref: Some(2),
    };
    {
        let feed = FeedStore::open(&dir.path().join("feed"), retention).unwrap();
        for n in 1..=4u8 {
            write_tree(&root, &Tree::from([(name(n), text(n, 5))]));
            run(&indexer, &root, &key, &feed, &manifests, n.into());
        }
    }
    let feed = FeedStore::open(&dir.path().join("feed"), retention).unwrap();
    assert_eq!(feed.newest(), 5, "cursors 2..=5, kept across reopening");
    let record = feed.ref_record(&key).unwrap().unwrap();
    assert_eq!((record.entries, record.pruned_through), (2, 3));
    match feed.read(&key, &Cursor::Live(2), 10) {
        Err(feed::FeedError::CursorExpired { restart, .. }) => assert_eq!(restart, "0"),
        other => panic!("expected an expired cursor, got {other:?}"),
    }
    let page = feed.read(&key, &Cursor::Live(3), 10).unwrap();
    assert_eq!(page.entries.len(), 2);
    assert!(matches!(
        feed.read(&key, &Cursor::Live(99), 10),
        Err(feed::FeedError::CursorAhead { newest: 5, .. })
    ));
}

/// A consumer that holds the ref at a commit resumes right after that commit's entry; a
/// commit the feed never indexed has no cursor.
#[test]
fn a_commit_names_the_cursor_to_resume_from() {
    let (tree, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let feed = FeedStore::open(&dir.path().join("feed"), Retention::default()).unwrap();
    let key = RefKey::new("hello", "refs/heads/main");
    let manifests = MemoryManifestStore::new();
    let indexer = Indexer::new(IndexerConfig::default()).unwrap();
    let commit = |text: &str, id: &str| {
        std::fs::write(tree.path().join("main.rs"), text).unwrap();
        let request = RunRequest {
            tree: tree.path(),
            key: key.clone(),
            commit: Some(id.to_string()),
            scope: Scope::Full,
        };
        indexer
            .run(request, &feed, &manifests, &|_| {}, &|| false)
            .unwrap();
    };
    let (first, second) = ("1".repeat(40), "2".repeat(40));
    commit("fn one() {}\n", &first);
    commit("fn second_one() {}\n", &second);

    let after_first = feed
        .cursor_after_commit(&key, &first)
        .unwrap()
        .expect("the first commit is in the feed");
    let page = feed
        .read(&key, &Cursor::parse(&after_first).unwrap(), 100)
        .unwrap();
    let commits: Vec<Option<String>> = page.entries.iter().map(|e| e.commit.clone()).collect();
    assert_eq!(commits, [Some(second.clone())]);

    let after_second = feed.cursor_after_commit(&key, &second).unwrap().unwrap();
    let page = feed
        .read(&key, &Cursor::parse(&after_second).unwrap(), 100)
        .unwrap();
    assert!(page.entries.is_empty());
    assert_eq!(
        feed.cursor_after_commit(&key, &"3".repeat(40)).unwrap(),
        None
    );
}
