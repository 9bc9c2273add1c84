//! Change detection across runs: stat cache, racily clean, hints, renames, deletes,
//! cancellation and sink failures, manifests, chunk-id stability.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use common::*;
use indexer::{
    ChangeStatus, ChunkConfig, Error, FsManifestStore, Indexer, IndexerConfig, ManifestStore,
    MemoryManifestStore, MemorySink, PathChange, RefKey, RunRequest, Scope, chunk_text,
};

fn base_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for i in 0..20 {
        write(
            root,
            &format!("src/m{i}.rs"),
            format!("fn f{i}() {{\n    {i}\n}}\n"),
        );
    }
    write(root, "README.md", "# readme\n");
    age_tree(root);
    dir
}

fn hint(status: ChangeStatus, path: &str, old: Option<&str>) -> PathChange {
    PathChange {
        status,
        path: path.into(),
        old_path: old.map(Into::into),
    }
}

#[test]
fn second_run_reads_nothing_and_sends_nothing() {
    let dir = base_tree();
    let (sink, manifests) = (RecordingSink::new(), MemoryManifestStore::new());
    let indexer = indexer();
    let first = run(&indexer, dir.path(), Scope::Full, &sink, &manifests).unwrap();
    assert_eq!(first.progress.files_changed, 21);
    assert_eq!(first.files_read, 21);
    sink.take_batches();

    let second = run(&indexer, dir.path(), Scope::Full, &sink, &manifests).unwrap();
    assert_eq!(second.files_read, 0);
    assert_eq!(second.progress.files_seen, 21);
    assert_eq!(
        second.progress.files_changed + second.progress.files_deleted,
        0
    );
    assert!(
        sink.take_batches().is_empty(),
        "no ChangeSet for a run that found nothing"
    );
    assert_eq!(sink.commits.load(Ordering::SeqCst), 1);
}

#[test]
fn a_touched_file_is_reread_but_not_resent() {
    let dir = base_tree();
    let (sink, manifests) = (RecordingSink::new(), MemoryManifestStore::new());
    let indexer = indexer();
    run(&indexer, dir.path(), Scope::Full, &sink, &manifests).unwrap();
    sink.take_batches();
    set_mtime(
        &dir.path().join("README.md"),
        SystemTime::now() - Duration::from_secs(60),
    );
    let summary = run(&indexer, dir.path(), Scope::Full, &sink, &manifests).unwrap();
    assert_eq!(summary.files_read, 1);
    assert_eq!(summary.progress.files_changed, 0);
    assert!(sink.take_batches().is_empty());
    let again = run(&indexer, dir.path(), Scope::Full, &sink, &manifests).unwrap();
    assert_eq!(again.files_read, 0, "the new stat data was saved");
}

#[test]
fn racily_clean_files_are_rehashed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    write(dir.path(), "a.txt", "version one\n");
    // An mtime not before the run's start is "racily clean": the stat data cannot prove that
    // the file did not change again within the same timestamp.
    let racy = SystemTime::now() + Duration::from_secs(3600);
    set_mtime(&path, racy);
    let (sink, manifests) = (MemorySink::new(), MemoryManifestStore::new());
    let indexer = indexer();
    run(&indexer, dir.path(), Scope::Full, &sink, &manifests).unwrap();

    // Same size, same inode, same mtime: only the content differs.
    fs::write(&path, "version two\n").unwrap();
    set_mtime(&path, racy);
    let summary = run(&indexer, dir.path(), Scope::Full, &sink, &manifests).unwrap();
    assert_eq!(summary.progress.files_changed, 1);
    assert_eq!(sink.files(&key())["a.txt"][0].text, "version two\n");

    // The same trick on an old mtime goes unnoticed: proof the stat cache really skips reads.
    let old = SystemTime::now() - Duration::from_secs(3600);
    set_mtime(&path, old);
    run(&indexer, dir.path(), Scope::Full, &sink, &manifests).unwrap();
    fs::write(&path, "version six\n").unwrap();
    set_mtime(&path, old);
    let summary = run(&indexer, dir.path(), Scope::Full, &sink, &manifests).unwrap();
    assert_eq!(summary.files_read, 0);
    assert_eq!(sink.files(&key())["a.txt"][0].text, "version two\n");
}

#[test]
fn rename_delete_and_edit_with_hints_match_a_full_run() {
    let dir = base_tree();
    let root = dir.path();
    let indexer = indexer();
    let (hinted_sink, hinted_manifests) = (RecordingSink::new(), MemoryManifestStore::new());
    run(&indexer, root, Scope::Full, &hinted_sink, &hinted_manifests).unwrap();
    hinted_sink.take_batches();

    fs::rename(root.join("src/m1.rs"), root.join("src/renamed.rs")).unwrap();
    fs::remove_file(root.join("src/m2.rs")).unwrap();
    write_aged(root, "src/m3.rs", "fn f3() {\n    changed\n}\n");
    write_aged(root, "src/new.rs", "fn new() {}\n");
    let hints = vec![
        hint(ChangeStatus::Renamed, "src/renamed.rs", Some("src/m1.rs")),
        hint(ChangeStatus::Deleted, "src/m2.rs", None),
        hint(ChangeStatus::Modified, "src/m3.rs", None),
        hint(ChangeStatus::Added, "src/new.rs", None),
        hint(ChangeStatus::Modified, "src/m4.rs", None), // says modified, is not: harmless
        hint(ChangeStatus::Added, "src/gone.rs", None),  // says added, is missing: a delete
        hint(ChangeStatus::Added, "../outside.rs", None), // never looked at
    ];
    let summary = run(
        &indexer,
        root,
        Scope::Paths(hints),
        &hinted_sink,
        &hinted_manifests,
    )
    .unwrap();
    assert_eq!(summary.progress.files_changed, 3, "renamed, m3, new");
    assert_eq!(
        summary.progress.files_deleted, 2,
        "m1 (renamed away) and m2"
    );
    assert_eq!(summary.files_read, 3);
    let batches = hinted_sink.take_batches();
    let deletes: BTreeSet<&str> = batches
        .iter()
        .flat_map(|b| &b.deletes)
        .map(|s| s.as_str())
        .collect();
    assert_eq!(deletes, BTreeSet::from(["src/m1.rs", "src/m2.rs"]));
    let renamed_ids: Vec<_> = hinted_sink.inner.files(&key())["src/renamed.rs"]
        .iter()
        .map(|c| c.id.clone())
        .collect();
    assert!(
        batches
            .iter()
            .all(|b| renamed_ids.iter().all(|id| !b.delta.kept.contains(id)))
    );

    let (full_sink, full_manifests) = (MemorySink::new(), MemoryManifestStore::new());
    run(&indexer, root, Scope::Full, &full_sink, &full_manifests).unwrap();
    assert_eq!(sink_view(&hinted_sink.inner), sink_view(&full_sink));
    let hinted_manifest = hinted_manifests.load(&key()).unwrap().unwrap();
    let full_manifest = full_manifests.load(&key()).unwrap().unwrap();
    assert!(hinted_manifest.paths().eq(full_manifest.paths()));
    for path in full_manifest.paths() {
        let (hinted, full) = (
            hinted_manifest.get(path).unwrap(),
            full_manifest.get(path).unwrap(),
        );
        assert_eq!(
            (&hinted.hash, &hinted.chunks),
            (&full.hash, &full.chunks),
            "{path}"
        );
        assert_eq!(hinted.stat, full.stat, "{path}");
    }
}

#[test]
fn a_hinted_path_that_is_now_ignored_is_removed() {
    let dir = base_tree();
    let root = dir.path();
    let indexer = Indexer::new(IndexerConfig {
        exclude: vec!["src/m5.rs".into()],
        ..Default::default()
    })
    .unwrap();
    let (sink, manifests) = (MemorySink::new(), MemoryManifestStore::new());
    let plain = Indexer::new(IndexerConfig::default()).unwrap();
    run(&plain, root, Scope::Full, &sink, &manifests).unwrap();
    assert!(sink.files(&key()).contains_key("src/m5.rs"));
    write_aged(root, "src/m5.rs", "fn f5() { edited }\n");
    let hints = vec![hint(ChangeStatus::Modified, "src/m5.rs", None)];
    let summary = run(&indexer, root, Scope::Paths(hints), &sink, &manifests).unwrap();
    assert_eq!(summary.progress.files_deleted, 1);
    assert!(!sink.files(&key()).contains_key("src/m5.rs"));
}

#[test]
fn an_ignore_file_in_the_hint_makes_the_run_walk_everything() {
    let dir = base_tree();
    let root = dir.path();
    let indexer = indexer();
    let (sink, manifests) = (MemorySink::new(), MemoryManifestStore::new());
    run(&indexer, root, Scope::Full, &sink, &manifests).unwrap();
    write(root, ".gitignore", "src/m1*.rs\n");
    age_tree(root);
    let hints = vec![hint(ChangeStatus::Added, ".gitignore", None)];
    let summary = run(&indexer, root, Scope::Paths(hints), &sink, &manifests).unwrap();
    // m1 and m10..m19 are now ignored, found only by walking.
    assert_eq!(summary.progress.files_deleted, 11);
    assert_eq!(summary.progress.files_seen, 11);
}

#[test]
fn a_path_hint_without_a_manifest_walks_everything() {
    let dir = base_tree();
    let (sink, manifests) = (MemorySink::new(), MemoryManifestStore::new());
    let hints = vec![hint(ChangeStatus::Modified, "README.md", None)];
    let summary = run(
        &indexer(),
        dir.path(),
        Scope::Paths(hints),
        &sink,
        &manifests,
    )
    .unwrap();
    assert_eq!(summary.progress.files_changed, 21);
}

#[test]
fn cancellation_aborts_the_sink_and_leaves_the_manifest_untouched() {
    let dir = base_tree();
    let indexer = Indexer::new(IndexerConfig {
        batch_bytes: 1,
        threads: 2,
        ..Default::default()
    })
    .unwrap();
    let (sink, manifests) = (RecordingSink::new(), MemoryManifestStore::new());
    run(&indexer, dir.path(), Scope::Full, &sink, &manifests).unwrap();
    let before = manifests.load(&key()).unwrap();
    for i in 0..20 {
        write(
            dir.path(),
            &format!("src/m{i}.rs"),
            format!("fn g{i}() {{}}\n"),
        );
    }
    age_tree(dir.path());

    let polls = AtomicU64::new(0);
    let cancelled = || polls.fetch_add(1, Ordering::SeqCst) >= 5;
    let request = RunRequest {
        tree: dir.path(),
        key: key(),
        commit: None,
        scope: Scope::Full,
    };
    let result = indexer.run(request, &sink, &manifests, &|_| {}, &cancelled);
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert_eq!(sink.aborts(), 1);
    assert!(
        !sink.take_batches().is_empty(),
        "some batches were applied before the cancel"
    );
    assert_eq!(manifests.load(&key()).unwrap(), before);
    assert_eq!(
        sink.commits.load(Ordering::SeqCst),
        1,
        "only the first run committed"
    );
    assert!(
        sink.inner.files(&key())["src/m0.rs"][0]
            .text
            .starts_with("fn f0")
    );

    // The next run redoes the work.
    let summary = run(&indexer, dir.path(), Scope::Full, &sink, &manifests).unwrap();
    assert_eq!(summary.progress.files_changed, 20);
}

#[test]
fn a_failing_sink_leaves_the_manifest_untouched() {
    let dir = base_tree();
    let indexer = Indexer::new(IndexerConfig {
        batch_bytes: 16,
        ..Default::default()
    })
    .unwrap();
    let (sink, manifests) = (RecordingSink::new(), MemoryManifestStore::new());
    sink.fail_apply_at.store(3, Ordering::SeqCst);
    let error = run(&indexer, dir.path(), Scope::Full, &sink, &manifests).unwrap_err();
    assert!(matches!(error, Error::Sink(_)));
    assert!(error.to_string().contains("disk full"), "{error}");
    assert_eq!(sink.aborts(), 1);
    assert_eq!(manifests.load(&key()).unwrap(), None);
    assert!(sink.inner.files(&key()).is_empty(), "nothing was committed");

    sink.fail_apply_at.store(0, Ordering::SeqCst);
    sink.fail_commit.store(true, Ordering::SeqCst);
    assert!(matches!(
        run(&indexer, dir.path(), Scope::Full, &sink, &manifests),
        Err(Error::Sink(_))
    ));
    assert_eq!(sink.aborts(), 2);
    assert_eq!(manifests.load(&key()).unwrap(), None);
}

#[test]
fn fs_manifest_store_round_trips_and_names_files_safely() {
    let dir = base_tree();
    let store_dir = tempfile::tempdir().unwrap();
    let store = FsManifestStore::new(store_dir.path().join("manifests")).unwrap();
    let evil = RefKey::new("../../etc", "refs/heads/../../../passwd");
    let sink = MemorySink::new();
    let request = RunRequest {
        tree: dir.path(),
        key: evil.clone(),
        commit: Some("abc123".into()),
        scope: Scope::Full,
    };
    indexer()
        .run(request, &sink, &store, &|_| {}, &|| false)
        .unwrap();
    let names: Vec<_> = fs::read_dir(store_dir.path().join("manifests"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "one file, no temp files left: {names:?}");
    assert!(
        store
            .path_for(&evil)
            .starts_with(store_dir.path().join("manifests"))
    );
    let manifest = store.load(&evil).unwrap().unwrap();
    assert_eq!(manifest.len(), 21);
    assert_eq!(manifest.commit(), Some("abc123"));
    assert!(manifest.paths().any(|p| p == "src/m7.rs"));

    fs::write(store.path_for(&evil), "{ not json").unwrap();
    assert!(matches!(store.load(&evil), Err(Error::Manifest { .. })));

    indexer().drop_ref(&evil, &sink, &store).unwrap();
    assert_eq!(store.load(&evil).unwrap(), None);
    assert!(sink.files(&evil).is_empty());
    store.remove(&evil).unwrap();
}

#[test]
fn a_settings_change_reindexes_everything_and_still_deletes() {
    let dir = base_tree();
    let (sink, manifests) = (RecordingSink::new(), MemoryManifestStore::new());
    run(&indexer(), dir.path(), Scope::Full, &sink, &manifests).unwrap();
    fs::remove_file(dir.path().join("README.md")).unwrap();
    let sha = Indexer::new(IndexerConfig {
        hash: "sha256".parse().unwrap(),
        ..Default::default()
    })
    .unwrap();
    let summary = run(&sha, dir.path(), Scope::Full, &sink, &manifests).unwrap();
    assert_eq!(summary.files_read, 20);
    assert_eq!(
        summary.progress.files_changed, 20,
        "new ids: every file re-sent"
    );
    assert_eq!(summary.progress.files_deleted, 1);
    assert!(
        sink.inner
            .files(&key())
            .values()
            .flatten()
            .all(|c| c.id.0.len() == 64)
    );
}

#[test]
fn commit_only_changes_reach_the_sink() {
    let dir = base_tree();
    let (sink, manifests) = (RecordingSink::new(), MemoryManifestStore::new());
    let indexer = indexer();
    run(&indexer, dir.path(), Scope::Full, &sink, &manifests).unwrap();
    sink.take_batches();
    let request = RunRequest {
        tree: dir.path(),
        key: key(),
        commit: Some("c2".into()),
        scope: Scope::Full,
    };
    indexer
        .run(request, &sink, &manifests, &|_| {}, &|| false)
        .unwrap();
    let batches = sink.take_batches();
    assert_eq!(batches.len(), 1);
    assert!(batches[0].upserts.is_empty() && batches[0].deletes.is_empty());
    assert_eq!(batches[0].commit.as_deref(), Some("c2"));
    assert_eq!(
        manifests.load(&key()).unwrap().unwrap().commit(),
        Some("c2")
    );
}

#[test]
fn inserting_a_line_at_the_top_keeps_most_chunk_ids() {
    let body: String = (0..500)
        .map(|i| match i % 12 {
            0 => format!("fn item_{i}() {{\n"),
            11 => "}\n\n".to_string(),
            _ => format!("    let value_{i} = compute({i}, \"text {i}\");\n"),
        })
        .collect();
    let edited = format!("// a new header line\n{body}");
    let config = ChunkConfig::default();
    let before = chunk_text(&body, &config, Default::default());
    let after = chunk_text(&edited, &config, Default::default());
    let old: BTreeSet<_> = before.iter().map(|c| &c.id).collect();
    let kept = after.iter().filter(|c| old.contains(&c.id)).count();
    assert!(before.len() >= 8, "{} chunks", before.len());
    assert!(
        kept + 2 >= before.len(),
        "kept {kept} of {} chunk ids",
        before.len()
    );

    // Editing one function in the middle changes only the chunk(s) around it.
    let middle = body.replacen("let value_250 =", "let renamed_250 =", 1);
    let edited_mid = chunk_text(&middle, &config, Default::default());
    let changed = edited_mid.iter().filter(|c| !old.contains(&c.id)).count();
    assert!(changed <= 2, "{changed} chunks changed");
}
