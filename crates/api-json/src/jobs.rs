//! The API's JSON shapes of jobs and job counts.

use std::time::SystemTime;

use jobstore::{Job, Progress, StateCounts};
use serde::Serialize;
use serde_json::Value;

/// A job as docs/API.md shows it.
#[derive(Debug, Serialize)]
pub struct JobJson<'a> {
    attempts: u32,
    coalesced: u32,
    commit: Option<&'a str>,
    created_at: String,
    delivery_id: Option<&'a str>,
    error: Option<&'a str>,
    /// Only on jobs that fetch another ref than the one they index (a Bitbucket Cloud pull
    /// request's source branch).
    #[serde(skip_serializing_if = "Option::is_none")]
    fetch_ref: Option<&'a str>,
    finished_at: Option<String>,
    full: bool,
    id: &'a str,
    kind: &'static str,
    /// Only on jobs that have one (for example "nothing to index").
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    progress: ProgressJson,
    provider: Option<&'a str>,
    #[serde(rename = "ref")]
    git_ref: &'a str,
    repo: &'a str,
    started_at: Option<String>,
    state: &'static str,
    trigger: &'static str,
}

impl<'a> JobJson<'a> {
    /// The API shape of `job`.
    pub fn new(job: &'a Job) -> Self {
        JobJson {
            attempts: job.attempts,
            coalesced: job.coalesced,
            commit: job.commit.as_deref(),
            created_at: rfc3339(job.created_at),
            delivery_id: job.delivery_id.as_deref(),
            error: job.error.as_deref(),
            fetch_ref: job.fetch_ref.as_deref(),
            finished_at: job.finished_at.map(rfc3339),
            full: job.full,
            id: job.id.as_str(),
            kind: job.kind.as_str(),
            note: job.note.as_deref(),
            progress: ProgressJson::from(job.progress),
            provider: job.provider.as_deref(),
            git_ref: &job.git_ref,
            repo: &job.repo,
            started_at: job.started_at.map(rfc3339),
            state: job.state.as_str(),
            trigger: job.trigger.as_str(),
        }
    }
}

/// A job as a JSON value, for answers that add a field to it.
pub fn job_json(job: &Job) -> Value {
    serde_json::to_value(JobJson::new(job)).unwrap_or(Value::Null)
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A job's progress counters.
#[derive(Debug, Serialize)]
pub struct ProgressJson {
    chunks_added: u64,
    chunks_removed: u64,
    files_changed: u64,
    files_deleted: u64,
    files_seen: u64,
}

impl From<Progress> for ProgressJson {
    fn from(p: Progress) -> Self {
        ProgressJson {
            chunks_added: p.chunks_added,
            chunks_removed: p.chunks_removed,
            files_changed: p.files_changed,
            files_deleted: p.files_deleted,
            files_seen: p.files_seen,
        }
    }
}

/// How many jobs are in each state (`/status`).
#[derive(Debug, Serialize)]
pub struct CountsJson {
    cancelled: u64,
    failed: u64,
    queued: u64,
    running: u64,
    succeeded: u64,
    superseded: u64,
}

impl From<&StateCounts> for CountsJson {
    fn from(c: &StateCounts) -> Self {
        CountsJson {
            cancelled: c.cancelled,
            failed: c.failed,
            queued: c.queued,
            running: c.running,
            succeeded: c.succeeded,
            superseded: c.superseded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key order of a struct serialized directly equals the sorted order a `Value` gives,
    /// so answers built either way are byte-identical.
    #[test]
    fn fields_serialize_in_sorted_order() {
        fn keys_sorted(text: &str) {
            let value: Value = serde_json::from_str(text).expect("json");
            assert_eq!(serde_json::to_string(&value).expect("json"), text);
        }
        let progress = jobstore::Progress {
            files_seen: 1,
            files_changed: 2,
            files_deleted: 3,
            chunks_added: 4,
            chunks_removed: 5,
        };
        keys_sorted(&serde_json::to_string(&ProgressJson::from(progress)).expect("json"));
        let counts = StateCounts {
            queued: 1,
            running: 2,
            succeeded: 3,
            failed: 4,
            cancelled: 5,
            superseded: 6,
        };
        keys_sorted(&serde_json::to_string(&CountsJson::from(&counts)).expect("json"));
    }

    fn job(note: Option<&str>) -> Job {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        Job {
            id: "000000000000002a".parse().expect("id"),
            repo: "hello".to_owned(),
            git_ref: "refs/heads/main".to_owned(),
            fetch_ref: None,
            kind: jobstore::JobKind::DeleteRef,
            commit: Some("c3".to_owned()),
            before: Some("c0".to_owned()),
            full: true,
            trigger: jobstore::Trigger::Manual,
            provider: None,
            delivery_id: Some("d-1".to_owned()),
            state: jobstore::JobState::Succeeded,
            attempts: 2,
            coalesced: 1,
            created_at: at,
            started_at: Some(at),
            finished_at: None,
            not_before: None,
            progress: Progress::default(),
            error: None,
            note: note.map(str::to_owned),
        }
    }

    #[test]
    fn a_job_has_the_documented_shape() {
        let text = serde_json::to_string(&JobJson::new(&job(None))).expect("json");
        assert_eq!(
            text,
            concat!(
                r#"{"attempts":2,"coalesced":1,"commit":"c3","created_at":"2023-11-14T22:13:20.123Z","#,
                r#""delivery_id":"d-1","error":null,"finished_at":null,"full":true,"#,
                r#""id":"000000000000002a","kind":"delete_ref","#,
                r#""progress":{"chunks_added":0,"chunks_removed":0,"files_changed":0,"files_deleted":0,"files_seen":0},"#,
                r#""provider":null,"ref":"refs/heads/main","repo":"hello","#,
                r#""started_at":"2023-11-14T22:13:20.123Z","state":"succeeded","trigger":"manual"}"#
            )
        );
        assert_eq!(
            serde_json::to_string(&job_json(&job(None))).expect("json"),
            text
        );
    }

    #[test]
    fn a_note_appears_only_when_set() {
        let value = job_json(&job(Some("already at c3: nothing to index")));
        assert_eq!(value["note"], "already at c3: nothing to index");
        assert!(job_json(&job(None)).get("note").is_none());
    }
}
