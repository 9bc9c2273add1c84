//! Jobs as rows: the column list every query selects, and the codes stored for enums.

use jobstore::{Job, JobId, JobKind, JobState, Progress, Trigger};
use tokio_postgres::Row;

/// The columns [`job`] reads, in any query that returns jobs.
pub(crate) const COLUMNS: &str = "id, repo, git_ref, fetch_ref, kind, commit_id, before_id, \
     full_rebuild, trigger, provider, delivery_id, state, attempts, coalesced, created_at, \
     started_at, finished_at, not_before, files_seen, files_changed, files_deleted, \
     chunks_added, chunks_removed, error, note, lease_token, cancel_requested";

/// A job row, with what only the store needs.
#[derive(Debug)]
pub(crate) struct JobRow {
    pub(crate) job: Job,
    pub(crate) lease_token: Option<i64>,
    pub(crate) cancel_requested: bool,
}

impl JobRow {
    pub(crate) fn id(&self) -> i64 {
        counter(&self.job.id).unwrap_or_default()
    }
}

pub(crate) fn job(row: &Row) -> JobRow {
    let count = |name: &str| row.get::<_, i64>(name).max(0) as u64;
    let job = Job {
        id: job_id(row.get("id")),
        repo: row.get("repo"),
        git_ref: row.get("git_ref"),
        fetch_ref: row.get("fetch_ref"),
        kind: kind_from(row.get("kind")),
        commit: row.get("commit_id"),
        before: row.get("before_id"),
        full: row.get("full_rebuild"),
        trigger: trigger_from(row.get("trigger")),
        provider: row.get("provider"),
        delivery_id: row.get("delivery_id"),
        state: state_from(row.get("state")),
        attempts: row.get::<_, i32>("attempts").max(0) as u32,
        coalesced: row.get::<_, i32>("coalesced").max(0) as u32,
        created_at: row.get("created_at"),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
        not_before: row.get("not_before"),
        progress: Progress {
            files_seen: count("files_seen"),
            files_changed: count("files_changed"),
            files_deleted: count("files_deleted"),
            chunks_added: count("chunks_added"),
            chunks_removed: count("chunks_removed"),
        },
        error: row.get("error"),
        note: row.get("note"),
    };
    JobRow {
        job,
        lease_token: row.get("lease_token"),
        cancel_requested: row.get("cancel_requested"),
    }
}

/// The id of row `n`: the same 16 hex digits the other backends make.
pub(crate) fn job_id(n: i64) -> JobId {
    JobId(format!("{:016x}", n as u64))
}

/// The row id of `id`; `None` for text that is not a well-formed id.
pub(crate) fn counter(id: &JobId) -> Option<i64> {
    i64::try_from(id.counter()?).ok()
}

pub(crate) fn state_code(state: JobState) -> i16 {
    JobState::ALL
        .iter()
        .position(|s| *s == state)
        .unwrap_or_default() as i16
}

fn state_from(code: i16) -> JobState {
    JobState::ALL
        .get(code as usize)
        .copied()
        .unwrap_or(JobState::Failed)
}

pub(crate) fn kind_code(kind: JobKind) -> i16 {
    match kind {
        JobKind::Index => 0,
        JobKind::DeleteRef => 1,
    }
}

fn kind_from(code: i16) -> JobKind {
    if code == 1 {
        JobKind::DeleteRef
    } else {
        JobKind::Index
    }
}

pub(crate) fn trigger_code(trigger: Trigger) -> i16 {
    match trigger {
        Trigger::Webhook => 0,
        Trigger::Manual => 1,
        Trigger::Test => 2,
        Trigger::Reconcile => 3,
    }
}

fn trigger_from(code: i16) -> Trigger {
    match code {
        1 => Trigger::Manual,
        2 => Trigger::Test,
        3 => Trigger::Reconcile,
        _ => Trigger::Webhook,
    }
}

/// Microseconds of `d`, as PostgreSQL interval arithmetic takes them.
pub(crate) fn micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for n in [1, 255, i64::MAX] {
            assert_eq!(counter(&job_id(n)), Some(n));
        }
        assert_eq!(counter(&JobId("7".to_owned())), None);
    }

    #[test]
    fn codes_round_trip() {
        for state in JobState::ALL {
            assert_eq!(state_from(state_code(state)), state);
        }
        for kind in [JobKind::Index, JobKind::DeleteRef] {
            assert_eq!(kind_from(kind_code(kind)), kind);
        }
        for trigger in [
            Trigger::Webhook,
            Trigger::Manual,
            Trigger::Test,
            Trigger::Reconcile,
        ] {
            assert_eq!(trigger_from(trigger_code(trigger)), trigger);
        }
    }
}
