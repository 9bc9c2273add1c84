//! On disk: reopen, the writer lock, read-only handles, and kill -9 mid-run.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{change, file, hits, main_key, put_file, q};
use search::{Error, SearchIndex};

#[test]
fn reopen_keeps_committed_state_and_drops_uncommitted_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = main_key();
    {
        let index = SearchIndex::open(dir.path()).expect("open");
        put_file(&index, &k, "a.rs", "fn committed_fn() {}");
        index
            .stage(&change(
                &k,
                vec![file("b.rs", "fn staged_only() {}", 10)],
                &["a.rs"],
            ))
            .expect("stage");
        // Dropped without commit.
    }
    let index = SearchIndex::open(dir.path()).expect("reopen");
    assert_eq!(hits(&index, q("committed_fn")), ["a.rs:1"]);
    assert!(hits(&index, q("staged_only")).is_empty());
    assert_eq!(index.num_chunks(), 1);
}

#[test]
fn second_writer_is_refused_with_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = SearchIndex::open(dir.path()).expect("open");
    match SearchIndex::open(dir.path()) {
        Err(Error::Locked { path }) => {
            assert_eq!(path, dir.path());
            let message = Error::Locked { path }.to_string();
            assert!(message.contains("read-only"), "{message}");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[test]
fn read_only_sees_committed_data_while_writer_is_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        SearchIndex::open_read_only(dir.path()),
        Err(Error::NoIndex { .. })
    ));
    let k = main_key();
    let writer = SearchIndex::open(dir.path()).expect("open");
    put_file(&writer, &k, "a.rs", "fn visible_to_readers() {}");
    writer
        .stage(&change(&k, vec![file("b.rs", "fn not_yet() {}", 10)], &[]))
        .expect("stage");

    let reader = SearchIndex::open_read_only(dir.path()).expect("open read-only");
    assert_eq!(hits(&reader, q("visible_to_readers")), ["a.rs:1"]);
    assert!(hits(&reader, q("not_yet")).is_empty());
    assert!(matches!(
        reader.stage(&change(&k, vec![], &[])),
        Err(Error::ReadOnly { .. })
    ));
    assert!(matches!(reader.remove_ref(&k), Err(Error::ReadOnly { .. })));
}

const CHILD_ENV: &str = "SEARCH_SIGKILL_CHILD_DIR";
const FILES_PER_RUN: usize = 400;

/// Runs in a child process (this test binary re-executed): commits a first state, says so,
/// then commits large runs in a loop until it is killed.
/// (The test harness prints `test NAME ... ` before our line, hence `contains` below.)
fn crash_child(dir: &str) {
    let index = SearchIndex::open(std::path::Path::new(dir)).expect("child open");
    let k = main_key();
    put_file(&index, &k, "base.rs", "fn base_marker() {}");
    println!("COMMITTED");
    let line: String = (0..40)
        .map(|i| format!("let v{i} = churn_marker(x, y);\n"))
        .collect();
    // Bounded so that a parent that failed to kill us cannot leave a runaway process.
    for round in 0..200 {
        let files = (0..FILES_PER_RUN)
            .map(|i| {
                file(
                    &format!("gen/{i}.rs"),
                    &format!("{line}// round {round}"),
                    1000,
                )
            })
            .collect();
        index.stage(&change(&k, files, &[])).expect("child stage");
        index.commit_ref(&k).expect("child commit");
    }
}

#[test]
fn sigkill_mid_run_leaves_the_last_committed_state() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        crash_child(&dir);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "sigkill_mid_run_leaves_the_last_committed_state",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("COMMITTED"))),
        "child never committed"
    );
    // Let it get into the loop of big runs; wherever the kill lands, the check below holds.
    std::thread::sleep(std::time::Duration::from_millis(400));
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap child");

    let index = SearchIndex::open(dir.path()).expect("reopen after kill -9");
    assert_eq!(hits(&index, q("base_marker")), ["base.rs:1"]);
    let churn = index.num_chunks() - 1;
    assert!(
        churn == 0 || churn == FILES_PER_RUN as u64,
        "a run is all or nothing after kill -9, found {churn} of {FILES_PER_RUN} chunks"
    );
}
