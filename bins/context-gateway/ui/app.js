// The dashboard: checks the session (login when needed), opens the live event stream and
// routes #/… hashes to the views. Each view's `render(main, route)` returns a function that
// stops its live updates when the page is left.

import { api, auth } from "./api.js";
import { connect, disconnect } from "./events.js";
import { h, notice, replace } from "./dom.js";
import * as overview from "./views/overview.js";
import * as repos from "./views/repos.js";
import * as jobs from "./views/jobs.js";
import * as job from "./views/job.js";
import * as deliveries from "./views/deliveries.js";
import * as search from "./views/search.js";
import * as file from "./views/file.js";
import { loginForm } from "./views/login.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const live = document.getElementById("live");
const logout = document.getElementById("logout");
let leave = null;
let signedIn = false;

/** `#/jobs/7?state=failed` -> {parts: ["jobs", "7"], query: URLSearchParams}. */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(query) };
}

function pick(parts) {
  const [first, second] = parts;
  switch (first) {
    case undefined:
      return [overview, "Overview", ""];
    case "repos":
      return [repos, "Repos", "repos"];
    case "jobs":
      return second ? [job, `Job ${second}`, "jobs"] : [jobs, "Jobs", "jobs"];
    case "deliveries":
      return [deliveries, "Deliveries", "deliveries"];
    case "search":
      return [search, "Search", "search"];
    case "file":
      return [file, "File", "search"];
    default:
      return [null, "Not found", ""];
  }
}

function route() {
  if (!signedIn) return;
  if (leave) leave();
  leave = null;
  const current = parseHash();
  const [view, title, section] = pick(current.parts);
  for (const link of nav.querySelectorAll("a")) {
    const target = link.getAttribute("href").replace(/^#\/?/, "");
    if (target === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${title} · Context Gateway`;
  replace(main);
  if (!view) {
    main.append(h("h1", {}, "Not found"), notice("error", `There is no page ${location.hash}.`));
    return;
  }
  leave = view.render(main, current) || null;
}

async function start() {
  let session;
  try {
    session = (await api("/ui/session", { allow: [401] })).body;
  } catch (e) {
    replace(main, h("h1", {}, "Context Gateway"), notice("error", e.message));
    return;
  }
  if (!session || !session.authenticated) {
    showLogin();
    return;
  }
  enter(session);
}

function enter(session) {
  signedIn = true;
  nav.hidden = false;
  logout.hidden = session.via !== "cookie";
  connect(live);
  route();
  main.focus();
}

function showLogin() {
  signedIn = false;
  if (leave) leave();
  leave = null;
  disconnect();
  nav.hidden = true;
  logout.hidden = true;
  document.title = "Log in · Context Gateway";
  replace(main, loginForm(() => start()));
}

// The skip link moves focus to the page's content without touching the route in the hash.
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
window.addEventListener("hashchange", () => {
  route();
  main.focus();
});
auth.addEventListener("unauthorized", () => {
  if (signedIn) showLogin();
});
logout.addEventListener("click", async () => {
  try {
    await api("/ui/logout", { method: "POST" });
  } catch {
    // The session is forgotten on our side either way.
  }
  showLogin();
});

start();
