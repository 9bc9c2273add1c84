// Overview: jobs by state, deliveries per minute (accepted against refused by cause),
// push-to-searchable latency, workers and index size, from GET /webhooks/status. Reloaded
// (at most every 2 s) when a job or delivery event arrives, and every minute for the chart.

import { api } from "../api.js";
import { meter, stackedBars } from "../chart.js";
import { bytes, duration, h, notice, replace } from "../dom.js";
import { on, throttle } from "../events.js";

const STATES = ["queued", "running", "succeeded", "failed", "cancelled", "superseded"];

const SERIES = [
  { key: "accepted", label: "Accepted" },
  { key: "duplicate", label: "Duplicate" },
  { key: "ignored", label: "Ignored" },
  { key: "bad_signature", label: "Bad signature" },
  { key: "unknown_repo", label: "Unknown repo" },
  { key: "too_large", label: "Too large" },
  { key: "malformed", label: "Malformed" },
  { key: "other", label: "Other refusal" },
];

export function render(main) {
  const body = h("div", { class: "cards" });
  const message = h("div");
  main.append(h("h1", {}, "Overview"), message, body);

  const load = async () => {
    try {
      const { body: status } = await api("/webhooks/status");
      replace(message);
      replace(body, ...cards(status));
    } catch (e) {
      replace(message, notice("error", e.message));
    }
  };
  const reload = throttle(load, 2000);
  load();
  const stops = [on("job", reload), on("delivery", reload), on("reset", reload)];
  const minute = setInterval(load, 60000);
  return () => {
    stops.forEach((stop) => stop());
    clearInterval(minute);
  };
}

function cards(status) {
  const jobs = status.jobs || {};
  const max = Math.max(1, ...STATES.map((s) => jobs[s] || 0));
  const workers = status.workers || {};
  const index = status.index || {};
  const latency = status.push_to_searchable_ms;
  const out = [
    card(
      "Jobs by state",
      h(
        "div",
        { class: "meters" },
        STATES.map((s) => {
          const link = h("a", { href: `#/jobs?state=${s}` }, s);
          return meter(link, jobs[s] || 0, max, `state-fill-${s}`);
        }),
      ),
    ),
    card(
      "Workers",
      h("p", { class: "big" }, `${workers.busy ?? "–"} busy`),
      h("p", { class: "muted" }, `${workers.up ?? "–"} up of ${workers.configured ?? "–"} configured`),
    ),
    card(
      "Push to searchable (last hour)",
      latency
        ? [
            h("p", { class: "big" }, `p50 ${duration(latency.p50)}`),
            h("p", {}, `p95 ${duration(latency.p95)}`),
            h("p", { class: "muted" }, `${latency.count} webhook job${latency.count === 1 ? "" : "s"} succeeded`),
          ]
        : h("p", { class: "muted" }, "Not reported by this gateway."),
    ),
    card(
      "Index",
      h("p", { class: "big" }, index.bytes !== undefined ? bytes(index.bytes) : "–"),
      h("p", { class: "muted" }, `${plural(index.chunks ?? status.indexed_chunks, "chunk")} in ${plural(status.repos, "repo")}`),
    ),
  ];
  const perMinute = status.deliveries_per_minute;
  out.push(
    card(
      "Deliveries per minute (last hour)",
      Array.isArray(perMinute)
        ? stackedBars({ caption: "Deliveries per minute, accepted and refused by cause", series: SERIES, points: perMinute.map(point) })
        : h("p", { class: "muted" }, "Not reported by this gateway."),
      "wide",
    ),
  );
  return out;
}

function point(minute) {
  const refused = minute.refused || {};
  const label = minute.minute ? new Date(minute.minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  return {
    label,
    values: {
      accepted: minute.accepted || 0,
      duplicate: minute.duplicate || 0,
      ignored: minute.ignored || 0,
      bad_signature: (refused.invalid_signature || 0) + (refused.missing_signature || 0),
      unknown_repo: refused.unknown_repo || 0,
      too_large: refused.too_large || 0,
      malformed: refused.malformed || 0,
      other: refused.other || 0,
    },
  };
}

function plural(n, word) {
  if (n === undefined || n === null) return `– ${word}s`;
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function card(title, ...content) {
  const wide = content[content.length - 1] === "wide";
  if (wide) content.pop();
  return h("section", { class: wide ? "card wide" : "card", "aria-label": title }, h("h2", {}, title), content);
}
