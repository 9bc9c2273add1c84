// Jobs: filter by state and repo, cursor paging, rows kept current by `job` events without a
// reload (a row is replaced in place; a new job matching the filter appears on the first page).

import { api, withQuery } from "../api.js";
import { cancelJob, cancellable, retryable, retryJob } from "../actions.js";
import { badge, between, duration, field, h, notice, replace, shortRef, table, when, statusLine } from "../dom.js";
import { on } from "../events.js";

export const STATES = ["queued", "running", "succeeded", "failed", "cancelled", "superseded"];
const LIMIT = 50;

export function render(main, route) {
  const filter = { state: route.query.get("state") || "", repo: route.query.get("repo") || "" };
  const cursor = route.query.get("cursor") || "";
  const { el: message, say, act } = statusLine();

  const stateSelect = h(
    "select",
    { name: "state" },
    h("option", { value: "" }, "Any state"),
    STATES.map((s) => h("option", { value: s, selected: s === filter.state }, s)),
  );
  const repoSelect = h("select", { name: "repo" }, h("option", { value: "" }, "Any repo"));
  if (filter.repo) repoSelect.append(h("option", { value: filter.repo, selected: true }, filter.repo));
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter jobs" },
    field("State", stateSelect),
    field("Repo", repoSelect),
    h("button", { type: "submit" }, "Filter"),
  );
  const go = (params) => {
    location.hash = withQuery("#/jobs", params);
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    go({ state: stateSelect.value, repo: repoSelect.value });
  });
  stateSelect.addEventListener("change", () => go({ state: stateSelect.value, repo: repoSelect.value }));
  repoSelect.addEventListener("change", () => go({ state: stateSelect.value, repo: repoSelect.value }));

  const { wrap, tbody } = table("Jobs, newest first", ["Job", "Repo", "Ref", "State", "Trigger", "Created", "Took", "Progress", "Error or note", "Actions"]);
  const pager = h("nav", { class: "pager", "aria-label": "Pages of jobs" });
  main.append(h("h1", {}, "Jobs"), form, message, wrap, pager);


  api("/repos")
    .then(({ body }) => {
      for (const repo of body.repos || []) {
        if (repo.repo !== filter.repo) repoSelect.append(h("option", { value: repo.repo }, repo.repo));
      }
    })
    .catch(() => {});

  const rows = new Map();
  const shown = new Map(); // job id -> the job JSON its row shows
  const load = async () => {
    try {
      const { body } = await api(withQuery("/webhooks/jobs", { ...filter, limit: LIMIT, cursor }));
      tbody.replaceChildren();
      rows.clear();
      shown.clear();
      for (const job of body.jobs || []) {
        shown.set(job.id, job);
        const tr = jobRow(job, act);
        rows.set(job.id, tr);
        tbody.append(tr);
      }
      if (!(body.jobs || []).length) tbody.append(h("tr", { class: "empty" }, h("td", { colspan: 10 }, "No jobs.")));
      replace(
        pager,
        cursor ? h("a", { href: withQuery("#/jobs", filter) }, "First page") : null,
        body.next_cursor ? h("a", { href: withQuery("#/jobs", { ...filter, cursor: body.next_cursor }) }, "Older jobs") : null,
      );
    } catch (e) {
      say("error", e.message);
    }
  };
  load();

  const onJob = (job) => {
    if (isStale(shown.get(job.id), job)) return;
    shown.set(job.id, job);
    const old = rows.get(job.id);
    const matches = (!filter.state || filter.state === job.state) && (!filter.repo || filter.repo === job.repo);
    if (old) {
      if (matches || !filter.state) {
        const tr = jobRow(job, act);
        old.replaceWith(tr);
        rows.set(job.id, tr);
      } else {
        // Left the filtered state: keep the row, updated, so the page does not jump.
        const tr = jobRow(job, act);
        tr.classList.add("stale");
        old.replaceWith(tr);
        rows.set(job.id, tr);
      }
      return;
    }
    if (cursor || !matches) return;
    const empty = tbody.querySelector("tr.empty");
    if (empty) empty.remove();
    const tr = jobRow(job, act);
    tr.classList.add("new");
    rows.set(job.id, tr);
    tbody.prepend(tr);
    while (tbody.rows.length > LIMIT) {
      const last = tbody.rows[tbody.rows.length - 1];
      rows.delete(last.dataset.jobId);
      last.remove();
    }
  };
  const stops = [on("job", onJob), on("reset", load)];
  return () => stops.forEach((stop) => stop());
}

const STAGE = { queued: 0, running: 1 }; // any other state is an end (2)

/**
 * Whether `next` is older news than `shown` for the same job: events of one job can arrive out
 * of order (a worker's claim may be published before the enqueue that preceded it), so a
 * `queued` after `running` of the same attempt is ignored. A new attempt (a retried transient
 * failure goes back to `queued`) is always news.
 */
export function isStale(shown, next) {
  if (!shown) return false;
  const stage = (job) => STAGE[job.state] ?? 2;
  if ((next.attempts ?? 0) !== (shown.attempts ?? 0)) return (next.attempts ?? 0) < (shown.attempts ?? 0);
  return stage(next) < stage(shown);
}

/** One job as a table row (`data-job-id`, `data-state`). */
export function jobRow(job, act) {
  const p = job.progress || {};
  const progress = `${p.files_changed || 0} changed, ${p.files_deleted || 0} deleted, +${p.chunks_added || 0}/−${p.chunks_removed || 0} chunks`;
  return h(
    "tr",
    { "data-job-id": job.id, "data-state": job.state },
    h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(job.id)}` }, job.id)),
    h("td", {}, job.repo),
    h("td", {}, h("code", {}, shortRef(job.ref))),
    h("td", {}, badge(job.state)),
    h("td", {}, job.trigger, job.full ? " (full)" : ""),
    h("td", { class: "nowrap" }, when(job.created_at)),
    h("td", { class: "nowrap" }, job.started_at ? duration(between(job.started_at, job.finished_at)) : "–"),
    h("td", {}, progress),
    h("td", { class: job.error ? "error-text" : "muted" }, job.error || job.note || ""),
    h("td", {}, jobButtons(job, act)),
  );
}

/** Cancel and Retry for a job, as its state allows. */
export function jobButtons(job, act, onRetried) {
  const out = [];
  if (cancellable(job.state)) {
    out.push(h("button", { type: "button", class: "danger", "aria-label": `Cancel job ${job.id}`, onclick: () => act(() => cancelJob(job.id)) }, "Cancel"));
  }
  if (retryable(job.state)) {
    out.push(
      h(
        "button",
        {
          type: "button",
          "aria-label": `Retry job ${job.id}`,
          onclick: () =>
            act(async () => {
              const result = await retryJob(job.id);
              if (onRetried) onRetried(result.jobId);
              return result;
            }),
        },
        "Retry",
      ),
    );
  }
  return h("div", { class: "actions" }, out);
}
