#!/usr/bin/env python3
"""Alternated search latency over HTTP: each side's `context-gateway index` of the same tree in
its own data dir, both served at once; rounds of the query set alternate A B / B A."""
import argparse, json, os, shutil, subprocess, sys, tempfile, time, urllib.parse, statistics
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "load"))
sys.path.insert(0, HERE)
import common  # noqa
from abstats import summarize, line

QUERIES = [
    ("identifier", {"q": "parse_args"}),
    ("identifier_camel", {"q": "HTTPConnection"}),
    ("phrase", {"q": '"return self"'}),
    ("filtered_repo_ref_prefix", {"q": "decode header", "repo": "cpython", "ref": "main", "path": "email/"}),
    ("filtered_glob", {"q": "assertEqual", "path": "**/test_*.py"}),
    ("words_ranked", {"q": "parse the header of a tar archive"}),
]

ap = argparse.ArgumentParser()
ap.add_argument("--base", required=True)
ap.add_argument("--cur", required=True)
ap.add_argument("--tree", required=True)
ap.add_argument("--rounds", type=int, default=6, help="pairs of rounds")
ap.add_argument("--per-query", type=int, default=20)
ap.add_argument("--out", required=True)
ap.add_argument("--keep", help="keep data dirs here (for callgrind)")
ap.add_argument("--base-config", default="per_repo_per_sec = 0\n",
                help="extra [rate_limit] keys for the baseline (9915277 still had a per-repo limit)")
args = ap.parse_args()

work = args.keep or tempfile.mkdtemp(prefix="srchab-")
gws = {}
try:
    for side, binary, extra in (("A", args.base, args.base_config), ("B", args.cur, "")):
        d = os.path.join(work, side); os.makedirs(d, exist_ok=True)
        data = os.path.join(d, "data")
        if not os.path.isdir(data):
            t0 = time.time()
            subprocess.run([binary, "index", args.tree, "--name", "cpython", "--data-dir", data, "--json"],
                           check=True, env=dict(os.environ, RUST_LOG="warn"))
            print(side, f"indexed in {time.time() - t0:.1f}s", file=sys.stderr, flush=True)
        cfg = f"workers = 1\n[rate_limit]\nper_ip_per_sec = 0\n{extra}"
        gws[side] = common.Gateway(binary, d, cfg).start({"RUST_LOG": "warn"})
    hits = {}
    for side in ("A", "B"):
        for name, params in QUERIES:
            st, data = common.request(gws[side].addr, "GET", "/search?" + urllib.parse.urlencode(params))
            assert st == 200, (side, name, st, data[:300])
            hs = json.loads(data).get("hits") or []
            hits[(side, name)] = [(h.get("path"), h.get("start_line")) for h in hs]
            print(side, name, len(hs), hs[0].get("path") if hs else None, file=sys.stderr)
    same = {name: hits[("A", name)] == hits[("B", name)] for name, _ in QUERIES}
    print("same hits:", same, file=sys.stderr)
    samples = {name: {"A": [], "B": []} for name, _ in QUERIES}
    cpu = {"A": [], "B": []}
    for i in range(args.rounds):
        for side in (("A", "B") if i % 2 == 0 else ("B", "A")):
            gw = gws[side]
            c0 = common.cpu_seconds(gw.pid)
            for name, params in QUERIES:
                path = "/search?" + urllib.parse.urlencode(params)
                lat = []
                for _ in range(args.per_query):
                    t = time.perf_counter()
                    st, _ = common.request(gw.addr, "GET", path)
                    lat.append((time.perf_counter() - t) * 1000)
                    assert st == 200
                samples[name][side].append(statistics.median(lat))
            cpu[side].append((common.cpu_seconds(gw.pid) - c0) * 1e6 / (args.per_query * len(QUERIES)))
            print(f"round {i} {side}: " + " ".join(f"{n}={samples[n][side][-1]:.2f}" for n, _ in QUERIES)
                  + f" cpu/q {cpu[side][-1]:.0f}us load {open('/proc/loadavg').read().split()[0]}", file=sys.stderr, flush=True)
    summaries = [summarize(f"{name} p50 ms", samples[name]["A"], samples[name]["B"], "ms", False) for name, _ in QUERIES]
    summaries.append(summarize("server CPU per query", cpu["A"], cpu["B"], "us", False))
    for s in summaries:
        print(line(s), file=sys.stderr)
    json.dump({"summaries": summaries, "same_hits": same, "per_query": args.per_query}, open(args.out, "w"), indent=1)
finally:
    for gw in gws.values():
        gw.stop()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
