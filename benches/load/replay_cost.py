#!/usr/bin/env python3
"""What a job pays to check the ref's tip: the git processes of a late or replayed delivery.

Builds a 10,000-file repository with three commits in a temp dir, a bare mirror fetched once
over file://, then times (30 runs each, LC_ALL=C as the gateway runs git) the processes a job
runs when the pushed commit is already in the mirror:

- before jobs indexed the real tip: one `cat-file --batch-check` (the commit was present, so
  no fetch, and the older commit was indexed);
- now: `fetch +ref:ref` (a no-op when nothing changed), one `cat-file --batch-check` resolving
  the tip, the pushed commit and the indexed one, and `merge-base --is-ancestor` for the note.

    python3 benches/load/replay_cost.py
"""

import os
import statistics
import subprocess
import tempfile
import time

ENV = dict(os.environ, LC_ALL="C")


def git(*args, **kw):
    return subprocess.run(["git", *args], check=True, capture_output=True, env=ENV, **kw)


def make_repo(path):
    git("init", "-q", "-b", "main", path)
    for i in range(10_000):
        d = os.path.join(path, f"pkg{i % 100:03}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"mod{i}.rs"), "w") as f:
            f.write(f"pub fn item_{i}() -> u64 {{ {i} }}\n")
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    git("-C", path, "add", "-A")
    git("-C", path, *ident, "commit", "-q", "-m", "c1")
    for n in (2, 3):
        with open(os.path.join(path, "pkg000", "mod0.rs"), "a") as f:
            f.write(f"// {n}\n")
        git("-C", path, *ident, "commit", "-q", "-am", f"c{n}")


def timed(steps, runs=30):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for args, stdin in steps:
            subprocess.run(args, input=stdin, capture_output=True, env=ENV)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9)]


def main():
    with tempfile.TemporaryDirectory() as tmp:
        src, mirror = os.path.join(tmp, "src"), os.path.join(tmp, "m.git")
        make_repo(src)
        git("init", "-q", "--bare", mirror)
        git("--git-dir", mirror, "config", "remote.origin.url", f"file://{src}")
        refspec = "+refs/heads/main:refs/heads/main"
        g = ["git", "--git-dir", mirror]
        fetch = (g + ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--", "origin", refspec], None)
        subprocess.run(fetch[0], check=True, env=ENV)
        rev = lambda spec: git("-C", src, "rev-parse", spec).stdout.decode().strip()
        c1, tip = rev("HEAD~2"), rev("HEAD")
        old = (g + ["cat-file", "--batch-check=%(objecttype)"], f"{c1}^{{commit}}\n{tip}^{{commit}}\n".encode())
        new = (
            g + ["cat-file", "--batch-check=%(objectname) %(objecttype)"],
            f"refs/heads/main^{{commit}}\n{c1}^{{commit}}\n{tip}^{{commit}}\n".encode(),
        )
        ancestor = (g + ["merge-base", "--is-ancestor", c1, tip], None)
        for name, steps in [
            ("before: cat-file only", [old]),
            ("now: fetch + cat-file + merge-base", [fetch, new, ancestor]),
            ("  the no-op fetch alone", [fetch]),
        ]:
            p50, p90 = timed(steps)
            print(f"{name:38} p50 {p50:6.1f} ms   p90 {p90:6.1f} ms")


if __name__ == "__main__":
    main()
