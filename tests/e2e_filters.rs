//! End to end: what a repo's `tags` globs, `events` list and include/exclude globs let
//! through, with the real binary on 127.0.0.1 and a real upstream repo over file://.

mod support;

use serde_json::{Value, json};
use support::*;

fn push_with_paths(before: &str, after: &str, paths: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ref": "refs/heads/main", "before": before, "after": after,
        "created": false, "deleted": false, "forced": false,
        "repository": {"name": "demo", "full_name": "acme/demo", "clone_url": "file:///demo"},
        "commits": [{"id": after, "added": [], "removed": [], "modified": paths}],
        "head_commit": {"id": after},
        "size": 1, "distinct_size": 1
    }))
    .unwrap()
}

fn ignored_reason(response: &Response) -> String {
    assert_eq!(response.status, 200, "{}", response.text());
    let body: Value = response.json();
    assert_eq!(body["status"], "ignored", "{body}");
    body["reason"].as_str().unwrap_or_default().to_string()
}

#[test]
fn tag_globs_events_and_path_globs_decide_what_makes_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, first) = Repo::with_source(&tmp.path().join("src"), "src/lib.rs", "lib_first", 2);
    repo.git(&["tag", "v1.0"]);
    repo.git(&["tag", "v0.9"]);
    let config = config_for(
        &repo.url(),
        "github",
        "tags = [\"v*\", \"!v0.*\"]\nevents = [\"push\", \"tag_push\"]\ninclude = [\"src/**\"]\nexclude = [\"src/generated/**\"]\nreconcile_interval_secs = 0",
    );
    let gw = Gateway::start(tmp.path(), &config);

    // A tag the globs take is queued and indexed; an excluded one is ignored with the reason.
    let taken = gw.github_delivery(
        "push",
        "t1",
        &github_push("refs/tags/v1.0", ZEROS, &first, false),
    );
    gw.succeeded(&taken);
    let excluded = gw.github_delivery(
        "push",
        "t2",
        &github_push("refs/tags/v0.9", ZEROS, &first, false),
    );
    assert!(
        ignored_reason(&excluded).contains("refs/tags/v0.9 is not configured"),
        "{}",
        excluded.text()
    );

    // A kind not in `events` is ignored, and the reason names the setting.
    let pr = serde_json::to_vec(&json!({
        "action": "opened", "number": 7,
        "pull_request": {"number": 7, "head": {"sha": first, "ref": "feature"}, "base": {"ref": "main"}},
        "repository": {"name": "demo", "full_name": "acme/demo"}
    }))
    .unwrap();
    let reason = ignored_reason(&gw.github_delivery("pull_request", "p1", &pr));
    assert!(
        reason.contains("`pull_request` events are not in this repo's `events`"),
        "{reason}"
    );

    // A push that changes only paths outside include/exclude is ignored; one that touches
    // an included path is queued.
    repo.write("docs/guide.md", "words\n");
    repo.write("src/generated/out.rs", "fn generated() {}\n");
    let second = repo.commit("docs and generated code");
    let outside = gw.github_delivery(
        "push",
        "d1",
        &push_with_paths(&first, &second, &["docs/guide.md", "src/generated/out.rs"]),
    );
    let reason = ignored_reason(&outside);
    assert!(
        reason.contains("outside this repo's include/exclude globs"),
        "{reason}"
    );
    repo.write("src/lib.rs", &source_file("lib_second", 2));
    let third = repo.commit("code");
    let inside = gw.github_delivery(
        "push",
        "d2",
        &push_with_paths(&second, &third, &["docs/guide.md", "src/lib.rs"]),
    );
    gw.succeeded(&inside);

    // The config answer shows the globs and the event kinds the repo takes.
    let config = gw.manage("GET", "/webhooks/config", b"").json();
    assert_eq!(
        config["repos"][0]["tags"],
        json!(["v*", "!v0.*"]),
        "{config}"
    );
    assert_eq!(
        config["repos"][0]["events"],
        json!(["push", "tag_push"]),
        "{config}"
    );
    gw.stop();
}
