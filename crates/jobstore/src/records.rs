//! How the sled backend lays records out: one tree, so that a job and its delivery key go
//! into the same atomic batch.
//!
//! | key                | value                          |
//! |--------------------|--------------------------------|
//! | `j/<job id>`       | JSON of the job and its flags  |
//! | `d/<digest>`       | JSON of the job id and expiry (digest: 32 hex digits of the key's BLAKE3, first 16 bytes) |
//! | `m/next_id`        | next job counter, 8 bytes BE   |

use std::path::Path;

use crate::error::Error;
use crate::queue::{Changes, DedupeDigest, DedupeRecord, Queue, StoredJob, dedupe_digest};

pub(crate) const JOB_PREFIX: &[u8] = b"j/";
pub(crate) const DEDUPE_PREFIX: &[u8] = b"d/";
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

/// The batch that makes the disk match the queue for every record in `changes`.
pub(crate) fn batch_for(queue: &Queue, changes: &Changes) -> Result<sled::Batch, Error> {
    let mut batch = sled::Batch::default();
    for id in &changes.jobs {
        if let Some(record) = queue.stored(id) {
            let value = serde_json::to_vec(record).map_err(|e| Error::Encode {
                what: format!("job {id}"),
                detail: e.to_string(),
            })?;
            batch.insert(key(JOB_PREFIX, id.as_str()), value);
        }
    }
    for id in &changes.removed_jobs {
        batch.remove(key(JOB_PREFIX, id.as_str()));
    }
    for digest in &changes.dedupe {
        if let Some(record) = queue.dedupe_record(digest) {
            let name = hex(digest);
            let value = serde_json::to_vec(record).map_err(|e| Error::Encode {
                what: format!("delivery key {name}"),
                detail: e.to_string(),
            })?;
            batch.insert(key(DEDUPE_PREFIX, &name), value);
        }
    }
    for digest in &changes.removed_dedupe {
        batch.remove(key(DEDUPE_PREFIX, &hex(digest)));
    }
    if changes.next_id {
        batch.insert(NEXT_ID_KEY, &queue.next_id().to_be_bytes());
    }
    Ok(batch)
}

/// Everything persisted in `tree`, decoded.
pub(crate) struct Loaded {
    pub(crate) jobs: Vec<StoredJob>,
    pub(crate) dedupe: Vec<(DedupeDigest, DedupeRecord)>,
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
    for item in tree.scan_prefix(JOB_PREFIX) {
        let (k, v) = item.map_err(read_error)?;
        let record: StoredJob = serde_json::from_slice(&v)
            .map_err(|e| corrupt(format!("job record {:?}: {e}", String::from_utf8_lossy(&k))))?;
        if k[JOB_PREFIX.len()..] != *record.job.id.as_str().as_bytes() {
            return Err(corrupt(format!(
                "job record {:?} holds job {}",
                String::from_utf8_lossy(&k),
                record.job.id
            )));
        }
        jobs.push(record);
    }
    let mut dedupe = Vec::new();
    for item in tree.scan_prefix(DEDUPE_PREFIX) {
        let (k, v) = item.map_err(read_error)?;
        let name = String::from_utf8(k[DEDUPE_PREFIX.len()..].to_vec())
            .map_err(|_| corrupt("a delivery key is not UTF-8".to_owned()))?;
        let record: DedupeRecord = serde_json::from_slice(&v)
            .map_err(|e| corrupt(format!("delivery key record {name:?}: {e}")))?;
        // Stores written before digests kept the key itself: it still dedupes (by its digest).
        let digest = parse_hex(&name).unwrap_or_else(|| dedupe_digest(&name));
        dedupe.push((digest, record));
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
        dedupe,
        next_id,
    })
}
