//! Durable claims and completions without rewriting job records: one small record per
//! group-commit write, the *attempt log*.
//!
//! Every claim and every completion must be on disk before its caller hears of it, but
//! rewriting the whole job record for each (a copy-on-write clone of a sled leaf, a log
//! entry of a few hundred bytes) was most of the writer thread's time. A job's fields fall in
//! two groups: the request (repo, ref, kind, commit, before, full, trigger, provider,
//! delivery id, coalesced, created) changes only when an enqueue folds into it, and is
//! written as the job record; the *run state* (state, attempts, started, finished, not
//! before, progress, last error, cancel requested) changes with every claim, completion,
//! heartbeat, retry, cancellation and lease expiry, and is written as an entry in the
//! `a/<write>` record of the write that changed it, where `<write>` is the write's number
//! (8 bytes BE).
//!
//! An `a/` value is a version byte (1) and entries, each a full snapshot of one job's run
//! state, all integers little-endian: job counter (u64), state (u8), flags (u8), attempts
//! (u32), then only the fields the flags name, in this order: started, finished, not before
//! (u64 nanoseconds since the Unix epoch each; flags 1, 2, 4), last error (u32 length and
//! UTF-8; flag 8), progress (five u64; flag 16). Flag 32 is "cancel requested".
//!
//! Every job record carries the number of the write that wrote it (`job_record` version 2).
//! On open, the records are replayed in write order: an entry applies to its job if it comes
//! from a later write than the job's record, and a later entry of the same job replaces an
//! earlier one. An entry is *live* while it is its job's newest word: once the job's record
//! is rewritten, the job is removed (retention cleanup) or a later entry names it, the entry
//! is superseded, and a record whose entries are all superseded is removed in that same
//! atomic batch. Entries of finished jobs stay live until cleanup removes their jobs.
//!
//! So that a slow trickle of jobs (one per write) does not leave one record per finished job
//! on disk for the retention period, a record of fewer than [`MERGE_BELOW`] live entries is
//! merged into the next write's record: its live entries are written again there and it is
//! removed.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use crate::job::{JobState, Progress};
use crate::job_record::Reader;
use crate::queue::{Queue, StoredJob};
use crate::records::{Writes, numbered_key};

pub(crate) const ATTEMPT_PREFIX: &[u8] = b"a/";
const ATTEMPTS_V1: u8 = 1;

/// A record with fewer live entries than this is merged into the next write's record.
pub(crate) const MERGE_BELOW: usize = 32;

const STARTED: u8 = 1;
const FINISHED: u8 = 2;
const NOT_BEFORE: u8 = 4;
const ERROR: u8 = 8;
const PROGRESS: u8 = 16;
const CANCEL_REQUESTED: u8 = 32;
const KNOWN_FLAGS: u8 = 63;

fn attempt_key(write: u64) -> Vec<u8> {
    numbered_key(ATTEMPT_PREFIX, write)
}

/// Nanoseconds since the Unix epoch (0 before it, saturating after the year 2554).
fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn from_unix_nanos(nanos: u64) -> SystemTime {
    // Cannot overflow: u64 nanoseconds end in 2554.
    SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// Appends the entry of job `counter`, whose record is `record`, to `out`.
fn encode_entry(out: &mut Vec<u8>, counter: u64, record: &StoredJob) {
    let job = &record.job;
    let p = &job.progress;
    let progress = [
        p.files_seen,
        p.files_changed,
        p.files_deleted,
        p.chunks_added,
        p.chunks_removed,
    ];
    let has_progress = progress.iter().any(|n| *n != 0);
    let mut flags = 0;
    for (present, flag) in [
        (job.started_at.is_some(), STARTED),
        (job.finished_at.is_some(), FINISHED),
        (job.not_before.is_some(), NOT_BEFORE),
        (job.error.is_some(), ERROR),
        (has_progress, PROGRESS),
        (record.cancel_requested, CANCEL_REQUESTED),
    ] {
        if present {
            flags |= flag;
        }
    }
    out.extend_from_slice(&counter.to_le_bytes());
    out.push(crate::job_record::state_code(job.state));
    out.push(flags);
    out.extend_from_slice(&job.attempts.to_le_bytes());
    for t in [job.started_at, job.finished_at, job.not_before]
        .into_iter()
        .flatten()
    {
        out.extend_from_slice(&unix_nanos(t).to_le_bytes());
    }
    if let Some(error) = &job.error {
        // Error messages are far below 4 GiB.
        let len = u32::try_from(error.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(error.as_bytes());
    }
    if has_progress {
        for n in progress {
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// One job's run state as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunEntry {
    pub(crate) job: u64,
    state: JobState,
    attempts: u32,
    started_at: Option<SystemTime>,
    finished_at: Option<SystemTime>,
    not_before: Option<SystemTime>,
    error: Option<String>,
    progress: Progress,
    cancel_requested: bool,
}

impl RunEntry {
    /// Overwrites the run state of `record` with this entry's.
    fn apply_to(self, record: &mut StoredJob) {
        let job = &mut record.job;
        job.state = self.state;
        job.attempts = self.attempts;
        job.started_at = self.started_at;
        job.finished_at = self.finished_at;
        job.not_before = self.not_before;
        job.error = self.error;
        job.progress = self.progress;
        record.cancel_requested = self.cancel_requested;
    }
}

/// `present` ? a time : none, as `entry` reads it.
fn time_if(r: &mut Reader<'_>, present: bool) -> Option<Option<SystemTime>> {
    if present {
        r.u64().map(|n| Some(from_unix_nanos(n)))
    } else {
        Some(None)
    }
}

fn read_entry(r: &mut Reader<'_>) -> Option<RunEntry> {
    let job = r.u64()?;
    let state = crate::job_record::state_from(r.u8()?)?;
    let flags = r.u8()?;
    if flags & !KNOWN_FLAGS != 0 {
        return None;
    }
    let attempts = r.u32()?;
    let started_at = time_if(r, flags & STARTED != 0)?;
    let finished_at = time_if(r, flags & FINISHED != 0)?;
    let not_before = time_if(r, flags & NOT_BEFORE != 0)?;
    let error = if flags & ERROR != 0 {
        Some(r.str()?)
    } else {
        None
    };
    let progress = if flags & PROGRESS != 0 {
        Progress {
            files_seen: r.u64()?,
            files_changed: r.u64()?,
            files_deleted: r.u64()?,
            chunks_added: r.u64()?,
            chunks_removed: r.u64()?,
        }
    } else {
        Progress::default()
    };
    Some(RunEntry {
        job,
        state,
        attempts,
        started_at,
        finished_at,
        not_before,
        error,
        progress,
        cancel_requested: flags & CANCEL_REQUESTED != 0,
    })
}

/// Decodes an `a/` value; `None` if it is not a version-1 record of whole entries.
pub(crate) fn decode(value: &[u8]) -> Option<Vec<RunEntry>> {
    let (&version, body) = value.split_first()?;
    if version != ATTEMPTS_V1 {
        return None;
    }
    let mut reader = Reader(body);
    let mut entries = Vec::new();
    while !reader.0.is_empty() {
        entries.push(read_entry(&mut reader)?);
    }
    Some(entries)
}

/// Where each job of `jobs` (as loaded: record and the write that wrote it) is, by counter.
pub(crate) fn index_by_counter(jobs: &[(StoredJob, u64)]) -> HashMap<u64, usize> {
    jobs.iter()
        .enumerate()
        .filter_map(|(i, (record, _))| Some((record.job.id.counter()?, i)))
        .collect()
}

/// Replays the attempt records found on open, given in write order, over the job records
/// (each paired with the write that wrote it, updated as entries apply). Sets each job's
/// `logged_in` to the record holding its live entry and returns how many live entries each
/// record has (records without any are not in the map).
pub(crate) fn replay(
    jobs: &mut [(StoredJob, u64)],
    records: Vec<(u64, Vec<RunEntry>)>,
) -> BTreeMap<u64, usize> {
    let mut live = BTreeMap::new();
    if records.is_empty() {
        return live;
    }
    let index = index_by_counter(jobs);
    for (write, entries) in records {
        for entry in entries {
            let Some(&i) = index.get(&entry.job) else {
                tracing::warn!(
                    job = entry.job,
                    write,
                    "an attempt entry names a job that has no record"
                );
                continue;
            };
            let (record, written_in) = &mut jobs[i];
            if *written_in >= write {
                // The job record (or an entry) from this write or a later one says more.
                continue;
            }
            entry.apply_to(record);
            *written_in = write;
            record.logged_in = write;
        }
    }
    for (record, _) in jobs.iter() {
        if record.logged_in != 0 {
            *live.entry(record.logged_in).or_insert(0) += 1;
        }
    }
    live
}

/// A record of few live entries, to be merged into the next write's record.
#[derive(Debug)]
struct Tail {
    write: u64,
    jobs: Vec<u64>,
}

/// The writer's bookkeeping of write numbers and of attempt records on disk. Which record
/// holds a job's live entry is kept with the job (`StoredJob::logged_in`), so a week of
/// finished jobs costs nothing here beyond one counter per record.
#[derive(Debug, Default)]
pub(crate) struct AttemptLog {
    next_write: u64,
    /// Attempt records on disk → how many of their entries are live.
    live: BTreeMap<u64, usize>,
    /// Records found on open that hold nothing live: removed by the first write.
    stale: Vec<Vec<u8>>,
    tail: Option<Tail>,
}

impl AttemptLog {
    /// After loading: `last_write` is the highest write number seen in any record, `live`
    /// what [`replay`] returned, `stale` the keys of records to drop.
    pub(crate) fn after_open(
        last_write: u64,
        live: BTreeMap<u64, usize>,
        stale: Vec<Vec<u8>>,
    ) -> AttemptLog {
        AttemptLog {
            next_write: last_write.saturating_add(1),
            live,
            stale,
            tail: None,
        }
    }

    pub(crate) fn has_stale(&self) -> bool {
        !self.stale.is_empty()
    }

    /// Numbers the next write.
    pub(crate) fn begin_write(&mut self, batch: &mut Writes) -> u64 {
        for key in self.stale.drain(..) {
            batch.remove(key);
        }
        let write = self.next_write;
        self.next_write = self.next_write.saturating_add(1);
        write
    }

    /// The entry in record `logged_in` (0: none) is superseded in this batch.
    pub(crate) fn supersede(&mut self, logged_in: u64, batch: &mut Writes) {
        if logged_in == 0 {
            return;
        }
        if let Some(live) = self.live.get_mut(&logged_in) {
            *live -= 1;
            if *live == 0 {
                self.live.remove(&logged_in);
                batch.remove(attempt_key(logged_in));
            }
        }
    }

    /// `record` is rewritten whole in this batch: its entry, if any, is superseded.
    pub(crate) fn job_written(&mut self, record: &mut StoredJob, batch: &mut Writes) {
        self.supersede(std::mem::take(&mut record.logged_in), batch);
    }

    /// Appends job `n`'s entry to `value` unless it has no record or has one already in
    /// this write; true if it did.
    fn log_entry(
        &mut self,
        n: u64,
        write: u64,
        queue: &mut Queue,
        value: &mut Vec<u8>,
        batch: &mut Writes,
    ) -> bool {
        let Some(record) = queue.stored_mut(n) else {
            return false;
        };
        // Changed twice in this write: its entry already holds the final state (entries
        // are encoded after every command of the write ran).
        if record.logged_in == write {
            return false;
        }
        self.supersede(record.logged_in, batch);
        record.logged_in = write;
        encode_entry(value, n, record);
        true
    }

    /// Logs the run state of the jobs in `changed` (as the queue holds it now), with the
    /// live entries of a small previous record merged in.
    pub(crate) fn write_entries(
        &mut self,
        write: u64,
        changed: impl Iterator<Item = u64>,
        queue: &mut Queue,
        batch: &mut Writes,
    ) {
        let mut value = vec![ATTEMPTS_V1];
        let mut logged = Vec::new();
        for n in changed {
            if self.log_entry(n, write, queue, &mut value, batch) {
                logged.push(n);
            }
        }
        if logged.is_empty() {
            return;
        }
        if let Some(tail) = self.tail.take() {
            if self.live.contains_key(&tail.write) {
                for n in tail.jobs {
                    let still_there = queue
                        .stored(n)
                        .is_some_and(|record| record.logged_in == tail.write);
                    if still_there && self.log_entry(n, write, queue, &mut value, batch) {
                        logged.push(n);
                    }
                }
            }
        }
        self.live.insert(write, logged.len());
        batch.insert(attempt_key(write), value);
        self.tail = (logged.len() < MERGE_BELOW).then_some(Tail {
            write,
            jobs: logged,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobId;

    fn stored(counter: u64) -> StoredJob {
        StoredJob::for_test(counter)
    }

    fn entry_of(record: &StoredJob) -> RunEntry {
        let counter = record.job.id.counter().expect("counter id");
        let mut value = vec![ATTEMPTS_V1];
        encode_entry(&mut value, counter, record);
        let mut entries = decode(&value).expect("decodes");
        assert_eq!(entries.len(), 1);
        entries.remove(0)
    }

    #[test]
    fn entries_round_trip_every_run_field_and_damage_is_refused() {
        let now = SystemTime::now();
        let mut full = stored(7);
        full.job.state = JobState::Failed;
        full.job.attempts = u32::MAX;
        full.job.started_at = Some(now);
        full.job.finished_at = Some(now + Duration::from_nanos(1));
        full.job.not_before = Some(now + Duration::from_secs(9));
        full.job.error = Some("exit 1: ünïcode".to_owned());
        full.job.progress = Progress {
            files_seen: 1,
            files_changed: 2,
            files_deleted: 3,
            chunks_added: 4,
            chunks_removed: u64::MAX,
        };
        full.cancel_requested = true;
        let bare = stored(u64::MAX);
        let mut value = vec![ATTEMPTS_V1];
        encode_entry(&mut value, 7, &full);
        encode_entry(&mut value, u64::MAX, &bare);
        let entries = decode(&value).expect("decodes");
        assert_eq!(entries.len(), 2);
        for (entry, original) in entries.into_iter().zip([&full, &bare]) {
            let mut restored = stored(entry.job);
            entry.apply_to(&mut restored);
            assert_eq!(restored.job, original.job);
            assert_eq!(restored.cancel_requested, original.cancel_requested);
        }
        for cut in 1..value.len() {
            let whole_entries = cut == 1 || decode(&value[..cut]).is_some();
            // Only the cut between the two entries leaves whole entries.
            assert_eq!(
                whole_entries,
                cut == 1 || cut == value.len() - 14,
                "cut {cut}"
            );
        }
        assert_eq!(decode(&[2]), None, "unknown version");
        let mut bad_flags = value.clone();
        bad_flags[10] |= 64;
        assert_eq!(decode(&bad_flags), None, "unknown flag");
        assert_eq!(
            crate::records::key_number(ATTEMPT_PREFIX, &attempt_key(513)),
            Some(513)
        );
        assert_eq!(crate::records::key_number(ATTEMPT_PREFIX, b"a/short"), None);
    }

    #[test]
    fn replay_applies_entries_newer_than_records_in_write_order() {
        // Job 1: record from write 2, claimed in 3, finished in 5: succeeded, live in 5.
        // Job 2: record from write 4 (requeued after its claim in 3): the claim is dead.
        // Job 3: record from write 1, claimed in 5: running, live in 5.
        let mut claimed = stored(1);
        claimed.job.state = JobState::Running;
        claimed.job.attempts = 1;
        claimed.job.started_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(5));
        let mut finished = claimed.clone();
        finished.job.state = JobState::Succeeded;
        finished.job.finished_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(6));
        let mut other_claim = claimed.clone();
        other_claim.job.id = JobId::from_counter(2);
        let mut third_claim = claimed.clone();
        third_claim.job.id = JobId::from_counter(3);
        let mut jobs = vec![(stored(1), 2), (stored(2), 4), (stored(3), 1)];
        let live = replay(
            &mut jobs,
            vec![
                (3, vec![entry_of(&claimed), entry_of(&other_claim)]),
                (5, vec![entry_of(&finished), entry_of(&third_claim)]),
                (6, vec![entry_of(&stored(9))]),
            ],
        );
        assert_eq!(jobs[0].0.job, finished.job);
        assert_eq!((jobs[0].1, jobs[0].0.logged_in), (5, 5));
        assert_eq!(jobs[1].0.job, stored(2).job, "an older claim is ignored");
        assert_eq!(jobs[1].0.logged_in, 0);
        assert_eq!(jobs[2].0.job.state, JobState::Running);
        assert_eq!(
            live,
            BTreeMap::from([(5, 2)]),
            "records 3 and 6 hold nothing live"
        );
    }
}
