//! Every built-in provider's `verify` and `parse` on one raw delivery.
//!
//! Input layout: byte 0 picks the provider (low 6 bits, modulo the number of built-in
//! providers, in `IDS` order: azure-devops, bitbucket, gitea, github, gitlab); its
//! high bit asks for the body to be signed with one of the fixed secrets (bit 6 picks which),
//! replacing any authentication header of the input, so the fuzzer reaches the accepting
//! path of `verify` too. The rest is `Name: value` header lines up to the first
//! empty line, then the body (`fuzz/seeds/verify_parse/` holds every webhook-core fixture in
//! this layout).
//!
//! Checks: no panic; a body signed with a configured secret verifies; verify with no secret
//! fails; an event never holds more path bytes or ref updates than its body (as in
//! tests/props.rs).
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use webhook_core::{Delivery, Headers, Registry, VerifyOptions};

// The checks tests/props.rs makes too, one copy for both.
#[path = "../../tests/checks/webhooks.rs"]
mod webhook_checks;

use webhook_checks::{PROVIDER_IDS as IDS, assert_event_within_body, fixture_secrets};

/// A fixed clock, so a run is reproducible; seeds that carry a `webhook-timestamp` use it.
const NOW_SECS: u64 = 1_700_000_000;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::with_builtins)
}

/// Every header that carries a signature, token or credentials.
const AUTH_HEADERS: [&str; 10] = [
    "x-hub-signature-256",
    "x-hub-signature",
    "x-gitea-signature",
    "x-forgejo-signature",
    "x-gogs-signature",
    "x-gitlab-token",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "authorization",
];

/// Splits `Name: value` lines (up to the first empty line) from the body.
fn split(rest: &[u8]) -> (Vec<(&str, &[u8])>, &[u8]) {
    let mut headers = Vec::new();
    let mut at = 0;
    while at < rest.len() {
        let end = rest[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |p| at + p);
        let line = &rest[at..end];
        at = (end + 1).min(rest.len());
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
        let Ok(name) = std::str::from_utf8(&line[..colon]) else {
            continue;
        };
        let value = line.get(colon + 1..).unwrap_or_default();
        let value = value.strip_prefix(b" ").unwrap_or(value);
        headers.push((name.trim(), value));
    }
    (headers, &rest[at..])
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let registry = registry();
    let id = IDS[usize::from(first & 0x3f) % IDS.len()];
    let provider = registry.get(id).expect("built in");
    let secrets = fixture_secrets(id);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS);
    let options = VerifyOptions {
        now,
        ..VerifyOptions::default()
    };

    let (raw_headers, body) = split(rest);
    let signed = first & 0x80 != 0;
    let mut headers = Headers::new();
    for (name, value) in raw_headers {
        if !(signed && AUTH_HEADERS.contains(&name.to_ascii_lowercase().as_str())) {
            headers.insert(name, value);
        }
    }
    if signed {
        let secret = &secrets[usize::from(first >> 6 & 1) % secrets.len()];
        for (name, value) in id.sign(secret, body, now).expect("built-in provider") {
            headers.insert(&name, value.as_bytes());
        }
    }
    let delivery = Delivery {
        headers: &headers,
        body,
    };

    let verified = provider.verify(&delivery, &secrets, &options);
    if signed {
        // The input's own authentication headers were dropped: only what `sign` made is left.
        assert!(verified.is_ok(), "{id}: a signed body failed: {verified:?}");
    }
    assert!(provider.verify(&delivery, &[], &options).is_err());

    if let Ok(event) = provider.parse(&delivery) {
        assert_event_within_body(&event, body);
    }
});
