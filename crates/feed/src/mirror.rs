//! A consumer's local copy of a ref's chunks, kept by applying feed entries in order.

use std::collections::BTreeMap;

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
