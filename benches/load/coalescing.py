#!/usr/bin/env python3
"""Coalescing under a burst: N signed pushes to one branch within about a second.

Builds a git repository (served to the gateway over file://), lets the gateway index it, then
writes N commits on `main` with git fast-import (only the last one carries a fresh token) and
sends one push delivery per commit, oldest first, from 16 keep-alive connections. Reports the
burst's duration, the jobs the burst created and how many requests each folded in (`coalesced`),
the index runs that actually happened, and the time from the last push's answer (and from the
burst's start) until GET /search finds the token.

    python3 benches/load/coalescing.py --pushes 1000

`--binary` defaults to the release build in $CARGO_TARGET_DIR (else target/).
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def add_commits(repo, n, token):
    """N commits on main, each rewriting src/burst.rs; only the last mentions `token`."""
    tip = common.git(repo, "rev-parse", "main").strip()
    lines = []
    t = int(time.time())
    for i in range(n):
        content = f"pub const PUSH: u32 = {i};\n"
        if i == n - 1:
            content += f"pub fn {token}() -> u32 {{ PUSH }}\n"
        data = content.encode()
        msg = f"burst push {i}".encode()
        lines.append(b"commit refs/heads/main\n")
        lines.append(f"mark :{i + 1}\ncommitter bench <bench@example.invalid> {t + i} +0000\n".encode())
        lines.append(f"data {len(msg)}\n".encode() + msg + b"\n")
        lines.append(f"from {tip}\n".encode() if i == 0 else f"from :{i}\n".encode())
        lines.append(f"M 100644 inline src/burst.rs\ndata {len(data)}\n".encode() + data + b"\n")
    subprocess.run(["git", "-C", repo, "fast-import", "--quiet"], input=b"".join(lines), check=True)
    # fast-import updates the ref, not the worktree; keep the worktree consistent for humans.
    common.git(repo, "reset", "-q", "--hard", "main")
    return tip, common.git(repo, "rev-list", "--reverse", f"{tip}..main").split()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=common.default_gateway())
    ap.add_argument("--pushes", type=int, default=1000)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json-out")
    args = ap.parse_args()

    with common.Run("coalesce-") as run:
        repo = os.path.join(run.work, "repo")
        common.make_repo(repo, args.files, lambda i: f"pkg{i % 50:02}")
        config = (f'workers = {args.workers}\n[rate_limit]\nper_ip_per_sec = 0\n\n'
                  f'[[repos]]\nname = "bench"\nprovider = "github"\nurl = "file://{repo}"\n'
                  f'branches = ["main"]\nsecret = "{common.SECRET}"\n')
        gw = run.gateway(args.binary, config).start()
        t0 = time.time()
        gw.wait_idle()
        print(f"initial index of {args.files} files: {time.time() - t0:.1f}s", file=sys.stderr)
        before_ids = {j["id"] for j in gw.jobs()}

        # Letters only: a code tokenizer splits digits off, and "bursttoken" alone must not match.
        token = "bursttoken" + "".join(chr(ord("a") + int(d)) for d in str(os.getpid()) + str(int(time.time())))
        base, shas = add_commits(repo, args.pushes, token)
        bodies = []
        prev = base
        for i, sha in enumerate(shas):
            body = common.github_push(before=prev, after=sha)
            bodies.append((body, common.push_headers(body, f"burst-{os.getpid()}-{i}")))
            prev = sha

        # Each connection sends its share in order; the last push goes out after all others
        # have been answered, so "last" is well defined.
        statuses, lock = {}, threading.Lock()

        def sender(items):
            conn = http.client.HTTPConnection(*gw.addr, timeout=30)
            for i, (body, headers) in items:
                conn.request("POST", "/webhooks/github/bench", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                with lock:
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
            conn.close()

        indexed = list(enumerate(bodies[:-1]))
        shards = [indexed[k::args.connections] for k in range(args.connections)]
        threads = [threading.Thread(target=sender, args=(s,)) for s in shards]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        body, headers = bodies[-1]
        status, answer = common.request(gw.addr, "POST", "/webhooks/github/bench", body, headers, token=None)
        last_answered = time.perf_counter()
        statuses[status] = statuses.get(status, 0) + 1
        burst_s = last_answered - start

        q = "/search?" + urllib.parse.urlencode({"q": token, "repo": "bench", "limit": 1})
        deadline = last_answered + 120
        while True:
            st, data = common.request(gw.addr, "GET", q)
            hits = json.loads(data).get("hits") or [] if st == 200 else []
            if any(h.get("commit") == shas[-1] or token in h.get("snippet", "") for h in hits):
                break
            if time.perf_counter() > deadline:
                raise SystemExit("the last push was not searchable within 120 s")
            time.sleep(0.005)
        found = time.perf_counter()
        gw.wait_idle()
        jobs = [j for j in gw.jobs() if j["id"] not in before_ids and j.get("trigger") == "webhook"]
        by_state = {}
        for j in jobs:
            by_state[j["state"]] = by_state.get(j["state"], 0) + 1
        result = {
            "pushes": args.pushes, "files": args.files, "workers": args.workers,
            "burst_s": round(burst_s, 3), "answers": statuses,
            "jobs_created": len(jobs), "jobs_by_state": by_state,
            "index_runs": sum(1 for j in jobs if j.get("started_at")),
            "requests_folded": sum(j.get("coalesced", 0) for j in jobs),
            "deliveries_accounted": sum(1 + j.get("coalesced", 0) for j in jobs),
            "last_push_to_searchable_ms": round((found - last_answered) * 1000, 1),
            "burst_start_to_searchable_ms": round((found - start) * 1000, 1),
            "last_answer": json.loads(answer),
        }
        common.write_result(result, args.json_out)


if __name__ == "__main__":
    main()
