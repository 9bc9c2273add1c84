//! The runner end to end with real parts: a memory job store, a local tree, the memory sink
//! and manifest store; every outcome kind and what the store records for it.

use std::sync::Arc;
use std::time::Duration;

use indexer::{MemoryManifestStore, MemorySink, RefKey};
use jobstore::{Completion, JobKind, JobStore, MemoryJobStore, NewJob, StoreConfig, Trigger};
use pipeline::{JobError, Outcome, RepoLocation, RepoSpec, Runner, Shutdown, SourceError, Sources};

const REF: &str = "refs/heads/main";

fn spec(name: &str, path: &std::path::Path) -> RepoSpec {
    RepoSpec::new(name, RepoLocation::Path(path.to_path_buf()))
}

struct Fixture {
    runner: Runner,
    sink: Arc<MemorySink>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn fixture() -> Fixture {
    let tree = tempfile::tempdir().unwrap();
    std::fs::write(
        tree.path().join("lib.rs"),
        "fn indexed_by_the_runner() {}\n",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let sink = Arc::new(MemorySink::new());
    let repos = vec![
        spec("here", tree.path()),
        spec("gone", &tree.path().join("missing")),
    ];
    let runner = Runner {
        jobs: Arc::new(MemoryJobStore::new(StoreConfig::default())),
        sources: Arc::new(Sources::new(data.path(), Duration::from_secs(30))),
        sink: sink.clone(),
        manifests: Arc::new(MemoryManifestStore::new()),
        repos: Arc::new(repos),
        shutdown: Shutdown::new(),
    };
    Fixture {
        runner,
        sink,
        _dirs: (tree, data),
    }
}

async fn run_one(runner: &Runner, job: NewJob) -> Outcome {
    runner.jobs.enqueue(job).await.expect("enqueue");
    let claimed = runner.jobs.claim("t").await.expect("claim").expect("a job");
    let outcome = runner.run(&claimed).await;
    let job = runner
        .jobs
        .complete(&claimed.lease, outcome.completion())
        .await
        .expect("complete");
    assert!(job.state.is_finished(), "{job:?}");
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_indexed_then_dropped() {
    let f = fixture();
    let key = RefKey::new("here", REF);
    let outcome = run_one(&f.runner, NewJob::index("here", REF, Trigger::Manual)).await;
    let Outcome::Indexed { summary, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(summary.progress.files_changed, 1);
    assert_eq!(outcome.completion(), Completion::succeeded());
    assert!(f.sink.files(&key).contains_key("lib.rs"));

    let mut drop = NewJob::index("here", REF, Trigger::Manual);
    drop.kind = JobKind::DeleteRef;
    let outcome = run_one(&f.runner, drop).await;
    assert!(matches!(outcome, Outcome::Dropped), "{outcome:?}");
    assert!(f.sink.files(&key).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_say_whether_to_retry() {
    let f = fixture();
    let outcome = run_one(&f.runner, NewJob::index("nobody", REF, Trigger::Manual)).await;
    assert!(
        matches!(&outcome, Outcome::Failed(JobError::UnknownRepo(name)) if name == "nobody"),
        "{outcome:?}"
    );
    assert_eq!(outcome.label(), "failed");
    assert_eq!(
        outcome.completion(),
        Completion::Failed {
            error: "repo `nobody` is no longer in the config".into(),
            retryable: false,
        }
    );

    let outcome = run_one(&f.runner, NewJob::index("gone", REF, Trigger::Manual)).await;
    assert!(
        matches!(
            &outcome,
            Outcome::Failed(JobError::Source(SourceError::NotADirectory { .. }))
        ),
        "{outcome:?}"
    );
    assert!(matches!(
        outcome.completion(),
        Completion::Failed {
            retryable: false,
            ..
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_runs_queued_jobs_and_stops_at_shutdown() {
    let f = fixture();
    f.runner
        .jobs
        .enqueue(NewJob::index("here", REF, Trigger::Manual))
        .await
        .unwrap();
    let ended = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = ended.clone();
    let runner = Arc::new(f.runner);
    let worker = {
        let runner = runner.clone();
        tokio::spawn(async move {
            let on_end = move |job: &jobstore::Job, outcome: &Outcome, _: Duration| {
                seen.lock()
                    .unwrap()
                    .push((job.repo.clone(), outcome.label()));
            };
            runner.work("w", &on_end).await
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while ended.lock().unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job never ended"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    runner.shutdown.begin();
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the worker stops at shutdown")
        .unwrap();
    assert_eq!(*ended.lock().unwrap(), [("here".to_string(), "succeeded")]);
    assert!(
        f.sink
            .files(&RefKey::new("here", REF))
            .contains_key("lib.rs")
    );
}

/// A remote that accepts connections and never answers: a fetch from it hangs.
fn silent_remote() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let holder = std::thread::spawn(move || {
        // Hold the connections open (unanswered) until the test process ends.
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    (address, holder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_that_outlasts_the_lease_keeps_its_job_and_stops_when_cancelled() {
    let (address, _holder) = silent_remote();
    let data = tempfile::tempdir().unwrap();
    let lease = Duration::from_secs(2);
    let jobs = Arc::new(MemoryJobStore::new(StoreConfig {
        lease,
        ..StoreConfig::default()
    }));
    let url = format!("http://{address}/hang.git");
    let runner = Arc::new(Runner {
        jobs: jobs.clone(),
        sources: Arc::new(Sources::new(data.path(), Duration::from_secs(600))),
        sink: Arc::new(MemorySink::new()),
        manifests: Arc::new(MemoryManifestStore::new()),
        repos: Arc::new(vec![RepoSpec::new("slow", RepoLocation::Url(url))]),
        shutdown: Shutdown::new(),
    });
    jobs.enqueue(NewJob::index("slow", REF, Trigger::Manual))
        .await
        .unwrap();
    let claimed = jobs.claim("w").await.unwrap().expect("a job");
    let id = claimed.job.id.clone();
    let run = {
        let runner = runner.clone();
        tokio::spawn(async move { runner.run(&claimed).await })
    };
    // Well past the lease, the fetch still hangs and the job is still this worker's.
    tokio::time::sleep(lease * 3).await;
    assert!(!run.is_finished(), "the fetch should still hang");
    assert!(
        jobs.claim("other").await.unwrap().is_none(),
        "another worker took over a job whose worker was alive"
    );
    let job = jobs.get(&id).await.unwrap().expect("the job");
    assert_eq!((job.state, job.attempts), (jobstore::JobState::Running, 1));
    jobs.cancel(&id).await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("a cancelled fetch is abandoned")
        .unwrap();
    assert_eq!(outcome.label(), "cancelled");
}
