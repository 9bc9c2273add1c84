// Charts as inline SVG, drawn from data with createElementNS: no library, no canvas.
// Colours come from CSS classes (series-<key>), so both colour schemes apply.

import { h, svg } from "./dom.js";

/**
 * A stacked bar chart: one bar per point, each split by series.
 * `series`: [{key, label}], `points`: [{label, values: {key: n}}].
 * Returns a figure with the SVG, a legend with each series' total, and a caption.
 */
export function stackedBars({ caption, series, points, width = 720, height = 180 }) {
  const pad = { left: 4, right: 4, top: 8, bottom: 4 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const totals = points.map((p) => series.reduce((sum, s) => sum + (p.values[s.key] || 0), 0));
  const max = Math.max(1, ...totals);
  const top = niceCeil(max);
  const step = plotW / Math.max(1, points.length);
  const barW = Math.max(1, step * 0.8);

  const summary = series
    .map((s) => `${s.label} ${points.reduce((n, p) => n + (p.values[s.key] || 0), 0)}`)
    .join(", ");
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart",
    role: "img",
    "aria-label": `${caption}: ${summary}`,
    preserveAspectRatio: "none",
  });

  // Grid lines at 0, half and the top of the scale (their values are in the HTML below, so
  // text is not stretched with the plot).
  for (const frac of [0, 0.5, 1]) {
    const y = pad.top + plotH - frac * plotH;
    chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "grid" }));
  }

  points.forEach((point, i) => {
    const x = pad.left + i * step + (step - barW) / 2;
    let y = pad.top + plotH;
    const bar = svg("g", { class: "bar" });
    const parts = [];
    for (const s of series) {
      const n = point.values[s.key] || 0;
      if (!n) continue;
      const hgt = (n / top) * plotH;
      y -= hgt;
      bar.append(svg("rect", { x, y, width: barW, height: hgt, class: `series-${s.key}` }));
      parts.push(`${s.label} ${n}`);
    }
    if (parts.length) {
      bar.prepend(svg("title", {}, `${point.label}: ${parts.join(", ")}`));
      chart.append(bar);
    }
  });

  const axis = h(
    "div",
    { class: "chart-axis", "aria-hidden": "true" },
    h("span", {}, points.length ? points[0].label : ""),
    h("span", {}, `scale: 0 to ${top} a minute`),
    h("span", {}, points.length ? points[points.length - 1].label : ""),
  );

  const legend = h(
    "ul",
    { class: "legend" },
    series.map((s) =>
      h(
        "li",
        {},
        h("span", { class: `swatch series-${s.key}`, "aria-hidden": "true" }),
        `${s.label}: `,
        h("strong", {}, String(points.reduce((n, p) => n + (p.values[s.key] || 0), 0))),
      ),
    ),
  );
  return h("figure", { class: "chart-figure" }, chart, axis, legend, h("figcaption", {}, caption));
}

/** A horizontal bar with a label and a value, for counts such as jobs by state. */
export function meter(label, value, max, cls) {
  const bar = svg("svg", { viewBox: "0 0 100 8", class: "meter", "aria-hidden": "true", preserveAspectRatio: "none" });
  bar.append(svg("rect", { x: 0, y: 0, width: 100, height: 8, class: "meter-track" }));
  const w = max > 0 ? (value / max) * 100 : 0;
  bar.append(svg("rect", { x: 0, y: 0, width: w, height: 8, class: cls }));
  return h("div", { class: "meter-row" }, h("span", { class: "meter-label" }, label), bar, h("strong", {}, String(value)));
}

function niceCeil(n) {
  if (n <= 4) return 4;
  const magnitude = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) {
    if (n <= m * magnitude) return m * magnitude;
  }
  return n;
}
