#!/usr/bin/env python3
"""Push-to-delta latency: from a signed webhook's arrival to the chunk delta in the hands of a
consumer long-polling GET /changes; and how fast /changes pages a snapshot to a local reader.

Builds a 10,000-file git repository (the one of push_to_searchable.py), serves it over file://
to a release `context-gateway serve` on 127.0.0.1, waits for the initial index, then:
- pages the ref's snapshot with `limit=1000` and reports chunks per second;
- N times: a consumer parks `GET /changes?since=<its cursor>&wait=60`, a one-file change is
  committed and its signed GitHub push sent (the clock starts just before the POST), and the
  clock stops when the long-poll's answer, holding that commit's entry, has been read.
Reports p50/p90/p99/max in milliseconds.

Only loopback traffic; bounded by --pushes and a per-push deadline.

    cargo build --release -p context-gateway
    python3 benches/push_to_delta.py --pushes 50   # --binary: default $CARGO_TARGET_DIR/release
"""

import argparse
import hashlib
import hmac
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from push_to_searchable import (  # noqa: E402  (the same repo, client and helpers)
    REPO_ROOT, SECRET, TOKEN, git, head, make_repo, percentile, request, wait_idle,
)


def changes(addr, since, limit=1000, wait=0):
    q = urllib.parse.urlencode({"repo": "bench", "ref": "main", "since": since, "limit": limit, "wait": wait})
    status, data = request(addr, "GET", f"/changes?{q}")
    if status != 200:
        raise SystemExit(f"/changes: {status} {data[:200]!r}")
    return json.loads(data)


def page_snapshot(addr):
    """Reads the whole snapshot; returns (chunks, bytes, seconds, cursor after it)."""
    cursor, chunks, size = "0", 0, 0
    start = time.perf_counter()
    while True:
        q = urllib.parse.urlencode({"repo": "bench", "ref": "main", "since": cursor, "limit": 1000})
        status, data = request(addr, "GET", f"/changes?{q}")
        page = json.loads(data)
        size += len(data)
        chunks += sum(len(p["added"]) for e in page["entries"] for p in e["paths"])
        cursor = page["next_cursor"]
        if page["snapshot_end"]:
            return chunks, size, time.perf_counter() - start, cursor


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO_ROOT, "target")
    ap.add_argument("--binary", default=os.path.join(target, "release", "context-gateway"))
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--pushes", type=int, default=50)
    ap.add_argument("--json", action="store_true", help="print one JSON line of results")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="p2d-")
    gateway = None
    try:
        repo = os.path.join(work, "repo")
        make_repo(repo, args.files)
        config = os.path.join(work, "gateway.toml")
        with open(config, "w") as f:
            f.write(
                f'workers = 2\n[rate_limit]\nper_ip_per_sec = 0\n\n'
                f'[[repos]]\nname = "bench"\nprovider = "github"\nurl = "file://{repo}"\n'
                f'branches = ["main"]\nsecret = "{SECRET}"\n'
            )
        env = dict(os.environ, GATEWAY_TOKEN=TOKEN, RUST_LOG="warn")
        gateway = subprocess.Popen(
            [args.binary, "serve", "--config", config, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(work, "data")],
            stdout=subprocess.PIPE, stderr=open(os.path.join(work, "gateway.log"), "w"), env=env, text=True,
        )
        line = gateway.stdout.readline().strip()
        host, port = line.removeprefix("listening on http://").rsplit(":", 1)
        addr = (host, int(port))
        t0 = time.time()
        wait_idle(addr)
        initial_s = time.time() - t0

        chunks, size, secs, cursor = page_snapshot(addr)
        # Catch up with the live entries the initial index wrote.
        while True:
            page = changes(addr, cursor)
            if not page["entries"]:
                break
            cursor = page["next_cursor"]

        latencies = []
        before = head(repo)
        for n in range(args.pushes):
            target_file = os.path.join(repo, f"pkg{n % 100:03}", f"mod{n}.rs")
            with open(target_file, "a") as f:
                f.write(f"\npub fn delta_{n}_{os.getpid()}() -> u64 {{ {n} }}\n")
            git(repo, "commit", "-q", "-am", f"push {n}")
            after = head(repo)
            got = {}

            def poll(since=cursor, commit=after, got=got):
                deadline = time.perf_counter() + 60
                while time.perf_counter() < deadline:
                    page = changes(addr, since, limit=100, wait=60)
                    since = page["next_cursor"]
                    if any(e["commit"] == commit for e in page["entries"]):
                        got["at"], got["cursor"] = time.perf_counter(), since
                        return

            waiter = threading.Thread(target=poll)
            waiter.start()
            time.sleep(0.05)  # let the long-poll park before the push
            body = json.dumps({
                "ref": "refs/heads/main", "before": before, "after": after,
                "created": False, "deleted": False, "forced": False,
                "repository": {"name": "bench", "full_name": "bench/bench"},
                "commits": [{"id": after, "added": [], "removed": [], "modified": [os.path.relpath(target_file, repo)]}],
            }).encode()
            sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": f"p2d-{n}-{os.getpid()}",
                       "X-Hub-Signature-256": sig, "Content-Type": "application/json"}
            start = time.perf_counter()
            status, data = request(addr, "POST", "/webhooks/github/bench", body, headers)
            if status != 202:
                raise SystemExit(f"push {n}: {status} {data!r}")
            waiter.join(90)
            if "at" not in got:
                raise SystemExit(f"push {n}: no delta within 60 s")
            latencies.append((got["at"] - start) * 1000)
            cursor = got["cursor"]
            before = after

        result = {
            "files": args.files, "pushes": args.pushes, "initial_index_s": round(initial_s, 2),
            "snapshot_chunks": chunks, "snapshot_mb": round(size / 1e6, 1),
            "snapshot_chunks_per_s": round(chunks / secs),
            "p50_ms": round(percentile(latencies, 50), 1), "p90_ms": round(percentile(latencies, 90), 1),
            "p99_ms": round(percentile(latencies, 99), 1), "max_ms": round(max(latencies), 1),
            "mean_ms": round(statistics.mean(latencies), 1),
        }
        if args.json:
            print(json.dumps(result))
        else:
            for k, v in result.items():
                print(f"{k:>22}: {v}")
    finally:
        if gateway:
            gateway.terminate()
            try:
                gateway.wait(timeout=30)
            except subprocess.TimeoutExpired:
                gateway.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
