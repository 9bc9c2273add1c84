// Search: a query box with repo, ref and path filters (GET /search, one hit per file); each
// hit shows its snippet with the matched words highlighted and links to the file view.

import { api, withQuery } from "../api.js";
import { field, h, notice, replace, shortCommit, shortRef } from "../dom.js";

const MODES = ["lexical", "literal", "regex"];

export function render(main, route) {
  const q = route.query.get("q") || "";
  const params = {
    repo: route.query.get("repo") || "",
    ref: route.query.get("ref") || "",
    path: route.query.get("path") || "",
    mode: route.query.get("mode") || "lexical",
  };
  const qInput = h("input", { type: "search", name: "q", value: q, required: true, autocomplete: "off", class: "grow" });
  const repo = h("input", { name: "repo", value: params.repo, autocomplete: "off" });
  const ref = h("input", { name: "ref", value: params.ref, autocomplete: "off", placeholder: "main" });
  const path = h("input", { name: "path", value: params.path, autocomplete: "off", placeholder: "src/ or *.rs" });
  const mode = h("select", { name: "mode" }, MODES.map((m) => h("option", { value: m, selected: m === params.mode }, m)));
  const form = h(
    "form",
    { class: "filters search-form", role: "search", "aria-label": "Search code" },
    field("Query", qInput),
    field("Repo", repo),
    field("Ref", ref),
    field("Path", path),
    field("Mode", mode),
    h("button", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = withQuery("#/search", {
      q: qInput.value,
      repo: repo.value.trim(),
      ref: ref.value.trim(),
      path: path.value.trim(),
      mode: mode.value === "lexical" ? "" : mode.value,
    });
  });
  const message = h("div", { class: "message" });
  const results = h("ol", { class: "hits", "aria-label": "Search results" });
  main.append(h("h1", {}, "Search"), form, message, results);
  if (!q) {
    setTimeout(() => qInput.focus(), 0);
    return null;
  }
  (async () => {
    try {
      const { body } = await api(withQuery("/search", { q, ...params, mode: params.mode === "lexical" ? "" : params.mode, group: "file", limit: 30 }));
      const hits = body.hits || [];
      replace(
        message,
        notice("info", `${hits.length} file${hits.length === 1 ? "" : "s"} in ${body.took_ms} ms${body.partial ? " (partial: the time budget ran out)" : ""}.`),
      );
      const words = queryWords(q, params.mode);
      for (const hit of hits) results.append(hitItem(hit, words));
    } catch (e) {
      replace(message, notice("error", e.message));
    }
  })();
  return null;
}

/** The words of a lexical query to highlight (filters, operators and quotes left out). */
function queryWords(q, mode) {
  if (mode !== "lexical") return [];
  return q
    .split(/\s+/)
    .filter((w) => !/^(lang|file|path|sym):/.test(w) && !w.startsWith("-"))
    .map((w) => w.replace(/^[+"]+|"+$/g, "").replace(/^sym:/, ""))
    .flatMap((w) => w.split(/[^\p{L}\p{N}_]+/u))
    .filter((w) => w.length >= 2);
}

function fileHref(hit, line, end) {
  return withQuery(`#/file/${encodeURIComponent(hit.repo)}/${hit.path.split("/").map(encodeURIComponent).join("/")}`, {
    ref: hit.ref,
    line,
    end,
  });
}

function hitItem(hit, words) {
  const title = h(
    "a",
    { href: fileHref(hit, hit.start_line, hit.end_line), class: "hit-path" },
    h("span", { class: "muted" }, `${hit.repo} · ${shortRef(hit.ref)} · `),
    hit.path,
    h("span", { class: "muted" }, `:${hit.start_line}–${hit.end_line}`),
  );
  const others = (hit.others || []).map((o) =>
    h("li", {}, h("a", { href: fileHref(hit, o.start_line, o.end_line) }, `lines ${o.start_line}–${o.end_line}`), snippet(o.snippet, words, [])),
  );
  return h(
    "li",
    { class: "hit" },
    h("div", { class: "hit-head" }, title, " ", shortCommit(hit.commit)),
    snippet(hit.snippet, words, hit.matches || []),
    others.length ? h("details", {}, h("summary", {}, `${others.length} more place${others.length === 1 ? "" : "s"} in this file`), h("ul", { class: "others" }, others)) : null,
  );
}

/** A snippet (`LINE: text` lines) with matches marked: byte ranges when given, else words. */
function snippet(text, words, matches) {
  const pre = h("pre", { class: "snippet" });
  for (const line of (text || "").split("\n")) {
    const m = /^(\d+): ?(.*)$/.exec(line);
    const code = h("code", {});
    if (!m) {
      code.append(line);
    } else {
      const number = Number(m[1]);
      code.append(h("span", { class: "ln" }, `${m[1]} `));
      const ranges = matches.filter((x) => x.line === number).map((x) => byteRange(m[2], x.start, x.end));
      mark(code, m[2], ranges.length ? ranges : wordRanges(m[2], words));
    }
    pre.append(code, "\n");
  }
  return pre;
}

/** Converts a byte range of the UTF-8 text to a range of the JS string. */
function byteRange(text, start, end) {
  const bytes = new TextEncoder().encode(text);
  const dec = new TextDecoder();
  return [dec.decode(bytes.slice(0, start)).length, dec.decode(bytes.slice(0, Math.min(end, bytes.length))).length];
}

function wordRanges(text, words) {
  const ranges = [];
  const lower = text.toLowerCase();
  for (const w of words) {
    const needle = w.toLowerCase();
    let at = lower.indexOf(needle);
    while (at !== -1) {
      ranges.push([at, at + needle.length]);
      at = lower.indexOf(needle, at + needle.length);
    }
  }
  return ranges;
}

function mark(el, text, ranges) {
  const sorted = ranges.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let at = 0;
  for (const [a, b] of sorted) {
    if (a < at) continue;
    el.append(text.slice(at, a), h("mark", {}, text.slice(a, b)));
    at = b;
  }
  el.append(text.slice(at));
}
