#!/usr/bin/env python3
"""Alternated ingest: baseline and current gateways both running, wrk against one at a time,
A B / B A pairs. Reports req/s, p50, p99 and CPU us per request of the server process."""
import argparse, json, os, shutil, sys, tempfile, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "load"))
sys.path.insert(0, HERE)
import common, ingest  # noqa
from abstats import summarize, line

ap = argparse.ArgumentParser()
ap.add_argument("--base", required=True)
ap.add_argument("--cur", required=True)
ap.add_argument("--plan", default="good:64:6,good:16:5,bad:64:5")
ap.add_argument("--duration", type=int, default=5)
ap.add_argument("--out", required=True)
ap.add_argument("--workdir-parent", help="where the data dirs go; /dev/shm takes the disk's fsync out (a diagnostic)")
ap.add_argument("--base-config", default="per_repo_per_sec = 0\n",
                help="extra [rate_limit] keys for the baseline (9915277 still had a per-repo limit)")
args = ap.parse_args()
ingest.PEERS["wrk"] = shutil.which("wrk")

work = tempfile.mkdtemp(prefix="ingab-", dir=args.workdir_parent)
gws = {}
try:
    body = common.github_push()
    body_file = os.path.join(work, "push.json")
    open(body_file, "wb").write(body)
    sigs = {"good": common.sign(body), "bad": common.sign(body, "wrong-secret")}
    tiny = os.path.join(work, "tiny"); os.makedirs(tiny)
    open(os.path.join(tiny, "lib.rs"), "w").write("pub fn tiny() -> u32 { 1 }\n")
    for side, binary, extra in (("A", args.base, args.base_config), ("B", args.cur, "")):
        d = os.path.join(work, side); os.makedirs(d)
        config = (f'workers = 1\n[rate_limit]\nper_ip_per_sec = 0\n{extra}\n'
                  f'[[repos]]\nname = "bench"\nprovider = "github"\npath = "{tiny}"\n'
                  f'branches = ["main"]\nsecret = "{common.SECRET}"\n')
        gw = common.Gateway(binary, d, config).start()
        gw.wait_idle()
        gws[side] = gw
        url = f"http://{gw.addr[0]}:{gw.addr[1]}/webhooks/github/bench"
        print(side, binary, ingest.probe(url, body, sigs["good"]), ingest.probe(url, body, sigs["bad"]), file=sys.stderr)
    runs = []
    summaries = []
    for item in args.plan.split(","):
        sig, conc, pairs = item.split(":"); conc, pairs = int(conc), int(pairs)
        res = {"A": [], "B": []}
        for i in range(pairs):
            order = ("A", "B") if i % 2 == 0 else ("B", "A")
            for side in order:
                gw = gws[side]
                url = f"http://{gw.addr[0]}:{gw.addr[1]}/webhooks/github/bench"
                before = ingest.tree_cpu(gw.pid)
                r = ingest.run_wrk(url, body_file, sigs[sig], conc, args.duration, f"{side}{sig}{conc}{i}{time.time_ns()}")
                r["cpu_us_per_req"] = (ingest.tree_cpu(gw.pid) - before) * 1e6 / max(1, r["requests"])
                r.update(side=side, sig=sig, conc=conc, pair=i, load=open("/proc/loadavg").read().split()[0])
                runs.append(r); res[side].append(r)
                print(f"{side} {sig} c={conc} pair={i}: {r['rps']:8.0f} req/s p50 {r['p50_us']/1000:6.2f} p99 {r['p99_us']/1000:7.2f} ms "
                      f"cpu {r['cpu_us_per_req']:6.1f} us/req non2xx {r['status_errors']} load {r['load']}", file=sys.stderr, flush=True)
        for key, unit, hib in (("rps", "req/s", True), ("p50_us", "us", False), ("p99_us", "us", False), ("cpu_us_per_req", "us/req", False)):
            s = summarize(f"{sig} c={conc} {key}", [r[key] for r in res["A"]], [r[key] for r in res["B"]], unit, hib)
            summaries.append(s); print(line(s), file=sys.stderr, flush=True)
    json.dump({"runs": runs, "summaries": summaries, "duration": args.duration}, open(args.out, "w"), indent=1)
finally:
    for gw in gws.values():
        gw.stop()
    shutil.rmtree(work, ignore_errors=True)
