//! Reconcile with real parts: an upstream git repo served over file://, the git source, the
//! runner, a memory job store and manifest store. Pushes and deletions made with no webhook
//! are found, queued with trigger `reconcile`, indexed, and then nothing is missed.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indexer::{MemoryManifestStore, MemorySink, RefKey};
use jobstore::{JobKind, MemoryJobStore, StoreConfig, Trigger};
use pipeline::{
    GitSource, MissedRef, RepoLocation, RepoSpec, Runner, Shutdown, Sources, reconcile_repo,
};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn commit(dir: &Path, file: &str, text: &str) -> String {
    std::fs::write(dir.join(file), text).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", file]);
    git(dir, &["rev-parse", "HEAD"])
}

/// Runs every queued job to completion.
async fn drain(runner: &Runner) {
    while let Some(claimed) = runner.jobs.claim("t").await.expect("claim") {
        let outcome = runner.run(&claimed).await;
        runner
            .jobs
            .complete(&claimed.job.id, outcome.completion())
            .await
            .expect("complete");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_pushes_and_deletions_are_healed() {
    let upstream = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    git(upstream.path(), &["init", "-q", "-b", "main"]);
    let first = commit(upstream.path(), "a.rs", "fn first() {}\n");
    git(upstream.path(), &["branch", "dev"]);
    let repo = RepoSpec {
        name: "up".into(),
        location: RepoLocation::Url(format!("file://{}", upstream.path().display())),
        branches: vec!["main".into(), "dev".into()],
        pull_requests: false,
        tags: false,
        include: Vec::new(),
        exclude: Vec::new(),
        max_file_bytes: 1 << 20,
        index_secret_files: false,
    };
    let manifests = Arc::new(MemoryManifestStore::new());
    let runner = Runner {
        jobs: Arc::new(MemoryJobStore::new(StoreConfig::default())),
        sources: Arc::new(Sources::new(data.path(), Duration::from_secs(30))),
        sink: Arc::new(MemorySink::new()),
        manifests: manifests.clone(),
        repos: Arc::new(vec![repo.clone()]),
        shutdown: Shutdown::new(),
    };
    let source = GitSource::new(data.path(), Duration::from_secs(30));
    let seen = Mutex::new(Vec::<(String, MissedRef)>::new());
    let on_missed = |name: &str, miss: &MissedRef| {
        seen.lock().unwrap().push((name.to_string(), miss.clone()));
    };
    let pass = || reconcile_repo(&repo, &source, manifests.clone(), &*runner.jobs, &on_missed);

    // Nothing indexed yet: both branches are missed.
    let missed = pass().await.expect("first pass");
    assert_eq!(missed.len(), 2, "{missed:?}");
    drain(&runner).await;
    let indexed = |git_ref: &str| {
        use indexer::ManifestStore as _;
        manifests
            .load(&RefKey::new("up", git_ref))
            .unwrap()
            .and_then(|m| m.commit().map(str::to_string))
    };
    assert_eq!(indexed("refs/heads/main").as_deref(), Some(first.as_str()));
    assert!(pass().await.expect("in step").is_empty());

    // A push and a branch deletion upstream, no webhook.
    let second = commit(upstream.path(), "b.rs", "fn second() {}\n");
    git(upstream.path(), &["branch", "-D", "dev"]);
    let missed = pass().await.expect("after the push");
    assert_eq!(
        missed,
        vec![
            MissedRef {
                git_ref: "refs/heads/main".into(),
                indexed: Some(first.clone()),
                remote: Some(second.clone()),
            },
            MissedRef {
                git_ref: "refs/heads/dev".into(),
                indexed: Some(first.clone()),
                remote: None,
            },
        ]
    );
    let page = runner
        .jobs
        .list(&Default::default(), 100, None)
        .await
        .expect("list");
    let reconcile_jobs = page
        .jobs
        .iter()
        .filter(|j| j.trigger == Trigger::Reconcile)
        .count();
    assert_eq!(reconcile_jobs, 4, "{:?}", page.jobs);
    assert!(
        page.jobs
            .iter()
            .any(|j| j.kind == JobKind::DeleteRef && j.git_ref == "refs/heads/dev")
    );
    drain(&runner).await;
    assert_eq!(indexed("refs/heads/main").as_deref(), Some(second.as_str()));
    assert_eq!(indexed("refs/heads/dev"), None);
    assert!(pass().await.expect("healed").is_empty());
    // Every miss was reported, with its repo, for the missed-webhook counter.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|(name, _)| name == "up"));
}
