//! End to end: `POST /webhooks/test/{provider}?event=…` sends a signed sample of each event
//! kind through the real verify → parse → plan → job path, against real git repositories
//! with a real annotated tag and real pull-request refs (GitHub's `refs/pull/N/head`, Azure
//! DevOps' `refs/pull/N/merge`).

mod support;

use serde_json::Value;
use support::*;

fn hits(gw: &Gateway, query: &str, git_ref: &str) -> Vec<Value> {
    gw.search_hits(&format!("q={query}&ref={git_ref}"))
}

/// Sends a sample and, when it queued a job, waits for that job to finish.
fn sample(gw: &Gateway, provider: &str, query: &str) -> (u16, Value, Option<Value>) {
    let answer = gw.manage("POST", &format!("/webhooks/test/{provider}?{query}"), b"");
    let body = answer.json();
    let job = (answer.status == 202).then(|| {
        let job = gw.wait_finished(body["job_id"].as_str().expect("a job id"));
        assert_eq!(job["state"], "succeeded", "{provider} {query}: {job}");
        assert_eq!(job["trigger"], "test", "{job}");
        job
    });
    (answer.status, body, job)
}

#[test]
fn samples_of_every_kind_reach_real_tags_and_pull_request_refs() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, _) = Repo::with_file(
        &tmp.path().join("src"),
        "main.rs",
        &source_file("on_the_main_branch", 5),
    );
    repo.write("tagged.rs", &source_file("only_in_the_annotated_tag", 5));
    repo.commit("for the tag");
    repo.git(&["tag", "-a", "v1", "-m", "an annotated tag"]);
    repo.git(&["checkout", "-q", "-b", "feature", "main~1"]);
    repo.write("feature.rs", &source_file("only_in_pull_request_seven", 5));
    let pr_head = repo.commit("feature");
    // What GitHub keeps for pull request 7, and what Azure DevOps keeps for pull request 3.
    repo.git(&["update-ref", "refs/pull/7/head", &pr_head]);
    repo.git(&["update-ref", "refs/pull/3/merge", &pr_head]);
    repo.git(&["checkout", "-q", "main"]);
    let url = repo.url();
    let config = format!(
        "workers = 2\nmax_attempts = 1\n\n[rate_limit]\nper_ip_per_sec = 0\n\n\
         [[repos]]\nname = \"hub\"\nprovider = \"github\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\ntags = true\npull_requests = true\n\n\
         [[repos]]\nname = \"az\"\nprovider = \"azure-devops\"\nurl = \"{url}\"\nsecret = \"bot:{SECRET}\"\npull_requests = true\n\n\
         [[repos]]\nname = \"lab\"\nprovider = \"gitlab\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\ntags = true\n\n\
         [[repos]]\nname = \"bb\"\nprovider = \"bitbucket\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\npull_requests = true\n"
    );
    let gw = Gateway::start(tmp.path(), &config);
    gw.wait_settled();

    // An annotated tag: the job fetches it and its tree becomes searchable under the tag.
    let (status, body, job) = sample(&gw, "github", "repo=hub&event=tag_push&ref=v1");
    assert_eq!(status, 202, "{body}");
    assert_eq!(job.unwrap()["ref"], "refs/tags/v1");
    assert_eq!(
        hits(&gw, "only_in_the_annotated_tag", "refs/tags/v1").len(),
        1
    );
    // A real GitLab Tag Push Hook for the annotated tag: `after` is the tag object, the
    // job records and indexes the commit `checkout_sha` names.
    let tag_object = repo.git(&["rev-parse", "v1"]);
    let tagged = repo.git(&["rev-parse", "v1^{commit}"]);
    assert_ne!(tag_object, tagged);
    let push = serde_json::json!({"object_kind": "tag_push", "ref": "refs/tags/v1",
        "before": ZEROS, "after": tag_object, "checkout_sha": tagged,
        "project": {"name": "lab", "path_with_namespace": "test/lab", "git_http_url": url},
        "commits": [], "total_commits_count": 0});
    let push = serde_json::to_vec(&push).unwrap();
    let headers = signed_headers("gitlab", "Tag Push Hook", "tag-v1", &push, SECRET);
    let answer = post_webhook(&gw, "gitlab", "lab", &headers, &push);
    let job = gw.succeeded(&answer);
    assert_eq!(job["commit"], tagged.as_str(), "{job}");
    let hit = &hits(&gw, "only_in_the_annotated_tag", "refs/tags/v1&repo=lab")[0];
    assert_eq!(hit["commit"], tagged.as_str(), "{hit}");

    let (status, body, _) = sample(&gw, "github", "repo=hub&event=release&ref=refs/tags/v1");
    assert_eq!(status, 202, "{body}");

    // A pull request: opened indexes its head ref, closed drops it.
    let (status, body, job) = sample(&gw, "github", "repo=hub&event=pull_request&number=7");
    assert_eq!(status, 202, "{body}");
    assert_eq!(job.unwrap()["ref"], "refs/pull/7/head");
    assert_eq!(
        hits(&gw, "only_in_pull_request_seven", "refs/pull/7/head").len(),
        1
    );
    let (status, body, _) = sample(&gw, "github", "repo=hub&event=pull_request_closed&number=7");
    assert_eq!(status, 202, "{body}");
    assert!(hits(&gw, "only_in_pull_request_seven", "refs/pull/7/head").is_empty());

    // Azure DevOps keeps the preview merge under refs/pull/N/merge: indexed, then dropped.
    let (status, body, job) = sample(&gw, "azure-devops", "repo=az&event=pull_request&number=3");
    assert_eq!(status, 202, "{body}");
    assert_eq!(job.unwrap()["ref"], "refs/pull/3/merge");
    assert_eq!(
        hits(&gw, "only_in_pull_request_seven", "refs/pull/3/merge").len(),
        1
    );
    let (status, body, _) = sample(
        &gw,
        "azure-devops",
        "repo=az&event=pull_request_closed&number=3",
    );
    assert_eq!(status, 202, "{body}");
    assert!(hits(&gw, "only_in_pull_request_seven", "refs/pull/3/merge").is_empty());

    // A ping is answered, and nothing is queued for it.
    let (status, body, _) = sample(&gw, "github", "repo=hub&event=ping");
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ignored")),
        "{body}"
    );
    let (status, body, _) = sample(&gw, "bitbucket", "repo=bb&event=ping");
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ignored")),
        "{body}"
    );
    // Tags are off for this repo: the answer says so instead of queueing.
    let (status, body, _) = sample(&gw, "azure-devops", "repo=az&event=tag_push&ref=v1");
    assert_eq!(status, 200, "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("not configured"),
        "{body}"
    );

    // Mistakes are 400s that name what is wrong.
    let (status, body, _) = sample(&gw, "github", "repo=hub&event=tagpush");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_event");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`event`"),
        "{body}"
    );
    for (provider, query, code) in [
        ("github", "repo=hub&event=tag_push", "missing_ref"),
        (
            "bitbucket",
            "repo=bb&event=release&ref=v1",
            "unsupported_event",
        ),
        (
            "github",
            "repo=hub&event=pull_request&number=x",
            "bad_number",
        ),
    ] {
        let (status, body, _) = sample(&gw, provider, query);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}"
        );
    }
}
