// The one way the dashboard talks to the gateway: same-origin fetch with the session cookie.
// A 401 on any call means the session is gone: listeners of "unauthorized" show the login.

/** An error answer of the gateway (`{"error":{"code","message"}}`) or a network failure. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const auth = new EventTarget();

/**
 * `api("/webhooks/jobs?state=failed")`, `api(path, {method: "POST", body: {...}})`.
 * Resolves to `{status, body}` (body parsed as JSON, `null` when empty); rejects with an
 * ApiError for any status >= 400.
 */
export async function api(path, { method = "GET", body, allow = [] } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "network", `The gateway did not answer: ${e.message}`);
  }
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { text };
    }
  }
  if (response.status >= 400 && !allow.includes(response.status)) {
    const error = (parsed && parsed.error) || {};
    if (response.status === 401) auth.dispatchEvent(new Event("unauthorized"));
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || `${method} ${path} answered ${response.status}`,
    );
  }
  return { status: response.status, body: parsed };
}

/** Builds `path?k=v&…` from the entries of `params` that are set. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") query.set(k, String(v));
  }
  const s = query.toString();
  return s ? `${path}?${s}` : path;
}

/** Encodes each segment of a repo path for a URL (`a b/c.rs` -> `a%20b/c.rs`). */
export function encodePath(path) {
  return path.split("/").map(encodeURIComponent).join("/");
}
