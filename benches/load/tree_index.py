#!/usr/bin/env python3
"""Whole-process indexer figures on a real tree, beside b3sum and git status.

The tree is a copy of the CPython standard library on the machine (made once, committed to git
so `git status` has an index to compare against). Every command runs `--reps` times with a warm
page cache (one untimed b3sum pass first); wall time and peak RSS come from wait4 (rusage of the
process and the children it waited for). Medians are reported.

Commands:
  b3sum             every file outside .git (xargs -0 b3sum, default threads)
  git status        git status --short (index + untracked scan)
  index_tree full   indexer crate example: counting sink, JSON manifest store, fresh manifests
  index_tree rescan the same, nothing changed
  gateway index     `context-gateway index TREE` into a fresh data dir: indexer + tantivy, end to end
  gateway rescan    the same command again, nothing changed

    cargo build --release -p context-gateway
    cargo build --release -p indexer --example index_tree
    python3 benches/load/tree_index.py --tree target/bench-report/corpus/cpython --reps 3

`--index-tree` and `--gateway` default to the release builds in $CARGO_TARGET_DIR (else
target/). b3sum is taken from PATH or $BENCH_TOOLS/bin, and installed there with
`cargo install` if it is in neither.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def prepare_tree(tree):
    if os.path.isdir(os.path.join(tree, ".git")):
        return
    src = sysconfig.get_paths()["stdlib"]
    print(f"copying {src} to {tree} (once)", file=sys.stderr)
    shutil.copytree(src, tree, symlinks=True)
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.invalid",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.invalid")
    for args in (["init", "-q", "-b", "main"], ["add", "-A", "-f"], ["commit", "-q", "-m", "stdlib"]):
        subprocess.run(["git", "-C", tree, *args], check=True, env=env, stdout=subprocess.DEVNULL)


def timed(cmd, cwd=None, env=None):
    """(wall seconds, peak RSS kB, stdout) of one run."""
    out = tempfile.TemporaryFile()
    # Start from a settled disk: an fsync on ext4 also writes out other files' dirty pages, so
    # the gateway (which commits durably) would otherwise pay for the previous run's writes.
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} exited {proc.returncode}: {text[-500:]}")
    return wall, usage.ru_maxrss, text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index-tree", default=os.path.join(common.target_dir(), "release", "examples", "index_tree"),
                    help="the index_tree example binary")
    ap.add_argument("--gateway", default=common.default_gateway(), help="the context-gateway binary")
    ap.add_argument("--tree", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--b3sum", help="default: b3sum on PATH or in $BENCH_TOOLS/bin")
    ap.add_argument("--json-out")
    args = ap.parse_args()
    args.b3sum = args.b3sum or common.find_tool("b3sum", crate="b3sum")

    prepare_tree(args.tree)
    work = tempfile.mkdtemp(prefix="treeidx-")
    try:
        files = os.path.join(work, "files.lst")
        with open(files, "wb") as f:
            for root, dirs, names in os.walk(args.tree):
                dirs[:] = [d for d in dirs if not (root == args.tree and d == ".git")]
                for n in names:
                    p = os.path.join(root, n)
                    if os.path.isfile(p) and not os.path.islink(p):
                        f.write(p.encode() + b"\0")
        b3 = ["xargs", "-0", "-a", files, args.b3sum]
        timed(b3 + ["--no-names"])  # warm the page cache
        runs = {}

        def record(name, cmd, **kw):
            wall, rss, out = timed(cmd, **kw)
            runs.setdefault(name, []).append({"wall_s": wall, "rss_kb": rss})
            return out

        gw_env = dict(os.environ, RUST_LOG="warn")
        last = {}
        for rep in range(args.reps):
            record("b3sum", b3 + ["--no-names"])
            record("git status", ["git", "-C", args.tree, "status", "--short"])
            manifests = os.path.join(work, f"manifests{rep}")
            last["index_tree full"] = record("index_tree full",
                                             [args.index_tree, args.tree, "--manifests", manifests])
            last["index_tree rescan"] = record("index_tree rescan",
                                               [args.index_tree, args.tree, "--manifests", manifests])
            data = os.path.join(work, f"data{rep}")
            last["gateway index"] = record("gateway index", [args.gateway, "index", args.tree, "--name", "cpython",
                                                             "--data-dir", data, "--json"], env=gw_env)
            last["gateway rescan"] = record("gateway rescan", [args.gateway, "index", args.tree, "--name",
                                                               "cpython", "--data-dir", data, "--json"], env=gw_env)
            shutil.rmtree(manifests, ignore_errors=True)
            shutil.rmtree(data, ignore_errors=True)
            print(f"rep {rep}: " + ", ".join(f"{k} {v[-1]['wall_s']:.2f}s" for k, v in runs.items()),
                  file=sys.stderr)
        summary = {name: {"wall_s": round(common.median([r["wall_s"] for r in rs]), 3),
                          "rss_mb": round(common.median([r["rss_kb"] for r in rs]) / 1024, 1),
                          "all_wall_s": [round(r["wall_s"], 3) for r in rs]}
                   for name, rs in runs.items()}
        n_files = open(files, "rb").read().count(b"\0")
        size = sum(os.path.getsize(p) for p in open(files, "rb").read().decode().split("\0") if p)
        result = {"tree": args.tree, "files": n_files, "bytes": size, "reps": args.reps,
                  "summary": summary, "outputs": {k: v.strip()[-600:] for k, v in last.items()}}
        common.write_result(result, args.json_out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
