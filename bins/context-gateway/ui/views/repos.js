// Repos: the freshness board (GET /repos). Every repo and ref with its indexed commit against
// the newest commit heard of, lag, last job and last error; Reindex (incremental or full) and
// Cancel of the running job. A `repo` event replaces a repo's rows; a `job` event reloads them.

import { api, encodePath } from "../api.js";
import { cancelJob, cancellable, reindex } from "../actions.js";
import { badge, duration, h, notice, replace, shortCommit, table, statusLine } from "../dom.js";
import { on } from "../events.js";

export function render(main) {
  const { el: message, say, act } = statusLine();
  const { wrap, tbody } = table("Repos and refs with their freshness", [
    "Repo",
    "Ref",
    "Indexed",
    "Newest heard",
    "Status",
    "Lag",
    "Last job",
    "Last error",
    "Actions",
  ]);
  main.append(h("h1", {}, "Repos"), message, wrap);
  const rows = new Map(); // repo -> [tr…]
  const pending = new Map(); // repo -> timer


  const put = (repo) => {
    const fresh = repoRows(repo, act);
    const old = rows.get(repo.repo);
    if (old && old.length) {
      old[0].before(...fresh);
      old.forEach((tr) => tr.remove());
    } else {
      tbody.append(...fresh);
    }
    rows.set(repo.repo, fresh);
  };

  const load = async () => {
    try {
      const { body } = await api("/repos");
      tbody.replaceChildren();
      rows.clear();
      for (const repo of body.repos || []) put(repo);
      if (!(body.repos || []).length) tbody.append(h("tr", {}, h("td", { colspan: 9 }, "No repos are configured.")));
    } catch (e) {
      say("error", e.message);
    }
  };
  const reloadRepo = (name) => {
    if (pending.has(name)) return;
    pending.set(
      name,
      setTimeout(async () => {
        pending.delete(name);
        try {
          const { body } = await api(`/repos/${encodePath(name)}`);
          put(body);
        } catch {
          // The next event or a reload will catch up.
        }
      }, 500),
    );
  };
  load();
  const stops = [
    on("repo", (repo) => put(repo)),
    on("job", (job) => reloadRepo(job.repo)),
    on("reset", load),
  ];
  return () => {
    stops.forEach((stop) => stop());
    pending.forEach((timer) => clearTimeout(timer));
  };
}

function repoRows(repo, act) {
  const refs = repo.refs && repo.refs.length ? repo.refs : [null];
  return refs.map((ref, i) => {
    const tr = h("tr", { "data-repo": repo.repo, "data-ref": ref ? ref.ref : "" });
    const name = i === 0 ? h("th", { scope: "row" }, repo.repo) : h("td", { class: "muted" }, "");
    if (!ref) {
      tr.append(
        name,
        h("td", { colspan: 7, class: "muted" }, "Nothing indexed yet."),
        h("td", {}, buttons(repo.repo, null, null, act)),
      );
      return tr;
    }
    const job = ref.last_job;
    const status = ref.deleted
      ? badge("deleted")
      : !ref.indexed_commit
        ? badge("not indexed", "state-failed")
        : ref.up_to_date
        ? badge("up to date", "state-succeeded")
        : badge("behind", "state-queued");
    const lag = [];
    if (ref.lag_seconds) lag.push(duration(ref.lag_seconds * 1000));
    if (ref.lag_commits) lag.push(`${ref.lag_commits} commit${ref.lag_commits === 1 ? "" : "s"}`);
    tr.append(
      name,
      h("td", {}, h("code", {}, ref.ref)),
      h("td", {}, shortCommit(ref.indexed_commit)),
      h("td", {}, shortCommit(ref.newest_commit_heard)),
      h("td", {}, status),
      h("td", {}, lag.length ? lag.join(", ") : ref.up_to_date && ref.indexed_commit ? "none" : "–"),
      h("td", {}, job ? [h("a", { href: `#/jobs/${encodeURIComponent(job.id)}` }, job.id), " ", badge(job.state)] : "–"),
      h("td", { class: "error-text" }, ref.last_error || ""),
      h("td", {}, buttons(repo.repo, ref.ref, job, act)),
    );
    return tr;
  });
}

function buttons(repo, ref, job, act) {
  const label = ref ? `${repo} ${ref}` : repo;
  const out = [
    h("button", { type: "button", "aria-label": `Reindex ${label}`, onclick: () => act(() => reindex(repo, ref, false)) }, "Reindex"),
    h("button", { type: "button", "aria-label": `Full reindex of ${label}`, onclick: () => act(() => reindex(repo, ref, true)) }, "Full"),
  ];
  if (job && cancellable(job.state)) {
    out.push(
      h("button", { type: "button", class: "danger", "aria-label": `Cancel job ${job.id} of ${label}`, onclick: () => act(() => cancelJob(job.id)) }, "Cancel"),
    );
  }
  return h("div", { class: "actions" }, out);
}
