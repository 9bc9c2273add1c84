#!/usr/bin/env python3
"""Alternated push-to-searchable: baseline and current gateways each serving their own copy
of the same generated repo; pushes alternate A B / B A, one at a time; same clock and poll
as benches/push_to_searchable.py."""
import argparse, json, os, shutil, sys, tempfile, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "load"))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import push_to_searchable as p  # noqa
from common import Gateway, make_repo, latency_summary  # noqa
from abstats import summarize, line

ap = argparse.ArgumentParser()
ap.add_argument("--base", required=True)
ap.add_argument("--cur", required=True)
ap.add_argument("--files", type=int, default=10_000)
ap.add_argument("--pushes", type=int, default=30)
ap.add_argument("--out", required=True)
ap.add_argument("--base-config", default="per_repo_per_sec = 0\n",
                help="extra [rate_limit] keys for the baseline (9915277 still had a per-repo limit)")
args = ap.parse_args()

work = tempfile.mkdtemp(prefix="p2sab-")
gws, repos, before = {}, {}, {}
try:
    sides = (("A", args.base), ("B", args.cur))
    for side, _ in sides:
        repos[side] = os.path.join(work, side, "repo")
        make_repo(repos[side], args.files, p.dir_of)
    # Both repos exist before either gateway starts, so neither gets a head start on the
    # initial index; the initial index is the indexer bench's subject, not timed here.
    for side, binary in sides:
        cfg = p.bench_config(repos[side])
        if side == "A":
            cfg = cfg.replace("per_ip_per_sec = 0\n", "per_ip_per_sec = 0\n" + args.base_config)
        gws[side] = Gateway(binary, os.path.join(work, side), cfg).start(
            {"RUST_LOG": "warn", "CONTEXT_GATEWAY_LOG_FORMAT": "json"})
    for side, _ in sides:
        gws[side].wait_idle()
        before[side] = p.head(repos[side])
    lat = {"A": [], "B": []}
    for n in range(args.pushes):
        order = ("A", "B") if n % 2 == 0 else ("B", "A")
        for side in order:
            ms, before[side] = p.timed_push(gws[side].addr, repos[side], before[side], n,
                                            p.fresh_token(n) + side.lower(), f"p2s-{side}-{n}-{os.getpid()}")
            lat[side].append(ms)
            print(f"{side} push {n}: {ms:7.1f} ms", file=sys.stderr, flush=True)
            time.sleep(0.2)
    out = {"files": args.files, "pushes": args.pushes,
           "A": latency_summary(lat["A"]), "B": latency_summary(lat["B"]), "lat": lat}
    s = summarize("p2s latency per push", lat["A"], lat["B"], "ms", False)
    out["summary"] = s
    print(line(s), file=sys.stderr)
    print(json.dumps({k: out[k] for k in ("A", "B")}), file=sys.stderr)
    json.dump(out, open(args.out, "w"), indent=1)
finally:
    for gw in gws.values():
        gw.stop()
    shutil.rmtree(work, ignore_errors=True)
