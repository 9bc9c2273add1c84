// Deliveries: the log of the last deliveries (GET /webhooks/deliveries), newest first, with
// provider, event, repo, delivery id, verification, the status answered, the job made or
// joined, the redacted headers, and Redeliver. New deliveries appear by `delivery` events.

import { api, withQuery } from "../api.js";
import { redeliver } from "../actions.js";
import { badge, field, h, notice, replace, table, when, statusLine } from "../dom.js";
import { on } from "../events.js";

export const DELIVERY_HEADERS = ["Received", "Provider", "Event", "Repo", "Delivery id", "Verification", "Status", "Outcome", "Job", "Headers", "Actions"];
const OUTCOMES = ["queued", "duplicate", "ignored", "refused"];
const LIMIT = 50;

export function render(main, route) {
  const filter = { outcome: route.query.get("outcome") || "", repo: route.query.get("repo") || "", provider: route.query.get("provider") || "" };
  const cursor = route.query.get("cursor") || "";
  const { el: message, say, act } = statusLine();
  const outcome = h(
    "select",
    { name: "outcome" },
    h("option", { value: "" }, "Any outcome"),
    OUTCOMES.map((o) => h("option", { value: o, selected: o === filter.outcome }, o)),
  );
  const repo = h("input", { name: "repo", value: filter.repo, autocomplete: "off" });
  const provider = h("input", { name: "provider", value: filter.provider, autocomplete: "off" });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter deliveries" },
    field("Outcome", outcome),
    field("Repo", repo),
    field("Provider", provider),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = withQuery("#/deliveries", { outcome: outcome.value, repo: repo.value.trim(), provider: provider.value.trim() });
  });
  const { wrap, tbody } = table("Deliveries, newest first", DELIVERY_HEADERS);
  const pager = h("nav", { class: "pager", "aria-label": "Pages of deliveries" });
  main.append(h("h1", {}, "Deliveries"), form, message, wrap, pager);

  const load = async () => {
    try {
      const { body } = await api(withQuery("/webhooks/deliveries", { ...filter, limit: LIMIT, cursor }));
      tbody.replaceChildren();
      for (const d of body.deliveries || []) tbody.append(deliveryRow(d, act));
      if (!(body.deliveries || []).length) tbody.append(h("tr", { class: "empty" }, h("td", { colspan: DELIVERY_HEADERS.length }, "No deliveries.")));
      replace(
        pager,
        cursor ? h("a", { href: withQuery("#/deliveries", filter) }, "First page") : null,
        body.next_cursor ? h("a", { href: withQuery("#/deliveries", { ...filter, cursor: body.next_cursor }) }, "Older deliveries") : null,
      );
    } catch (e) {
      say("error", e.message);
    }
  };
  load();
  const onDelivery = (d) => {
    if (cursor) return;
    if ((filter.outcome && d.outcome !== filter.outcome) || (filter.repo && d.repo !== filter.repo) || (filter.provider && d.provider !== filter.provider)) return;
    if (tbody.querySelector(`tr[data-delivery="${CSS.escape(d.id)}"]`)) return;
    const empty = tbody.querySelector("tr.empty");
    if (empty) empty.remove();
    const tr = deliveryRow(d, act);
    tr.classList.add("new");
    tbody.prepend(tr);
    while (tbody.rows.length > LIMIT) tbody.rows[tbody.rows.length - 1].remove();
  };
  const stops = [on("delivery", onDelivery), on("reset", load)];
  return () => stops.forEach((stop) => stop());
}

/** One log entry as a table row (`data-delivery` holds its log id). */
export function deliveryRow(d, act) {
  const headers = Object.entries(d.headers || {});
  const outcome = [badge(d.outcome, `outcome-${d.outcome}`)];
  if (d.reason) outcome.push(h("div", { class: "muted small" }, d.reason));
  if (d.redelivery_of) outcome.push(h("div", { class: "muted small" }, `redelivery of ${d.redelivery_of}`));
  return h(
    "tr",
    { "data-delivery": d.id, "data-outcome": d.outcome },
    h("td", {}, when(d.received_at)),
    h("td", {}, d.provider),
    h("td", {}, d.event || "–"),
    h("td", {}, d.repo || "–"),
    h("td", {}, d.delivery_id ? h("code", {}, d.delivery_id) : "–"),
    h("td", {}, h("span", { class: `verify verify-${d.verification}` }, d.verification)),
    h("td", {}, String(d.status)),
    h("td", {}, outcome),
    h("td", {}, d.job_id ? h("a", { href: `#/jobs/${encodeURIComponent(d.job_id)}` }, d.job_id) : "–"),
    h(
      "td",
      {},
      headers.length
        ? h(
            "details",
            {},
            h("summary", {}, `${headers.length} header${headers.length === 1 ? "" : "s"}`),
            h("dl", { class: "headers" }, headers.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
          )
        : "–",
    ),
    h(
      "td",
      {},
      h(
        "button",
        {
          type: "button",
          disabled: d.body_kept === false,
          title: d.body_kept === false ? "The body of this delivery is not kept" : null,
          "aria-label": `Redeliver ${d.delivery_id || d.id}`,
          onclick: () => act(() => redeliver(d.id, d.delivery_id || d.id)),
        },
        "Redeliver",
      ),
    ),
  );
}
