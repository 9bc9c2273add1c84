//! The file manifest store: binary snapshot + journal round trips, damage and crashes.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{age_tree, indexer, key, run, write, write_aged};
use indexer::{
    ChangeStatus, Error, FsManifestStore, Manifest, ManifestStore, ManifestUpdate,
    MemoryManifestStore, MemorySink, PathChange, RefKey, Scope,
};

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..40 {
        let body: String = (0..30).map(|l| format!("    let x{l} = {i};\n")).collect();
        write(
            dir.path(),
            &format!("src/m{i}.rs"),
            format!("fn f{i}() {{\n{body}}}\n"),
        );
    }
    write(dir.path(), "bin/blob.dat", b"\0\x01binary");
    age_tree(dir.path());
    dir
}

fn hint(path: &str) -> Scope {
    Scope::Paths(vec![PathChange {
        status: ChangeStatus::Modified,
        path: path.into(),
        old_path: None,
    }])
}

/// Paths and entries, without the write time (which differs between stores' runs).
fn view(manifest: &Manifest) -> Vec<(String, indexer::ManifestEntry)> {
    manifest
        .paths()
        .map(|p| (p.to_string(), manifest.get(p).unwrap().clone()))
        .collect()
}

fn from_scratch(dir: &std::path::Path) -> Manifest {
    let store = MemoryManifestStore::new();
    run(&indexer(), dir, Scope::Full, &MemorySink::new(), &store).unwrap();
    store.load(&key()).unwrap().unwrap()
}

/// The manifest `store` holds is the one a from-scratch run over `dir` makes.
fn assert_like_from_scratch(store: &dyn ManifestStore, dir: &std::path::Path) {
    let loaded = store.load(&key()).unwrap().unwrap();
    assert_eq!(view(&loaded), view(&from_scratch(dir)));
}

/// A file manifest store in a temp dir (the returned guard keeps it), a memory sink, and a
/// first full run over `dir` into both.
fn indexed_into_fs_store(
    dir: &std::path::Path,
) -> (tempfile::TempDir, FsManifestStore, MemorySink) {
    let store_dir = tempfile::tempdir().unwrap();
    let store = FsManifestStore::new(store_dir.path()).unwrap();
    let sink = MemorySink::new();
    run(&indexer(), dir, Scope::Full, &sink, &store).unwrap();
    (store_dir, store, sink)
}

#[test]
fn snapshot_round_trips_whole_and_by_path() {
    let dir = tree();
    let memory = MemoryManifestStore::new();
    run(
        &indexer(),
        dir.path(),
        Scope::Full,
        &MemorySink::new(),
        &memory,
    )
    .unwrap();
    let manifest = memory.load(&key()).unwrap().unwrap();
    assert_eq!(manifest.len(), 40);
    assert_eq!(manifest.skipped().count(), 1);

    let store_dir = tempfile::tempdir().unwrap();
    let store = FsManifestStore::new(store_dir.path()).unwrap();
    store.save(&key(), &manifest).unwrap();
    assert_eq!(store.load(&key()).unwrap().as_ref(), Some(&manifest));

    let wanted: BTreeSet<String> = ["src/m3.rs", "bin/blob.dat", "src/missing.rs"]
        .map(String::from)
        .into();
    let some = store.load_paths(&key(), &wanted).unwrap().unwrap();
    assert_eq!(
        some.paths().collect::<Vec<_>>(),
        vec!["src/m3.rs"],
        "only the asked-for indexed path"
    );
    assert_eq!(some.get("src/m3.rs"), manifest.get("src/m3.rs"));
    assert_eq!(
        some.skipped().map(|(p, _)| p).collect::<Vec<_>>(),
        ["bin/blob.dat"]
    );
    assert_eq!(some.written_at_ns(), manifest.written_at_ns());
    assert_eq!(
        memory.load_paths(&key(), &wanted).unwrap(),
        Some(some),
        "memory and file stores agree"
    );
}

#[test]
fn a_hint_run_appends_to_the_journal_and_loads_like_a_full_index() {
    let dir = tree();
    let (_store_dir, store, sink) = indexed_into_fs_store(dir.path());
    let snapshot = fs::read(store.path_for(&key())).unwrap();

    write_aged(dir.path(), "src/m5.rs", "fn changed() {}\n");
    let summary = run(&indexer(), dir.path(), hint("src/m5.rs"), &sink, &store).unwrap();
    assert_eq!(summary.progress.files_changed, 1);
    fs::remove_file(dir.path().join("src/m6.rs")).unwrap();
    let summary = run(&indexer(), dir.path(), hint("src/m6.rs"), &sink, &store).unwrap();
    assert_eq!(summary.progress.files_deleted, 1);

    assert_eq!(
        fs::read(store.path_for(&key())).unwrap(),
        snapshot,
        "the snapshot is not rewritten for a hint run"
    );
    assert!(store.journal_path_for(&key()).exists());
    assert_like_from_scratch(&store, dir.path());

    // A full run with a change folds the journal into a new snapshot.
    write_aged(dir.path(), "src/m7.rs", "fn again() {}\n");
    run(&indexer(), dir.path(), Scope::Full, &sink, &store).unwrap();
    assert!(!store.journal_path_for(&key()).exists());
    assert_like_from_scratch(&store, dir.path());
}

#[test]
fn a_damaged_snapshot_is_an_error_and_the_run_reindexes() {
    let dir = tree();
    let (_store_dir, store, sink) = indexed_into_fs_store(dir.path());
    let path = store.path_for(&key());
    let good = fs::read(&path).unwrap();

    for damage in [good.len() / 2, good.len() - 1, 30] {
        let mut bad = good.clone();
        bad[damage] ^= 0x40;
        fs::write(&path, &bad).unwrap();
        assert!(
            matches!(store.load(&key()), Err(Error::Manifest { .. })),
            "byte {damage} flipped must be detected"
        );
        let wanted: BTreeSet<String> = ["src/m1.rs".to_string()].into();
        // A hint run cannot trust it either: it walks and re-reads everything.
        let summary = run(&indexer(), dir.path(), hint("src/m1.rs"), &sink, &store).unwrap();
        assert_eq!(summary.files_read, 41, "every file re-read");
        assert!(store.load_paths(&key(), &wanted).unwrap().is_some());
        fs::write(&path, &good).unwrap();
    }

    fs::write(&path, &good[..good.len() - 10]).unwrap();
    assert!(
        matches!(store.load(&key()), Err(Error::Manifest { .. })),
        "truncated"
    );

    // Another format version: not read as valid.
    let mut other_format = good.clone();
    other_format[8] = 99;
    fs::write(&path, &other_format).unwrap();
    match store.load(&key()) {
        Err(Error::Manifest { reason, .. }) => assert!(reason.contains("format"), "{reason}"),
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn a_torn_journal_record_is_ignored_and_cut_off_by_the_next_update() {
    let dir = tree();
    let (_store_dir, store, sink) = indexed_into_fs_store(dir.path());
    let before = store.load(&key()).unwrap().unwrap();

    write_aged(dir.path(), "src/m2.rs", "fn two() {}\n");
    run(&indexer(), dir.path(), hint("src/m2.rs"), &sink, &store).unwrap();
    let journal = store.journal_path_for(&key());
    let whole = fs::read(&journal).unwrap();

    // The journal is zero-padded so that appends overwrite allocated bytes.
    assert_eq!(whole.len() % (64 * 1024), 0, "padded journal");
    let used = whole.iter().rposition(|&b| b != 0).unwrap() + 1;

    // The record's last bytes never reached the disk, in the padding or at the end of the
    // file: either way the update is as if never saved.
    let mut torn_in_padding = whole[..used - 5].to_vec();
    torn_in_padding.resize(whole.len(), 0);
    fs::write(&journal, &torn_in_padding).unwrap();
    assert_eq!(store.load(&key()).unwrap().unwrap(), before);
    fs::write(&journal, &whole[..used - 5]).unwrap();
    assert_eq!(store.load(&key()).unwrap().unwrap(), before);

    // The next update cuts the torn tail and lands after it; the re-run redoes m2.
    write_aged(dir.path(), "src/m3.rs", "fn three() {}\n");
    let changes = Scope::Paths(vec![
        PathChange {
            status: ChangeStatus::Modified,
            path: "src/m2.rs".into(),
            old_path: None,
        },
        PathChange {
            status: ChangeStatus::Modified,
            path: "src/m3.rs".into(),
            old_path: None,
        },
    ]);
    let summary = run(&indexer(), dir.path(), changes, &sink, &store).unwrap();
    assert_eq!(summary.progress.files_changed, 2);
    assert_like_from_scratch(&store, dir.path());

    // Garbage after valid records (a torn append of another kind) is ignored the same way.
    let mut longer = fs::read(&journal).unwrap();
    let valid = store.load(&key()).unwrap();
    longer.extend_from_slice(&[7; 100]);
    fs::write(&journal, &longer).unwrap();
    assert_eq!(store.load(&key()).unwrap(), valid);
}

#[test]
fn a_journal_of_an_older_snapshot_is_ignored() {
    let dir = tree();
    let (_store_dir, store, sink) = indexed_into_fs_store(dir.path());
    write_aged(dir.path(), "src/m2.rs", "fn two() {}\n");
    run(&indexer(), dir.path(), hint("src/m2.rs"), &sink, &store).unwrap();
    let old_journal = fs::read(store.journal_path_for(&key())).unwrap();

    // A full run writes a new snapshot; a crash before the old journal was removed would
    // leave it next to the new snapshot, where it must not be replayed.
    write_aged(dir.path(), "src/m2.rs", "fn two_again() {}\n");
    run(&indexer(), dir.path(), Scope::Full, &sink, &store).unwrap();
    let fresh = store.load(&key()).unwrap();
    fs::write(store.journal_path_for(&key()), old_journal).unwrap();
    assert_eq!(store.load(&key()).unwrap(), fresh);
}

/// A file store whose saves fail while `failing` is set, as if the process died between the
/// sink's commit and the manifest save.
#[derive(Debug)]
struct CrashingStore {
    inner: FsManifestStore,
    failing: AtomicBool,
}

impl ManifestStore for CrashingStore {
    fn load(&self, key: &RefKey) -> Result<Option<Manifest>, Error> {
        self.inner.load(key)
    }
    fn save(&self, key: &RefKey, manifest: &Manifest) -> Result<(), Error> {
        if self.failing.load(Ordering::Relaxed) {
            return Err(Error::Manifest {
                path: self.inner.path_for(key),
                reason: "simulated crash before the save".into(),
            });
        }
        self.inner.save(key, manifest)
    }
    fn remove(&self, key: &RefKey) -> Result<(), Error> {
        self.inner.remove(key)
    }
    fn load_paths(
        &self,
        key: &RefKey,
        paths: &BTreeSet<String>,
    ) -> Result<Option<Manifest>, Error> {
        self.inner.load_paths(key, paths)
    }
    fn save_update(&self, key: &RefKey, update: &ManifestUpdate) -> Result<(), Error> {
        if self.failing.load(Ordering::Relaxed) {
            return Err(Error::Manifest {
                path: self.inner.journal_path_for(key),
                reason: "simulated crash before the journal append".into(),
            });
        }
        self.inner.save_update(key, update)
    }
}

#[test]
fn a_crash_between_sink_commit_and_manifest_save_is_redone() {
    let dir = tree();
    let store_dir = tempfile::tempdir().unwrap();
    let store = CrashingStore {
        inner: FsManifestStore::new(store_dir.path()).unwrap(),
        failing: AtomicBool::new(false),
    };
    let sink = MemorySink::new();
    run(&indexer(), dir.path(), Scope::Full, &sink, &store).unwrap();

    for scope in [hint("src/m4.rs"), Scope::Full] {
        write_aged(
            dir.path(),
            "src/m4.rs",
            format!("fn four() {{ {scope:?} }}\n"),
        );
        store.failing.store(true, Ordering::Relaxed);
        assert!(run(&indexer(), dir.path(), scope.clone(), &sink, &store).is_err());
        store.failing.store(false, Ordering::Relaxed);
        // The sink has the change, the manifest does not: the next run redoes it.
        let summary = run(&indexer(), dir.path(), scope, &sink, &store).unwrap();
        assert_eq!(
            summary.progress.files_changed, 1,
            "the lost change is redone"
        );
        assert_like_from_scratch(&store, dir.path());
    }
}

#[test]
fn the_view_of_a_snapshot_and_journal_is_the_manifest_and_a_rescan_reads_nothing() {
    let dir = tree();
    let (_store_dir, store, sink) = indexed_into_fs_store(dir.path());

    // Journal records of every kind: an edit, a deletion, a new file, a skipped file that
    // turned into text and a text file that turned binary.
    write_aged(dir.path(), "src/m1.rs", "fn one() {}\n");
    fs::remove_file(dir.path().join("src/m2.rs")).unwrap();
    write_aged(dir.path(), "src/new.rs", "fn new() {}\n");
    write_aged(dir.path(), "bin/blob.dat", "now text\n");
    write_aged(dir.path(), "src/m4.rs", b"\0binary now");
    for path in [
        "src/m1.rs",
        "src/m2.rs",
        "src/new.rs",
        "bin/blob.dat",
        "src/m4.rs",
    ] {
        run(&indexer(), dir.path(), hint(path), &sink, &store).unwrap();
    }
    let journal_len = fs::metadata(store.journal_path_for(&key())).unwrap().len();
    assert_eq!(journal_len, 64 * 1024, "appends overwrite the padding");

    let loaded = store.load(&key()).unwrap().unwrap();
    let view = store.load_view(&key()).unwrap().unwrap();
    assert_eq!(view.to_manifest(), loaded);
    assert_eq!(view.len(), loaded.len());
    assert_eq!(view.get("src/m1.rs").as_ref(), loaded.get("src/m1.rs"));
    assert!(view.get("src/m2.rs").is_none());
    assert_eq!(view.skipped_len(), 1, "only src/m4.rs is skipped now");
    assert_eq!(
        view.to_manifest(),
        from_scratch_with_time(dir.path(), &loaded)
    );

    // A full rescan trusts the view's stat data: nothing read, nothing sent, nothing saved.
    let snapshot = fs::read(store.path_for(&key())).unwrap();
    let commits = sink.commit_count();
    let summary = run(&indexer(), dir.path(), Scope::Full, &sink, &store).unwrap();
    assert_eq!(summary.files_read, 0);
    assert_eq!(summary.progress.files_seen, 41, "40 - m2 + new + blob");
    assert_eq!(sink.commit_count(), commits);
    assert_eq!(fs::read(store.path_for(&key())).unwrap(), snapshot);
}

/// A from-scratch manifest of `dir` with the commit and write time of `like`.
fn from_scratch_with_time(dir: &std::path::Path, like: &Manifest) -> Manifest {
    let mut fresh = from_scratch(dir);
    let header = ManifestUpdate {
        commit: like.commit().map(String::from),
        written_at_ns: like.written_at_ns(),
        ..ManifestUpdate::default()
    };
    header.apply_to(&mut fresh);
    fresh
}
