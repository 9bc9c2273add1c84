//! End to end: `/metrics` of the real binary, after real signed deliveries (accepted,
//! duplicate, bad signature, unknown repo), an in-flight refusal, index jobs over a real git
//! repo and a push that only the periodic reconcile finds, read by the official Prometheus
//! Python client's parsers.
//!
//! The Python module `prometheus_client` is needed (`python3 -m pip install prometheus-client`);
//! without it the test is skipped with a message, unless `CG_REQUIRE_PY_PROMETHEUS=1` (as CI
//! sets it), which makes its absence a failure.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::*;

/// Parses the text with both of the client's parsers: the OpenMetrics one (the format
/// `/metrics` serves; strict, checks `# EOF` and family types) and the classic Prometheus
/// text one. Prints `{"openmetrics": {family: {type, samples: [[name, labels, value]]}},
/// "classic": [sample names]}`.
const PARSE: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as classic
text = sys.stdin.read()
families = {}
for f in openmetrics(text):
    families[f.name] = {"type": f.type, "samples": [[s.name, s.labels, s.value] for s in f.samples]}
names = sorted({s.name for f in classic(text) for s in f.samples})
print(json.dumps({"openmetrics": families, "classic": names}))
"#;

fn parse(text: &str) -> Value {
    let out = run_with_input(Command::new("python3").args(["-c", PARSE]), text.as_bytes());
    assert!(
        out.status.success(),
        "the Prometheus client could not parse /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn wait_until(gw: &Gateway, what: &str, done: impl Fn(&Gateway) -> bool) {
    gw.poll(Duration::from_millis(50), |gw| {
        if done(gw) {
            Ok(())
        } else {
            Err(format!("never happened: {what}"))
        }
    });
}

fn idle(gw: &Gateway) -> bool {
    let jobs = &gw.manage("GET", "/webhooks/status", b"").json()["jobs"];
    jobs["queued"] == 0 && jobs["running"] == 0
}

/// The samples of one family whose labels include every pair of `want`.
fn samples<'a>(families: &'a Value, family: &str, want: &[(&str, &str)]) -> Vec<&'a Value> {
    families[family]["samples"]
        .as_array()
        .unwrap_or_else(|| panic!("no family {family}"))
        .iter()
        .filter(|s| want.iter().all(|(k, v)| s[1][*k].as_str() == Some(*v)))
        .collect()
}

fn value(families: &Value, family: &str, sample: &str, want: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = samples(families, family, want)
        .into_iter()
        .filter(|s| s[0] == sample)
        .map(|s| s[2].as_f64().unwrap())
        .collect();
    assert_eq!(found.len(), 1, "{sample}{want:?} in {}", families[family]);
    found[0]
}

#[test]
fn metrics_parse_with_the_prometheus_client_and_every_family_is_there() {
    let probe = "import prometheus_client.openmetrics.parser, prometheus_client.parser";
    if !python_has(
        probe,
        "prometheus_client",
        "prometheus-client",
        "CG_REQUIRE_PY_PROMETHEUS",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(&tmp.path().join("src"));
    repo.write("src/lib.rs", &source_file("metrics_alpha", 3));
    repo.write(".env", "DATABASE_PASSWORD=hunter2\n");
    let key_line = format!("key_id = \"{}{}\"\n", "AKIA", "4JQXZ7ORW2N5KT3B");
    repo.write("deploy/aws.toml", &key_line);
    let c1 = repo.commit("one");
    // A second repo whose remote does not exist: its fetch and ls-remote fail for real.
    let config = format!(
        r#"workers = 1
max_in_flight = 1
max_attempts = 1
header_read_timeout_secs = 120

[rate_limit]
per_ip_per_sec = 0

[[repos]]
name = "demo"
provider = "github"
url = "{}"
branches = ["main"]
secret = "{SECRET}"
reconcile_interval_secs = 1

[[repos]]
name = "gone"
provider = "github"
url = "file://{}"
branches = ["main"]
secret = "{SECRET}"
reconcile_interval_secs = 1
"#,
        repo.url(),
        tmp.path().join("no-such-repo").display()
    );
    let gw = Gateway::start(tmp.path(), &config);
    wait_until(&gw, "the catch-up jobs ran", idle);

    // Accepted, then the same delivery again (duplicate).
    repo.write("src/more.rs", &source_file("metrics_bravo", 3));
    let c2 = repo.commit("two");
    let body = github_push("refs/heads/main", &c1, &c2, false);
    let headers = signed_headers("github", "push", "metrics-1", &body, SECRET);
    let answer = post_webhook(&gw, "github", "demo", &headers, &body);
    gw.succeeded(&answer);
    let again = post_webhook(&gw, "github", "demo", &headers, &body);
    assert_eq!(again.json()["status"], "duplicate", "{}", again.text());

    // Refused: a wrong secret, and a repo nobody configured.
    let forged = signed_headers("github", "push", "metrics-2", &body, "not-the-secret");
    assert_eq!(
        post_webhook(&gw, "github", "demo", &forged, &body).status,
        401
    );
    assert_eq!(
        post_webhook(&gw, "github", "nope", &headers, &body).status,
        404
    );

    // Refused by the in-flight bound: a delivery whose body never completes holds the one
    // slot; other requests get 503 until it is closed.
    let (stalled, _) = hold_the_only_slot(&gw, "/webhooks/github/demo");
    let overloaded = post_webhook(&gw, "github", "demo", &headers, &body);
    assert_eq!(overloaded.status, 503, "{}", overloaded.text());
    drop(stalled);
    wait_until(&gw, "the slot is free again", |gw| {
        gw.request("GET", "/healthz", &[], b"").status == 200
    });

    // A push with no webhook at all: the reconcile finds it.
    repo.write("src/late.rs", &source_file("metrics_charlie", 3));
    let c3 = repo.commit("three");
    wait_until(
        &gw,
        "the reconcile found and indexed the missed push",
        |gw| {
            idle(gw)
                && gw
                    .manage("GET", "/webhooks/jobs?state=succeeded&limit=100", b"")
                    .json()["jobs"]
                    .as_array()
                    .is_some_and(|jobs| {
                        jobs.iter()
                            .any(|j| j["commit"] == c3.as_str() && j["trigger"] == "reconcile")
                    })
        },
    );

    wait_until(&gw, "a reconcile of the missing remote failed", |gw| {
        gw.manage("GET", "/metrics", b"")
            .text()
            .contains(r#"context_gateway_reconcile_runs_total{repo="gone",outcome="failed"}"#)
    });

    let scrape = gw.manage("GET", "/metrics", b"");
    assert_eq!(scrape.status, 200);
    assert_eq!(
        scrape.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = scrape.text();
    let parsed = parse(&text);
    let families = &parsed["openmetrics"];

    let expected: BTreeMap<&str, &str> = [
        ("context_gateway_webhook_deliveries", "counter"),
        ("context_gateway_http_request_duration_seconds", "histogram"),
        ("context_gateway_http_in_flight_refusals", "counter"),
        ("context_gateway_push_to_searchable_seconds", "histogram"),
        ("context_gateway_job_duration_seconds", "histogram"),
        ("context_gateway_jobs", "gauge"),
        ("context_gateway_queue_oldest_job_age_seconds", "gauge"),
        ("context_gateway_index_lag_seconds", "gauge"),
        ("context_gateway_index_lag_commits", "gauge"),
        (
            "context_gateway_index_last_success_timestamp_seconds",
            "gauge",
        ),
        ("context_gateway_git_duration_seconds", "histogram"),
        ("context_gateway_git_failures", "counter"),
        ("context_gateway_reconcile_runs", "counter"),
        ("context_gateway_missed_webhooks", "counter"),
        ("context_gateway_secret_chunks_withheld", "counter"),
        ("context_gateway_secret_files_skipped", "counter"),
        ("context_gateway_store_write_duration_seconds", "histogram"),
    ]
    .into_iter()
    .collect();
    for (family, kind) in &expected {
        assert_eq!(
            families[*family]["type"].as_str(),
            Some(*kind),
            "{family} missing or mistyped in:\n{text}"
        );
    }
    for family in expected.keys() {
        assert!(
            !samples(families, family, &[]).is_empty(),
            "{family} has no samples:\n{text}"
        );
    }
    // The classic text parser reads the same exposition and sees the same samples.
    let classic: Vec<&str> = parsed["classic"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for name in [
        "context_gateway_webhook_deliveries_total",
        "context_gateway_missed_webhooks_total",
        "context_gateway_push_to_searchable_seconds_bucket",
        "context_gateway_jobs",
    ] {
        assert!(classic.contains(&name), "{name} not in {classic:?}");
    }

    // A few values that must be exactly right.
    let delivery = |outcome: &str, cause: &str| {
        value(
            families,
            "context_gateway_webhook_deliveries",
            "context_gateway_webhook_deliveries_total",
            &[
                ("provider", "github"),
                ("outcome", outcome),
                ("cause", cause),
            ],
        )
    };
    assert_eq!(delivery("accepted", ""), 1.0);
    assert_eq!(delivery("duplicate", ""), 1.0);
    assert_eq!(delivery("refused", "invalid_signature"), 1.0);
    assert_eq!(delivery("refused", "unknown_repo"), 1.0);
    assert_eq!(delivery("refused", "in_flight_limit"), 1.0);
    assert_eq!(
        samples(
            families,
            "context_gateway_webhook_deliveries",
            &[("outcome", "accepted")]
        )[0][1]["event"],
        "push"
    );
    assert!(
        value(
            families,
            "context_gateway_http_in_flight_refusals",
            "context_gateway_http_in_flight_refusals_total",
            &[("route", "/webhooks/{provider}/{repo}")],
        ) >= 1.0
    );
    // At least the push to c3 (the reconcile may also have seen c2 in the moment between its
    // commit and its delivery).
    assert!(
        value(
            families,
            "context_gateway_missed_webhooks",
            "context_gateway_missed_webhooks_total",
            &[("repo", "demo")],
        ) >= 1.0
    );
    assert!(
        value(
            families,
            "context_gateway_reconcile_runs",
            "context_gateway_reconcile_runs_total",
            &[("repo", "demo"), ("outcome", "missed")],
        ) >= 1.0
    );
    // One webhook job and one reconcile job reached "searchable".
    for trigger in ["webhook", "reconcile"] {
        assert!(
            value(
                families,
                "context_gateway_push_to_searchable_seconds",
                "context_gateway_push_to_searchable_seconds_count",
                &[("trigger", trigger)],
            ) >= 1.0,
            "{trigger}"
        );
    }
    let main = [("repo", "demo"), ("ref", "refs/heads/main")];
    let lag = "context_gateway_index_lag_seconds";
    assert_eq!(value(families, lag, lag, &main), 0.0, "idle: no lag");
    let commits = "context_gateway_index_lag_commits";
    assert_eq!(value(families, commits, commits, &main), 0.0);
    let oldest = "context_gateway_queue_oldest_job_age_seconds";
    assert_eq!(value(families, oldest, oldest, &[]), 0.0);
    let jobs = "context_gateway_jobs";
    assert_eq!(value(families, jobs, jobs, &[("state", "queued")]), 0.0);
    assert!(value(families, jobs, jobs, &[("state", "succeeded")]) >= 3.0);
    let ls_remote = [("operation", "ls-remote")];
    let git = "context_gateway_git_duration_seconds";
    assert!(value(families, git, &format!("{git}_count"), &ls_remote) >= 1.0);
    assert!(
        value(
            families,
            git,
            &format!("{git}_count"),
            &[("operation", "fetch")]
        ) >= 1.0
    );
    // The repo whose remote does not exist: its fetch and ls-remote fail, as git errors.
    let failures: f64 = samples(families, "context_gateway_git_failures", &[])
        .iter()
        .filter(|s| s[0] == "context_gateway_git_failures_total")
        .map(|s| s[2].as_f64().unwrap())
        .sum();
    assert!(
        failures >= 1.0,
        "{}",
        families["context_gateway_git_failures"]
    );
    assert!(
        value(
            families,
            "context_gateway_reconcile_runs",
            "context_gateway_reconcile_runs_total",
            &[("repo", "gone"), ("outcome", "failed")],
        ) >= 1.0
    );
    assert!(value(families, jobs, jobs, &[("state", "failed")]) >= 1.0);
    let repo_label = [("repo", "demo")];
    assert!(
        value(
            families,
            "context_gateway_secret_chunks_withheld",
            "context_gateway_secret_chunks_withheld_total",
            &repo_label,
        ) >= 1.0
    );
    assert!(
        value(
            families,
            "context_gateway_secret_files_skipped",
            "context_gateway_secret_files_skipped_total",
            &repo_label,
        ) >= 1.0
    );
    let store = "context_gateway_store_write_duration_seconds";
    assert!(
        value(
            families,
            store,
            &format!("{store}_count"),
            &[("operation", "enqueue")]
        ) >= 3.0
    );
    assert!(!text.contains(SECRET), "a secret reached /metrics");
}
