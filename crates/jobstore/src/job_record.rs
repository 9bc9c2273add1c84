//! The compact binary form of a persisted job (`j/` records).
//!
//! Every claim, completion and folded delivery rewrites its job's record, so its size and
//! encoding cost are paid on the hot path (JSON with RFC 3339 timestamps was the writer
//! thread's largest item of our own code, and sled keeps more in memory the more it writes).
//! Layout, all integers little-endian:
//!
//! `0x04` (the record version), id, repo, ref (strings), kind (u8), commit, before (optional
//! strings), full (u8), trigger (u8), provider, delivery id (optional strings), state (u8),
//! attempts, coalesced (u32), created (time), started, finished, not before (optional
//! times), the five progress counters (u64), error (optional string), cancel requested (u8),
//! note (optional string), fetch ref (optional string), and the sequence number (u64) of the group-commit write that
//! wrote it. Only this version is read (the store's format version, in `records`, says
//! which layouts a store holds). Claims and completions are
//! not written into job records but as entries in per-write attempt records (see
//! `attempt_log`); on open, an entry applies to a job only if it came from a later write than
//! the job's record. So a job record's run-state fields (state, attempts, times, progress,
//! error, cancel requested) are those of the write that wrote it, and may be older than the
//! job's state.
//!
//! A string is a u32 length and UTF-8 bytes; an optional value is a `0` byte, or `1` and the
//! value; a time is u64 seconds and u32 nanoseconds since the Unix epoch.

use std::time::{Duration, SystemTime};

use crate::job::{Job, JobId, JobKind, JobState, Progress, Trigger};
use crate::queue::StoredJob;

/// The record version byte.
const VERSION: u8 = 4;

/// Encodes `record`, as written by the write numbered `written_in`.
pub(crate) fn encode(record: &StoredJob, written_in: u64) -> Vec<u8> {
    let mut out = Writer(Vec::with_capacity(256));
    out.u8(VERSION);
    encode_fields(&mut out, record);
    out.u64(written_in);
    out.0
}

fn encode_fields(out: &mut Writer, record: &StoredJob) {
    let job = &record.job;
    out.str(job.id.as_str());
    out.str(&job.repo);
    out.str(&job.git_ref);
    out.u8(kind_code(job.kind));
    out.opt_str(job.commit.as_deref());
    out.opt_str(job.before.as_deref());
    out.u8(u8::from(job.full));
    out.u8(trigger_code(job.trigger));
    out.opt_str(job.provider.as_deref());
    out.opt_str(job.delivery_id.as_deref());
    out.u8(state_code(job.state));
    out.u32(job.attempts);
    out.u32(job.coalesced);
    out.time(job.created_at);
    out.opt_time(job.started_at);
    out.opt_time(job.finished_at);
    out.opt_time(job.not_before);
    let p = &job.progress;
    for n in [
        p.files_seen,
        p.files_changed,
        p.files_deleted,
        p.chunks_added,
        p.chunks_removed,
    ] {
        out.u64(n);
    }
    out.opt_str(job.error.as_deref());
    out.u8(u8::from(record.cancel_requested));
    out.opt_str(job.note.as_deref());
    out.opt_str(job.fetch_ref.as_deref());
}

/// Decodes a record, with the number of the write that wrote it; the error says what is
/// wrong with it.
pub(crate) fn decode(bytes: &[u8]) -> Result<(StoredJob, u64), String> {
    match bytes.split_first() {
        Some((&VERSION, body)) => {
            let mut r = Reader(body);
            let decoded = decode_fields(&mut r).zip(r.u64());
            let (record, written_in) = decoded.ok_or("the record is truncated or invalid")?;
            if r.0.is_empty() {
                Ok((record, written_in))
            } else {
                Err("the record has trailing bytes".to_owned())
            }
        }
        Some((other, _)) => Err(format!("unknown record version {other}")),
        None => Err("the record is empty".to_owned()),
    }
}

fn decode_fields(r: &mut Reader<'_>) -> Option<StoredJob> {
    let job = Job {
        id: JobId(r.str()?),
        repo: r.str()?,
        git_ref: r.str()?,
        kind: kind_from(r.u8()?)?,
        commit: r.opt_str()?,
        before: r.opt_str()?,
        full: r.flag()?,
        trigger: trigger_from(r.u8()?)?,
        provider: r.opt_str()?,
        delivery_id: r.opt_str()?,
        state: state_from(r.u8()?)?,
        attempts: r.u32()?,
        coalesced: r.u32()?,
        created_at: r.time()?,
        started_at: r.opt_time()?,
        finished_at: r.opt_time()?,
        not_before: r.opt_time()?,
        progress: Progress {
            files_seen: r.u64()?,
            files_changed: r.u64()?,
            files_deleted: r.u64()?,
            chunks_added: r.u64()?,
            chunks_removed: r.u64()?,
        },
        error: r.opt_str()?,
        note: None,
        fetch_ref: None,
    };
    let cancel_requested = r.flag()?;
    let job = Job {
        note: r.opt_str()?,
        fetch_ref: r.opt_str()?,
        ..job
    };
    Some(StoredJob {
        job,
        cancel_requested,
        logged_in: 0,
        lease_token: 0,
    })
}

fn kind_code(kind: JobKind) -> u8 {
    match kind {
        JobKind::Index => 0,
        JobKind::DeleteRef => 1,
    }
}

fn kind_from(code: u8) -> Option<JobKind> {
    [JobKind::Index, JobKind::DeleteRef]
        .into_iter()
        .find(|k| kind_code(*k) == code)
}

fn trigger_code(trigger: Trigger) -> u8 {
    match trigger {
        Trigger::Webhook => 0,
        Trigger::Manual => 1,
        Trigger::Test => 2,
        Trigger::Reconcile => 3,
    }
}

fn trigger_from(code: u8) -> Option<Trigger> {
    [
        Trigger::Webhook,
        Trigger::Manual,
        Trigger::Test,
        Trigger::Reconcile,
    ]
    .into_iter()
    .find(|t| trigger_code(*t) == code)
}

pub(crate) fn state_code(state: JobState) -> u8 {
    match state {
        JobState::Queued => 0,
        JobState::Running => 1,
        JobState::Succeeded => 2,
        JobState::Failed => 3,
        JobState::Cancelled => 4,
        JobState::Superseded => 5,
    }
}

pub(crate) fn state_from(code: u8) -> Option<JobState> {
    JobState::ALL.into_iter().find(|s| state_code(*s) == code)
}

pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn str(&mut self, s: &str) {
        // Fields are repo names, refs, commits and error messages: far below 4 GiB.
        self.u32(u32::try_from(s.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
            None => self.u8(0),
        }
    }

    pub(crate) fn time(&mut self, t: SystemTime) {
        // Times before 1970 do not occur (they come from the system clock); stored as 1970.
        let since = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        self.u64(since.as_secs());
        self.u32(since.subsec_nanos());
    }

    pub(crate) fn opt_time(&mut self, t: Option<SystemTime>) {
        match t {
            Some(t) => {
                self.u8(1);
                self.time(t);
            }
            None => self.u8(0),
        }
    }
}

/// Reads little-endian fields off the front of a record (`None` once it runs short).
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl Reader<'_> {
    pub(crate) fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    pub(crate) fn flag(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }

    pub(crate) fn str(&mut self) -> Option<String> {
        let len = usize::try_from(self.u32()?).ok()?;
        if self.0.len() < len {
            return None;
        }
        let (text, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(text.to_vec()).ok()
    }

    pub(crate) fn opt_str(&mut self) -> Option<Option<String>> {
        if self.flag()? {
            self.str().map(Some)
        } else {
            Some(None)
        }
    }

    pub(crate) fn time(&mut self) -> Option<SystemTime> {
        let secs = self.u64()?;
        let nanos = self.u32()?;
        if nanos >= 1_000_000_000 {
            return None;
        }
        SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
    }

    pub(crate) fn opt_time(&mut self) -> Option<Option<SystemTime>> {
        if self.flag()? {
            self.time().map(Some)
        } else {
            Some(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredJob {
        let now = SystemTime::now();
        StoredJob {
            job: Job {
                id: JobId::from_counter(42),
                repo: "hello".to_owned(),
                git_ref: "refs/heads/main".to_owned(),
                kind: JobKind::DeleteRef,
                commit: Some("9fceb02d".to_owned()),
                before: None,
                full: true,
                trigger: Trigger::Manual,
                provider: Some("gitlab".to_owned()),
                delivery_id: None,
                fetch_ref: Some("refs/heads/feature".to_owned()),
                state: JobState::Failed,
                attempts: 5,
                coalesced: 7,
                created_at: now,
                started_at: Some(now + Duration::from_nanos(1)),
                finished_at: None,
                not_before: Some(now + Duration::from_secs(3)),
                progress: Progress {
                    files_seen: 1,
                    files_changed: 2,
                    files_deleted: 3,
                    chunks_added: 4,
                    chunks_removed: u64::MAX,
                },
                error: Some("lease expired: ünïcode".to_owned()),
                note: Some("already at 9fceb02: nothing to index".to_owned()),
            },
            cancel_requested: true,
            logged_in: 0,
            lease_token: 0,
        }
    }

    #[test]
    fn round_trips_every_field() {
        let record = sample();
        let (decoded, written_in) = decode(&encode(&record, 77)).expect("decodes");
        assert_eq!(decoded.job, record.job);
        assert!(decoded.cancel_requested);
        assert_eq!(written_in, 77);
    }

    #[test]
    fn refuses_other_versions_and_json() {
        let mut bytes = encode(&sample(), 1);
        bytes[0] = 2;
        assert_eq!(
            decode(&bytes).map(|_| ()),
            Err("unknown record version 2".to_owned())
        );
        assert!(decode(br#"{"job":{}}"#).is_err());
    }

    #[test]
    fn rejects_damaged_records() {
        let bytes = encode(&sample(), 1);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err(), "trailing bytes");
        // Find the state byte as the one byte that differs between two states.
        let mut queued = sample();
        queued.job.state = JobState::Queued;
        let other = encode(&queued, 1);
        let state_at = (0..bytes.len())
            .find(|&i| bytes[i] != other[i])
            .expect("the state is encoded");
        let mut bad_state = bytes;
        bad_state[state_at] = 99;
        assert!(decode(&bad_state).is_err(), "unknown state code");
    }
}
