//! End to end: the real binary on 127.0.0.1, real git repositories served over file://, a real
//! HTTP client, signed deliveries for every provider.

mod support;

use serde_json::Value;
use support::*;

fn search(gw: &Gateway, query: &str, extra: &str) -> Vec<Value> {
    gw.search_hits(&format!("q={}{extra}", query.replace(' ', "%20")))
}

fn push(
    gw: &Gateway,
    delivery: &str,
    git_ref: &str,
    before: &str,
    after: &str,
    forced: bool,
) -> support::Response {
    let body = github_push(git_ref, before, after, forced);
    let headers = signed_headers("github", "push", delivery, &body, SECRET);
    post_webhook(gw, "github", "demo", &headers, &body)
}

#[test]
fn push_is_indexed_incrementally_with_exact_counts_and_becomes_searchable() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(&tmp.path().join("src"));
    repo.write("a.rs", &source_file("alpha_original", 3));
    repo.write("b.rs", &source_file("bravo_doomed", 3));
    repo.write("c.rs", &source_file("charlie_stays", 3));
    let c1 = repo.commit("one");
    let gw = Gateway::start(tmp.path(), &config_for(&repo.url(), "github", ""));
    gw.wait_settled();
    assert_eq!(
        search(&gw, "bravo_doomed", "").len(),
        1,
        "the start-up catch-up job indexed the tip"
    );

    repo.write("a.rs", &source_file("alpha_rewritten", 3));
    std::fs::remove_file(repo.dir.join("b.rs")).unwrap();
    repo.write("d.rs", &source_file("delta_added", 3));
    let c2 = repo.commit("two");
    let answer = push(&gw, "delivery-1", "refs/heads/main", &c1, &c2, false);
    assert_eq!(answer.status, 202, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["status"], "queued");
    assert_eq!(body["delivery_id"], "delivery-1");
    let job = gw.wait_finished(body["job_id"].as_str().unwrap());
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["commit"], c2.as_str());
    assert_eq!(job["trigger"], "webhook");
    assert_eq!(job["provider"], "github");
    assert_eq!(job["progress"]["files_changed"], 2, "{job}");
    assert_eq!(job["progress"]["files_deleted"], 1, "{job}");

    let hits = search(&gw, "delta_added", "");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["path"], "d.rs");
    assert_eq!(hits[0]["repo"], "demo");
    assert_eq!(hits[0]["ref"], "refs/heads/main");
    assert_eq!(hits[0]["commit"], c2.as_str());
    assert!(
        search(&gw, "bravo_doomed", "").is_empty(),
        "deleted file no longer matches"
    );
    assert!(
        search(&gw, "alpha_original", "").is_empty(),
        "changed content no longer matches"
    );
    assert_eq!(search(&gw, "alpha_rewritten", "").len(), 1);

    // A redelivery (same delivery id) is recognised and creates nothing.
    let again = push(&gw, "delivery-1", "refs/heads/main", &c1, &c2, false);
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["status"], "duplicate");
    assert_eq!(again.json()["job_id"], body["job_id"]);

    let exit = gw.stop();
    assert!(exit.success(), "SIGTERM ends with exit 0, got {exit:?}");
}

#[test]
fn force_push_and_branch_deletion() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, c1) = Repo::with_file(
        &tmp.path().join("src"),
        "main.rs",
        &source_file("base_function", 2),
    );
    let gw = Gateway::start(
        tmp.path(),
        &config_for(&repo.url(), "github", "").replace(
            "branches = [\"main\"]",
            "branches = [\"main\", \"feature\"]",
        ),
    );
    gw.wait_settled();

    // main moves to c2, then is force-pushed to c3, which drops c2's content.
    repo.write("gone.rs", &source_file("rewritten_history", 2));
    let c2 = repo.commit("soon gone");
    let job = push(&gw, "fp-1", "refs/heads/main", &c1, &c2, false).json();
    assert_eq!(
        gw.wait_finished(job["job_id"].as_str().unwrap())["state"],
        "succeeded"
    );
    assert_eq!(search(&gw, "rewritten_history", "").len(), 1);
    repo.git(&["reset", "-q", "--hard", &c1]);
    repo.write("new.rs", &source_file("after_force_push", 2));
    let c3 = repo.commit("replacement");
    repo.git(&["reflog", "expire", "--expire=now", "--all"]);
    repo.git(&["gc", "-q", "--prune=now"]);
    let answer = push(&gw, "fp-2", "refs/heads/main", &c2, &c3, true);
    gw.succeeded(&answer);
    assert!(search(&gw, "rewritten_history", "").is_empty());
    assert_eq!(search(&gw, "after_force_push", "").len(), 1);

    // A feature branch is created, indexed, then deleted: its content leaves the index.
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("feature.rs", &source_file("feature_only_symbol", 2));
    let f1 = repo.commit("feature work");
    let job = push(&gw, "br-1", "refs/heads/feature", ZEROS, &f1, false).json();
    assert_eq!(
        gw.wait_finished(job["job_id"].as_str().unwrap())["state"],
        "succeeded"
    );
    let hits = search(&gw, "feature_only_symbol", "&ref=refs/heads/feature");
    assert_eq!(hits.len(), 1);
    assert!(
        search(&gw, "feature_only_symbol", "&ref=refs/heads/main").is_empty(),
        "ref filter holds"
    );
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["branch", "-q", "-D", "feature"]);
    let answer = push(&gw, "br-2", "refs/heads/feature", &f1, ZEROS, false);
    let job = gw.succeeded(&answer);
    assert_eq!(job["kind"], "delete_ref");
    assert!(
        search(&gw, "feature_only_symbol", "").is_empty(),
        "deleted branch is gone from search"
    );
    assert_eq!(
        search(&gw, "after_force_push", "").len(),
        1,
        "main is untouched"
    );
}

#[test]
fn bad_deliveries_get_the_right_status_and_create_no_job() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, c1) = Repo::with_file(&tmp.path().join("src"), "x.rs", "fn x() {}\n");
    let gw = Gateway::start(tmp.path(), &config_for(&repo.url(), "github", ""));
    gw.wait_settled();
    let jobs_before = gw.manage("GET", "/webhooks/jobs", b"").json()["jobs"]
        .as_array()
        .unwrap()
        .len();

    let body = github_push("refs/heads/main", &c1, &c1, false);
    // Wrong secret.
    let headers = signed_headers("github", "push", "bad-1", &body, "not-the-secret");
    let answer = post_webhook(&gw, "github", "demo", &headers, &body);
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["error"]["code"], "invalid_signature");
    // Missing signature.
    let unsigned = vec![
        ("X-GitHub-Event".to_string(), "push".to_string()),
        ("X-GitHub-Delivery".into(), "bad-2".into()),
    ];
    let answer = post_webhook(&gw, "github", "demo", &unsigned, &body);
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["error"]["code"], "missing_signature");
    // Signature for another body.
    let other = github_push("refs/heads/main", &c1, &c1, true);
    let headers = signed_headers("github", "push", "bad-3", &other, SECRET);
    assert_eq!(
        post_webhook(&gw, "github", "demo", &headers, &body).status,
        401
    );
    // Unknown repo and unknown provider.
    let headers = signed_headers("github", "push", "bad-4", &body, SECRET);
    assert_eq!(
        post_webhook(&gw, "github", "nope", &headers, &body).status,
        404
    );
    assert_eq!(
        post_webhook(&gw, "gitbub", "demo", &headers, &body).status,
        404
    );
    // Signed but not JSON.
    let junk = b"{not json".to_vec();
    let headers = signed_headers("github", "push", "bad-5", &junk, SECRET);
    let answer = post_webhook(&gw, "github", "demo", &headers, &junk);
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(answer.json()["error"]["message"].as_str().unwrap().len() > 5);
    // A ref that tries to become a git option.
    let evil = github_push("--upload-pack=touch /tmp/pwned", &c1, &c1, false);
    let headers = signed_headers("github", "push", "bad-6", &evil, SECRET);
    let answer = post_webhook(&gw, "github", "demo", &headers, &evil);
    assert!(
        answer.status == 400 || answer.status == 200,
        "{}",
        answer.text()
    );
    // 26 MiB: over the 25 MiB default limit.
    let huge = vec![b' '; 26 * 1024 * 1024];
    let headers = signed_headers("github", "push", "bad-7", b"{}", SECRET);
    let answer = post_webhook(&gw, "github", "demo", &headers, &huge);
    assert_eq!(answer.status, 413);
    assert_eq!(answer.json()["error"]["code"], "payload_too_large");
    // Ping and unconfigured branches are answered 200 ignored.
    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1,"repository":{"name":"demo","full_name":"acme/demo"}}"#;
    let headers = signed_headers("github", "ping", "ping-1", ping, SECRET);
    let answer = post_webhook(&gw, "github", "demo", &headers, ping);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["status"], "ignored");
    let other_branch = github_push("refs/heads/unconfigured", &c1, &c1, false);
    let headers = signed_headers("github", "push", "bad-8", &other_branch, SECRET);
    let answer = post_webhook(&gw, "github", "demo", &headers, &other_branch);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["status"], "ignored");

    let jobs_after = gw.manage("GET", "/webhooks/jobs", b"").json()["jobs"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(jobs_before, jobs_after, "no bad delivery created a job");
    assert_eq!(
        gw.request("GET", "/healthz", &[], b"").status,
        200,
        "still up"
    );

    // Management needs the token; errors never echo secrets.
    assert_eq!(gw.request("GET", "/webhooks/jobs", &[], b"").status, 401);
    assert_eq!(
        gw.request(
            "GET",
            "/webhooks/jobs",
            &[("Authorization", "Bearer wrong")],
            b""
        )
        .status,
        401
    );
    let config = gw.manage("GET", "/webhooks/config", b"").text();
    assert!(
        !config.contains(SECRET) && !config.contains("old-rotated-secret"),
        "{config}"
    );
    let metrics = gw.manage("GET", "/metrics", b"").text();
    assert!(
        metrics.contains("outcome=\"refused\",cause=\"invalid_signature\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("context_gateway_jobs{state=\"succeeded\"}"),
        "{metrics}"
    );
    let log = gw.log_text();
    assert!(
        !log.contains(SECRET) && !log.contains(TOKEN),
        "a secret reached the log"
    );
    // Every log line is one JSON object, the access lines among them, each naming its
    // request's span, route template and error code.
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let rejected = lines
        .iter()
        .find(|line| line["message"] == "answered" && line["error"] == "invalid_signature")
        .unwrap_or_else(|| panic!("no access line for the bad signature:\n{log}"));
    assert_eq!(rejected["status"], 401, "{rejected}");
    assert_eq!(rejected["method"], "POST", "{rejected}");
    assert_eq!(
        rejected["route"], "/webhooks/{provider}/{repo}",
        "{rejected}"
    );
    assert_eq!(rejected["target"], "context_gateway::http::router");
    assert!(
        rejected["span"]["id"].as_str().unwrap().starts_with("req-"),
        "{rejected}"
    );
    assert!(rejected["elapsed_us"].is_u64(), "{rejected}");
}

#[test]
fn every_provider_delivers_a_signed_push() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, c1) = Repo::with_file(
        &tmp.path().join("src"),
        "lib.rs",
        &source_file("shared_base", 1),
    );
    let url = repo.url();
    let mut config = String::from("workers = 2\n[rate_limit]\nper_ip_per_sec = 0\n");
    for provider in ["github", "gitlab", "gitea", "bitbucket", "azure-devops"] {
        let secret = if provider == "azure-devops" {
            format!("bot:{SECRET}")
        } else {
            SECRET.to_string()
        };
        config.push_str(&format!(
            "\n[[repos]]\nname = \"r-{provider}\"\nprovider = \"{provider}\"\nurl = \"{url}\"\nbranches = [\"main\"]\nsecret = \"{secret}\"\n"
        ));
    }
    let gw = Gateway::start(tmp.path(), &config);
    gw.wait_settled();
    repo.write("lib.rs", &source_file("provider_pushed", 1));
    let c2 = repo.commit("next");
    let payloads: Vec<(&str, &str, Value)> = vec![
        (
            "github",
            "push",
            serde_json::from_slice(&github_push("refs/heads/main", &c1, &c2, false)).unwrap(),
        ),
        (
            "gitea",
            "push",
            serde_json::from_slice(&github_push("refs/heads/main", &c1, &c2, false)).unwrap(),
        ),
        (
            "gitlab",
            "Push Hook",
            serde_json::json!({
                "object_kind": "push", "ref": "refs/heads/main", "before": c1, "after": c2, "checkout_sha": c2,
                "project": {"name": "demo", "path_with_namespace": "acme/demo", "git_http_url": url},
                "commits": [{"id": c2, "added": [], "modified": ["lib.rs"], "removed": []}], "total_commits_count": 1
            }),
        ),
        (
            "bitbucket",
            "repo:push",
            serde_json::json!({
                "push": {"changes": [{"new": {"type": "branch", "name": "main", "target": {"hash": c2}},
                                      "old": {"type": "branch", "name": "main", "target": {"hash": c1}},
                                      "created": false, "closed": false, "forced": false}]},
                "repository": {"name": "demo", "full_name": "acme/demo"}
            }),
        ),
        (
            "azure-devops",
            "git.push",
            serde_json::json!({
                "id": "az-delivery-1", "eventType": "git.push",
                "resource": {"refUpdates": [{"name": "refs/heads/main", "oldObjectId": c1, "newObjectId": c2}],
                             "repository": {"name": "demo", "remoteUrl": url}}
            }),
        ),
    ];
    for (provider, event, body) in payloads {
        let body = serde_json::to_vec(&body).unwrap();
        let secret = if provider == "azure-devops" {
            format!("bot:{SECRET}")
        } else {
            SECRET.to_string()
        };
        let headers = signed_headers(provider, event, &format!("{provider}-d1"), &body, &secret);
        let answer = post_webhook(&gw, provider, &format!("r-{provider}"), &headers, &body);
        assert_eq!(answer.status, 202, "{provider}: {}", answer.text());
        let job = gw.wait_finished(answer.json()["job_id"].as_str().unwrap());
        assert_eq!(job["state"], "succeeded", "{provider}: {job}");
        assert_eq!(job["commit"], c2.as_str(), "{provider}");
        assert_eq!(job["progress"]["files_changed"], 1, "{provider}: {job}");
        let hits = search(&gw, "provider_pushed", &format!("&repo=r-{provider}"));
        assert_eq!(hits.len(), 1, "{provider}");
        // Wrong credentials are refused for every provider.
        let bad = signed_headers(
            provider,
            event,
            &format!("{provider}-bad"),
            &body,
            if provider == "azure-devops" {
                "bot:nope"
            } else {
                "nope"
            },
        );
        assert_eq!(
            post_webhook(&gw, provider, &format!("r-{provider}"), &bad, &body).status,
            401,
            "{provider}"
        );
    }
    // The test endpoint pushes a signed sample through the real pipeline.
    let answer = gw.manage("POST", "/webhooks/test/gitlab", b"");
    assert_eq!(answer.status, 202, "{}", answer.text());
    let job = gw.wait_finished(answer.json()["job_id"].as_str().unwrap());
    assert_eq!(job["trigger"], "test");
    assert_eq!(job["state"], "succeeded", "{job}");
}

#[test]
fn trigger_cancel_and_cleanup() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(&tmp.path().join("src"));
    for i in 0..10 {
        repo.write(&format!("f{i}.rs"), &source_file(&format!("file_{i}"), 5));
    }
    repo.commit("many");
    // A git server that accepts connections and never answers: a fetch from it hangs.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/hang.git", silent.local_addr().unwrap());
    let config = format!(
        "workers = 1\ngit_timeout_secs = 600\n\n[[repos]]\nname = \"hang\"\nprovider = \"github\"\nurl = \"{silent_url}\"\nsecret = \"{SECRET}\"\n\n[[repos]]\nname = \"demo\"\nprovider = \"github\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\n",
        repo.url()
    );
    let gw = Gateway::start(tmp.path(), &config);

    // The start-up catch-up jobs: `hang` runs (its fetch hangs), `demo` waits for the one worker.
    let (running, queued) = gw.one_running_one_queued();
    assert_eq!(running["repo"], "hang", "jobs are claimed oldest first");
    assert_eq!(queued["repo"], "demo");

    // Cancel the queued job: it never runs.
    let queued_id = queued["id"].as_str().unwrap();
    let answer = gw.manage("DELETE", &format!("/webhooks/jobs/{queued_id}"), b"");
    assert_eq!(answer.status, 200, "{}", answer.text());
    let job = gw.wait_finished(queued_id);
    assert_eq!(job["state"], "cancelled");
    assert!(
        job["started_at"].is_null(),
        "a cancelled queued job never starts: {job}"
    );
    // Cancel the running job: its hung fetch is abandoned and it ends cancelled.
    let running_id = running["id"].as_str().unwrap();
    assert_eq!(
        gw.manage("DELETE", &format!("/webhooks/jobs/{running_id}"), b"")
            .status,
        200
    );
    assert_eq!(gw.wait_finished(running_id)["state"], "cancelled");
    // Cancelling a finished job is a conflict; an unknown one is 404.
    assert_eq!(
        gw.manage("DELETE", &format!("/webhooks/jobs/{running_id}"), b"")
            .status,
        409
    );
    assert_eq!(
        gw.manage("DELETE", "/webhooks/jobs/does-not-exist", b"")
            .status,
        404
    );

    // Manual triggers.
    let job = gw.trigger_and_wait("demo", br#"{"ref":"refs/heads/main","full":true}"#);
    assert_eq!(job["trigger"], "manual");
    assert_eq!(job["progress"]["files_changed"], 10, "{job}");
    let again = gw.manage("POST", "/webhooks/trigger/demo", b"").json();
    assert_eq!(
        gw.wait_finished(again["job_id"].as_str().unwrap())["state"],
        "succeeded"
    );
    assert_eq!(gw.manage("POST", "/webhooks/trigger/nope", b"").status, 404);
    assert_eq!(
        gw.manage("POST", "/webhooks/trigger/demo", b"{bad").status,
        400
    );

    // Listing with filters and cursor pagination.
    let page = gw
        .manage("GET", "/webhooks/jobs?state=cancelled&limit=1", b"")
        .json();
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("two cancelled jobs: a next page");
    let next = gw
        .manage(
            "GET",
            &format!("/webhooks/jobs?state=cancelled&limit=1&cursor={cursor}"),
            b"",
        )
        .json();
    assert_eq!(next["jobs"].as_array().unwrap().len(), 1);
    assert_ne!(next["jobs"][0]["id"], page["jobs"][0]["id"]);
    let demo_only = gw.manage("GET", "/webhooks/jobs?repo=demo", b"").json();
    assert!(
        demo_only["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["repo"] == "demo")
    );
    assert_eq!(
        gw.manage("GET", "/webhooks/jobs?state=bogus", b"").status,
        400
    );

    // Cleanup of everything finished.
    let removed = gw
        .manage("POST", "/webhooks/cleanup?older_than=0", b"")
        .json();
    assert_eq!(removed["removed"], 4, "{removed}");
    let remaining = gw.manage("GET", "/webhooks/jobs", b"").json();
    assert!(
        remaining["jobs"].as_array().unwrap().is_empty(),
        "{remaining}"
    );
    assert_eq!(gw.request("GET", "/readyz", &[], b"").status, 200);
    drop(silent);
}

#[test]
fn only_failures_are_rate_limited_and_signed_deliveries_never_are() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, c1) = Repo::with_file(&tmp.path().join("src"), "x.rs", "fn x() {}\n");
    let config = config_for(&repo.url(), "github", "").replace(
        "[rate_limit]\nper_ip_per_sec = 0",
        "[rate_limit]\nper_ip_per_sec = 0.5\nper_ip_burst = 3",
    );
    let gw = Gateway::start(tmp.path(), &config);
    let body = github_push("refs/heads/main", &c1, &c1, false);
    // Unsigned deliveries: three 401s, then 429 with Retry-After.
    let mut statuses = Vec::new();
    for i in 0..6 {
        let mut headers = signed_headers("github", "push", &format!("bad-{i}"), &body, "wrong");
        headers.retain(|(k, _)| !k.starts_with("X-Hub-Signature"));
        let answer = post_webhook(&gw, "github", "demo", &headers, &body);
        if answer.status == 429 {
            let wait: u64 = answer.header("Retry-After").unwrap().parse().unwrap();
            assert!(wait >= 1);
        }
        statuses.push(answer.status);
    }
    assert_eq!(&statuses[..3], &[401, 401, 401], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    // Unknown repos are charged to the same budget.
    let unknown = post_webhook(&gw, "github", "nope", &[], b"{}");
    assert_eq!(unknown.status, 429);
    // The same address with valid signatures: every one accepted.
    for i in 0..6 {
        let headers = signed_headers("github", "push", &format!("ok-{i}"), &body, SECRET);
        let answer = post_webhook(&gw, "github", "demo", &headers, &body);
        assert!(
            answer.status == 202 || answer.status == 200,
            "{} {}",
            answer.status,
            answer.text()
        );
    }
}

#[test]
fn pull_requests_and_tags_are_indexed_when_configured() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, _) = Repo::with_file(
        &tmp.path().join("src"),
        "lib.rs",
        &source_file("mainline_code", 1),
    );
    let gw = Gateway::start(
        tmp.path(),
        &config_for(&repo.url(), "github", "pull_requests = true\ntags = true"),
    );
    gw.wait_settled();

    // A pull request head lives under refs/pull/N/head on the host.
    repo.git(&["checkout", "-q", "-b", "topic"]);
    repo.write("pr.rs", &source_file("pull_request_only", 1));
    let head = repo.commit("pr work");
    repo.git(&["update-ref", "refs/pull/7/head", &head]);
    repo.git(&["checkout", "-q", "main"]);
    let pr = |action: &str, merged: bool| {
        serde_json::to_vec(&serde_json::json!({
            "action": action, "number": 7,
            "pull_request": {"number": 7, "merged": merged, "state": if action == "closed" { "closed" } else { "open" },
                             "head": {"sha": head, "ref": "topic"}, "base": {"ref": "main", "sha": head}},
            "repository": {"name": "demo", "full_name": "acme/demo"}
        }))
        .unwrap()
    };
    let body = pr("opened", false);
    let answer = gw.github_delivery("pull_request", "pr-1", &body);
    let job = gw.succeeded(&answer);
    assert_eq!(job["ref"], "refs/pull/7/head");
    let hits = search(&gw, "pull_request_only", "");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["ref"], "refs/pull/7/head");
    // A label change is not a code change.
    let body = pr("labeled", false);
    let answer = gw.github_delivery("pull_request", "pr-2", &body);
    assert_eq!(answer.json()["status"], "ignored", "{}", answer.text());
    // Closing drops the head's index.
    let body = pr("closed", true);
    let answer = gw.github_delivery("pull_request", "pr-3", &body);
    gw.succeeded(&answer);
    assert!(search(&gw, "pull_request_only", "").is_empty());

    // Tag pushes are indexed under refs/tags/*.
    repo.git(&["tag", "v1.0.0"]);
    let tagged = repo.head();
    let body = github_push("refs/tags/v1.0.0", ZEROS, &tagged, false);
    let answer = gw.github_delivery("push", "tag-1", &body);
    gw.succeeded(&answer);
    let hits = search(&gw, "mainline_code", "&ref=refs/tags/v1.0.0");
    assert_eq!(hits.len(), 1);
}

#[test]
fn local_path_repos_record_their_commit_only_when_in_git() {
    let tmp = tempfile::tempdir().unwrap();
    // A path inside a git work tree (a subdirectory, as git itself finds it) and a plain one.
    let (repo, head) =
        Repo::with_source(&tmp.path().join("checkout"), "pkg/lib.rs", "in_git_tree", 3);
    let plain = tmp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(plain.join("lib.rs"), source_file("plain_tree", 3)).unwrap();
    let config = format!(
        "workers = 1\n\n[[repos]]\nname = \"ingit\"\nprovider = \"github\"\npath = \"{}\"\nsecret = \"{SECRET}\"\n\n[[repos]]\nname = \"plain\"\nprovider = \"github\"\npath = \"{}\"\nsecret = \"{SECRET}\"\n",
        repo.dir.join("pkg").display(),
        plain.display()
    );
    let gw = Gateway::start(tmp.path(), &config);
    gw.wait_settled();
    for (name, ident, commit) in [
        ("ingit", "in_git_tree", Value::from(head.as_str())),
        ("plain", "plain_tree", Value::Null),
    ] {
        gw.trigger_and_wait(name, b"");
        let hits = search(&gw, ident, &format!("&repo={name}"));
        assert!(!hits.is_empty(), "{name} not searchable");
        assert_eq!(hits[0]["commit"], commit, "{name}: {}", hits[0]);
    }
}
