// The dashboard in real headless Chromium against the real gateway: log in, watch a signed push
// arrive in Jobs without a reload, cancel a hanging job, retry a failed one, redeliver a
// delivery, reindex a repo, search and open a hit. Every page must log no console error, load
// nothing from another origin, and be served with the CSP header.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  githubPush,
  launchBrowser,
  manage,
  Repo,
  screenshot,
  SECRET,
  silentServer,
  startGateway,
  tempDir,
  TOKEN,
  waitFor,
} from "./harness.mjs";

const LIVE = 2000; // the bound for a pushed job to show up in Jobs
const PATIENCE = 60000; // hang guard for jobs to finish

let tmp, gateway, silent, browser, context, page, demo;
const consoleErrors = [];
const foreignRequests = [];
let pushDelivery;

before(async () => {
  tmp = tempDir();
  demo = new Repo(`${tmp.dir}/demo`);
  demo.write("src/lib.rs", "/// Parses a request line.\nfn parse_request_line(line: &str) -> usize {\n    line.len()\n}\n");
  demo.commit("initial");
  silent = await silentServer();
  const repo = (name, url) =>
    `[[repos]]\nname = "${name}"\nprovider = "github"\nurl = "${url}"\nbranches = ["main"]\nsecret = "${SECRET}"\nreconcile_interval_secs = 0\n`;
  gateway = await startGateway(
    tmp.dir,
    [
      "workers = 3",
      "max_attempts = 1",
      "[rate_limit]\nper_ip_per_sec = 0",
      "[deliveries]\nkeep_bodies = true",
      repo("demo", demo.url),
      repo("hang", silent.url),
      repo("broken", "file:///nonexistent/broken.git"),
    ].join("\n\n"),
  );
  // The first index of demo, so search and the freshness board have something.
  const first = await manage(gateway.origin, "POST", "/webhooks/trigger/demo", { full: true });
  assert.equal(first.status, 202, JSON.stringify(first.body));
  await waitJob(first.body.job_id, ["succeeded"]);

  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.on("request", (request) => {
    const url = new URL(request.url());
    if (url.protocol !== "data:" && url.origin !== gateway.origin) foreignRequests.push(request.url());
  });
  page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push({ text: message.text(), url: message.location().url });
  });
  page.on("pageerror", (error) => consoleErrors.push({ text: `uncaught: ${error.message}`, url: "" }));
});

after(async () => {
  if (browser) await browser.close();
  if (silent) await silent.close(); // ends any fetch still hanging on it
  if (gateway) await gateway.stop();
  if (tmp) tmp.cleanup();
});

async function waitJob(id, states) {
  return waitFor(
    `job ${id} to be ${states.join(" or ")}`,
    async () => {
      const { body } = await manage(gateway.origin, "GET", `/webhooks/jobs/${id}`);
      return states.includes(body.state) ? body : undefined;
    },
    { timeout: PATIENCE },
  );
}

/** Navigates inside the app (a hash change, no page load). */
async function go(hash) {
  await page.evaluate((h) => {
    location.hash = h;
  }, hash);
}

test("login exchanges the token for a session, with the CSP header on the page", async () => {
  const response = await page.goto(`${gateway.origin}/ui/`);
  const csp = response.headers()["content-security-policy"];
  assert.ok(csp, "the page has a Content-Security-Policy header");
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  const token = page.getByLabel("Gateway token");
  await token.waitFor();
  await screenshot(page, "login");
  await token.fill(TOKEN);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  await page.locator("#live[data-state=open]").waitFor();
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "cg_session");
  assert.ok(session && session.httpOnly, "an HttpOnly session cookie was set");
});

test("a signed push shows up in Jobs without a reload and turns succeeded", async () => {
  await go("#/jobs");
  await page.getByRole("heading", { name: "Jobs" }).waitFor();
  await page.locator("tbody tr[data-job-id]").first().waitFor();
  await page.evaluate(() => {
    window.stillTheSamePage = true;
  });
  const before = demo.git("rev-parse", "HEAD");
  demo.write("src/push.rs", "fn freshly_pushed_marker() -> u8 {\n    7\n}\n");
  const after = demo.commit("push");
  pushDelivery = `ui-push-${Date.now()}`;
  const answer = await githubPush(gateway.origin, "demo", pushDelivery, before, after);
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  const row = page.locator(`tr[data-job-id="${answer.body.job_id}"]`);
  await row.waitFor({ timeout: LIVE });
  await page.locator(`tr[data-job-id="${answer.body.job_id}"][data-state="succeeded"]`).waitFor({ timeout: PATIENCE });
  assert.equal(await page.evaluate(() => window.stillTheSamePage), true, "the page was not reloaded");
  await screenshot(page, "jobs");
});

test("a long job is cancelled from its page", async () => {
  // The remote of `hang` accepts connections and never answers, so its fetch runs until
  // cancelled. (The gateway may already run one from its start; a trigger then waits behind it.)
  const queued = await manage(gateway.origin, "POST", "/webhooks/trigger/hang", {});
  assert.equal(queued.status, 202, JSON.stringify(queued.body));
  const running = await waitFor("a running job of hang", async () => {
    const { body } = await manage(gateway.origin, "GET", "/webhooks/jobs?state=running&repo=hang");
    return body.jobs[0];
  });
  await go(`#/jobs/${running.id}`);
  await page.locator(".job-details .badge", { hasText: "running" }).waitFor();
  await page.getByRole("button", { name: `Cancel job ${running.id}` }).click();
  await page.locator(".job-details .badge", { hasText: "cancelled" }).waitFor({ timeout: PATIENCE });
  assert.equal((await manage(gateway.origin, "GET", `/webhooks/jobs/${running.id}`)).body.state, "cancelled");
  await screenshot(page, "job");
});

test("a failed job is retried from the Jobs list", async () => {
  const queued = await manage(gateway.origin, "POST", "/webhooks/trigger/broken", {});
  assert.equal(queued.status, 202, JSON.stringify(queued.body));
  const id = queued.body.job_id;
  await waitJob(id, ["failed"]);
  await go("#/jobs?state=failed");
  await page.getByRole("button", { name: `Retry job ${id}` }).click();
  const message = page.locator(".notice.ok", { hasText: `Job ${id} queued again as` });
  await message.waitFor();
  const retried = /queued again as (\S+?)[.\s(]/.exec(await message.textContent())[1];
  assert.notEqual(retried, id);
  // The retry fails too (the URL still does not exist) and arrives in the failed list live.
  await page.locator(`tr[data-job-id="${retried}"][data-state="failed"]`).waitFor({ timeout: PATIENCE });
  const job = (await manage(gateway.origin, "GET", `/webhooks/jobs/${retried}`)).body;
  assert.equal(job.repo, "broken");
  assert.equal(job.ref, "refs/heads/main");
});

test("a delivery is redelivered and answered as a duplicate", async () => {
  assert.ok(pushDelivery, "the push test ran first");
  await go("#/deliveries");
  await page.getByRole("heading", { name: "Deliveries" }).waitFor();
  const button = page.getByRole("button", { name: `Redeliver ${pushDelivery}` }).first();
  await button.click();
  await page.locator(".notice.ok", { hasText: "200 duplicate" }).waitFor();
  // The delivery's headers are shown with its signature redacted.
  const original = page.locator('tr[data-outcome="queued"]', { hasText: pushDelivery });
  await original.locator("summary").click();
  const signature = original.locator("dt", { hasText: "x-hub-signature-256" });
  await signature.waitFor();
  assert.equal(await signature.locator("xpath=following-sibling::dd[1]").textContent(), "[redacted]");
  await screenshot(page, "deliveries");
  // The redelivery's own log entry arrives live.
  await page.locator('tr[data-outcome="duplicate"]', { hasText: "redelivery of" }).first().waitFor({ timeout: LIVE });
});

test("a repo is reindexed from the freshness board", async () => {
  await go("#/repos");
  const button = page.getByRole("button", { name: "Full reindex of demo refs/heads/main" });
  await button.click();
  const message = page.locator(".notice.ok", { hasText: "Full reindex of demo" });
  await message.waitFor();
  const id = /queued as job (\S+?)[.\s(]/.exec(await message.textContent())[1];
  const job = await waitJob(id, ["succeeded"]);
  assert.equal(job.full, true);
  await page.locator('tr[data-repo="demo"]', { has: page.locator(`a[href="#/jobs/${id}"]`) }).locator(".badge", { hasText: "succeeded" }).first().waitFor({ timeout: PATIENCE });
  await screenshot(page, "repos");
});

test("search finds the pushed code and opens the file at the hit", async () => {
  await go("#/search");
  await page.getByLabel("Query").fill("freshly_pushed_marker");
  await page.getByLabel("Repo").fill("demo");
  await page.getByRole("button", { name: "Search" }).click();
  const hit = page.locator(".hit", { hasText: "src/push.rs" });
  await hit.waitFor();
  assert.ok((await hit.locator("mark").count()) > 0, "the matched words are highlighted");
  await screenshot(page, "search");
  await hit.locator("a.hit-path").click();
  await page.getByRole("heading", { name: "src/push.rs" }).waitFor();
  await page.locator("tr.hit-line", { hasText: "freshly_pushed_marker" }).waitFor();
  await screenshot(page, "file");
});

test("the overview charts deliveries and jobs", async () => {
  await go("#/");
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  await page.locator("svg.chart rect").first().waitFor();
  await screenshot(page, "overview");
  // Keyboard: the skip link comes first in the tab order (before the header's first link)
  // and moves focus to the content, leaving the route alone.
  await page.locator("a.brand").focus();
  await page.keyboard.press("Shift+Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement.id), "main");
  assert.equal(await page.evaluate(() => location.hash), "#/");
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, "overview-phone");
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: "dark" });
  await screenshot(page, "overview-dark");
  await page.emulateMedia({ colorScheme: "light" });
});

test("no console error and no request to another origin", () => {
  // The one expected error: the session check before login answers 401, which Chromium logs.
  const unexpected = consoleErrors.filter((e) => !(e.url.endsWith("/ui/session") && e.text.includes("401")));
  assert.deepEqual(unexpected, []);
  assert.deepEqual(foreignRequests, []);
});
