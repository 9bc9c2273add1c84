//! Claim records of the previous version, read on open only (the attempt log replaced them,
//! see `attempt_log`).
//!
//! That version wrote the claims of one write into one `c/<write>` record: per claim the job
//! counter (u64 LE), its attempt count (u32 LE) and the start time in microseconds since the
//! Unix epoch (u64 LE), after a version byte (1). Its completions rewrote job records.
//!
//! On open, a claim entry applies to its job only if it comes from a later write than the
//! job's record (`job_record` version 2 carries the write number) and the record says
//! queued: the job was running when the process stopped. Every job a claim applies to is
//! running, so the open requeues it and writes it again; the claim records are then removed
//! with that first write.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::job::JobState;
use crate::queue::StoredJob;

pub(crate) const CLAIM_PREFIX: &[u8] = b"c/";
const CLAIMS_V1: u8 = 1;
const ENTRY_LEN: usize = 20;

/// One claim as persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClaimEntry {
    pub(crate) job: u64,
    pub(crate) attempts: u32,
    pub(crate) started_micros: u64,
}

#[cfg(test)]
pub(crate) fn claim_key(write: u64) -> [u8; 10] {
    let mut key = [0u8; 10];
    key[..2].copy_from_slice(CLAIM_PREFIX);
    key[2..].copy_from_slice(&write.to_be_bytes());
    key
}

/// The write number of a `c/` key.
pub(crate) fn parse_claim_key(key: &[u8]) -> Option<u64> {
    let rest = key.strip_prefix(CLAIM_PREFIX)?;
    Some(u64::from_be_bytes(rest.try_into().ok()?))
}

/// The encoding the previous version wrote; tests write old stores with it.
#[cfg(test)]
pub(crate) fn encode(entries: &[ClaimEntry]) -> Vec<u8> {
    let mut value = Vec::with_capacity(1 + entries.len() * ENTRY_LEN);
    value.push(CLAIMS_V1);
    for e in entries {
        value.extend_from_slice(&e.job.to_le_bytes());
        value.extend_from_slice(&e.attempts.to_le_bytes());
        value.extend_from_slice(&e.started_micros.to_le_bytes());
    }
    value
}

pub(crate) fn decode(value: &[u8]) -> Option<Vec<ClaimEntry>> {
    let (&version, body) = value.split_first()?;
    if version != CLAIMS_V1 || body.len() % ENTRY_LEN != 0 {
        return None;
    }
    body.chunks_exact(ENTRY_LEN)
        .map(|chunk| {
            Some(ClaimEntry {
                job: u64::from_le_bytes(chunk.get(..8)?.try_into().ok()?),
                attempts: u32::from_le_bytes(chunk.get(8..12)?.try_into().ok()?),
                started_micros: u64::from_le_bytes(chunk.get(12..20)?.try_into().ok()?),
            })
        })
        .collect()
}

/// Applies the claim records found on open to the job records they may postdate. `jobs`
/// pairs each record with the write that wrote it; claims are given in write order.
pub(crate) fn apply_on_open(jobs: &mut [(StoredJob, u64)], claims: &[(u64, Vec<ClaimEntry>)]) {
    if claims.is_empty() {
        return;
    }
    let index: HashMap<u64, usize> = jobs
        .iter()
        .enumerate()
        .filter_map(|(i, (record, _))| Some((record.job.id.counter()?, i)))
        .collect();
    for (write, entries) in claims {
        for entry in entries {
            let Some(&i) = index.get(&entry.job) else {
                tracing::warn!(job = entry.job, "a claim names a job that has no record");
                continue;
            };
            let (record, written_in) = &mut jobs[i];
            if *written_in >= *write || record.job.state != JobState::Queued {
                continue;
            }
            // The claim is newer than the record: the job was running when the process
            // stopped, on this attempt.
            let job = &mut record.job;
            job.state = JobState::Running;
            job.attempts = entry.attempts;
            job.started_at = SystemTime::UNIX_EPOCH
                .checked_add(Duration::from_micros(entry.started_micros))
                .or(job.started_at);
            job.not_before = None;
            *written_in = *write;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Job, JobId, JobKind, Progress, Trigger};

    fn queued(counter: u64, attempts: u32) -> StoredJob {
        StoredJob {
            job: Job {
                id: JobId::from_counter(counter),
                repo: "r".to_owned(),
                git_ref: "refs/heads/main".to_owned(),
                kind: JobKind::Index,
                commit: None,
                before: None,
                full: false,
                trigger: Trigger::Test,
                provider: None,
                delivery_id: None,
                state: JobState::Queued,
                attempts,
                coalesced: 0,
                created_at: SystemTime::UNIX_EPOCH,
                started_at: None,
                finished_at: None,
                not_before: None,
                progress: Progress::default(),
                error: None,
            },
            cancel_requested: false,
            logged_in: 0,
        }
    }

    #[test]
    fn a_claim_applies_only_to_records_written_before_it() {
        let claim = |job| ClaimEntry {
            job,
            attempts: 1,
            started_micros: 5_000_000,
        };
        // Job 1: claimed in write 3, record from write 2: it was running at the crash.
        // Job 2: claimed in write 3, then released (attempt given back) in write 4: queued.
        // Job 3: claimed in write 3, record from the same write: the record says it all.
        let mut jobs = vec![(queued(1, 0), 2), (queued(2, 0), 4), (queued(3, 0), 3)];
        apply_on_open(
            &mut jobs,
            &[(3, vec![claim(1), claim(2), claim(3), claim(9)])],
        );
        let job = &jobs[0].0.job;
        assert_eq!((job.state, job.attempts), (JobState::Running, 1));
        assert_eq!(
            job.started_at,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(5))
        );
        for (record, _) in &jobs[1..] {
            assert_eq!(
                (record.job.state, record.job.attempts),
                (JobState::Queued, 0)
            );
        }
    }

    #[test]
    fn entries_round_trip_and_damage_is_refused() {
        let entries = vec![
            ClaimEntry {
                job: 7,
                attempts: 2,
                started_micros: 1_700_000_000_000_000,
            },
            ClaimEntry {
                job: u64::MAX,
                attempts: u32::MAX,
                started_micros: 0,
            },
        ];
        let bytes = encode(&entries);
        assert_eq!(decode(&bytes), Some(entries));
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(decode(&[2]), None, "unknown version");
        assert_eq!(parse_claim_key(&claim_key(513)), Some(513));
        assert_eq!(parse_claim_key(b"c/short"), None);
    }
}
