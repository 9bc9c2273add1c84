//! Parsing failures, deep nesting, the registry, and never panicking on arbitrary input.

use std::sync::Arc;

use proptest::prelude::*;
use webhook_core::{
    Delivery, Error, Event, EventKind, Headers, Provider, ProviderId, Registry, Secret, Verified,
    VerifyOptions,
};

fn builtin(id: &str) -> Arc<dyn Provider> {
    Registry::with_builtins()
        .get(id.parse().unwrap())
        .unwrap()
        .clone()
}

fn parse(id: &str, event: (&str, &str), body: &[u8]) -> Result<Event, Error> {
    let headers: Headers = [event].into_iter().collect();
    builtin(id).parse(&Delivery {
        headers: &headers,
        body,
    })
}

fn malformed_path(result: Result<Event, Error>) -> String {
    match result {
        Err(Error::MalformedPayload { path, .. }) => path,
        other => panic!("expected a malformed payload, got {other:?}"),
    }
}

const PUSH: (&str, &str) = ("X-GitHub-Event", "push");

#[test]
fn malformed_payloads_name_the_json_path() {
    let repo = r#""repository":{"name":"r","full_name":"o/r"}"#;
    let ids = r#""before":"1111111111111111111111111111111111111111","after":"2222222222222222222222222222222222222222""#;
    let cases = [
        (
            format!(r#"{{"ref":"refs/heads/main",{ids}}}"#),
            "$.repository",
        ),
        (format!(r#"{{{repo},{ids}}}"#), "$.ref"),
        (format!(r#"{{"ref":5,{repo},{ids}}}"#), "$.ref"),
        (
            format!(r#"{{"ref":"refs/heads/x",{repo},"before":"1","after":null}}"#),
            "$.after",
        ),
        (
            format!(
                r#"{{"ref":"refs/heads/x",{repo},{ids},"commits":[{{"added":[]}},{{"added":"x"}}]}}"#
            ),
            "$.commits[1].added",
        ),
        (
            format!(r#"{{"ref":"refs/heads/x","repository":{{"name":["r"]}},{ids}}}"#),
            "$.repository.name",
        ),
        ("not json".to_owned(), "$"),
        ("[]".to_owned(), "$"),
    ];
    for (body, path) in cases {
        assert_eq!(
            malformed_path(parse("github", PUSH, body.as_bytes())),
            path,
            "{body}"
        );
    }
    let err = parse("github", PUSH, b"{\"ref\": \n  tru").unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("$") && message.contains("line 2"),
        "{message}"
    );

    let mr = br#"{"object_attributes":{"action":"open"},"project":{"name":"p"}}"#;
    assert_eq!(
        malformed_path(parse(
            "gitlab",
            ("X-Gitlab-Event", "Merge Request Hook"),
            mr
        )),
        "$.object_attributes.iid"
    );
    let az = br#"{"eventType":"git.push","resource":{"repository":{"name":"r"},"refUpdates":[{"name":"refs/heads/a"},{"oldObjectId":"0"}]}}"#;
    assert_eq!(
        malformed_path(parse("azure-devops", ("X", "y"), az)),
        "$.resource.refUpdates[1].name"
    );
    let bb =
        br#"{"repository":{"full_name":"a/b"},"push":{"changes":[{"new":{"type":"branch"}}]}}"#;
    assert_eq!(
        malformed_path(parse("bitbucket", ("X-Event-Key", "repo:push"), bb)),
        "$.push.changes[0].new.name"
    );
}

#[test]
fn commit_lists_stream_into_net_paths_for_every_provider_that_sends_them() {
    // Escaped names (owned while parsing) and plain ones (borrowed) are one path; null and
    // absent lists are empty; members other than the three lists are skipped.
    let commits = r#"[
        {"id":"a","message":"x","author":{"added":["not/a/path"]},
         "added":["src/\u0061.rs","doc/q\"uote.md"],"removed":null,"modified":["README.md"]},
        {"id":"b","removed":["src/a.rs"],"modified":["doc/q\"uote.md","new.rs"]},
        {"id":"c","added":["src/a.rs"]}
    ]"#;
    let ids = r#""before":"1111111111111111111111111111111111111111","after":"2222222222222222222222222222222222222222""#;
    let github = format!(
        r#"{{"ref":"refs/heads/main",{ids},"repository":{{"full_name":"o/r"}},"commits":{commits}}}"#
    );
    let gitlab = format!(
        r#"{{"ref":"refs/heads/main",{ids},"project":{{"path_with_namespace":"o/r"}},"commits":{commits},"total_commits_count":3}}"#
    );
    let cases = [
        ("github", PUSH, github.clone()),
        ("gitea", ("X-Gitea-Event", "push"), github),
        ("gitlab", ("X-Gitlab-Event", "Push Hook"), gitlab),
    ];
    for (id, event, body) in cases {
        let paths = parse(id, event, body.as_bytes()).unwrap().changed_paths;
        assert_eq!(paths.added, vec!["doc/q\"uote.md"], "{id}");
        assert_eq!(
            paths.modified,
            vec!["src/a.rs", "README.md", "new.rs"],
            "{id}"
        );
        assert!(paths.removed.is_empty(), "{id}");
        assert!(paths.complete, "{id}");
    }
}

#[test]
fn github_caps_on_commits_and_files_per_commit_make_the_list_incomplete() {
    let push = |commits: String| {
        let body = format!(
            r#"{{"ref":"refs/heads/main","before":"1111111111111111111111111111111111111111","after":"2222222222222222222222222222222222222222","repository":{{"name":"r"}},"commits":[{commits}]}}"#
        );
        parse("github", PUSH, body.as_bytes())
            .unwrap()
            .changed_paths
    };
    let files = |n: usize| {
        let names: Vec<String> = (0..n).map(|i| format!(r#""f{i}""#)).collect();
        // Split over two lists: the cap counts a commit's files across all three.
        let (added, modified) = names.split_at(n / 2);
        format!(
            r#"{{"added":[{}],"modified":[{}]}}"#,
            added.join(","),
            modified.join(",")
        )
    };
    let below = push(files(2999));
    assert!(below.complete);
    assert_eq!(below.added.len() + below.modified.len(), 2999);
    assert!(!push(files(3000)).complete, "3000 files in one commit");
    assert!(push(vec!["{}"; 2047].join(",")).complete);
    assert!(!push(vec!["{}"; 2048].join(",")).complete, "2048 commits");
}

#[test]
fn malformed_commit_lists_name_the_json_path() {
    let head =
        r#"{"ref":"refs/heads/x","repository":{"name":"r"},"before":"1","after":"2","commits":"#;
    let cases = [
        (r#"{"added":[]}"#, "$.commits"),
        (
            r#"[{"added":["a"]},{"removed":["b", 7]}]"#,
            "$.commits[1].removed[1]",
        ),
        (r#"[{"modified":{}}]"#, "$.commits[0].modified"),
        (r#"[{"id":"1"}, 5]"#, "$.commits[1]"),
    ];
    for (commits, path) in cases {
        let body = format!("{head}{commits}}}");
        assert_eq!(
            malformed_path(parse("github", PUSH, body.as_bytes())),
            path,
            "{body}"
        );
    }
    let twice = format!(r#"{head}[{{"added":["a"],"added":["b"]}}]}}"#);
    match parse("github", PUSH, twice.as_bytes()) {
        Err(Error::MalformedPayload { reason, .. }) => {
            assert!(reason.contains("duplicate field `added`"), "{reason}")
        }
        other => panic!("expected a malformed payload, got {other:?}"),
    }
}

#[test]
fn undeterminable_events_are_unsupported() {
    let body = b"{}";
    let none = Headers::new();
    for id in ["github", "gitlab", "gitea", "bitbucket"] {
        let err = builtin(id)
            .parse(&Delivery {
                headers: &none,
                body,
            })
            .unwrap_err();
        assert_eq!(err.code(), "unsupported_event", "{id}: {err}");
    }
    let mut bad = Headers::new();
    bad.insert("X-GitHub-Event", &[0xc3, 0x28]);
    let err = builtin("github")
        .parse(&Delivery {
            headers: &bad,
            body,
        })
        .unwrap_err();
    assert_eq!(err.code(), "unsupported_event");
    assert_eq!(
        parse("azure-devops", ("X", "y"), br#"{"eventType":""}"#)
            .unwrap_err()
            .code(),
        "unsupported_event"
    );
    assert_eq!(
        parse("azure-devops", ("X", "y"), br#"{"id":"1"}"#)
            .unwrap_err()
            .code(),
        "unsupported_event"
    );
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn sixty_four_levels_of_nesting_parse_and_deeper_fails_cleanly() {
    // Unknown fields are skipped, but serde_json still walks them: 64 levels inside an
    // ignored field must parse, and absurd depth must be an error, not a stack overflow.
    let body = format!(
        r#"{{"ref":"refs/heads/main","before":"1","after":"2","repository":{{"name":"r","extra":{}}},"hook":{}}}"#,
        nested(64),
        nested(64)
    );
    let event = parse("github", PUSH, body.as_bytes()).expect("64 levels parse");
    assert_eq!(event.kind, EventKind::Push);
    let deep = format!(
        r#"{{"ref":"refs/heads/main","repository":{{"extra":{}}}}}"#,
        nested(100_000)
    );
    let err = parse("github", PUSH, deep.as_bytes()).unwrap_err();
    assert_eq!(err.code(), "malformed_payload", "{err}");
    for id in ["gitlab", "gitea", "bitbucket", "azure-devops"] {
        let err = builtin(id)
            .parse(&Delivery {
                headers: &[
                    ("X-Gitlab-Event", "Push Hook"),
                    ("X-Gitea-Event", "push"),
                    ("X-Event-Key", "repo:push"),
                ]
                .into_iter()
                .collect(),
                body: nested(64).as_bytes(),
            })
            .unwrap_err();
        assert_eq!(err.code(), "malformed_payload", "{id}");
    }
}

/// A GitHub variant that authenticates with a plain `X-Token` header.
#[derive(Debug)]
struct TokenGitHub;

impl Provider for TokenGitHub {
    fn id(&self) -> ProviderId {
        ProviderId::GitHub
    }
    fn verify(
        &self,
        delivery: &Delivery<'_>,
        secrets: &[Secret],
        _: &VerifyOptions,
    ) -> Result<Verified, Error> {
        let sent = delivery.headers.get("X-Token").unwrap_or_default();
        secrets
            .iter()
            .any(|s| s.expose() == sent.as_bytes())
            .then_some(Verified::Token)
            .ok_or_else(|| Error::InvalidSignature {
                reason: "X-Token does not match".to_owned(),
            })
    }
    fn parse(&self, _: &Delivery<'_>) -> Result<Event, Error> {
        Ok(Event::new(ProviderId::GitHub, EventKind::Ping))
    }
}

#[test]
fn registry_takes_user_providers_and_replaces_by_id() {
    let mut registry = Registry::with_builtins();
    assert_eq!(registry.ids(), ProviderId::ALL.to_vec());
    registry.register(Arc::new(TokenGitHub));
    assert_eq!(registry.ids(), ProviderId::ALL.to_vec());
    let headers: Headers = [("X-Token", "t")].into_iter().collect();
    let delivery = Delivery {
        headers: &headers,
        body: b"",
    };
    let provider = registry.get(ProviderId::GitHub).unwrap();
    assert_eq!(
        provider
            .verify(
                &delivery,
                &[Secret::new("t").unwrap()],
                &VerifyOptions::default()
            )
            .unwrap(),
        Verified::Token
    );
    assert_eq!(provider.parse(&delivery).unwrap().kind, EventKind::Ping);
    assert!(Registry::empty().get(ProviderId::GitHub).is_none());
    assert_eq!(
        Registry::empty()
            .require(ProviderId::GitHub)
            .unwrap_err()
            .code(),
        "unknown_provider"
    );
}

#[test]
fn secrets_never_show_in_debug_output() {
    let secret = Secret::new("hunter2").unwrap();
    assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    assert!(!format!("{:?}", vec![secret]).contains("hunter2"));
}

const HEADER_NAMES: &[&str] = &[
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-GitHub-Hook-ID",
    "X-Hub-Signature-256",
    "X-Hub-Signature",
    "X-Gitlab-Event",
    "X-Gitlab-Token",
    "Idempotency-Key",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "X-Gitea-Event",
    "X-Gitea-Signature",
    "X-Forgejo-Signature",
    "X-Gogs-Signature",
    "X-Event-Key",
    "X-Request-UUID",
    "X-Request-Id",
    "Authorization",
];

const EVENT_VALUES: &[&str] = &[
    "push",
    "pull_request",
    "release",
    "ping",
    "create",
    "Push Hook",
    "Tag Push Hook",
    "Merge Request Hook",
    "Release Hook",
    "System Hook",
    "repo:push",
    "repo:refs_changed",
    "pr:opened",
    "pullrequest:created",
    "diagnostics:ping",
    "sha256=00",
    "v1,AAAA",
    "Basic Og==",
    "",
];

const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"ref\"",
    "\"refs/tags/v1\"",
    "\"before\"",
    "\"after\"",
    "\"000\"",
    "null",
    "true",
    "1",
    "-1.5e9",
    "\"repository\"",
    "\"commits\"",
    "\"added\"",
    "\"push\"",
    "\"changes\"",
    "\"new\"",
    "\"name\"",
    "\"eventType\"",
    "\"git.push\"",
    "\"resource\"",
    "\"refUpdates\"",
    "\"object_attributes\"",
    "\"action\"",
    "\"pull_request\"",
    "\"pullRequest\"",
    "\"number\"",
    "\"\\u00e9\\\"\"",
    "\"links\"",
    "\"self\"",
];

fn header_strategy() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = prop::sample::select(HEADER_NAMES).prop_map(str::to_owned);
    let value = prop_oneof![
        prop::sample::select(EVENT_VALUES).prop_map(|v| v.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..48),
    ];
    prop::collection::vec((name, value), 0..8)
}

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        prop::collection::vec(prop::sample::select(FRAGMENTS), 0..64)
            .prop_map(|parts| parts.concat().into_bytes()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn verify_and_parse_never_panic(headers in header_strategy(), body in body_strategy(), allow_sha1 in any::<bool>()) {
        let headers: Headers = headers.into_iter().collect();
        let delivery = Delivery { headers: &headers, body: &body };
        let secrets = ["k", "whsec_AAEC", "u:p"].map(|s| Secret::new(s).unwrap());
        let opts = VerifyOptions { allow_sha1, ..VerifyOptions::default() };
        let registry = Registry::with_builtins();
        for id in registry.ids() {
            let provider = registry.get(id).unwrap();
            let _ = provider.verify(&delivery, &secrets, &opts);
            if let Err(err) = provider.parse(&delivery) {
                // Every error has a code and a message; neither may be empty.
                prop_assert!(!err.code().is_empty());
                prop_assert!(!err.to_string().is_empty());
            }
        }
    }
}
