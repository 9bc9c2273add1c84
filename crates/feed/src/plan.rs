//! What a commit or a ref deletion writes and where a read starts, computed from the feed's
//! own state. Every backend stores these the same way it likes; none recomputes them, so
//! the sled and PostgreSQL feeds cannot drift apart in what they announce.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use indexer::{ChangeSet, Chunk, RefKey};

use crate::context::RunContext;
use crate::entry::{ChunkRecord, Cursor, Entry, EntryKind, Page, PathChange};
use crate::error::FeedError;
use crate::store::RefRecord;

/// A commit's changes are split into parts of about this much chunk text, so that one entry
/// stays small enough to page and to keep in one storage record.
const PART_TEXT_BYTES: usize = 64 * 1024;

/// The first cursor ever handed out. Cursor `0` means "start with a snapshot"; a snapshot of
/// an empty feed continues at this cursor.
pub const FIRST_CURSOR: u64 = 2;

/// Milliseconds since the Unix epoch, the unit of [`Entry::time_ms`].
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// One ref's staged run: the changed paths of its batches, later batches winning.
#[derive(Debug, Default)]
pub struct StagedRun {
    /// The commit the run indexed, when known.
    pub commit: Option<String>,
    /// Path → its whole new chunk list, or `None` for a removed path.
    pub files: BTreeMap<String, Option<Vec<Chunk>>>,
}

/// Runs staged in memory until their commit, per ref (a run executes on one process, so its
/// staging never needs to be shared).
#[derive(Debug, Default)]
pub struct Staging {
    runs: Mutex<HashMap<RefKey, StagedRun>>,
}

impl Staging {
    /// Adds one batch to its ref's run.
    pub fn stage(&self, changes: &ChangeSet) {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        let run = runs.entry(changes.key.clone()).or_default();
        if changes.commit.is_some() {
            run.commit = changes.commit.clone();
        }
        for path in &changes.deletes {
            run.files.insert(path.clone(), None);
        }
        for file in &changes.upserts {
            run.files
                .insert(file.path.clone(), Some(file.chunks.clone()));
        }
    }

    /// Takes the staged run of `key` out, for its commit.
    pub fn take(&self, key: &RefKey) -> Option<StagedRun> {
        self.runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key)
    }
}

/// The change of one path from `old` to `new`, or `None` when nothing moved. Works by id: an
/// id whose chunks (with their lines) differ is removed and all its new chunks added.
fn diff(path: &str, old: &[ChunkRecord], new: &[ChunkRecord]) -> Option<PathChange> {
    type Spots = BTreeMap<String, Vec<(u32, u32)>>;
    let spots = |chunks: &[ChunkRecord]| {
        let mut by_id = Spots::new();
        for c in chunks {
            by_id
                .entry(c.id.clone())
                .or_default()
                .push((c.start_line, c.end_line));
        }
        by_id.values_mut().for_each(|v| v.sort_unstable());
        by_id
    };
    let (before, after) = (spots(old), spots(new));
    let changed = |id: &String| before.get(id) != after.get(id);
    let removed: Vec<String> = before.keys().filter(|id| changed(id)).cloned().collect();
    let added: Vec<ChunkRecord> = new.iter().filter(|c| changed(&c.id)).cloned().collect();
    (!removed.is_empty() || !added.is_empty()).then(|| PathChange {
        path: path.to_string(),
        removed,
        added,
    })
}

/// Splits `changes` into parts of about [`PART_TEXT_BYTES`] of text (at least one path each).
fn into_parts(changes: Vec<PathChange>) -> Vec<Vec<PathChange>> {
    let mut parts = vec![Vec::new()];
    let mut bytes = 0;
    for change in changes {
        let size: usize =
            change.added.iter().map(|c| c.text.len()).sum::<usize>() + change.removed.len() * 64;
        let current = parts.last_mut().expect("parts is never empty");
        if !current.is_empty() && bytes + size > PART_TEXT_BYTES {
            parts.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        parts.last_mut().expect("parts is never empty").push(change);
    }
    parts
}

/// What one commit writes, in one atomic write of the backend.
#[derive(Debug)]
pub struct CommitPlan {
    /// The entries, with consecutive cursors from the `first` the plan was made with.
    pub entries: Vec<Entry>,
    /// Each changed path's new chunks; an empty list means the path is gone.
    pub files: Vec<(String, Vec<ChunkRecord>)>,
    /// The ref's record after the write.
    pub record: RefRecord,
}

impl CommitPlan {
    /// The cursor of the plan's last entry.
    pub fn last_cursor(&self) -> u64 {
        self.record.last_cursor
    }
}

/// Plans the commit of `staged` onto a ref whose record is `record` (default for a ref the
/// feed never saw), with entries from cursor `first`; `old` reads a path's stored chunks.
///
/// Returns `None` when the feed already holds the run (a repeated run writes nothing).
/// The caller must hold its cursor lock from choosing `first` until its write is durable.
pub fn plan_commit<E>(
    key: &RefKey,
    staged: StagedRun,
    run: &RunContext,
    record: RefRecord,
    first: u64,
    mut old: impl FnMut(&str) -> Result<Vec<ChunkRecord>, E>,
) -> Result<Option<CommitPlan>, E> {
    let mut changes = Vec::new();
    let mut files_out = Vec::new();
    let (mut files, mut chunks) = (record.files as i64, record.chunks as i64);
    for (path, new) in staged.files {
        let old = old(&path)?;
        let new: Vec<ChunkRecord> = new.iter().flatten().map(ChunkRecord::from).collect();
        let Some(change) = diff(&path, &old, &new) else {
            continue;
        };
        files += i64::from(!new.is_empty()) - i64::from(!old.is_empty());
        chunks += new.len() as i64 - old.len() as i64;
        files_out.push((path, new));
        changes.push(change);
    }
    let fresh = record.last_cursor == 0 || record.deleted;
    if changes.is_empty() && staged.commit == record.commit && !fresh {
        return Ok(None);
    }
    let kind = if run.full {
        EntryKind::Reindex
    } else {
        EntryKind::Commit
    };
    let time_ms = now_ms();
    let parts = into_parts(changes);
    let count = parts.len();
    let entries: Vec<Entry> = parts
        .into_iter()
        .enumerate()
        .map(|(n, paths)| Entry {
            cursor: (first + n as u64).to_string(),
            kind,
            repo: key.repo.clone(),
            git_ref: key.git_ref.clone(),
            commit: staged.commit.clone(),
            previous_commit: record.commit.clone(),
            job_id: run.job_id.clone(),
            time_ms,
            part: n as u32,
            last_part: n + 1 == count,
            paths,
        })
        .collect();
    let record = RefRecord {
        commit: staged.commit,
        deleted: false,
        last_cursor: first + count as u64 - 1,
        last_time_ms: time_ms,
        entries: record.entries + count as u64,
        pruned_through: record.pruned_through,
        files: files.max(0) as u64,
        chunks: chunks.max(0) as u64,
    };
    Ok(Some(CommitPlan {
        entries,
        files: files_out,
        record,
    }))
}

/// The `ref_deleted` entry at `cursor` for a ref whose record is `record`, and the ref's
/// record after it. The caller clears the ref's files in the same write.
pub fn plan_deletion(
    key: &RefKey,
    record: &RefRecord,
    run: &RunContext,
    cursor: u64,
) -> (Entry, RefRecord) {
    let time_ms = now_ms();
    let entry = Entry {
        cursor: cursor.to_string(),
        kind: EntryKind::RefDeleted,
        repo: key.repo.clone(),
        git_ref: key.git_ref.clone(),
        commit: None,
        previous_commit: record.commit.clone(),
        job_id: run.job_id.clone(),
        time_ms,
        part: 0,
        last_part: true,
        paths: Vec::new(),
    };
    let record = RefRecord {
        commit: None,
        deleted: true,
        last_cursor: cursor,
        last_time_ms: time_ms,
        entries: record.entries + 1,
        pruned_through: record.pruned_through,
        files: 0,
        chunks: 0,
    };
    (entry, record)
}

/// Where a read continues, once its cursor has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadFrom {
    /// Snapshot entries after path `after` (`""`: from the first), then live entries after
    /// `base`.
    Snapshot {
        /// The cursor live entries continue after.
        base: u64,
        /// The last path served.
        after: String,
    },
    /// Live entries after this cursor.
    Live(u64),
}

/// Checks `cursor` against the feed's `newest` cursor and the ref's `record`: a cursor ahead
/// of the feed is [`FeedError::CursorAhead`], one behind retention
/// [`FeedError::CursorExpired`]. `newest` must be read no earlier than `record`.
pub fn read_from(cursor: &Cursor, newest: u64, record: &RefRecord) -> Result<ReadFrom, FeedError> {
    let check = |since: u64| {
        if since > newest {
            Err(FeedError::CursorAhead {
                cursor: cursor.to_string(),
                newest,
            })
        } else if record.pruned_through > since {
            Err(FeedError::CursorExpired {
                cursor: cursor.to_string(),
                restart: Cursor::Start.to_string(),
            })
        } else {
            Ok(())
        }
    };
    match cursor {
        Cursor::Start => Ok(ReadFrom::Snapshot {
            base: newest,
            after: String::new(),
        }),
        Cursor::Snapshot { base, after } => {
            check(*base)?;
            Ok(ReadFrom::Snapshot {
                base: *base,
                after: after.clone(),
            })
        }
        Cursor::Live(since) => {
            check(*since)?;
            Ok(ReadFrom::Live(*since))
        }
    }
}

/// One snapshot entry: the current chunks of `path`, read in a snapshot begun at `base`.
pub fn snapshot_entry(
    key: &RefKey,
    record: &RefRecord,
    base: u64,
    path: String,
    chunks: Vec<ChunkRecord>,
) -> Entry {
    let cursor = Cursor::Snapshot {
        base,
        after: path.clone(),
    };
    Entry {
        cursor: cursor.to_string(),
        kind: EntryKind::Snapshot,
        repo: key.repo.clone(),
        git_ref: key.git_ref.clone(),
        commit: record.commit.clone(),
        previous_commit: None,
        job_id: None,
        time_ms: record.last_time_ms,
        part: 0,
        last_part: true,
        paths: vec![PathChange {
            path,
            removed: Vec::new(),
            added: chunks,
        }],
    }
}

/// A snapshot page of `entries` begun at `base`; `more` says whether files follow.
pub fn snapshot_page(entries: Vec<Entry>, base: u64, more: bool) -> Page {
    let next_cursor = match (more, entries.last()) {
        (true, Some(last)) => last.cursor.clone(),
        _ => Cursor::Live(base.max(FIRST_CURSOR - 1)).to_string(),
    };
    Page {
        entries,
        next_cursor,
        snapshot_end: !more,
    }
}

/// A page of live `entries` read after `since`.
pub fn live_page(entries: Vec<Entry>, since: u64) -> Page {
    let next_cursor = entries
        .last()
        .map_or_else(|| since.to_string(), |e| e.cursor.clone());
    Page {
        entries,
        next_cursor,
        snapshot_end: false,
    }
}
