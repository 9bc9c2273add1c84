//! webhook-core: verification and parsing of GitHub push deliveries, ~7 KB and ~1 MB.
//!
//! Peers in the same run: raw ring HMAC-SHA256 over the same bytes (key set-up included on
//! both sides), so "verify within 1.5x of raw HMAC" is read off one report; and serde_json
//! skipping the whole body (`IgnoredAny`), the floor for any parse built on serde_json.
//! Throughput is in bytes of body, so criterion prints MB/s.
//!
//! Run: `cargo bench -p gateway-benches --bench webhook_verify -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ring::hmac;
use serde_json::json;
use webhook_core::{Delivery, Headers, ParseOptions, ProviderId, Registry, Secret, VerifyOptions};

const SECRET: &str = "bench-secret-of-a-typical-length-32b";

/// A realistic GitHub push body with `commits` commits touching `paths` files each.
fn github_push(commits: usize, paths: usize) -> Vec<u8> {
    let commit = |i: usize| {
        let file = |kind: &str, j: usize| format!("src/module_{}/{kind}_{j:03}.rs", i % 17);
        json!({
            "id": format!("{:040x}", i * 7919 + 1),
            "tree_id": format!("{:040x}", i * 104_729 + 3),
            "distinct": true,
            "message": format!("Change {i}: refactor the parser and update docs\n\nLonger body text explaining the change in some detail, as real commit messages do. Refs #{i}."),
            "timestamp": "2024-05-01T09:58:00+02:00",
            "url": format!("https://github.com/acme/hello/commit/{:040x}", i * 7919 + 1),
            "author": {"name": "Octo Cat", "email": "octocat@example.com", "username": "octocat"},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
            "added": (0..paths / 3).map(|j| file("added", j)).collect::<Vec<_>>(),
            "removed": (0..paths / 6).map(|j| file("removed", j)).collect::<Vec<_>>(),
            "modified": (0..paths - paths / 3 - paths / 6).map(|j| file("modified", j)).collect::<Vec<_>>(),
        })
    };
    let body = json!({
        "ref": "refs/heads/main",
        "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        "repository": {
            "id": 1_296_269, "name": "hello", "full_name": "acme/hello", "private": false,
            "owner": {"name": "acme", "login": "acme", "id": 583_231, "type": "Organization"},
            "html_url": "https://github.com/acme/hello", "description": "A hello service",
            "fork": false, "url": "https://github.com/acme/hello",
            "git_url": "git://github.com/acme/hello.git", "ssh_url": "git@github.com:acme/hello.git",
            "clone_url": "https://github.com/acme/hello.git", "default_branch": "main",
            "topics": ["rust", "webhooks"], "stargazers_count": 80, "forks_count": 9
        },
        "pusher": {"name": "octocat", "email": "octocat@example.com"},
        "sender": {"login": "octocat", "id": 1, "type": "User", "site_admin": false},
        "created": false, "deleted": false, "forced": false, "base_ref": null,
        "compare": "https://github.com/acme/hello/compare/6113728f27ae...0d1a26e67d8f",
        "commits": (0..commits).map(commit).collect::<Vec<_>>(),
        "head_commit": commit(commits),
    });
    serde_json::to_vec(&body).expect("serializable")
}

fn bench(c: &mut Criterion) {
    let registry = Registry::with_builtins();
    let github = registry.get(ProviderId::GitHub).expect("built in").clone();
    let secrets = [Secret::new(SECRET).expect("not empty")];
    let opts = VerifyOptions::default();

    for (label, body) in [("7KB", github_push(6, 6)), ("1MB", github_push(1100, 12))] {
        let mut headers: Headers = ProviderId::GitHub
            .sign(&secrets[0], &body, SystemTime::now())
            .expect("sign")
            .into_iter()
            .collect();
        headers.insert("X-GitHub-Event", b"push");
        headers.insert("X-GitHub-Delivery", b"72d3162e-cc78-11e3-81ab-4c9367dc0958");
        let delivery = Delivery {
            headers: &headers,
            body: &body,
        };
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes()), &body);
        eprintln!("webhook_verify: {label} body is {} bytes", body.len());

        let mut group = c.benchmark_group(format!("webhook_verify/{label}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(BenchmarkId::new("raw_hmac_sha256", label), |b| {
            b.iter(|| {
                let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());
                hmac::verify(&key, black_box(&body), tag.as_ref()).expect("valid")
            })
        });
        group.bench_function(BenchmarkId::new("verify", label), |b| {
            b.iter(|| {
                github
                    .verify(black_box(&delivery), &secrets, &opts)
                    .expect("valid")
            })
        });
        group.bench_function(BenchmarkId::new("parse", label), |b| {
            b.iter(|| github.parse(black_box(&delivery)).expect("parses"))
        });
        // What the gateway's answer path does: commit file lists skipped unread.
        let lean = ParseOptions {
            changed_paths: false,
        };
        group.bench_function(BenchmarkId::new("parse_without_paths", label), |b| {
            b.iter(|| {
                github
                    .parse_with(black_box(&delivery), &lean)
                    .expect("parses")
            })
        });
        // The floor for any serde_json-based parse: walk the whole body, keep nothing.
        group.bench_function(BenchmarkId::new("serde_json_skip_all", label), |b| {
            b.iter(|| {
                serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&body)).expect("JSON")
            })
        });
        group.bench_function(BenchmarkId::new("verify_and_parse", label), |b| {
            b.iter(|| {
                github
                    .verify(black_box(&delivery), &secrets, &opts)
                    .expect("valid");
                github.parse(black_box(&delivery)).expect("parses")
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
