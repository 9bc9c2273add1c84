//! Limits that must never cost a valid delivery: failure budgets per client, connection slots
//! held by clients that do not read, the in-flight bound, management without a token behind a
//! proxy, and query parameters that do not decode.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::*;

/// A config with nothing but the repo: every limit at its default.
fn default_config(url: &str) -> String {
    format!(
        "[[repos]]\nname = \"demo\"\nprovider = \"github\"\nurl = \"{url}\"\nbranches = [\"main\"]\nsecret = \"{SECRET}\"\n"
    )
}

/// A gateway in `tmp` serving one repository with no files, `settings` set before it.
fn on_an_empty_repo(tmp: &Path, settings: &str) -> Gateway {
    let repo = Repo::new(&tmp.join("src"));
    repo.commit("empty");
    Gateway::start(tmp, &format!("{settings}{}", default_config(&repo.url())))
}

/// A delivery's headers and body.
type Signed = (Vec<(String, String)>, Vec<u8>);

/// Sends `delivery` and returns (status, `status` field of the JSON answer).
fn deliver(gw: &Gateway, delivery: &Signed) -> (u16, String) {
    let answer = post_webhook(gw, "github", "demo", &delivery.0, &delivery.1);
    let status = answer.json()["status"].as_str().unwrap_or("").to_string();
    (answer.status, status)
}

/// Runs `work` over `items` on `threads` threads and returns each item's result, in order.
fn in_parallel<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = work(item);
                    results.lock().unwrap()[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect()
}

#[test]
fn every_signed_push_is_accepted_under_an_unsigned_flood_and_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, c1) = Repo::with_file(
        &tmp.path().join("src"),
        "lib.rs",
        &source_file("flooded", 1),
    );
    let gw = Gateway::start(tmp.path(), &default_config(&repo.url()));
    let deliveries: Vec<Signed> = (0..2000)
        .map(|i| {
            let body = github_push("refs/heads/main", ZEROS, &c1, false);
            let headers = signed_headers("github", "push", &format!("flood-{i}"), &body, SECRET);
            (headers, body)
        })
        .collect();

    // One client floods the same repo URL with unsigned requests the whole time; the signed
    // pushes start once the flood has spent its address's failure budget (first 429).
    let done = AtomicBool::new(false);
    let limited = AtomicBool::new(false);
    let (answers, flood) = std::thread::scope(|scope| {
        let flood = scope.spawn(|| {
            let body = github_push("refs/heads/main", ZEROS, &c1, false);
            let mut statuses = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let headers = [
                    ("X-GitHub-Event", "push"),
                    ("Content-Type", "application/json"),
                ];
                let status = gw
                    .request("POST", "/webhooks/github/demo", &headers, &body)
                    .status;
                if status == 429 {
                    limited.store(true, Ordering::Relaxed);
                }
                statuses.push(status);
            }
            statuses
        });
        let deadline = Instant::now() + PATIENCE;
        while !limited.load(Ordering::Relaxed) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let answers = in_parallel(64, &deliveries, |d| deliver(&gw, d));
        done.store(true, Ordering::Relaxed);
        (answers, flood.join().unwrap())
    });
    for (i, (status, what)) in answers.iter().enumerate() {
        assert!(
            *status == 202 || (*status == 200 && what == "duplicate"),
            "signed delivery {i} answered {status} {what}\n{}",
            gw.log_text()
        );
    }
    // The flood did run into its budget: it is the one that was refused.
    assert!(
        flood.contains(&401) && flood.contains(&429),
        "{:?}",
        &flood[..flood.len().min(20)]
    );

    // kill -9, restart on the same data dir: every redelivery is a duplicate, none refused.
    let config = gw.config.clone();
    gw.kill9();
    let gw = Gateway::start_with(tmp.path(), &config);
    let again = in_parallel(64, &deliveries, |d| deliver(&gw, d));
    for (i, (status, what)) in again.iter().enumerate() {
        assert!(
            *status == 200 && what == "duplicate",
            "redelivery {i} answered {status} {what}"
        );
    }
}

/// Tries one `GET /healthz` on a fresh connection; `true` if it answered 200.
fn healthy_once(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.1 200")
}

#[test]
fn clients_that_never_read_cannot_keep_a_healthy_client_out() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = on_an_empty_repo(tmp.path(), "max_connections = 20\nwrite_timeout_secs = 2\n");
    // Each answer repeats its 8 KiB path (405: POST only), so unread answers fill the
    // buffers quickly; every client pipelines requests until the server stops reading.
    let path = format!("/webhooks/github/{}", "x".repeat(8 * 1024));
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut stuck = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(gw.addr).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut sent = 0usize;
        while sent < 64 * 1024 * 1024 && stream.write_all(request.as_bytes()).is_ok() {
            sent += request.len();
        }
        assert!(
            sent < 64 * 1024 * 1024,
            "the server read 64 MiB of requests without being read"
        );
        stuck.push(stream);
    }
    // All 20 slots were taken by clients that never read; a healthy client gets in anyway.
    let deadline = Instant::now() + PATIENCE;
    while !healthy_once(gw.addr) {
        assert!(
            Instant::now() < deadline,
            "the non-reading clients kept every slot"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stuck);
}

#[test]
fn requests_over_the_in_flight_bound_get_503_with_retry_after() {
    let tmp = tempfile::tempdir().unwrap();
    // The stalled body below may hold its slot for 120 s (one idle round), longer than the
    // test waits for the bound, however slowly a loaded machine gets to the first probe.
    let gw = on_an_empty_repo(
        tmp.path(),
        "max_in_flight = 1\nheader_read_timeout_secs = 120\n",
    );
    // A delivery whose body never finishes keeps its request in flight.
    let (slow, refused) = hold_the_only_slot(&gw, "/webhooks/github/demo");
    assert_eq!(refused.json()["error"]["code"], "overloaded");
    assert_eq!(refused.header("Retry-After"), Some("1"));
    drop(slow);
    let deadline = Instant::now() + PATIENCE;
    while gw.request("GET", "/healthz", &[], b"").status != 200 {
        assert!(Instant::now() < deadline, "the slot never came back");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `serve` with `GATEWAY_TOKEN` set to `token` (unset for `None`).
fn spawn_serve(dir: &Path, token: Option<&str>) -> std::process::Child {
    let config = dir.join("gateway.toml");
    std::fs::write(&config, "").unwrap();
    let mut command = serve_command(&config, &dir.join("data"), &dir.join("serve.log"));
    if let Some(token) = token {
        command.env("GATEWAY_TOKEN", token);
    }
    command.spawn().unwrap()
}

#[test]
fn without_a_token_proxied_loopback_requests_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = spawn_serve(tmp.path(), None);
    let addr = listening_addr(&mut child, &tmp.path().join("serve.log"));
    let gw = Gateway {
        child,
        addr,
        data_dir: tmp.path().join("data"),
        config: tmp.path().join("gateway.toml"),
        log: tmp.path().join("serve.log"),
    };
    assert_eq!(gw.request("GET", "/webhooks/status", &[], b"").status, 200);
    for header in [
        ("X-Forwarded-For", "203.0.113.9"),
        ("Forwarded", "for=203.0.113.9"),
        ("X-Real-IP", "203.0.113.9"),
    ] {
        for path in ["/webhooks/status", "/search?q=x", "/metrics"] {
            let answer = gw.request("GET", path, &[header], b"");
            assert_eq!(answer.status, 401, "{header:?} {path}: {}", answer.text());
            assert_eq!(answer.json()["error"]["code"], "unauthorized");
        }
    }
    // Health checks stay open, proxied or not.
    assert_eq!(
        gw.request("GET", "/healthz", &[("X-Real-IP", "203.0.113.9")], b"")
            .status,
        200
    );
    let log = gw.log_text();
    assert!(log.contains("OPEN to every local client"), "{log}");
}

#[test]
fn an_empty_or_padded_token_is_a_start_error_naming_the_variable() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, token) in ["", " secret-token", "secret-token\n"].iter().enumerate() {
        let dir = tmp.path().join(i.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let child = spawn_serve(&dir, Some(token));
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success(), "{token:?} was accepted");
        let log = std::fs::read_to_string(dir.join("serve.log")).unwrap();
        assert!(log.contains("GATEWAY_TOKEN"), "{token:?}: {log}");
        assert!(
            !log.contains("secret-token"),
            "the token reached the log: {log}"
        );
    }
}

#[test]
fn bad_query_parameters_are_400_naming_the_parameter() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = on_an_empty_repo(tmp.path(), "");
    let cases = [
        ("/search?q=%+1", "bad_parameter", "`q`"),
        ("/search?q=ok&repo=%zz", "bad_parameter", "`repo`"),
        ("/search?q=ok&limit=ten", "bad_limit", "limit"),
        ("/webhooks/jobs?cursor=not-a-cursor", "bad_cursor", "cursor"),
        ("/webhooks/jobs?state=sleeping", "bad_state", "state"),
        ("/webhooks/jobs?limit=-1", "bad_limit", "limit"),
        (
            "/webhooks/cleanup?older_than=soon",
            "bad_older_than",
            "older_than",
        ),
    ];
    for (path, code, name) in cases {
        let method = if path.starts_with("/webhooks/cleanup") {
            "POST"
        } else {
            "GET"
        };
        let answer = gw.manage(method, path, b"");
        assert_eq!(answer.status, 400, "{path}: {}", answer.text());
        let error = &answer.json()["error"];
        assert_eq!(error["code"], code, "{path}");
        assert!(
            error["message"].as_str().unwrap().contains(name),
            "{path}: {error}"
        );
    }
    assert!(!gw.log_text().contains("\"ERROR\""), "{}", gw.log_text());
}
