//! [`ManifestView`]: a stored manifest as one buffer of encoded records plus a hash index of
//! paths, for full runs.
//!
//! Why not a decoded [`Manifest`]: a no-change rescan only compares each file's stat data with
//! the stored one. Decoding every entry first (a `String` per path, 64 hex digits per chunk id,
//! a B-tree node per entry) was half of the main thread's work and most of the run's
//! allocations. The view keeps the snapshot's bytes as read (in one `Vec`, no `mmap`), indexes
//! each record's path and stat data, and decodes an entry's hash and chunk ids only when a run
//! needs them: for files that changed, and when it writes a new manifest.

use std::collections::BTreeMap;

use crate::config::IndexerConfig;
use crate::manifest::SkippedEntry;
use crate::manifest::{FileStat, Manifest, ManifestEntry, ManifestUpdate};
use crate::manifest_codec::{
    DecodeError, Header, Reader, get_entry, get_skipped, put_file_record, put_skipped_record,
    skip_entry,
};
use crate::skip::SkipReason;

/// A read-only view of a stored manifest: every path with its stat data, found by a hash
/// lookup; hashes and chunk ids are decoded on demand.
///
/// [`ManifestStore::load_view`](crate::ManifestStore::load_view) returns one;
/// [`FsManifestStore`](crate::FsManifestStore) builds it straight from its snapshot file, other
/// stores from a decoded [`Manifest`] (`ManifestView::from(&manifest)`).
#[derive(Debug, Clone)]
pub struct ManifestView {
    header: Header,
    /// Encoded records (the snapshot format's file and skipped records), possibly with other
    /// bytes around them: entries point into it.
    records: Vec<u8>,
    entries: Vec<ViewEntry>,
    /// Open addressing, linear probing: 0 is empty, else the path hash's high 32 bits over
    /// an index into `entries` plus one. The hash half lets most probes of other paths fail
    /// without touching the entry and its record (two cache misses each).
    table: Vec<u64>,
    live_files: usize,
    live_skipped: usize,
    /// Length of `records` before any journal update was applied.
    built_len: usize,
}

/// One path of the view: 12 bytes, so the entry array stays small and cache-friendly; the
/// path and stat data are read from the record (adjacent bytes, one cache miss for both).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ViewEntry {
    /// Where the record's body (stat data first) starts; the path ends right before it.
    body_at: u32,
    path_len: u32,
    pub(crate) kind: EntryKind,
}

/// What a view entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// An indexed file.
    File,
    /// A file skipped for its content.
    Skipped(SkipReason),
    /// Removed by a journal record; kept so indices stay stable.
    Removed,
}

impl ManifestView {
    /// An empty view with `header`'s settings over `records`, to be filled by
    /// [`index_records`](Self::index_records).
    pub(crate) fn new(header: Header, records: Vec<u8>, capacity: usize) -> Self {
        let slots = (capacity.max(4) * 2).next_power_of_two();
        ManifestView {
            header,
            records,
            entries: Vec::with_capacity(capacity),
            table: vec![0; slots],
            live_files: 0,
            live_skipped: 0,
            built_len: 0,
        }
    }

    /// Indexes `count` records of one kind in `records[start..end]`, checking each as a full
    /// decode would except for the paths' UTF-8 (so a later [`file_entry`](Self::file_entry)
    /// cannot fail). A path met
    /// twice keeps its first entry (files are indexed before skipped ones, and win, as in
    /// [`Manifest::get`]).
    pub(crate) fn index_records(
        &mut self,
        start: usize,
        end: usize,
        count: u64,
        skipped: bool,
    ) -> Result<(), DecodeError> {
        let bytes = self
            .records
            .get(start..end)
            .ok_or("record range past the end of the manifest")?;
        let mut reader = Reader::new(bytes);
        let mut found = Vec::new();
        for _ in 0..count {
            // Not checked as UTF-8 here (a cost per path on every load): the block passed its
            // checksum, so it is what the encoder wrote from a `String`; `path` re-checks.
            let len = reader.count(1)?;
            let path = reader.bytes(len)?;
            let body_at = start + (bytes.len() - reader.rest().len());
            let kind = if skipped {
                EntryKind::Skipped(get_skipped(&mut reader)?.reason)
            } else {
                skip_entry(&mut reader)?;
                EntryKind::File
            };
            found.push(ViewEntry {
                body_at: offset(body_at)?,
                path_len: offset(path.len())?,
                kind,
            });
        }
        if !reader.rest().is_empty() {
            return Err("bytes left after a block's last record".into());
        }
        for entry in found {
            self.insert(entry);
        }
        Ok(())
    }

    /// True when applied updates have grown the records to more than twice what they were
    /// (replaced records stay in the buffer): a long-lived holder should rebuild the view.
    pub(crate) fn is_bloated(&self) -> bool {
        self.records.len() > 2 * self.built_len.max(64 * 1024)
    }

    /// Applies a journal record: later entries replace earlier ones.
    pub(crate) fn apply(&mut self, update: &ManifestUpdate) {
        if self.built_len == 0 {
            self.built_len = self.records.len();
        }
        self.header.commit.clone_from(&update.commit);
        self.header.written_at_ns = update.written_at_ns;
        for (path, entry) in &update.files {
            let existing = self.find(path.as_bytes());
            match entry {
                Some(entry) => {
                    let at = self.records.len();
                    put_file_record(&mut self.records, path, entry);
                    self.put(existing, path, at, EntryKind::File);
                }
                None => self.remove_if(existing, |kind| kind == EntryKind::File),
            }
        }
        for (path, entry) in &update.skipped {
            let existing = self.find(path.as_bytes());
            match entry {
                // An indexed file wins over a skipped entry of the same path (as in lookups
                // of a decoded manifest), so only a non-file entry is replaced.
                Some(_) if existing.is_some_and(|i| self.entries[i].kind == EntryKind::File) => {}
                Some(entry) => {
                    let at = self.records.len();
                    put_skipped_record(&mut self.records, path, entry);
                    self.put(existing, path, at, EntryKind::Skipped(entry.reason));
                }
                None => self.remove_if(existing, |kind| matches!(kind, EntryKind::Skipped(_))),
            }
        }
    }

    /// Points `existing` (or a new entry) at the record just appended at `at`.
    fn put(&mut self, existing: Option<usize>, path: &str, at: usize, kind: EntryKind) {
        // The record starts with the path's u64 length; offsets beyond u32 cannot occur for
        // journals (they are compacted long before), but are refused rather than wrapped.
        let (Ok(path_len), Ok(body_at)) = (offset(path.len()), offset(at + 8 + path.len())) else {
            tracing::warn!(
                path,
                "manifest view too large; entry dropped (file will be re-read)"
            );
            self.remove_if(existing, |_| true);
            return;
        };
        let entry = ViewEntry {
            body_at,
            path_len,
            kind,
        };
        match existing {
            Some(i) => {
                self.count(self.entries[i].kind, -1);
                self.count(kind, 1);
                self.entries[i] = entry;
            }
            None => self.insert(entry),
        }
    }

    fn remove_if(&mut self, existing: Option<usize>, which: impl Fn(EntryKind) -> bool) {
        if let Some(i) = existing.filter(|&i| which(self.entries[i].kind)) {
            self.count(self.entries[i].kind, -1);
            self.entries[i].kind = EntryKind::Removed;
        }
    }

    fn count(&mut self, kind: EntryKind, delta: isize) {
        match kind {
            EntryKind::File => self.live_files = self.live_files.saturating_add_signed(delta),
            EntryKind::Skipped(_) => {
                self.live_skipped = self.live_skipped.saturating_add_signed(delta);
            }
            EntryKind::Removed => {}
        }
    }

    /// Adds `entry` unless its path is already there (then the first one stays).
    fn insert(&mut self, entry: ViewEntry) {
        if (self.entries.len() + 1) * 2 > self.table.len() {
            self.grow();
        }
        let mask = self.table.len() - 1;
        let path = self.path_bytes(&entry);
        let hash = path_hash(path);
        let mut slot = hash as usize & mask;
        // One probe sequence both checks for the path and finds the free slot.
        while self.table[slot] != 0 {
            let cell = self.table[slot];
            let index = (cell & !TAG_MASK) as usize - 1;
            if cell & TAG_MASK == hash & TAG_MASK && self.path_bytes(&self.entries[index]) == path {
                return;
            }
            slot = (slot + 1) & mask;
        }
        self.count(entry.kind, 1);
        self.entries.push(entry);
        // Entries are fewer than u32::MAX (record offsets are u32), so the index fits.
        self.table[slot] = (hash & TAG_MASK) | self.entries.len() as u64;
    }

    fn grow(&mut self) {
        self.table = vec![0; (self.table.len() * 2).max(8)];
        for index in 0..self.entries.len() {
            self.place(index);
        }
    }

    fn place(&mut self, index: usize) {
        let mask = self.table.len() - 1;
        let hash = path_hash(self.path_bytes(&self.entries[index]));
        let mut slot = hash as usize & mask;
        while self.table[slot] != 0 {
            slot = (slot + 1) & mask;
        }
        // Entries are fewer than u32::MAX (record offsets are u32), so the index fits.
        self.table[slot] = (hash & TAG_MASK) | (index as u64 + 1);
    }

    /// The entry index of `path`, live or removed.
    fn find(&self, path: &[u8]) -> Option<usize> {
        let mask = self.table.len() - 1;
        let hash = path_hash(path);
        let mut slot = hash as usize & mask;
        loop {
            let cell = self.table[slot];
            let index = ((cell & !TAG_MASK) as usize).checked_sub(1)?;
            if cell & TAG_MASK == hash & TAG_MASK && self.path_bytes(&self.entries[index]) == path {
                return Some(index);
            }
            slot = (slot + 1) & mask;
        }
    }

    fn path_bytes(&self, entry: &ViewEntry) -> &[u8] {
        let end = entry.body_at as usize;
        &self.records[end - entry.path_len as usize..end]
    }

    /// The stat data of entry `index` (`None` only if the record were malformed, which
    /// indexing rules out).
    pub(crate) fn stat(&self, index: usize) -> Option<FileStat> {
        let at = self.entries[index].body_at as usize;
        let bytes = self.records.get(at..at + STAT_BYTES)?;
        Some(FileStat {
            size: u64::from_le_bytes(bytes[0..8].try_into().ok()?),
            mtime_ns: i128::from_le_bytes(bytes[8..24].try_into().ok()?),
            inode: u64::from_le_bytes(bytes[24..32].try_into().ok()?),
            mode: u32::from_le_bytes(bytes[32..36].try_into().ok()?),
        })
    }

    /// The index of the live entry (file or skipped) of `path`.
    pub(crate) fn lookup(&self, path: &str) -> Option<usize> {
        self.find(path.as_bytes())
            .filter(|&i| self.entries[i].kind != EntryKind::Removed)
    }

    pub(crate) fn entry(&self, index: usize) -> &ViewEntry {
        &self.entries[index]
    }

    /// Number of entry slots (live or removed), for per-entry side tables.
    pub(crate) fn slots(&self) -> usize {
        self.entries.len()
    }

    /// The path of entry `index` (empty if the bytes are not UTF-8, which only a bug in the
    /// encoder could cause: stored blocks are checksummed).
    pub(crate) fn path(&self, index: usize) -> &str {
        std::str::from_utf8(self.path_bytes(&self.entries[index])).unwrap_or_default()
    }

    /// The decoded entry of file `index` (`None` for skipped or removed entries).
    pub(crate) fn file_entry(&self, index: usize) -> Option<ManifestEntry> {
        let entry = &self.entries[index];
        if entry.kind != EntryKind::File {
            return None;
        }
        let mut reader = Reader::new(&self.records[entry.body_at as usize..]);
        get_entry(&mut reader).ok()
    }

    /// Indices of live entries of indexed files.
    pub(crate) fn file_indices(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.entries.len()).filter(|&i| self.entries[i].kind == EntryKind::File)
    }

    /// Live skipped entries: index, path and entry.
    pub(crate) fn skipped_entries(&self) -> impl Iterator<Item = (usize, &str, SkippedEntry)> + '_ {
        (0..self.entries.len()).filter_map(|i| match self.entries[i].kind {
            EntryKind::Skipped(reason) => Some((
                i,
                self.path(i),
                SkippedEntry {
                    stat: self.stat(i)?,
                    reason,
                },
            )),
            _ => None,
        })
    }

    /// Number of indexed files.
    pub fn len(&self) -> usize {
        self.live_files
    }

    /// True when no file is indexed.
    pub fn is_empty(&self) -> bool {
        self.live_files == 0
    }

    /// Number of files remembered as skipped for their content.
    pub fn skipped_len(&self) -> usize {
        self.live_skipped
    }

    /// The entry of one indexed path, decoded.
    pub fn get(&self, path: &str) -> Option<ManifestEntry> {
        self.lookup(path).and_then(|i| self.file_entry(i))
    }

    /// The commit of the tree at the last committed run, when the caller knew it.
    pub fn commit(&self) -> Option<&str> {
        self.header.commit.as_deref()
    }

    /// When the manifest was saved by a run (ns since the Unix epoch).
    pub fn written_at_ns(&self) -> i128 {
        self.header.written_at_ns
    }

    /// True when the manifest was made with the same rules as `config`.
    pub(crate) fn matches(&self, config: &IndexerConfig) -> bool {
        self.header.matches(config)
    }

    /// The whole manifest, decoded.
    pub fn to_manifest(&self) -> Manifest {
        let files: BTreeMap<String, ManifestEntry> = self
            .file_indices()
            .filter_map(|i| Some((self.path(i).to_owned(), self.file_entry(i)?)))
            .collect();
        let skipped = self
            .skipped_entries()
            .map(|(_, path, entry)| (path.to_owned(), entry))
            .collect();
        self.header.clone().into_manifest(files, skipped)
    }
}

impl From<&Manifest> for ManifestView {
    fn from(manifest: &Manifest) -> Self {
        let mut records = Vec::with_capacity(manifest.len() * 200);
        for (path, entry) in manifest.files() {
            put_file_record(&mut records, path, entry);
        }
        let files_end = records.len();
        for (path, entry) in manifest.skipped_map() {
            put_skipped_record(&mut records, path, entry);
        }
        let end = records.len();
        let capacity = manifest.len() + manifest.skipped_map().len();
        let mut view = ManifestView::new(Header::of(manifest), records, capacity);
        let indexed = view
            .index_records(0, files_end, manifest.len() as u64, false)
            .and_then(|()| {
                view.index_records(files_end, end, manifest.skipped_map().len() as u64, true)
            });
        if let Err(reason) = indexed {
            // Only a manifest of over 4 GiB of records gets here.
            tracing::warn!(%reason, "manifest too large for a view; treating it as empty");
            view = ManifestView::new(Header::of(manifest), Vec::new(), 0);
        }
        view
    }
}

/// Encoded size of [`FileStat`] (see `put_stat` in the codec): size, mtime, inode, mode.
const STAT_BYTES: usize = 8 + 16 + 8 + 4;

/// The table cell bits that hold the path hash's high half.
const TAG_MASK: u64 = 0xffff_ffff_0000_0000;

fn offset(n: usize) -> Result<u32, DecodeError> {
    u32::try_from(n).map_err(|_| format!("manifest offset {n} exceeds 4 GiB"))
}

/// A fast, non-cryptographic hash of a path (FxHash-style over 8-byte words). Paths come from
/// the manifest's own tree; a pathological collision set costs time, never correctness.
fn path_hash(path: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut hash = path.len() as u64;
    let mut words = path.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        hash = (hash.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    hash = (hash.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    hash ^ (hash >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change_set::ChunkId;

    fn stat(n: u64) -> FileStat {
        FileStat {
            size: n,
            mtime_ns: i128::from(n) * 7,
            inode: n + 1,
            mode: 0o100644,
        }
    }

    fn manifest(n: usize) -> Manifest {
        let config = IndexerConfig::default();
        let files = (0..n)
            .map(|i| {
                let entry = ManifestEntry {
                    stat: stat(i as u64),
                    hash: format!("{i:064x}"),
                    chunks: vec![ChunkId(format!("{:064x}", i + 1)), ChunkId("short".into())],
                };
                (format!("dir{}/file{i}.rs", i % 7), entry)
            })
            .collect();
        let skipped = [(
            "blob.bin".to_string(),
            SkippedEntry {
                stat: stat(9),
                reason: SkipReason::Binary,
            },
        )]
        .into();
        Manifest::new(&config, Some("c1".into()), files, skipped)
    }

    #[test]
    fn round_trips_and_finds_every_path() {
        let m = manifest(500);
        let view = ManifestView::from(&m);
        assert_eq!(view.len(), 500);
        assert_eq!(view.skipped_len(), 1);
        assert_eq!(view.to_manifest(), m);
        for (path, entry) in m.files() {
            assert_eq!(view.get(path).as_ref(), Some(entry));
        }
        assert!(view.get("blob.bin").is_none());
        assert!(view.lookup("blob.bin").is_some());
        assert!(view.lookup("dir0/file1.rs").is_none());
    }

    #[test]
    fn journal_updates_replace_remove_and_add() {
        let mut m = manifest(20);
        let mut view = ManifestView::from(&m);
        let changed = ManifestEntry {
            stat: stat(100),
            hash: "ab".repeat(32),
            chunks: vec![],
        };
        let update = ManifestUpdate {
            commit: Some("c2".into()),
            written_at_ns: 42,
            files: [
                ("dir1/file1.rs".to_string(), Some(changed.clone())),
                ("dir2/file2.rs".to_string(), None),
                ("new.rs".to_string(), Some(changed)),
                ("blob.bin".to_string(), None),
            ]
            .into(),
            skipped: [
                ("blob.bin".to_string(), None),
                (
                    "dir3/file3.rs".to_string(),
                    Some(SkippedEntry {
                        stat: stat(3),
                        reason: SkipReason::Minified,
                    }),
                ),
            ]
            .into(),
        };
        update.apply_to(&mut m);
        view.apply(&update);
        // The decoded manifest holds dir3/file3.rs as both a file and a skipped entry; the
        // view keeps the file, as lookups in the manifest do.
        m.skipped.remove("dir3/file3.rs");
        assert_eq!(view.to_manifest(), m);
        assert_eq!(view.len(), 20);
        assert_eq!(view.skipped_len(), 0);
        assert_eq!(view.commit(), Some("c2"));
    }
}
