//! The signature header parsers: arbitrary values for every header that carries a signature,
//! token or credentials, over a small body, for every built-in provider.
//!
//! Structured input (`arbitrary`): a provider, a list of header operations and a body of at
//! most 256 bytes. An operation sets a header to raw bytes, or to a shaped value (`sha256=`,
//! `sha1=`, `v1,`, `Basic `, a `whsec_` key... followed by the fuzzer's bytes as hex or
//! base64), or appends a correct signature computed by `ProviderId::sign`, so duplicated,
//! mixed and partly valid header sets are reached. The clock is fixed, its offset from the
//! signing time fuzzed, as are `allow_sha1` and the timestamp tolerance.
//!
//! Checks: no panic; verify with no secret fails; a delivery whose only authentication
//! headers are one untouched `sign` output verifies when the clock is within tolerance.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use webhook_core::{Delivery, Headers, ProviderId, Registry, Secret, VerifyOptions};

// The providers and fixture secrets tests/props.rs uses too (the event check is for
// verify_parse).
#[allow(dead_code)]
#[path = "../../tests/checks/webhooks.rs"]
mod webhook_checks;

use webhook_checks::{PROVIDER_IDS as IDS, fixture_secrets};

const NOW_SECS: u64 = 1_700_000_000;

const SIGNATURE_HEADERS: [&str; 10] = [
    "X-Hub-Signature-256",
    "X-Hub-Signature",
    "X-Gitea-Signature",
    "X-Forgejo-Signature",
    "X-Gogs-Signature",
    "X-Gitlab-Token",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "Authorization",
];

const PREFIXES: [&str; 12] = [
    "",
    "sha256=",
    "sha1=",
    "sha512=",
    "v1,",
    "v1a,",
    "Basic ",
    "basic ",
    "Bearer ",
    "v1,AAAA v1,",
    "sha256=sha256=",
    "msg_",
];

#[derive(Debug, Arbitrary)]
enum Encoding {
    Raw,
    Hex,
    Base64,
    Decimal,
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// `header = bytes` as given.
    Raw { header: u8, value: Vec<u8> },
    /// `header = prefix + encode(bytes)`, repeated `repeat % 8 + 1` times with `sep` between.
    Shaped {
        header: u8,
        prefix: u8,
        encoding: Encoding,
        bytes: Vec<u8>,
        repeat: u8,
        sep: u8,
    },
    /// What `sign` makes with configured secret `secret`, appended as is.
    Signed { secret: u8 },
}

#[derive(Debug, Arbitrary)]
struct Input {
    provider: u8,
    ops: Vec<Op>,
    body: Vec<u8>,
    /// Seconds between signing and verifying (either way).
    clock_skew: i16,
    tolerance_secs: u16,
    allow_sha1: bool,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::with_builtins)
}

/// The fixture secrets, plus a rotated second HMAC secret for the providers that sign with one.
fn secrets_for(provider: ProviderId) -> Vec<Secret> {
    let mut secrets = fixture_secrets(provider);
    if !matches!(provider, ProviderId::GitLab | ProviderId::AzureDevOps) {
        secrets.push(Secret::new("rotated-secret").expect("not empty"));
    }
    secrets
}

fn encode(encoding: &Encoding, bytes: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    match encoding {
        Encoding::Raw => bytes.to_vec(),
        Encoding::Hex => bytes
            .iter()
            .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
            .collect(),
        // Not a real base64 encoder: each byte becomes one base64 symbol, with `=` padding
        // to a multiple of four, which is what a parser sees.
        Encoding::Base64 => {
            let mut out: Vec<u8> = bytes.iter().map(|b| B64[usize::from(b & 63)]).collect();
            while out.len() % 4 != 0 {
                out.push(b'=');
            }
            out
        }
        Encoding::Decimal => bytes.iter().map(|b| b'0' + b % 10).collect(),
    }
}

fuzz_target!(|input: Input| {
    if input.body.len() > 256 || input.ops.len() > 16 {
        return;
    }
    let registry = registry();
    let id = IDS[usize::from(input.provider) % IDS.len()];
    let provider = registry.get(id).expect("built in");
    let secrets = secrets_for(id);
    let signed_at = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS);
    let skew = Duration::from_secs(u64::from(input.clock_skew.unsigned_abs()));
    let now = if input.clock_skew < 0 {
        signed_at - skew
    } else {
        signed_at + skew
    };
    let options = VerifyOptions {
        now,
        timestamp_tolerance: Duration::from_secs(u64::from(input.tolerance_secs)),
        allow_sha1: input.allow_sha1,
    };

    let mut headers = Headers::new();
    let mut signed_only = None;
    for (i, op) in input.ops.iter().enumerate() {
        match op {
            Op::Raw { header, value } => {
                let name = SIGNATURE_HEADERS[usize::from(*header) % SIGNATURE_HEADERS.len()];
                headers.insert(name, value);
            }
            Op::Shaped {
                header,
                prefix,
                encoding,
                bytes,
                repeat,
                sep,
            } => {
                let name = SIGNATURE_HEADERS[usize::from(*header) % SIGNATURE_HEADERS.len()];
                let one = [
                    PREFIXES[usize::from(*prefix) % PREFIXES.len()].as_bytes(),
                    &encode(encoding, bytes),
                ]
                .concat();
                let sep: &[u8] = [b" ".as_slice(), b",", b", ", b""][usize::from(*sep) % 4];
                let value = vec![one; usize::from(*repeat % 8) + 1].join(sep);
                headers.insert(name, &value);
            }
            Op::Signed { secret } => {
                let secret = &secrets[usize::from(*secret) % secrets.len()];
                for (name, value) in id.sign(secret, &input.body, signed_at).expect("built in") {
                    headers.insert(&name, value.as_bytes());
                }
                if input.ops.len() == 1 && i == 0 {
                    signed_only = Some(secret.expose().starts_with(b"whsec_"));
                }
            }
        }
    }

    let delivery = Delivery {
        headers: &headers,
        body: &input.body,
    };
    let verified = provider.verify(&delivery, &secrets, &options);
    assert!(provider.verify(&delivery, &[], &options).is_err());
    if let Some(timestamped) = signed_only {
        // Only the Standard Webhooks scheme carries a timestamp, so only it can be stale.
        if !timestamped || skew < options.timestamp_tolerance {
            assert!(
                verified.is_ok(),
                "{id}: a signed delivery failed: {verified:?}"
            );
        }
    }
});
