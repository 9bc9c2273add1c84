//! Turning probes into manifest entries and sink batches, with chunk-level deltas.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use crate::change_set::{ChangeSet, ChunkDelta, ChunkId, FileUpdate, Progress, RefKey};
use crate::manifest::{Manifest, ManifestEntry, SkippedEntry};
use crate::probe::Probe;
use crate::skip::SkipReason;

/// The state a run builds up: the next manifest's entries, the batch being filled, counters.
#[derive(Debug)]
pub(crate) struct Reconciler {
    previous: Option<Arc<Manifest>>,
    pub(crate) files: BTreeMap<String, ManifestEntry>,
    pub(crate) skipped_entries: BTreeMap<String, SkippedEntry>,
    pub(crate) progress: Progress,
    pub(crate) skipped: BTreeMap<SkipReason, u64>,
    /// Entries whose stat data changed without their content changing.
    pub(crate) restatted: u64,
    batch: ChangeSet,
    batch_delta: DeltaSets,
    batch_text_bytes: usize,
    batch_limit: usize,
    /// Batches handed out so far.
    pub(crate) batches: u64,
    /// Paths deleted by this run so far.
    deleted: HashSet<String>,
}

#[derive(Debug, Default)]
struct DeltaSets {
    added: BTreeSet<ChunkId>,
    removed: BTreeSet<ChunkId>,
    kept: BTreeSet<ChunkId>,
}

impl Reconciler {
    /// `carry_over`: start from the previous manifest's entries (a path-hint run changes only
    /// the paths it looks at) instead of from nothing (a full walk sees every file).
    pub(crate) fn new(
        key: RefKey,
        commit: Option<String>,
        previous: Option<Arc<Manifest>>,
        carry_over: bool,
        batch_limit: usize,
    ) -> Self {
        let (files, skipped_entries) = match (&previous, carry_over) {
            (Some(m), true) => (m.files().clone(), m.skipped_map().clone()),
            _ => Default::default(),
        };
        Reconciler {
            previous,
            files,
            skipped_entries,
            progress: Progress::default(),
            skipped: BTreeMap::new(),
            restatted: 0,
            batch: ChangeSet {
                key,
                commit,
                upserts: Vec::new(),
                deletes: Vec::new(),
                delta: ChunkDelta::default(),
            },
            batch_delta: DeltaSets::default(),
            batch_text_bytes: 0,
            batch_limit: batch_limit.max(1),
            batches: 0,
            deleted: HashSet::new(),
        }
    }

    /// Records what a probe of `path` found.
    pub(crate) fn absorb(&mut self, path: String, probe: Probe) {
        self.files.remove(&path);
        self.skipped_entries.remove(&path);
        let previous = self.previous.clone();
        let prev = previous.as_deref().and_then(|m| m.get(&path));
        match probe {
            Probe::Gone => {
                if let Some(prev) = prev {
                    self.delete(path, &prev.chunks);
                }
            }
            Probe::Skipped { reason, remember } => {
                self.progress.files_seen += 1;
                *self.skipped.entry(reason).or_default() += 1;
                if let Some(stat) = remember.filter(|_| reason.is_content_based()) {
                    self.skipped_entries
                        .insert(path.clone(), SkippedEntry { stat, reason });
                }
                if let Some(prev) = prev {
                    self.delete(path, &prev.chunks);
                }
            }
            Probe::Unchanged { stat } => {
                self.progress.files_seen += 1;
                if let Some(prev) = prev {
                    if prev.stat != stat {
                        self.restatted += 1;
                    }
                    let entry = ManifestEntry {
                        stat,
                        ..prev.clone()
                    };
                    self.files.insert(path, entry);
                }
            }
            Probe::Read {
                stat,
                hash,
                size,
                chunks,
            } => {
                self.progress.files_seen += 1;
                let ids: Vec<ChunkId> = chunks.iter().map(|c| c.id.clone()).collect();
                let same = prev.is_some_and(|p| p.hash == hash && p.chunks == ids);
                if same {
                    self.restatted += 1;
                } else {
                    self.progress.files_changed += 1;
                    let before = prev.map(|p| p.chunks.as_slice()).unwrap_or_default();
                    self.record_delta(before, &ids);
                    self.batch_text_bytes += chunks.iter().map(|c| c.text.len()).sum::<usize>();
                    let update = FileUpdate {
                        path: path.clone(),
                        hash: hash.clone(),
                        size,
                        chunks,
                    };
                    self.batch.upserts.push(update);
                }
                self.files.insert(
                    path,
                    ManifestEntry {
                        stat,
                        hash,
                        chunks: ids,
                    },
                );
            }
        }
    }

    /// A full walk is over: every previously indexed path it did not see is gone.
    pub(crate) fn delete_unseen(&mut self) {
        let Some(previous) = self.previous.clone() else {
            return;
        };
        for (path, entry) in previous.files() {
            if !self.files.contains_key(path) && !self.batch_deletes_contains(path) {
                self.delete(path.clone(), &entry.chunks);
            }
        }
    }

    fn batch_deletes_contains(&self, path: &str) -> bool {
        // Deleted paths are removed from `files` as they are met, so a path that is in neither
        // `files` nor this batch may still have been deleted in an earlier batch; sending the
        // delete twice is harmless (sinks apply idempotently) but counting it twice is not.
        self.deleted.contains(path)
    }

    fn delete(&mut self, path: String, before: &[ChunkId]) {
        self.progress.files_deleted += 1;
        self.record_delta(before, &[]);
        self.deleted.insert(path.clone());
        self.batch.deletes.push(path);
    }

    fn record_delta(&mut self, before: &[ChunkId], after: &[ChunkId]) {
        let old: HashSet<&ChunkId> = before.iter().collect();
        let new: HashSet<&ChunkId> = after.iter().collect();
        for id in &new {
            if old.contains(id) {
                self.batch_delta.kept.insert((*id).clone());
            } else {
                self.progress.chunks_added += 1;
                self.batch_delta.added.insert((*id).clone());
            }
        }
        for id in old.difference(&new) {
            self.progress.chunks_removed += 1;
            self.batch_delta.removed.insert((*id).clone());
        }
    }

    pub(crate) fn batch_is_full(&self) -> bool {
        self.batch_text_bytes >= self.batch_limit
    }

    pub(crate) fn batch_is_empty(&self) -> bool {
        self.batch.upserts.is_empty() && self.batch.deletes.is_empty()
    }

    /// The batch filled so far (possibly empty), leaving a fresh one behind.
    pub(crate) fn take_batch(&mut self) -> ChangeSet {
        let delta = std::mem::take(&mut self.batch_delta);
        let next = ChangeSet {
            key: self.batch.key.clone(),
            commit: self.batch.commit.clone(),
            upserts: Vec::new(),
            deletes: Vec::new(),
            delta: ChunkDelta::default(),
        };
        let mut batch = std::mem::replace(&mut self.batch, next);
        batch.delta = ChunkDelta {
            added: delta.added.into_iter().collect(),
            removed: delta.removed.into_iter().collect(),
            kept: delta.kept.into_iter().collect(),
        };
        self.batch_text_bytes = 0;
        self.batches += 1;
        batch
    }
}
