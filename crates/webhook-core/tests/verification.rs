//! Verification against published vectors and the ways a delivery can be wrong.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use webhook_core::{
    Delivery, Error, Headers, Provider, ProviderId, Registry, Secret, Verified, VerifyOptions,
};

const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITHUB_BODY: &[u8] = b"Hello, World!";
const GITHUB_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

fn provider(id: &str) -> std::sync::Arc<dyn Provider> {
    Registry::with_builtins()
        .get(id.parse().expect("a provider name"))
        .expect("built-in provider")
        .clone()
}

/// The headers the provider named `id` would send.
fn sign(
    id: &str,
    secret: &Secret,
    body: &[u8],
    now: SystemTime,
) -> Result<Vec<(String, String)>, Error> {
    id.parse::<ProviderId>()?.sign(secret, body, now)
}

fn secret(text: &str) -> Secret {
    Secret::new(text).expect("a test secret is not empty")
}

fn headers(pairs: &[(&str, &str)]) -> Headers {
    pairs.iter().map(|(k, v)| (*k, v.as_bytes())).collect()
}

fn verify(id: &str, headers: &Headers, body: &[u8], secrets: &[&str]) -> Result<Verified, Error> {
    verify_with(id, headers, body, secrets, &VerifyOptions::default())
}

fn verify_with(
    id: &str,
    headers: &Headers,
    body: &[u8],
    secrets: &[&str],
    opts: &VerifyOptions,
) -> Result<Verified, Error> {
    let secrets: Vec<Secret> = secrets.iter().map(|s| secret(s)).collect();
    provider(id).verify(&Delivery { headers, body }, &secrets, opts)
}

fn code(result: Result<Verified, Error>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(err) => err.code(),
    }
}

#[test]
fn github_published_vector_verifies_and_sign_reproduces_it() {
    let h = headers(&[("X-Hub-Signature-256", GITHUB_SIGNATURE)]);
    assert_eq!(
        verify("github", &h, GITHUB_BODY, &[GITHUB_SECRET]).unwrap(),
        Verified::Signature
    );
    let signed = sign(
        "github",
        &secret(GITHUB_SECRET),
        GITHUB_BODY,
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(
        signed,
        vec![(
            "X-Hub-Signature-256".to_owned(),
            GITHUB_SIGNATURE.to_owned()
        )]
    );
}

#[test]
fn tampering_with_any_body_byte_fails() {
    let h = headers(&[("X-Hub-Signature-256", GITHUB_SIGNATURE)]);
    for i in 0..GITHUB_BODY.len() {
        let mut body = GITHUB_BODY.to_vec();
        body[i] ^= 0x01;
        assert_eq!(
            code(verify("github", &h, &body, &[GITHUB_SECRET])),
            "invalid_signature",
            "byte {i}"
        );
    }
    let mut longer = GITHUB_BODY.to_vec();
    longer.push(b'\n');
    assert_eq!(
        code(verify("github", &h, &longer, &[GITHUB_SECRET])),
        "invalid_signature"
    );
}

#[test]
fn header_names_ignore_case_and_values_ignore_surrounding_whitespace() {
    for name in [
        "x-hub-signature-256",
        "X-HUB-SIGNATURE-256",
        "X-Hub-Signature-256",
    ] {
        let h = headers(&[(name, GITHUB_SIGNATURE)]);
        assert_eq!(
            code(verify("github", &h, GITHUB_BODY, &[GITHUB_SECRET])),
            "ok",
            "{name}"
        );
    }
    let padded = format!(" \t{GITHUB_SIGNATURE}  ");
    let h = headers(&[("X-Hub-Signature-256", &padded)]);
    assert_eq!(
        code(verify("github", &h, GITHUB_BODY, &[GITHUB_SECRET])),
        "ok"
    );
    let upper_prefix = GITHUB_SIGNATURE.replace("sha256=", "SHA256=");
    let h = headers(&[("X-Hub-Signature-256", &upper_prefix)]);
    assert_eq!(
        code(verify("github", &h, GITHUB_BODY, &[GITHUB_SECRET])),
        "ok"
    );
    let upper_hex = format!("sha256={}", GITHUB_SIGNATURE[7..].to_ascii_uppercase());
    let h = headers(&[("X-Hub-Signature-256", &upper_hex)]);
    assert_eq!(
        code(verify("github", &h, GITHUB_BODY, &[GITHUB_SECRET])),
        "ok"
    );
}

#[test]
fn malformed_signature_values_are_invalid() {
    let hex = &GITHUB_SIGNATURE[7..];
    let cases = [
        format!("sha1={hex}"),
        format!("sha512={hex}"),
        hex.to_owned(),
        format!("sha256={}", &hex[1..]),
        format!("sha256={}", &hex[2..]),
        format!("sha256={}zz", &hex[2..]),
        "sha256=".to_owned(),
    ];
    for value in &cases {
        let h = headers(&[("X-Hub-Signature-256", value)]);
        let err = verify("github", &h, GITHUB_BODY, &[GITHUB_SECRET]).unwrap_err();
        assert_eq!(err.code(), "invalid_signature", "{value}");
        let message = err.to_string();
        assert!(
            !message.contains(&hex[2..20]),
            "message leaks the signature: {message}"
        );
        assert!(
            !message.contains(GITHUB_SECRET),
            "message leaks the secret: {message}"
        );
    }
    let odd = headers(&[("X-Hub-Signature-256", &format!("sha256={}", &hex[1..]))]);
    let message = verify("github", &odd, GITHUB_BODY, &[GITHUB_SECRET])
        .unwrap_err()
        .to_string();
    assert!(message.contains("odd number of hex digits"), "{message}");
}

#[test]
fn missing_empty_and_duplicated_headers() {
    assert_eq!(
        code(verify(
            "github",
            &Headers::new(),
            GITHUB_BODY,
            &[GITHUB_SECRET]
        )),
        "missing_signature"
    );
    let empty = headers(&[("X-Hub-Signature-256", "  ")]);
    assert_eq!(
        code(verify("github", &empty, GITHUB_BODY, &[GITHUB_SECRET])),
        "missing_signature"
    );
    let twice = headers(&[
        ("X-Hub-Signature-256", GITHUB_SIGNATURE),
        ("x-hub-signature-256", GITHUB_SIGNATURE),
    ]);
    assert_eq!(
        code(verify("github", &twice, GITHUB_BODY, &[GITHUB_SECRET])),
        "invalid_signature"
    );
    let mut not_utf8 = Headers::new();
    not_utf8.insert("X-Hub-Signature-256", &[0xff, 0x00, 0x80]);
    assert_eq!(
        code(verify("github", &not_utf8, GITHUB_BODY, &[GITHUB_SECRET])),
        "invalid_signature"
    );
    let err = verify("github", &Headers::new(), GITHUB_BODY, &[GITHUB_SECRET]).unwrap_err();
    assert!(err.to_string().contains("X-Hub-Signature-256"), "{err}");
}

#[test]
fn any_of_several_secrets_verifies_and_none_configured_fails() {
    let h = headers(&[("X-Hub-Signature-256", GITHUB_SIGNATURE)]);
    assert_eq!(
        code(verify(
            "github",
            &h,
            GITHUB_BODY,
            &["old secret", GITHUB_SECRET]
        )),
        "ok"
    );
    assert_eq!(
        code(verify("github", &h, GITHUB_BODY, &["old secret", "other"])),
        "invalid_signature"
    );
    assert_eq!(
        code(verify("github", &h, GITHUB_BODY, &[])),
        "invalid_signature"
    );
    // An empty secret cannot even be made, so it can never verify anything.
    assert_eq!(Secret::new("").unwrap_err().code(), "empty_secret");
}

#[test]
fn github_sha1_only_when_allowed() {
    let sha1 = "sha1=0a4a6c36dd2bca0f0e0ef7dbf1f56ab2b0b22e3b";
    // Compute the real SHA-1 signature rather than trusting a literal.
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        GITHUB_SECRET.as_bytes(),
    );
    let tag = ring::hmac::sign(&key, GITHUB_BODY);
    let real: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let real = format!("sha1={real}");
    assert_ne!(real, sha1);
    let h = headers(&[("X-Hub-Signature", &real)]);
    assert_eq!(
        code(verify("github", &h, GITHUB_BODY, &[GITHUB_SECRET])),
        "invalid_signature"
    );
    let allow = VerifyOptions {
        allow_sha1: true,
        ..VerifyOptions::default()
    };
    assert_eq!(
        verify_with("github", &h, GITHUB_BODY, &[GITHUB_SECRET], &allow).unwrap(),
        Verified::Signature
    );
    let wrong = headers(&[("X-Hub-Signature", sha1)]);
    assert_eq!(
        code(verify_with(
            "github",
            &wrong,
            GITHUB_BODY,
            &[GITHUB_SECRET],
            &allow
        )),
        "invalid_signature"
    );
    // With both headers, SHA-256 decides even when SHA-1 is allowed.
    let both = headers(&[
        ("X-Hub-Signature", &real),
        ("X-Hub-Signature-256", "sha256=00"),
    ]);
    assert_eq!(
        code(verify_with(
            "github",
            &both,
            GITHUB_BODY,
            &[GITHUB_SECRET],
            &allow
        )),
        "invalid_signature"
    );
}

// The Standard Webhooks project's published signing vector (the `sign` test of its
// reference libraries): secret, message id, timestamp, payload and expected signature.
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_TIMESTAMP: u64 = 1_614_265_330;
const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SW_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn at(seconds: u64) -> VerifyOptions {
    VerifyOptions {
        now: UNIX_EPOCH + Duration::from_secs(seconds),
        ..VerifyOptions::default()
    }
}

/// The code GitLab's Standard Webhooks verification of `SW_BODY` answers with `headers` and
/// `secrets` when the clock says `now` (seconds since the epoch).
fn sw_code(headers: &Headers, secrets: &[&str], now: u64) -> &'static str {
    code(verify_with("gitlab", headers, SW_BODY, secrets, &at(now)))
}

fn sw_headers(signature: &str) -> Headers {
    headers(&[
        ("webhook-id", SW_ID),
        ("webhook-timestamp", &SW_TIMESTAMP.to_string()),
        ("webhook-signature", signature),
    ])
}

#[test]
fn standard_webhooks_published_vector_verifies() {
    let h = sw_headers(SW_SIGNATURE);
    assert_eq!(
        verify_with("gitlab", &h, SW_BODY, &[SW_SECRET], &at(SW_TIMESTAMP)).unwrap(),
        Verified::Signature
    );
    // Several signatures, space separated, the valid one among them.
    let list =
        format!("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc {SW_SIGNATURE} v1,!!!");
    let h = sw_headers(&list);
    assert_eq!(sw_code(&h, &[SW_SECRET], SW_TIMESTAMP), "ok");
}

#[test]
fn standard_webhooks_rejects_replays_tampering_and_plain_tokens() {
    let h = sw_headers(SW_SIGNATURE);
    let tolerance = 300;
    assert_eq!(sw_code(&h, &[SW_SECRET], SW_TIMESTAMP + tolerance), "ok");
    match verify_with(
        "gitlab",
        &h,
        SW_BODY,
        &[SW_SECRET],
        &at(SW_TIMESTAMP + tolerance + 1),
    ) {
        Err(Error::StaleTimestamp {
            age_secs,
            tolerance_secs,
        }) => {
            assert_eq!((age_secs, tolerance_secs), (301, 300));
        }
        other => panic!("expected a stale timestamp, got {other:?}"),
    }
    // From the future is a replay risk too.
    assert_eq!(
        sw_code(&h, &[SW_SECRET], SW_TIMESTAMP - tolerance - 1),
        "stale_timestamp"
    );
    assert_eq!(
        code(verify_with(
            "gitlab",
            &h,
            b"{\"test\": 2432232315}",
            &[SW_SECRET],
            &at(SW_TIMESTAMP)
        )),
        "invalid_signature"
    );
    // A rotation list where only the second secret is right.
    let other = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert_eq!(sw_code(&h, &[other, SW_SECRET], SW_TIMESTAMP), "ok");
    // A plain token cannot verify the signature path, even with a valid X-Gitlab-Token.
    let mut with_token = sw_headers(SW_SIGNATURE);
    with_token.insert("X-Gitlab-Token", b"plain-token");
    assert_eq!(
        sw_code(&with_token, &["plain-token"], SW_TIMESTAMP),
        "invalid_signature"
    );
    // Missing companions and unreadable values.
    let no_id = headers(&[
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", SW_SIGNATURE),
    ]);
    assert_eq!(
        sw_code(&no_id, &[SW_SECRET], SW_TIMESTAMP),
        "missing_signature"
    );
    let bad_time = headers(&[
        ("webhook-id", SW_ID),
        ("webhook-timestamp", "yesterday"),
        ("webhook-signature", SW_SIGNATURE),
    ]);
    assert_eq!(
        sw_code(&bad_time, &[SW_SECRET], SW_TIMESTAMP),
        "invalid_signature"
    );
    for partial in [
        "v1,",
        "v1,g0hM9SsE",
        "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    ] {
        let h = sw_headers(partial);
        assert_eq!(
            sw_code(&h, &[SW_SECRET], SW_TIMESTAMP),
            "invalid_signature",
            "{partial}"
        );
    }
}

#[test]
fn gitlab_sign_round_trips_both_modes() {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let signed: Headers = sign("gitlab", &secret(SW_SECRET), b"{}", now)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(signed.get("webhook-timestamp"), Some("1700000000"));
    let again: Headers = sign("gitlab", &secret(SW_SECRET), b"{}", now)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        signed.get("webhook-id"),
        again.get("webhook-id"),
        "ids must be repeatable"
    );
    let opts = VerifyOptions {
        now,
        ..VerifyOptions::default()
    };
    assert_eq!(
        verify_with("gitlab", &signed, b"{}", &["token", SW_SECRET], &opts).unwrap(),
        Verified::Signature
    );

    let token: Headers = sign("gitlab", &secret("tok"), b"{}", now)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        verify("gitlab", &token, b"{}", &["tok"]).unwrap(),
        Verified::Token
    );
    assert_eq!(
        code(verify("gitlab", &token, b"{}", &["tok2"])),
        "invalid_signature"
    );
    assert_eq!(
        code(verify("gitlab", &token, b"{}", &["to"])),
        "invalid_signature"
    );
    assert_eq!(
        code(verify("gitlab", &Headers::new(), b"{}", &["tok"])),
        "missing_signature"
    );
    assert!(sign("gitlab", &secret("whsec_!!!"), b"{}", now).is_err());
}

#[test]
fn a_gitlab_signing_secret_sent_as_a_plain_token_does_not_verify() {
    // Someone who learned the signing secret (from a leaked config, say) must still sign.
    let as_token = headers(&[("X-Gitlab-Token", SW_SECRET)]);
    let err = verify("gitlab", &as_token, SW_BODY, &[SW_SECRET]).unwrap_err();
    assert_eq!(err.code(), "invalid_signature");
    assert!(
        err.to_string().contains("only whsec_ signing secrets"),
        "{err}"
    );
    // Beside a real token it counts for nothing either: only the token matches.
    assert_eq!(
        code(verify(
            "gitlab",
            &as_token,
            SW_BODY,
            &["plain-token", SW_SECRET]
        )),
        "invalid_signature"
    );
    let plain = headers(&[("X-Gitlab-Token", "plain-token")]);
    assert_eq!(
        verify("gitlab", &plain, SW_BODY, &["plain-token", SW_SECRET]).unwrap(),
        Verified::Token
    );
}

#[test]
fn gitlab_standard_webhooks_deliveries_dedupe_on_the_signed_id() {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let body = br#"{"object_kind":"push","ref":"refs/heads/main","before":"1111111111111111111111111111111111111111","after":"2222222222222222222222222222222222222222","project":{"path_with_namespace":"a/b"}}"#;
    let mut h: Headers = sign("gitlab", &secret(SW_SECRET), body, now)
        .unwrap()
        .into_iter()
        .collect();
    let signed_id = h.get("webhook-id").unwrap().to_owned();
    h.insert("X-Gitlab-Event", b"Push Hook");
    // Unsigned headers a replayer can set to anything: they must not make a new delivery.
    h.insert("Idempotency-Key", b"replayed-under-a-new-key");
    h.insert("X-Gitlab-Event-UUID", b"another-new-uuid");
    let opts = VerifyOptions {
        now,
        ..VerifyOptions::default()
    };
    assert_eq!(
        verify_with("gitlab", &h, body, &[SW_SECRET], &opts).unwrap(),
        Verified::Signature
    );
    let event = provider("gitlab")
        .parse(&Delivery { headers: &h, body })
        .unwrap();
    assert_eq!(event.delivery_id.as_deref(), Some(signed_id.as_str()));
    assert_eq!(
        event.dedupe_key,
        Some(format!("gitlab:{signed_id}")),
        "the signed webhook-id decides"
    );
    // A token delivery signs nothing: Idempotency-Key (stable across retries) is used.
    let token: Headers = [
        ("X-Gitlab-Token", "tok"),
        ("X-Gitlab-Event", "Push Hook"),
        ("Idempotency-Key", "key-1"),
        ("X-Gitlab-Event-UUID", "uuid-1"),
        ("webhook-id", "not-signed-here"),
    ]
    .into_iter()
    .collect();
    let event = provider("gitlab")
        .parse(&Delivery {
            headers: &token,
            body,
        })
        .unwrap();
    assert_eq!(event.dedupe_key.as_deref(), Some("gitlab:key-1"));
}

#[test]
fn gitea_family_headers() {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let signed = sign("gitea", &secret("k"), body, SystemTime::now()).unwrap();
    let hex = signed[0].1.clone();
    for name in [
        "X-Gitea-Signature",
        "X-Forgejo-Signature",
        "X-Gogs-Signature",
        "x-gogs-signature",
    ] {
        let h = headers(&[(name, &hex)]);
        assert_eq!(code(verify("gitea", &h, body, &["k"])), "ok", "{name}");
    }
    // No secret on the hook: Gitea sends an empty header.
    let empty = headers(&[("X-Gitea-Signature", ""), ("X-Gogs-Signature", "")]);
    assert_eq!(
        code(verify("gitea", &empty, body, &["k"])),
        "missing_signature"
    );
    let github_style = headers(&[
        ("X-Gitea-Signature", ""),
        ("X-Hub-Signature-256", &format!("sha256={hex}")),
    ]);
    assert_eq!(code(verify("gitea", &github_style, body, &["k"])), "ok");
    let odd = headers(&[("X-Gitea-Signature", &hex[1..])]);
    assert_eq!(
        code(verify("gitea", &odd, body, &["k"])),
        "invalid_signature"
    );
    let prefixed = headers(&[("X-Gitea-Signature", &format!("sha256={hex}"))]);
    assert_eq!(
        code(verify("gitea", &prefixed, body, &["k"])),
        "invalid_signature"
    );
}

#[test]
fn bitbucket_algorithm_comes_from_the_prefix() {
    let body = br#"{"push":{"changes":[]}}"#;
    let signed: Headers = sign("bitbucket", &secret("k"), body, SystemTime::now())
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        verify("bitbucket", &signed, body, &["k"]).unwrap(),
        Verified::Signature
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA512, b"k");
    let hex: String = ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let sha512 = headers(&[("X-Hub-Signature", &format!("sha512={hex}"))]);
    assert_eq!(code(verify("bitbucket", &sha512, body, &["k"])), "ok");
    let md5 = headers(&[("X-Hub-Signature", &format!("md5={hex}"))]);
    assert_eq!(
        code(verify("bitbucket", &md5, body, &["k"])),
        "invalid_signature"
    );
    assert_eq!(
        code(verify("bitbucket", &Headers::new(), body, &["k"])),
        "missing_signature"
    );
}

#[test]
fn azure_devops_basic_credentials() {
    let body = br#"{"eventType":"git.push"}"#;
    let signed: Headers = sign("azure-devops", &secret("hook:pw"), body, SystemTime::now())
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(signed.get("Authorization"), Some("Basic aG9vazpwdw=="));
    assert_eq!(
        verify("azure-devops", &signed, body, &["other:x", "hook:pw"]).unwrap(),
        Verified::BasicAuth
    );
    assert_eq!(
        code(verify("azure-devops", &signed, body, &["hook:pw2"])),
        "invalid_signature"
    );
    let lower = headers(&[("authorization", "basic aG9vazpwdw==")]);
    assert_eq!(
        code(verify("azure-devops", &lower, body, &["hook:pw"])),
        "ok"
    );
    for value in ["Bearer aG9vazpwdw==", "Basic", "Basic %%%"] {
        let h = headers(&[("Authorization", value)]);
        assert_eq!(
            code(verify("azure-devops", &h, body, &["hook:pw"])),
            "invalid_signature",
            "{value}"
        );
    }
    assert_eq!(
        code(verify("azure-devops", &Headers::new(), body, &["hook:pw"])),
        "missing_signature"
    );
}

#[test]
fn empty_and_non_utf8_bodies_verify_as_bytes_then_fail_to_parse_cleanly() {
    for body in [&b""[..], &[0xff, 0xfe, 0x7b, 0x00][..]] {
        let signed: Headers = sign("github", &secret("k"), body, SystemTime::now())
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(code(verify("github", &signed, body, &["k"])), "ok");
        let mut h = signed.clone();
        h.insert("X-GitHub-Event", b"push");
        let err = provider("github")
            .parse(&Delivery { headers: &h, body })
            .unwrap_err();
        assert_eq!(err.code(), "malformed_payload", "{err}");
        match err {
            Error::MalformedPayload { path, .. } => assert_eq!(path, "$"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn sign_rejects_unknown_providers() {
    let err = sign("sourcehut", &secret("k"), b"", SystemTime::now()).unwrap_err();
    assert_eq!(err.code(), "unknown_provider");
    assert!(err.to_string().contains("sourcehut"));
}
