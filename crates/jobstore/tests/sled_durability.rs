//! What only a durable backend can promise: state survives reopen, a SIGKILLed process loses
//! no acknowledged enqueue, and open errors say what to do.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use jobstore::{
    Completion, EnqueueOutcome, Error, JobId, JobState, JobStore, NewJob, SledJobStore,
    StoreConfig, Trigger,
};

/// Set in the child process: the directory it enqueues into.
const CHILD_DIR_ENV: &str = "JOBSTORE_CRASH_CHILD_DIR";

/// Opens the store, waiting while the lock is still held: right after a store (or a raw
/// sled handle) is dropped, sled's background I/O threads can hold the directory's lock a
/// moment longer, so a reopen in the same process, or a child started right after the
/// parent dropped its handle, may see `Locked` at first.
fn open(path: &Path) -> SledJobStore {
    let mut tries = 0;
    loop {
        match SledJobStore::open(path, StoreConfig::default()) {
            Err(Error::Locked { .. }) if tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            result => return result.expect("open store"),
        }
    }
}

/// Runs the ignored test `name` of this binary as a child process with `env` set to the
/// store's `path`; its stderr goes to `stderr` (or nowhere). Returns the child and its stdout.
fn spawn_child(
    name: &str,
    env: &str,
    path: &Path,
    stderr: Option<&Path>,
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let exe = std::env::current_exe().expect("test binary path");
    let stderr = match stderr {
        Some(file) => Stdio::from(std::fs::File::create(file).expect("child stderr file")),
        None => Stdio::null(),
    };
    let mut child = Command::new(exe)
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(env, path)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn child");
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    (child, stdout)
}

/// SIGKILLs the child and returns what it had written to stdout that was not read yet.
fn kill_and_drain(
    child: &mut std::process::Child,
    stdout: &mut BufReader<std::process::ChildStdout>,
) -> String {
    child.kill().expect("SIGKILL child");
    child.wait().expect("reap child");
    let mut rest = String::new();
    stdout
        .read_to_string(&mut rest)
        .expect("drain child stdout");
    rest
}

/// The body of an ignored child test: opens the store in the directory the parent passed in
/// `env`, runs `work` on it, then waits to be killed (bounded, so a broken parent leaves no
/// stray process). Without `env` (a plain `--ignored` run) it does nothing.
fn run_child<F: std::future::Future<Output = ()>>(
    env: &str,
    work: impl FnOnce(Arc<SledJobStore>) -> F,
) {
    let Ok(dir) = std::env::var(env) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(work(Arc::new(open(Path::new(&dir)))));
    std::thread::sleep(Duration::from_secs(60));
}

/// Runs `task(store, i)` for each `i` in `0..n` as concurrent tasks and waits for all of
/// them; `what` names them if one panics.
async fn concurrently<Task, Done>(store: &Arc<SledJobStore>, n: u64, what: &str, task: Task)
where
    Task: Fn(Arc<SledJobStore>, u64) -> Done,
    Done: std::future::Future<Output = ()> + Send + 'static,
{
    let tasks: Vec<_> = (0..n)
        .map(|i| tokio::spawn(task(Arc::clone(store), i)))
        .collect();
    for task in tasks {
        task.await.unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

async fn enqueued(store: &SledJobStore, job: NewJob) -> EnqueueOutcome {
    store.enqueue(job).await.expect("enqueue")
}

/// Where a test keeps its store: `jobs` in a temporary directory that lives as long as the
/// returned guard.
fn store_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs");
    (dir, path)
}

fn request(repo: &str, commit: &str, dedupe: &str) -> NewJob {
    let mut job = NewJob::index(repo, "refs/heads/main", Trigger::Webhook);
    job.commit = Some(commit.to_owned());
    job.before = Some("0000".to_owned());
    job.dedupe_key = Some(dedupe.to_owned());
    job
}

/// Not a test of its own: the body of the child process `crash_loses_no_acknowledged_job`
/// starts. It enqueues from several tasks and prints each acknowledged id, until killed.
#[test]
#[ignore = "run as a child process by crash_loses_no_acknowledged_job"]
fn crash_child() {
    run_child(CHILD_DIR_ENV, |store| async move {
        let tag = std::process::id();
        concurrently(&store, 8, "producer", |store, t| async move {
            for n in 0u64.. {
                let key = format!("{tag}-{t}-{n}");
                let outcome = enqueued(&store, request(&format!("repo-{key}"), "c1", &key)).await;
                // Printed only after enqueue returned: this line is the acknowledgement.
                println!("ACK {} {key}", outcome.job_id());
            }
        })
        .await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loses_no_acknowledged_job() {
    let (dir, path) = store_path();
    let mut total_acked = 0;
    let stderr_path = dir.path().join("child.stderr");
    for round in 0..20 {
        let (mut child, mut stdout) =
            spawn_child("crash_child", CHILD_DIR_ENV, &path, Some(&stderr_path));
        let wanted = 5 + round * 3;
        let mut acked = Vec::new();
        let mut line = String::new();
        while acked.len() < wanted {
            line.clear();
            let read = stdout.read_line(&mut line).expect("read child stdout");
            assert!(
                read > 0,
                "round {round}: child exited before acknowledging {wanted} jobs ({}); its stderr:\n{}",
                child
                    .wait()
                    .map_or_else(|e| e.to_string(), |s| s.to_string()),
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
            if let Some(ack) = line.strip_prefix("ACK ") {
                acked.push(ack.trim().to_owned());
            }
        }
        // Lines already in the pipe were acknowledged before the kill, too.
        let rest = kill_and_drain(&mut child, &mut stdout);
        acked.extend(
            rest.lines()
                .filter_map(|l| l.strip_prefix("ACK "))
                .map(|l| l.trim().to_owned()),
        );

        let store = open(&path);
        for ack in &acked {
            let (id, key) = ack.split_once(' ').expect("ACK <id> <key>");
            let id: JobId = id.parse().expect("child printed a job id");
            let job = store.get(&id).await.expect("get");
            let job = job.unwrap_or_else(|| panic!("round {round}: acknowledged job {id} is gone"));
            assert_eq!(job.repo, format!("repo-{key}"));
            match enqueued(&store, request(&job.repo, "c1", key)).await {
                EnqueueOutcome::Duplicate(dup) => assert_eq!(dup, id),
                other => panic!("round {round}: dedupe key {key} was lost: {other:?}"),
            }
        }
        total_acked += acked.len();
    }
    assert!(total_acked >= 20 * 5);
}

/// Set in the child process of `a_job_that_crashes_every_attempt_ends_failed`.
const CLAIM_CHILD_DIR_ENV: &str = "JOBSTORE_CLAIM_CHILD_DIR";

/// Not a test of its own: a worker that claims the store's job, prints the attempt it was
/// handed, and then "crashes" (it is SIGKILLed while it works).
#[test]
#[ignore = "run as a child process by a_job_that_crashes_every_attempt_ends_failed"]
fn claim_child() {
    run_child(CLAIM_CHILD_DIR_ENV, |store| async move {
        match store.claim("crashing-worker").await.expect("claim") {
            Some(claimed) => println!("CLAIMED {} {}", claimed.job.id, claimed.job.attempts),
            None => println!("NOTHING"),
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_crashes_every_attempt_ends_failed() {
    let (_dir, path) = store_path();
    let max_attempts = StoreConfig::default().max_attempts;
    let id = {
        let store = open(&path);
        let outcome = enqueued(&store, request("poison", "c1", "poison-1")).await;
        outcome.job_id().clone()
    };
    for attempt in 1..=max_attempts + 1 {
        let (mut child, mut stdout) = spawn_child("claim_child", CLAIM_CHILD_DIR_ENV, &path, None);
        let mut said = String::new();
        let mut line = String::new();
        while said.is_empty() {
            line.clear();
            let read = stdout.read_line(&mut line).expect("read child stdout");
            assert!(read > 0, "attempt {attempt}: child exited without claiming");
            // libtest prints "test claim_child ... " on the same line first.
            if let Some(at) = line.find("CLAIMED").or_else(|| line.find("NOTHING")) {
                said = line[at..].trim().to_owned();
            }
        }
        // Killed while "working": only what claim made durable survives.
        child.kill().expect("SIGKILL child");
        child.wait().expect("reap child");
        if attempt <= max_attempts {
            assert_eq!(
                said,
                format!("CLAIMED {id} {attempt}"),
                "each crashed attempt is counted"
            );
        } else {
            assert_eq!(said, "NOTHING", "no attempt after the last one");
        }
    }
    let store = open(&path);
    let job = store.get(&id).await.expect("get").expect("job");
    assert_eq!((job.state, job.attempts), (JobState::Failed, max_attempts));
    assert!(
        job.error
            .as_deref()
            .is_some_and(|e| e.contains("stopped during attempt")),
        "{:?}",
        job.error
    );
}

#[tokio::test]
async fn dedupe_and_jobs_survive_reopen() {
    let (_dir, path) = store_path();
    let (done, queued) = {
        let store = open(&path);
        let done = enqueued(&store, request("a", "c1", "delivery-a")).await;
        let claimed = store.claim("w").await.expect("claim").expect("a job");
        store
            .complete(&claimed.lease, Completion::succeeded())
            .await
            .expect("complete");
        let queued = enqueued(&store, request("b", "c1", "delivery-b")).await;
        (done.job_id().clone(), queued.job_id().clone())
    };
    let store = open(&path);
    assert_eq!(
        store.get(&done).await.expect("get").map(|j| j.state),
        Some(JobState::Succeeded)
    );
    assert_eq!(
        store.get(&queued).await.expect("get").map(|j| j.state),
        Some(JobState::Queued)
    );
    for (key, id) in [("delivery-a", &done), ("delivery-b", &queued)] {
        match enqueued(&store, request("x", "c2", key)).await {
            EnqueueOutcome::Duplicate(dup) => assert_eq!(&dup, id),
            other => panic!("dedupe key {key} forgotten after reopen: {other:?}"),
        }
    }
    // Ids keep growing after a reopen, even once older jobs are cleaned up.
    store.cleanup(Duration::ZERO).await.expect("cleanup");
    let newer = enqueued(&store, request("c", "c1", "delivery-c")).await;
    assert!(newer.job_id() > &queued);
    let counts = store.counts().await.expect("counts");
    assert_eq!((counts.queued, counts.succeeded), (2, 0));
}

#[tokio::test]
async fn jobs_left_running_are_requeued_on_open() {
    let (_dir, path) = store_path();
    let (plain, cancelled, with_follow_up, follow_up) = {
        let store = open(&path);
        let plain = enqueued(&store, request("plain", "c1", "p")).await;
        let cancelled = enqueued(&store, request("cancelled", "c1", "c")).await;
        let mut first = request("busy", "c1", "b1");
        first.before = Some("c0".to_owned());
        let with_follow_up = store.enqueue(first).await.expect("enqueue");
        for _ in 0..3 {
            store.claim("w").await.expect("claim").expect("a job");
        }
        store.cancel(cancelled.job_id()).await.expect("cancel");
        let follow_up = enqueued(&store, request("busy", "c2", "b2")).await;
        // Dropped without completing anything: as if the process had died.
        (
            plain.job_id().clone(),
            cancelled.job_id().clone(),
            with_follow_up.job_id().clone(),
            follow_up.job_id().clone(),
        )
    };
    let store = open(&path);
    let job = store.get(&plain).await.expect("get").expect("job");
    assert_eq!(
        (job.state, job.attempts),
        (JobState::Queued, 1),
        "requeued, attempts kept"
    );
    let job = store.get(&cancelled).await.expect("get").expect("job");
    assert_eq!(
        job.state,
        JobState::Cancelled,
        "a cancel asked before the crash holds"
    );
    let job = store.get(&with_follow_up).await.expect("get").expect("job");
    assert_eq!(
        job.state,
        JobState::Superseded,
        "the queued follow-up covers its work"
    );
    let job = store.get(&follow_up).await.expect("get").expect("job");
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(
        job.before.as_deref(),
        Some("c0"),
        "the follow-up diffs from the oldest base"
    );
    assert_eq!(job.commit.as_deref(), Some("c2"));

    let first = store.claim("w").await.expect("claim").expect("a job");
    assert_eq!((first.job.id.clone(), first.job.attempts), (plain, 2));
    let second = store.claim("w").await.expect("claim").expect("a job");
    assert_eq!(second.job.id, follow_up);
    assert!(store.claim("w").await.expect("claim").is_none());
}

#[tokio::test]
async fn second_open_is_refused_with_a_clear_error() {
    let (_dir, path) = store_path();
    let store = open(&path);
    let err = SledJobStore::open(&path, StoreConfig::default()).expect_err("locked");
    assert!(matches!(err, Error::Locked { .. }), "got {err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("another process holds"), "{message}");
    assert!(message.contains("--data-dir"), "{message}");
    drop(store);
    open(&path);
}

#[tokio::test]
async fn damaged_records_are_reported_as_corrupt() {
    let (_dir, path) = store_path();
    drop(open(&path));
    write_raw(&path, &[("j/0000000000000001", b"not a job record")]);
    let err = SledJobStore::open(&path, StoreConfig::default()).expect_err("corrupt");
    assert!(matches!(err, Error::Corrupt { .. }), "got {err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("backup"), "{message}");
}

#[tokio::test]
async fn a_file_in_place_of_the_directory_names_the_path() {
    let (_dir, path) = store_path();
    std::fs::write(&path, b"not a database").expect("write");
    let err = SledJobStore::open(&path, StoreConfig::default()).expect_err("not a directory");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

/// Writes `records` into the store's sled tree directly, as another release would have.
fn write_raw(path: &Path, records: &[(&str, &[u8])]) {
    let db = open_raw(path);
    let tree = db.open_tree("jobstore.v1").expect("tree");
    for (key, value) in records {
        tree.insert(key, *value).expect("insert");
    }
    db.flush().expect("flush");
}

#[tokio::test]
async fn a_store_of_another_format_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Records without a format version: a store written before versions were recorded.
    let unversioned = dir.path().join("unversioned");
    write_raw(&unversioned, &[("m/next_id", &2u64.to_be_bytes())]);
    // A newer release's store.
    let newer = dir.path().join("newer");
    drop(open(&newer));
    write_raw(&newer, &[("m/format", &7u32.to_le_bytes())]);
    for (path, found) in [(&unversioned, 0), (&newer, 7)] {
        let err = SledJobStore::open(path, StoreConfig::default()).expect_err("refused");
        match &err {
            Error::UnsupportedFormat {
                path: at,
                found: f,
                reads,
            } => {
                assert_eq!((at, *f), (path, found));
                assert!(*reads >= 1 && *reads != found, "{err}");
            }
            other => panic!("expected UnsupportedFormat, got {other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(
            message.contains(&format!("format {found}, this build reads format")),
            "{message}"
        );
        assert!(message.contains("move the directory away"), "{message}");
    }
    // Refusing changed nothing: the newer store still says it is newer. sled lets go of its
    // file lock once its flusher thread has stopped, which can trail the refused open on a
    // busy machine: a reopen may meet the lock for a moment, never anything else.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let err = loop {
        match SledJobStore::open(&newer, StoreConfig::default()) {
            Err(Error::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => break other.expect_err("refused again"),
        }
    };
    assert!(
        matches!(err, Error::UnsupportedFormat { found: 7, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn durable_operations_wait_for_a_disk_sync() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir.path().join("jobs"));
    let at_open = store.disk_syncs();
    assert!(at_open >= 1, "open syncs what it created");

    let before = store.disk_syncs();
    let queued = enqueued(&store, request("r", "c1", "d-1")).await;
    let after_enqueue = store.disk_syncs();
    assert!(after_enqueue > before, "enqueue returned before a sync");

    let claimed = store.claim("w").await.expect("claim").expect("a job");
    assert_eq!(&claimed.job.id, queued.job_id());
    let after_claim = store.disk_syncs();
    assert!(after_claim > after_enqueue, "claim returned before a sync");

    store
        .complete(&claimed.lease, Completion::succeeded())
        .await
        .expect("complete");
    assert!(
        store.disk_syncs() > after_claim,
        "complete returned before a sync"
    );

    // Claiming nothing writes nothing and waits for no sync of its own.
    let idle = store.disk_syncs();
    assert!(store.claim("w").await.expect("claim").is_none());
    assert_eq!(store.disk_syncs(), idle);
}

#[tokio::test]
async fn the_indexed_commit_and_note_survive_reopen() {
    let (_dir, path) = store_path();
    let store = open(&path);
    let mut ids = Vec::new();
    for (git_ref, commit, note) in [
        (
            "refs/heads/a",
            Some("c3"),
            Some("already at c3: nothing to index"),
        ),
        ("refs/heads/b", Some("c1"), None),
        ("refs/heads/c", None, None),
    ] {
        let mut request = request("r", "c1", &format!("d-{git_ref}"));
        request.git_ref = git_ref.to_owned();
        store.enqueue(request).await.expect("enqueue");
        let claimed = store.claim("w").await.expect("claim").expect("a job");
        let completion = Completion::Succeeded {
            commit: commit.map(str::to_owned),
            note: note.map(str::to_owned),
        };
        let done = store
            .complete(&claimed.lease, completion)
            .await
            .expect("complete");
        ids.push((done.id.clone(), done));
    }
    drop(store);
    let store = open(&path);
    for (id, done) in ids {
        let job = store.get(&id).await.expect("get").expect("job");
        assert_eq!(job, done, "job {id} after reopen");
    }
    let a = store
        .get(&"0000000000000001".parse::<JobId>().expect("id"))
        .await
        .expect("get")
        .expect("job");
    assert_eq!(
        (a.commit.as_deref(), a.note.as_deref()),
        (Some("c3"), Some("already at c3: nothing to index"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enqueues_share_syncs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(open(&dir.path().join("jobs")));
    let before = store.disk_syncs();
    concurrently(&store, 64, "producer", |store, t| async move {
        for i in 0..20 {
            let key = format!("d-{t}-{i}");
            enqueued(&store, request(&format!("r{t}"), "c1", &key)).await;
        }
    })
    .await;
    let syncs = store.disk_syncs() - before;
    // Every enqueue waited for a sync, and while one sync runs the next group gathers, so
    // 64 producers need far fewer than one sync each (a sync per request would be 1,280).
    assert!(
        syncs >= 20,
        "each producer's 20 enqueues waited for a sync each: {syncs}"
    );
    assert!(
        syncs < 1_280,
        "no group commit: {syncs} syncs for 1,280 enqueues"
    );
}

#[tokio::test]
async fn expired_delivery_keys_are_dropped_from_disk_too() {
    let (_dir, path) = store_path();
    let config = StoreConfig {
        dedupe_retention: Duration::from_millis(50),
        ..StoreConfig::default()
    };
    {
        let store = SledJobStore::open(&path, config.clone()).expect("open");
        for n in 0..10 {
            enqueued(&store, request("r", "c1", &format!("k-{n}"))).await;
        }
        tokio::time::sleep(Duration::from_millis(80)).await;
        store
            .cleanup(Duration::from_secs(3600))
            .await
            .expect("cleanup");
    }
    let db = open_raw(&path);
    let tree = db.open_tree("jobstore.v1").expect("tree");
    assert_eq!(
        tree.scan_prefix("e/").count(),
        0,
        "expired key records stay on disk"
    );
    assert_eq!(tree.scan_prefix("j/").count(), 1, "the job itself stays");
}

/// Opens the store's sled directory directly, waiting while a just-dropped store's lock
/// lingers (see `open`).
fn open_raw(path: &Path) -> sled::Db {
    let mut tries = 0;
    loop {
        match sled::open(path) {
            Err(sled::Error::Io(_)) if tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            result => return result.expect("sled"),
        }
    }
}

fn records_with_prefix(path: &Path, prefix: &str) -> usize {
    let db = open_raw(path);
    let tree = db.open_tree("jobstore.v1").expect("tree");
    tree.scan_prefix(prefix).count()
}

#[tokio::test]
async fn attempt_records_replay_on_reopen_and_go_away_with_their_jobs() {
    let (_dir, path) = store_path();
    let (done, failed, released, running) = {
        let store = open(&path);
        for n in 0..4 {
            enqueued(
                &store,
                request(&format!("repo-{n}"), "c1", &format!("k-{n}")),
            )
            .await;
        }
        let done = store.claim("w").await.expect("claim").expect("a job");
        let (_, next) = store
            .complete_and_claim(&done.lease, Completion::succeeded(), "w")
            .await
            .expect("complete_and_claim");
        let failed = next.expect("a second job");
        let (_, next) = store
            .complete_and_claim(
                &failed.lease,
                Completion::Failed {
                    error: "exit status 2".to_owned(),
                    retryable: false,
                },
                "w",
            )
            .await
            .expect("complete_and_claim");
        let released = next.expect("a third job");
        let running = store
            .claim("w")
            .await
            .expect("claim")
            .expect("a fourth job");
        store
            .complete(&released.lease, Completion::Released)
            .await
            .expect("release");
        (done.job, failed.job, released.job, running.job)
    };
    // Claims and completions were logged, not written into the job records.
    assert!(records_with_prefix(&path, "a/") >= 1);
    assert_eq!(records_with_prefix(&path, "j/"), 4);
    for round in 0..2 {
        // Twice: the first open requeues the running job, the second finds nothing to do.
        let store = open(&path);
        let job = store.get(&done.id).await.expect("get").expect("job");
        assert_eq!((job.state, job.attempts), (JobState::Succeeded, 1));
        assert!(job.finished_at.is_some() && job.started_at.is_some());
        let job = store.get(&failed.id).await.expect("get").expect("job");
        assert_eq!(job.state, JobState::Failed);
        assert_eq!(job.error.as_deref(), Some("exit status 2"));
        let job = store.get(&running.id).await.expect("get").expect("job");
        assert_eq!(
            (job.state, job.attempts),
            (JobState::Queued, 1),
            "round {round}: requeued with its attempt kept"
        );
        let job = store.get(&released.id).await.expect("get").expect("job");
        assert_eq!(
            (job.state, job.attempts),
            (JobState::Queued, 0),
            "round {round}: a released attempt is not counted"
        );
        let counts = store.counts().await.expect("counts");
        assert_eq!((counts.queued, counts.running), (2, 0));
    }

    let store = open(&path);
    while let Some(claimed) = store.claim("w").await.expect("claim") {
        store
            .complete(&claimed.lease, Completion::succeeded())
            .await
            .expect("complete");
    }
    drop(store);
    assert!(
        records_with_prefix(&path, "a/") >= 1,
        "finished jobs keep entries"
    );
    let store = open(&path);
    assert_eq!(store.counts().await.expect("counts").succeeded, 3);
    assert_eq!(
        store.cleanup(Duration::ZERO).await.expect("cleanup"),
        4,
        "every finished job is removed"
    );
    drop(store);
    assert_eq!(
        records_with_prefix(&path, "a/"),
        0,
        "attempt records outlive their jobs"
    );
    assert_eq!(records_with_prefix(&path, "j/"), 0);
}

#[tokio::test]
async fn a_trickle_of_jobs_does_not_leave_a_record_per_job() {
    let (_dir, path) = store_path();
    let jobs = 100;
    {
        let store = open(&path);
        for n in 0..jobs {
            enqueued(
                &store,
                request(&format!("repo-{n}"), "c1", &format!("k-{n}")),
            )
            .await;
        }
        // One worker: every write completes one job and claims the next.
        let mut next = store.claim("w").await.expect("claim");
        while let Some(claimed) = next {
            next = store
                .complete_and_claim(&claimed.lease, Completion::succeeded(), "w")
                .await
                .expect("complete_and_claim")
                .1;
        }
    }
    let records = records_with_prefix(&path, "a/");
    assert!(
        (1..=jobs / 16).contains(&records),
        "{records} attempt records for {jobs} finished jobs"
    );
    let store = open(&path);
    assert_eq!(store.counts().await.expect("counts").succeeded, jobs as u64);
}

/// Set in the child process of `crash_loses_no_acknowledged_completion`.
const WORKER_CHILD_DIR_ENV: &str = "JOBSTORE_WORKER_CHILD_DIR";

/// Not a test of its own: workers that claim and complete jobs (succeeding most, failing
/// every fifth for good, retrying every seventh) and print each acknowledged final state,
/// until killed.
#[test]
#[ignore = "run as a child process by crash_loses_no_acknowledged_completion"]
fn worker_child() {
    run_child(WORKER_CHILD_DIR_ENV, |store| async move {
        concurrently(&store, 8, "worker", |store, w| async move {
            let worker = format!("w{w}");
            let mut next = store.claim(&worker).await.expect("claim");
            while let Some(claimed) = next {
                let counter = u64::from_str_radix(claimed.job.id.as_str(), 16).expect("id");
                let completion = if counter % 5 == 0 {
                    Completion::Failed {
                        error: format!("boom {counter}"),
                        retryable: false,
                    }
                } else if counter % 7 == 0 {
                    Completion::Failed {
                        error: "flaky".to_owned(),
                        retryable: true,
                    }
                } else {
                    Completion::succeeded()
                };
                let (job, claimed) = store
                    .complete_and_claim(&claimed.lease, completion, &worker)
                    .await
                    .expect("complete_and_claim");
                if job.state.is_finished() {
                    // Printed only after the completion returned: the acknowledgement.
                    println!("DONE {} {}", job.id, job.state);
                }
                next = claimed;
            }
        })
        .await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loses_no_acknowledged_completion() {
    let (dir, path) = store_path();
    {
        let store = Arc::new(open(&path));
        concurrently(&store, 16, "producer", |store, p| async move {
            for n in 0..100 {
                enqueued(
                    &store,
                    request(&format!("repo-{p}-{n}"), "c1", &format!("{p}-{n}")),
                )
                .await;
            }
        })
        .await;
    }
    let stderr_path = dir.path().join("child.stderr");
    let mut acked: Vec<(JobId, JobState)> = Vec::new();
    for round in 0..8 {
        let (mut child, mut stdout) = spawn_child(
            "worker_child",
            WORKER_CHILD_DIR_ENV,
            &path,
            Some(&stderr_path),
        );
        let wanted = 20 + round * 10;
        let mut this_round = 0;
        let mut line = String::new();
        let parse = |line: &str| -> Option<(JobId, JobState)> {
            let rest = &line[line.find("DONE ")? + 5..];
            let (id, state) = rest.trim().split_once(' ')?;
            Some((id.parse().ok()?, state.parse().ok()?))
        };
        while this_round < wanted {
            line.clear();
            let read = stdout.read_line(&mut line).expect("read child stdout");
            assert!(
                read > 0,
                "round {round}: child exited early; its stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
            if let Some(done) = parse(&line) {
                acked.push(done);
                this_round += 1;
            }
        }
        let rest = kill_and_drain(&mut child, &mut stdout);
        acked.extend(rest.lines().filter_map(parse));

        let store = open(&path);
        for (id, state) in &acked {
            let job = store.get(id).await.expect("get").expect("job");
            assert_eq!(
                job.state, *state,
                "round {round}: job {id} was acknowledged {state}"
            );
            if *state == JobState::Failed {
                // Failed for good at once, or a retryable failure on its last attempt.
                let counter = u64::from_str_radix(id.as_str(), 16).expect("id");
                let error = if counter % 5 == 0 {
                    format!("boom {counter}")
                } else {
                    "flaky".to_owned()
                };
                assert_eq!(job.error, Some(error), "round {round}: job {id}");
            }
        }
        let counts = store.counts().await.expect("counts");
        assert_eq!(counts.running, 0, "round {round}: left running");
        assert_eq!(counts.total(), 1600);
    }
}
