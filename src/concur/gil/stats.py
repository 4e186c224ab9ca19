"""Medians with spread, percentiles and log-spaced histograms, without numpy.

The machines this runs on are shared and noisy, so every number the lab reports is
the median of repeats, with the minimum and maximum beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and the values themselves: the lab's shape for a repeated measurement."""
    vals = [float(v) for v in values]
    return {
        "median": percentile(vals, 50),
        "min": min(vals) if vals else math.nan,
        "max": max(vals) if vals else math.nan,
        "n": len(vals),
        "values": vals,
    }


def ratio(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """``a / b`` for two spreads: the median ratio, and the widest range the values allow."""
    if not b["median"] or not b["min"]:
        return {"median": math.nan, "min": math.nan, "max": math.nan}
    return {
        "median": a["median"] / b["median"],
        "min": a["min"] / b["max"],
        "max": a["max"] / b["min"],
    }


def log_edges(lo: float, hi: float, per_decade: int = 10) -> list[float]:
    """Bin edges spaced evenly in log10 from ``lo`` to ``hi``."""
    n = max(1, round(math.log10(hi / lo) * per_decade))
    return [lo * (hi / lo) ** (i / n) for i in range(n + 1)]


def histogram(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    """Counts per bin; values outside the edges go to the first or last bin."""
    import bisect

    counts = [0] * (len(edges) - 1)
    last = len(counts) - 1
    for v in values:
        i = bisect.bisect_right(edges, v) - 1
        counts[min(max(i, 0), last)] += 1
    return counts


def latency_summary(samples: Sequence[float], seconds: float) -> dict[str, Any]:
    """Rate and percentiles (seconds) of a list of latencies measured over ``seconds``."""
    return {
        "count": len(samples),
        "rate_per_s": len(samples) / seconds if seconds > 0 else math.nan,
        "p50": percentile(samples, 50),
        "p90": percentile(samples, 90),
        "p99": percentile(samples, 99),
        "max": max(samples) if samples else math.nan,
    }
