// The state-changing calls the views share: cancel, retry, reindex, redeliver. Each answers a
// short sentence for the page's status line, or throws an ApiError.

import { api, encodePath } from "./api.js";

export async function cancelJob(id) {
  await api(`/webhooks/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });
  return `Cancel requested for job ${id}.`;
}

export async function retryJob(id) {
  const { body } = await api(`/webhooks/jobs/${encodeURIComponent(id)}/retry`, { method: "POST" });
  return { text: `Job ${id} queued again as ${body.job_id}${body.merged ? " (merged into a queued job)" : ""}.`, jobId: body.job_id };
}

export async function reindex(repo, ref, full) {
  const body = { full };
  if (ref) body.ref = ref;
  const answer = await api(`/webhooks/trigger/${encodePath(repo)}`, { method: "POST", body });
  const kind = full ? "Full reindex" : "Reindex";
  return `${kind} of ${repo}${ref ? ` ${ref}` : ""} queued as job ${answer.body.job_id}${answer.body.merged ? " (merged)" : ""}.`;
}

export async function redeliver(id, label = id) {
  const { status, body } = await api(`/webhooks/deliveries/${encodeURIComponent(id)}/redeliver`, { method: "POST", allow: [401] });
  const what = body && body.status ? body.status : body && body.error ? body.error.code : "answered";
  return `Redelivered ${label}: ${status} ${what}${body && body.job_id ? ` (job ${body.job_id})` : ""}.`;
}

/** Whether a job in `state` can still be cancelled, or retried. */
export const cancellable = (state) => state === "queued" || state === "running";
export const retryable = (state) => state === "failed" || state === "cancelled";
