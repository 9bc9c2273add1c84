#!/usr/bin/env python3
"""Which functions two callgrind profiles differ in, largest change first.

    python3 benches/compare/cg_diff.py BASE.cg CURRENT.cg [N] [incl]

Self cost per function by default; `incl` compares inclusive cost (callers then include their
callees, and recursive functions can count more than once)."""
import re
import subprocess
import sys
from collections import Counter


def load(path, inclusive):
    out = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                          "--threshold=100", "--auto=no", path], capture_output=True, text=True).stdout
    cost = Counter()
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        name = re.sub(r"\s*\[[^\]]*\]$", "", m.group(2))
        # "file:function" -> "function" (a Rust path's "::" is not the file separator)
        if ":" in name.split("::")[0]:
            name = name.split(":", 1)[1]
        cost[name] += int(m.group(1).replace(",", ""))
    return cost


def main():
    inclusive = len(sys.argv) > 4 and sys.argv[4] == "incl"
    a, b = load(sys.argv[1], inclusive), load(sys.argv[2], inclusive)
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    print(f"{'base':>14} {'current':>14} {'change':>14}  function")
    for k in sorted(set(a) | set(b), key=lambda k: -abs(b[k] - a[k]))[:n]:
        print(f"{a[k]:14,} {b[k]:14,} {b[k] - a[k]:+14,}  {k[:120]}")


if __name__ == "__main__":
    main()
