"""Stats for alternated A/B runs: medians, spread, ratio of medians, per-pair ratios."""
import statistics


def summarize(name, a, b, unit, higher_is_better):
    ma, mb = statistics.median(a), statistics.median(b)
    pair = sorted(y / x for x, y in zip(a, b))
    spread_a = (max(a) - min(a)) / ma * 100
    spread_b = (max(b) - min(b)) / mb * 100
    return {"name": name, "unit": unit, "n": len(a), "higher_is_better": higher_is_better,
            "baseline_median": ma, "current_median": mb, "ratio": mb / ma,
            "baseline_min": min(a), "baseline_max": max(a), "current_min": min(b), "current_max": max(b),
            "spread_a_pct": spread_a, "spread_b_pct": spread_b,
            "pair_ratio_median": statistics.median(pair), "pair_ratio_min": pair[0], "pair_ratio_max": pair[-1],
            "a": a, "b": b}


def line(s):
    return (f"{s['name']:34} n={s['n']} base {s['baseline_median']:10.2f} [{s['baseline_min']:.2f}-{s['baseline_max']:.2f}] "
            f"cur {s['current_median']:10.2f} [{s['current_min']:.2f}-{s['current_max']:.2f}] {s['unit']} "
            f"ratio {s['ratio']:.3f} pairs {s['pair_ratio_min']:.3f}..{s['pair_ratio_max']:.3f} (med {s['pair_ratio_median']:.3f})")
