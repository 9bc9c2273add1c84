//! The git observer sees every git command of a real git source: its verb, and for a failure
//! its kind; `commits_between` counts in the mirror and says `None` for a commit it lacks.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pipeline::{
    GitObserver, GitSource, RepoLocation, RepoSource, RepoSpec, SourceError, TreeRequest,
};
use support::git;

#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<(String, Option<&'static str>)>>);

impl GitObserver for Recorder {
    fn git_finished(&self, verb: &str, _elapsed: Duration, error: Option<&SourceError>) {
        self.0
            .lock()
            .unwrap()
            .push((verb.to_string(), error.map(SourceError::kind)));
    }
}

/// Commits `file` holding a function named after it.
fn commit(dir: &Path, file: &str) -> String {
    let text = format!("fn {}() {{}}\n", file.trim_end_matches(".rs"));
    support::commit(dir, file, &text)
}

fn spec(name: &str, url: String) -> RepoSpec {
    RepoSpec::new(name, RepoLocation::Url(url))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_git_command_is_reported_with_its_failure_kind() {
    let upstream = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    git(upstream.path(), &["init", "-q", "-b", "main"]);
    let first = commit(upstream.path(), "a.rs");
    let second = commit(upstream.path(), "b.rs");
    let third = commit(upstream.path(), "c.rs");
    let recorder = Arc::new(Recorder::default());
    let source =
        GitSource::new(data.path(), Duration::from_secs(30)).with_observer(recorder.clone());
    let repo = spec("up", format!("file://{}", upstream.path().display()));

    let heads = source.remote_heads(&repo).await.expect("ls-remote");
    assert_eq!(heads, vec![("refs/heads/main".to_string(), third.clone())]);
    let request = TreeRequest {
        git_ref: "refs/heads/main",
        fetch_ref: None,
        commit: Some(&third),
        indexed_commit: None,
        full: false,
    };
    source.prepare(&repo, request).await.expect("prepare");
    assert_eq!(source.commits_between(&repo, &first, &third).await, Some(2));
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(source.commits_between(&repo, &second, unknown).await, None);

    let gone = spec(
        "gone",
        format!("file://{}", data.path().join("missing").display()),
    );
    let error = source.remote_heads(&gone).await.expect_err("no such repo");

    let seen = recorder.0.lock().unwrap().clone();
    assert_eq!(seen[0], ("ls-remote".to_string(), None), "{seen:?}");
    assert!(
        seen.iter()
            .any(|(verb, error)| verb == "fetch" && error.is_none()),
        "{seen:?}"
    );
    assert_eq!(
        seen.last().unwrap(),
        &("ls-remote".to_string(), Some(error.kind())),
        "{seen:?}"
    );
    // commits_between's probes are not git failures: a missing commit is an expected answer.
    assert_eq!(
        seen.iter().filter(|(_, error)| error.is_some()).count(),
        1,
        "{seen:?}"
    );
}
