//! Walks `tests/fixtures/<provider>/*.case.json`: each case names the headers a provider
//! sends with the body in the sibling `<name>.json`, and the normalized fields expected.
//! The body is signed the way the provider would, verified, parsed and compared.

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use serde_json::Value;
use webhook_core::{
    ChangedPaths, Delivery, Headers, ParseOptions, ProviderId, Registry, Secret, VerifyOptions,
};

fn secret_for(provider: ProviderId) -> Secret {
    let text = match provider {
        ProviderId::GitLab => "fixture-token",
        ProviderId::AzureDevOps => "gateway:fixture-password",
        _ => "fixture-secret",
    };
    Secret::new(text).unwrap()
}

#[test]
fn every_fixture_verifies_and_parses_to_its_expected_fields() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let registry = Registry::with_builtins();
    let mut failures = Vec::new();
    let mut seen = 0;
    for provider in registry.ids() {
        let dir = root.join(provider.as_str());
        let mut cases: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("fixture folder {}: {e}", dir.display()))
            .map(|entry| entry.expect("readable entry").path())
            .filter(|path| path.to_string_lossy().ends_with(".case.json"))
            .collect();
        cases.sort();
        assert!(!cases.is_empty(), "no fixtures for {provider}");
        for case_path in cases {
            seen += 1;
            let name = case_path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".case.json", "");
            let label = format!("{provider}/{name}");
            let body = fs::read(dir.join(format!("{name}.json"))).expect("body file");
            let case: Value =
                serde_json::from_slice(&fs::read(&case_path).unwrap()).expect("case is JSON");
            let secret = secret_for(provider);
            let mut headers = Headers::new();
            for (key, value) in case["headers"].as_object().expect("headers object") {
                headers.insert(key, value.as_str().expect("header value").as_bytes());
            }
            for (key, value) in provider.sign(&secret, &body, SystemTime::now()).unwrap() {
                headers.insert(&key, value.as_bytes());
            }
            let delivery = Delivery {
                headers: &headers,
                body: &body,
            };
            let implementation = registry.get(provider).unwrap();
            if let Err(err) = implementation.verify(&delivery, &[secret], &VerifyOptions::default())
            {
                failures.push(format!("{label}: verify failed: {err}"));
                continue;
            }
            let event = match implementation.parse(&delivery) {
                Ok(event) => event,
                Err(err) => {
                    failures.push(format!("{label}: parse failed: {err}"));
                    continue;
                }
            };
            // Without changed paths the event is the same but for them: empty, not complete.
            let without_paths = ParseOptions {
                changed_paths: false,
            };
            match implementation.parse_with(&delivery, &without_paths) {
                Ok(mut lean) => {
                    if lean.changed_paths != ChangedPaths::default() {
                        failures.push(format!("{label}: changed paths filled though not asked"));
                    }
                    lean.changed_paths = event.changed_paths.clone();
                    if lean != event {
                        failures.push(format!("{label}: parse_with differs beyond changed paths"));
                    }
                }
                Err(err) => failures.push(format!("{label}: parse_with failed: {err}")),
            }
            let actual = serde_json::to_value(&event).unwrap();
            for (field, expected) in case["expected"].as_object().expect("expected object") {
                if &actual[field] != expected {
                    failures.push(format!(
                        "{label}: field {field}\n  expected {expected}\n  actual   {}",
                        actual[field]
                    ));
                }
            }
        }
    }
    assert!(seen >= 25, "only {seen} fixtures found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
