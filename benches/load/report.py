#!/usr/bin/env python3
"""Turns the raw outputs of benches/run.sh (JSON files and criterion logs in one directory)
into one Markdown report on stdout. Parts that did not run are left out."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import median  # noqa: E402

GW, WH, NG = "context-gateway", "adnanh/webhook", "nginx static"


def load(out, name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ms(us):
    return f"{us / 1000:.2f}"


def ingest(data):
    runs = data["runs"]

    def agg(server, sig, conc):
        rs = [r for r in runs if r["server"] == server and r["sig"] == sig and r["conc"] == conc]
        if not rs:
            return None
        return {"rps": median([r["rps"] for r in rs]), "p50": median([r["p50_us"] for r in rs]),
                "p99": median([r["p99_us"] for r in rs]), "n": len(rs),
                "non2xx": sum(r["status_errors"] for r in rs),
                "sockerr": sum(r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
                               for r in rs)}

    concs = sorted({r["conc"] for r in runs})
    lines = [f"### Webhook ingest ({data['body_bytes']} B signed GitHub push, wrk, "
             f"{data['duration_s']} s per run, median of {data['reps']})", "",
             "| c | server | req/s | p50 ms | p99 ms | gateway ÷ this (req/s) |",
             "|---|---|---|---|---|---|"]
    for c in concs:
        g = agg(GW, "good", c)
        for s in (GW, WH, NG):
            a = agg(s, "good", c)
            if not a:
                continue
            ratio = "" if s == GW or not g else f"{g['rps'] / a['rps']:.2f}×"
            lines.append(f"| {c} | {s} | {a['rps']:,.0f} | {ms(a['p50'])} | {ms(a['p99'])} | {ratio} |")
    lines += ["", "Wrong signature:", "",
              "| c | server | answer | req/s | p50 ms | p99 ms |", "|---|---|---|---|---|---|"]
    for c in concs:
        for s in (GW, WH):
            a = agg(s, "bad", c)
            if a:
                ans = data["answers"].get(f"{s}|bad", ["?"])[0]
                lines.append(f"| {c} | {s} | {ans} | {a['rps']:,.0f} | {ms(a['p50'])} | {ms(a['p99'])} |")
    lines += ["", "| server | peak RSS (VmHWM) | RSS after the runs |", "|---|---|---|"]
    for s, r in data["rss"].items():
        lines.append(f"| {s} | {r['peak_kb'] / 1024:.1f} MB | {r['now_kb'] / 1024:.1f} MB |")
    d = data["durability"]
    lines += ["", f"Every 202 durable: wrk counted {d['wrk_2xx']:,} 2xx answers from the gateway; the "
              f"gateway's metrics say {d['metrics_outcomes']}; after SIGKILL and restart the job store "
              f"accounts for {d['deliveries_in_store_after_kill9']:,} deliveries in "
              f"{d['jobs_after_kill9']:,} jobs: **{'ok' if d['ok'] else 'LOST DELIVERIES'}**.",
              f"Non-2xx / socket errors in the good-signature runs: "
              + ", ".join(f"{s} {sum(r['status_errors'] for r in runs if r['server'] == s and r['sig'] == 'good')}"
                          f" / {sum(r['connect_errors'] + r['read_errors'] + r['write_errors'] + r['timeouts'] for r in runs if r['server'] == s and r['sig'] == 'good')}"
                          for s in (GW, WH, NG)), ""]
    return lines


def coalescing(d):
    return ["### Coalescing: a burst of pushes to one branch", "",
            "| pushes | burst took | answers | jobs created | index runs | requests folded | "
            "last push → searchable | burst start → searchable |", "|---|---|---|---|---|---|---|---|",
            f"| {d['pushes']} | {d['burst_s'] * 1000:.0f} ms | {d['answers']} | {d['jobs_created']} | "
            f"{d['index_runs']} | {d['requests_folded']} | {d['last_push_to_searchable_ms']:.0f} ms | "
            f"{d['burst_start_to_searchable_ms']:.0f} ms |", ""]


def p2s(d):
    return ["### Push-to-searchable (one-file push, file:// repo)", "",
            "| files | pushes | initial index | p50 | p90 | p99 | max |", "|---|---|---|---|---|---|---|",
            f"| {d['files']:,} | {d['pushes']} | {d['initial_index_s']} s | {d['p50_ms']} ms | "
            f"{d['p90_ms']} ms | {d['p99_ms']} ms | {d['max_ms']} ms |", ""]


def p2d(d):
    return ["### Push-to-delta (one-file push, a consumer long-polling /changes)", "",
            "| files | pushes | p50 | p90 | p99 | max | snapshot paging |", "|---|---|---|---|---|---|---|",
            f"| {d['files']:,} | {d['pushes']} | {d['p50_ms']} ms | {d['p90_ms']} ms | {d['p99_ms']} ms | "
            f"{d['max_ms']} ms | {d['snapshot_chunks_per_s']:,} chunks/s ({d['snapshot_chunks']:,} chunks) |", ""]


def indexer(d):
    s = d["summary"]
    b3 = s["b3sum"]["wall_s"]
    lines = [f"### Whole-process indexing: {d['files']:,} files, {d['bytes'] / 1e6:.0f} MB "
             f"(median of {d['reps']})", "", "| command | wall | ÷ b3sum | peak RSS |", "|---|---|---|---|"]
    for name, r in s.items():
        lines.append(f"| {name} | {r['wall_s']:.2f} s | {r['wall_s'] / b3:.1f}× | {r['rss_mb']:.0f} MB |")
    return lines + [""]


def criterion(out, name, title):
    try:
        text = open(os.path.join(out, name)).read()
    except OSError:
        return []
    rows, current = [], None
    for line in text.splitlines():
        m = re.match(r"^(\S.*?)\s+time:\s+\[(.*)\]", line)
        if m:
            current = m.group(1)
            rows.append([current, m.group(2), ""])
            continue
        if re.match(r"^[a-z_]+/\S+$", line.strip()) and not line.startswith(" "):
            current = line.strip()
            continue
        m = re.match(r"^\s+time:\s+\[(.*)\]", line)
        if m and current:
            rows.append([current, m.group(1), ""])
            continue
        m = re.match(r"^\s+thrpt:\s+\[(.*)\]", line)
        if m and rows:
            rows[-1][2] = m.group(1)
    extra = [l for l in text.splitlines() if l.startswith(
        ("corpus:", "query ", "rg ", "b3sum", "index ", "full index", "second ref", "one-file push"))]
    lines = [f"### {title} (criterion: [low estimate high])", "", "| bench | time | throughput |", "|---|---|---|"]
    lines += [f"| {n} | {t} | {th} |" for n, t, th in rows]
    if extra:
        lines += ["", "```", *extra, "```"]
    return lines + [""]


def main():
    out = sys.argv[1]
    lines = ["# Benchmark report", ""]
    try:
        lines += ["```", open(os.path.join(out, "machine.txt")).read().strip(), "```", ""]
    except OSError:
        pass
    for name, fn in (("ingest.json", ingest), ("coalescing.json", coalescing), ("p2s.json", p2s),
                     ("p2d.json", p2d), ("indexer.json", indexer)):
        d = load(out, name)
        if d:
            lines += fn(d)
    lines += criterion(out, "search_query.txt", "Query latency beside rg")
    try:
        table = open(os.path.join(out, "relevance.md")).read().strip()
        lines += ["### Search relevance (docstring method, beside SQLite FTS5)", "", table, ""]
    except OSError:
        pass
    lines += criterion(out, "jobstore_queue.txt", "Job store")
    lines += criterion(out, "feed_commit.txt", "Change feed commit and read")
    lines += criterion(out, "webhook_verify.txt", "Signature verification")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
