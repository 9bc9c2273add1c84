#!/usr/bin/env python3
"""`search_code` over MCP on a large index, beside the same queries on `GET /search`.

The corpus is the standard library of the machine's python3 (or `--corpus DIR`), served as
`--copies` path repos of the same directory so that the index holds 200,000+ chunks with the
gateway's own chunker. One MCP session (the 2025-06-18 handshake, over one keep-alive
connection) calls `search_code` with `--queries` queries made of function names found in the
corpus (their words split at `_`), then the same queries go to `GET /search` with the same
limit. Prints the index size and p50/p90/p99 client round trips for both.

    python3 benches/load/mcp_search.py --bin $CARGO_TARGET_DIR/release/context-gateway
"""
import argparse, http.client, json, os, random, re, statistics, sys, sysconfig, tempfile, time, urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import TOKEN, Gateway, get_json, percentile  # noqa: E402


def queries(corpus, n, seed):
    names = set()
    for root, dirs, files in os.walk(corpus):
        dirs[:] = [d for d in dirs if d not in ("site-packages", "test", "tests", "__pycache__")]
        for f in files:
            if f.endswith(".py"):
                try:
                    text = open(os.path.join(root, f), encoding="utf-8", errors="replace").read()
                except OSError:
                    continue
                names.update(m for m in re.findall(r"^\s*def ([a-z][a-z0-9_]{5,})", text, re.M))
    rng = random.Random(seed)
    return [name.replace("_", " ").strip() for name in rng.sample(sorted(names), n)]


def rpc(conn, body, headers):
    conn.request("POST", "/mcp", json.dumps(body), headers)
    resp = conn.getresponse()
    data = resp.read().decode()
    if resp.status not in (200, 202):
        raise RuntimeError(f"/mcp answered {resp.status}: {data[:300]}")
    for line in data.splitlines():
        line = line.removeprefix("data:").strip()
        if line.startswith("{"):
            return resp, json.loads(line)
    return resp, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--corpus", default=sysconfig.get_paths()["stdlib"])
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--seed", type=int, default=18)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="mcp-search-")
    repos = "".join(
        f'\n[[repos]]\nname = "lib{i}"\nprovider = "github"\npath = "{args.corpus}"\n'
        f'branches = ["main"]\nsecret = "s"\nexclude = ["site-packages/**"]\nreconcile_interval_secs = 0\n'
        for i in range(args.copies))
    gw = Gateway(args.bin, work, "workers = 2\n" + repos).start()
    try:
        started = time.time()
        time.sleep(1)
        gw.wait_idle(deadline_s=1800)
        status = get_json(gw.addr, "/webhooks/status")
        chunks = status.get("indexed_chunks")
        print(f"indexed {args.copies} copies of {args.corpus}: {chunks} chunks in {time.time() - started:.0f} s")
        qs = queries(args.corpus, args.queries, args.seed)

        conn = http.client.HTTPConnection(*gw.addr, timeout=60)
        base = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream"}
        resp, _ = rpc(conn, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "mcp_search bench", "version": "1"}}}, base)
        session = dict(base, **{"Mcp-Session-Id": resp.getheader("mcp-session-id"),
                                "MCP-Protocol-Version": "2025-06-18"})
        rpc(conn, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)

        mcp_ms, empty = [], 0
        for i, q in enumerate(qs, 1):
            t = time.perf_counter()
            _, answer = rpc(conn, {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {
                "name": "search_code", "arguments": {"query": q, "limit": args.limit}}}, session)
            mcp_ms.append((time.perf_counter() - t) * 1e3)
            result = answer["result"]
            if result.get("isError"):
                raise RuntimeError(f"search_code failed for {q!r}: {result}")
            empty += not (result.get("structuredContent") or {}).get("hits")

        http_ms = []
        for q in qs:
            path = f"/search?limit={args.limit}&q=" + urllib.parse.quote(q)
            t = time.perf_counter()
            conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
            r = conn.getresponse(); r.read()
            http_ms.append((time.perf_counter() - t) * 1e3)
            if r.status != 200:
                raise RuntimeError(f"GET {path}: {r.status}")

        def row(name, xs):
            return (f"{name:<22} p50 {statistics.median(xs):7.2f} ms  p90 {percentile(xs, 90):7.2f} ms  "
                    f"p99 {percentile(xs, 99):7.2f} ms")
        print(f"{len(qs)} queries (function names split into words), limit {args.limit}, {empty} empty over MCP")
        print(row("search_code over MCP", mcp_ms))
        print(row("GET /search", http_ms))
    finally:
        gw.stop()


if __name__ == "__main__":
    main()
