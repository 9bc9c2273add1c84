//! End to end: the delivery log. Real binary, real signed deliveries, the log read back over
//! HTTP; redelivery of kept bodies; the log across a restart.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

/// A signed push of `main` to the repo `demo`, as delivery `id`; with its signature value.
fn signed_push(id: &str, secret: &str) -> (Vec<(String, String)>, Vec<u8>, String) {
    let body = github_push("refs/heads/main", ZEROS, &"a".repeat(40), false);
    let headers = signed_headers("github", "push", id, &body, secret);
    let signature = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-hub-signature-256"))
        .map(|(_, value)| value.clone())
        .expect("github signs with X-Hub-Signature-256");
    (headers, body, signature)
}

/// The log's entries (newest first) for `query`.
fn deliveries(gw: &Gateway, query: &str) -> Value {
    let answer = gw.manage("GET", &format!("/webhooks/deliveries?{query}"), b"");
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

/// Waits until the log holds an entry for the provider's delivery id `id` and returns it.
fn wait_entry(gw: &Gateway, id: &str) -> Value {
    gw.poll(Duration::from_millis(20), |gw| {
        let page = deliveries(gw, "limit=500");
        page["deliveries"]
            .as_array()
            .and_then(|all| {
                all.iter()
                    .find(|e| e["headers"]["x-github-delivery"] == id)
                    .cloned()
            })
            .ok_or_else(|| format!("no entry for delivery {id} yet: {page}"))
    })
}

/// Waits until the log holds `n` entries whose `redelivery_of` is `of`.
fn wait_redeliveries(gw: &Gateway, of: &str, n: usize) -> Vec<Value> {
    gw.poll(Duration::from_millis(20), |gw| {
        let page = deliveries(gw, "limit=500");
        let found: Vec<Value> = page["deliveries"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|e| e["redelivery_of"] == of)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if found.len() == n {
            Ok(found)
        } else {
            Err(format!(
                "{} redeliveries of {of}, waiting for {n}: {page}",
                found.len()
            ))
        }
    })
}

/// A gateway with the repo `demo` (one commit) and `deliveries` appended to its config.
fn start(deliveries: &str) -> (tempfile::TempDir, Gateway) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(&tmp.path().join("src"));
    repo.write("a.rs", &source_file("alpha", 3));
    repo.commit("one");
    let config = format!("{}\n{deliveries}", config_for(&repo.url(), "github", ""));
    let gw = Gateway::start(tmp.path(), &config);
    (tmp, gw)
}

fn assert_no_secret(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} leaked in: {text}");
    }
}

#[test]
fn every_delivery_is_logged_with_its_outcome_and_never_its_secrets() {
    let (_tmp, gw) = start("");

    let (headers, body, signature) = signed_push("log-ok-1", SECRET);
    let answer = post_webhook(&gw, "github", "demo", &headers, &body);
    assert_eq!(answer.status, 202, "{}", answer.text());
    let job_id = answer.json()["job_id"].as_str().unwrap().to_string();
    let ok = wait_entry(&gw, "log-ok-1");
    assert_eq!(ok["outcome"], "queued", "{ok}");
    assert_eq!(ok["status"], 202);
    assert_eq!(ok["job_id"], job_id.as_str());
    assert_eq!(ok["verification"], "verified");
    assert_eq!(ok["provider"], "github");
    assert_eq!(ok["repo"], "demo");
    assert_eq!(ok["event"], "push");
    assert_eq!(ok["delivery_id"], "log-ok-1");
    assert_eq!(ok["reason"], Value::Null);
    assert_eq!(ok["redelivery_of"], Value::Null);
    assert_eq!(ok["headers"]["x-hub-signature-256"], "[redacted]");
    assert_eq!(ok["body_bytes"], body.len());
    assert_eq!(ok["body_kept"], false, "keep_bodies is off by default");
    let id = ok["id"].as_str().unwrap();
    let one = gw.manage("GET", &format!("/webhooks/deliveries/{id}"), b"");
    assert_eq!(one.status, 200);
    assert_eq!(one.json(), ok, "GET by id answers the listed entry");
    let by_job = deliveries(&gw, &format!("job={job_id}"));
    assert_eq!(
        by_job["deliveries"].as_array().unwrap().len(),
        1,
        "{by_job}"
    );

    let (headers, body, wrong_signature) = signed_push("log-bad-1", "not-the-secret");
    let answer = post_webhook(&gw, "github", "demo", &headers, &body);
    assert_eq!(answer.status, 401, "{}", answer.text());
    let bad = wait_entry(&gw, "log-bad-1");
    assert_eq!(bad["outcome"], "refused", "{bad}");
    assert_eq!(bad["reason"], "invalid_signature");
    assert_eq!(bad["verification"], "invalid_signature");
    assert_eq!(bad["status"], 401);
    assert_eq!(
        bad["event"],
        Value::Null,
        "nothing unverified is taken from the payload"
    );
    assert_eq!(bad["job_id"], Value::Null);
    assert_eq!(bad["body_kept"], false);
    let bad_id = bad["id"].as_str().unwrap();
    let again = gw.manage(
        "POST",
        &format!("/webhooks/deliveries/{bad_id}/redeliver"),
        b"",
    );
    assert_eq!(again.status, 409, "{}", again.text());
    assert_eq!(again.json()["error"]["code"], "body_not_kept");

    let (headers, body, _) = signed_push("log-nope-1", SECRET);
    let answer = post_webhook(&gw, "github", "nope", &headers, &body);
    assert_eq!(answer.status, 404);
    let unknown = wait_entry(&gw, "log-nope-1");
    assert_eq!(unknown["reason"], "unknown_repo", "{unknown}");
    assert_eq!(unknown["repo"], "nope");
    assert_eq!(unknown["verification"], "not_checked");

    let missing = gw.manage("GET", "/webhooks/deliveries/00000000000fffff", b"");
    assert_eq!(missing.status, 404);
    assert_eq!(gw.manage("GET", "/webhooks/deliveries/7", b"").status, 404);
    let unauthenticated = gw.request("GET", "/webhooks/deliveries", &[], b"");
    assert_eq!(unauthenticated.status, 401);

    let listed = gw
        .manage("GET", "/webhooks/deliveries?limit=500", b"")
        .text();
    assert_no_secret(&listed, &[SECRET, &signature, &wrong_signature]);
    assert_no_secret(&one.text(), &[SECRET, &signature]);
}

#[test]
fn keep_bounds_the_log_and_filters_and_cursors_page_it() {
    let (_tmp, gw) = start("[deliveries]\nkeep = 3\n");
    for n in 0..5 {
        let id = format!("keep-{n}");
        let secret = if n == 3 { "wrong-secret" } else { SECRET };
        let (headers, body, _) = signed_push(&id, secret);
        post_webhook(&gw, "github", "demo", &headers, &body);
        wait_entry(&gw, &id);
    }
    let all = deliveries(&gw, "");
    let ids: Vec<&str> = all["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["headers"]["x-github-delivery"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["keep-4", "keep-3", "keep-2"],
        "the newest three, newest first"
    );
    assert_eq!(all["next_cursor"], Value::Null);

    let refused = deliveries(&gw, "outcome=refused");
    let refused = refused["deliveries"].as_array().unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["headers"]["x-github-delivery"], "keep-3");
    let mixed = deliveries(&gw, "outcome=queued&provider=github&repo=demo");
    assert!(
        mixed["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["outcome"] == "queued" && e["repo"] == "demo"),
        "{mixed}"
    );
    assert_eq!(
        deliveries(&gw, "provider=gitlab")["deliveries"],
        serde_json::json!([])
    );

    let mut walked = Vec::new();
    let mut query = "limit=1".to_string();
    loop {
        let page = deliveries(&gw, &query);
        let entries = page["deliveries"].as_array().unwrap();
        assert!(entries.len() <= 1);
        walked.extend(entries.iter().map(|e| e["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=1&cursor={cursor}"),
            None => break,
        }
    }
    let listed: Vec<Value> = all["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(
        walked, listed,
        "pages of one cover the log once, newest first"
    );

    for (query, code) in [
        ("limit=0", "bad_limit"),
        ("limit=501", "bad_limit"),
        ("outcome=lost", "bad_outcome"),
        ("cursor=zzz", "bad_cursor"),
    ] {
        let answer = gw.manage("GET", &format!("/webhooks/deliveries?{query}"), b"");
        assert_eq!(answer.status, 400, "{query}: {}", answer.text());
        assert_eq!(answer.json()["error"]["code"], code, "{query}");
    }
}

#[test]
fn kept_bodies_redeliver_through_the_webhook_path_and_the_log_survives_a_restart() {
    let (tmp, gw) = start("[deliveries]\nkeep_bodies = true\n");
    let (headers, body, signature) = signed_push("redeliver-1", SECRET);
    let answer = post_webhook(&gw, "github", "demo", &headers, &body);
    assert_eq!(answer.status, 202, "{}", answer.text());
    let job_id = answer.json()["job_id"].clone();
    let original = wait_entry(&gw, "redeliver-1");
    assert_eq!(original["body_kept"], true, "{original}");
    let id = original["id"].as_str().unwrap().to_string();

    let again = gw.manage("POST", &format!("/webhooks/deliveries/{id}/redeliver"), b"");
    assert_eq!(again.status, 200, "{}", again.text());
    let answer = again.json();
    assert_eq!(answer["status"], "duplicate", "{answer}");
    assert_eq!(
        answer["job_id"], job_id,
        "the delivery key recognised the same delivery"
    );
    let redelivered = wait_redeliveries(&gw, &id, 1).remove(0);
    assert_eq!(redelivered["outcome"], "duplicate", "{redelivered}");
    assert_eq!(redelivered["status"], 200);
    assert_eq!(redelivered["job_id"], job_id);
    assert_eq!(redelivered["verification"], "verified");
    assert_eq!(redelivered["headers"]["x-hub-signature-256"], "[redacted]");
    assert_ne!(redelivered["id"], original["id"]);
    assert_eq!(
        gw.manage(
            "POST",
            "/webhooks/deliveries/00000000000fffff/redeliver",
            b""
        )
        .status,
        404
    );
    let (headers, body, _) = signed_push("redeliver-bad", "wrong-secret");
    post_webhook(&gw, "github", "demo", &headers, &body);
    let refused = wait_entry(&gw, "redeliver-bad");
    assert_eq!(
        refused["body_kept"], false,
        "an unverified body is never kept"
    );
    let listed = gw
        .manage("GET", "/webhooks/deliveries?limit=500", b"")
        .text();
    assert_no_secret(&listed, &[SECRET, &signature]);
    assert_no_secret(&again.text(), &[SECRET, &signature]);

    assert!(gw.stop().success());
    let gw = Gateway::start_with(tmp.path(), &tmp.path().join("gateway.toml"));
    let after = deliveries(&gw, "limit=500");
    let kept: Vec<&Value> = after["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["id"] == original["id"] || e["redelivery_of"] == original["id"])
        .collect();
    assert_eq!(kept.len(), 2, "both entries survive the restart: {after}");
    let second = gw.manage("POST", &format!("/webhooks/deliveries/{id}/redeliver"), b"");
    assert_eq!(
        second.status,
        200,
        "the kept body survives too: {}",
        second.text()
    );
    assert_eq!(second.json()["status"], "duplicate");
    wait_redeliveries(&gw, &id, 2);
}

#[test]
fn an_org_hook_delivery_is_logged_under_its_repo_and_redelivers_through_the_org_path() {
    let tmp = tempfile::tempdir().unwrap();
    let hosts = tmp.path().join("hosts");
    let upstream = Repo::new(&hosts.join("acme/one"));
    upstream.write("lib.rs", &source_file("oscar_one", 2));
    let head = upstream.commit("first");
    let config = format!(
        "workers = 1\n\n[rate_limit]\nper_ip_per_sec = 0\n\n[deliveries]\nkeep_bodies = true\n\n\
         [[orgs]]\nprovider = \"github\"\nowner = \"acme\"\nsecret = \"{SECRET}\"\n\
         url = \"file://{}/{{full_name}}\"\nreconcile_interval_secs = 0\n",
        hosts.display()
    );
    let gw = Gateway::start(tmp.path(), &config);
    let body = serde_json::to_vec(&serde_json::json!({
        "ref": "refs/heads/main", "before": ZEROS, "after": head,
        "created": true, "deleted": false, "forced": false,
        "repository": {"name": "one", "full_name": "acme/one"},
        "commits": [], "head_commit": {"id": head}
    }))
    .unwrap();
    let headers = signed_headers("github", "push", "org-1", &body, SECRET);
    let answer = post(gw.addr, "/webhooks/github", &headers, &body);
    assert_eq!(answer.status, 202, "{}", answer.text());
    let entry = wait_entry(&gw, "org-1");
    assert_eq!(entry["repo"], "github-acme-one", "{entry}");
    assert_eq!(entry["outcome"], "queued");
    assert_eq!(entry["job_id"], answer.json()["job_id"]);
    assert_eq!(entry["body_kept"], true);
    let id = entry["id"].as_str().unwrap();
    let again = gw.manage("POST", &format!("/webhooks/deliveries/{id}/redeliver"), b"");
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["status"], "duplicate");
    assert_eq!(again.json()["job_id"], answer.json()["job_id"]);
    let redelivered = wait_redeliveries(&gw, id, 1).remove(0);
    assert_eq!(redelivered["repo"], "github-acme-one", "{redelivered}");
}
