// One job: its state, attempts, progress, error, the deliveries folded into it
// (GET /webhooks/deliveries?job=<id>); Cancel and Retry. Kept current by `job` and
// `delivery` events.

import { api, withQuery } from "../api.js";
import { badge, between, duration, h, notice, replace, shortCommit, table, when, statusLine } from "../dom.js";
import { on } from "../events.js";
import { isStale, jobButtons } from "./jobs.js";
import { deliveryRow, DELIVERY_HEADERS } from "./deliveries.js";

export function render(main, route) {
  const id = route.parts[1];
  const heading = h("h1", {}, `Job ${id}`);
  const { el: message, say, act } = statusLine(() => loadJob()); // shows the effect before its event
  const details = h("div", { class: "job-details" });
  const { wrap, tbody } = table(`Deliveries folded into job ${id}`, DELIVERY_HEADERS, { hideCaption: false });
  const deliveriesMessage = h("div");
  main.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "Jobs"), " / ", id),
    heading,
    message,
    details,
    h("h2", {}, "Deliveries"),
    deliveriesMessage,
    wrap,
  );

  let current = null;
  const show = (job) => {
    current = job;
    replace(details, ...jobDetails(job, act));
  };

  const loadJob = async () => {
    try {
      show((await api(`/webhooks/jobs/${encodeURIComponent(id)}`)).body);
    } catch (e) {
      say("error", e.status === 404 ? `There is no job ${id}.` : e.message);
    }
  };
  const loadDeliveries = async () => {
    try {
      const { body } = await api(withQuery("/webhooks/deliveries", { job: id, limit: 100 }));
      tbody.replaceChildren();
      for (const d of body.deliveries || []) tbody.append(deliveryRow(d, act));
      if (!(body.deliveries || []).length) {
        tbody.append(h("tr", {}, h("td", { colspan: DELIVERY_HEADERS.length }, "No delivery made or joined this job (a manual, reconcile or retry job).")));
      }
      replace(deliveriesMessage);
    } catch (e) {
      replace(deliveriesMessage, notice("error", e.message));
    }
  };
  loadJob();
  loadDeliveries();
  const stops = [
    on("job", (job) => {
      if (job.id === id && !isStale(current, job)) show(job);
    }),
    on("delivery", (d) => {
      if (d.job_id === id) loadDeliveries();
    }),
    on("reset", () => {
      loadJob();
      loadDeliveries();
    }),
  ];
  return () => stops.forEach((stop) => stop());
}

function jobDetails(job, act) {
  const p = job.progress || {};
  const row = (term, value) => [h("dt", {}, term), h("dd", {}, value)];
  const list = h(
    "dl",
    { class: "facts" },
    row("State", [badge(job.state), job.cancel_requested && job.state === "running" ? " (cancel requested)" : ""]),
    row("Repo", job.repo),
    row("Ref", h("code", {}, job.ref)),
    job.fetch_ref ? row("Fetched ref", h("code", {}, job.fetch_ref)) : null,
    row("Commit", shortCommit(job.commit)),
    row("Kind", `${job.kind}${job.full ? " (full)" : ""}`),
    row("Trigger", job.trigger),
    row("Provider", job.provider || "–"),
    row("Delivery id", job.delivery_id ? h("code", {}, job.delivery_id) : "–"),
    row("Attempts", String(job.attempts ?? 0)),
    row("Requests folded in", String(job.coalesced ?? 0)),
    row("Created", when(job.created_at)),
    row("Started", when(job.started_at)),
    row("Finished", when(job.finished_at)),
    row("Took", job.started_at ? duration(between(job.started_at, job.finished_at)) : "–"),
    job.note ? row("Note", job.note) : null,
  );
  const progress = h(
    "dl",
    { class: "facts progress", "aria-label": "Progress" },
    row("Files seen", String(p.files_seen || 0)),
    row("Files changed", String(p.files_changed || 0)),
    row("Files deleted", String(p.files_deleted || 0)),
    row("Chunks added", String(p.chunks_added || 0)),
    row("Chunks removed", String(p.chunks_removed || 0)),
  );
  return [
    jobButtons(job, act, (newId) => {
      if (newId && newId !== job.id) location.hash = `#/jobs/${encodeURIComponent(newId)}`;
    }),
    h(
      "div",
      { class: "columns" },
      h("section", { "aria-label": "Facts" }, list),
      h("section", { "aria-labelledby": "progress-title" }, h("h2", { id: "progress-title" }, "Progress"), progress),
    ),
    job.error ? [h("h2", {}, "Error"), h("pre", { class: "error-text", role: "alert" }, job.error)] : null,
  ];
}
