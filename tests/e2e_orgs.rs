//! End to end: one hook for a whole org. The real binary on 127.0.0.1, real upstream repos
//! over file:// found through a url template, signed deliveries to `/webhooks/github`.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::*;

fn push_for(full_name: &str, before: &str, after: &str) -> Vec<u8> {
    let name = full_name.rsplit('/').next().unwrap_or(full_name);
    serde_json::to_vec(&json!({
        "ref": "refs/heads/main", "before": before, "after": after,
        "created": before == ZEROS, "deleted": false, "forced": false,
        "repository": {"name": name, "full_name": full_name},
        "commits": [], "head_commit": {"id": after}
    }))
    .unwrap()
}

fn org_delivery(gw: &Gateway, id: &str, body: &[u8], secret: &str) -> Response {
    let headers = signed_headers("github", "push", id, body, secret);
    post(gw.addr, "/webhooks/github", &headers, body)
}

fn search_hits(gw: &Gateway, query: &str) -> Vec<Value> {
    gw.manage("GET", &format!("/search?q={query}"), b"").json()["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn upstream(hosts: &Path, full_name: &str, ident: &str) -> (Repo, String) {
    Repo::with_source(&hosts.join(full_name), "lib.rs", ident, 2)
}

fn discovered_names(gw: &Gateway) -> Vec<String> {
    let config = gw.manage("GET", "/webhooks/config", b"").json();
    config["repos"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|repo| repo.get("discovered").is_some())
        .map(|repo| repo["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_org_hook_indexes_new_repos_keeps_them_across_a_restart_and_refuses_what_is_not_its() {
    let tmp = tempfile::tempdir().unwrap();
    let hosts = tmp.path().join("hosts");
    let (one, one_first) = upstream(&hosts, "acme/one", "oscar_one");
    let (_two, two_first) = upstream(&hosts, "acme/two", "tango_two");
    let (_denied, denied_head) = upstream(&hosts, "acme/secret-plans", "sierra_secret");
    let (_taken, taken_head) = upstream(&hosts, "acme/taken", "tango_taken");
    let config = format!(
        "workers = 2\n\n[rate_limit]\nper_ip_per_sec = 0\n\n\
         [[repos]]\nname = \"github-acme-taken\"\nprovider = \"github\"\nurl = \"file:///nowhere\"\nsecret = \"{SECRET}\"\nreconcile_interval_secs = 0\n\n\
         [[orgs]]\nprovider = \"github\"\nowner = \"acme\"\nsecret = \"{SECRET}\"\nurl = \"file://{}/{{full_name}}\"\nrepos = [\"*\", \"!secret-*\"]\nreconcile_interval_secs = 0\n",
        hosts.display()
    );
    let gw = Gateway::start(tmp.path(), &config);

    // Two repos of the org, met for the first time: each is registered and indexed.
    for (full_name, head, ident, name) in [
        ("acme/one", &one_first, "oscar_one", "github-acme-one"),
        ("acme/two", &two_first, "tango_two", "github-acme-two"),
    ] {
        let answer = org_delivery(
            &gw,
            &format!("d-{name}"),
            &push_for(full_name, ZEROS, head),
            SECRET,
        );
        assert_eq!(answer.status, 202, "{full_name}: {}", answer.text());
        let job = gw.wait_finished(answer.json()["job_id"].as_str().unwrap());
        assert_eq!(job["state"], "succeeded", "{job}\n{}", gw.log_text());
        assert_eq!(job["repo"], name, "{job}");
        let hits = search_hits(&gw, ident);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0]["repo"], name);
    }

    // A repo the `repos` globs deny: ignored, nothing registered or indexed.
    let denied = org_delivery(
        &gw,
        "d-denied",
        &push_for("acme/secret-plans", ZEROS, &denied_head),
        SECRET,
    );
    assert_eq!(denied.status, 200, "{}", denied.text());
    assert_eq!(denied.json()["status"], "ignored");
    assert!(
        denied.json()["reason"]
            .as_str()
            .unwrap()
            .contains("secret-plans")
    );

    // Refused: another owner's repository signed with this org's secret, a name a configured
    // repo holds (never mixed with that repo), and a wrong signature.
    for (id, full_name, head, secret, status, code) in [
        (
            "d-other",
            "evil/one",
            &one_first,
            SECRET,
            403,
            Some("wrong_owner"),
        ),
        (
            "d-taken",
            "acme/taken",
            &taken_head,
            SECRET,
            409,
            Some("name_conflict"),
        ),
        (
            "d-wrong",
            "acme/one",
            &one_first,
            "not-the-secret",
            401,
            None,
        ),
    ] {
        let answer = org_delivery(&gw, id, &push_for(full_name, ZEROS, head), secret);
        assert_eq!(answer.status, status, "{full_name}: {}", answer.text());
        if let Some(code) = code {
            assert_eq!(answer.json()["error"]["code"], code, "{full_name}");
        }
    }

    // Names that try to leave the owner or the data dir: refused.
    for (i, bad) in ["acme/..", "acme/../x", "../x", "acme/a b", "acme/."]
        .iter()
        .enumerate()
    {
        let answer = org_delivery(
            &gw,
            &format!("d-bad-{i}"),
            &push_for(bad, ZEROS, &one_first),
            SECRET,
        );
        assert!(
            matches!(answer.status, 400 | 403),
            "{bad}: {} {}",
            answer.status,
            answer.text()
        );
    }

    let mut names = discovered_names(&gw);
    names.sort();
    assert_eq!(names, ["github-acme-one", "github-acme-two"]);
    assert!(search_hits(&gw, "sierra_secret").is_empty());
    let list = gw.data_dir.join("discovered-repos.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&list).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", list.display());
    }
    assert_eq!(gw.stop().code(), Some(0));

    // After a restart the discovered repos are still known: listed, and a new push is indexed.
    let gw = Gateway::start_with(tmp.path(), &tmp.path().join("gateway.toml"));
    let mut names = discovered_names(&gw);
    names.sort();
    assert_eq!(names, ["github-acme-one", "github-acme-two"]);
    one.write("more.rs", &source_file("oscar_second", 2));
    let second = one.commit("second");
    let answer = org_delivery(
        &gw,
        "d-second",
        &push_for("acme/one", &one_first, &second),
        SECRET,
    );
    let job = gw.succeeded(&answer);
    assert_eq!(job["repo"], "github-acme-one");
    assert_eq!(search_hits(&gw, "oscar_second").len(), 1);
    // The repo's own URL takes its deliveries too, verified with the org's secret.
    let body = push_for("acme/two", &two_first, &two_first);
    let headers = signed_headers("github", "push", "d-direct", &body, SECRET);
    let direct = post_webhook(&gw, "github", "github-acme-two", &headers, &body);
    assert!(matches!(direct.status, 200 | 202), "{}", direct.text());
    gw.stop();
}

#[test]
fn a_discovered_repo_is_reconciled_like_a_configured_one() {
    let tmp = tempfile::tempdir().unwrap();
    let hosts = tmp.path().join("hosts");
    let (one, first) = upstream(&hosts, "acme/one", "oscar_first");
    let config = format!(
        "workers = 2\n\n[rate_limit]\nper_ip_per_sec = 0\n\n\
         [[orgs]]\nprovider = \"github\"\nowner = \"acme\"\nsecret = \"{SECRET}\"\nurl = \"file://{}/{{full_name}}\"\nreconcile_interval_secs = 1\n",
        hosts.display()
    );
    let gw = Gateway::start(tmp.path(), &config);
    let answer = org_delivery(&gw, "d1", &push_for("acme/one", ZEROS, &first), SECRET);
    gw.succeeded(&answer);

    // A push upstream with no webhook: the reconcile task started for the new repo finds it.
    one.write("later.rs", &source_file("oscar_missed", 2));
    let second = one.commit("missed");
    gw.poll(std::time::Duration::from_millis(100), |gw| {
        let jobs = gw
            .manage("GET", "/webhooks/jobs?repo=github-acme-one", b"")
            .json();
        let healed = jobs["jobs"].as_array().unwrap().iter().any(|job| {
            job["trigger"] == "reconcile"
                && job["commit"] == second.as_str()
                && job["state"] == "succeeded"
        });
        if healed {
            Ok(())
        } else {
            Err(jobs.to_string())
        }
    });
    assert_eq!(search_hits(&gw, "oscar_missed").len(), 1);
    gw.stop();
}

/// A GitLab group hook: repositories of the group and of its subgroups are taken, each under
/// its own name, except where a subgroup has an org of its own (the most specific org wins);
/// a group whose name merely starts with the same letters is refused.
#[test]
fn a_gitlab_group_hook_takes_its_subgroups() {
    let tmp = tempfile::tempdir().unwrap();
    let hosts = tmp.path().join("hosts");
    let (_top, top_head) = upstream(&hosts, "group/top", "golf_top");
    let (_deep, deep_head) = upstream(&hosts, "group/sub/deep", "delta_deep");
    let config = format!(
        "workers = 2\n\n[rate_limit]\nper_ip_per_sec = 0\n\n\
         [[orgs]]\nprovider = \"gitlab\"\nowner = \"group\"\nsecret = \"{SECRET}\"\nurl = \"file://{0}/{{full_name}}\"\nreconcile_interval_secs = 0\n\n\
         [[orgs]]\nprovider = \"gitlab\"\nowner = \"group/pinned\"\nsecret = \"{SECRET}\"\nurl = \"file://{0}/{{full_name}}\"\nbranches = [\"dev\"]\nreconcile_interval_secs = 0\n",
        hosts.display()
    );
    let gw = Gateway::start(tmp.path(), &config);
    let gitlab_push = |full_name: &str, head: &str, id: &str| {
        let body = serde_json::to_vec(&json!({
            "object_kind": "push", "ref": "refs/heads/main", "before": ZEROS, "after": head,
            "checkout_sha": head,
            "project": {"name": full_name.rsplit('/').next().unwrap(), "path_with_namespace": full_name},
            "commits": [], "total_commits_count": 0
        }))
        .unwrap();
        let headers = signed_headers("gitlab", "Push Hook", id, &body, SECRET);
        post(gw.addr, "/webhooks/gitlab", &headers, &body)
    };
    for (full_name, head, name, ident) in [
        ("group/top", &top_head, "gitlab-group-top", "golf_top"),
        (
            "group/sub/deep",
            &deep_head,
            "gitlab-group_sub-deep",
            "delta_deep",
        ),
    ] {
        let answer = gitlab_push(full_name, head, name);
        assert_eq!(answer.status, 202, "{full_name}: {}", answer.text());
        let job = gw.wait_finished(answer.json()["job_id"].as_str().unwrap());
        assert_eq!(job["state"], "succeeded", "{job}\n{}", gw.log_text());
        assert_eq!(job["repo"], name);
        assert_eq!(search_hits(&gw, ident).len(), 1);
    }
    // A subgroup with an org of its own: that org's options apply (it indexes only `dev`).
    let pinned = gitlab_push("group/pinned/x", &top_head, "pinned");
    assert_eq!(pinned.status, 200, "{}", pinned.text());
    assert!(
        pinned.json()["reason"]
            .as_str()
            .unwrap()
            .contains("not configured"),
        "{}",
        pinned.text()
    );
    let sibling = gitlab_push("groupie/x", &top_head, "sibling");
    assert_eq!(sibling.status, 403, "{}", sibling.text());
    gw.stop();
}
