"""Shared parts of the load benchmarks (and benches/push_to_searchable.py): a git repository of
generated Rust files, a realistic signed GitHub push, starting a release `context-gateway serve`
on 127.0.0.1:0, a tiny HTTP client, percentiles and peak RSS, and finding the peer tools.

Everything here talks to 127.0.0.1 only.
"""

import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TOKEN = "bench-token"
SECRET = "bench-secret"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def target_dir():
    """Cargo's target dir: $CARGO_TARGET_DIR, else `target/` in the repository."""
    return os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO_ROOT, "target")


def default_gateway():
    """The release binary `cargo build --release -p context-gateway` writes."""
    return os.path.join(target_dir(), "release", "context-gateway")


def bench_tools():
    """Where peers built from crates.io are installed: $BENCH_TOOLS, else
    `<target dir>/bench-tools` (`cargo install --root` layout: the binaries are in `bin/`)."""
    return os.environ.get("BENCH_TOOLS") or os.path.join(target_dir(), "bench-tools")


def find_tool(name, crate=None):
    """The path of a peer tool: on PATH, else in `bench_tools()/bin`, else, when `crate` names
    the crates.io package that provides it, installed there with `cargo install`. Exits with a
    message naming what to install when none of these works."""
    local = os.path.join(bench_tools(), "bin")
    path = shutil.which(name) or shutil.which(name, path=local)
    if path:
        return path
    if crate and shutil.which("cargo"):
        print(f"{name} not found: cargo install --locked --root {bench_tools()} {crate}", file=sys.stderr)
        subprocess.run(["cargo", "install", "--locked", "--quiet", "--root", bench_tools(), crate], check=True)
        path = shutil.which(name, path=local)
        if path:
            return path
    hint = f"cargo install --root {bench_tools()} {crate}" if crate else "your package manager"
    sys.exit(f"{name} is not on PATH nor in {local}: install it with {hint} (benches/run.sh does)")


def git(repo, *args, **kw):
    """Runs git in `repo`; returns its stdout (raises if it fails)."""
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True, **kw).stdout


def make_repo(path, files, dir_of):
    """A git repository at `path` (branch main, one commit) of `files` Rust files of 12
    functions each, file `i` being `<dir_of(i)>/mod<i>.rs`."""
    os.makedirs(path)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "bench@example.invalid")
    git(path, "config", "user.name", "bench")
    for i in range(files):
        d = os.path.join(path, dir_of(i))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"mod{i}.rs"), "w") as f:
            for j in range(12):
                f.write(f"pub fn item_{i}_{j}(value: u64) -> u64 {{\n    value.wrapping_mul({j + 3}) ^ {i}\n}}\n\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")


def write_result(result, json_out=None):
    """Prints the result as indented JSON to stderr and, with `json_out`, writes it there."""
    text = json.dumps(result, indent=1)
    print(text, file=sys.stderr)
    if json_out:
        with open(json_out, "w") as f:
            f.write(text)
    return text


def github_push(repo="bench", ref="refs/heads/main", before="1" * 40, after="2" * 40,
                target_bytes=7 * 1024, marker=""):
    """A GitHub push delivery shaped like a real one (repository, pusher, sender, several
    commits with file lists), padded with more commits until it is about `target_bytes`."""
    full = f"acme/{repo}"
    html = f"https://github.com/{full}"

    def commit(n, sha):
        return {
            "id": sha, "tree_id": hashlib.sha1(f"tree{n}".encode()).hexdigest(), "distinct": True,
            "message": f"Refactor the request parser, step {n}{marker}\n\nSplit header parsing from "
                       "body handling so the limit applies before anything else.",
            "timestamp": "2024-05-01T09:58:00+02:00", "url": f"{html}/commit/{sha}",
            "author": {"name": "Octo Cat", "email": "octocat@example.com", "username": "octocat"},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
            "added": [f"src/parser/step{n}.rs"], "removed": [],
            "modified": ["src/lib.rs", "src/http/request.rs", f"tests/parser_{n}.rs"],
        }

    body = {
        "ref": ref, "before": before, "after": after,
        "repository": {
            "id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": repo, "full_name": full,
            "private": False,
            "owner": {"name": "acme", "email": None, "login": "acme", "id": 583231, "type": "Organization"},
            "html_url": html, "description": "Benchmark repository", "fork": False, "url": html,
            "created_at": 1700000000, "updated_at": "2024-05-01T10:00:00Z", "pushed_at": 1714557600,
            "git_url": f"git://github.com/{full}.git", "ssh_url": f"git@github.com:{full}.git",
            "clone_url": f"{html}.git", "default_branch": "main", "topics": ["rust", "webhooks"],
            "size": 1834, "stargazers_count": 80, "watchers_count": 80, "language": "Rust",
            "master_branch": "main",
        },
        "pusher": {"name": "octocat", "email": "octocat@example.com"},
        "sender": {"login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": False,
                   "avatar_url": "https://avatars.githubusercontent.com/u/1?v=4",
                   "url": "https://api.github.com/users/octocat", "html_url": "https://github.com/octocat"},
        "created": False, "deleted": False, "forced": False, "base_ref": None,
        "compare": f"{html}/compare/{before[:12]}...{after[:12]}",
        "commits": [],
        "head_commit": None,
    }
    n = 0
    while True:
        sha = after if n == 0 else hashlib.sha1(f"c{n}{after}".encode()).hexdigest()
        body["commits"].insert(0, commit(n, sha))
        body["head_commit"] = body["commits"][-1]
        raw = json.dumps(body, indent=None).encode()
        if len(raw) >= target_bytes:
            return raw
        n += 1


def sign(body, secret=SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def push_headers(body, delivery, secret=SECRET):
    return {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sign(body, secret), "Content-Type": "application/json"}


def request(addr, method, path, body=b"", headers=None, token=TOKEN, timeout=30):
    conn = http.client.HTTPConnection(addr[0], addr[1], timeout=timeout)
    hdrs = {"Authorization": f"Bearer {token}"} if token else {}
    hdrs.update(headers or {})
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def get_json(addr, path):
    status, data = request(addr, "GET", path)
    if status != 200:
        raise RuntimeError(f"GET {path}: {status} {data[:200]!r}")
    return json.loads(data)


def wait_idle(addr, deadline_s=600):
    """Waits until the gateway at `addr` has no queued or running job."""
    end = time.time() + deadline_s
    while time.time() < end:
        jobs = get_json(addr, "/webhooks/status").get("jobs") or {}
        if jobs.get("queued", 0) == 0 and jobs.get("running", 0) == 0:
            return
        time.sleep(0.05)
    raise RuntimeError("gateway never became idle")


class Gateway:
    """A `context-gateway serve` child on 127.0.0.1:0 with its own config and data dir."""

    def __init__(self, binary, workdir, config_text, log_name="gateway.log"):
        self.binary, self.workdir = binary, workdir
        self.config = os.path.join(workdir, "gateway.toml")
        self.data_dir = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, log_name)
        with open(self.config, "w") as f:
            f.write(config_text)
        self.proc = None
        self.addr = None

    def start(self, env_overrides=None):
        """Starts serve and reads its address; `env_overrides` are set in its environment last."""
        # The serve default log level (info), as in production, unless BENCH_RUST_LOG says otherwise.
        env = dict(os.environ, GATEWAY_TOKEN=TOKEN)
        env.pop("RUST_LOG", None)
        if os.environ.get("BENCH_RUST_LOG"):
            env["RUST_LOG"] = os.environ["BENCH_RUST_LOG"]
        env.pop("WEBHOOK_SECRET", None)
        env.update(env_overrides or {})
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--config", self.config, "--listen", "127.0.0.1:0",
             "--data-dir", self.data_dir],
            stdout=subprocess.PIPE, stderr=log, env=env, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on http://"):
            self.stop()
            raise RuntimeError(f"gateway did not start: {line!r}; see {self.log_path}")
        host, port = line.removeprefix("listening on http://").rsplit(":", 1)
        self.addr = (host, int(port))
        return self

    @property
    def pid(self):
        return self.proc.pid

    def wait_idle(self, deadline_s=600):
        wait_idle(self.addr, deadline_s)

    def jobs(self, query=""):
        """Every job (all pages), newest first."""
        out, cursor = [], None
        while True:
            q = f"/webhooks/jobs?limit=500{query}" + (f"&cursor={cursor}" if cursor else "")
            page = get_json(self.addr, q)
            out.extend(page["jobs"])
            cursor = page.get("next_cursor")
            if not cursor:
                return out

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Run:
    """One bench run: a temp work dir and the gateways started in it. Use as
    `with Run("prefix-") as run:`; on the way out, however it ends, every gateway is stopped
    and the dir removed."""

    def __init__(self, prefix):
        self.work = tempfile.mkdtemp(prefix=prefix)
        self.gateways = []

    def gateway(self, binary, config_text, **kwargs):
        """A `Gateway` in the work dir (not started yet), stopped when the run ends."""
        gateway = Gateway(binary, self.work, config_text, **kwargs)
        self.gateways.append(gateway)
        return gateway

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for gateway in self.gateways:
            gateway.stop()
        shutil.rmtree(self.work, ignore_errors=True)
        return False


def status_kb(pid, keys):
    """The `keys` of /proc/<pid>/status that are present (all in kB), as a dict; empty if the
    process is gone."""
    found = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":")[0]
                if key in keys:
                    found[key] = int(line.split()[1])
    except OSError:
        pass
    return found


def peak_rss_kb(pid):
    """VmHWM of a process (peak resident set), in kB; 0 if it is gone."""
    return status_kb(pid, ("VmHWM",)).get("VmHWM", 0)


def rss_parts_kb(pid):
    """RssAnon (heap, stacks) and RssFile (mapped files: the binary, tantivy's and sled's
    mapped files) of a process, in kB; the page cache can drop file pages at will."""
    return status_kb(pid, ("RssAnon", "RssFile", "RssShmem"))


def rss_kb(pid):
    """VmRSS of a process (resident set now), in kB; 0 if it is gone."""
    return status_kb(pid, ("VmRSS",)).get("VmRSS", 0)


def cpu_seconds(pid):
    """CPU time (user + system) of a process and its reaped children, in seconds; 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime..cstime are fields 14..17 (1-based).
    ticks = sum(int(v) for v in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def latency_summary(latencies_ms):
    """p50/p90/p99/max/mean of latencies in milliseconds, rounded to 0.1 ms."""
    summary = {f"p{p}_ms": round(percentile(latencies_ms, p), 1) for p in (50, 90, 99)}
    summary["max_ms"] = round(max(latencies_ms), 1)
    summary["mean_ms"] = round(statistics.mean(latencies_ms), 1)
    return summary


def median(values):
    return percentile(values, 50)
