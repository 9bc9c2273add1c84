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

import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "load"))
from common import (Run, get_json, git, latency_summary,  # noqa: E402
                    make_repo, push_headers, request)
from push_to_searchable import bench_args, bench_config, dir_of, head, push_body, report  # noqa: E402


def changes(addr, since, limit=1000, wait=0):
    q = urllib.parse.urlencode({"repo": "bench", "ref": "main", "since": since, "limit": limit, "wait": wait})
    return get_json(addr, f"/changes?{q}")


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
    ap = bench_args(__doc__)
    args = ap.parse_args()

    with Run("p2d-") as run:
        repo = os.path.join(run.work, "repo")
        make_repo(repo, args.files, dir_of)
        gateway = run.gateway(args.binary, bench_config(repo)).start({"RUST_LOG": "warn"})
        addr = gateway.addr
        t0 = time.time()
        gateway.wait_idle()
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
            target_file = os.path.join(repo, dir_of(n), f"mod{n}.rs")
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
            body = push_body(before, after, os.path.relpath(target_file, repo))
            headers = push_headers(body, f"p2d-{n}-{os.getpid()}")
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
            **latency_summary(latencies),
        }
        report(result, args.json, 22)


if __name__ == "__main__":
    main()
