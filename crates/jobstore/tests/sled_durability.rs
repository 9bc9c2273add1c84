//! What only a durable backend can promise: state survives reopen, a SIGKILLed process loses
//! no acknowledged enqueue, and open errors say what to do.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
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
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let store = std::sync::Arc::new(open(Path::new(&dir)));
        let tag = std::process::id();
        let mut tasks = Vec::new();
        for t in 0..8 {
            let store = std::sync::Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                for n in 0u64.. {
                    let key = format!("{tag}-{t}-{n}");
                    let outcome = store
                        .enqueue(request(&format!("repo-{key}"), "c1", &key))
                        .await
                        .expect("enqueue");
                    // Printed only after enqueue returned: this line is the acknowledgement.
                    println!("ACK {} {key}", outcome.job_id());
                }
            }));
        }
        for task in tasks {
            task.await.expect("producer");
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loses_no_acknowledged_job() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs");
    let exe = std::env::current_exe().expect("test binary path");
    let mut total_acked = 0;
    let stderr_path = dir.path().join("child.stderr");
    for round in 0..20 {
        let mut child = Command::new(&exe)
            .args([
                "crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).expect("child stderr file"))
            .spawn()
            .expect("spawn child");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
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
        child.kill().expect("SIGKILL child");
        child.wait().expect("reap child");
        // Lines already in the pipe were acknowledged before the kill, too.
        let mut rest = String::new();
        stdout
            .read_to_string(&mut rest)
            .expect("drain child stdout");
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
            match store
                .enqueue(request(&job.repo, "c1", key))
                .await
                .expect("enqueue")
            {
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
    let Ok(dir) = std::env::var(CLAIM_CHILD_DIR_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let store = open(Path::new(&dir));
        match store.claim("crashing-worker").await.expect("claim") {
            Some(claimed) => println!("CLAIMED {} {}", claimed.job.id, claimed.job.attempts),
            None => println!("NOTHING"),
        }
        // Killed long before this ends; bounded so a broken parent leaves no stray process.
        std::thread::sleep(Duration::from_secs(60));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_crashes_every_attempt_ends_failed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs");
    let max_attempts = StoreConfig::default().max_attempts;
    let id = {
        let store = open(&path);
        let outcome = store
            .enqueue(request("poison", "c1", "poison-1"))
            .await
            .expect("enqueue");
        outcome.job_id().clone()
    };
    let exe = std::env::current_exe().expect("test binary path");
    for attempt in 1..=max_attempts + 1 {
        let mut child = Command::new(&exe)
            .args([
                "claim_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CLAIM_CHILD_DIR_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
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
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs");
    let (done, queued) = {
        let store = open(&path);
        let done = store
            .enqueue(request("a", "c1", "delivery-a"))
            .await
            .expect("enqueue");
        let claimed = store.claim("w").await.expect("claim").expect("a job");
        store
            .complete(&claimed.job.id, Completion::Succeeded)
            .await
            .expect("complete");
        let queued = store
            .enqueue(request("b", "c1", "delivery-b"))
            .await
            .expect("enqueue");
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
        match store
            .enqueue(request("x", "c2", key))
            .await
            .expect("enqueue")
        {
            EnqueueOutcome::Duplicate(dup) => assert_eq!(&dup, id),
            other => panic!("dedupe key {key} forgotten after reopen: {other:?}"),
        }
    }
    // Ids keep growing after a reopen, even once older jobs are cleaned up.
    store.cleanup(Duration::ZERO).await.expect("cleanup");
    let newer = store
        .enqueue(request("c", "c1", "delivery-c"))
        .await
        .expect("enqueue");
    assert!(newer.job_id() > &queued);
    let counts = store.counts().await.expect("counts");
    assert_eq!((counts.queued, counts.succeeded), (2, 0));
}

#[tokio::test]
async fn jobs_left_running_are_requeued_on_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs");
    let (plain, cancelled, with_follow_up, follow_up) = {
        let store = open(&path);
        let plain = store
            .enqueue(request("plain", "c1", "p"))
            .await
            .expect("enqueue");
        let cancelled = store
            .enqueue(request("cancelled", "c1", "c"))
            .await
            .expect("enqueue");
        let mut first = request("busy", "c1", "b1");
        first.before = Some("c0".to_owned());
        let with_follow_up = store.enqueue(first).await.expect("enqueue");
        for _ in 0..3 {
            store.claim("w").await.expect("claim").expect("a job");
        }
        store.cancel(cancelled.job_id()).await.expect("cancel");
        let follow_up = store
            .enqueue(request("busy", "c2", "b2"))
            .await
            .expect("enqueue");
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
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs");
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
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs");
    {
        let db = sled::open(&path).expect("sled");
        let tree = db.open_tree("jobstore.v1").expect("tree");
        tree.insert("j/0000000000000001", "not json")
            .expect("insert");
        db.flush().expect("flush");
    }
    let err = SledJobStore::open(&path, StoreConfig::default()).expect_err("corrupt");
    assert!(matches!(err, Error::Corrupt { .. }), "got {err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("backup"), "{message}");
}

#[tokio::test]
async fn a_file_in_place_of_the_directory_names_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs");
    std::fs::write(&path, b"not a database").expect("write");
    let err = SledJobStore::open(&path, StoreConfig::default()).expect_err("not a directory");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn delivery_keys_written_one_per_record_by_older_versions_still_dedupe() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs");
    {
        let db = sled::open(&path).expect("sled");
        let tree = db.open_tree("jobstore.v1").expect("tree");
        // Before digests: the key itself; after: 32 hex digits of its digest. Both expire
        // far in the future.
        for (key, job) in [
            ("d/github:old-style", "0000000000000007"),
            ("d/00112233445566778899aabbccddeeff", "0000000000000008"),
        ] {
            let value = format!(r#"{{"job":"{job}","expires_at":"2999-01-01T00:00:00Z"}}"#);
            tree.insert(key, value.as_bytes()).expect("insert");
        }
        db.flush().expect("flush");
    }
    let store = open(&path);
    match store
        .enqueue(request("x", "c1", "github:old-style"))
        .await
        .expect("enqueue")
    {
        EnqueueOutcome::Duplicate(id) => assert_eq!(id.as_str(), "0000000000000007"),
        other => panic!("an old per-key record was not read: {other:?}"),
    }
    let fresh = store
        .enqueue(request("x", "c1", "github:new-style"))
        .await
        .expect("enqueue");
    assert!(matches!(fresh, EnqueueOutcome::Queued(_)), "{fresh:?}");
    drop(store);
    let store = open(&path);
    for (key, id) in [
        ("github:old-style", "0000000000000007"),
        ("github:new-style", fresh.job_id().as_str()),
    ] {
        match store
            .enqueue(request("y", "c2", key))
            .await
            .expect("enqueue")
        {
            EnqueueOutcome::Duplicate(dup) => assert_eq!(dup.as_str(), id),
            other => panic!("delivery key {key} forgotten after reopen: {other:?}"),
        }
    }
}

#[tokio::test]
async fn expired_delivery_keys_are_dropped_from_disk_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs");
    let config = StoreConfig {
        dedupe_retention: Duration::from_millis(50),
        ..StoreConfig::default()
    };
    {
        let store = SledJobStore::open(&path, config.clone()).expect("open");
        for n in 0..10 {
            store
                .enqueue(request("r", "c1", &format!("k-{n}")))
                .await
                .expect("enqueue");
        }
        tokio::time::sleep(Duration::from_millis(80)).await;
        store
            .cleanup(Duration::from_secs(3600))
            .await
            .expect("cleanup");
    }
    let db = sled::open(&path).expect("sled");
    let tree = db.open_tree("jobstore.v1").expect("tree");
    assert_eq!(
        tree.scan_prefix("e/").count(),
        0,
        "expired key records stay on disk"
    );
    assert_eq!(tree.scan_prefix("j/").count(), 1, "the job itself stays");
}

fn records_with_prefix(path: &Path, prefix: &str) -> usize {
    // The store was just dropped: its lock may linger a moment (see `open`).
    let mut tries = 0;
    let db = loop {
        match sled::open(path) {
            Err(sled::Error::Io(_)) if tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            result => break result.expect("sled"),
        }
    };
    let tree = db.open_tree("jobstore.v1").expect("tree");
    tree.scan_prefix(prefix).count()
}

#[tokio::test]
async fn a_claim_is_a_small_record_that_goes_away_with_its_job() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jobs");
    let (done, running) = {
        let store = open(&path);
        for n in 0..3 {
            store
                .enqueue(request(&format!("repo-{n}"), "c1", &format!("k-{n}")))
                .await
                .expect("enqueue");
        }
        let done = store.claim("w").await.expect("claim").expect("a job");
        let (_, next) = store
            .complete_and_claim(&done.job.id, Completion::Succeeded, "w")
            .await
            .expect("complete_and_claim");
        let released = next.expect("a second job");
        let running = store.claim("w").await.expect("claim").expect("a third job");
        store
            .complete(&released.job.id, Completion::Released)
            .await
            .expect("release");
        (done.job.id, running.job.id)
    };
    // Only the job still running has a claim on disk; its record still says queued.
    assert_eq!(records_with_prefix(&path, "c/"), 1);
    let store = open(&path);
    let job = store.get(&running).await.expect("get").expect("job");
    assert_eq!((job.state, job.attempts), (JobState::Queued, 1), "requeued");
    let job = store.get(&done).await.expect("get").expect("job");
    assert_eq!(job.state, JobState::Succeeded);
    let released = store
        .claim("w")
        .await
        .expect("claim")
        .expect("the released job");
    assert_eq!(
        released.job.attempts, 1,
        "a released attempt is not counted"
    );
    drop(released);
    drop(store);
    // The open rewrote the requeued job and dropped the claim; the claim made since is
    // still there because its job is running.
    assert_eq!(records_with_prefix(&path, "c/"), 1);

    let store = open(&path);
    while let Some(claimed) = store.claim("w").await.expect("claim") {
        store
            .complete(&claimed.job.id, Completion::Succeeded)
            .await
            .expect("complete");
    }
    drop(store);
    assert_eq!(
        records_with_prefix(&path, "c/"),
        0,
        "claim records outlive their jobs"
    );
}
