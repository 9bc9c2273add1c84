//! `context-gateway index --json`: one line with a local run's counts.

use pipeline::LocalRun;
use serde_json::{Value, json};

/// The counts of a local indexing run and how long it took, keys sorted.
pub fn local_run_json(run: &LocalRun) -> Value {
    let p = &run.summary.progress;
    json!({
        "files_seen": p.files_seen, "files_changed": p.files_changed, "files_deleted": p.files_deleted,
        "chunks_added": p.chunks_added, "chunks_removed": p.chunks_removed, "elapsed_ms": run.elapsed_ms,
        "chunks_withheld": p.chunks_withheld, "files_skipped_secret": p.files_skipped_secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexer::{RefKey, RunCounts, RunSummary};
    use pipeline::LocalTarget;

    #[test]
    fn a_local_run_is_one_object_of_counts() {
        let run = LocalRun {
            target: LocalTarget {
                tree: "/src/demo".into(),
                key: RefKey::new("demo", "refs/heads/main"),
            },
            summary: RunSummary {
                progress: RunCounts {
                    files_seen: 3,
                    files_changed: 2,
                    chunks_added: 5,
                    ..RunCounts::default()
                },
                skipped: Default::default(),
                elapsed: Default::default(),
                files_read: 2,
            },
            elapsed_ms: 7,
        };
        assert_eq!(
            local_run_json(&run).to_string(),
            r#"{"chunks_added":5,"chunks_removed":0,"chunks_withheld":0,"elapsed_ms":7,"files_changed":2,"files_deleted":0,"files_seen":3,"files_skipped_secret":0}"#
        );
    }
}
