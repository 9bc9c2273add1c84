#!/usr/bin/env python3
"""How long `GET /metrics` takes: one gateway, one repo over file://, N signed deliveries
(one in ten with a bad signature, so refusals are labelled too), then M scrapes over one
keep-alive connection. Prints the answer's size, the client's round trip and the gateway's
own `elapsed_us` from its access lines (median and p99).

    python3 benches/load/metrics_scrape.py $CARGO_TARGET_DIR/release/context-gateway 1000 2000
"""
import hashlib, hmac, http.client, json, os, shutil, statistics, subprocess, sys, tempfile, time

binary, deliveries, scrapes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tmp = tempfile.mkdtemp()
src = os.path.join(tmp, "src")
os.makedirs(src)
git = lambda *a: subprocess.run(["git", "-C", src, *a], check=True, capture_output=True, text=True).stdout.strip()
git("init", "-q", "-b", "main")
git("config", "user.email", "m@example.invalid"); git("config", "user.name", "m")
for i in range(20):
    open(os.path.join(src, f"f{i}.rs"), "w").write(f"fn f{i}() -> u32 {{ {i} }}\n")
git("add", "-A"); git("commit", "-qm", "one")
head = git("rev-parse", "HEAD")
cfg = os.path.join(tmp, "gw.toml")
open(cfg, "w").write(f'workers = 2\n\n[rate_limit]\nper_ip_per_sec = 0\n\n[[repos]]\nname = "demo"\nprovider = "github"\nurl = "file://{src}"\nbranches = ["main"]\nsecret = "s3cret-key"\n')
log = open(os.path.join(tmp, "log"), "w")
env = dict(os.environ, GATEWAY_TOKEN="tok", RUST_LOG="info")
p = subprocess.Popen([binary, "--log-format", "json", "serve", "--listen", "127.0.0.1:0", "--config", cfg,
                      "--data-dir", os.path.join(tmp, "data")], stdout=subprocess.PIPE, stderr=log, env=env, text=True)
addr = p.stdout.readline().strip().removeprefix("listening on http://")
host, port = addr.rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port))
for n in range(deliveries):
    body = json.dumps({"ref": "refs/heads/main", "before": "0" * 40, "after": head, "created": False, "deleted": False,
                       "forced": False, "repository": {"name": "demo", "full_name": "a/demo"}, "commits": []}).encode()
    sig = "sha256=" + hmac.new(b"s3cret-key" if n % 10 else b"wrong", body, hashlib.sha256).hexdigest()
    c.request("POST", "/webhooks/github/demo", body, {"X-GitHub-Event": "push", "X-GitHub-Delivery": f"d{n}",
              "X-Hub-Signature-256": sig, "Content-Type": "application/json"})
    c.getresponse().read()
times, size = [], 0
for _ in range(scrapes):
    t = time.perf_counter()
    c.request("GET", "/metrics", headers={"Authorization": "Bearer tok"})
    r = c.getresponse(); size = len(r.read())
    times.append((time.perf_counter() - t) * 1e6)
p.terminate(); p.wait()
server = [json.loads(l)["elapsed_us"] for l in open(os.path.join(tmp, "log")) if '"route":"/metrics"' in l]
shutil.rmtree(tmp, ignore_errors=True)
q = lambda xs, f: sorted(xs)[int(len(xs) * f)]
print(f"{deliveries} deliveries, {scrapes} scrapes, body {size} bytes; client round trip median {statistics.median(times):.0f} us, "
      f"p99 {q(times, 0.99):.0f} us; server elapsed_us median {statistics.median(server):.0f}, p99 {q(server, 0.99):.0f}")
