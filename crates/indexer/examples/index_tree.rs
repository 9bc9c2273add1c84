//! Whole-process indexing of a local tree, for benchmarks and quick checks.
//!
//! ```text
//! cargo run --release -p indexer --example index_tree -- TREE [--manifests DIR] [--hint PATH]... [--time-load] [--threads N]
//! ```
//!
//! `--time-load` loads the manifest view (what a full run loads) once more before the run and
//! prints how long that took (`manifest_load_ms`); it is off by default so that whole-process timings are the run's.
//! `--threads N` sets the walker threads (default 0: one per CPU).
//!
//! With `--manifests DIR` the manifest persists between invocations (so a second invocation is
//! an incremental no-change rescan); without it every invocation is a full index. Each `--hint`
//! makes the run a path-hint run with that path marked modified. The sink only counts what it
//! receives, so the numbers measure the indexer, not a search index.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use indexer::{
    ChangeSet, ChangeStatus, FsManifestStore, IndexSink, Indexer, IndexerConfig, ManifestStore,
    MemoryManifestStore, PathChange, RefKey, RunRequest, Scope, SinkError,
};

/// Counts files, chunks and bytes, and keeps nothing.
#[derive(Debug, Default)]
struct CountingSink {
    files: AtomicU64,
    chunks: AtomicU64,
    bytes: AtomicU64,
}

impl IndexSink for CountingSink {
    fn apply(&self, changes: &ChangeSet) -> Result<(), SinkError> {
        self.files
            .fetch_add(changes.upserts.len() as u64, Ordering::Relaxed);
        for file in &changes.upserts {
            self.chunks
                .fetch_add(file.chunks.len() as u64, Ordering::Relaxed);
            self.bytes.fetch_add(file.size, Ordering::Relaxed);
        }
        Ok(())
    }

    fn commit(&self, _key: &RefKey) -> Result<(), SinkError> {
        Ok(())
    }

    fn drop_ref(&self, _key: &RefKey) -> Result<(), SinkError> {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut tree = None;
    let mut manifest_dir = None;
    let mut hints = Vec::new();
    let mut time_load = false;
    let mut threads = 0;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--manifests" => manifest_dir = args.next().map(PathBuf::from),
            "--time-load" => time_load = true,
            "--threads" => threads = args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            "--hint" => hints.extend(args.next().map(|path| PathChange {
                status: ChangeStatus::Modified,
                path,
                old_path: None,
            })),
            _ => tree = Some(PathBuf::from(arg)),
        }
    }
    let tree = tree.ok_or(
        "usage: index_tree TREE [--manifests DIR] [--hint PATH]... [--time-load] [--threads N]",
    )?;
    let manifests: Box<dyn ManifestStore> = match manifest_dir {
        Some(dir) => Box::new(FsManifestStore::new(dir)?),
        None => Box::new(MemoryManifestStore::new()),
    };
    let scope = if hints.is_empty() {
        Scope::Full
    } else {
        Scope::Paths(hints)
    };
    let indexer = Indexer::new(IndexerConfig {
        threads,
        ..IndexerConfig::default()
    })?;
    let sink = CountingSink::default();
    let request = RunRequest {
        tree: &tree,
        key: RefKey::new("bench", "refs/heads/main"),
        commit: None,
        scope,
    };
    // Loaded once more on its own (when asked) so the output shows what the manifest costs.
    let (loaded, load_ms) = if time_load {
        let load_started = std::time::Instant::now();
        let loaded = manifests.load_view(&request.key)?.map_or(0, |m| m.len());
        (loaded, load_started.elapsed().as_secs_f64() * 1000.0)
    } else {
        (0, 0.0)
    };
    let summary = indexer.run(request, &sink, manifests.as_ref(), &|_| {}, &|| false)?;
    let p = summary.progress;
    println!(
        "{{\"files_seen\":{},\"files_changed\":{},\"files_deleted\":{},\"chunks_added\":{},\
         \"chunks_removed\":{},\"files_read\":{},\"bytes_sent\":{},\"skipped\":{:?},\"elapsed_ms\":{:.1},\"manifest_entries\":{},\"manifest_load_ms\":{:.1}}}",
        p.files_seen,
        p.files_changed,
        p.files_deleted,
        p.chunks_added,
        p.chunks_removed,
        summary.files_read,
        sink.bytes.load(Ordering::Relaxed),
        summary.skipped,
        summary.elapsed.as_secs_f64() * 1000.0,
        loaded,
        load_ms
    );
    Ok(())
}
