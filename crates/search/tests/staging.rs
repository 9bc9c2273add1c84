//! Staged runs: spilled to disk until commit (memory stays bounded by a file, not a run),
//! cleaned up on commit, abort and reopen, and never published by another ref's commit,
//! even when runs of several refs interleave on several threads.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{apply, change, file, hits, key, main_key, q};
use indexer::IndexSink;
use search::SearchIndex;

/// Bytes of the spill files in `<index>/staging`.
fn staged_bytes(index_dir: &Path) -> u64 {
    std::fs::read_dir(index_dir.join("staging"))
        .expect("staging dir exists")
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn big_file(path: &str, marker: &str, lines: usize) -> indexer::FileUpdate {
    let mut text = format!("def {marker}():\n");
    for i in 0..lines {
        text.push_str(&format!("    value_{i} = compute_something({i}) + {i}\n"));
    }
    file(path, &text, 50)
}

#[test]
fn staged_text_waits_on_disk_not_in_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = SearchIndex::open(dir.path()).expect("open");
    let k = main_key();
    assert_eq!(staged_bytes(dir.path()), 0);

    // Twenty batches of ~200 KB each: the run's text goes to its spill file as it arrives.
    let mut text_bytes = 0u64;
    for i in 0..20 {
        let f = big_file(&format!("src/f{i}.py"), &format!("staged_fn_{i}"), 4000);
        text_bytes += f.chunks.iter().map(|c| c.text.len() as u64).sum::<u64>();
        apply(&index, &k, vec![f], &[]);
    }
    // All but the last write buffer (256 KiB) is on disk before the commit.
    assert!(
        staged_bytes(dir.path()) + 256 * 1024 >= text_bytes,
        "staged {} of {text_bytes} bytes",
        staged_bytes(dir.path())
    );
    assert!(
        hits(&index, q("staged_fn_3")).is_empty(),
        "not committed yet"
    );

    index.commit(&k).expect("commit");
    assert_eq!(staged_bytes(dir.path()), 0, "commit removes the spill file");
    for i in [0, 7, 19] {
        assert_eq!(
            hits(&index, q(&format!("staged_fn_{i}"))),
            [format!("src/f{i}.py:1")]
        );
    }

    apply(
        &index,
        &k,
        vec![big_file("src/x.py", "aborted_fn", 100)],
        &[],
    );
    index.abort(&k).expect("abort");
    assert_eq!(staged_bytes(dir.path()), 0, "abort removes the spill file");
    assert!(hits(&index, q("aborted_fn")).is_empty());
}

#[test]
fn spill_files_left_by_a_crash_are_removed_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(SearchIndex::open(dir.path()).expect("open"));
    // What a kill -9 mid-run leaves behind.
    std::fs::write(dir.path().join("staging/run-1-0.spill"), b"half a run").expect("write");
    let index = SearchIndex::open(dir.path()).expect("reopen");
    assert_eq!(staged_bytes(dir.path()), 0);
    assert_eq!(index.num_chunks(), 0);
}

#[test]
fn a_later_batch_overrides_an_earlier_one_within_a_spilled_run() {
    let index = SearchIndex::open_in_memory().expect("open");
    let k = main_key();
    let stage =
        |upserts, deletes: &[&str]| index.stage(&change(&k, upserts, deletes)).expect("stage");
    stage(vec![file("a.py", "def first_a(): pass", 10)], &[]);
    stage(vec![file("b.py", "def first_b(): pass", 10)], &[]);
    stage(vec![], &["a.py"]);
    stage(vec![file("b.py", "def second_b(): pass", 10)], &[]);
    stage(vec![file("a.py", "def third_a(): pass", 10)], &[]);
    index.commit_ref(&k).expect("commit");
    assert!(hits(&index, q("first_a")).is_empty());
    assert!(hits(&index, q("first_b")).is_empty());
    assert_eq!(hits(&index, q("second_b")), ["b.py:1"]);
    assert_eq!(hits(&index, q("third_a")), ["a.py:1"]);
    assert_eq!(index.num_chunks(), 2);
}

/// Two refs run many multi-batch runs at once on two threads while a third thread searches
/// without pause: every run's marker is found in none or all of its files, never some.
#[test]
fn concurrent_runs_of_two_refs_never_publish_each_others_partial_state() {
    const ROUNDS: usize = 6;
    const FILES_PER_RUN: usize = 5;
    let index = Arc::new(SearchIndex::open_in_memory().expect("open"));
    let done = Arc::new(AtomicBool::new(false));

    let writers: Vec<_> = ["left", "right"]
        .into_iter()
        .map(|side| {
            let index = Arc::clone(&index);
            std::thread::spawn(move || {
                let k = key("demo", &format!("refs/heads/{side}"));
                for round in 0..ROUNDS {
                    for n in 0..FILES_PER_RUN {
                        let body = format!("def {side}_round_{round}_marker():\n    return {n}\n");
                        index
                            .stage(&change(
                                &k,
                                vec![file(&format!("{side}/f{n}.py"), &body, 10)],
                                &[],
                            ))
                            .expect("stage");
                        // Let the other ref's run and commit interleave with this one.
                        std::thread::yield_now();
                    }
                    index.commit_ref(&k).expect("commit");
                }
            })
        })
        .collect();

    let checker = {
        let index = Arc::clone(&index);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut checks = 0usize;
            loop {
                let finished = done.load(Ordering::SeqCst);
                for side in ["left", "right"] {
                    for round in 0..ROUNDS {
                        let mut query = q(&format!("{side}_round_{round}_marker"));
                        query.limit = 50;
                        let n = index.search(&query).expect("search").hits.len();
                        assert!(
                            n == 0 || n == FILES_PER_RUN,
                            "{side} round {round}: {n} of {FILES_PER_RUN} files visible"
                        );
                        checks += 1;
                    }
                }
                if finished {
                    return checks;
                }
            }
        })
    };
    for w in writers {
        w.join().expect("writer thread");
    }
    done.store(true, Ordering::SeqCst);
    assert!(checker.join().expect("checker thread") > 0);

    // Each ref ends with exactly its last run: every file replaced in every round.
    for side in ["left", "right"] {
        let mut query = q(&format!("{side}_round_{}_marker", ROUNDS - 1));
        query.limit = 50;
        assert_eq!(
            index.search(&query).expect("search").hits.len(),
            FILES_PER_RUN
        );
        assert!(hits(&index, q(&format!("{side}_round_0_marker"))).is_empty());
    }
    assert_eq!(index.num_chunks(), (2 * FILES_PER_RUN) as u64);
}
