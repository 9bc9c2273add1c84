// Building DOM safely: every piece of data goes in through textContent or setAttribute,
// never through innerHTML, so a repo name, path or error string can never become markup.

/** An element: `h("a", {href: "#/jobs", class: "x", onclick: fn}, "text", child, …)`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element, like `h`. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `el` with `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** "12 s", "3 min", "2 h 5 min". */
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** A timestamp as local time, with the full value in a `time` element. */
export function when(rfc3339) {
  if (!rfc3339) return "–";
  const date = new Date(rfc3339);
  if (Number.isNaN(date.getTime())) return rfc3339;
  return h("time", { datetime: rfc3339, title: rfc3339 }, date.toLocaleString());
}

/** Milliseconds between two RFC 3339 times (to now when `end` is missing). */
export function between(start, end) {
  if (!start) return null;
  const a = new Date(start).getTime();
  const b = end ? new Date(end).getTime() : Date.now();
  return b - a;
}

/** The first 10 characters of a commit id, with the whole id as a tooltip. */
export function shortCommit(sha) {
  if (!sha) return h("span", { class: "muted" }, "–");
  return h("code", { title: sha }, sha.slice(0, 10));
}

/** `refs/heads/main` -> `main`. */
export function shortRef(ref) {
  return (ref || "").replace(/^refs\/heads\//, "");
}

/** 1536 -> "1.5 KiB". */
export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** A state badge (`queued`, `running`, `succeeded`, …). */
export function badge(state, extra = "") {
  return h("span", { class: `badge state-${state} ${extra}`.trim() }, state);
}

/** A message line in a page: `kind` is "error", "ok" or "info". */
export function notice(kind, text) {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/**
 * A page's status line and `act(work)`: runs an action (an async function answering a sentence
 * or `{text}`), shows its answer or its error in the line, then calls `after` if given.
 */
export function statusLine(after) {
  const el = h("div", { class: "message" });
  const say = (kind, text) => replace(el, notice(kind, text));
  const act = async (work) => {
    try {
      const result = await work();
      say("ok", typeof result === "string" ? result : result.text);
    } catch (e) {
      say("error", e.message);
    }
    if (after) after();
  };
  return { el, say, act };
}

/** A table with a caption (visually hidden when `hideCaption`), headers and a body. */
export function table(caption, headers, { hideCaption = true } = {}) {
  const tbody = h("tbody");
  const el = h(
    "table",
    {},
    h("caption", { class: hideCaption ? "sr-only" : null }, caption),
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    tbody,
  );
  // Each cell carries its column's name, which the narrow layout shows beside the value.
  const label = (tr) => {
    [...tr.cells].forEach((cell, i) => {
      if (headers[i] && !cell.hasAttribute("colspan")) cell.dataset.label = headers[i];
    });
  };
  new MutationObserver((changes) => {
    for (const change of changes) change.addedNodes.forEach((node) => node.nodeName === "TR" && label(node));
  }).observe(tbody, { childList: true });
  return { el, tbody, wrap: h("div", { class: "table-wrap" }, el) };
}

/** A labelled form field: `field("Repo", h("input", {…}))`. The input gets an id. */
let fieldCount = 0;
export function field(label, input) {
  fieldCount += 1;
  const id = input.id || `f${fieldCount}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}
