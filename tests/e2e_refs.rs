//! End to end: the commit a job records is the one it indexed. Annotated tags and releases
//! record the peeled commit; a Bitbucket Cloud pull request from the same repository is
//! fetched by its source branch, indexed as `refs/pull-requests/N/from` (its 12-character
//! payload hash expanded to the full commit) and dropped when it closes; one from a fork is
//! answered with why it cannot be indexed. Real binary, real git repository, signed bodies.

mod support;

use serde_json::{Value, json};
use support::*;

fn hits(gw: &Gateway, repo: &str, query: &str, git_ref: &str) -> Vec<Value> {
    let body = gw
        .manage(
            "GET",
            &format!("/search?q={query}&ref={git_ref}&repo={repo}"),
            b"",
        )
        .json();
    body["hits"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no hits array: {body}"))
}

/// Posts a signed delivery and returns the answer's status and body, and the finished job
/// when one was queued.
fn deliver(
    gw: &Gateway,
    provider: &str,
    repo: &str,
    event: &str,
    delivery: &str,
    body: &Value,
) -> (u16, Value, Option<Value>) {
    let body = serde_json::to_vec(body).unwrap();
    let headers = signed_headers(provider, event, delivery, &body, SECRET);
    let answer = post_webhook(gw, provider, repo, &headers, &body);
    let json = answer.json();
    let job = (answer.status == 202).then(|| {
        let job = gw.wait_finished(json["job_id"].as_str().expect("a job id"));
        assert_eq!(job["state"], "succeeded", "{delivery}: {job}");
        job
    });
    (answer.status, json, job)
}

/// A Bitbucket Cloud `pullrequest:*` body: pull request 5 from `source_repo`'s `branch` at
/// the 12-character `hash` into `acme/bb`'s main.
fn cloud_pull_request(source_repo: &str, branch: &str, hash: &str) -> Value {
    let repository = json!({"name": "bb", "full_name": "acme/bb",
        "links": {"html": {"href": "https://bitbucket.org/acme/bb"}}});
    json!({"repository": repository, "pullrequest": {"id": 5,
        "source": {"branch": {"name": branch}, "commit": {"hash": hash},
            "repository": {"full_name": source_repo}},
        "destination": {"branch": {"name": "main"}, "commit": {"hash": "0123456789ab"},
            "repository": {"full_name": "acme/bb"}}}})
}

#[test]
fn tags_releases_and_pull_requests_record_the_commit_they_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, _) = Repo::with_source(&tmp.path().join("src"), "main.rs", "on_main", 3);
    repo.write("tagged.rs", &source_file("in_the_annotated_tag", 3));
    let tagged = repo.commit("for the tag");
    repo.git(&["tag", "-a", "v1", "-m", "an annotated tag"]);
    let tag_object = repo.git(&["rev-parse", "v1"]);
    assert_ne!(tag_object, tagged);
    repo.git(&["checkout", "-q", "-b", "feature/login", "main~1"]);
    repo.write("login.rs", &source_file("only_in_the_pull_request", 3));
    let head1 = repo.commit("login, first try");
    repo.git(&["checkout", "-q", "main"]);
    let url = repo.url();
    let config = format!(
        "workers = 2\nmax_attempts = 1\n\n[rate_limit]\nper_ip_per_sec = 0\n\n\
         [[repos]]\nname = \"hub\"\nprovider = \"github\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\ntags = true\n\n\
         [[repos]]\nname = \"bb\"\nprovider = \"bitbucket\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\npull_requests = true\n"
    );
    let gw = Gateway::start(tmp.path(), &config);
    gw.wait_settled();

    // A GitHub push of the annotated tag whose `after` is the tag object: the job records
    // and indexes the commit it points to, and so do the hits.
    let push = json!({"ref": "refs/tags/v1", "before": ZEROS, "after": tag_object,
        "created": true, "deleted": false, "forced": false,
        "repository": {"name": "hub", "full_name": "acme/hub", "clone_url": url},
        "commits": [], "head_commit": null});
    let (status, body, job) = deliver(&gw, "github", "hub", "push", "tag-v1", &push);
    assert_eq!(status, 202, "{body}");
    let job = job.unwrap();
    assert_eq!(job["commit"], tagged.as_str(), "{job}");
    assert!(job.get("note").is_none(), "{job}");
    let found = hits(&gw, "hub", "in_the_annotated_tag", "refs/tags/v1");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["commit"], tagged.as_str());

    // A release (the sample carries made-up ids, so the job resolves the tag): the commit is
    // recorded too.
    let answer = gw.manage(
        "POST",
        "/webhooks/test/github?repo=hub&event=release&ref=refs/tags/v1",
        b"",
    );
    let job = gw.succeeded(&answer);
    assert_eq!(job["commit"], tagged.as_str(), "{job}");

    // A Bitbucket Cloud pull request from a branch of the same repository.
    let from = "refs/pull-requests/5/from";
    let opened = cloud_pull_request("acme/bb", "feature/login", &head1[..12]);
    let (status, body, job) = deliver(
        &gw,
        "bitbucket",
        "bb",
        "pullrequest:created",
        "pr-1",
        &opened,
    );
    assert_eq!(status, 202, "{body}");
    let job = job.unwrap();
    assert_eq!(job["ref"], from, "{job}");
    assert_eq!(job["fetch_ref"], "refs/heads/feature/login", "{job}");
    assert_eq!(job["commit"], head1.as_str(), "{job}");
    let found = hits(&gw, "bb", "only_in_the_pull_request", from);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["commit"], head1.as_str());
    // The branch itself is not indexed under its own name: only the pull request is.
    assert!(
        hits(
            &gw,
            "bb",
            "only_in_the_pull_request",
            "refs/heads/feature/login"
        )
        .is_empty()
    );

    // New commits on the source branch: `pullrequest:updated` indexes the new head.
    repo.git(&["checkout", "-q", "feature/login"]);
    repo.write(
        "login.rs",
        &source_file("second_try_of_the_pull_request", 3),
    );
    let head2 = repo.commit("login, second try");
    repo.git(&["checkout", "-q", "main"]);
    let updated = cloud_pull_request("acme/bb", "feature/login", &head2[..12]);
    let (status, body, job) = deliver(
        &gw,
        "bitbucket",
        "bb",
        "pullrequest:updated",
        "pr-2",
        &updated,
    );
    assert_eq!(status, 202, "{body}");
    assert_eq!(job.unwrap()["commit"], head2.as_str());
    assert!(hits(&gw, "bb", "only_in_the_pull_request", from).is_empty());
    assert_eq!(
        hits(&gw, "bb", "second_try_of_the_pull_request", from).len(),
        1
    );

    // Merged: the pull request's index and its ref in the mirror are dropped.
    let (status, body, _) = deliver(
        &gw,
        "bitbucket",
        "bb",
        "pullrequest:fulfilled",
        "pr-3",
        &updated,
    );
    assert_eq!(status, 202, "{body}");
    assert!(hits(&gw, "bb", "second_try_of_the_pull_request", from).is_empty());
    let mirror_refs = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(gw.data_dir.join("mirrors/bb.git"))
        .args(["for-each-ref", "--format=%(refname)"])
        .output()
        .unwrap();
    let mirror_refs = String::from_utf8_lossy(&mirror_refs.stdout).into_owned();
    assert!(!mirror_refs.contains(from), "{mirror_refs}");

    // From a fork: Bitbucket Cloud keeps no pull request ref, so nothing can be fetched.
    let fork = cloud_pull_request("someone/bb-fork", "feature/login", &head2[..12]);
    let (status, body, _) = deliver(&gw, "bitbucket", "bb", "pullrequest:created", "pr-4", &fork);
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ignored")),
        "{body}"
    );
    assert!(
        body["reason"].as_str().unwrap().contains("lives in a fork"),
        "{body}"
    );
}
