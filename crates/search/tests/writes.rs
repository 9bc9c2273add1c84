//! The sink: replace and delete files, drop refs, abort runs, isolate concurrent refs,
//! and filter by repo, ref and path.

mod common;

use std::sync::Arc;

use common::{apply, apply_file, change, demo_index, file, hits, key, main_key, put, put_file, q};
use indexer::IndexSink;
use search::{Error, Query, SearchIndex};

#[test]
fn replaced_file_loses_old_content_in_one_commit() {
    let index = SearchIndex::open_in_memory().expect("open");
    let k = main_key();
    apply(
        &index,
        &k,
        vec![file("lib.py", "def old_name():\n    pass\n", 1)],
        &[],
    );
    index.commit(&k).expect("commit");
    assert_eq!(hits(&index, q("old_name")), ["lib.py:1"]);
    assert_eq!(index.num_chunks(), 2);

    apply_file(&index, &k, "lib.py", "def new_name():\n    pass\n");
    // Staged, not committed: searches still see the old file.
    assert_eq!(hits(&index, q("old_name")), ["lib.py:1"]);
    assert!(hits(&index, q("new_name")).is_empty());
    index.commit(&k).expect("commit");
    assert!(hits(&index, q("old_name")).is_empty());
    assert_eq!(hits(&index, q("new_name")), ["lib.py:1"]);
    assert_eq!(index.num_chunks(), 1);

    apply(&index, &k, vec![], &["lib.py"]);
    index.commit(&k).expect("commit");
    assert!(hits(&index, q("new_name")).is_empty());
    assert_eq!(index.num_chunks(), 0);
}

#[test]
fn later_batches_of_a_run_override_earlier_ones() {
    let index = SearchIndex::open_in_memory().expect("open");
    let k = main_key();
    apply_file(&index, &k, "a.rs", "fn first_version() {}");
    apply_file(&index, &k, "a.rs", "fn second_version() {}");
    apply_file(&index, &k, "b.rs", "fn doomed() {}");
    apply(&index, &k, vec![], &["b.rs"]);
    index.commit(&k).expect("commit");
    assert!(hits(&index, q("first_version")).is_empty());
    assert_eq!(hits(&index, q("second_version")), ["a.rs:1"]);
    assert!(hits(&index, q("doomed")).is_empty());
    assert_eq!(index.num_chunks(), 1);
}

#[test]
fn drop_ref_removes_only_that_ref() {
    let index = SearchIndex::open_in_memory().expect("open");
    let main = main_key();
    let pr = key("demo", "refs/pull/7/head");
    put_file(&index, &main, "a.rs", "fn shared() {}");
    put(
        &index,
        &pr,
        vec![
            file("a.rs", "fn shared() {}", 10),
            file("b.rs", "fn pr_only() {}", 10),
        ],
        &[],
    );
    assert_eq!(index.num_chunks(), 3);
    index.drop_ref(&pr).expect("drop");
    assert_eq!(index.num_chunks(), 1);
    assert!(hits(&index, q("pr_only")).is_empty());
    let results = index.search(&q("shared")).expect("search");
    assert_eq!(results.hits.len(), 1);
    assert_eq!(results.hits[0].git_ref, "refs/heads/main");
}

#[test]
fn abort_forgets_the_staged_run() {
    let index = demo_index(vec![file("keep.rs", "fn kept() {}", 10)]);
    let k = main_key();
    apply(
        &index,
        &k,
        vec![file("new.rs", "fn aborted_work() {}", 10)],
        &["keep.rs"],
    );
    index.abort(&k).expect("abort");
    // A later commit of the same ref must not resurrect the aborted batch.
    index.commit(&k).expect("commit");
    assert!(hits(&index, q("aborted_work")).is_empty());
    assert_eq!(hits(&index, q("kept")), ["keep.rs:1"]);
}

#[test]
fn one_refs_commit_never_publishes_another_refs_run() {
    let index = Arc::new(SearchIndex::open_in_memory().expect("open"));
    let a = key("demo", "refs/heads/a");
    let b = key("demo", "refs/heads/b");
    index
        .apply(&change(
            &a,
            vec![file("a.rs", "fn from_ref_a() {}", 10)],
            &[],
        ))
        .expect("apply a");
    index
        .apply(&change(
            &b,
            vec![file("b.rs", "fn from_ref_b() {}", 10)],
            &[],
        ))
        .expect("apply b");
    index.commit(&b).expect("commit b");
    assert_eq!(hits(&index, q("from_ref_b")), ["b.rs:1"]);
    assert!(
        hits(&index, q("from_ref_a")).is_empty(),
        "ref a's run is not committed yet"
    );
    index.commit(&a).expect("commit a");
    assert_eq!(hits(&index, q("from_ref_a")), ["a.rs:1"]);

    // Many refs committing from several threads at once all end up complete.
    let mut workers = Vec::new();
    for i in 0..6 {
        let index = Arc::clone(&index);
        workers.push(std::thread::spawn(move || {
            let k = key("demo", &format!("refs/heads/w{i}"));
            for batch in 0..3 {
                let path = format!("w{i}/f{batch}.rs");
                index
                    .stage(&change(
                        &k,
                        vec![file(&path, &format!("fn worker_{i}_item() {{}}"), 10)],
                        &[],
                    ))
                    .expect("stage");
            }
            index.commit_ref(&k).expect("commit");
        }));
    }
    for w in workers {
        w.join().expect("worker");
    }
    for i in 0..6 {
        assert_eq!(
            hits(&index, q(&format!("worker_{i}_item"))).len(),
            3,
            "worker {i}"
        );
    }
}

#[test]
fn filters_by_repo_ref_prefix_and_glob() {
    let index = SearchIndex::open_in_memory().expect("open");
    let body = "def target_fn():\n    pass";
    put(
        &index,
        &key("alpha", "refs/heads/main"),
        vec![
            file("src/app/main.py", body, 10),
            file("src/app/util/helpers.py", body, 10),
            file("src/application.rs", body, 10),
            file("tests/test_main.py", body, 10),
        ],
        &[],
    );
    put(
        &index,
        &key("alpha", "refs/tags/v1"),
        vec![file("src/app/main.py", body, 10)],
        &[],
    );
    put(
        &index,
        &key("beta", "refs/heads/main"),
        vec![file("src/app/main.py", body, 10)],
        &[],
    );

    let query = |repo: Option<&str>, git_ref: Option<&str>, path: Option<&str>| {
        let found = index
            .search(&Query {
                text: "target_fn".into(),
                repo: repo.map(Into::into),
                git_ref: git_ref.map(Into::into),
                path: path.map(Into::into),
                limit: 50,
                ..Query::default()
            })
            .expect("search");
        let mut v: Vec<String> = found
            .hits
            .iter()
            .map(|h| format!("{}@{}:{}", h.repo, h.git_ref, h.path))
            .collect();
        v.sort();
        v
    };
    assert_eq!(query(None, None, None).len(), 6);
    assert_eq!(
        query(Some("beta"), None, None),
        ["beta@refs/heads/main:src/app/main.py"]
    );
    assert_eq!(
        query(Some("alpha"), Some("refs/tags/v1"), None),
        ["alpha@refs/tags/v1:src/app/main.py"]
    );
    assert_eq!(
        query(Some("alpha"), Some("v1"), None),
        ["alpha@refs/tags/v1:src/app/main.py"],
        "short ref name"
    );
    assert_eq!(query(Some("alpha"), Some("main"), None).len(), 4);
    assert!(query(Some("gamma"), None, None).is_empty());
    // Prefix is a string prefix, not a directory boundary.
    assert_eq!(
        query(Some("alpha"), Some("main"), Some("src/app")),
        [
            "alpha@refs/heads/main:src/app/main.py",
            "alpha@refs/heads/main:src/app/util/helpers.py",
            "alpha@refs/heads/main:src/application.rs",
        ]
    );
    assert_eq!(
        query(Some("alpha"), Some("main"), Some("src/app/")).len(),
        2
    );
    // `*` stays within a directory, `**` crosses them.
    assert_eq!(
        query(Some("alpha"), Some("main"), Some("src/app/*.py")),
        ["alpha@refs/heads/main:src/app/main.py"]
    );
    assert_eq!(
        query(Some("alpha"), Some("main"), Some("src/**/*.py")).len(),
        2
    );
    assert_eq!(
        query(Some("alpha"), Some("main"), Some("**/test_*.py")),
        ["alpha@refs/heads/main:tests/test_main.py"]
    );
    assert_eq!(
        query(Some("alpha"), Some("main"), Some("*.rs")),
        Vec::<String>::new()
    );
    assert_eq!(
        query(Some("alpha"), Some("main"), Some("src/*.rs")),
        ["alpha@refs/heads/main:src/application.rs"]
    );
    assert!(query(None, None, Some("nowhere/")).is_empty());
    match index.search(&Query {
        text: "target_fn".into(),
        path: Some("src/[".into()),
        ..Query::default()
    }) {
        Err(Error::BadQuery { reason }) => assert!(reason.contains("glob"), "{reason}"),
        other => panic!("expected a bad glob error, got {other:?}"),
    }
}

#[test]
fn bad_queries_are_errors_or_results_never_panics() {
    let index = SearchIndex::open_in_memory().expect("open");
    put_file(&index, &main_key(), "a.rs", "fn handler() {}");
    let ten_kb = "handler ".repeat(1300);
    for text in [
        "",
        "   ",
        "\"handler",
        "\"\"",
        "!!! ??? ... ;;",
        ten_kb.as_str(),
        "a:b AND NOT c",
        "field:value",
    ] {
        match index.search(&q(text)) {
            Ok(results) => assert!(results.hits.len() <= 10, "{text:?}"),
            Err(Error::BadQuery { reason }) => assert!(!reason.is_empty()),
            Err(other) => panic!("{text:?}: unexpected error {other}"),
        }
    }
    // Tantivy query syntax is just words here: `handler:x` searches for handler and x.
    assert!(
        index
            .search(&q("handler:handler"))
            .expect("search")
            .hits
            .len()
            == 1
    );
    assert!(matches!(
        index.search(&q(&ten_kb)),
        Err(Error::BadQuery { .. })
    ));
    assert!(matches!(
        index.search(&q("\"open phrase")),
        Err(Error::BadQuery { .. })
    ));
    let too_many = (0..40)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(matches!(
        index.search(&q(&too_many)),
        Err(Error::BadQuery { .. })
    ));
    let mut big_limit = q("handler");
    big_limit.limit = 1_000_000;
    assert_eq!(big_limit.effective_limit(), 100);
    assert_eq!(index.search(&big_limit).expect("search").hits.len(), 1);
}

#[test]
fn repeated_path_filters_follow_replaced_deleted_and_new_files() {
    // The same filter is asked again after every change: per-segment filter results are
    // reused between queries, and must never resurrect deleted chunks or miss new files.
    let index = SearchIndex::open_in_memory().expect("open");
    let k = main_key();
    let filtered = |pattern: &str| {
        hits(
            &index,
            Query {
                path: Some(pattern.into()),
                ..q("shared_marker")
            },
        )
    };
    put(
        &index,
        &k,
        vec![
            file("tests/test_a.py", "def shared_marker():\n    pass\n", 10),
            file("src/a.py", "def shared_marker():\n    pass\n", 10),
        ],
        &[],
    );
    assert_eq!(filtered("**/test_*.py"), ["tests/test_a.py:1"]);
    assert_eq!(filtered("src/"), ["src/a.py:1"]);

    put(
        &index,
        &k,
        vec![
            file("tests/test_b.py", "x = 1\ndef shared_marker():\n", 10),
            file("tests/deep/test_c.py", "def shared_marker(): ...\n", 10),
        ],
        &["tests/test_a.py"],
    );
    assert_eq!(
        filtered("**/test_*.py"),
        ["tests/deep/test_c.py:1", "tests/test_b.py:1"]
    );
    assert_eq!(filtered("tests/*.py"), ["tests/test_b.py:1"]);

    put(
        &index,
        &k,
        vec![file("tests/test_b.py", "nothing here\n", 10)],
        &["src/a.py"],
    );
    assert_eq!(filtered("**/test_*.py"), ["tests/deep/test_c.py:1"]);
    assert!(filtered("src/").is_empty());
}

#[test]
fn large_runs_replace_files_like_small_ones() {
    // Runs of many files hand chunks to tantivy one by one, small runs one file per batch:
    // both must delete a replaced file's old chunks and keep only the new ones.
    let index = SearchIndex::open_in_memory().expect("open");
    let k = main_key();
    let files = |word: &str, n: usize| -> Vec<_> {
        (0..n)
            .map(|i| {
                file(
                    &format!("src/f{i:03}.rs"),
                    &format!("fn {word}_{i}() {{}}\n"),
                    10,
                )
            })
            .collect()
    };
    for n in [3, 100] {
        put(&index, &k, files("first", n), &[]);
        assert_eq!(hits(&index, q(&format!("first_{}", n - 1))).len(), 1);
        put(&index, &k, files("second", n), &[]);
        assert!(hits(&index, q(&format!("first_{}", n - 1))).is_empty());
        assert_eq!(
            hits(&index, q(&format!("second_{}", n - 1))),
            [format!("src/f{:03}.rs:1", n - 1)]
        );
        assert_eq!(index.num_chunks(), n as u64);
        let all: Vec<String> = (0..n).map(|i| format!("src/f{i:03}.rs")).collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        put(&index, &k, vec![], &all);
        assert_eq!(index.num_chunks(), 0);
    }
}

/// A read-only index refuses writes as a permanent kind of sink error, not a retryable one.
#[test]
fn a_read_only_index_refuses_writes_for_good() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(SearchIndex::open(dir.path()).expect("create"));
    let index = SearchIndex::open_read_only(dir.path()).expect("open read-only");
    let k = main_key();
    let error = index
        .apply(&change(&k, vec![file("a.rs", "fn a() {}", 1)], &[]))
        .expect_err("a read-only index takes no batch");
    assert!(
        matches!(error, indexer::SinkError::Unavailable { .. }),
        "{error:?}"
    );
    assert!(!error.is_transient());
    let error = index.drop_ref(&k).expect_err("nor a drop");
    assert!(!error.is_transient(), "{error:?}");
}
