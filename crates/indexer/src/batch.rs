//! Turning probes into manifest entries and sink batches, with chunk-level deltas.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use crate::change_set::{ChangeSet, ChunkDelta, ChunkId, FileUpdate, Progress, RefKey};
use crate::manifest::{Manifest, ManifestEntry, ManifestUpdate, SkippedEntry};
use crate::probe::Probe;
use crate::skip::SkipReason;

/// The state a run builds up: how the next manifest differs from the previous one, the batch
/// being filled, counters.
///
/// Only differences are kept (entries new or changed, paths deleted), not a copy of every
/// entry: a no-change rescan of a big tree then allocates next to nothing per file.
#[derive(Debug)]
pub(crate) struct Reconciler {
    previous: Option<Arc<Manifest>>,
    /// Entries that are new or differ (content or stat data) from the previous manifest.
    upserts: BTreeMap<String, ManifestEntry>,
    /// Previously indexed paths met again: found unchanged, or in `upserts`.
    previous_seen: usize,
    /// Previously indexed paths found unchanged (full walks only, to find the unseen ones).
    kept: Vec<String>,
    /// Full walk: every content-skipped file met. Hint run: the hinted paths' entries.
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
    /// `hinted`: a path-hint run, whose `previous` holds only the hinted paths' entries and
    /// whose skipped entries carry over (a full walk sees every file and starts from nothing).
    pub(crate) fn new(
        key: RefKey,
        commit: Option<String>,
        previous: Option<Arc<Manifest>>,
        hinted: bool,
        batch_limit: usize,
    ) -> Self {
        let skipped_entries = match (&previous, hinted) {
            (Some(m), true) => m.skipped_map().clone(),
            _ => BTreeMap::new(),
        };
        Reconciler {
            previous,
            upserts: BTreeMap::new(),
            previous_seen: 0,
            kept: Vec::new(),
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
                    self.previous_seen += 1;
                    if prev.stat == stat {
                        self.kept.push(path);
                    } else {
                        self.restatted += 1;
                        let entry = ManifestEntry {
                            stat,
                            ..prev.clone()
                        };
                        self.upserts.insert(path, entry);
                    }
                }
            }
            Probe::Read {
                stat,
                hash,
                size,
                chunks,
            } => {
                self.progress.files_seen += 1;
                self.previous_seen += usize::from(prev.is_some());
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
                self.upserts.insert(
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
        // Every previous path met was either kept, upserted or deleted; when the counts add
        // up, nothing is unseen and the (common) no-deletion case needs no set of paths.
        if self.previous_seen + self.deleted.len() >= previous.files().len() {
            return;
        }
        let met: HashSet<&str> = self.kept.iter().map(String::as_str).collect();
        let unseen: Vec<(String, Vec<ChunkId>)> = previous
            .files()
            .iter()
            .filter(|(path, _)| {
                let path = path.as_str();
                !met.contains(path)
                    && !self.upserts.contains_key(path)
                    && !self.deleted.contains(path)
            })
            .map(|(path, entry)| (path.clone(), entry.chunks.clone()))
            .collect();
        drop(met);
        for (path, chunks) in unseen {
            self.delete(path, &chunks);
        }
    }

    /// The entries of the next manifest after a full walk: the previous ones minus deletions,
    /// with upserts applied. Takes the previous manifest (moved out when no one else holds it).
    pub(crate) fn take_full_files(&mut self) -> BTreeMap<String, ManifestEntry> {
        let mut files = match self.previous.take().map(Arc::try_unwrap) {
            Some(Ok(manifest)) => manifest.files,
            Some(Err(shared)) => shared.files().clone(),
            None => BTreeMap::new(),
        };
        for path in &self.deleted {
            files.remove(path);
        }
        files.append(&mut self.upserts);
        files
    }

    /// What a path-hint run changed, for [`ManifestStore::save_update`](crate::ManifestStore::save_update).
    pub(crate) fn take_update(
        &mut self,
        commit: Option<String>,
        written_at_ns: i128,
    ) -> ManifestUpdate {
        let mut files: BTreeMap<String, Option<ManifestEntry>> =
            self.deleted.drain().map(|path| (path, None)).collect();
        files.extend(
            std::mem::take(&mut self.upserts)
                .into_iter()
                .map(|(path, entry)| (path, Some(entry))),
        );
        let previous_skipped = self.previous.as_ref().map(|m| m.skipped_map().clone());
        let mut skipped: BTreeMap<String, Option<SkippedEntry>> = previous_skipped
            .into_iter()
            .flatten()
            .map(|(path, _)| (path, None))
            .collect();
        skipped.extend(
            std::mem::take(&mut self.skipped_entries)
                .into_iter()
                .map(|(path, entry)| (path, Some(entry))),
        );
        ManifestUpdate {
            commit,
            written_at_ns,
            files,
            skipped,
        }
    }

    fn delete(&mut self, path: String, before: &[ChunkId]) {
        // A path may be deleted once per run; sending the delete twice would be harmless
        // (sinks apply idempotently) but counting it twice is not.
        if self.deleted.contains(&path) {
            return;
        }
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
