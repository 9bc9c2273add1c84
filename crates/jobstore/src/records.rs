//! How the sled backend lays records out: one tree, so that a job and its delivery key go
//! into the same atomic batch.
//!
//! | key                | value                          |
//! |--------------------|--------------------------------|
//! | `j/<job id>`       | the job and its flags, binary with a version byte (see `job_record`; JSON from older versions is read) |
//! | `e/<sequence>`     | delivery keys accepted in one write (sequence: 8 bytes BE); see below |
//! | `d/<digest>`       | written by older versions, read and expired only: JSON of the job id and expiry of one delivery key (digest: 32 hex digits) |
//! | `c/<write>`        | claims made by one write whose job records were not rewritten (write: 8 bytes BE); see `claim_log` |
//! | `m/next_id`        | next job counter, 8 bytes BE   |
//!
//! Delivery keys are written as one record per group-commit write, not one per key: sled
//! keeps per-record state in memory that its cache limit does not bound, so a record per
//! delivery made resident memory grow with every accepted webhook. An `e/` value is a version
//! byte (1) followed by 32 bytes per key: the first 16 bytes of the key's BLAKE3, the job
//! counter (u64 LE) and the expiry in microseconds since the Unix epoch (u64 LE). The keys of
//! one write expire together, so a record is dropped whole once its latest expiry passed.

use std::path::Path;

use crate::claim_log::{self, CLAIM_PREFIX, ClaimEntry, ClaimLog};
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

fn batch_key(seq: u64) -> Vec<u8> {
    let mut key = DEDUPE_BATCH_PREFIX.to_vec();
    key.extend_from_slice(&seq.to_be_bytes());
    key
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
pub(crate) fn batch_for(queue: &mut Queue, changes: &Changes, claims: &mut ClaimLog) -> Writes {
    let mut batch = Writes::default();
    let write = claims.begin_write(&mut batch);
    // A job claimed and also rewritten in this write needs no claim entry: its record says
    // it all.
    let claimed = changes
        .claims
        .iter()
        .filter(|id| !changes.jobs.contains(*id));
    let whole = claims.write_claims(write, claimed, queue, &mut batch);
    for id in changes.jobs.iter().chain(&whole) {
        if let Some(record) = queue.stored(id) {
            batch.insert(
                key(JOB_PREFIX, id.as_str()),
                job_record::encode(record, write),
            );
        }
        claims.job_written(id, &mut batch);
    }
    for id in &changes.removed_jobs {
        batch.remove(key(JOB_PREFIX, id.as_str()));
        claims.job_written(id, &mut batch);
    }
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

/// Everything persisted in `tree`, decoded.
pub(crate) struct Loaded {
    pub(crate) jobs: Vec<StoredJob>,
    /// The write bookkeeping to continue with: every claim record found is stale (the
    /// jobs it names are requeued on open).
    pub(crate) claims: ClaimLog,
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
    let mut claim_records: Vec<(u64, Vec<ClaimEntry>)> = Vec::new();
    for item in tree.scan_prefix(CLAIM_PREFIX) {
        let (k, v) = item.map_err(read_error)?;
        let write = claim_log::parse_claim_key(&k)
            .ok_or_else(|| corrupt(format!("claim record key {:?}", &*k)))?;
        let entries = claim_log::decode(&v).ok_or_else(|| {
            corrupt(format!(
                "claim record {write}: not a version-1 record of whole entries"
            ))
        })?;
        last_write = last_write.max(write);
        claim_records.push((write, entries));
    }
    claim_log::apply_on_open(&mut jobs, &claim_records);
    let claims = ClaimLog::after_open(
        last_write,
        claim_records.iter().map(|(write, _)| *write).collect(),
    );
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
    let mut dedupe_batches = Vec::new();
    for item in tree.scan_prefix(DEDUPE_BATCH_PREFIX) {
        let (k, v) = item.map_err(read_error)?;
        let seq = k
            .get(DEDUPE_BATCH_PREFIX.len()..)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| corrupt(format!("delivery key batch key {:?}", &*k)))?;
        let entries = decode_dedupe_batch(&v).ok_or_else(|| {
            corrupt(format!(
                "delivery key batch {seq}: not a version-1 record of whole entries"
            ))
        })?;
        dedupe_batches.push((seq, entries));
    }
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
        claims,
        legacy_dedupe,
        dedupe_batches,
        next_id,
    })
}
