//! How the sled backend lays records out: one tree, so that a job and its delivery key go
//! into the same atomic batch.
//!
//! | key                | value                          |
//! |--------------------|--------------------------------|
//! | `j/<job id>`       | the job and its flags as of the write that wrote it, binary with a version byte and that write's number (see `job_record`) |
//! | `a/<write>`        | run-state entries (claims, completions, retries, heartbeats, cancellations) of jobs changed by one write whose job records it did not rewrite (write: 8 bytes BE); see `attempt_log` |
//! | `e/<sequence>`     | delivery keys accepted in one write (sequence: 8 bytes BE); see below |
//! | `m/next_id`        | next job counter, 8 bytes BE   |
//! | `m/format`         | the store's format version, u32 LE ([`FORMAT`]) |
//!
//! A job's state on disk is its `j/` record with the newer `a/` entries naming it replayed
//! over it in write order. Every group-commit write is one atomic sled batch and carries its
//! own write number, so a crash between writes leaves the state of the last write.
//!
//! Delivery keys are written as one record per group-commit write, not one per key: sled
//! keeps per-record state in memory that its cache limit does not bound, so a record per
//! delivery made resident memory grow with every accepted webhook. An `e/` value is a version
//! byte (1) followed by 32 bytes per key: the first 16 bytes of the key's BLAKE3, the job
//! counter (u64 LE) and the expiry in microseconds since the Unix epoch (u64 LE). The keys of
//! one write expire together, so a record is dropped whole once its latest expiry passed.
//!
//! The format version covers every record kind. A store of another version is refused at
//! open ([`Error::UnsupportedFormat`]), and so is a store without one that holds records
//! (written before versions were recorded); no older layout is read.

use std::path::Path;

use crate::attempt_log::{self, ATTEMPT_PREFIX, AttemptLog};
use crate::error::Error;
use crate::job_record;
use crate::queue::{Changes, DedupeBatch, DedupeDigest, DedupeEntry, Queue, StoredJob};

/// The on-disk format this build reads and writes. Bump it with any change to a record's
/// layout; a store of another version is refused at open.
pub(crate) const FORMAT: u32 = 2;

pub(crate) const JOB_PREFIX: &[u8] = b"j/";
pub(crate) const DEDUPE_BATCH_PREFIX: &[u8] = b"e/";
/// Version byte of an `e/` record.
const DEDUPE_BATCH_V1: u8 = 1;
/// Bytes per key in an `e/` record.
const DEDUPE_ENTRY_LEN: usize = 32;

/// The key of record number `n` of a numbered kind (`a/`, `e/`): the prefix, then `n`
/// as 8 bytes big-endian, so that a prefix scan returns the records in number order.
pub(crate) fn numbered_key(prefix: &[u8], n: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&n.to_be_bytes());
    key
}

/// The number in a key made by [`numbered_key`] with `prefix`.
pub(crate) fn key_number(prefix: &[u8], key: &[u8]) -> Option<u64> {
    let rest = key.strip_prefix(prefix)?;
    Some(u64::from_be_bytes(rest.try_into().ok()?))
}

fn batch_key(seq: u64) -> Vec<u8> {
    numbered_key(DEDUPE_BATCH_PREFIX, seq)
}

fn encode_dedupe_batch(entries: &DedupeBatch) -> Vec<u8> {
    let mut value = Vec::with_capacity(1 + entries.len() * DEDUPE_ENTRY_LEN);
    value.push(DEDUPE_BATCH_V1);
    for (digest, entry) in entries {
        value.extend_from_slice(digest);
        value.extend_from_slice(&entry.job.to_le_bytes());
        value.extend_from_slice(&entry.expires_micros.to_le_bytes());
    }
    value
}

fn decode_dedupe_batch(value: &[u8]) -> Option<DedupeBatch> {
    let (&version, body) = value.split_first()?;
    if version != DEDUPE_BATCH_V1 || body.len() % DEDUPE_ENTRY_LEN != 0 {
        return None;
    }
    let u64_at = |chunk: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(chunk.get(at..at + 8)?.try_into().ok()?))
    };
    body.chunks_exact(DEDUPE_ENTRY_LEN)
        .map(|chunk| {
            let digest: DedupeDigest = chunk.get(..16)?.try_into().ok()?;
            let entry = DedupeEntry {
                job: u64_at(chunk, 16)?,
                expires_micros: u64_at(chunk, 24)?,
            };
            Some((digest, entry))
        })
        .collect()
}
pub(crate) const NEXT_ID_KEY: &[u8] = b"m/next_id";
pub(crate) const FORMAT_KEY: &[u8] = b"m/format";

fn key(prefix: &[u8], name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + name.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(name.as_bytes());
    key
}

/// Record writes in order, built under the queue lock and handed to sled after it is
/// released (a later write of a key wins).
#[derive(Debug, Default)]
pub(crate) struct Writes(Vec<(Vec<u8>, Option<Vec<u8>>)>);

impl Writes {
    pub(crate) fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.0.push((key.into(), Some(value.into())));
    }

    pub(crate) fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.0.push((key.into(), None));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds these writes to `batch`, after what it holds.
    pub(crate) fn add_to(self, batch: &mut sled::Batch) {
        for (key, value) in self.0 {
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
    }
}

/// The writes that make the disk match the queue for every record in `changes`.
pub(crate) fn batch_for(queue: &mut Queue, changes: &Changes, log: &mut AttemptLog) -> Writes {
    let mut batch = Writes::default();
    let write = log.begin_write(&mut batch);
    for n in &changes.jobs {
        write_job(queue, *n, write, log, &mut batch);
    }
    for (id, logged_in) in &changes.removed_jobs {
        batch.remove(key(JOB_PREFIX, id.as_str()));
        log.supersede(*logged_in, &mut batch);
    }
    // A job whose record is rewritten in this write needs no entry: its record says it all.
    let changed = changes
        .runs
        .iter()
        .copied()
        .filter(|n| !changes.jobs.contains(n));
    log.write_entries(write, changed, queue, &mut batch);
    if !changes.dedupe.is_empty() {
        let seq = queue.seal_dedupe_batch(&changes.dedupe);
        batch.insert(batch_key(seq), encode_dedupe_batch(&changes.dedupe));
    }
    for seq in &changes.removed_dedupe_batches {
        batch.remove(batch_key(*seq));
    }
    if changes.next_id {
        batch.insert(NEXT_ID_KEY, queue.next_id().to_be_bytes());
    }
    batch
}

fn write_job(queue: &mut Queue, n: u64, write: u64, log: &mut AttemptLog, batch: &mut Writes) {
    if let Some(record) = queue.stored_mut(n) {
        batch.insert(
            key(JOB_PREFIX, record.job.id.as_str()),
            job_record::encode(record, write),
        );
        log.job_written(record, batch);
    }
}

/// Everything persisted in `tree`, decoded.
pub(crate) struct Loaded {
    pub(crate) jobs: Vec<StoredJob>,
    /// The write bookkeeping to continue with.
    pub(crate) log: AttemptLog,
    /// The store was empty and has no format version yet: write [`FORMAT`] with the first
    /// write.
    pub(crate) new: bool,
    /// Batch records, in write order.
    pub(crate) dedupe_batches: Vec<(u64, DedupeBatch)>,
    pub(crate) next_id: u64,
}

pub(crate) fn load(tree: &sled::Tree, path: &Path) -> Result<Loaded, Error> {
    let corrupt = |detail: String| Error::Corrupt {
        path: path.to_owned(),
        detail,
    };
    let read_error = |source| Error::Storage {
        path: path.to_owned(),
        action: "reading the queue",
        source,
    };
    let new = check_format(tree, path)?;
    let mut jobs = Vec::new();
    let mut last_write = 0;
    for item in tree.scan_prefix(JOB_PREFIX) {
        let (k, v) = item.map_err(read_error)?;
        let (record, written_in) = job_record::decode(&v)
            .map_err(|e| corrupt(format!("job record {:?}: {e}", String::from_utf8_lossy(&k))))?;
        if record.job.id.counter().is_none() {
            return Err(corrupt(format!(
                "job record {:?} holds job {:?}, not an id this store makes (16 hex digits)",
                String::from_utf8_lossy(&k),
                record.job.id.as_str()
            )));
        }
        if k[JOB_PREFIX.len()..] != *record.job.id.as_str().as_bytes() {
            return Err(corrupt(format!(
                "job record {:?} holds job {}",
                String::from_utf8_lossy(&k),
                record.job.id
            )));
        }
        last_write = last_write.max(written_in);
        jobs.push((record, written_in));
    }
    let attempt_records = numbered_records(
        tree,
        path,
        ATTEMPT_PREFIX,
        "attempt record",
        attempt_log::decode,
    )?;
    if let Some((write, _)) = attempt_records.last() {
        last_write = last_write.max(*write);
    }
    let writes: Vec<u64> = attempt_records.iter().map(|(write, _)| *write).collect();
    let live = attempt_log::replay(&mut jobs, attempt_records);
    let stale = writes
        .into_iter()
        .filter(|write| !live.contains_key(write))
        .map(|write| numbered_key(ATTEMPT_PREFIX, write))
        .collect();
    let log = AttemptLog::after_open(last_write, live, stale);
    let jobs: Vec<StoredJob> = jobs.into_iter().map(|(record, _)| record).collect();
    let dedupe_batches = numbered_records(
        tree,
        path,
        DEDUPE_BATCH_PREFIX,
        "delivery key batch",
        decode_dedupe_batch,
    )?;
    let next_id = match tree.get(NEXT_ID_KEY).map_err(read_error)? {
        Some(bytes) => {
            let bytes: [u8; 8] = bytes
                .as_ref()
                .try_into()
                .map_err(|_| corrupt("the job counter is not 8 bytes".to_owned()))?;
            u64::from_be_bytes(bytes)
        }
        None => 1,
    };
    Ok(Loaded {
        jobs,
        log,
        new,
        dedupe_batches,
        next_id,
    })
}

/// Checks the store's format version: `Ok(true)` for an empty store without one (a new
/// store), `Ok(false)` for one of this build's version, and the error that says what to do
/// for anything else.
fn check_format(tree: &sled::Tree, path: &Path) -> Result<bool, Error> {
    let read_error = |source| Error::Storage {
        path: path.to_owned(),
        action: "reading the format version",
        source,
    };
    let found = match tree.get(FORMAT_KEY).map_err(read_error)? {
        Some(bytes) => match <[u8; 4]>::try_from(bytes.as_ref()) {
            Ok(bytes) => u32::from_le_bytes(bytes),
            Err(_) => {
                return Err(Error::Corrupt {
                    path: path.to_owned(),
                    detail: "the format version is not 4 bytes".to_owned(),
                });
            }
        },
        None if tree.is_empty() => return Ok(true),
        // Records but no version: written before versions were recorded.
        None => 0,
    };
    if found == FORMAT {
        Ok(false)
    } else {
        Err(Error::UnsupportedFormat {
            path: path.to_owned(),
            found,
            reads: FORMAT,
        })
    }
}

/// Every record of a numbered kind, in number order, decoded by `decode` (`None`: damaged).
/// `what` names the kind in the corruption error.
fn numbered_records<T>(
    tree: &sled::Tree,
    path: &Path,
    prefix: &[u8],
    what: &str,
    decode: impl Fn(&[u8]) -> Option<T>,
) -> Result<Vec<(u64, T)>, Error> {
    let corrupt = |detail: String| Error::Corrupt {
        path: path.to_owned(),
        detail,
    };
    let mut records = Vec::new();
    for item in tree.scan_prefix(prefix) {
        let (k, v) = item.map_err(|source| Error::Storage {
            path: path.to_owned(),
            action: "reading the queue",
            source,
        })?;
        let n = key_number(prefix, &k).ok_or_else(|| corrupt(format!("{what} key {:?}", &*k)))?;
        let decoded = decode(&v).ok_or_else(|| {
            corrupt(format!(
                "{what} {n}: not a version-1 record of whole entries"
            ))
        })?;
        records.push((n, decoded));
    }
    Ok(records)
}
