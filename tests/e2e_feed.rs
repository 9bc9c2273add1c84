//! The change feed and the read API end to end, on the real binary over 127.0.0.1: a consumer
//! following `/changes` through pushes (adds, edits, renames, deletes, a force push, a branch
//! deletion) ends with exactly the chunks of a fresh full index of the final commit, also
//! across a kill -9; long-polls wake on the push; `/repos`, `/tree` and `/files` agree.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use feed::{ChunkRecord, Entry, Mirror};
use indexer::RefKey;
use support::*;

const MAIN: &str = "refs/heads/main";

fn config(repo: &Repo, feed: &str) -> String {
    format!(
        "workers = 1\nmax_attempts = 3\n{feed}\n[rate_limit]\nper_ip_per_sec = 0\n\n[[repos]]\nname = \"demo\"\nprovider = \"github\"\nurl = \"{}\"\nbranches = [\"main\"]\nsecret = \"{SECRET}\"\n",
        repo.url()
    )
}

fn push(gw: &Gateway, before: &str, after: &str, forced: bool) -> String {
    let body = github_push(MAIN, before, after, forced);
    let delivery = format!("d-{}", now_nanos());
    let headers = signed_headers("github", "push", &delivery, &body, SECRET);
    let answer = post_webhook(gw, "github", "demo", &headers, &body);
    assert!(matches!(answer.status, 200 | 202), "{}", answer.text());
    answer.json()["job_id"].as_str().unwrap().to_string()
}

fn pushed(gw: &Gateway, before: &str, after: &str, forced: bool) {
    let job = gw.wait_finished(&push(gw, before, after, forced));
    assert_eq!(job["state"], "succeeded", "{job}\n{}", gw.log_text());
}

/// A consumer: a mirror, the cursors it has seen, and its page size.
struct Consumer {
    mirror: Mirror,
    seen: BTreeSet<String>,
    limit: usize,
}

impl Consumer {
    fn new(limit: usize) -> Consumer {
        Consumer {
            mirror: Mirror::new(),
            seen: BTreeSet::new(),
            limit,
        }
    }

    fn cursor(&self) -> String {
        self.mirror.cursor().unwrap_or("0").to_string()
    }

    /// Reads pages until the feed has nothing more; every live entry is new to it.
    fn follow(&mut self, gw: &Gateway) {
        loop {
            let cursor = self.cursor();
            let answer = gw.manage(
                "GET",
                &format!(
                    "/changes?repo=demo&ref=main&since={cursor}&limit={}",
                    self.limit
                ),
                b"",
            );
            assert_eq!(answer.status, 200, "{}", answer.text());
            let page = answer.json();
            let entries: Vec<Entry> = serde_json::from_value(page["entries"].clone()).unwrap();
            for entry in &entries {
                if entry.kind != feed::EntryKind::Snapshot {
                    assert!(
                        self.seen.insert(entry.cursor.clone()),
                        "entry {} twice",
                        entry.cursor
                    );
                }
                self.mirror.apply(entry);
            }
            let next = page["next_cursor"].as_str().unwrap().to_string();
            self.mirror.set_cursor(next.clone());
            if entries.is_empty() && next == cursor {
                return;
            }
        }
    }
}

/// Path → chunks of a fresh full index of `commit` of `repo`.
fn fresh_index(repo: &Repo, commit: &str, dir: &Path) -> BTreeMap<String, Vec<ChunkRecord>> {
    let tree = dir.join(format!("fresh-{}", now_nanos()));
    let out = std::process::Command::new("git")
        .args(["clone", "-q"])
        .arg(&repo.dir)
        .arg(&tree)
        .status()
        .unwrap();
    assert!(out.success());
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(&tree)
        .args(["checkout", "-q", commit])
        .status()
        .unwrap();
    assert!(status.success());
    feed::fresh_index(&tree, &RefKey::new("demo", MAIN)).unwrap()
}

/// An open `text/event-stream` answer of `/changes`, read as it arrives.
struct EventStream {
    stream: std::net::TcpStream,
    text: String,
}

impl EventStream {
    fn open(gw: &Gateway, last_event_id: &str) -> EventStream {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(gw.addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        write!(
            stream,
            "GET /changes?repo=demo&ref=main&limit=2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\nLast-Event-ID: {last_event_id}\r\n\r\n"
        )
        .unwrap();
        EventStream {
            stream,
            text: String::new(),
        }
    }

    /// The `id:` values of entry events, once there are at least `n`.
    fn ids_until(&mut self, n: usize) -> Vec<String> {
        use std::io::Read;
        loop {
            let ids: Vec<String> = self
                .text
                .split("\n\n")
                .filter(|event| event.contains("event: entry"))
                .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("id: ")))
                .map(str::to_string)
                .collect();
            if ids.len() >= n {
                assert!(self.text.starts_with("HTTP/1.1 200"), "{}", self.text);
                assert!(
                    self.text
                        .to_lowercase()
                        .contains("content-type: text/event-stream")
                );
                return ids;
            }
            let mut buf = [0u8; 65536];
            let read = self.stream.read(&mut buf).expect("the stream stays open");
            assert!(read > 0, "the stream ended: {}", self.text);
            // Chunk-size lines of the chunked encoding sit between events; they never hold
            // `id:` or `event:`, so they are left in place.
            self.text.push_str(&String::from_utf8_lossy(&buf[..read]));
        }
    }
}

/// A small deterministic generator (the pushes differ by step, the test is repeatable).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// One random change to the working tree of `repo`, committed.
fn random_commit(repo: &Repo, rng: &mut Lcg, step: usize) -> String {
    let files: Vec<String> = repo
        .git(&["ls-files"])
        .lines()
        .map(str::to_string)
        .collect();
    let pick = |rng: &mut Lcg| files[rng.next(files.len() as u64) as usize].clone();
    match rng.next(4) {
        0 if files.len() > 2 => std::fs::remove_file(repo.dir.join(pick(rng))).unwrap(),
        1 if !files.is_empty() => {
            let from = pick(rng);
            repo.git(&["mv", &from, &format!("moved_{step}.rs")]);
        }
        2 if !files.is_empty() => {
            let path = pick(rng);
            let text = std::fs::read_to_string(repo.dir.join(&path)).unwrap();
            repo.write(&path, &format!("// edit {step}\n{text}"));
        }
        _ => repo.write(
            &format!("src/new_{step}.rs"),
            &source_file(&format!("added_{step}"), 3 + step % 5),
        ),
    }
    repo.commit(&format!("step {step}"))
}

fn seed_repo(repo: &Repo) -> String {
    for i in 0..5 {
        repo.write(
            &format!("src/f{i}.rs"),
            &source_file(&format!("seed_{i}"), 4 + i),
        );
    }
    repo.commit("seed")
}

#[test]
fn a_consumer_following_pushes_ends_with_a_fresh_index_and_reads_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(&tmp.path().join("src"));
    let mut head = seed_repo(&repo);
    let gw = Gateway::start(tmp.path(), &config(&repo, ""));
    gw.wait_settled();
    let mut early = Consumer::new(3);
    early.follow(&gw);
    let mut rng = Lcg(18);
    for step in 0..14 {
        match step {
            5 => {
                // Force push: drop the tip, commit something else.
                repo.git(&["reset", "-q", "--hard", "HEAD~1"]);
                let next = random_commit(&repo, &mut rng, step);
                pushed(&gw, &head, &next, true);
                head = next;
            }
            9 => {
                // The branch is deleted, then pushed again.
                pushed(&gw, &head, ZEROS, false);
                early.follow(&gw);
                assert!(
                    early.mirror.files().is_empty(),
                    "a deletion empties the mirror"
                );
                pushed(&gw, ZEROS, &head, false);
            }
            11 => {
                // A long-poll waiting before the push is answered with the push's entry.
                early.follow(&gw);
                let cursor = early.cursor();
                let addr = gw.addr;
                let waiter = std::thread::spawn(move || {
                    let auth = format!("Bearer {TOKEN}");
                    http(
                        addr,
                        "GET",
                        &format!("/changes?repo=demo&ref=main&since={cursor}&wait=60"),
                        &[("Authorization", &auth)],
                        b"",
                    )
                });
                let next = random_commit(&repo, &mut rng, step);
                pushed(&gw, &head, &next, false);
                head = next;
                let answer = waiter.join().unwrap();
                assert_eq!(answer.status, 200, "{}", answer.text());
                let page = answer.json();
                assert_eq!(page["entries"][0]["commit"], head.as_str(), "{page}");
            }
            _ => {
                let next = random_commit(&repo, &mut rng, step);
                pushed(&gw, &head, &next, false);
                head = next;
            }
        }
        if step % 3 == 0 {
            early.follow(&gw);
        }
    }
    early.follow(&gw);
    let expected = fresh_index(&repo, &head, tmp.path());
    assert_eq!(early.mirror.files(), &expected);
    assert_eq!(early.mirror.commit(), Some(head.as_str()));
    let mut late = Consumer::new(2);
    late.follow(&gw);
    assert_eq!(
        late.mirror.files(),
        &expected,
        "a consumer starting from a snapshot"
    );

    // /repos: the indexed commit and counts match the fresh index.
    let repos = gw.manage("GET", "/repos", b"").json();
    let main = &repos["repos"][0]["refs"][0];
    assert_eq!(main["ref"], MAIN, "{repos}");
    assert_eq!(main["indexed_commit"], head.as_str(), "{repos}");
    assert_eq!(main["up_to_date"], true, "{repos}");
    assert_eq!(main["files"], expected.len(), "{repos}");
    let chunks: usize = expected.values().map(Vec::len).sum();
    assert_eq!(main["chunks"], chunks, "{repos}");
    assert_eq!(main["last_job"]["state"], "succeeded");
    // A job of the ref fetched and indexed its tip: no commit missing.
    assert_eq!(main["lag_commits"], 0, "{repos}");
    assert_eq!(
        gw.manage("GET", "/repos/demo", b"").json()["refs"][0],
        *main
    );
    assert_eq!(gw.manage("GET", "/repos/nope", b"").status, 404);

    // Search answers say how fresh each ref in their hits is.
    let found = gw.manage("GET", "/search?q=fn", b"").json();
    assert_eq!(found["freshness"][0]["repo"], "demo", "{found}");
    assert_eq!(
        found["freshness"][0]["indexed_commit"],
        head.as_str(),
        "{found}"
    );
    assert_eq!(found["hits"][0]["commit"], head.as_str(), "{found}");

    // /tree lists the indexed paths; /files serves them at the indexed commit.
    let tree = gw.manage("GET", "/tree/demo?ref=main", b"").json();
    let paths: Vec<String> = serde_json::from_value(tree["paths"].clone()).unwrap();
    assert_eq!(paths, expected.keys().cloned().collect::<Vec<_>>());
    assert_eq!(tree["commit"], head.as_str());
    let src: Vec<String> = serde_json::from_value(
        gw.manage("GET", "/tree/demo?path=src/", b"").json()["paths"].clone(),
    )
    .unwrap();
    assert!(
        !src.is_empty() && src.iter().all(|p| p.starts_with("src/")),
        "{src:?}"
    );
    for path in &paths {
        let answer = gw.manage("GET", &format!("/files/demo/{path}?ref=main"), b"");
        assert_eq!(answer.status, 200, "{}", answer.text());
        let file = answer.json();
        let on_disk = repo.git(&["show", &format!("{head}:{path}")]);
        assert_eq!(file["text"].as_str().unwrap().trim_end(), on_disk, "{path}");
        assert_eq!(file["commit"], head.as_str());
    }
    let one = gw
        .manage(
            "GET",
            &format!("/files/demo/{}?start_line=2&end_line=3", paths[0]),
            b"",
        )
        .json();
    let expected_lines: String = repo
        .git(&["show", &format!("{head}:{}", paths[0])])
        .lines()
        .skip(1)
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(one["text"], expected_lines.as_str(), "{one}");
    assert_eq!(
        (one["start_line"].as_u64(), one["end_line"].as_u64()),
        (Some(2), Some(3))
    );
    for missing in [
        "/files/demo/nope.rs",
        "/files/demo/../gateway.toml",
        "/files/demo/%2E%2E/gateway.toml",
    ] {
        assert_eq!(gw.manage("GET", missing, b"").status, 404, "{missing}");
    }

    // The CLI talks to the running gateway: `changes` prints the snapshot and live entries as
    // JSON lines that rebuild the same chunks, `cat` prints a file.
    let cli = |args: &[&str]| {
        let out = run_ok(
            std::process::Command::new(env!("CARGO_BIN_EXE_context-gateway"))
                .args(args)
                .args(["--url", &format!("http://{}", gw.addr)])
                .env("GATEWAY_TOKEN", TOKEN),
            &format!("{args:?}"),
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let mut from_cli = Mirror::new();
    for line in cli(&["changes", "--repo", "demo", "--ref", "main"]).lines() {
        from_cli.apply(&serde_json::from_str::<Entry>(line).unwrap());
    }
    assert_eq!(from_cli.files(), &expected);
    let printed = cli(&["cat", "demo", &paths[0], "--ref", "main"]);
    assert_eq!(
        printed.trim_end(),
        repo.git(&["show", &format!("{head}:{}", paths[0])])
    );

    // Bad parameters are 400s that name the parameter.
    for (query, name) in [
        ("ref=main", "repo"),
        ("repo=demo", "ref"),
        ("repo=demo&ref=main&since=abc", "since"),
        ("repo=demo&ref=main&wait=61", "wait"),
        ("repo=demo&ref=main&limit=x", "limit"),
    ] {
        let answer = gw.manage("GET", &format!("/changes?{query}"), b"");
        assert_eq!(answer.status, 400, "{query}");
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.contains(&format!("`{name}`")), "{query}: {message}");
    }
    let ahead = gw.manage("GET", "/changes?repo=demo&ref=main&since=999999", b"");
    assert_eq!(ahead.status, 410);
    assert_eq!(ahead.json()["error"]["restart_cursor"], "0");
    assert_eq!(
        gw.request("GET", "/changes?repo=demo&ref=main", &[], b"")
            .status,
        401
    );

    // The same entries as an open stream of Server-Sent Events, resuming after an id; a push
    // made while the stream is idle arrives on it.
    let resume_at = early
        .seen
        .iter()
        .map(|c| c.parse::<u64>().unwrap())
        .min()
        .unwrap();
    let mut stream = EventStream::open(&gw, &resume_at.to_string());
    let expected_ids: Vec<String> = {
        let mut ids: Vec<u64> = early
            .seen
            .iter()
            .map(|c| c.parse().unwrap())
            .filter(|c| *c > resume_at)
            .collect();
        ids.sort_unstable();
        ids.iter().map(u64::to_string).collect()
    };
    let ids = stream.ids_until(expected_ids.len());
    assert_eq!(ids, expected_ids);
    let next = random_commit(&repo, &mut rng, 99);
    pushed(&gw, &head, &next, false);
    let ids = stream.ids_until(expected_ids.len() + 1);
    assert!(
        stream.text.contains(&format!("\"commit\":\"{next}\"")),
        "{}",
        stream.text
    );
    assert!(ids.last().unwrap().parse::<u64>().unwrap() > resume_at);
}

#[test]
fn retention_sends_a_lagging_consumer_back_to_a_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(&tmp.path().join("src"));
    let mut head = seed_repo(&repo);
    let gw = Gateway::start(
        tmp.path(),
        &config(&repo, "\n[feed]\nretention_entries_per_ref = 2\n"),
    );
    gw.wait_settled();
    let mut consumer = Consumer::new(10);
    consumer.follow(&gw);
    let mut rng = Lcg(7);
    for step in 0..3 {
        let next = random_commit(&repo, &mut rng, step);
        pushed(&gw, &head, &next, false);
        head = next;
    }
    let cursor = consumer.cursor();
    let answer = gw.manage(
        "GET",
        &format!("/changes?repo=demo&ref=main&since={cursor}"),
        b"",
    );
    assert_eq!(answer.status, 410, "{}", answer.text());
    let error = &answer.json()["error"];
    assert_eq!(error["code"], "cursor_expired");
    assert_eq!(error["restart_cursor"], "0");
    let mut restarted = Consumer::new(10);
    restarted.follow(&gw);
    assert_eq!(
        restarted.mirror.files(),
        &fresh_index(&repo, &head, tmp.path())
    );
}

#[test]
fn a_consumer_resuming_after_kill9_sees_no_gap_and_no_entry_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(&tmp.path().join("src"));
    let mut head = seed_repo(&repo);
    let config_path = tmp.path().join("gateway.toml");
    std::fs::write(&config_path, config(&repo, "")).unwrap();
    let gw = Gateway::start_with(tmp.path(), &config_path);
    gw.wait_settled();
    let mut consumer = Consumer::new(4);
    consumer.follow(&gw);
    let mut rng = Lcg(99);
    // Several pushes queued at once; the gateway dies while it works through them.
    for step in 0..6 {
        let next = random_commit(&repo, &mut rng, step);
        push(&gw, &head, &next, false);
        head = next;
    }
    std::thread::sleep(Duration::from_millis(150));
    consumer.follow(&gw);
    gw.kill9();

    let gw = Gateway::start_with(tmp.path(), &config_path);
    gw.wait_settled();
    // The last push may have been folded into a job that finished before the kill; a final
    // push of the same tip makes sure it is indexed.
    pushed(&gw, &head, &head, false);
    consumer.follow(&gw);
    assert_eq!(
        consumer.mirror.files(),
        &fresh_index(&repo, &head, tmp.path())
    );
    assert_eq!(consumer.mirror.commit(), Some(head.as_str()));
}

#[test]
fn a_data_dir_indexed_before_the_feed_existed_is_reindexed_into_it() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(&tmp.path().join("src"));
    let head = seed_repo(&repo);
    let config_path = tmp.path().join("gateway.toml");
    std::fs::write(&config_path, config(&repo, "")).unwrap();
    let gw = Gateway::start_with(tmp.path(), &config_path);
    gw.wait_settled();
    let data = gw.data_dir.clone();
    assert!(gw.stop().success());
    std::fs::remove_dir_all(data.join("feed")).unwrap();

    let gw = Gateway::start_with(tmp.path(), &config_path);
    gw.wait_settled();
    let expected = fresh_index(&repo, &head, tmp.path());
    let mut consumer = Consumer::new(50);
    consumer.follow(&gw);
    assert_eq!(consumer.mirror.files(), &expected);
    let tree = gw.manage("GET", "/tree/demo", b"").json();
    assert_eq!(
        tree["paths"].as_array().unwrap().len(),
        expected.len(),
        "{tree}"
    );
}

#[test]
fn secrets_never_reach_the_feed_or_files() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(&tmp.path().join("src"));
    let password = format!("pw{}xq", now_nanos());
    let key_material: String = format!("{:x}", now_nanos()).repeat(8);
    repo.write(".env", &format!("DATABASE_PASSWORD={password}\n"));
    let mut keys = source_file("before_the_key", 60);
    keys.push_str(&format!(
        "const KEY: &str = \"-----BEGIN RSA PRIVATE KEY-----\n{key_material}\n-----END RSA PRIVATE KEY-----\";\n\n"
    ));
    keys.push_str(&source_file("after_the_key", 60));
    repo.write("src/keys.rs", &keys);
    repo.commit("secrets");
    let gw = Gateway::start(tmp.path(), &config(&repo, ""));
    gw.wait_settled();

    let all = gw.manage("GET", "/changes?repo=demo&ref=main&since=0&limit=1000", b"");
    let text = all.text();
    assert!(
        text.contains("before_the_key") && text.contains("after_the_key"),
        "{text}"
    );
    assert!(
        !text.contains(&password) && !text.contains(&key_material),
        "a secret in the feed"
    );
    let live = gw
        .manage("GET", "/changes?repo=demo&ref=main&since=1&limit=1000", b"")
        .text();
    assert!(
        !live.contains(&password) && !live.contains(&key_material),
        "a secret in the feed"
    );

    assert_eq!(gw.manage("GET", "/files/demo/.env", b"").status, 404);
    let file = gw.manage("GET", "/files/demo/src/keys.rs", b"").json();
    let served = file["text"].as_str().unwrap();
    assert!(
        served.contains("before_the_key") && !served.contains(&key_material),
        "{file}"
    );
    assert!(!file["withheld"].as_array().unwrap().is_empty(), "{file}");
    let tree = gw.manage("GET", "/tree/demo", b"").json();
    assert_eq!(tree["paths"], serde_json::json!(["src/keys.rs"]), "{tree}");
}
