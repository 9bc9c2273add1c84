#!/usr/bin/env python3
"""Alternated whole-process indexer runs on one tree: `context-gateway index` (fresh data dir,
then a rescan) and the indexer crate's index_tree example (full, rescan), baseline and current
in A B / B A order; wall time and CPU time (user+sys from wait4) of each process."""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "load"))
sys.path.insert(0, HERE)
from tree_index import prepare_tree  # noqa
from abstats import summarize, line

ap = argparse.ArgumentParser()
ap.add_argument("--base", required=True, help="target dir of baseline")
ap.add_argument("--cur", required=True)
ap.add_argument("--tree", required=True)
ap.add_argument("--pairs", type=int, default=5)
ap.add_argument("--out", required=True)
args = ap.parse_args()
prepare_tree(args.tree)


def timed(cmd, env=None):
    os.sync()
    start = time.perf_counter()
    out = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        out.seek(0); raise RuntimeError(f"{cmd}: {out.read()[-400:]}")
    out.seek(0)
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "rss_kb": ru.ru_maxrss, "out": out.read().decode()[-300:]}


work = tempfile.mkdtemp(prefix="idxab-")
env = dict(os.environ, RUST_LOG="warn")
runs = {}
try:
    for i in range(args.pairs):
        order = ("A", "B") if i % 2 == 0 else ("B", "A")
        for side in order:
            t = args.base if side == "A" else args.cur
            gw, it = f"{t}/release/context-gateway", f"{t}/release/examples/index_tree"
            data, man = os.path.join(work, f"data{side}{i}"), os.path.join(work, f"man{side}{i}")
            steps = [("gateway index", [gw, "index", args.tree, "--name", "cpython", "--data-dir", data, "--json"]),
                     ("gateway rescan", [gw, "index", args.tree, "--name", "cpython", "--data-dir", data, "--json"]),
                     ("index_tree full", [it, args.tree, "--manifests", man]),
                     ("index_tree rescan", [it, args.tree, "--manifests", man])]
            for name, cmd in steps:
                r = timed(cmd, env)
                r["load"] = open("/proc/loadavg").read().split()[0]
                runs.setdefault(name, {"A": [], "B": []})[side].append(r)
                print(f"{side} pair {i} {name:18} wall {r['wall_s']:7.2f}s cpu {r['cpu_s']:7.2f}s rss {r['rss_kb']/1024:6.1f}MB load {r['load']} | {r['out'].strip()[-160:]}",
                      file=sys.stderr, flush=True)
            shutil.rmtree(data, ignore_errors=True); shutil.rmtree(man, ignore_errors=True)
    summaries = []
    for name, rs in runs.items():
        for key, unit in (("wall_s", "s"), ("cpu_s", "s")):
            s = summarize(f"{name} {key}", [r[key] for r in rs["A"]], [r[key] for r in rs["B"]], unit, False)
            summaries.append(s); print(line(s), file=sys.stderr)
    json.dump({"runs": runs, "summaries": summaries}, open(args.out, "w"), indent=1)
finally:
    shutil.rmtree(work, ignore_errors=True)
