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
    let index = crate::attempt_log::index_by_counter(jobs);
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

    fn queued(counter: u64, attempts: u32) -> StoredJob {
        let mut record = StoredJob::for_test(counter);
        record.job.attempts = attempts;
        record
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
        let key = crate::records::numbered_key(CLAIM_PREFIX, 513);
        assert_eq!(crate::records::key_number(CLAIM_PREFIX, &key), Some(513));
        assert_eq!(crate::records::key_number(CLAIM_PREFIX, b"c/short"), None);
    }
}
