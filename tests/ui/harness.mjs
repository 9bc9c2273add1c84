// The UI tests' real parts: the gateway binary on 127.0.0.1 with a temp data dir and config,
// real git repositories made with the git CLI, signed GitHub deliveries, a TCP server that
// never answers (a fetch that hangs until cancelled), and the distribution's Chromium driven
// by playwright-core.

import { spawn, execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, createWriteStream, readFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

export const TOKEN = "ui-test-management-token";
export const SECRET = "ui-test-webhook-secret";
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const TARGET = process.env.CARGO_TARGET_DIR || path.join(ROOT, "target");

/** Where the tests save each view's screenshot. */
export const SCREENSHOTS = process.env.CG_UI_SCREENSHOTS || path.join(TARGET, "ui-screenshots");

/** The gateway binary: CG_GATEWAY_BIN, else the debug build in the target dir. */
export const gatewayBin = () => process.env.CG_GATEWAY_BIN || path.join(TARGET, "debug", "context-gateway");

/** The browser: CG_CHROMIUM, else Debian's chromium. Never downloaded. */
export const CHROMIUM = process.env.CG_CHROMIUM || "/usr/bin/chromium";

/** A real git repository in `dir` on branch main. */
export class Repo {
  constructor(dir) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    this.git("init", "-q", "-b", "main");
    this.git("config", "user.email", "ui@example.invalid");
    this.git("config", "user.name", "ui");
    this.git("config", "commit.gpgsign", "false");
  }
  git(...args) {
    return execFileSync("git", ["-C", this.dir, ...args], { encoding: "utf8" }).trim();
  }
  write(file, text) {
    const full = path.join(this.dir, file);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, text);
  }
  commit(message) {
    this.git("add", "-A");
    this.git("commit", "-q", "--allow-empty", "-m", message);
    return this.git("rev-parse", "HEAD");
  }
  get url() {
    return `file://${this.dir}`;
  }
}

/** A TCP server that accepts connections and never answers: a git fetch from it hangs. */
export async function silentServer() {
  const sockets = new Set();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/hang.git`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** `context-gateway serve` on 127.0.0.1:0 with GATEWAY_TOKEN set; resolves once it listens. */
export async function startGateway(dir, configText) {
  const config = path.join(dir, "gateway.toml");
  writeFileSync(config, configText);
  const logPath = path.join(dir, "gateway.log");
  const log = createWriteStream(logPath);
  const env = { ...process.env, GATEWAY_TOKEN: TOKEN, RUST_LOG: "info" };
  delete env.WEBHOOK_SECRET;
  const child = spawn(
    gatewayBin(),
    ["--log-format", "json", "serve", "--listen", "127.0.0.1:0", "--config", config, "--data-dir", path.join(dir, "data")],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stderr.pipe(log);
  const first = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`the gateway exited (${code}) before listening: ${readLog(logPath)}`)));
    child.once("error", reject);
  });
  const match = /^listening on (http:\/\/\S+)$/.exec(first.trim());
  if (!match) throw new Error(`unexpected first line ${JSON.stringify(first)}: ${readLog(logPath)}`);
  return {
    origin: match[1],
    logPath,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", resolve);
        child.kill("SIGTERM");
      }),
  };
}

function readLog(file) {
  try {
    return readFileSync(file, "utf8").slice(-4000);
  } catch {
    return "";
  }
}

/** A management call with the bearer token (the test's own view of the truth). */
export async function manage(origin, method, route, body) {
  const response = await fetch(origin + route, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** Polls `check` (an async function answering a value or undefined) until it answers. */
export async function waitFor(what, check, { timeout = 60000, every = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await check();
    if (last !== undefined && last !== null && last !== false) return last;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}

/** A GitHub push delivery of `after` to `repo`, signed with SECRET as GitHub signs it. */
export async function githubPush(origin, repo, deliveryId, before, after) {
  const body = JSON.stringify({
    ref: "refs/heads/main",
    before,
    after,
    created: false,
    deleted: false,
    forced: false,
    repository: { name: repo, full_name: `acme/${repo}`, clone_url: "file:///unused" },
    commits: [],
    head_commit: null,
  });
  const signature = createHmac("sha256", SECRET).update(body).digest("hex");
  const response = await fetch(`${origin}/webhooks/github/${repo}`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "X-GitHub-Event": "push",
      "X-GitHub-Delivery": deliveryId,
      "X-Hub-Signature-256": `sha256=${signature}`,
    },
    body,
  });
  return { status: response.status, body: await response.json() };
}

/** Headless Chromium with the flags CI uses, in a fresh profile. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

/** A temp dir removed by `cleanup()`. */
export function tempDir() {
  const dir = mkdtempSync(path.join(tmpdir(), "cg-ui-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Saves a screenshot of the page as `<view>.png` in SCREENSHOTS. */
export async function screenshot(page, view) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${view}.png`), fullPage: false });
}
