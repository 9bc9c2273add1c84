#!/usr/bin/env python3
"""Webhook ingest under wrk: context-gateway vs adnanh/webhook vs nginx (static 2-byte file).

Starts all three servers on 127.0.0.1, then for each repetition, concurrency and server runs
`wrk --latency` for a fixed duration with the same ~7 KB signed GitHub push body (a fresh
X-GitHub-Delivery per request, see push.lua). The servers are interleaved run by run so the
noise of a shared machine falls on all of them alike; medians over repetitions are reported.
Then the same with a wrong signature (gateway and webhook only). Peak RSS is VmHWM of each
server process (nginx: master + workers) at the end.

"Every 202 durable": after the runs the gateway is killed with SIGKILL and restarted on the
same data dir; the deliveries held by the job store (sum of 1 + `coalesced` over webhook jobs)
must be at least the 2xx answers wrk counted.

    python3 benches/load/ingest.py --duration 10 --reps 3 --json-out ingest.json

With `--postgres-url` the gateway runs with `[cluster]`: its job queue on that PostgreSQL
server (libpq `key=value` or a `postgresql://` URL), in a fresh schema dropped at the end
(with `psql`), so every 202 waits for a PostgreSQL commit instead of sled's fsync:

    python3 benches/load/ingest.py --servers gateway --conc 64 --reps 1 \
        --postgres-url "host=127.0.0.1 port=5432 user=postgres dbname=test"

`--binary` defaults to the release build in $CARGO_TARGET_DIR (else target/). wrk, webhook and
nginx are taken from PATH or $BENCH_TOOLS/bin (benches/run.sh installs them).
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# The peers' paths, found in main(): wrk, webhook, nginx.
PEERS = {}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, deadline_s=10):
    end = time.time() + deadline_s
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def start_webhook(work, secret):
    port = free_port()
    hooks = os.path.join(work, "hooks.json")
    with open(hooks, "w") as f:
        json.dump([{
            "id": "bench", "execute-command": "/bin/true", "response-message": "queued",
            "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": secret,
                                       "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}},
        }], f)
    log = open(os.path.join(work, "webhook.log"), "w")
    proc = subprocess.Popen([PEERS["webhook"], "-hooks", hooks, "-ip", "127.0.0.1", "-port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, proc)
    return proc, f"http://127.0.0.1:{port}/hooks/bench"


def start_nginx(work):
    port = free_port()
    root = os.path.join(work, "www")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "ok"), "w") as f:
        f.write("ok")
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        # POST to a static file is 405 in nginx; `error_page 405 =200 $uri` serves the file
        # instead, so nginx receives exactly the same requests as the two receivers.
        f.write(f"""
user root;
worker_processes auto;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work}/nginx-body;
  proxy_temp_path {work}/nginx-proxy;
  fastcgi_temp_path {work}/nginx-fastcgi;
  uwsgi_temp_path {work}/nginx-uwsgi;
  scgi_temp_path {work}/nginx-scgi;
  client_body_buffer_size 64k;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    root {root};
    location / {{ error_page 405 =200 $uri; }}
  }}
}}
""")
    proc = subprocess.Popen([PEERS["nginx"], "-p", work, "-c", conf],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "nginx.out"), "w"))
    wait_port(port, proc)
    return proc, f"http://127.0.0.1:{port}/ok"


def probe(url, body, sig):
    host, rest = url.removeprefix("http://").split("/", 1)
    h, p = host.split(":")
    headers = common.push_headers(body, f"probe-{time.time_ns()}")
    headers["X-Hub-Signature-256"] = sig
    status, data = common.request((h, int(p)), "POST", "/" + rest, body, headers, token=None)
    return status, data[:120].decode(errors="replace")


def run_wrk(url, body_file, sig, conc, duration, run_id):
    threads = min(conc, 2)
    cmd = [PEERS["wrk"], "-t", str(threads), "-c", str(conc), "-d", f"{duration}s", "--latency",
           "-s", os.path.join(HERE, "push.lua"), url, "--", body_file, sig, run_id]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    m = re.search(r"^WRKJSON (.*)$", out, re.M)
    if not m:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    r = json.loads(m.group(1))
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["ok"] = r["requests"] - r["status_errors"]
    return r


def tree_pids(pid):
    return [pid] + common.children(pid)


def tree_cpu(pid):
    return sum(common.cpu_seconds(p) for p in tree_pids(pid))


def perf_profile(pid, seconds, out_dir):
    data = os.path.join(out_dir, "gateway-perf.data")
    # PERF_CALLGRAPH=dwarf gives real call chains (the release build has no frame pointers).
    graph = ["--call-graph", os.environ["PERF_CALLGRAPH"]] if os.environ.get("PERF_CALLGRAPH") else ["-g"]
    subprocess.run(["perf", "record", "-F", os.environ.get("PERF_FREQ", "499"), *graph, "-p", str(pid), "-o", data, "--", "sleep",
                    str(seconds)], capture_output=True, timeout=seconds + 60)
    with open(os.path.join(out_dir, "gateway-perf-report.txt"), "w") as f:
        subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio", "--sort", "dso,symbol",
                        "--percent-limit", "0.7", "-g", "none"], stdout=f, stderr=subprocess.DEVNULL)
    with open(os.path.join(out_dir, "gateway-perf-children.txt"), "w") as f:
        subprocess.run(["perf", "report", "-i", data, "--children", "--stdio", "--sort", "symbol",
                        "--percent-limit", "3", "-g", "none"], stdout=f, stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=common.default_gateway())
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--conc", default="1,16,64")
    ap.add_argument("--json-out")
    ap.add_argument("--profile-dir", help="perf-record the gateway during its first c=max run")
    ap.add_argument("--servers", default="gateway,webhook,nginx", help="a subset, comma-separated")
    ap.add_argument("--workdir-parent", help="where the temp dir (and the gateway's data dir) goes; "
                    "/dev/shm takes the disk's fsync out of the picture (a diagnostic, not durable)")
    ap.add_argument("--postgres-url", help="the gateway's job queue on this PostgreSQL ([cluster]), "
                    "in a fresh schema dropped at the end")
    args = ap.parse_args()
    concs = [int(c) for c in args.conc.split(",")]
    wanted = set(args.servers.split(","))
    # Only the peers asked for must be installed.
    PEERS.update({name: common.find_tool(name) for name in ("wrk", "webhook", "nginx")
                  if name == "wrk" or name in wanted})

    work = tempfile.mkdtemp(prefix="ingest-", dir=args.workdir_parent)
    pg_schema = f"ingest_{os.getpid()}"
    procs = []
    gw = None
    try:
        body = common.github_push()
        body_file = os.path.join(work, "push.json")
        with open(body_file, "wb") as f:
            f.write(body)
        good, bad = common.sign(body), common.sign(body, "wrong-secret")
        tiny = os.path.join(work, "tiny")
        os.makedirs(tiny)
        with open(os.path.join(tiny, "lib.rs"), "w") as f:
            f.write("pub fn tiny() -> u32 { 1 }\n")
        config = (f'workers = 1\n[rate_limit]\nper_ip_per_sec = 0\n\n'
                  f'[[repos]]\nname = "bench"\nprovider = "github"\npath = "{tiny}"\n'
                  f'branches = ["main"]\nsecret = "{common.SECRET}"\n')
        if args.postgres_url:
            # json.dumps of a str is a valid TOML basic string.
            config += (f'\n[cluster]\npostgres_url = {json.dumps(args.postgres_url)}\n'
                       f'schema = "{pg_schema}"\n')
        gw = common.Gateway(args.binary, work, config).start()
        gw.wait_idle()
        servers = {"context-gateway": (f"http://{gw.addr[0]}:{gw.addr[1]}/webhooks/github/bench", gw.pid)}
        # Peers are started only when asked for, so `--servers gateway` needs neither installed.
        if "webhook" in wanted:
            wh, wh_url = start_webhook(work, common.SECRET)
            procs.append(wh)
            servers["adnanh/webhook"] = (wh_url, wh.pid)
        if "nginx" in wanted:
            ng, ng_url = start_nginx(work)
            procs.append(ng)
            servers["nginx static"] = (ng_url, ng.pid)
        if "gateway" not in wanted:
            del servers["context-gateway"]
        answers = {}
        for name, (url, _) in servers.items():
            answers[(name, "good")] = probe(url, body, good)
            if name != "nginx static":
                answers[(name, "bad")] = probe(url, body, bad)
        print(f"body {len(body)} bytes; probes: {answers}", file=sys.stderr)

        runs = []
        profiled = False
        for rep in range(args.reps):
            for sig_name, sig in (("good", good), ("bad", bad)):
                for conc in concs:
                    for name, (url, pid) in servers.items():
                        if sig_name == "bad" and name == "nginx static":
                            continue
                        prof = None
                        if (args.profile_dir and not profiled and name == "context-gateway"
                                and sig_name == "good" and conc == max(concs)):
                            os.makedirs(args.profile_dir, exist_ok=True)
                            prof = threading.Thread(target=perf_profile,
                                                    args=(pid, max(1, args.duration - 2), args.profile_dir))
                            prof.start()
                            profiled = True
                        cpu_before = tree_cpu(pid)
                        r = run_wrk(url, body_file, sig, conc, args.duration, f"r{rep}{sig_name}{conc}")
                        # CPU spent by the server per request: robust to a noisy machine, where
                        # req/s mostly measures what the other tenants leave over.
                        r["cpu_us_per_req"] = (tree_cpu(pid) - cpu_before) * 1e6 / max(1, r["requests"])
                        if prof:
                            prof.join()
                        r.update(server=name, sig=sig_name, conc=conc, rep=rep)
                        runs.append(r)
                        print(f"{name:16} {sig_name:4} c={conc:<3} rep={rep}: {r['rps']:9.0f} req/s "
                              f"p50 {r['p50_us'] / 1000:6.2f} ms p99 {r['p99_us'] / 1000:6.2f} ms "
                              f"cpu {r['cpu_us_per_req']:5.1f} us/req "
                              f"non-2xx {r['status_errors']} sockerr "
                              f"{r['connect_errors'] + r['read_errors'] + r['write_errors'] + r['timeouts']}",
                              file=sys.stderr)

        rss = {name: {"peak_kb": sum(common.peak_rss_kb(p) for p in tree_pids(pid)),
                      "now_kb": sum(common.rss_kb(p) for p in tree_pids(pid)),
                      "now_anon_kb": sum(common.rss_parts_kb(p).get("RssAnon", 0) for p in tree_pids(pid)),
                      "now_file_kb": sum(common.rss_parts_kb(p).get("RssFile", 0) for p in tree_pids(pid))}
               for name, (_, pid) in servers.items()}

        for name, r in rss.items():
            print(f"{name:16} RSS peak {r['peak_kb'] / 1024:.1f} MB, now {r['now_kb'] / 1024:.1f} MB "
                  f"(anon {r['now_anon_kb'] / 1024:.1f}, files {r['now_file_kb'] / 1024:.1f})", file=sys.stderr)

        # Durability: what the gateway acknowledged must be in the store after SIGKILL.
        status, metrics = common.request(gw.addr, "GET", "/metrics")
        outcomes = {}
        for outcome, n in re.findall(
                r'context_gateway_webhook_deliveries_total\{[^}]*outcome="(\w+)"[^}]*\} (\d+)',
                metrics.decode()):
            outcomes[outcome] = outcomes.get(outcome, 0) + int(n)
        acked_by_wrk = sum(r["ok"] for r in runs if r["server"] == "context-gateway" and r["sig"] == "good")
        gw.kill9()
        gw.start()
        jobs = [j for j in gw.jobs() if j.get("trigger") == "webhook"]
        stored = sum(1 + j.get("coalesced", 0) for j in jobs)
        durability = {
            "wrk_2xx": acked_by_wrk, "metrics_outcomes": {k: int(v) for k, v in outcomes.items()},
            "jobs_after_kill9": len(jobs), "deliveries_in_store_after_kill9": stored,
            "ok": stored >= acked_by_wrk,
        }
        print(f"durability: {durability}", file=sys.stderr)
        result = {"body_bytes": len(body), "duration_s": args.duration, "reps": args.reps,
                  "job_store": "postgres" if args.postgres_url else "sled",
                  "answers": {f"{k[0]}|{k[1]}": v for k, v in answers.items()},
                  "runs": runs, "rss": rss, "durability": durability}
        text = json.dumps(result, indent=1)
        if args.json_out:
            with open(args.json_out, "w") as f:
                f.write(text)
        else:
            print(text)
    finally:
        if gw:
            gw.stop()
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)
        if args.postgres_url:
            subprocess.run(["psql", "-q", "-c", f"DROP SCHEMA IF EXISTS {pg_schema} CASCADE",
                            args.postgres_url], check=False)


if __name__ == "__main__":
    main()
