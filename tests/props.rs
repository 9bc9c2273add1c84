//! Property tests of every parser that sees outside input, run in CI: the webhook verifiers
//! and parsers of all providers (signature headers included), the config parser, the chunker
//! and the search query parser. The same inputs are fuzzed for longer by the targets in
//! `fuzz/` (see docs/RELIABILITY.md).
//!
//! Each property says "no panic, output bounded by the input". The quadratic candidates are run
//! once at a size where quadratic work would take many minutes, so a regression shows up as
//! a test that never finishes rather than as a timing assertion.

// The checks the fuzz targets in `fuzz/` make too, one copy for both.
#[path = "checks/chunks.rs"]
mod chunk_checks;
#[path = "checks/config.rs"]
mod config_checks;
#[path = "checks/search.rs"]
mod search_checks;
#[path = "checks/webhooks.rs"]
mod webhook_checks;

use std::path::Path;
use std::time::SystemTime;

use chunk_checks::check_chunks;
use indexer::ChunkConfig;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use search::{Query, SearchIndex};
use search_checks::{check_results, index_of};
use webhook_checks::{PROVIDER_IDS, assert_event_within_body, fixture_secrets};
use webhook_core::{Delivery, Headers, ProviderId, Registry, VerifyOptions};

/// Every header name a provider reads, plus one it ignores.
const HEADER_NAMES: [&str; 26] = [
    "X-Hub-Signature-256",
    "X-Hub-Signature",
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-GitHub-Hook-ID",
    "X-Gitea-Signature",
    "X-Gitea-Event",
    "X-Gitea-Delivery",
    "X-Forgejo-Signature",
    "X-Forgejo-Event",
    "X-Forgejo-Delivery",
    "X-Gogs-Signature",
    "X-Gogs-Event",
    "X-Gogs-Delivery",
    "X-Gitlab-Token",
    "X-Gitlab-Event",
    "X-Gitlab-Event-UUID",
    "Idempotency-Key",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "X-Event-Key",
    "X-Request-UUID",
    "X-Hook-UUID",
    "Authorization",
    "X-Unrelated",
];

fn cases(n: u32) -> RunnerConfig {
    RunnerConfig {
        cases: n,
        failure_persistence: None,
        ..RunnerConfig::default()
    }
}

/// One fixture: provider, the headers its case file names, and the body.
type Fixture = (ProviderId, Vec<(String, String)>, Vec<u8>);

/// Every fixture body with the headers its case file names.
fn fixtures() -> Vec<Fixture> {
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/webhook-core/tests/fixtures");
    let mut out = Vec::new();
    for provider in PROVIDER_IDS {
        let mut names: Vec<_> = std::fs::read_dir(root.join(provider.as_str()))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".case.json"))
            .collect();
        names.sort();
        for case_path in names {
            let body_path = case_path.to_string_lossy().replace(".case.json", ".json");
            let case: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&case_path).unwrap()).unwrap();
            let headers = case["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            out.push((provider, headers, std::fs::read(body_path).unwrap()));
        }
    }
    out
}

/// Runs verify and parse; neither may panic, and an event may not be bigger than its body.
fn verify_and_parse(provider: ProviderId, headers: &Headers, body: &[u8]) {
    let registry = Registry::with_builtins();
    let implementation = registry.get(provider).unwrap();
    let delivery = Delivery { headers, body };
    let _ = implementation.verify(
        &delivery,
        &fixture_secrets(provider),
        &VerifyOptions::default(),
    );
    if let Ok(event) = implementation.parse(&delivery) {
        assert_event_within_body(&event, body);
    }
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..80),
        "(sha256|sha1|sha512|v1|Basic|)[=, ]?[0-9a-fA-F+/=]{0,70}".prop_map(String::into_bytes),
        "[ -~]{0,40}".prop_map(String::into_bytes),
    ]
}

fn headers_strategy() -> impl Strategy<Value = Vec<(usize, Vec<u8>)>> {
    proptest::collection::vec((0..HEADER_NAMES.len(), header_value()), 0..12)
}

#[test]
fn verify_and_parse_never_panic_on_arbitrary_headers_and_bytes() {
    let mut runner = TestRunner::new(cases(400));
    let strategy = (
        0..PROVIDER_IDS.len(),
        headers_strategy(),
        proptest::collection::vec(any::<u8>(), 0..400),
    );
    runner
        .run(&strategy, |(p, raw_headers, body)| {
            let headers: Headers = raw_headers
                .iter()
                .map(|(n, v)| (HEADER_NAMES[*n], v.as_slice()))
                .collect();
            verify_and_parse(PROVIDER_IDS[p], &headers, &body);
            Ok(())
        })
        .unwrap();
}

/// A JSON value of bounded depth and size, to splice into fixture payloads.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,20}".prop_map(Value::String),
        Just(Value::String("refs/heads/../../x".into())),
        Just(Value::String("--upload-pack=touch /tmp/pwned".into())),
        Just(Value::String("refs/heads/a\u{0}b".into())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the value at a pseudo-random position of `doc` (picked by `pick`) with `value`.
fn splice(doc: &mut serde_json::Value, mut pick: usize, value: serde_json::Value) {
    let mut node = doc;
    loop {
        let children: usize = match node {
            serde_json::Value::Object(m) => m.len(),
            serde_json::Value::Array(a) => a.len(),
            _ => 0,
        };
        if children == 0 || pick % 4 == 0 {
            *node = value;
            return;
        }
        let index = (pick / 4) % children;
        pick /= 3;
        node = match node {
            serde_json::Value::Object(m) => m.values_mut().nth(index).unwrap(),
            serde_json::Value::Array(a) => &mut a[index],
            _ => unreachable!("childless nodes returned above"),
        };
    }
}

#[test]
fn signed_mutated_fixtures_verify_and_parse_without_panic() {
    let fixtures = fixtures();
    assert!(
        fixtures.len() >= 20,
        "fixtures went missing: {}",
        fixtures.len()
    );
    let mut runner = TestRunner::new(cases(300));
    let strategy = (0..fixtures.len(), any::<usize>(), json_value());
    runner
        .run(&strategy, |(which, pick, value)| {
            let (provider, case_headers, body) = &fixtures[which];
            let mut doc: serde_json::Value = serde_json::from_slice(body).unwrap();
            splice(&mut doc, pick, value);
            let body = serde_json::to_vec(&doc).unwrap();
            let secret = fixture_secrets(*provider).remove(0);
            let mut headers: Headers = case_headers.iter().map(|(k, v)| (k, v)).collect();
            for (k, v) in provider.sign(&secret, &body, SystemTime::now()).unwrap() {
                headers.insert(&k, v.as_bytes());
            }
            let registry = Registry::with_builtins();
            let delivery = Delivery {
                headers: &headers,
                body: &body,
            };
            // Signed with a configured secret: verification must succeed whatever the JSON says.
            prop_assert!(
                registry
                    .get(*provider)
                    .unwrap()
                    .verify(&delivery, &[secret], &VerifyOptions::default())
                    .is_ok()
            );
            verify_and_parse(*provider, &headers, &body);
            Ok(())
        })
        .unwrap();
}

#[test]
fn deeply_nested_and_huge_number_payloads_are_errors_not_crashes() {
    let deep_arrays = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let huge_number = format!(
        "{{\"ref\":\"refs/heads/main\",\"before\":1{zeros},\"after\":-1e99999999,\"repository\":{{}}}}",
        zeros = "0".repeat(100_000)
    );
    for provider in PROVIDER_IDS {
        for body in [&deep_arrays, &deep_objects, &huge_number] {
            let mut headers = Headers::new();
            let secret = &fixture_secrets(provider)[0];
            for (k, v) in provider
                .sign(secret, body.as_bytes(), SystemTime::now())
                .unwrap()
            {
                headers.insert(&k, v.as_bytes());
            }
            for name in [
                "X-GitHub-Event",
                "X-Gitea-Event",
                "X-Gitlab-Event",
                "X-Event-Key",
            ] {
                headers.insert(name, b"push");
            }
            headers.insert("X-Gitlab-Event", b"Push Hook");
            verify_and_parse(provider, &headers, body.as_bytes());
        }
    }
}

/// Many `v1,` entries in one `webhook-signature` header against a big body. Verifying each
/// entry by hashing the whole body again (as webhook-core once did) makes this
/// 9,000 × 16 MiB = 144 GB of SHA-256; hashing once makes it 16 MiB.
#[test]
fn many_signature_entries_cost_one_pass_over_the_body() {
    let body = vec![b' '; 16 << 20];
    let entries = "v1,AAAA ".repeat(8_000); // 64 KiB, hyper's header buffer
    let mut headers = Headers::new();
    headers.insert("webhook-signature", entries.as_bytes());
    headers.insert("webhook-id", b"msg_1");
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    headers.insert("webhook-timestamp", now.as_bytes());
    let registry = Registry::with_builtins();
    let result = registry.get(ProviderId::GitLab).unwrap().verify(
        &Delivery {
            headers: &headers,
            body: &body,
        },
        &fixture_secrets(ProviderId::GitLab),
        &VerifyOptions::default(),
    );
    assert!(result.is_err());
}

fn config_line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("listen"),
        Just("data_dir"),
        Just("workers"),
        Just("max_body_bytes"),
        Just("max_connections"),
        Just("header_read_timeout_secs"),
        Just("git_timeout_secs"),
        Just("job_retention_secs"),
        Just("max_attempts"),
        Just("name"),
        Just("provider"),
        Just("url"),
        Just("path"),
        Just("branches"),
        Just("secret"),
        Just("secret_env"),
        Just("pull_requests"),
        Just("tags"),
        Just("include"),
        Just("exclude"),
        Just("max_file_bytes"),
        Just("allow_sha1"),
        Just("per_ip_per_sec"),
        Just("unknown_key"),
    ];
    let value = prop_oneof![
        Just("\"github\"".to_string()),
        Just("\"demo\"".to_string()),
        Just("\"a/../b\"".to_string()),
        Just("\"127.0.0.1:0\"".to_string()),
        Just("[\"main\", \"*\"]".to_string()),
        Just("[\"--upload-pack=x\"]".to_string()),
        Just("\"file:///tmp/x\"".to_string()),
        Just("\"https://u:p@h/x\"".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        "\"\\PC{0,12}\"".prop_map(|s| s),
        "[ -~]{0,20}",
    ];
    prop_oneof![
        8 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        2 => Just("[[repos]]".to_string()),
        1 => Just("[rate_limit]".to_string()),
        1 => "\\PC{0,30}",
    ]
}

#[test]
fn config_parser_never_panics_and_names_real_lines() {
    let mut runner = TestRunner::new(cases(400));
    let strategy = proptest::collection::vec(config_line(), 0..20);
    runner
        .run(&strategy, |lines| {
            let text = lines.join("\n");
            let overrides = gateway_config::Overrides::default();
            let parsed =
                gateway_config::Config::from_str_with(&text, Path::new("props.toml"), &overrides);
            config_checks::check_parsed(&text, parsed);
            Ok(())
        })
        .unwrap();
}

#[test]
fn chunker_covers_any_text_exactly_within_limits() {
    let mut runner = TestRunner::new(cases(300));
    let text = prop_oneof![
        "\\PC{0,2000}",
        "([ \t]{0,8}(fn|}|\\{|//|)[a-z ]{0,30}\r?\n){0,200}",
        proptest::collection::vec(
            prop_oneof![Just("\n"), Just("\r\n"), Just("}"), Just("    x")],
            0..500
        )
        .prop_map(|v| v.concat()),
    ];
    let config = (1usize..200, 1usize..5000, 1usize..300, 1usize..8000).prop_map(
        |(target_lines, target_bytes, max_lines, max_bytes)| ChunkConfig {
            target_lines,
            target_bytes,
            max_lines: max_lines.max(target_lines),
            max_bytes: max_bytes.max(target_bytes),
        },
    );
    runner
        .run(
            &(text, prop_oneof![Just(ChunkConfig::default()), config]),
            |(text, config)| {
                check_chunks(&text, &config);
                Ok(())
            },
        )
        .unwrap();
}

/// The chunker's quadratic candidates at sizes where quadratic work would take minutes:
/// 2 million empty lines, one 8 MiB line, and 1 million closing braces (never a cut point).
#[test]
fn chunker_is_linear_on_pathological_text() {
    let config = ChunkConfig::default();
    check_chunks(&"\n".repeat(2_000_000), &config);
    check_chunks(&"x".repeat(8 << 20), &config);
    check_chunks(&"}\n".repeat(1_000_000), &config);
    check_chunks(&"\t".repeat(1_000_000), &config);
}

fn small_index() -> SearchIndex {
    index_of(&[
        (
            "demo",
            "refs/heads/main",
            "src/http.rs",
            "fn parse_http_request(raw: &[u8]) -> Request {\n    decode(raw)\n}\n",
        ),
        (
            "demo",
            "refs/heads/main",
            "src/lib.rs",
            "pub struct SignatureVerifier;\nimpl SignatureVerifier { fn verify() {} }\n",
        ),
        (
            "demo",
            "refs/heads/main",
            "README.md",
            "Context \"Gateway\": search [code] with *globs* and ?marks\n",
        ),
    ])
}

#[test]
fn search_queries_never_panic_and_respect_the_limit() {
    let index = small_index();
    let mut runner = TestRunner::new(cases(300));
    let word = prop_oneof![
        "\\PC{0,40}",
        "[\"*?\\[\\]{}()+:~^ a-zA-Z_-]{0,60}",
        Just("parseHttpRequest".to_string()),
        Just("\"signature verifier\"".to_string()),
        Just("AND OR NOT field:value".to_string()),
    ];
    let filter = proptest::option::of("[ -~]{0,20}");
    let strategy = (
        proptest::collection::vec(word, 1..6),
        filter.clone(),
        filter.clone(),
        filter,
        0usize..1000,
    );
    runner
        .run(&strategy, |(words, repo, git_ref, path, limit)| {
            let query = Query {
                text: words.join(" "),
                repo,
                git_ref,
                path,
                limit,
                ..Query::default()
            };
            if let Ok(results) = index.search(&query) {
                check_results(&query, &results);
            }
            Ok(())
        })
        .unwrap();
}

/// Long queries are refused before they become clauses, whatever they hold.
#[test]
fn oversized_queries_are_refused() {
    let index = small_index();
    for text in [
        "a ".repeat(50_000),
        "\"".repeat(100_001),
        "x".repeat(1 << 20),
        "[*".repeat(10_000),
    ] {
        assert!(index.search(&Query::new(text)).is_err());
    }
    let glob = Query {
        text: "verify".into(),
        path: Some("**/".repeat(5_000)),
        ..Query::default()
    };
    let _ = index.search(&glob);
}
