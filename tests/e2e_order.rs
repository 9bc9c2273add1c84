//! End to end: a job indexes the ref's real tip. Late, replayed and out-of-order deliveries
//! for older commits never take the index back; a force push that moves the branch back
//! upstream is followed. Real binary, real git repository, signed GitHub deliveries.

mod support;

use serde_json::Value;
use support::*;

/// The commits of the hits for `ident` on main.
fn hit_commits(gw: &Gateway, ident: &str) -> Vec<String> {
    let body = gw
        .manage(
            "GET",
            &format!("/search?q={ident}&ref=refs/heads/main"),
            b"",
        )
        .json();
    body["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits array: {body}"))
        .iter()
        .map(|h| h["commit"].as_str().unwrap_or("").to_string())
        .collect()
}

/// A signed push of `after` to main; returns the finished job.
fn push(gw: &Gateway, delivery: &str, before: &str, after: &str, forced: bool) -> Value {
    let body = github_push("refs/heads/main", before, after, forced);
    let headers = signed_headers("github", "push", delivery, &body, SECRET);
    let answer = post_webhook(gw, "github", "demo", &headers, &body);
    assert_eq!(answer.status, 202, "{delivery}: {}", answer.text());
    let id = answer.json()["job_id"].as_str().unwrap().to_string();
    let job = gw.wait_finished(&id);
    assert_eq!(job["state"], "succeeded", "{delivery}: {job}");
    job
}

fn short(commit: &str) -> &str {
    &commit[..7]
}

#[test]
fn late_replayed_and_out_of_order_pushes_never_roll_the_index_back() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(&tmp.path().join("src"));
    let mut commits = Vec::new();
    for n in 1..=3 {
        repo.write("lib.rs", &source_file(&format!("state_of_commit_{n}"), 3));
        commits.push(repo.commit(&format!("c{n}")));
    }
    let (c1, c2, c3) = (&commits[0], &commits[1], &commits[2]);
    let gw = Gateway::start(tmp.path(), &config_for(&repo.url(), "github", ""));
    // The start-up catch-up job indexes main's tip, C3.
    gw.wait_settled();
    assert_eq!(hit_commits(&gw, "state_of_commit_3"), [c3.as_str()]);

    // A late delivery for C1: accepted, and a no-op that says why.
    let job = push(&gw, "late-c1", ZEROS, c1, false);
    assert_eq!(job["commit"], c3.as_str(), "{job}");
    let note = job["note"].as_str().unwrap_or_else(|| panic!("{job}"));
    assert!(
        note.starts_with(&format!("already at {}: nothing to index", short(c3))),
        "{note}"
    );
    assert!(
        note.contains(&format!("pushed {} is behind the tip", short(c1))),
        "{note}"
    );
    assert_eq!(hit_commits(&gw, "state_of_commit_3"), [c3.as_str()]);
    assert!(hit_commits(&gw, "state_of_commit_1").is_empty());

    // The same body again under a new delivery id (a replay): the same no-op.
    let job = push(&gw, "late-c1-again", ZEROS, c1, false);
    assert_eq!(job["commit"], c3.as_str(), "{job}");
    assert!(job["note"].as_str().unwrap().starts_with("already at"));

    // An out-of-order pair, C2 then C1, after C3 was pushed.
    for (delivery, before, after) in [("c2", c1.as_str(), c2.as_str()), ("c1", ZEROS, c1.as_str())]
    {
        let job = push(&gw, &format!("pair-{delivery}"), before, after, false);
        assert_eq!(job["commit"], c3.as_str(), "{delivery}: {job}");
    }
    assert_eq!(hit_commits(&gw, "state_of_commit_3"), [c3.as_str()]);
    assert!(hit_commits(&gw, "state_of_commit_2").is_empty());

    // The source moves main back to C1 with a force push: that is followed.
    repo.git(&["reset", "-q", "--hard", c1]);
    let job = push(&gw, "force-to-c1", c3, c1, true);
    assert_eq!(job["commit"], c1.as_str(), "{job}");
    assert!(job.get("note").is_none(), "{job}");
    assert_eq!(hit_commits(&gw, "state_of_commit_1"), [c1.as_str()]);
    assert!(hit_commits(&gw, "state_of_commit_3").is_empty());

    // A push whose `after` is a commit the ref no longer holds: the tip is indexed.
    repo.write("lib.rs", &source_file("state_of_commit_4", 3));
    let c4 = repo.commit("c4");
    let job = push(&gw, "stale-c3", c1, c3, false);
    assert_eq!(job["commit"], c4.as_str(), "{job}");
    assert_eq!(
        job["note"],
        format!(
            "pushed {} is no longer on the ref; indexed {}",
            short(c3),
            short(&c4)
        )
        .as_str()
    );
    assert_eq!(hit_commits(&gw, "state_of_commit_4"), [c4.as_str()]);
}
