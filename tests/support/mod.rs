//! Shared parts of the end-to-end tests: the real binary on 127.0.0.1:0, a small real HTTP/1.1
//! client over TCP, real git repositories in temp dirs, and signed deliveries.

#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

pub const SECRET: &str = "e2e-secret";
pub const TOKEN: &str = "e2e-management-token";

/// How long any wait in these tests may take before the test fails (a hang guard, not a
/// speed assertion).
pub const PATIENCE: Duration = Duration::from_secs(90);

/// A running `context-gateway serve`.
pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
}

impl Gateway {
    /// Starts the binary with `config_text` and waits until it listens.
    pub fn start(dir: &Path, config_text: &str) -> Gateway {
        let config = dir.join("gateway.toml");
        std::fs::write(&config, config_text).unwrap();
        Gateway::start_with(dir, &config)
    }

    pub fn start_with(dir: &Path, config: &Path) -> Gateway {
        Gateway::start_with_data(dir, config, &dir.join("data"))
    }

    /// Like [`Gateway::start_with`], with the data dir somewhere else than `dir/data`.
    pub fn start_with_data(dir: &Path, config: &Path, data_dir: &Path) -> Gateway {
        let data_dir = data_dir.to_path_buf();
        let log = dir.join(format!("gateway-{}.log", now_nanos()));
        let mut child = serve_command(config, &data_dir, &log)
            .env("GATEWAY_TOKEN", TOKEN)
            .spawn()
            .expect("the context-gateway binary starts");
        let addr = listening_addr(&mut child, &log);
        Gateway {
            child,
            addr,
            data_dir,
            config: config.to_path_buf(),
            log,
        }
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        http(self.addr, method, path, headers, body)
    }

    /// A management request with the bearer token.
    pub fn manage(&self, method: &str, path: &str, body: &[u8]) -> Response {
        let auth = format!("Bearer {TOKEN}");
        self.request(method, path, &[("Authorization", &auth)], body)
    }

    /// Calls `check` every `every` until it returns `Ok`; once [`PATIENCE`] has passed, fails
    /// the test with the last `Err` (what it waited for and what it saw) and the log.
    pub fn poll<T>(
        &self,
        every: Duration,
        mut check: impl FnMut(&Gateway) -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match check(self) {
                Ok(done) => return done,
                Err(waiting) => assert!(
                    Instant::now() < deadline,
                    "{waiting}\nlog:\n{}",
                    self.log_text()
                ),
            }
            std::thread::sleep(every);
        }
    }

    /// Waits until the job is finished (or `state` if given) and returns it.
    pub fn wait_job(&self, id: &str, until: &[&str]) -> Value {
        self.poll(Duration::from_millis(50), |gw| {
            let job = gw
                .manage("GET", &format!("/webhooks/jobs/{id}"), b"")
                .json();
            let state = job["state"].as_str().unwrap_or("");
            if until.contains(&state) {
                Ok(job)
            } else {
                Err(format!("job {id} stuck in {state}: {job}"))
            }
        })
    }

    /// The job `answer` queued, once finished; the test fails unless the answer is a 202 and
    /// the job succeeded.
    pub fn succeeded(&self, answer: &Response) -> Value {
        assert_eq!(answer.status, 202, "{}", answer.text());
        let job = self.wait_finished(answer.json()["job_id"].as_str().unwrap());
        assert_eq!(job["state"], "succeeded", "{job}");
        job
    }

    /// `POST /webhooks/trigger/{repo}` with `body`, then [`Gateway::succeeded`].
    pub fn trigger_and_wait(&self, repo: &str, body: &[u8]) -> Value {
        self.succeeded(&self.manage("POST", &format!("/webhooks/trigger/{repo}"), body))
    }

    /// `body` signed with [`SECRET`] as GitHub sends an `event`, POSTed to the repo `demo`.
    pub fn github_delivery(&self, event: &str, id: &str, body: &[u8]) -> Response {
        let headers = signed_headers("github", event, id, body, SECRET);
        post_webhook(self, "github", "demo", &headers, body)
    }

    /// The hits of `GET /search?{query}` (the test fails if the answer holds no hit list).
    pub fn search_hits(&self, query: &str) -> Vec<Value> {
        let body = self.manage("GET", &format!("/search?{query}"), b"").json();
        body["hits"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("no hits array: {body}"))
    }

    /// Waits until some job is running and returns it (polled every 5 ms, so a test can
    /// time what it does next from the job's start).
    pub fn wait_running_job(&self) -> Value {
        self.poll(Duration::from_millis(5), |gw| {
            let running = gw.manage("GET", "/webhooks/jobs?state=running", b"").json();
            match running["jobs"].as_array().and_then(|jobs| jobs.first()) {
                Some(job) => Ok(job.clone()),
                None => Err("no job ever ran".to_string()),
            }
        })
    }

    /// Waits until exactly one job runs and one is queued, and returns them (running, queued).
    pub fn one_running_one_queued(&self) -> (Value, Value) {
        self.poll(Duration::from_millis(20), |gw| {
            let jobs = |state: &str| {
                gw.manage("GET", &format!("/webhooks/jobs?state={state}"), b"")
                    .json()["jobs"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            };
            match (jobs("running").as_slice(), jobs("queued").as_slice()) {
                ([running], [queued]) => Ok((running.clone(), queued.clone())),
                (running, queued) => Err(format!(
                    "never saw one running and one queued job: {running:?} {queued:?}"
                )),
            }
        })
    }

    /// Waits until no job is queued or running and returns `/webhooks/status` then.
    pub fn wait_settled(&self) -> Value {
        self.poll(Duration::from_millis(50), |gw| {
            let status = gw.manage("GET", "/webhooks/status", b"").json();
            let jobs = &status["jobs"];
            if jobs["queued"] == 0 && jobs["running"] == 0 {
                Ok(status)
            } else {
                Err(format!("jobs never settled: {status}"))
            }
        })
    }

    pub fn wait_finished(&self, id: &str) -> Value {
        self.wait_job(id, &["succeeded", "failed", "cancelled", "superseded"])
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        wait_exit(&mut self.child)
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `context-gateway serve` on 127.0.0.1:0 with JSON logs at `info` into `log`, stdout piped
/// (it prints the address first), and neither `GATEWAY_TOKEN` nor `WEBHOOK_SECRET` taken from
/// the test's environment.
pub fn serve_command(config: &Path, data_dir: &Path, log: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_context-gateway"));
    command
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("GATEWAY_TOKEN")
        .env_remove("WEBHOOK_SECRET")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap());
    command
}

/// The address a `serve` child prints on its first line of stdout (the test fails with the
/// child's `log` when the line is anything else).
pub fn listening_addr(child: &mut Child, log: &Path) -> SocketAddr {
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    line.trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| {
            panic!(
                "unexpected first line {line:?}; log: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        })
        .parse()
        .unwrap()
}

/// The binary for a one-shot command, with no secret, token or config path taken from the
/// test's environment.
pub fn gateway_cli() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_context-gateway"));
    command
        .env_remove("WEBHOOK_SECRET")
        .env_remove("GATEWAY_TOKEN")
        .env_remove("CONTEXT_GATEWAY_CONFIG");
    command
}

/// Runs `command` to the end and fails the test, naming `what` and showing its stderr, unless
/// it succeeded. Its output.
pub fn run_ok(command: &mut Command, what: &str) -> std::process::Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a `--json` command to the end, fails the test with its stderr unless it succeeded,
/// and returns what it printed.
pub fn cli_json(command: &mut Command) -> Value {
    let out = run_ok(command, &format!("{command:?}"));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `context-gateway index TREE --name NAME --json --data-dir DATA_DIR`: the run's summary.
pub fn cli_index(tree: &Path, name: &str, data_dir: &Path) -> Value {
    cli_json(
        gateway_cli()
            .arg("index")
            .arg(tree)
            .args(["--name", name, "--json", "--data-dir"])
            .arg(data_dir),
    )
}

/// Runs `command` with `input` on its stdin and its stdout and stderr captured.
pub fn run_with_input(command: &mut Command, input: &[u8]) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Whether `python3` runs `probe` (the imports a test drives). When it does not, the test is
/// to skip itself, and this says so on stderr; with `require_env` set to `1` it fails instead.
pub fn python_has(probe: &str, module: &str, pip_name: &str, require_env: &str) -> bool {
    let reason = match Command::new("python3").args(["-c", probe]).output() {
        Ok(out) if out.status.success() => return true,
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
        Err(e) => format!("python3 could not be started: {e}"),
    };
    if std::env::var(require_env).as_deref() == Ok("1") {
        panic!("{require_env}=1 but the Python module {module} is missing: {reason}");
    }
    eprintln!(
        "SKIPPED: the Python module {module} is not installed \
         (python3 -m pip install {pip_name}): {reason}"
    );
    false
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "gateway did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413, 401) and close before reading a large body: that is fine.
    let _ = stream.write_all(body);
    read_response(&mut stream)
}

pub fn read_response(stream: &mut TcpStream) -> Response {
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// Signed headers for a delivery of `body` by `provider`, plus the provider's event headers.
pub fn signed_headers(
    provider: &str,
    event: &str,
    delivery: &str,
    body: &[u8],
    secret: &str,
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = provider
        .parse::<webhook_core::ProviderId>()
        .unwrap()
        .sign(
            &webhook_core::Secret::new(secret).unwrap(),
            body,
            SystemTime::now(),
        )
        .unwrap();
    let mut add = |k: &str, v: &str| headers.push((k.to_string(), v.to_string()));
    match provider {
        "github" => {
            add("X-GitHub-Event", event);
            add("X-GitHub-Delivery", delivery);
        }
        "gitea" => {
            add("X-Gitea-Event", event);
            add("X-Gitea-Delivery", delivery);
            add("X-GitHub-Event", event);
            add("X-GitHub-Delivery", delivery);
        }
        "gitlab" => {
            add("X-Gitlab-Event", event);
            add("X-Gitlab-Event-UUID", delivery);
        }
        "bitbucket" => {
            add("X-Event-Key", event);
            add("X-Request-UUID", delivery);
        }
        _ => {}
    }
    add("Content-Type", "application/json");
    headers
}

/// Owned header pairs as the `&str` pairs [`http`] takes.
pub fn header_refs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// POSTs `body` with `headers` (as [`signed_headers`] makes them) to `path` at `addr`.
pub fn post(addr: SocketAddr, path: &str, headers: &[(String, String)], body: &[u8]) -> Response {
    http(addr, "POST", path, &header_refs(headers), body)
}

/// Starts `senders` threads that POST signed GitHub pushes to the repo `demo` at `addr` as fast
/// as they can, `each` per thread: delivery `{prefix}-{t}-{i}` of thread `t` carries
/// `body(t, i)`, and `answered` gets its id and answer. A sender stops once the server is gone
/// (the client panics on a refused or cut connection).
pub fn burst(
    addr: SocketAddr,
    senders: usize,
    each: usize,
    prefix: &str,
    body: impl Fn(usize, usize) -> Vec<u8> + Send + Sync + 'static,
    answered: impl Fn(String, Response) + Send + Sync + 'static,
) -> Vec<std::thread::JoinHandle<()>> {
    let (body, answered) = (std::sync::Arc::new(body), std::sync::Arc::new(answered));
    (0..senders)
        .map(|t| {
            let (body, answered, prefix) = (body.clone(), answered.clone(), prefix.to_string());
            std::thread::spawn(move || {
                for i in 0..each {
                    let delivery = format!("{prefix}-{t}-{i}");
                    let body = body(t, i);
                    let headers = signed_headers("github", "push", &delivery, &body, SECRET);
                    let Ok(answer) = std::panic::catch_unwind(|| {
                        post(addr, "/webhooks/github/demo", &headers, &body)
                    }) else {
                        return;
                    };
                    answered(delivery, answer);
                }
            })
        })
        .collect()
}

pub fn post_webhook(
    gw: &Gateway,
    provider: &str,
    repo: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Response {
    post(
        gw.addr,
        &format!("/webhooks/{provider}/{repo}"),
        headers,
        body,
    )
}

/// A GitHub push payload.
pub fn github_push(git_ref: &str, before: &str, after: &str, forced: bool) -> Vec<u8> {
    let zeros = "0000000000000000000000000000000000000000";
    serde_json::to_vec(&serde_json::json!({
        "ref": git_ref, "before": before, "after": after,
        "created": before == zeros, "deleted": after == zeros, "forced": forced,
        "repository": {"name": "demo", "full_name": "acme/demo", "clone_url": "file:///demo"},
        "commits": [], "head_commit": null
    }))
    .unwrap()
}

pub const ZEROS: &str = "0000000000000000000000000000000000000000";

/// A real git repository made in a temp dir, on branch main.
pub struct Repo {
    pub dir: PathBuf,
}

impl Repo {
    pub fn new(dir: &Path) -> Repo {
        std::fs::create_dir_all(dir).unwrap();
        let repo = Repo {
            dir: dir.to_path_buf(),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.email", "e2e@example.invalid"]);
        repo.git(&["config", "user.name", "e2e"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo
    }

    /// A repository in `dir` whose one commit holds `path` with `text`; returns it and that
    /// commit's id.
    pub fn with_file(dir: &Path, path: &str, text: &str) -> (Repo, String) {
        let repo = Repo::new(dir);
        repo.write(path, text);
        let commit = repo.commit("initial");
        (repo, commit)
    }

    /// A repository in `dir` whose one commit holds `path` with [`source_file`]`(ident,
    /// lines)`; returns it and that commit's id.
    pub fn with_source(dir: &Path, path: &str, ident: &str, lines: usize) -> (Repo, String) {
        Repo::with_file(dir, path, &source_file(ident, lines))
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    pub fn git(&self, args: &[&str]) -> String {
        let mut git = Command::new("git");
        git.arg("-C").arg(&self.dir).args(args);
        let out = run_ok(&mut git, &format!("git {args:?}"));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn write(&self, path: &str, text: &str) {
        let full = self.dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }

    /// Stages everything and commits; returns the new commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// A repository in `dir` whose one commit holds `files` source files of 12 helpers each,
    /// spread over `dirs` directories (`d{i % dirs}/f{i}.rs`), each with the identifier
    /// `{prefix}_{i}`: a tree big enough that indexing it takes a while. Returns it and that
    /// commit's id.
    pub fn with_sources(dir: &Path, files: usize, dirs: usize, prefix: &str) -> (Repo, String) {
        let repo = Repo::new(dir);
        for i in 0..files {
            repo.write(
                &format!("d{}/f{i}.rs", i % dirs),
                &source_file(&format!("{prefix}_{i}"), 12),
            );
        }
        let commit = repo.commit("big");
        (repo, commit)
    }
}

/// A config with one repo fetched over file://.
pub fn config_for(repo_url: &str, provider: &str, extra: &str) -> String {
    format!(
        "workers = 2\nmax_attempts = 2\n\n[rate_limit]\nper_ip_per_sec = 0\n\n[[repos]]\nname = \"demo\"\nprovider = \"{provider}\"\nurl = \"{repo_url}\"\nbranches = [\"main\"]\nsecret = [\"old-rotated-secret\", \"{SECRET}\"]\n{extra}\n"
    )
}

pub fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Source text that contains a unique, searchable identifier.
pub fn source_file(ident: &str, lines: usize) -> String {
    let mut text = format!("fn {ident}() -> u32 {{\n    42\n}}\n\n");
    for i in 0..lines {
        text.push_str(&format!(
            "fn helper_{ident}_{i}(x: u32) -> u32 {{\n    x + {i}\n}}\n\n"
        ));
    }
    text
}

/// Fills the gateway's only in-flight slot (`max_in_flight = 1`) with a webhook delivery to
/// `path` whose body never completes, and returns its connection (drop it to free the slot)
/// with the first answer a `/healthz` probe got while the slot was held: a 503.
///
/// On a loaded machine a probe can take the slot first; the stalled delivery is then the one
/// refused, so it is sent again on a fresh connection until it holds the slot.
pub fn hold_the_only_slot(gw: &Gateway, path: &str) -> (TcpStream, Response) {
    let open = || {
        let mut stalled = TcpStream::connect(gw.addr).unwrap();
        write!(
            stalled,
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{{"
        )
        .unwrap();
        stalled.set_nonblocking(true).unwrap();
        stalled
    };
    let mut stalled = open();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = gw.request("GET", "/healthz", &[], b"");
        if answer.status == 503 {
            return (stalled, answer);
        }
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert!(
            Instant::now() < deadline,
            "the in-flight bound was never hit"
        );
        std::thread::sleep(Duration::from_millis(20));
        let mut byte = [0u8; 1];
        match stalled.read(&mut byte) {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            // Answered (refused while a probe held the slot) or closed: send it again.
            _ => stalled = open(),
        }
    }
}
