#!/usr/bin/env python3
"""Push-to-searchable latency: from a signed webhook's arrival to the first search hit.

Builds a 10,000-file git repository in a temp dir, serves it over file:// to a release
`context-gateway serve` on 127.0.0.1, waits for the initial index, then N times: commits a
one-file change carrying a fresh token, sends the signed GitHub push, and polls GET /search for
the token. Reports p50/p90/p99/max in milliseconds (clock starts just before the POST).

Only loopback traffic; bounded by --pushes and a per-push deadline.

    cargo build --release -p context-gateway
    python3 benches/push_to_searchable.py --pushes 50   # --binary: default $CARGO_TARGET_DIR/release
"""

import argparse
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "load"))
from common import (SECRET, Run, default_gateway, git, latency_summary,  # noqa: E402
                    make_repo, push_headers, request)


def dir_of(i):
    """The directory of generated file `i` (100 of them)."""
    return f"pkg{i % 100:03}"


def bench_config(repo):
    """The gateway config both push benches serve: the repo `bench` at `repo`, two workers."""
    return (
        f'workers = 2\n[rate_limit]\nper_ip_per_sec = 0\n\n'
        f'[[repos]]\nname = "bench"\nprovider = "github"\nurl = "file://{repo}"\n'
        f'branches = ["main"]\nsecret = "{SECRET}"\n'
    )


def push_body(before, after, changed):
    """A signed-to-be GitHub push of `bench`'s main from `before` to `after`, listing the one
    path `changed` as modified."""
    return json.dumps({
        "ref": "refs/heads/main", "before": before, "after": after,
        "created": False, "deleted": False, "forced": False,
        "repository": {"name": "bench", "full_name": "bench/bench"},
        "commits": [{"id": after, "added": [], "removed": [], "modified": [changed]}],
    }).encode()


def report(result, as_json, width):
    """Prints `result` as one JSON line, or one `key: value` line each, keys right-aligned."""
    if as_json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>{width}}: {v}")


def head(repo):
    return git(repo, "rev-parse", "HEAD").strip()


def fresh_token(n):
    """A letters-only identifier unique to push `n` of this process: digits would be split into
    their own tokens by a code tokenizer, and then an older push's token could match too."""
    letters, k = "", n * 100003 + os.getpid()
    while k:
        k, r = divmod(k, 26)
        letters += chr(ord("a") + r)
    return f"freshtoken{letters}"


def is_hit(data, token, commit):
    """True if a search answer holds the pushed content itself, not a near miss."""
    hits = json.loads(data).get("hits") or []
    return any(h.get("commit") == commit or token in h.get("snippet", "") for h in hits)


def timed_push(addr, repo, before, n, token, delivery):
    """Push `n`: commits a one-file change carrying `token` on top of `before`, sends its signed
    push to the gateway at `addr` and polls GET /search until the token is found. Returns the
    milliseconds from just before the POST to the first hit, and the new head commit."""
    target = os.path.join(repo, dir_of(n), f"mod{n}.rs")
    with open(target, "a") as f:
        f.write(f"\npub fn {token}() -> u64 {{ {n} }}\n")
    git(repo, "commit", "-q", "-am", f"push {n}")
    after = head(repo)
    body = push_body(before, after, os.path.relpath(target, repo))
    headers = push_headers(body, delivery)
    q = "/search?" + urllib.parse.urlencode({"q": token, "repo": "bench", "limit": 1})
    start = time.perf_counter()
    status, data = request(addr, "POST", "/webhooks/github/bench", body, headers)
    if status != 202:
        raise SystemExit(f"push {n}: {status} {data!r}")
    deadline = start + 30
    while True:
        status, data = request(addr, "GET", q)
        if status == 200 and is_hit(data, token, after):
            break
        if time.perf_counter() > deadline:
            raise SystemExit(f"push {n}: not searchable after 30 s")
        time.sleep(0.002)
    return (time.perf_counter() - start) * 1000, after


def phases(log_path, pushes):
    """Medians over the last `pushes` index runs: git (fetch, diff, checkout) and index+commit."""
    prepare, index, git_runs = [], [], {}
    with open(log_path) as f:
        for line in f:
            try:
                fields = json.loads(line)  # the gateway flattens event fields
            except ValueError:
                continue
            if fields.get("message") == "git ran":
                git_runs.setdefault(fields["git"], []).append(fields["elapsed_us"] / 1000)
            if fields.get("message") == "indexed" and "prepare_ms" in fields:
                prepare.append(fields["prepare_ms"])
                index.append(fields["index_ms"])
    prepare, index = prepare[-pushes:], index[-pushes:]
    if not prepare:
        return {}
    per_command = {f"git_{verb}_p50_ms": round(percentile(times[-pushes:], 50), 1)
                   for verb, times in sorted(git_runs.items())}
    per_command.update({f"git_{verb}_runs": len(times) for verb, times in sorted(git_runs.items())})
    return {"git_p50_ms": percentile(prepare, 50), "index_commit_p50_ms": percentile(index, 50),
            "runs_logged": len(prepare), **per_command}


def bench_args(description):
    """The options of both push benches: the binary, the repo's size, the pushes, --json."""
    ap = argparse.ArgumentParser(description=description,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=default_gateway(),
                    help="default: the release build in $CARGO_TARGET_DIR, else target/")
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--pushes", type=int, default=50)
    ap.add_argument("--json", action="store_true", help="print one JSON line of results")
    return ap


def main():
    ap = bench_args(__doc__)
    ap.add_argument("--phases", action="store_true",
                    help="log at info level and report where each push's time went (git, index+commit)")
    args = ap.parse_args()

    with Run("p2s-") as run:
        repo = os.path.join(run.work, "repo")
        t0 = time.time()
        make_repo(repo, args.files, dir_of)
        print(f"made a {args.files}-file repo in {time.time() - t0:.1f}s", file=sys.stderr)
        gateway = run.gateway(args.binary, bench_config(repo)).start({
            "RUST_LOG": "info,context_gateway::git=debug" if args.phases else "warn",
            "CONTEXT_GATEWAY_LOG_FORMAT": "json",
        })
        addr = gateway.addr
        t0 = time.time()
        gateway.wait_idle()
        initial_s = time.time() - t0
        print(f"initial index of {args.files} files: {initial_s:.1f}s", file=sys.stderr)

        latencies = []
        before = head(repo)
        for n in range(args.pushes):
            ms, before = timed_push(addr, repo, before, n, fresh_token(n), f"p2s-{n}-{os.getpid()}")
            latencies.append(ms)

        result = {
            "files": args.files, "pushes": args.pushes, "initial_index_s": round(initial_s, 2),
            **latency_summary(latencies),
        }
        if args.phases:
            result.update(phases(gateway.log_path, args.pushes))
        report(result, args.json, 16)


if __name__ == "__main__":
    main()
