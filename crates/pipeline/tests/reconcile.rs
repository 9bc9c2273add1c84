//! Reconcile with real parts: an upstream git repo served over file://, the git source, the
//! runner, a memory job store and manifest store. Pushes and deletions made with no webhook
//! are found, queued with trigger `reconcile`, indexed, and then nothing is missed.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indexer::{MemoryManifestStore, MemorySink, RefKey};
use jobstore::{JobKind, MemoryJobStore, StoreConfig, Trigger};
use pipeline::{
    GitSource, MissedRef, RepoLocation, RepoSpec, Runner, Shutdown, Sources, reconcile_repo,
};
use support::{commit, git};

/// A runner of `repo` over a memory job store and sink, its mirrors under `data`.
fn memory_runner(data: &Path, repo: &RepoSpec, manifests: Arc<MemoryManifestStore>) -> Runner {
    Runner {
        jobs: Arc::new(MemoryJobStore::new(StoreConfig::default())),
        sources: Arc::new(Sources::new(data, Duration::from_secs(30))),
        sink: Arc::new(MemorySink::new()),
        manifests,
        repos: Arc::new(vec![repo.clone()]),
        shutdown: Shutdown::new(),
    }
}

/// Every job the runner's store holds (the tests queue far fewer than 100).
async fn all_jobs(runner: &Runner) -> Vec<jobstore::Job> {
    let page = runner.jobs.list(&Default::default(), 100, None).await;
    page.expect("list").jobs
}

/// Runs every queued job to completion.
async fn drain(runner: &Runner) {
    while let Some(claimed) = runner.jobs.claim("t").await.expect("claim") {
        let outcome = runner.run(&claimed).await;
        runner
            .jobs
            .complete(&claimed.lease, outcome.completion())
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
        branches: vec!["main".into(), "dev".into()],
        ..RepoSpec::new(
            "up",
            RepoLocation::Url(format!("file://{}", upstream.path().display())),
        )
    };
    let manifests = Arc::new(MemoryManifestStore::new());
    let runner = memory_runner(data.path(), &repo, manifests.clone());
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
    let jobs = all_jobs(&runner).await;
    let reconcile_jobs = jobs
        .iter()
        .filter(|j| j.trigger == Trigger::Reconcile)
        .count();
    assert_eq!(reconcile_jobs, 4, "{jobs:?}");
    assert!(
        jobs.iter()
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

/// Tags (an annotated one by its commit) and an open pull request's head made upstream with
/// no webhook are indexed; a pass with nothing changed costs exactly one ls-remote and queues
/// nothing; a second pass of the same repo while one runs does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_and_pull_request_heads_are_healed_with_one_listing_per_pass() {
    let upstream = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let up = upstream.path();
    git(up, &["init", "-q", "-b", "main"]);
    let first = commit(up, "a.rs", "fn first() {}\n");
    let repo = RepoSpec {
        pull_requests: true,
        tags: vec!["v*".into(), "!v0.*".into()],
        ..RepoSpec::new("up", RepoLocation::Url(format!("file://{}", up.display())))
    };
    let manifests = Arc::new(MemoryManifestStore::new());
    let runner = memory_runner(data.path(), &repo, manifests.clone());
    // The same data dir as the runner's source: reconcile sees the mirror it fetched into.
    let source = GitSource::new(data.path(), Duration::from_secs(30));
    let on_missed = |_: &str, _: &MissedRef| {};
    let pass = || reconcile_repo(&repo, &source, manifests.clone(), &*runner.jobs, &on_missed);
    let indexed = |git_ref: &str| {
        use indexer::ManifestStore as _;
        manifests
            .load(&RefKey::new("up", git_ref))
            .unwrap()
            .and_then(|m| m.commit().map(str::to_string))
    };
    assert_eq!(pass().await.expect("first pass").len(), 1);
    drain(&runner).await;

    // Upstream, with no webhook: an annotated tag, an excluded tag, an open pull request
    // (head and merge refs, as GitHub keeps them) and a closed one (head only).
    let second = commit(up, "b.rs", "fn second() {}\n");
    git(up, &["tag", "-a", "v1.0", "-m", "one"]);
    git(up, &["tag", "v0.9"]);
    git(up, &["update-ref", "refs/pull/7/head", &second]);
    git(up, &["update-ref", "refs/pull/7/merge", &second]);
    git(up, &["update-ref", "refs/pull/3/head", &first]);
    let mut missed: Vec<String> = pass()
        .await
        .expect("second pass")
        .into_iter()
        .map(|m| m.git_ref)
        .collect();
    missed.sort();
    assert_eq!(
        missed,
        ["refs/heads/main", "refs/pull/7/head", "refs/tags/v1.0"]
    );
    drain(&runner).await;
    assert_eq!(indexed("refs/tags/v1.0").as_deref(), Some(second.as_str()));
    assert_eq!(
        indexed("refs/pull/7/head").as_deref(),
        Some(second.as_str())
    );
    assert_eq!(indexed("refs/tags/v0.9"), None);
    assert_eq!(indexed("refs/pull/3/head"), None);

    // Nothing changed: one ls-remote, no job.
    let listings = source.remote_listings();
    let queued = all_jobs(&runner).await.len();
    assert!(pass().await.expect("in step").is_empty());
    assert_eq!(source.remote_listings(), listings + 1);
    assert_eq!(all_jobs(&runner).await.len(), queued);

    // Two passes at once: the second finds the first running and does nothing.
    let (one, two) = tokio::join!(pass(), pass());
    assert!(one.expect("the first pass runs").is_empty());
    assert!(
        matches!(two, Err(pipeline::ReconcileError::Busy)),
        "{two:?}"
    );
    assert_eq!(source.remote_listings(), listings + 2);

    // A push whose webhook job is still queued when reconcile sees it: the webhook did
    // arrive, so nothing is missed and no second job is queued; the webhook's job brings
    // the ref up to date.
    let third = commit(up, "c.rs", "fn third() {}\n");
    let mut webhook = jobstore::NewJob::index("up", "refs/heads/main", Trigger::Webhook);
    webhook.commit = Some(third.clone());
    let queued_before = all_jobs(&runner).await;
    runner.jobs.enqueue(webhook).await.expect("webhook job");
    let missed = pass().await.expect("with a webhook job queued");
    assert!(missed.is_empty(), "{missed:?}");
    let jobs = all_jobs(&runner).await;
    assert_eq!(jobs.len(), queued_before.len() + 1, "{jobs:?}");
    let folded = jobs
        .iter()
        .find(|j| j.state == jobstore::JobState::Queued)
        .expect("one queued job");
    assert_eq!((folded.trigger, folded.coalesced), (Trigger::Webhook, 0));
    assert_eq!(folded.commit.as_deref(), Some(third.as_str()));
    drain(&runner).await;

    // The tag and the pull request head are deleted upstream: both refs are dropped.
    git(up, &["tag", "-d", "v1.0"]);
    git(up, &["update-ref", "-d", "refs/pull/7/head"]);
    git(up, &["update-ref", "-d", "refs/pull/7/merge"]);
    let mut dropped: Vec<(String, Option<String>)> = pass()
        .await
        .expect("after the deletions")
        .into_iter()
        .map(|m| (m.git_ref, m.remote))
        .collect();
    dropped.sort();
    assert_eq!(
        dropped,
        [
            ("refs/pull/7/head".to_string(), None),
            ("refs/tags/v1.0".to_string(), None)
        ]
    );
    drain(&runner).await;
    assert_eq!(indexed("refs/tags/v1.0"), None);
    assert_eq!(indexed("refs/pull/7/head"), None);
}
