//! Crashes and restarts of the real binary: nothing answered 202 is lost, and jobs that were
//! queued or running when the process died finish after the restart.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

#[test]
fn sigkill_mid_burst_loses_no_acknowledged_delivery() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, c1) = Repo::with_file(
        &tmp.path().join("src"),
        "a.rs",
        &source_file("burst_target", 2),
    );
    let config = config_for(&repo.url(), "github", "")
        .replace("branches = [\"main\"]", "branches = [\"*\"]");
    let gw = Gateway::start(tmp.path(), &config);
    let addr = gw.addr;

    // Several senders push to distinct branches as fast as they can; each records the
    // deliveries answered 202 with their job ids.
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let senders = burst(
        addr,
        4,
        100_000,
        "burst",
        {
            let c1 = c1.clone();
            move |t, i| github_push(&format!("refs/heads/b{t}-{}", i % 50), &c1, &c1, false)
        },
        {
            let acknowledged = acknowledged.clone();
            move |delivery, answer| {
                if answer.status == 202 {
                    let job = answer.json()["job_id"].as_str().unwrap().to_string();
                    acknowledged.lock().unwrap().push((delivery, job));
                }
            }
        },
    );
    let deadline = Instant::now() + PATIENCE;
    while acknowledged.lock().unwrap().len() < 150 {
        assert!(Instant::now() < deadline, "the burst never got going");
        std::thread::sleep(Duration::from_millis(5));
    }
    let config_path = gw.config.clone();
    gw.kill9();
    for sender in senders {
        let _ = sender.join();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let gw = Gateway::start_with(tmp.path(), &config_path);
    for (delivery, job_id) in &acknowledged {
        let branch = {
            let mut parts = delivery.split('-');
            let t = parts.nth(1).unwrap();
            let i: usize = parts.next().unwrap().parse().unwrap();
            format!("refs/heads/b{t}-{}", i % 50)
        };
        let body = github_push(&branch, &c1, &c1, false);
        let headers = signed_headers("github", "push", delivery, &body, SECRET);
        let answer = post_webhook(&gw, "github", "demo", &headers, &body);
        assert_eq!(
            answer.status,
            200,
            "{delivery} was answered 202 before the crash but is not remembered: {}",
            answer.text()
        );
        assert_eq!(answer.json()["status"], "duplicate");
        assert_eq!(answer.json()["job_id"], job_id.as_str());
        let job = gw.manage("GET", &format!("/webhooks/jobs/{job_id}"), b"");
        assert_eq!(job.status, 200, "job {job_id} of {delivery} is lost");
    }
    // Every job reaches a final state after the restart.
    gw.wait_settled();
}

#[test]
fn queued_and_running_jobs_finish_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    // Big enough that indexing takes a noticeable while, so the crash lands mid-run.
    let (repo, _) = Repo::with_sources(&tmp.path().join("src"), 3000, 30, "crash");
    let (small, _) = Repo::with_file(
        &tmp.path().join("small"),
        "s.rs",
        &source_file("small_repo_symbol", 1),
    );
    let config = format!(
        "workers = 1\n\n[[repos]]\nname = \"big\"\nprovider = \"github\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\n\n[[repos]]\nname = \"small\"\nprovider = \"github\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\n",
        repo.url(),
        small.url()
    );
    let gw = Gateway::start(tmp.path(), &config);
    // `big` runs first (oldest first), `small` waits behind it on the single worker.
    let (running, queued) = gw.one_running_one_queued();
    let (running_id, queued_id) = (
        running["id"].as_str().unwrap().to_string(),
        queued["id"].as_str().unwrap().to_string(),
    );
    gw.kill9();

    let gw = Gateway::start_with(tmp.path(), &tmp.path().join("gateway.toml"));
    let big = gw.wait_finished(&running_id);
    assert_eq!(big["state"], "succeeded", "{big}");
    let small_job = gw.wait_finished(&queued_id);
    assert_eq!(small_job["state"], "succeeded", "{small_job}");
    // The interrupted run was redone, not half-applied twice: each chunk of the file is there once.
    let hits = gw
        .manage("GET", "/search?q=crash_2999&limit=100", b"")
        .json();
    let hits = hits["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    let mut starts: Vec<u64> = hits
        .iter()
        .filter(|h| h["path"] == "d29/f2999.rs")
        .map(|h| h["start_line"].as_u64().unwrap())
        .collect();
    let found = starts.len();
    starts.sort();
    starts.dedup();
    assert_eq!(
        starts.len(),
        found,
        "duplicate chunks after the crash: {hits:?}"
    );
    let hits = gw.manage("GET", "/search?q=small_repo_symbol", b"").json();
    assert_eq!(hits["hits"].as_array().unwrap().len(), 1, "{hits}");
    assert!(gw.stop().success());
}

#[test]
fn sigterm_parks_running_jobs_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, _) = Repo::with_sources(&tmp.path().join("src"), 3000, 30, "term");
    let gw = Gateway::start(tmp.path(), &config_for(&repo.url(), "github", ""));
    let running_id = gw.wait_running_job()["id"].as_str().unwrap().to_string();
    let log = gw.log.clone();
    let status = gw.stop();
    assert!(
        status.success(),
        "exit status {status:?}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // After a restart the parked job runs to the end.
    let gw = Gateway::start_with(tmp.path(), &tmp.path().join("gateway.toml"));
    let job = gw.wait_finished(&running_id);
    assert_eq!(job["state"], "succeeded", "{job}");
}
