// Live updates: one EventSource on GET /webhooks/events for the whole page. Views subscribe to
// event types ("job", "delivery", "repo", "reset") and unsubscribe when they are left. The
// browser reconnects by itself and sends Last-Event-ID, so missed events are replayed.

const listeners = new Map(); // type -> Set of functions
let source = null;
let indicator = null;

const TYPES = ["job", "delivery", "repo", "reset"];

/** Opens the stream (once) and shows its state in `statusEl`. */
export function connect(statusEl) {
  indicator = statusEl;
  if (source) return;
  source = new EventSource("/webhooks/events");
  show("connecting", "Connecting…");
  source.addEventListener("open", () => show("open", "Live"));
  source.addEventListener("error", () => {
    if (!source) return;
    if (source.readyState === EventSource.CLOSED) {
      show("closed", "Live updates stopped");
    } else {
      show("connecting", "Reconnecting…");
    }
  });
  for (const type of TYPES) {
    source.addEventListener(type, (event) => {
      let data = {};
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      for (const fn of listeners.get(type) || []) fn(data);
    });
  }
}

/** Closes the stream (logout). */
export function disconnect() {
  if (source) source.close();
  source = null;
  show("closed", "");
}

/** Calls `fn(data)` for each event of `type`; returns the function that stops it. */
export function on(type, fn) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(fn);
  return () => listeners.get(type).delete(fn);
}

function show(state, text) {
  if (!indicator) return;
  indicator.hidden = !text;
  indicator.dataset.state = state;
  indicator.textContent = text;
}

/**
 * `fn` at most once per `ms`, the last call winning: for views that reload a summary after a
 * burst of events.
 */
export function throttle(fn, ms) {
  let timer = null;
  let pending = false;
  return () => {
    if (timer) {
      pending = true;
      return;
    }
    fn();
    timer = setTimeout(function tick() {
      if (pending) {
        pending = false;
        fn();
        timer = setTimeout(tick, ms);
      } else {
        timer = null;
      }
    }, ms);
  };
}
