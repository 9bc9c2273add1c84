//! The feed on sled: staging a run's batches, writing its entries with the ref's new state in
//! one atomic batch, reading pages (snapshot, then live), and retention.

use std::fs::File;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use indexer::{ChangeSet, RefKey};
use serde::{Deserialize, Serialize};

use crate::context;
use crate::entry::{ChunkRecord, Cursor, Entry, Page};
use crate::error::FeedError;
use crate::keys;
use crate::plan::{self, FIRST_CURSOR, ReadFrom, Staging};

/// How long the feed keeps entries. `None` keeps them forever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Entries older than this are dropped.
    pub max_age: Option<Duration>,
    /// At most this many entries are kept per ref (the oldest go first).
    pub max_entries_per_ref: Option<u64>,
}

/// What the feed knows of one ref.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefRecord {
    /// The commit the ref's chunks are at (none after a deletion, or for a tree without git).
    pub commit: Option<String>,
    /// Whether the ref's last entry deleted it.
    pub deleted: bool,
    /// The ref's newest entry.
    pub last_cursor: u64,
    /// When the newest entry was written, ms since the Unix epoch.
    pub last_time_ms: u64,
    /// Entries of the ref still kept.
    pub entries: u64,
    /// The highest cursor of the ref that retention dropped (0: none); a reader behind it
    /// must restart from a snapshot.
    pub pruned_through: u64,
    /// Files with at least one chunk.
    pub files: u64,
    /// Chunks in all.
    pub chunks: u64,
}

/// The change feed: a durable, ordered log of chunk-level changes per (repo, ref), with the
/// current chunks of every ref (for snapshots) and one global cursor.
///
/// Every method blocks on sled; call it from a blocking thread in async code.
#[derive(Debug)]
pub struct FeedStore {
    path: PathBuf,
    tree: sled::Tree,
    /// Kept to hold the database open and to flush it.
    _db: sled::Db,
    /// sled's log file, `fdatasync`ed after each entry's flush.
    log_file: File,
    staged: Staging,
    /// The next cursor; the lock also serialises writers.
    next: Mutex<u64>,
    retention: Retention,
    newest: tokio::sync::watch::Sender<u64>,
}

impl FeedStore {
    /// Opens (or creates) the feed in the sled directory `path`. A feed written in another
    /// format is refused with [`FeedError::Format`].
    pub fn open(path: &Path, retention: Retention) -> Result<FeedStore, FeedError> {
        let storage = |action| {
            move |source| FeedError::Storage {
                path: path.to_owned(),
                action,
                source,
            }
        };
        let db = sled::Config::new()
            .path(path)
            .open()
            .map_err(storage("opening"))?;
        let tree = db.open_tree("feed").map_err(storage("opening"))?;
        match tree.get(keys::FORMAT_KEY).map_err(storage("reading"))? {
            None => {
                tree.insert(keys::FORMAT_KEY, &keys::FORMAT.to_le_bytes())
                    .map_err(storage("writing the format version"))?;
            }
            Some(v) if v.as_ref() == keys::FORMAT.to_le_bytes() => {}
            Some(v) => {
                return Err(FeedError::Format {
                    path: path.to_owned(),
                    reason: format!(
                        "stored in feed format {:?}, this build reads format {}; move the directory away (consumers restart from a snapshot)",
                        v.as_ref(),
                        keys::FORMAT
                    ),
                });
            }
        }
        let next = match tree.get(keys::NEXT_KEY).map_err(storage("reading"))? {
            Some(v) => {
                let bytes: [u8; 8] = v.as_ref().try_into().map_err(|_| FeedError::Format {
                    path: path.to_owned(),
                    reason: "the next-cursor record is damaged; move the directory away".into(),
                })?;
                u64::from_be_bytes(bytes)
            }
            None => FIRST_CURSOR,
        };
        tree.flush().map_err(storage("flushing"))?;
        let log_file = File::open(path.join("db"))
            .map_err(|e| storage("opening its log for syncing")(sled::Error::Io(e)))?;
        let (newest, _) = tokio::sync::watch::channel(next - 1);
        Ok(FeedStore {
            path: path.to_owned(),
            tree,
            _db: db,
            log_file,
            staged: Staging::default(),
            next: Mutex::new(next),
            retention,
            newest,
        })
    }

    fn storage(&self, action: &'static str) -> impl Fn(sled::Error) -> FeedError + '_ {
        move |source| FeedError::Storage {
            path: self.path.clone(),
            action,
            source,
        }
    }

    fn damaged(&self, what: &str) -> FeedError {
        FeedError::Format {
            path: self.path.clone(),
            reason: format!("{what} is damaged; move the directory away"),
        }
    }

    /// The newest cursor written (1 when the feed is empty).
    pub fn newest(&self) -> u64 {
        *self.newest.borrow()
    }

    /// A receiver that changes whenever an entry is written (its value: the newest cursor).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.newest.subscribe()
    }

    /// Stages one batch of a run; nothing is written until [`FeedStore::commit_ref`].
    pub fn stage(&self, changes: &ChangeSet) {
        self.staged.stage(changes);
    }

    /// Forgets the staged run of `key`.
    pub fn abort_ref(&self, key: &RefKey) {
        self.staged.take(key);
    }

    /// The record of `key`, if the feed has seen the ref.
    pub fn ref_record(&self, key: &RefKey) -> Result<Option<RefRecord>, FeedError> {
        match self
            .tree
            .get(keys::ref_record(key))
            .map_err(self.storage("reading a ref"))?
        {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|_| self.damaged("a ref record")),
        }
    }

    /// Every ref the feed has seen, with its record.
    pub fn refs(&self) -> Result<Vec<(RefKey, RefRecord)>, FeedError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(b"r") {
            let (k, v) = item.map_err(self.storage("reading refs"))?;
            let key = keys::parse_ref_record(&k).ok_or_else(|| self.damaged("a ref key"))?;
            let record = serde_json::from_slice(&v).map_err(|_| self.damaged("a ref record"))?;
            out.push((key, record));
        }
        Ok(out)
    }

    /// The current chunks of one path of `key` (empty when the path is not indexed).
    pub fn file_chunks(&self, key: &RefKey, path: &str) -> Result<Vec<ChunkRecord>, FeedError> {
        match self
            .tree
            .get(keys::state(key, path))
            .map_err(self.storage("reading a file"))?
        {
            None => Ok(Vec::new()),
            Some(v) => serde_json::from_slice(&v).map_err(|_| self.damaged("a file's chunks")),
        }
    }

    /// Indexed paths of `key` starting with `prefix`, in order, at most `limit`.
    pub fn paths(
        &self,
        key: &RefKey,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, FeedError> {
        let state = keys::state_prefix(key);
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(keys::state(key, prefix)).take(limit) {
            let (k, _) = item.map_err(self.storage("listing paths"))?;
            let path =
                std::str::from_utf8(&k[state.len()..]).map_err(|_| self.damaged("a path key"))?;
            out.push(path.to_string());
        }
        Ok(out)
    }

    /// Writes the staged run of `key` as entries, with the ref's new state, in one atomic
    /// and synced write; then applies retention and wakes waiting readers.
    ///
    /// Idempotent by content: a run whose changes the feed already holds (the re-run of a job
    /// whose feed write landed but whose completion did not) writes nothing, because the
    /// changes are computed against the feed's own state of the ref.
    pub fn commit_ref(&self, key: &RefKey) -> Result<(), FeedError> {
        let Some(staged) = self.staged.take(key) else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let record = self.ref_record(key)?.unwrap_or_default();
        let run = context::current().unwrap_or_default();
        let plan = plan::plan_commit(key, staged, &run, record, *next, |path| {
            self.file_chunks(key, path)
        })?;
        let Some(plan) = plan else {
            return Ok(());
        };
        let last = plan.last_cursor();
        let entries = plan.entries.len();
        // The plan is consumed as it is serialized, so a large run's text is not held twice
        // (as records and as JSON) for the whole write.
        let mut batch = sled::Batch::default();
        for (path, chunks) in plan.files {
            if chunks.is_empty() {
                batch.remove(keys::state(key, &path));
            } else {
                let value = serde_json::to_vec(&chunks).expect("chunks serialize");
                batch.insert(keys::state(key, &path), value);
            }
        }
        for entry in plan.entries {
            self.insert_entry(&mut batch, key, &entry);
        }
        self.write(batch, key, &plan.record, last + 1)?;
        *next = last + 1;
        self.prune(key, plan.record)?;
        drop(next);
        self.newest.send_replace(last);
        tracing::info!(
            repo = %key.repo,
            git_ref = %key.git_ref,
            entries,
            last_cursor = last,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "feed entries written"
        );
        Ok(())
    }

    /// Adds `entry` and its per-ref index key to `batch`.
    fn insert_entry(&self, batch: &mut sled::Batch, key: &RefKey, entry: &Entry) {
        let cursor = entry
            .cursor
            .parse()
            .expect("live entries have numeric cursors");
        batch.insert(
            keys::entry(cursor),
            serde_json::to_vec(entry).expect("entries serialize"),
        );
        batch.insert(keys::index(key, cursor), &entry.time_ms.to_be_bytes());
    }

    /// The ref is gone: one `ref_deleted` entry, and its state cleared, in one synced write.
    /// A ref the feed never saw, or already saw deleted, writes nothing.
    pub fn drop_ref(&self, key: &RefKey) -> Result<(), FeedError> {
        self.abort_ref(key);
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(record) = self.ref_record(key)? else {
            return Ok(());
        };
        if record.deleted {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for item in self.tree.scan_prefix(keys::state_prefix(key)) {
            let (k, _) = item.map_err(self.storage("reading a ref's files"))?;
            batch.remove(k);
        }
        let run = context::current().unwrap_or_default();
        let cursor = *next;
        let (entry, record) = plan::plan_deletion(key, &record, &run, cursor);
        self.insert_entry(&mut batch, key, &entry);
        self.write(batch, key, &record, cursor + 1)?;
        *next = cursor + 1;
        self.prune(key, record)?;
        drop(next);
        self.newest.send_replace(cursor);
        Ok(())
    }

    /// Applies `batch` plus the ref record and the next cursor atomically, then flushes and
    /// syncs sled's log.
    fn write(
        &self,
        mut batch: sled::Batch,
        key: &RefKey,
        record: &RefRecord,
        next: u64,
    ) -> Result<(), FeedError> {
        batch.insert(
            keys::ref_record(key),
            serde_json::to_vec(record).expect("records serialize"),
        );
        batch.insert(keys::NEXT_KEY, &next.to_be_bytes());
        self.tree
            .apply_batch(batch)
            .map_err(self.storage("writing an entry"))?;
        self.tree.flush().map_err(self.storage("flushing"))?;
        self.log_file
            .sync_data()
            .map_err(|e| self.storage("syncing")(sled::Error::Io(e)))
    }

    /// Drops the ref's oldest entries beyond the retention (count, then age).
    fn prune(&self, key: &RefKey, mut record: RefRecord) -> Result<(), FeedError> {
        let Retention {
            max_age,
            max_entries_per_ref,
        } = self.retention;
        if max_age.is_none() && max_entries_per_ref.is_none() {
            return Ok(());
        }
        let cutoff = max_age.map(|age| plan::now_ms().saturating_sub(age.as_millis() as u64));
        let mut batch = sled::Batch::default();
        let before = record.pruned_through;
        for item in self.tree.scan_prefix(keys::index_prefix(key)) {
            let (k, v) = item.map_err(self.storage("reading a ref's entries"))?;
            let cursor = keys::index_cursor(&k).ok_or_else(|| self.damaged("an index key"))?;
            let time = v
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| self.damaged("an index value"))?;
            let too_many = max_entries_per_ref.is_some_and(|max| record.entries > max);
            let too_old = cutoff.is_some_and(|cutoff| time < cutoff);
            if !too_many && !too_old {
                break;
            }
            batch.remove(k);
            batch.remove(keys::entry(cursor));
            record.entries -= 1;
            record.pruned_through = cursor;
        }
        if record.pruned_through == before {
            return Ok(());
        }
        batch.insert(
            keys::ref_record(key),
            serde_json::to_vec(&record).expect("records serialize"),
        );
        self.tree
            .apply_batch(batch)
            .map_err(self.storage("dropping old entries"))
    }

    /// Applies retention to every ref (entries age even when their ref gets no new ones).
    pub fn prune_all(&self) -> Result<(), FeedError> {
        let _writer = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, record) in self.refs()? {
            self.prune(&key, record)?;
        }
        Ok(())
    }

    /// A page of `key`'s feed after `cursor`: snapshot entries (one per file) while the cursor
    /// is `0` or inside a snapshot, live entries after it; at most `limit` entries.
    pub fn read(&self, key: &RefKey, cursor: &Cursor, limit: usize) -> Result<Page, FeedError> {
        let limit = limit.max(1);
        let newest = self.newest();
        let record = self.ref_record(key)?.unwrap_or_default();
        match plan::read_from(cursor, newest, &record)? {
            ReadFrom::Snapshot { base, after } => self.snapshot(key, &record, base, &after, limit),
            ReadFrom::Live(since) => self.live(key, since, limit),
        }
    }

    fn snapshot(
        &self,
        key: &RefKey,
        record: &RefRecord,
        base: u64,
        after: &str,
        limit: usize,
    ) -> Result<Page, FeedError> {
        let prefix = keys::state_prefix(key);
        let start = keys::state(key, after);
        let range = self
            .tree
            .range::<Vec<u8>, _>((Bound::Excluded(start), Bound::Unbounded));
        let mut entries = Vec::new();
        let mut more = false;
        for item in range {
            let (k, v) = item.map_err(self.storage("reading a snapshot"))?;
            if !k.starts_with(&prefix) {
                break;
            }
            if entries.len() == limit {
                more = true;
                break;
            }
            let path = std::str::from_utf8(&k[prefix.len()..])
                .map_err(|_| self.damaged("a path key"))?
                .to_string();
            let chunks: Vec<ChunkRecord> =
                serde_json::from_slice(&v).map_err(|_| self.damaged("a file's chunks"))?;
            entries.push(plan::snapshot_entry(key, record, base, path, chunks));
        }
        Ok(plan::snapshot_page(entries, base, more))
    }

    /// The cursor to resume from once a consumer holds the ref at `commit`: the cursor of the
    /// last part of the newest retained entry that indexed `commit`, or `None` when no
    /// retained entry did (never indexed, or older than retention: start from `0`).
    ///
    /// Reads the ref's retained entries from the oldest (a tool's occasional question, not a
    /// hot path).
    pub fn cursor_after_commit(
        &self,
        key: &RefKey,
        commit: &str,
    ) -> Result<Option<String>, FeedError> {
        /// The two fields this needs of an entry.
        #[derive(serde::Deserialize)]
        struct Head {
            cursor: String,
            commit: Option<String>,
            last_part: bool,
        }
        let prefix = keys::index_prefix(key);
        let mut found = None;
        for item in self.tree.scan_prefix(&prefix) {
            let (k, _) = item.map_err(self.storage("reading entries"))?;
            let Some(value) = self.indexed_entry(&k)? else {
                continue;
            };
            let head: Head =
                serde_json::from_slice(&value).map_err(|_| self.damaged("an entry"))?;
            if head.last_part && head.commit.as_deref() == Some(commit) {
                found = Some(head.cursor);
            }
        }
        Ok(found)
    }

    /// The stored entry a per-ref index key points at (`None`: pruned meanwhile).
    fn indexed_entry(&self, index_key: &[u8]) -> Result<Option<sled::IVec>, FeedError> {
        let cursor = keys::index_cursor(index_key).ok_or_else(|| self.damaged("an index key"))?;
        self.tree
            .get(keys::entry(cursor))
            .map_err(self.storage("reading an entry"))
    }

    fn live(&self, key: &RefKey, since: u64, limit: usize) -> Result<Page, FeedError> {
        let prefix = keys::index_prefix(key);
        let mut entries = Vec::new();
        for item in self
            .tree
            .range(keys::index(key, since.saturating_add(1))..)
            .take(limit)
        {
            let (k, _) = item.map_err(self.storage("reading entries"))?;
            if !k.starts_with(&prefix) {
                break;
            }
            let Some(value) = self.indexed_entry(&k)? else {
                // Pruned between the index read and this one: the next read answers 410.
                break;
            };
            entries.push(serde_json::from_slice(&value).map_err(|_| self.damaged("an entry"))?);
        }
        Ok(plan::live_page(entries, since))
    }
}
