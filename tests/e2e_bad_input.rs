//! The bad-input matrix against the real binary: hostile signatures, bodies, payloads, names
//! and repository contents. Each gets the right status or a clear job error, the server stays
//! up, a delivery accepted before it all is still remembered afterwards, and no secret or
//! token appears in any answer or log line.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

use support::*;

const LAB_TOKEN: &str = "lab-plain-token-e2e";
/// A Standard Webhooks signing secret (base64 of "bad-input-signing-key").
const LAB_SIGNING: &str = "whsec_YmFkLWlucHV0LXNpZ25pbmcta2V5";

struct Matrix {
    gw: Gateway,
    /// Every answer body seen, for the secret-leak check at the end.
    answers: Vec<String>,
}

impl Matrix {
    fn post(
        &mut self,
        provider: &str,
        repo: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Response {
        let answer = post_webhook(&self.gw, provider, repo, headers, body);
        self.answers.push(answer.text());
        answer
    }

    /// Posts and checks the status and, for errors, the error code.
    fn expect(
        &mut self,
        label: &str,
        headers: &[(String, String)],
        body: &[u8],
        status: u16,
        code: Option<&str>,
    ) {
        let answer = self.post("github", "demo", headers, body);
        assert_eq!(answer.status, status, "{label}: {}", answer.text());
        if let Some(code) = code {
            assert_eq!(
                answer.json()["error"]["code"],
                code,
                "{label}: {}",
                answer.text()
            );
        }
        self.assert_up(label);
    }

    fn assert_up(&self, label: &str) {
        let health = self.gw.request("GET", "/healthz", &[], b"");
        assert_eq!(health.status, 200, "server down after {label}");
    }
}

fn push_headers(delivery: &str, body: &[u8]) -> Vec<(String, String)> {
    signed_headers("github", "push", delivery, body, SECRET)
}

fn without(headers: &[(String, String)], name: &str) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case(name))
        .cloned()
        .collect()
}

fn with(headers: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut out = without(headers, name);
    out.push((name.to_string(), value.to_string()));
    out
}

/// Sends `head` (and `body_start`) on a raw connection and returns the answer, or `None` if the
/// server closed the connection without one.
fn raw_exchange(gw: &Gateway, head: &str, body_start: &[u8]) -> Option<Response> {
    let mut stream = TcpStream::connect(gw.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body_start);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    if raw.is_empty() {
        return None;
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(Response {
        status,
        headers: vec![],
        body: raw[split + 4..].to_vec(),
    })
}

#[test]
fn hostile_requests_get_the_right_answer_and_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, c1) = Repo::with_file(
        &tmp.path().join("src"),
        "a.rs",
        &source_file("bad_input_baseline", 1),
    );
    // Top-level keys come before the first table; the GitLab repo takes a plain token and a
    // Standard Webhooks signing secret.
    let config = format!(
        "{}\n[[repos]]\nname = \"lab\"\nprovider = \"gitlab\"\nurl = \"{}\"\nsecret = [\"{LAB_TOKEN}\", \"{LAB_SIGNING}\"]\n",
        config_for(&repo.url(), "github", "").replacen(
            "workers = 2\n",
            "workers = 2\nheader_read_timeout_secs = 2\n",
            1
        ),
        repo.url()
    );
    let gw = Gateway::start(tmp.path(), &config);
    let mut m = Matrix {
        gw,
        answers: vec![],
    };

    // Accepted before the storm; must still be remembered after it.
    let body = github_push("refs/heads/main", ZEROS, &c1, false);
    let first = m.post(
        "github",
        "demo",
        &push_headers("before-storm", &body),
        &body,
    );
    assert_eq!(first.status, 202, "{}", first.text());
    let first_job = first.json()["job_id"].as_str().unwrap().to_string();

    // Signature headers: missing, empty, wrong, duplicated, for another body, wrong scheme.
    let good = push_headers("sig-1", &body);
    m.expect(
        "missing",
        &without(&good, "X-Hub-Signature-256"),
        &body,
        401,
        Some("missing_signature"),
    );
    let wrong = format!("sha256={}", "ab".repeat(32));
    let no_prefix = "ab".repeat(32);
    let sha1 = format!("sha1={}", "ab".repeat(20));
    for (label, value, code) in [
        ("empty", "", None),
        ("wrong", wrong.as_str(), Some("invalid_signature")),
        ("not hex", "sha256=zz", Some("invalid_signature")),
        ("no prefix", no_prefix.as_str(), Some("invalid_signature")),
        ("sha1 not allowed", sha1.as_str(), None),
    ] {
        let headers = with(&good, "X-Hub-Signature-256", value);
        m.expect(label, &headers, &body, 401, code);
    }
    let mut duplicated = good.clone();
    let sig = good
        .iter()
        .find(|(k, _)| k == "X-Hub-Signature-256")
        .unwrap()
        .clone();
    duplicated.push(sig);
    m.expect(
        "duplicated",
        &duplicated,
        &body,
        401,
        Some("invalid_signature"),
    );
    let other_body = github_push("refs/heads/main", ZEROS, &"1".repeat(40), false);
    m.expect(
        "signature for another body",
        &push_headers("sig-2", &other_body),
        &body,
        401,
        Some("invalid_signature"),
    );
    m.expect(
        "signed with another secret",
        &signed_headers("github", "push", "sig-3", &body, "not-the-secret"),
        &body,
        401,
        Some("invalid_signature"),
    );

    // GitLab: wrong token, and a Standard Webhooks signature replayed outside the window.
    let lab_body = serde_json::to_vec(&serde_json::json!({
        "object_kind": "push", "ref": "refs/heads/main", "before": ZEROS, "after": c1,
        "project": {"path_with_namespace": "acme/demo", "git_http_url": "file:///demo"}, "commits": []
    }))
    .unwrap();
    let lab = |headers: Vec<(String, String)>| {
        let mut h = headers;
        h.push(("X-Gitlab-Event".into(), "Push Hook".into()));
        h.push(("Content-Type".into(), "application/json".into()));
        h
    };
    let answer = m.post(
        "gitlab",
        "lab",
        &lab(vec![("X-Gitlab-Token".into(), "guess".into())]),
        &lab_body,
    );
    assert_eq!(answer.status, 401, "{}", answer.text());
    let lab_signed = |at: SystemTime| {
        let secret = webhook_core::Secret::new(LAB_SIGNING).unwrap();
        let signed = webhook_core::ProviderId::GitLab.sign(&secret, &lab_body, at);
        signed.unwrap()
    };
    let stale = lab_signed(SystemTime::now() - Duration::from_secs(3600));
    let answer = m.post("gitlab", "lab", &lab(stale), &lab_body);
    assert_eq!(answer.status, 401, "{}", answer.text());
    assert_eq!(
        answer.json()["error"]["code"],
        "stale_timestamp",
        "{}",
        answer.text()
    );
    let fresh = lab_signed(SystemTime::now());
    let answer = m.post("gitlab", "lab", &lab(fresh.clone()), &lab_body);
    assert_eq!(
        answer.status,
        202,
        "a fresh signature is accepted: {}",
        answer.text()
    );
    // The same signed delivery again is a duplicate, not a second job.
    let answer = m.post("gitlab", "lab", &lab(fresh), &lab_body);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["status"], "duplicate");

    // Bodies: empty, invalid UTF-8, 10,000 levels of nesting, huge numbers, over the limit.
    let invalid_utf8 = [b"{\"ref\":\"refs/heads/\xff\xfe\",".as_slice(), &body[1..]].concat();
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes();
    let nested_obj = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)).into_bytes();
    let huge = format!(
        "{{\"ref\":\"refs/heads/main\",\"before\":1{},\"after\":1e999999,\"repository\":{{\"full_name\":\"a/b\"}},\"commits\":[]}}",
        "0".repeat(100_000)
    )
    .into_bytes();
    for (i, (label, bad)) in [
        ("0 bytes", Vec::new()),
        ("invalid UTF-8", invalid_utf8),
        ("nested 10,000", nested),
        ("nested objects", nested_obj),
        ("huge numbers", huge),
    ]
    .into_iter()
    .enumerate()
    {
        m.expect(
            label,
            &push_headers(&format!("b-{i}"), &bad),
            &bad,
            400,
            None,
        );
    }
    let big = vec![b' '; 26 << 20];
    m.expect(
        "26 MiB",
        &push_headers("b-5", &big),
        &big,
        413,
        Some("payload_too_large"),
    );

    // 2 GiB announced but never sent: refused by Content-Length at once.
    let head = format!(
        "POST /webhooks/github/demo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2147483648\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: sha256={}\r\n\r\n",
        "ab".repeat(32)
    );
    let answer = raw_exchange(&m.gw, &head, b"{").expect("an answer to a 2 GiB announcement");
    assert_eq!(answer.status, 413);
    // A body shorter than announced, and chunked encoding that never ends: the body-read
    // timeout (2 s idle here) answers 408 instead of holding the connection forever.
    let head = "POST /webhooks/github/demo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000\r\nX-GitHub-Event: push\r\n\r\n";
    let answer = raw_exchange(&m.gw, head, b"{\"ref\":").expect("an answer to a short body");
    assert_eq!(answer.status, 408, "{}", answer.text());
    let head = "POST /webhooks/github/demo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nX-GitHub-Event: push\r\n\r\n";
    let answer = raw_exchange(&m.gw, head, b"7\r\n{\"ref\":\r\n")
        .expect("an answer to an endless chunked body");
    assert_eq!(answer.status, 408, "{}", answer.text());
    m.assert_up("stalled bodies");

    // Slow-loris: headers that never finish are cut off by header_read_timeout_secs (2 s).
    let started = Instant::now();
    let mut stream = TcpStream::connect(m.gw.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
        .write_all(b"POST /webhooks/github/demo HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    assert!(
        started.elapsed() < PATIENCE,
        "slow-loris connection never closed"
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(raw.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    m.assert_up("slow-loris");

    // Refs and names: option injection, traversal, NUL; repo names with `..` and `/`.
    for (label, git_ref) in [
        ("--upload-pack", "--upload-pack=touch /tmp/pwned"),
        ("refs/heads/--upload-pack", "refs/heads/--upload-pack=touch"),
        ("traversal", "refs/heads/../../x"),
        ("NUL", "refs/heads/ma\u{0}in"),
        ("space", "refs/heads/a b"),
    ] {
        let bad = github_push(git_ref, ZEROS, &c1, false);
        let headers = push_headers(&format!("ref-{label}"), &bad);
        let answer = m.post("github", "demo", &headers, &bad);
        // "*" branches are not configured here: a bad ref is refused (400) or ignored (200),
        // never queued.
        assert!(
            matches!(answer.status, 400 | 200),
            "{label}: {}",
            answer.text()
        );
        assert_ne!(answer.json()["status"], "queued", "{label}");
    }
    for commit in ["--upload-pack=x", "HEAD", "0123", &"g".repeat(40)] {
        let bad = github_push("refs/heads/main", ZEROS, commit, false);
        m.expect(
            &format!("commit {commit}"),
            &push_headers(&format!("c-{commit}"), &bad),
            &bad,
            400,
            None,
        );
    }
    for path in [
        "/webhooks/github/..",
        "/webhooks/github/%2e%2e",
        "/webhooks/github/demo%2F..%2Fdemo",
        "/webhooks/github/demo/../demo",
        "/webhooks/github/a/b",
        "/webhooks/github/",
        "/webhooks/nope/demo",
    ] {
        let headers = push_headers("path", &body);
        let answer = post(m.gw.addr, path, &headers, &body);
        m.answers.push(answer.text());
        assert_eq!(answer.status, 404, "{path}: {}", answer.text());
    }
    // Management with a wrong token.
    let answer = m.gw.request(
        "GET",
        "/webhooks/jobs",
        &[("Authorization", "Bearer wrong")],
        b"",
    );
    assert_eq!(answer.status, 401);

    // Nothing accepted earlier is lost, and every job settles.
    let again = m.post(
        "github",
        "demo",
        &push_headers("before-storm", &body),
        &body,
    );
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["job_id"], first_job.as_str());
    let job = m.gw.wait_finished(&first_job);
    assert_eq!(job["state"], "succeeded", "{job}");

    // No secret or token in any answer or log line.
    let log = m.gw.log_text();
    for secret in [
        SECRET,
        TOKEN,
        LAB_TOKEN,
        LAB_SIGNING,
        "old-rotated-secret",
        "YmFkLWlucHV0LXNpZ25pbmcta2V5",
    ] {
        assert!(!log.contains(secret), "`{secret}` in the log:\n{log}");
        for answer in &m.answers {
            assert!(
                !answer.contains(secret),
                "`{secret}` in an answer: {answer}"
            );
        }
    }
    assert!(m.gw.stop().success());
}

/// A local-path repo whose tree is hostile: a symlink to /etc/passwd (and one to a directory
/// outside), a 1 GiB sparse file, one 10 MB line, many empty files and a 4,000-byte path.
#[test]
fn hostile_repository_contents_index_safely() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    std::fs::write(
        tree.join("normal.rs"),
        source_file("hostile_tree_marker", 2),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/passwd", tree.join("passwd.rs")).unwrap();
    std::os::unix::fs::symlink("/etc", tree.join("etc_dir")).unwrap();
    std::os::unix::fs::symlink("../../../../../../etc/passwd", tree.join("relative.rs")).unwrap();
    let sparse = std::fs::File::create(tree.join("huge.rs")).unwrap();
    sparse.set_len(1 << 30).unwrap();
    drop(sparse);
    let mut one_line = "let long_line_marker = 1; ".repeat(10_000_000 / 26);
    one_line.push('\n');
    std::fs::write(tree.join("one_line.rs"), one_line).unwrap();
    // 100,000 empty files go through the full server path (about 25 s of this test in a
    // debug build on 2 cores).
    for i in 0..100_000 {
        std::fs::File::create(tree.join("empty").join(format!("e{i}.rs"))).unwrap();
    }
    let mut deep = tree.clone();
    let mut depth_bytes = 0;
    while depth_bytes < 3_800 {
        deep.push("d".repeat(190));
        depth_bytes += 191;
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(
        deep.join("deep_file.rs"),
        source_file("deep_path_marker", 1),
    )
    .unwrap();
    assert!(
        deep.join("deep_file.rs")
            .strip_prefix(&tree)
            .unwrap()
            .as_os_str()
            .len()
            >= 3_800
    );

    let config = format!(
        "workers = 1\n\n[[repos]]\nname = \"tree\"\nprovider = \"github\"\npath = \"{}\"\nsecret = \"{SECRET}\"\n",
        tree.display()
    );
    let gw = Gateway::start(tmp.path(), &config);
    let job = gw.trigger_and_wait("tree", b"{\"full\":true}");
    // Nothing of /etc/passwd is indexed, through any of the links.
    let hits = gw.manage("GET", "/search?q=root&limit=100", b"").json();
    for hit in hits["hits"].as_array().unwrap() {
        assert!(
            !hit["snippet"].as_str().unwrap().contains("root:x:0"),
            "{hit}"
        );
    }
    let hits = gw.manage("GET", "/search?q=nologin&limit=100", b"").json();
    assert_eq!(hits["hits"].as_array().unwrap().len(), 0, "{hits}");
    // The normal file and the deep path are searchable.
    let hits = gw
        .manage("GET", "/search?q=hostile_tree_marker", b"")
        .json();
    assert_eq!(hits["hits"][0]["path"], "normal.rs", "{hits}");
    let hits = gw.manage("GET", "/search?q=deep_path_marker", b"").json();
    assert!(
        hits["hits"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("deep_file.rs"),
        "{hits}"
    );
    // The 1 GiB file and the 10 MB line are over max_file_bytes: skipped, not read.
    let hits = gw.manage("GET", "/search?q=long_line_marker", b"").json();
    assert_eq!(hits["hits"].as_array().unwrap().len(), 0, "{hits}");
    assert!(
        job["progress"]["files_seen"].as_u64().unwrap() >= 20_000,
        "{job}"
    );
    assert_eq!(gw.request("GET", "/healthz", &[], b"").status, 200);
    assert!(gw.stop().success());
}
