// The file view: GET /files/{repo}/{path}?ref= shown with line numbers, the lines a search hit
// named marked and scrolled to.

import { api, encodePath, withQuery } from "../api.js";
import { h, notice, replace, shortCommit } from "../dom.js";

export function render(main, route) {
  const [, repo, ...rest] = route.parts;
  const path = rest.join("/");
  const ref = route.query.get("ref") || "";
  const first = Number(route.query.get("line")) || 0;
  const last = Number(route.query.get("end")) || first;
  const message = h("div", { class: "message" });
  const meta = h("p", { class: "muted" });
  const code = h("div", { class: "file" });
  main.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/search" }, "Search"), " / ", repo || ""),
    h("h1", { class: "path" }, path || "(no path)"),
    meta,
    message,
    code,
  );
  if (!repo || !path) {
    replace(message, notice("error", "The address names no repo and file."));
    return null;
  }
  (async () => {
    try {
      const { body } = await api(withQuery(`/files/${encodePath(repo)}/${encodePath(path)}`, { ref }));
      replace(meta, `${body.repo} · `, h("code", {}, body.ref), " at ", shortCommit(body.commit), ` · ${body.total_lines} lines`);
      const withheld = body.withheld || [];
      if (withheld.length) {
        replace(message, notice("info", `Lines withheld because they hold a secret: ${withheld.map(([a, b]) => `${a}–${b}`).join(", ")}.`));
      }
      const tbody = h("tbody");
      const lines = body.text.split("\n");
      if (lines.length && lines[lines.length - 1] === "") lines.pop();
      let target = null;
      lines.forEach((text, i) => {
        const n = body.start_line + i;
        const hit = first && n >= first && n <= last;
        const tr = h("tr", { id: `L${n}`, class: hit ? "hit-line" : null }, h("td", { class: "ln" }, String(n)), h("td", {}, h("code", {}, text)));
        if (hit && !target) target = tr;
        tbody.append(tr);
      });
      code.append(h("table", { class: "code", "aria-label": `${path}, lines ${body.start_line}–${body.end_line}` }, tbody));
      if (target) target.scrollIntoView({ block: "center" });
    } catch (e) {
      replace(message, notice("error", e.status === 404 ? `${path} is not an indexed file of ${repo}.` : e.message));
    }
  })();
  return null;
}
