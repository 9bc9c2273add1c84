//! Indexer benchmarks: chunker throughput; full index of a generated 10,000-file tree; a
//! no-change rescan (stat cache only); a one-file change with a path hint; the last two also
//! with the file manifest store.
//!
//! `cargo bench -p gateway-benches --bench indexer_scan -- --warm-up-time 1 --measurement-time 3`
//!
//! The sink is the in-memory `MemorySink` and the manifest store the in-memory one, so these
//! measure the indexer's own work plus an in-memory copy of the results. The whole-process
//! comparison with `b3sum` and `git status` is `benches/load/tree_index.py`, reported in
//! docs/BENCHMARKS.md.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use indexer::{
    ChangeStatus, ChunkConfig, FsManifestStore, HashAlgo, Indexer, IndexerConfig, ManifestStore,
    MemoryManifestStore, MemorySink, PathChange, RefKey, RunRequest, Scope, chunk_text,
};

const FILES: usize = 10_000;

fn source_text(seed: usize, lines: usize) -> String {
    (0..lines)
        .map(|i| match (seed + i) % 14 {
            0 => format!("pub fn item_{seed}_{i}(input: &str) -> usize {{\n"),
            12 => "}\n".to_string(),
            13 => "\n".to_string(),
            k => format!(
                "{}let value_{i} = input.len() * {k} + {seed};\n",
                "    ".repeat(1 + k % 3)
            ),
        })
        .collect()
}

/// A tree of `FILES` files of 20..220 lines in nested directories, all with an old mtime so the
/// racily-clean rule does not force re-reads.
fn generate_tree(root: &Path) {
    for i in 0..FILES {
        let dir = root.join(format!("crate_{}/src/mod_{}", i % 40, (i / 40) % 25));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("file_{i}.rs"));
        fs::write(&path, source_text(i, 20 + (i * 37) % 200)).unwrap();
        backdate(&path);
    }
}

/// Sets a file's mtime an hour back, so it is not "racily clean" against the manifest and
/// unchanged files are decided by their stat data alone, as on a real tree.
fn backdate(path: &Path) {
    let old = SystemTime::now() - Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
}

fn run(indexer: &Indexer, tree: &Path, scope: Scope, sink: &MemorySink, store: &dyn ManifestStore) {
    let request = RunRequest {
        tree,
        key: RefKey::new("bench", "refs/heads/main"),
        commit: None,
        scope,
    };
    indexer
        .run(request, sink, store, &|_| {}, &|| false)
        .unwrap();
}

fn chunker(c: &mut Criterion) {
    let text: String = (0..2_000).map(|i| source_text(i, 50)).collect();
    let mut group = c.benchmark_group("indexer_chunker");
    group.throughput(Throughput::Bytes(text.len() as u64));
    for hash in [HashAlgo::Blake3, HashAlgo::Sha256] {
        group.bench_function(format!("chunk_text_{hash}"), |b| {
            b.iter(|| chunk_text(&text, &ChunkConfig::default(), hash))
        });
    }
    group.finish();
}

fn scans(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path();
    generate_tree(tree);
    let indexer = Indexer::new(IndexerConfig::default()).unwrap();
    let mut group = c.benchmark_group("indexer_scan_10k_files");
    group.sample_size(10);

    group.bench_function("full_index", |b| {
        b.iter_batched(
            || (MemorySink::new(), MemoryManifestStore::new()),
            |(sink, store)| run(&indexer, tree, Scope::Full, &sink, &store),
            BatchSize::PerIteration,
        )
    });

    let (sink, store) = (MemorySink::new(), MemoryManifestStore::new());
    run(&indexer, tree, Scope::Full, &sink, &store);
    group.bench_function("no_change_rescan", |b| {
        b.iter(|| run(&indexer, tree, Scope::Full, &sink, &store))
    });

    let mut edit = 0u64;
    group.bench_function("one_file_change_with_hint", |b| {
        b.iter_batched(
            || edit_one_file(tree, &mut edit),
            |scope| run(&indexer, tree, scope, &sink, &store),
            BatchSize::PerIteration,
        )
    });

    // The same two runs with the file store: a full run loads the snapshot as a lazily
    // decoded view, a hint run reads one block and appends one fsynced journal record.
    let store_dir = tempfile::tempdir().unwrap();
    let fs_store = FsManifestStore::new(store_dir.path()).unwrap();
    run(&indexer, tree, Scope::Full, &sink, &fs_store);
    group.bench_function("no_change_rescan_fs_store", |b| {
        b.iter(|| run(&indexer, tree, Scope::Full, &sink, &fs_store))
    });
    group.bench_function("one_file_change_with_hint_fs_store", |b| {
        b.iter_batched(
            || edit_one_file(tree, &mut edit),
            |scope| run(&indexer, tree, scope, &sink, &fs_store),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Rewrites one file (mtime set back, so only the hint can find it) and returns the hint.
fn edit_one_file(tree: &Path, edit: &mut u64) -> Scope {
    let rel = "crate_7/src/mod_3/file_1247.rs";
    let path = tree.join(rel);
    *edit += 1;
    fs::write(&path, format!("{}// edit {edit}\n", source_text(1247, 80))).unwrap();
    backdate(&path);
    Scope::Paths(vec![PathChange {
        status: ChangeStatus::Modified,
        path: rel.to_string(),
        old_path: None,
    }])
}

criterion_group!(benches, chunker, scans);
criterion_main!(benches);
