//! Faults around the real binary: SIGKILL during indexing and during the search-index commit,
//! git failures of every kind, disk trouble, and SIGTERM with requests and jobs in flight.
//! Each ends in a final job state with a clear error or a correct index, never a stuck job.
//! (SIGKILL during a burst of deliveries is in e2e_crash.rs.)

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::*;

/// `context-gateway index` of `tree` into a fresh data dir: the from-scratch reference.
fn reference_chunks(tree: &Path, data_dir: &Path) -> u64 {
    cli_index(tree, "demo", data_dir)["chunks_added"]
        .as_u64()
        .unwrap()
}

/// Waits until a job runs, lets it run for `after`, then SIGKILLs the gateway. Returns whether
/// the job was still running at the kill. (Progress arrives only with the 5 s heartbeat, so
/// the kill point is chosen by time, not by progress.)
fn kill_after_start(gw: Gateway, after: Duration) -> bool {
    let running = |gw: &Gateway| {
        !gw.manage("GET", "/webhooks/jobs?state=running", b"").json()["jobs"]
            .as_array()
            .unwrap()
            .is_empty()
    };
    gw.wait_running_job();
    std::thread::sleep(after);
    let still_running = running(&gw);
    gw.kill9();
    still_running
}

#[test]
fn sigkill_during_indexing_and_commit_converges_to_a_from_scratch_index() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(&tmp.path().join("src"));
    const FILES: u64 = 1500;
    for i in 0..FILES {
        repo.write(
            &format!("d{}/f{i}.rs", i % 20),
            &source_file(&format!("fault_{i}"), 10),
        );
    }
    let commit = repo.commit("big");
    // Three attempts: both kills may land mid-run on a loaded machine, and a job whose every
    // attempt was cut short by the process dying is failed once it reaches max_attempts.
    let config = config_for(&repo.url(), "github", "")
        .replace("workers = 2", "workers = 1")
        .replace("max_attempts = 2", "max_attempts = 3");
    let config_path = tmp.path().join("gateway.toml");
    std::fs::write(&config_path, &config).unwrap();

    // A full run takes several seconds here. Kill 1: one second in, in the middle of the
    // walk and chunking. Kill 2: later in the rerun, when it stages and commits its batches
    // into the search index (and, on a fast machine, possibly after it finished).
    let gw = Gateway::start_with(tmp.path(), &config_path);
    let mid = kill_after_start(gw, Duration::from_secs(1));
    assert!(mid, "the first kill came too late to land mid-run");
    let gw = Gateway::start_with(tmp.path(), &config_path);
    let late = kill_after_start(gw, Duration::from_millis(4_500));
    println!("second kill landed while the job ran: {late}");

    let gw = Gateway::start_with(tmp.path(), &config_path);
    let settled = gw.wait_settled();
    let jobs = gw.manage("GET", "/webhooks/jobs?repo=demo", b"").json();
    for job in jobs["jobs"].as_array().unwrap() {
        assert!(
            ["succeeded", "superseded"].contains(&job["state"].as_str().unwrap()),
            "{job}"
        );
    }
    // Compare with a from-scratch index of a checkout of the indexed commit.
    let checkout = tmp.path().join("checkout");
    run_ok(
        Command::new("git")
            .args(["clone", "-q", &repo.url()])
            .arg(&checkout),
        "git clone",
    );
    run_ok(
        Command::new("git")
            .arg("-C")
            .arg(&checkout)
            .args(["checkout", "-q", &commit]),
        "git checkout",
    );
    std::fs::remove_dir_all(checkout.join(".git")).unwrap();
    let expected = reference_chunks(&checkout, &tmp.path().join("fresh"));
    assert_eq!(
        settled["indexed_chunks"].as_u64().unwrap(),
        expected,
        "chunks after two crashes differ from a from-scratch index: {settled}"
    );
    // Every file is findable exactly once per chunk.
    for i in [0, FILES / 2, FILES - 1] {
        let hits = gw
            .manage("GET", &format!("/search?q=fault_{i}&limit=100"), b"")
            .json();
        let paths: Vec<&str> = hits["hits"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["path"] == format!("d{}/f{i}.rs", i % 20).as_str())
            .map(|h| h["path"].as_str().unwrap())
            .collect();
        assert!(!paths.is_empty(), "fault_{i} not found: {hits}");
    }
    assert!(gw.stop().success());
}

/// Waits for the job and checks it ended `failed` with a clear message.
fn assert_clear_failure(gw: &Gateway, job_id: &str, label: &str) -> String {
    let job = gw.wait_finished(job_id);
    assert_eq!(job["state"], "failed", "{label}: {job}");
    let error = job["error"].as_str().unwrap_or("").to_string();
    assert!(error.len() > 10, "{label}: unclear error {job}");
    error
}

fn trigger(gw: &Gateway, repo: &str) -> String {
    let answer = gw.manage("POST", &format!("/webhooks/trigger/{repo}"), b"");
    assert_eq!(answer.status, 202, "{}", answer.text());
    answer.json()["job_id"].as_str().unwrap().to_string()
}

#[test]
fn git_failures_end_as_clear_job_errors_or_correct_reindexes() {
    let tmp = tempfile::tempdir().unwrap();
    let (forced, c1) = Repo::with_file(
        &tmp.path().join("forced"),
        "a.rs",
        &source_file("force_base", 1),
    );
    forced.write("b.rs", &source_file("force_dropped", 1));
    let c2 = forced.commit("two");
    let (doomed, _) = Repo::with_file(
        &tmp.path().join("doomed"),
        "a.rs",
        &source_file("doomed_symbol", 1),
    );
    let (vanishing, _) = Repo::with_file(
        &tmp.path().join("vanishing"),
        "a.rs",
        &source_file("vanishing_base", 1),
    );
    vanishing.git(&["checkout", "-q", "-b", "gone"]);
    vanishing.write("g.rs", &source_file("vanishing_branch", 1));
    let gone_commit = vanishing.commit("on a branch about to disappear");
    vanishing.git(&["checkout", "-q", "main"]);

    // A "remote" that accepts connections and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/hang.git", silent.local_addr().unwrap());
    let held: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
    {
        let held = held.clone();
        std::thread::spawn(move || {
            for stream in silent.incoming().flatten() {
                held.lock().unwrap().push(stream);
            }
        });
    }

    let repo_entry = |name: &str, url: &str, branches: &str| {
        format!(
            "\n[[repos]]\nname = \"{name}\"\nprovider = \"github\"\nurl = \"{url}\"\nbranches = {branches}\nsecret = \"{SECRET}\"\n"
        )
    };
    let config = format!(
        "workers = 2\nmax_attempts = 2\ngit_timeout_secs = 2\n\n[rate_limit]\nper_ip_per_sec = 0\n{}{}{}{}{}",
        repo_entry(
            "unreachable",
            "file:///nonexistent/nowhere.git",
            "[\"main\"]"
        ),
        repo_entry("hang", &silent_url, "[\"main\"]"),
        repo_entry("forced", &forced.url(), "[\"main\"]"),
        repo_entry("doomed", &doomed.url(), "[\"main\"]"),
        repo_entry("vanishing", &vanishing.url(), "[\"*\"]"),
    );
    let gw = Gateway::start(tmp.path(), &config);
    let deliver =
        |repo: &str, delivery: &str, git_ref: &str, before: &str, after: &str, forced: bool| {
            let body = github_push(git_ref, before, after, forced);
            let headers = signed_headers("github", "push", delivery, &body, SECRET);
            let answer = post_webhook(&gw, "github", repo, &headers, &body);
            assert_eq!(answer.status, 202, "{repo}: {}", answer.text());
            answer.json()["job_id"].as_str().unwrap().to_string()
        };

    // Unreachable remote and a fetch that hangs: both fail clearly after max_attempts.
    let unreachable = trigger(&gw, "unreachable");
    let hang = trigger(&gw, "hang");

    // Force push that removes `before`: the index follows the new history.
    let first = deliver("forced", "f-1", "refs/heads/main", ZEROS, &c2, false);
    assert_eq!(gw.wait_finished(&first)["state"], "succeeded");
    forced.git(&["reset", "-q", "--hard", &c1]);
    forced.write("c.rs", &source_file("force_replacement", 1));
    let c3 = forced.commit("rewritten");
    forced.git(&["reflog", "expire", "--expire=now", "--all"]);
    forced.git(&["gc", "-q", "--prune=now"]);
    let rewrite = deliver("forced", "f-2", "refs/heads/main", &c2, &c3, true);

    // Repository deleted upstream after a first successful index.
    let doomed_first = trigger(&gw, "doomed");
    assert_eq!(gw.wait_finished(&doomed_first)["state"], "succeeded");
    std::fs::remove_dir_all(&doomed.dir).unwrap();
    let doomed_second = trigger(&gw, "doomed");

    // A ref that disappears (and its commit with it) before the worker fetches it.
    vanishing.git(&["branch", "-q", "-D", "gone"]);
    vanishing.git(&["reflog", "expire", "--expire=now", "--all"]);
    vanishing.git(&["gc", "-q", "--prune=now"]);
    let vanished = deliver(
        "vanishing",
        "v-1",
        "refs/heads/gone",
        ZEROS,
        &gone_commit,
        false,
    );

    let error = assert_clear_failure(&gw, &unreachable, "unreachable remote");
    assert!(!error.contains("nowhere.git/"), "{error}");
    let error = assert_clear_failure(&gw, &hang, "hanging fetch");
    assert!(
        error.contains("timed out") || error.contains("timeout"),
        "{error}"
    );
    assert_clear_failure(&gw, &doomed_second, "deleted upstream");
    assert_clear_failure(&gw, &vanished, "vanished ref");

    let job = gw.wait_finished(&rewrite);
    assert_eq!(job["state"], "succeeded", "force push: {job}");
    for (query, count, what) in [
        (
            "q=force_dropped&repo=forced",
            0,
            "content of the dropped commit",
        ),
        (
            "q=force_replacement&repo=forced",
            1,
            "the force push's content",
        ),
        (
            "q=doomed_symbol&repo=doomed",
            1,
            "the last good index stays",
        ),
    ] {
        let hits = gw.search_hits(query);
        assert_eq!(hits.len(), count, "{what}: {hits:?}");
    }

    gw.wait_settled();
    assert!(gw.stop().success());
    drop(held);
}

fn start_expecting_failure(data_dir: &Path) -> (std::process::ExitStatus, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_context-gateway"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("GATEWAY_TOKEN", TOKEN)
        .env_remove("CONTEXT_GATEWAY_CONFIG")
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `mount` and says whether it worked (we may not be allowed to).
fn mount(args: &[&str], target: &Path) -> bool {
    Command::new("mount")
        .args(args)
        .arg(target)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn umount(target: &Path) {
    let _ = Command::new("umount").arg("-l").arg(target).status();
}

#[test]
fn an_unusable_data_dir_is_a_clear_error_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    // A data dir that is a file (root ignores permission bits, so this is the portable case).
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let (status, stderr) = start_expecting_failure(&file);
    assert!(!status.success(), "started on a file as data dir: {stderr}");
    assert!(
        stderr.contains("not-a-dir"),
        "the error names the path: {stderr}"
    );

    // A read-only file system.
    let ro = tmp.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    if !mount(&["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"], &ro) {
        println!("skipped the read-only mount: mount -t tmpfs was refused");
        return;
    }
    let (status, stderr) = start_expecting_failure(&ro.join("data"));
    umount(&ro);
    assert!(
        !status.success(),
        "started on a read-only data dir: {stderr}"
    );
    assert!(
        stderr.contains("/ro/data") || stderr.contains("Read-only"),
        "{stderr}"
    );
}

#[test]
fn a_full_disk_fails_jobs_clearly_and_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    if !mount(&["-t", "tmpfs", "-o", "size=24m", "tmpfs"], &disk) {
        println!("skipped: mount -t tmpfs was refused, so a full disk is untested here");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            umount(self.0);
        }
    }
    let _unmount = Unmount(&disk);
    // Incompressible text bigger than the disk: the mirror and the tree do not fit.
    let repo = Repo::new(&tmp.path().join("src"));
    let mut seed = 0x9e3779b97f4a7c15u64;
    for i in 0..40 {
        let mut text = String::with_capacity(1 << 20);
        while text.len() < 900_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            text.push_str(&format!("let v{seed:x} = {};\n", seed % 1000));
        }
        repo.write(&format!("f{i}.rs"), &text);
    }
    let c1 = repo.commit("big");
    let config = config_for(&repo.url(), "github", "max_file_bytes = 2000000");
    let config_path = tmp.path().join("gateway.toml");
    std::fs::write(&config_path, config).unwrap();
    let gw = Gateway::start_with_data(tmp.path(), &config_path, &disk.join("data"));
    let body = github_push("refs/heads/main", ZEROS, &c1, false);
    let headers = signed_headers("github", "push", "full-1", &body, SECRET);
    let answer = post_webhook(&gw, "github", "demo", &headers, &body);
    // With the disk full the store may refuse (503, retry later) — never a false 202.
    assert!(matches!(answer.status, 202 | 503), "{}", answer.text());
    let settled = gw.wait_settled();
    assert!(
        settled["jobs"]["failed"].as_u64().unwrap_or(0) >= 1,
        "{settled}"
    );
    let failed = gw.manage("GET", "/webhooks/jobs?state=failed", b"").json();
    let error = failed["jobs"][0]["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(error.len() > 10, "unclear error: {failed}");
    assert_eq!(gw.request("GET", "/healthz", &[], b"").status, 200);
    let search = gw.manage("GET", "/search?q=anything", b"");
    assert_eq!(
        search.status,
        200,
        "search still answers: {}",
        search.text()
    );
    gw.kill9();
}

#[test]
fn sigterm_finishes_in_flight_requests_and_requeues_running_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, c1) = Repo::with_sources(&tmp.path().join("src"), 1500, 20, "term");
    let gw = Gateway::start(tmp.path(), &config_for(&repo.url(), "github", ""));
    let addr = gw.addr;
    // The catch-up job of main runs; deliveries for main fold into one queued job behind it.
    gw.wait_running_job();
    let answers: Arc<Mutex<Vec<(String, u16, String)>>> = Arc::default();
    // A sender stops once the listener is closed.
    let senders = burst(
        addr,
        3,
        10_000,
        "term",
        {
            let c1 = c1.clone();
            move |_, _| github_push("refs/heads/main", ZEROS, &c1, false)
        },
        {
            let answers = answers.clone();
            move |delivery, answer| {
                let text = answer.text();
                answers
                    .lock()
                    .unwrap()
                    .push((delivery, answer.status, text));
            }
        },
    );
    while answers.lock().unwrap().len() < 30 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let log = gw.log.clone();
    let exit = gw.stop();
    for sender in senders {
        let _ = sender.join();
    }
    assert!(
        exit.success(),
        "{exit:?}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let answers = answers.lock().unwrap().clone();
    // Every request that got in got a whole answer: accepted, or told to come back.
    for (delivery, status, text) in &answers {
        assert!(matches!(status, 202 | 503), "{delivery}: {status} {text}");
    }
    let gw = Gateway::start_with(tmp.path(), &tmp.path().join("gateway.toml"));
    for (delivery, _, text) in answers.iter().filter(|a| a.1 == 202) {
        let job_id = serde_json::from_str::<Value>(text).unwrap()["job_id"]
            .as_str()
            .unwrap()
            .to_string();
        let job = gw.manage("GET", &format!("/webhooks/jobs/{job_id}"), b"");
        assert_eq!(job.status, 200, "{delivery}'s job was lost");
    }
    let settled = gw.wait_settled();
    assert_eq!(settled["jobs"]["failed"], 0, "{settled}");
    assert!(gw.stop().success());
}
