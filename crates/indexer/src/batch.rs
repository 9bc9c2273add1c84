//! Turning probes into manifest entries and sink batches, with chunk-level deltas.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use crate::change_set::{ChangeSet, ChunkDelta, ChunkId, FileUpdate, RefKey, RunCounts};
use crate::manifest::{ManifestEntry, ManifestUpdate, SkippedEntry};
use crate::manifest_view::{EntryKind, ManifestView};
use crate::probe::Probe;
use crate::skip::SkipReason;

/// The state a run builds up: how the next manifest differs from the previous one, the batch
/// being filled, counters.
///
/// Only differences are kept (entries new or changed, paths deleted), not a copy of every
/// entry; unchanged files arrive as stat-cache hits (an entry index, no path) and only set a
/// flag, so a no-change rescan of a big tree allocates next to nothing per file.
#[derive(Debug)]
pub(crate) struct Reconciler {
    previous: Option<Arc<ManifestView>>,
    /// Per entry of `previous`: met by this run and kept as it is.
    kept: Vec<bool>,
    /// A path-hint run (its `previous` holds only the hinted paths' entries).
    hinted: bool,
    /// Entries that are new or differ (content or stat data) from the previous manifest.
    upserts: BTreeMap<String, ManifestEntry>,
    /// Previously indexed paths met again: found unchanged, or in `upserts`.
    previous_seen: usize,
    /// Full walk: content-skipped files that are new or changed (those met unchanged are in
    /// `kept`). Hint run: the hinted paths' skipped entries.
    pub(crate) skipped_entries: BTreeMap<String, SkippedEntry>,
    /// Full walk: previous skipped entries met unchanged.
    skipped_kept: usize,
    pub(crate) progress: RunCounts,
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
        previous: Option<Arc<ManifestView>>,
        hinted: bool,
        batch_limit: usize,
    ) -> Self {
        let skipped_entries = match (&previous, hinted) {
            (Some(view), true) => view
                .skipped_entries()
                .map(|(_, path, entry)| (path.to_owned(), entry))
                .collect(),
            _ => BTreeMap::new(),
        };
        Reconciler {
            kept: vec![false; previous.as_ref().map_or(0, |v| v.slots())],
            previous,
            hinted,
            upserts: BTreeMap::new(),
            previous_seen: 0,
            skipped_entries,
            skipped_kept: 0,
            progress: RunCounts::default(),
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

    /// A stat-cache hit on entry `index` of the previous manifest: the file is as it was.
    pub(crate) fn absorb_hit(&mut self, index: usize) {
        let Some(previous) = &self.previous else {
            return;
        };
        self.progress.files_seen += 1;
        match previous.entry(index).kind {
            EntryKind::File => self.previous_seen += 1,
            EntryKind::Skipped(reason) => {
                *self.skipped.entry(reason).or_default() += 1;
                self.skipped_kept += 1;
            }
            EntryKind::Removed => return,
        }
        self.kept[index] = true;
    }

    /// Records what a probe of `path` found.
    pub(crate) fn absorb(&mut self, path: String, probe: Probe) {
        if let Probe::Hit { index } = probe {
            return self.absorb_hit(index);
        }
        if self.hinted {
            self.skipped_entries.remove(&path);
        }
        let previous = self.previous.clone();
        let index = previous.as_deref().and_then(|view| view.lookup(&path));
        let prev = index.and_then(|i| previous.as_deref()?.file_entry(i));
        let prev = prev.as_ref();
        match probe {
            Probe::Hit { .. } => {}
            Probe::Gone => {
                if let Some(prev) = prev {
                    self.delete(path, &prev.chunks);
                }
            }
            Probe::Skipped { reason, remember } => {
                self.progress.files_seen += 1;
                if reason == SkipReason::SecretFile {
                    self.progress.files_skipped_secret += 1;
                }
                *self.skipped.entry(reason).or_default() += 1;
                if let Some(stat) = remember.filter(|_| reason.is_content_based()) {
                    let entry = SkippedEntry { stat, reason };
                    let same_as_before = index.is_some_and(|i| {
                        previous.as_deref().is_some_and(|view| {
                            view.entry(i).kind == EntryKind::Skipped(reason)
                                && view.stat(i) == Some(stat)
                        })
                    });
                    match index {
                        Some(i) if same_as_before && !self.hinted => {
                            self.kept[i] = true;
                            self.skipped_kept += 1;
                        }
                        _ => {
                            self.skipped_entries.insert(path.clone(), entry);
                        }
                    }
                }
                if let Some(prev) = prev {
                    self.delete(path, &prev.chunks);
                }
            }
            Probe::Unchanged { stat } => {
                self.progress.files_seen += 1;
                if let (Some(prev), Some(i)) = (prev, index) {
                    self.previous_seen += 1;
                    if prev.stat == stat {
                        self.kept[i] = true;
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
                withheld,
            } => {
                self.progress.files_seen += 1;
                self.previous_seen += usize::from(prev.is_some());
                let ids: Vec<ChunkId> = chunks.iter().map(|c| c.id.clone()).collect();
                let same = prev.is_some_and(|p| p.hash == hash && p.chunks == ids);
                if same {
                    self.restatted += 1;
                } else {
                    self.progress.files_changed += 1;
                    self.progress.chunks_withheld += withheld;
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
        // up, nothing is unseen and the (common) no-deletion case walks no list of paths.
        if self.previous_seen + self.deleted.len() >= previous.len() {
            return;
        }
        let unseen: Vec<(String, Vec<ChunkId>)> = previous
            .file_indices()
            .filter(|&i| {
                let path = previous.path(i);
                !self.kept[i] && !self.upserts.contains_key(path) && !self.deleted.contains(path)
            })
            .map(|i| {
                let chunks = previous.file_entry(i).map(|e| e.chunks).unwrap_or_default();
                (previous.path(i).to_owned(), chunks)
            })
            .collect();
        for (path, chunks) in unseen {
            self.delete(path, &chunks);
        }
    }

    /// True when the content-skipped entries of the next manifest differ from the previous.
    pub(crate) fn skipped_changed(&self) -> bool {
        match (&self.previous, self.hinted) {
            (Some(view), true) => {
                view.skipped_len() != self.skipped_entries.len()
                    || view
                        .skipped_entries()
                        .any(|(_, path, entry)| self.skipped_entries.get(path) != Some(&entry))
            }
            (Some(view), false) => {
                !self.skipped_entries.is_empty() || self.skipped_kept != view.skipped_len()
            }
            (None, _) => !self.skipped_entries.is_empty(),
        }
    }

    /// The entries of the next manifest after a full walk (files, skipped files): the
    /// previous files minus deletions with upserts applied; the skipped files met unchanged
    /// plus the new ones. Decodes the previous entries it keeps.
    pub(crate) fn take_full_entries(
        &mut self,
    ) -> (
        BTreeMap<String, ManifestEntry>,
        BTreeMap<String, SkippedEntry>,
    ) {
        let mut files = BTreeMap::new();
        let mut skipped = BTreeMap::new();
        if let Some(previous) = self.previous.take() {
            for i in previous.file_indices() {
                let path = previous.path(i);
                if self.deleted.contains(path) || self.upserts.contains_key(path) {
                    continue;
                }
                if let Some(entry) = previous.file_entry(i) {
                    files.insert(path.to_owned(), entry);
                }
            }
            for (i, path, entry) in previous.skipped_entries() {
                if self.kept[i] {
                    skipped.insert(path.to_owned(), entry);
                }
            }
        }
        files.append(&mut self.upserts);
        skipped.append(&mut self.skipped_entries);
        (files, skipped)
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
        let mut skipped: BTreeMap<String, Option<SkippedEntry>> = self
            .previous
            .iter()
            .flat_map(|view| view.skipped_entries())
            .map(|(_, path, _)| (path.to_owned(), None))
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
