//! Builders shared by the integration tests.

#![allow(dead_code)] // each test binary uses a different subset

use indexer::{ChangeSet, Chunk, ChunkDelta, ChunkId, FileUpdate, IndexSink, RefKey};
use search::{Query, SearchIndex};

pub fn key(repo: &str, git_ref: &str) -> RefKey {
    RefKey::new(repo, git_ref)
}

/// The ref most tests write to: `refs/heads/main` of repo `demo`.
pub fn main_key() -> RefKey {
    key("demo", "refs/heads/main")
}

/// An in-memory index holding `files`, committed under [`main_key`].
pub fn demo_index(files: Vec<FileUpdate>) -> SearchIndex {
    let index = SearchIndex::open_in_memory().expect("open");
    put(&index, &main_key(), files, &[]);
    index
}

/// A file split into chunks of `lines_per_chunk` lines. As the indexer's chunker does, each
/// chunk keeps its lines' newlines (`split_inclusive`), so a chunk of empty lines is not empty
/// and a file ending in `\n` has no line after it.
pub fn file(path: &str, text: &str, lines_per_chunk: usize) -> FileUpdate {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let chunks = lines
        .chunks(lines_per_chunk.max(1))
        .enumerate()
        .map(|(i, group)| {
            let start = (i * lines_per_chunk.max(1) + 1) as u32;
            let body = group.concat();
            Chunk {
                id: ChunkId(format!(
                    "{:x}",
                    body.len() * 31 + body.bytes().map(usize::from).sum::<usize>()
                )),
                start_line: start,
                end_line: start + group.len() as u32 - 1,
                text: body,
            }
        })
        .collect();
    FileUpdate {
        path: path.into(),
        hash: format!("h-{}", text.len()),
        size: text.len() as u64,
        chunks,
    }
}

pub fn change(key: &RefKey, upserts: Vec<FileUpdate>, deletes: &[&str]) -> ChangeSet {
    ChangeSet {
        key: key.clone(),
        commit: Some("c0ffee".into()),
        upserts,
        deletes: deletes.iter().map(|s| s.to_string()).collect(),
        delta: ChunkDelta::default(),
    }
}

/// Stages and commits one batch.
pub fn put(index: &SearchIndex, key: &RefKey, upserts: Vec<FileUpdate>, deletes: &[&str]) {
    index.stage(&change(key, upserts, deletes)).expect("stage");
    index.commit_ref(key).expect("commit");
}

/// Commits one file, in chunks of ten lines.
pub fn put_file(index: &SearchIndex, key: &RefKey, path: &str, text: &str) {
    put(index, key, vec![file(path, text, 10)], &[]);
}

/// Stages one batch through the sink, without committing it.
pub fn apply(index: &SearchIndex, key: &RefKey, upserts: Vec<FileUpdate>, deletes: &[&str]) {
    index.apply(&change(key, upserts, deletes)).expect("apply");
}

/// Stages one file, in chunks of ten lines, without committing it.
pub fn apply_file(index: &SearchIndex, key: &RefKey, path: &str, text: &str) {
    apply(index, key, vec![file(path, text, 10)], &[]);
}

/// The `path:start_line` of each hit, in order.
pub fn hits(index: &SearchIndex, query: Query) -> Vec<String> {
    index
        .search(&query)
        .expect("search")
        .hits
        .into_iter()
        .map(|h| format!("{}:{}", h.path, h.start_line))
        .collect()
}

pub fn q(text: &str) -> Query {
    Query::new(text)
}
