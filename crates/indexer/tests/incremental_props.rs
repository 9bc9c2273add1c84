//! Property: for random sequences of creations, edits, renames and deletions, incremental runs
//! (full walks and path hints) end in the same sink contents and manifest as indexing the final
//! tree from scratch, and chunk ids of untouched text survive.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use common::*;
use indexer::{
    ChangeStatus, FsManifestStore, Indexer, IndexerConfig, ManifestStore, MemoryManifestStore,
    MemorySink, PathChange, Scope,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Create { file: u8, seed: u16, lines: u16 },
    Edit { file: u8, line: u16, seed: u16 },
    Rename { from: u8, to: u8 },
    Delete { file: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..12, any::<u16>(), 1u16..300).prop_map(|(file, seed, lines)| Op::Create {
            file,
            seed,
            lines
        }),
        (0u8..12, any::<u16>(), any::<u16>()).prop_map(|(file, line, seed)| Op::Edit {
            file,
            line,
            seed
        }),
        (0u8..12, 0u8..12).prop_map(|(from, to)| Op::Rename { from, to }),
        (0u8..12).prop_map(|file| Op::Delete { file }),
    ]
}

fn name(file: u8) -> String {
    match file % 3 {
        0 => format!("src/f{file}.rs"),
        1 => format!("lib/deep/f{file}.py"),
        _ => format!("f{file}.md"),
    }
}

fn text(seed: u16, lines: u16) -> String {
    (0..lines)
        .map(|i| match (u32::from(seed) + u32::from(i)) % 9 {
            0 => format!("fn item_{seed}_{i}() {{\n"),
            8 => "}\n\n".to_string(),
            k => format!(
                "{}let v{i} = {seed} + {k};\n",
                "    ".repeat(k as usize % 3)
            ),
        })
        .collect()
}

/// Applies `op` to the tree; returns the hints git would report for it.
fn apply(root: &Path, op: &Op) -> Vec<PathChange> {
    let change = |status, path: String, old_path| PathChange {
        status,
        path,
        old_path,
    };
    match *op {
        Op::Create { file, seed, lines } => {
            let existed = root.join(name(file)).exists();
            write_aged(root, &name(file), text(seed, lines));
            let status = if existed {
                ChangeStatus::Modified
            } else {
                ChangeStatus::Added
            };
            vec![change(status, name(file), None)]
        }
        Op::Edit { file, line, seed } => {
            let path = root.join(name(file));
            let Ok(old) = fs::read_to_string(&path) else {
                return Vec::new();
            };
            let mut lines: Vec<&str> = old.split_inclusive('\n').collect();
            let at = usize::from(line) % (lines.len() + 1);
            let inserted = format!("    edited({seed});\n");
            lines.insert(at, &inserted);
            write_aged(root, &name(file), lines.concat());
            vec![change(ChangeStatus::Modified, name(file), None)]
        }
        Op::Rename { from, to } => {
            let (src, dst) = (root.join(name(from)), root.join(name(to)));
            if from == to || !src.exists() {
                return Vec::new();
            }
            fs::create_dir_all(dst.parent().unwrap()).unwrap();
            fs::rename(src, dst).unwrap();
            vec![change(ChangeStatus::Renamed, name(to), Some(name(from)))]
        }
        Op::Delete { file } => {
            if fs::remove_file(root.join(name(file))).is_err() {
                return Vec::new();
            }
            vec![change(ChangeStatus::Deleted, name(file), None)]
        }
    }
}

fn manifest_view(store: &dyn ManifestStore) -> BTreeMap<String, (String, Vec<String>)> {
    let manifest = store.load(&key()).unwrap().unwrap();
    manifest
        .paths()
        .map(|p| {
            let entry = manifest.get(p).unwrap();
            (
                p.to_string(),
                (
                    entry.hash.clone(),
                    entry.chunks.iter().map(|c| c.0.clone()).collect(),
                ),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn incremental_equals_from_scratch(
        ops in prop::collection::vec(op(), 1..25),
        hinted in any::<bool>(),
        on_disk in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let indexer = Indexer::new(IndexerConfig { threads: 2, batch_bytes: 4096, ..Default::default() }).unwrap();
        // The file store's snapshot + journal (hint runs) and its lazily decoded view (full
        // runs) must behave exactly as the in-memory store.
        let store_dir = tempfile::tempdir().unwrap();
        let manifests: Box<dyn ManifestStore> = if on_disk {
            Box::new(FsManifestStore::new(store_dir.path()).unwrap())
        } else {
            Box::new(MemoryManifestStore::new())
        };
        let manifests = manifests.as_ref();
        let sink = MemorySink::new();
        run(&indexer, root, Scope::Full, &sink, manifests).unwrap();
        // Runs after every few operations, with the accumulated hints or a full walk.
        let mut pending: Vec<PathChange> = Vec::new();
        let mut before = sink.files(&key());
        for (i, op) in ops.iter().enumerate() {
            pending.extend(apply(root, op));
            if i % 3 == 2 || i + 1 == ops.len() {
                let touched: BTreeSet<String> = pending.iter()
                    .flat_map(|c| std::iter::once(c.path.clone()).chain(c.old_path.clone()))
                    .collect();
                let scope = if hinted { Scope::Paths(std::mem::take(&mut pending)) } else { Scope::Full };
                pending.clear();
                run(&indexer, root, scope, &sink, manifests).unwrap();
                // Files the operations did not touch keep every chunk (and id) they had.
                let after = sink.files(&key());
                for (path, chunks) in &before {
                    if !touched.contains(path) {
                        prop_assert_eq!(Some(chunks), after.get(path), "untouched {} changed", path);
                    }
                }
                before = after;
            }
        }
        let (fresh_sink, fresh_manifests) = (MemorySink::new(), MemoryManifestStore::new());
        run(&indexer, root, Scope::Full, &fresh_sink, &fresh_manifests).unwrap();
        prop_assert_eq!(sink_view(&sink), sink_view(&fresh_sink));
        prop_assert_eq!(manifest_view(manifests), manifest_view(&fresh_manifests));
        // A full walk over what the incremental runs left finds nothing to do.
        let last = run(&indexer, root, Scope::Full, &sink, manifests).unwrap();
        prop_assert_eq!((last.progress.files_changed, last.progress.files_deleted), (0, 0));
        prop_assert_eq!(manifest_view(manifests), manifest_view(&fresh_manifests));
    }
}

/// Content-defined cuts fall back into step after an edit probabilistically, not at a fixed
/// distance, so this is measured over many random edits: chunks ending before the edit always
/// survive, and most chunks starting well after it do.
#[test]
fn edits_keep_the_chunk_ids_of_distant_text() {
    let config = indexer::ChunkConfig::default();
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |bound: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % bound
    };
    let (mut distant, mut distant_lost) = (0usize, 0usize);
    for _ in 0..300 {
        let original = text(next(60_000) as u16, 200 + next(400) as u16);
        let mut lines: Vec<&str> = original.split_inclusive('\n').collect();
        let at = next(lines.len() as u64) as usize;
        lines.insert(at, "    inserted_line();\n");
        let before = indexer::chunk_text(&original, &config, Default::default());
        let after = indexer::chunk_text(&lines.concat(), &config, Default::default());
        let after_ids: BTreeSet<_> = after.iter().map(|c| &c.id).collect();
        for chunk in &before {
            let survived = after_ids.contains(&chunk.id);
            if (chunk.end_line as usize) < at {
                assert!(survived, "a chunk before the edit changed");
            } else if chunk.start_line as usize > at + 150 {
                distant += 1;
                distant_lost += usize::from(!survived);
            }
        }
    }
    eprintln!("{distant_lost} of {distant} distant chunks changed");
    assert!(distant > 300, "{distant}");
    assert!(
        distant_lost * 50 <= distant,
        "{distant_lost} of {distant} distant chunks changed"
    );
}
