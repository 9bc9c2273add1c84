//! End to end: the periodic reconcile heals what no webhook announced. The real binary on
//! 127.0.0.1, a real upstream git repo over file://, a 1 s reconcile interval, no deliveries.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

fn reconcile_jobs(gw: &Gateway) -> Vec<Value> {
    gw.manage("GET", "/webhooks/jobs", b"").json()["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|job| job["trigger"] == "reconcile")
        .collect()
}

fn search_hits(gw: &Gateway, query: &str) -> usize {
    gw.manage("GET", &format!("/search?q={query}"), b"").json()["hits"]
        .as_array()
        .map_or(0, Vec::len)
}

/// How often the tests look again: reconcile runs every second.
const EVERY: Duration = Duration::from_millis(100);

/// Waits until `query` has at least `count` hits.
fn wait_for_hits(gw: &Gateway, query: &str, count: usize) {
    gw.poll(EVERY, |gw| {
        let found = search_hits(gw, query);
        if found >= count {
            Ok(())
        } else {
            Err(format!("{found} of {count} hits for {query}"))
        }
    });
}

#[test]
fn a_push_and_a_deletion_without_webhooks_are_healed_within_an_interval() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, _) = Repo::with_file(
        &tmp.path().join("src"),
        "a.rs",
        &source_file("alpha_first", 3),
    );
    repo.git(&["branch", "feature"]);
    let config = format!(
        "workers = 2\n\n[rate_limit]\nper_ip_per_sec = 0\n\n[[repos]]\nname = \"demo\"\nprovider = \"github\"\nurl = \"{}\"\nbranches = [\"main\", \"feature\"]\nsecret = \"{SECRET}\"\nreconcile_interval_secs = 1\n",
        repo.url()
    );
    let gw = Gateway::start(tmp.path(), &config);
    // The start-up catch-up indexes both branches.
    wait_for_hits(&gw, "alpha_first", 2);

    // Upstream moves on with no webhook: a new commit on main, feature deleted.
    repo.write("b.rs", &source_file("bravo_missed", 3));
    let second = repo.commit("two");
    repo.git(&["branch", "-D", "feature"]);

    gw.poll(EVERY, |gw| {
        let jobs = reconcile_jobs(gw);
        let done = |git_ref: &str, kind: &str| {
            jobs.iter().any(|job| {
                job["ref"] == git_ref && job["kind"] == kind && job["state"] == "succeeded"
            })
        };
        if done("refs/heads/main", "index") && done("refs/heads/feature", "delete_ref") {
            let main = jobs
                .iter()
                .find(|job| job["ref"] == "refs/heads/main")
                .unwrap();
            assert_eq!(main["commit"], second.as_str(), "{main}");
            return Ok(());
        }
        Err(format!("reconcile never healed: {jobs:?}"))
    });
    assert_eq!(search_hits(&gw, "bravo_missed"), 1);
    // The feature branch's copy of alpha is gone; main's stays.
    assert_eq!(search_hits(&gw, "alpha_first"), 1);
    let log = gw.log_text();
    assert!(log.contains("reconcile found a missed webhook"), "{log}");
    // Once healed, nothing more is missed: the number of reconcile jobs stays put.
    let healed = reconcile_jobs(&gw).len();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(reconcile_jobs(&gw).len(), healed);
    // Both the push and the deletion count as missed webhooks, and nothing else does.
    let metrics = gw.manage("GET", "/metrics", b"").text();
    assert!(
        metrics.contains("context_gateway_missed_webhooks_total{repo=\"demo\"} 2\n"),
        "{metrics}"
    );
    gw.stop();
}

#[test]
fn a_tag_and_an_open_pull_request_head_made_upstream_without_webhooks_are_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, _) = Repo::with_source(&tmp.path().join("src"), "a.rs", "alpha_base", 2);
    let config = format!(
        "workers = 2\n\n[rate_limit]\nper_ip_per_sec = 0\n\n[[repos]]\nname = \"demo\"\nprovider = \"github\"\nurl = \"{}\"\nbranches = [\"main\"]\ntags = [\"v*\"]\npull_requests = true\nsecret = \"{SECRET}\"\nreconcile_interval_secs = 1\n",
        repo.url()
    );
    let gw = Gateway::start(tmp.path(), &config);
    wait_for_hits(&gw, "alpha_base", 1);

    // Upstream, no webhook: an annotated tag on a new commit, and a pull request whose head
    // and merge refs the host keeps (as GitHub does for an open one).
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("t.rs", &source_file("tango_tagged", 2));
    let tagged = repo.commit("tagged");
    repo.git(&["tag", "-a", "v2", "-m", "two"]);
    repo.write("p.rs", &source_file("papa_pull", 2));
    let head = repo.commit("pull request");
    repo.git(&["update-ref", "refs/pull/5/head", &head]);
    repo.git(&["update-ref", "refs/pull/5/merge", &head]);
    repo.git(&["checkout", "-q", "main"]);

    gw.poll(EVERY, |gw| {
        let jobs = reconcile_jobs(gw);
        let done = |git_ref: &str, commit: &str| {
            jobs.iter().any(|job| {
                job["ref"] == git_ref && job["commit"] == commit && job["state"] == "succeeded"
            })
        };
        if done("refs/tags/v2", &tagged) && done("refs/pull/5/head", &head) {
            Ok(())
        } else {
            Err(format!(
                "reconcile never indexed the tag and the pull request: {jobs:?}"
            ))
        }
    });
    assert!(search_hits(&gw, "tango_tagged") >= 1);
    assert_eq!(search_hits(&gw, "papa_pull"), 1);
    let log = gw.log_text();
    assert!(log.contains("refs/tags/v2") && log.contains("reconcile found a missed webhook"));

    // The pull request's refs disappear upstream: its index is dropped.
    repo.git(&["update-ref", "-d", "refs/pull/5/head"]);
    repo.git(&["update-ref", "-d", "refs/pull/5/merge"]);
    gw.poll(EVERY, |gw| {
        let dropped = reconcile_jobs(gw).iter().any(|job| {
            job["ref"] == "refs/pull/5/head"
                && job["kind"] == "delete_ref"
                && job["state"] == "succeeded"
        });
        if dropped {
            Ok(())
        } else {
            Err("the pull request's index was never dropped".to_string())
        }
    });
    assert_eq!(search_hits(&gw, "papa_pull"), 0);
    gw.stop();
}
