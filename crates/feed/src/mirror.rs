//! A consumer's local copy of a ref's chunks, kept by applying feed entries in order.

use std::collections::BTreeMap;
use std::path::Path;

use indexer::{Indexer, IndexerConfig, MemoryManifestStore, MemorySink, RefKey, RunRequest, Scope};

use crate::entry::{ChunkRecord, Entry, EntryKind};

/// The chunks of one ref as a consumer following the feed holds them: path → chunks in line
/// order. Feed a page's entries to [`Mirror::apply`] in order and remember
/// [`Mirror::cursor`] to resume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mirror {
    files: BTreeMap<String, Vec<ChunkRecord>>,
    commit: Option<String>,
    cursor: Option<String>,
}

impl Mirror {
    /// An empty mirror (start reading the feed at cursor `0`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one entry. Entries are idempotent: applying one twice changes nothing more.
    pub fn apply(&mut self, entry: &Entry) {
        match entry.kind {
            EntryKind::RefDeleted => self.files.clear(),
            EntryKind::Snapshot => {
                for change in &entry.paths {
                    self.set(&change.path, change.added.clone());
                }
            }
            EntryKind::Commit | EntryKind::Reindex => {
                for change in &entry.paths {
                    let mut chunks = self.files.remove(&change.path).unwrap_or_default();
                    chunks.retain(|c| {
                        !change.removed.contains(&c.id)
                            && !change.added.iter().any(|a| a.id == c.id)
                    });
                    chunks.extend(change.added.iter().cloned());
                    self.set(&change.path, chunks);
                }
            }
        }
        if entry.last_part {
            self.commit = entry.commit.clone();
        }
        self.cursor = Some(entry.cursor.clone());
    }

    fn set(&mut self, path: &str, mut chunks: Vec<ChunkRecord>) {
        if chunks.is_empty() {
            self.files.remove(path);
        } else {
            chunks.sort_by(|a, b| (a.start_line, &a.id).cmp(&(b.start_line, &b.id)));
            self.files.insert(path.to_string(), chunks);
        }
    }

    /// Path → chunks, in line order.
    pub fn files(&self) -> &BTreeMap<String, Vec<ChunkRecord>> {
        &self.files
    }

    /// The commit of the last complete entry applied.
    pub fn commit(&self) -> Option<&str> {
        self.commit.as_deref()
    }

    /// The cursor of the last entry applied; `None` before the first.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// Sets the cursor to resume from (a page's `next_cursor`, which may move past a snapshot
    /// even when the page held no entry).
    pub fn set_cursor(&mut self, cursor: impl Into<String>) {
        self.cursor = Some(cursor.into());
    }
}

/// What a [`Mirror`] of `key` holds once it has followed the feed past a run over `tree`: the
/// files of a fresh full index of `tree` (default indexer configuration), path → chunks in
/// line order, files without chunks left out. For checking a feed and its followers against
/// the truth.
pub fn fresh_index(
    tree: &Path,
    key: &RefKey,
) -> Result<BTreeMap<String, Vec<ChunkRecord>>, indexer::Error> {
    let sink = MemorySink::new();
    let request = RunRequest {
        tree,
        key: key.clone(),
        commit: None,
        scope: Scope::Full,
    };
    Indexer::new(IndexerConfig::default())?.run(
        request,
        &sink,
        &MemoryManifestStore::new(),
        &|_| {},
        &|| false,
    )?;
    Ok(sink
        .files(key)
        .into_iter()
        .filter(|(_, chunks)| !chunks.is_empty())
        .map(|(path, chunks)| {
            let mut records: Vec<ChunkRecord> = chunks.iter().map(ChunkRecord::from).collect();
            records.sort_by(|a, b| (a.start_line, &a.id).cmp(&(b.start_line, &b.id)));
            (path, records)
        })
        .collect())
}
