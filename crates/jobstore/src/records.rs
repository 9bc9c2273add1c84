//! How the sled backend lays records out: one tree, so that a job and its delivery key go
//! into the same atomic batch.
//!
//! | key                | value                          |
//! |--------------------|--------------------------------|
//! | `j/<job id>`       | the job and its flags as of the write that wrote it, binary with a version byte and that write's number (see `job_record`; JSON from older versions is read) |
//! | `a/<write>`        | run-state entries (claims, completions, retries, heartbeats, cancellations) of jobs changed by one write whose job records it did not rewrite (write: 8 bytes BE); see `attempt_log` |
//! | `e/<sequence>`     | delivery keys accepted in one write (sequence: 8 bytes BE); see below |
//! | `d/<digest>`       | written by older versions, read and expired only: JSON of the job id and expiry of one delivery key (digest: 32 hex digits) |
//! | `c/<write>`        | written by the previous version, read on open and removed by the first write: claims made by one write (see `claim_log`) |
//! | `m/next_id`        | next job counter, 8 bytes BE   |
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

use std::path::Path;

use crate::attempt_log::{self, ATTEMPT_PREFIX, AttemptLog};
use crate::claim_log::{self, CLAIM_PREFIX};
use crate::error::Error;
use crate::job_record;
use crate::queue::{
    Changes, DedupeBatch, DedupeDigest, DedupeEntry, DedupeRecord, Queue, StoredJob, dedupe_digest,
    unix_micros,
};

pub(crate) const JOB_PREFIX: &[u8] = b"j/";
pub(crate) const DEDUPE_PREFIX: &[u8] = b"d/";
pub(crate) const DEDUPE_BATCH_PREFIX: &[u8] = b"e/";
/// Version byte of an `e/` record.
const DEDUPE_BATCH_V1: u8 = 1;
/// Bytes per key in an `e/` record.
const DEDUPE_ENTRY_LEN: usize = 32;

/// The key of record number `n` of a numbered kind (`a/`, `c/`, `e/`): the prefix, then `n`
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

fn key(prefix: &[u8], name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + name.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(name.as_bytes());
    key
}

fn hex(digest: &DedupeDigest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(text: &str) -> Option<DedupeDigest> {
    if text.len() != 32 {
        return None;
    }
    let mut digest = [0u8; 16];
    for (i, slot) in digest.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(digest)
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
    for digest in &changes.removed_dedupe {
        batch.remove(key(DEDUPE_PREFIX, &hex(digest)));
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
    /// Per-key records of older versions.
    pub(crate) legacy_dedupe: Vec<(DedupeDigest, DedupeEntry)>,
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
    // Every claim record of the previous version is stale once read: the jobs it applies
    // to are running, so the open requeues and rewrites them.
    let mut stale = Vec::new();
    let claim_records =
        numbered_records(tree, path, CLAIM_PREFIX, "claim record", claim_log::decode)?;
    for (write, _) in &claim_records {
        last_write = last_write.max(*write);
        stale.push(numbered_key(CLAIM_PREFIX, *write));
    }
    claim_log::apply_on_open(&mut jobs, &claim_records);
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
    stale.extend(
        writes
            .into_iter()
            .filter(|write| !live.contains_key(write))
            .map(|write| numbered_key(ATTEMPT_PREFIX, write)),
    );
    let log = AttemptLog::after_open(last_write, live, stale);
    let jobs: Vec<StoredJob> = jobs.into_iter().map(|(record, _)| record).collect();
    let mut legacy_dedupe = Vec::new();
    for item in tree.scan_prefix(DEDUPE_PREFIX) {
        let (k, v) = item.map_err(read_error)?;
        let name = String::from_utf8(k[DEDUPE_PREFIX.len()..].to_vec())
            .map_err(|_| corrupt("a delivery key is not UTF-8".to_owned()))?;
        let record: DedupeRecord = serde_json::from_slice(&v)
            .map_err(|e| corrupt(format!("delivery key record {name:?}: {e}")))?;
        // Stores written before digests kept the key itself: it still dedupes (by its digest).
        let digest = parse_hex(&name).unwrap_or_else(|| dedupe_digest(&name));
        let job = record.job.counter().ok_or_else(|| {
            corrupt(format!(
                "delivery key record {name:?} names job {:?}",
                record.job.0
            ))
        })?;
        let expires_micros = unix_micros(record.expires_at);
        legacy_dedupe.push((
            digest,
            DedupeEntry {
                job,
                expires_micros,
            },
        ));
    }
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
        legacy_dedupe,
        dedupe_batches,
        next_id,
    })
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::claim_log::ClaimEntry;
    use crate::job::{Job, JobId, JobState, Trigger};
    use crate::{JobStore, SledJobStore, StoreConfig};

    fn job(counter: u64, state: JobState, attempts: u32) -> StoredJob {
        let created_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let base = StoredJob::for_test(counter);
        StoredJob {
            job: Job {
                repo: format!("repo-{counter}"),
                commit: Some("9fceb02d".to_owned()),
                trigger: Trigger::Webhook,
                provider: Some("github".to_owned()),
                state,
                attempts,
                created_at,
                started_at: (attempts > 0).then_some(created_at),
                finished_at: state.is_finished().then_some(created_at),
                ..base.job
            },
            ..base
        }
    }

    /// Opens the sled tree of a store directory, waiting while a dropped store's lock lingers.
    fn raw_tree(path: &Path) -> (sled::Db, sled::Tree) {
        for _ in 0..100 {
            if let Ok(db) = sled::open(path) {
                let tree = db.open_tree("jobstore.v1").expect("tree");
                return (db, tree);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{} stays locked", path.display());
    }

    async fn open(path: &Path) -> SledJobStore {
        for _ in 0..100 {
            match SledJobStore::open(path, StoreConfig::default()) {
                Err(Error::Locked { .. }) => tokio::time::sleep(Duration::from_millis(50)).await,
                result => return result.expect("open"),
            }
        }
        panic!("{} stays locked", path.display());
    }

    async fn state_of(store: &SledJobStore, counter: u64) -> (JobState, u32) {
        let job = store
            .get(&JobId::from_counter(counter))
            .await
            .expect("get")
            .expect("job");
        (job.state, job.attempts)
    }

    /// What the previous version left after a crash: job records (version 2) carrying their
    /// write numbers, and claim records.
    #[tokio::test]
    async fn a_store_of_the_previous_format_opens_and_moves_to_the_attempt_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("jobs");
        {
            let (db, tree) = raw_tree(&path);
            // Job 1 completed in write 3 (the old version rewrote the record). Job 2 was
            // claimed in write 4 and still running at the crash. Job 3 was claimed in write 4
            // and released in write 5.
            let records = [
                (job(1, JobState::Succeeded, 1), 3),
                (job(2, JobState::Queued, 0), 2),
                (job(3, JobState::Queued, 0), 5),
            ];
            for (record, write) in &records {
                let key = key(JOB_PREFIX, record.job.id.as_str());
                tree.insert(key, job_record::encode(record, *write))
                    .expect("insert");
            }
            let claim = |job| ClaimEntry {
                job,
                attempts: 1,
                started_micros: 1_700_000_001_000_000,
            };
            tree.insert(
                numbered_key(CLAIM_PREFIX, 4),
                claim_log::encode(&[claim(2), claim(3)]),
            )
            .expect("insert");
            tree.insert(NEXT_ID_KEY, &4u64.to_be_bytes())
                .expect("insert");
            db.flush().expect("flush");
        }
        for round in 0..2 {
            let store = open(&path).await;
            assert_eq!(state_of(&store, 1).await, (JobState::Succeeded, 1));
            assert_eq!(
                state_of(&store, 2).await,
                (JobState::Queued, 1),
                "round {round}: running at the crash, requeued with its attempt"
            );
            assert_eq!(state_of(&store, 3).await, (JobState::Queued, 0));
        }
        let (_db, tree) = raw_tree(&path);
        assert_eq!(
            tree.scan_prefix(CLAIM_PREFIX).count(),
            0,
            "claim records dropped"
        );
        let writes: Vec<u64> = tree
            .scan_prefix(ATTEMPT_PREFIX)
            .keys()
            .map(|k| key_number(ATTEMPT_PREFIX, &k.expect("key")).expect("a/ key"))
            .collect();
        assert!(
            !writes.is_empty() && writes.iter().all(|w| *w > 5),
            "attempt records numbered after the old writes: {writes:?}"
        );
        drop((_db, tree));

        // New claims and completions on top of the old records survive a reopen.
        let store = open(&path).await;
        let first = store.claim("w").await.expect("claim").expect("a job");
        store
            .complete(&first.job.id, crate::Completion::Succeeded)
            .await
            .expect("complete");
        let second = store.claim("w").await.expect("claim").expect("a job");
        drop(store);
        let store = open(&path).await;
        let first = first.job.id.counter().expect("counter");
        let second = second.job.id.counter().expect("counter");
        assert_eq!(state_of(&store, first).await.0, JobState::Succeeded);
        assert_eq!(state_of(&store, second).await.0, JobState::Queued);
        assert_eq!(
            store.get(&JobId::from_counter(4)).await.expect("get"),
            None,
            "no job made up"
        );
    }
}
