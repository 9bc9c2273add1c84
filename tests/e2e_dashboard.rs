//! The dashboard's server side on the real binary: the embedded UI files with their cache
//! and security headers, login sessions and the Origin check, the live event stream, job
//! retry and the status additions.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use serde_json::Value;
use support::*;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; \
                   base-uri 'none'";

fn assert_secured(answer: &Response, what: &str) {
    assert_eq!(
        answer.header("content-security-policy"),
        Some(CSP),
        "{what}"
    );
    assert_eq!(
        answer.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        answer.header("referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
    assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{what}");
}

/// The first `/ui/assets/<hash>/<file>` the page refers to.
fn first_asset(page: &str) -> (String, String) {
    let start = page
        .find("/ui/assets/")
        .unwrap_or_else(|| panic!("the page refers to no asset: {page}"));
    let rest = &page[start..];
    let end = rest.find(['"', '\'', ' ', '>']).unwrap_or(rest.len());
    let path = &rest[..end];
    let hash = path.split('/').nth(3).unwrap().to_string();
    (path.to_string(), hash)
}

#[test]
fn the_ui_is_served_with_its_headers() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path(), &config_for("file:///nowhere", "github", ""));

    let redirect = gw.request("GET", "/ui", &[], b"");
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location"), Some("/ui/"));

    let page = gw.request("GET", "/ui/", &[], b"");
    assert_eq!(page.status, 200, "{}", page.text());
    assert_secured(&page, "page");
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let text = page.text();
    assert!(
        !text.contains("{{assets}}"),
        "the token is replaced: {text}"
    );
    let (path, hash) = first_asset(&text);
    assert_eq!(hash.len(), 16, "{path}");
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{path}");

    let etag = page
        .header("etag")
        .expect("the page has an ETag")
        .to_string();
    let again = gw.request("GET", "/ui/", &[("If-None-Match", &etag)], b"");
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_secured(&again, "304 page");

    let asset = gw.request("GET", &path, &[], b"");
    assert_eq!(asset.status, 200, "{path}: {}", asset.text());
    assert_secured(&asset, "asset");
    assert_eq!(
        asset.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(!asset.body.is_empty());
    let asset_etag = asset.header("etag").unwrap().to_string();
    let again = gw.request("GET", &path, &[("If-None-Match", &asset_etag)], b"");
    assert_eq!(again.status, 304);

    let stale = path.replace(&hash, "0000000000000000");
    let answer = gw.request("GET", &stale, &[], b"");
    assert_eq!(answer.status, 404, "a hash that is not the current one");
    assert_secured(&answer, "stale asset");
    let unknown = format!("/ui/assets/{hash}/no-such-file.js");
    assert_eq!(gw.request("GET", &unknown, &[], b"").status, 404);
    let no_route = gw.request("GET", "/ui/jobs", &[], b"");
    assert_eq!(no_route.status, 404);
    assert_secured(&no_route, "a path the UI does not have");
    assert_secured(&redirect, "redirect");
    let wrong_method = gw.request("POST", "/ui/", &[], b"");
    assert_eq!(wrong_method.status, 405);
    assert_secured(&wrong_method, "405");
    gw.stop();
}

/// The session id in a `Set-Cookie: cg_session=<id>; ...` answer.
fn session_cookie(answer: &Response) -> String {
    let cookie = answer.header("set-cookie").expect("a Set-Cookie header");
    let id = cookie
        .strip_prefix("cg_session=")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("not the session cookie: {cookie}"));
    format!("cg_session={id}")
}

/// Logs in with the management token and returns the `Cookie` header value.
fn log_in(gw: &Gateway) -> String {
    let origin = format!("http://{}", gw.addr);
    let body = serde_json::json!({ "token": TOKEN }).to_string();
    let answer = gw.request(
        "POST",
        "/ui/login",
        &[("Origin", &origin), ("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(answer.status, 204, "{}", answer.text());
    session_cookie(&answer)
}

#[test]
fn a_login_session_opens_management_and_state_changes_need_the_origin() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path(), &config_for("file:///nowhere", "github", ""));
    let origin = format!("http://{}", gw.addr);
    let wrong = serde_json::json!({"token": "not-the-token"}).to_string();

    let answer = gw.request(
        "POST",
        "/ui/login",
        &[("Origin", &origin)],
        wrong.as_bytes(),
    );
    assert_eq!(answer.status, 401, "{}", answer.text());
    assert_eq!(answer.json()["error"]["code"], "unauthorized");
    assert!(answer.header("set-cookie").is_none());
    assert_secured(&answer, "a refused login");
    let right = serde_json::json!({ "token": TOKEN }).to_string();
    let answer = gw.request("POST", "/ui/login", &[], right.as_bytes());
    assert_eq!(answer.status, 403, "a login needs its own Origin");
    assert_eq!(answer.json()["error"]["code"], "origin_mismatch");
    let answer = gw.request("POST", "/ui/login", &[("Origin", &origin)], b"{\"tok");
    assert_eq!(answer.status, 400, "{}", answer.text());

    let answer = gw.request(
        "POST",
        "/ui/login",
        &[("Origin", &origin)],
        right.as_bytes(),
    );
    assert_eq!(answer.status, 204, "{}", answer.text());
    let set = answer.header("set-cookie").unwrap();
    let attributes: Vec<&str> = set.split("; ").skip(1).collect();
    assert_eq!(
        attributes,
        ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"],
        "{set}"
    );
    let cookie = session_cookie(&answer);
    let id = cookie.strip_prefix("cg_session=").unwrap();
    assert_eq!(id.len(), 64, "256 random bits as hex: {id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));

    // The cookie opens the management and read API.
    let jobs = gw.request("GET", "/webhooks/jobs", &[("Cookie", &cookie)], b"");
    assert_eq!(jobs.status, 200, "{}", jobs.text());
    assert!(jobs.json()["jobs"].is_array());
    assert_eq!(gw.request("GET", "/webhooks/jobs", &[], b"").status, 401);
    let session = gw.request("GET", "/ui/session", &[("Cookie", &cookie)], b"");
    assert_eq!(session.status, 200);
    assert_eq!(
        session.json(),
        serde_json::json!({"authenticated": true, "via": "cookie", "token_required": true})
    );
    let bearer = format!("Bearer {TOKEN}");
    let session = gw.request("GET", "/ui/session", &[("Authorization", &bearer)], b"");
    assert_eq!(session.json()["via"], "bearer");
    let nobody = gw.request("GET", "/ui/session", &[], b"");
    assert_eq!(nobody.status, 401);
    assert_eq!(nobody.json()["error"]["code"], "unauthorized");

    // State changes by cookie need the request's own Origin; bearer requests do not.
    let trigger = "/webhooks/trigger/demo";
    let answer = gw.request("POST", trigger, &[("Cookie", &cookie)], b"");
    assert_eq!(answer.status, 403, "{}", answer.text());
    assert_eq!(answer.json()["error"]["code"], "origin_mismatch");
    let evil = [
        ("Cookie", cookie.as_str()),
        ("Origin", "http://evil.example"),
    ];
    assert_eq!(gw.request("POST", trigger, &evil, b"").status, 403);
    let own = [("Cookie", cookie.as_str()), ("Origin", origin.as_str())];
    let answer = gw.request("POST", trigger, &own, b"");
    assert_eq!(answer.status, 202, "{}", answer.text());
    let answer = gw.manage("POST", trigger, b"");
    assert_eq!(
        answer.status,
        202,
        "bearer without Origin: {}",
        answer.text()
    );

    // Logout forgets the session and expires the cookie.
    let answer = gw.request("POST", "/ui/logout", &own, b"");
    assert_eq!(answer.status, 204);
    assert!(answer.header("set-cookie").unwrap().contains("Max-Age=0"));
    let jobs = gw.request("GET", "/webhooks/jobs", &[("Cookie", &cookie)], b"");
    assert_eq!(jobs.status, 401, "the session is gone");
    gw.stop();
}

#[test]
fn without_a_token_loopback_is_open_and_login_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, config_for("file:///nowhere", "github", "")).unwrap();
    let log = dir.path().join("gateway.log");
    let mut child = serve_command(&config, &dir.path().join("data"), &log)
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child, &log);
    let origin = format!("http://{addr}");

    let session = http(addr, "GET", "/ui/session", &[], b"");
    assert_eq!(session.status, 200, "{}", session.text());
    assert_eq!(
        session.json(),
        serde_json::json!({"authenticated": true, "via": "loopback", "token_required": false})
    );
    assert_eq!(http(addr, "GET", "/webhooks/jobs", &[], b"").status, 200);
    let body = br#"{"token":"anything"}"#;
    let login = http(addr, "POST", "/ui/login", &[("Origin", &origin)], body);
    assert_eq!(login.status, 409, "{}", login.text());
    assert_eq!(login.json()["error"]["code"], "no_token_configured");
    // A browser on another site cannot make a loopback gateway change state.
    let evil = [("Origin", "http://evil.example")];
    let answer = http(addr, "POST", "/webhooks/trigger/demo", &evil, b"");
    assert_eq!(answer.status, 403, "{}", answer.text());
    let own = [("Origin", origin.as_str())];
    assert_eq!(
        http(addr, "POST", "/webhooks/trigger/demo", &own, b"").status,
        202
    );
    assert_eq!(
        http(addr, "POST", "/webhooks/trigger/demo", &[], b"").status,
        202
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// One Server-Sent Event as read off the wire.
#[derive(Debug, Clone)]
struct Sse {
    id: u64,
    event: String,
    data: Value,
}

/// A real client of `GET /webhooks/events`: raw HTTP/1.1 over TCP, de-chunking the body and
/// splitting it into events (comments and `retry:` lines are skipped).
struct EventStream {
    reader: BufReader<TcpStream>,
    text: String,
}

impl EventStream {
    fn open(gw: &Gateway, auth: (&str, &str), last_event_id: Option<&str>) -> EventStream {
        let mut stream = TcpStream::connect(gw.addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut head = format!(
            "GET /webhooks/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n{}: {}\r\n",
            gw.addr, auth.0, auth.1
        );
        if let Some(id) = last_event_id {
            head.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "{status}");
        let mut chunked = false;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-type:") {
                assert!(lower.contains("text/event-stream"), "{line}");
            }
            chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
            if line == "\r\n" {
                break;
            }
        }
        assert!(chunked, "a stream of unknown length is chunked");
        let mut events = EventStream {
            reader,
            text: String::new(),
        };
        events.fill();
        assert!(
            events.text.starts_with("retry: 2000\n\n"),
            "the first bytes: {:?}",
            events.text
        );
        events
    }

    /// Reads one more chunk of the body.
    fn fill(&mut self) {
        let mut size = String::new();
        self.reader.read_line(&mut size).unwrap();
        let size = usize::from_str_radix(size.trim(), 16)
            .unwrap_or_else(|_| panic!("not a chunk size: {size:?}"));
        assert!(size > 0, "the server ended the stream");
        let mut chunk = vec![0; size + 2];
        self.reader.read_exact(&mut chunk).unwrap();
        chunk.truncate(size);
        self.text.push_str(&String::from_utf8(chunk).unwrap());
    }

    fn next(&mut self) -> Sse {
        loop {
            while let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, None, None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.parse::<u64>().unwrap());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).unwrap());
                    }
                }
                if let (Some(id), Some(event), Some(data)) = (id, event, data) {
                    return Sse { id, event, data };
                }
            }
            self.fill();
        }
    }

    /// Events until `done` holds for one, all returned (that one last).
    fn until(&mut self, done: impl Fn(&Sse) -> bool) -> Vec<Sse> {
        let mut seen = Vec::new();
        loop {
            let event = self.next();
            let last = done(&event);
            seen.push(event);
            if last {
                return seen;
            }
        }
    }
}

/// The states the `job` events of `job` went through (progress events repeat `running`, so
/// repeats are folded).
fn job_states(events: &[Sse], job: &str) -> Vec<String> {
    let mut states: Vec<String> = events
        .iter()
        .filter(|e| e.event == "job" && e.data["id"] == job)
        .map(|e| e.data["state"].as_str().unwrap().to_string())
        .collect();
    states.dedup();
    states
}

fn ended(job: &str) -> impl Fn(&Sse) -> bool + '_ {
    move |e| e.event == "job" && e.data["id"] == job && e.data["state"] == "succeeded"
}

/// A gateway for the repo `demo` (one commit, fetched over file://), its start-up job done.
fn settled_gateway(dir: &std::path::Path) -> (Repo, Gateway) {
    let (repo, _) = Repo::with_file(&dir.join("origin"), "src/lib.rs", "fn one() {}\n");
    let gw = Gateway::start(dir, &config_for(&repo.url(), "github", ""));
    gw.wait_settled();
    (repo, gw)
}

#[test]
fn live_events_follow_jobs_and_resume_after_the_last_id() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, gw) = settled_gateway(dir.path());
    let cookie = log_in(&gw);
    let mut live = EventStream::open(&gw, ("Cookie", &cookie), None);

    // A signed push: its job's life, then its repo.
    let commit = repo.commit("two");
    let body = github_push("refs/heads/main", ZEROS, &commit, false);
    let answer = gw.github_delivery("push", "live-1", &body);
    assert_eq!(answer.status, 202, "{}", answer.text());
    let pushed = answer.json()["job_id"].as_str().unwrap().to_string();
    let mut seen = live.until(ended(&pushed));
    assert_eq!(
        job_states(&seen, &pushed),
        ["queued", "running", "succeeded"]
    );
    let done = seen.last().unwrap().clone();
    assert_eq!(
        done.data,
        gw.manage("GET", &format!("/webhooks/jobs/{pushed}"), b"")
            .json()
    );
    seen.extend(live.until(|e| e.event == "repo"));
    let repo_event = seen.last().unwrap();
    assert_eq!(repo_event.data["repo"], "demo");
    let main = &repo_event.data["refs"][0];
    assert_eq!(main["ref"], "refs/heads/main");
    assert_eq!(main["indexed_commit"], commit.as_str());
    let ids: Vec<u64> = seen.iter().map(|e| e.id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "increasing ids: {ids:?}"
    );

    // Reconnecting with the last id seen replays only what came after it.
    let last = seen.last().unwrap().id;
    let answer = gw.manage("POST", "/webhooks/trigger/demo", b"");
    assert_eq!(answer.status, 202);
    let triggered = answer.json()["job_id"].as_str().unwrap().to_string();
    gw.wait_finished(&triggered);
    let bearer = format!("Bearer {TOKEN}");
    let mut resumed = EventStream::open(&gw, ("Authorization", &bearer), Some(&last.to_string()));
    let replayed = resumed.until(ended(&triggered));
    assert_eq!(replayed[0].id, last + 1, "{replayed:?}");
    assert!(replayed.iter().all(|e| e.event != "reset"));
    assert_eq!(
        job_states(&replayed, &triggered),
        ["queued", "running", "succeeded"]
    );
    assert!(
        job_states(&replayed, &pushed).is_empty(),
        "nothing before the id"
    );

    // Pushes folded into one queued job make an event each: past the buffer, an old id
    // gets a reset.
    let handles = burst(gw.addr, 4, 300, "fold", move |_, _| body.clone(), |_, _| {});
    for handle in handles {
        handle.join().unwrap();
    }
    let mut stale = EventStream::open(&gw, ("Authorization", &bearer), Some("1"));
    let first = stale.next();
    assert_eq!(first.event, "reset", "{first:?}");
    assert_eq!(first.data, serde_json::json!({}));
    assert!(first.id > 1024, "{first:?}");
    let mut ahead = EventStream::open(&gw, ("Authorization", &bearer), Some("99999999"));
    assert_eq!(ahead.next().event, "reset", "an id this process never gave");
    drop(live);
    gw.stop();
}

#[test]
fn a_failed_job_can_be_retried_and_a_succeeded_one_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = Repo::with_file(&dir.path().join("good"), "a.rs", "fn a() {}\n");
    let missing = dir.path().join("no-such-repo");
    let extra = format!(
        "\n[[repos]]\nname = \"good\"\nprovider = \"github\"\nurl = \"{}\"\nbranches = [\"main\"]\nsecret = \"{SECRET}\"\n",
        good.url()
    );
    let gw = Gateway::start(
        dir.path(),
        &config_for(&format!("file://{}", missing.display()), "github", &extra),
    );
    gw.wait_settled();

    let answer = gw.manage("POST", "/webhooks/trigger/demo", b"");
    assert_eq!(answer.status, 202, "{}", answer.text());
    let failed = answer.json()["job_id"].as_str().unwrap().to_string();
    let job = gw.wait_finished(&failed);
    assert_eq!(job["state"], "failed", "{job}");

    let answer = gw.manage("POST", &format!("/webhooks/jobs/{failed}/retry"), b"");
    assert_eq!(answer.status, 202, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["status"], "queued");
    assert_eq!(body["retry_of"], failed.as_str());
    assert_eq!(body["merged"], false);
    let again = body["job_id"].as_str().unwrap().to_string();
    assert_ne!(again, failed);
    let rerun = gw.wait_finished(&again);
    assert_eq!(rerun["repo"], "demo");
    assert_eq!(rerun["ref"], job["ref"]);
    assert_eq!(rerun["trigger"], "manual");
    assert!(rerun["attempts"].as_u64().unwrap() >= 1, "it ran: {rerun}");

    let succeeded = gw.trigger_and_wait("good", b"")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = gw.manage("POST", &format!("/webhooks/jobs/{succeeded}/retry"), b"");
    assert_eq!(answer.status, 409, "{}", answer.text());
    let error = &answer.json()["error"];
    assert_eq!(error["code"], "not_retryable");
    assert!(
        error["message"].as_str().unwrap().contains("succeeded"),
        "{error}"
    );
    let answer = gw.manage("POST", "/webhooks/jobs/00000000000fffff/retry", b"");
    assert_eq!(answer.status, 404);
    gw.stop();
}

#[test]
fn status_counts_deliveries_per_minute_and_push_to_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, gw) = settled_gateway(dir.path());

    let body = github_push("refs/heads/main", ZEROS, &repo.commit("two"), false);
    let mut headers = signed_headers("github", "push", "bad-1", &body, "not-the-secret");
    let refused = post_webhook(&gw, "github", "demo", &headers, &body);
    assert_eq!(refused.status, 401, "{}", refused.text());
    headers = signed_headers("github", "push", "good-1", &body, SECRET);
    let accepted = post_webhook(&gw, "github", "demo", &headers, &body);
    gw.succeeded(&accepted);

    let status = gw.manage("GET", "/webhooks/status", b"").json();
    let minutes = status["deliveries_per_minute"].as_array().unwrap();
    assert_eq!(minutes.len(), 60, "{status}");
    assert!(
        minutes
            .windows(2)
            .all(|w| w[0]["minute"].as_str() < w[1]["minute"].as_str())
    );
    let total = |f: &dyn Fn(&Value) -> u64| minutes.iter().map(f).sum::<u64>();
    assert_eq!(
        total(&|m| m["refused"]["invalid_signature"].as_u64().unwrap()),
        1
    );
    assert_eq!(total(&|m| m["accepted"].as_u64().unwrap()), 1);
    assert_eq!(total(&|m| m["refused"]["other"].as_u64().unwrap()), 0);
    // The two deliveries fall in the last minute, or the one before if a minute turned.
    let recent = &minutes[58..];
    let counted: u64 = recent
        .iter()
        .map(|m| m["refused"]["invalid_signature"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 1, "{recent:?}");
    let searchable = &status["push_to_searchable_ms"];
    assert_eq!(searchable["window_secs"], 3600);
    assert_eq!(searchable["count"], 1, "{searchable}");
    assert!(
        searchable["p50"].is_u64() && searchable["p95"].is_u64(),
        "{searchable}"
    );
    assert_eq!(status["workers"]["configured"], 2);
    assert_eq!(status["workers"]["busy"], 0, "nothing runs once settled");
    assert!(status["index"]["chunks"].as_u64().unwrap() >= 1, "{status}");
    assert!(status["index"]["bytes"].as_u64().unwrap() > 0, "{status}");
    gw.stop();
}

#[test]
fn ui_settings_shape_the_cookie_and_the_expected_origin() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "\n[ui]\nsecure_cookie = true\nsession_ttl_secs = 60\n";
    let gw = Gateway::start(dir.path(), &config_for("file:///nowhere", "github", extra));
    let body = serde_json::json!({ "token": TOKEN }).to_string();
    let plain = format!("http://{}", gw.addr);
    let answer = gw.request("POST", "/ui/login", &[("Origin", &plain)], body.as_bytes());
    assert_eq!(answer.status, 403, "behind TLS the origin is https");
    let tls = format!("https://{}", gw.addr);
    let answer = gw.request("POST", "/ui/login", &[("Origin", &tls)], body.as_bytes());
    assert_eq!(answer.status, 204, "{}", answer.text());
    let set = answer.header("set-cookie").unwrap();
    assert!(set.ends_with("; Max-Age=60; Secure"), "{set}");
    let cookie = session_cookie(&answer);
    let own = [("Cookie", cookie.as_str()), ("Origin", tls.as_str())];
    let answer = gw.request("POST", "/webhooks/trigger/demo", &own, b"");
    assert_eq!(answer.status, 202, "{}", answer.text());
    gw.stop();

    std::fs::write(
        dir.path().join("bad.toml"),
        config_for(
            "file:///nowhere",
            "github",
            "\n[ui]\nsession_ttl_secs = 0\n",
        ),
    )
    .unwrap();
    let checked = gateway_cli()
        .args(["check-config", "--config"])
        .arg(dir.path().join("bad.toml"))
        .output()
        .unwrap();
    assert!(!checked.status.success());
    let text = String::from_utf8_lossy(&checked.stderr).into_owned()
        + &String::from_utf8_lossy(&checked.stdout);
    assert!(text.contains("ui.session_ttl_secs"), "{text}");
}
