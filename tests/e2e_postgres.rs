//! The real binary with `[cluster]`: its job queue on a real PostgreSQL server
//! (`CG_POSTGRES_URL`, e.g. `host=127.0.0.1 port=5432 user=postgres dbname=test`). Without
//! it the tests needing the server print one line saying they were left out and pass; with
//! `CG_REQUIRE_SERVICES=1` a missing server is a failure. Each test works in a schema of its
//! own, dropped at the end.

mod support;

use std::process::Command;

use support::*;

/// Given in the connection string; the test server trusts local clients, so it is sent to
/// no one, but it must never come back in a log line, an answer or `check-config` output.
const PASSWORD: &str = "pg-password-never-shown";

/// A schema on the server at `CG_POSTGRES_URL`, dropped when this is dropped (also when the
/// test panicked).
struct Schema {
    url: String,
    name: String,
}

impl Schema {
    /// A fresh schema for `test`, or `None` (after saying so) when the suite is left out.
    fn for_test(test: &str) -> Option<Schema> {
        let required = std::env::var("CG_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
        let Ok(url) = std::env::var("CG_POSTGRES_URL") else {
            assert!(
                !required,
                "CG_REQUIRE_SERVICES=1 but CG_POSTGRES_URL is not set"
            );
            eprintln!("e2e_postgres::{test}: left out, CG_POSTGRES_URL is not set");
            return None;
        };
        let schema = Schema {
            url,
            name: format!("cge2e_{test}_{}", std::process::id()),
        };
        schema.psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", schema.name));
        Some(schema)
    }

    fn psql(&self, sql: &str) {
        let mut psql = Command::new("psql");
        psql.args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql, &self.url]);
        run_ok(&mut psql, sql);
    }

    /// The `[cluster]` section for this schema, with [`PASSWORD`] in the connection string.
    fn cluster_section(&self) -> String {
        let url = if self.url.contains("://") {
            self.url.clone()
        } else {
            format!("{} password={PASSWORD}", self.url)
        };
        format!(
            "[cluster]\npostgres_url = {url:?}\nschema = \"{}\"\npool_size = 8\n",
            self.name
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-q",
                "-c",
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
            ])
            .arg(&self.url)
            .output();
    }
}

fn push(gw: &Gateway, delivery: &str, branch: &str, commit: &str) -> Response {
    gw.github_delivery(
        "push",
        delivery,
        &github_push(&format!("refs/heads/{branch}"), ZEROS, commit, false),
    )
}

#[test]
fn acknowledged_pushes_are_indexed_and_survive_kill9_on_postgres() {
    let Some(schema) = Schema::for_test("kill9") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (repo, c1) = Repo::with_file(
        &tmp.path().join("src"),
        "lib.rs",
        &source_file("pg_backed_ident", 3),
    );
    for i in 0..30 {
        repo.git(&["branch", &format!("b{i}"), &c1]);
    }
    let config = config_for(&repo.url(), "github", "")
        .replace("branches = [\"main\"]", "branches = [\"*\"]")
        + &schema.cluster_section();
    let gw = Gateway::start(tmp.path(), &config);

    // Acknowledged, run from the PostgreSQL queue, indexed and searchable; a redelivery is
    // answered from the queue's dedupe keys.
    let first = push(&gw, "pg-first", "main", &c1);
    let job = gw.succeeded(&first);
    let again = push(&gw, "pg-first", "main", &c1);
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["status"], "duplicate");
    assert_eq!(again.json()["job_id"], job["id"]);
    assert!(
        !gw.search_hits("q=pg_backed_ident").is_empty(),
        "the pushed file is not searchable"
    );

    // A burst of pushes, then kill -9 before they can all have run.
    let mut acknowledged = vec![job["id"].as_str().unwrap().to_string()];
    for i in 0..30 {
        let answer = push(&gw, &format!("pg-burst-{i}"), &format!("b{i}"), &c1);
        assert_eq!(answer.status, 202, "{}", answer.text());
        acknowledged.push(answer.json()["job_id"].as_str().unwrap().to_string());
    }
    let config_path = gw.config.clone();
    let first_log = gw.log_text();
    gw.kill9();

    let gw = Gateway::start_with(tmp.path(), &config_path);
    for id in &acknowledged {
        let job = gw.wait_finished(id);
        assert_eq!(job["state"], "succeeded", "{job}");
    }
    let listed = gw.manage("GET", "/webhooks/jobs?limit=500", b"");
    assert_eq!(listed.status, 200, "{}", listed.text());
    let ids: Vec<String> = listed.json()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|job| job["id"].as_str().map(str::to_owned))
        .collect();
    for id in &acknowledged {
        assert!(ids.contains(id), "{id} is not listed: {ids:?}");
    }
    let redelivered = push(&gw, "pg-burst-7", "b7", &c1);
    assert_eq!(
        redelivered.json()["status"],
        "duplicate",
        "{}",
        redelivered.text()
    );

    // The password is nowhere: logs, status, job list, check-config.
    let status = gw.manage("GET", "/webhooks/status", b"").text();
    let mut check = gateway_cli();
    check.arg("check-config").arg("--config").arg(&config_path);
    let checked = run_ok(&mut check, "check-config");
    let checked = String::from_utf8_lossy(&checked.stdout).into_owned();
    assert!(checked.contains("jobs on PostgreSQL at"), "{checked}");
    for (what, text) in [
        ("first log", first_log),
        ("log", gw.log_text()),
        ("/webhooks/status", status),
        ("/webhooks/jobs", listed.text()),
        ("check-config", checked),
    ] {
        assert!(
            !text.contains(PASSWORD),
            "{what} shows the password: {text}"
        );
    }
}

#[test]
fn an_unreachable_server_is_a_start_error_naming_host_and_port() {
    // Port 1 on loopback: nothing listens there, so the connection is refused.
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[cluster]\npostgres_url = \"host=127.0.0.1 port=1 user=gw password={PASSWORD} dbname=jobs\"\nconnect_timeout_secs = 30\n"
        ),
    )
    .unwrap();
    let log = tmp.path().join("serve.log");
    let out = serve_command(&config, &tmp.path().join("data"), &log)
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve started without its job store");
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(stderr.contains("PostgreSQL job store"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

#[test]
fn the_delivery_log_lives_in_the_cluster_schema_and_redelivers_from_it() {
    let Some(schema) = Schema::for_test("deliveries") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (repo, c1) = Repo::with_file(
        &tmp.path().join("src"),
        "lib.rs",
        &source_file("pg_log_ident", 3),
    );
    let config = config_for(&repo.url(), "github", "")
        + &schema.cluster_section()
        + "\n[deliveries]\nkeep_bodies = true\n";
    let gw = Gateway::start(tmp.path(), &config);
    let first = push(&gw, "pg-log-1", "main", &c1);
    assert_eq!(first.status, 202, "{}", first.text());
    let logged = |gw: &Gateway| {
        gw.poll(std::time::Duration::from_millis(20), |gw| {
            let page = gw
                .manage("GET", "/webhooks/deliveries?limit=500", b"")
                .json();
            let entries = page["deliveries"].as_array().cloned().unwrap_or_default();
            if entries.is_empty() {
                Err(format!("no entry yet: {page}"))
            } else {
                Ok(entries)
            }
        })
    };
    let entries = logged(&gw);
    assert_eq!(entries[0]["job_id"], first.json()["job_id"], "{entries:?}");
    assert_eq!(entries[0]["body_kept"], true);
    let id = entries[0]["id"].as_str().unwrap().to_string();
    let config_path = gw.config.clone();
    assert!(gw.stop().success());

    // Another data dir: what the log holds can only have come from the schema.
    let gw = Gateway::start_with_data(tmp.path(), &config_path, &tmp.path().join("data-2"));
    let entries = logged(&gw);
    assert_eq!(entries[0]["id"], id.as_str(), "{entries:?}");
    let again = gw.manage("POST", &format!("/webhooks/deliveries/{id}/redeliver"), b"");
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["status"], "duplicate");
    assert_eq!(again.json()["job_id"], first.json()["job_id"]);
    assert!(!gw.log_text().contains(PASSWORD));
}
