"""The summary of a run, computed from its records alone, for terminals and for JSON.

The ideal time comes from Little's law: with C requests in flight and each taking
D seconds, N requests need ``ceil(N / C) * D`` seconds at best.  *Efficiency* is that
ideal over the measured wall time — 1.0 means the engine added nothing but the wait;
JSON keeps the fraction, the terminal prints it as a percentage.  With drawn latencies
(``--latency``) the ideal is computed from the very delays the seeded server will give
each URL (:func:`ideal_of_delays`).

A run stopped by Ctrl-C or SIGTERM is summarised from the records it finished, with
``interrupted`` set (``{"signal": "SIGINT", "resume": COMMAND or None}``; None for a
run that was not stopped) and printed first.

A URL that robots.txt kept the crawl from fetching is a record with error kind
``robots``: it is not OK, but it is not a failed request either, so the summary counts
it apart (``robots_skipped``, and ``failed_requests`` for the rest of ``failed``).
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from concur.records import CrawlResult, ErrorKind


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of a sorted list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def ideal_seconds(n: int, concurrency: int, delay_s: float) -> float:
    """Little's-law lower bound for ``n`` requests of ``delay_s`` at ``concurrency``."""
    if n == 0:
        return 0.0
    return math.ceil(n / max(1, concurrency)) * delay_s


def ideal_of_delays(delays_s: Sequence[float], concurrency: int) -> float:
    """The ideal with drawn latencies: ``concurrency`` slots take the requests in order,
    each as soon as a slot is free, and nothing costs anything but the wait itself."""
    slots = [0.0] * max(1, min(concurrency, len(delays_s)))
    for delay in delays_s:
        heapq.heapreplace(slots, slots[0] + delay)
    return max(slots) if delays_s else 0.0


def summarize(
    result: CrawlResult,
    *,
    ideal_s: float | None = None,
    server_peak_in_flight: int | None = None,
) -> dict[str, Any]:
    """The run's summary as a JSON-ready dict (the keys ``concur crawl --json`` prints)."""
    records = result.records
    n = len(records)
    ok = result.ok
    errors = Counter(str(r.error) for r in records if r.error is not None)
    skipped = errors.get(str(ErrorKind.ROBOTS), 0)
    latencies = sorted(r.elapsed * 1e3 for r in records if r.attempts > 0)
    wall = result.wall_s
    return {
        "impl": result.engine,
        # how the engine was configured where it has a choice (tornado's client, httpx's
        # transport): scalars only, so the summary stays JSON
        "variant": {k: v for k, v in result.extra.items() if isinstance(v, str | int | float)},
        "requests": n,
        "ok": ok,
        "failed": n - ok,  # every record that is not OK, robots.txt's skips included
        "failed_requests": n - ok - skipped,
        "robots_skipped": skipped,
        "errors": dict(sorted(errors.items())),
        "statuses": {
            str(k): v for k, v in sorted(Counter(r.status for r in records if r.status).items())
        },
        "attempts": sum(r.attempts for r in records),
        "bytes": sum(r.nbytes for r in records),
        "concurrency": result.config.concurrency if _concurrent(result.engine) else 1,
        "wall_s": round(wall, 4),
        "ideal_s": None if ideal_s is None else round(ideal_s, 4),
        "efficiency": None if not ideal_s or wall <= 0 else round(ideal_s / wall, 4),
        "req_per_s": round(n / wall, 1) if wall > 0 else 0.0,
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 2),
            "p95": round(percentile(latencies, 95), 2),
            "p99": round(percentile(latencies, 99), 2),
            "max": round(latencies[-1], 2) if latencies else 0.0,
        },
        "cpu_s": round(result.cpu_s, 4),
        "cpu_us_per_request": round(result.cpu_s / n * 1e6, 1) if n else 0.0,
        "peak_rss_mb": round(result.peak_rss_mb, 1),
        "client_peak_in_flight": result.peak_in_flight,
        "server_peak_in_flight": server_peak_in_flight,  # None: no server of ours to ask
        "peak_in_flight": server_peak_in_flight
        if server_peak_in_flight is not None
        else result.peak_in_flight,
        "interrupted": None,  # the command sets it when Ctrl-C or SIGTERM stopped the run
    }


def render(summary: dict[str, Any]) -> str:
    """A short human summary (plain text; the CLI adds colour when on a terminal)."""
    s = summary
    stop = s.get("interrupted")
    lines = [f"INTERRUPTED by {stop['signal']}: what was done before it"] if stop else []
    lines += [
        f"engine      {s['impl']}{_variant(s)}  (concurrency {s['concurrency']})",
        f"requests    {s['requests']}: {_outcomes(s)}",
        f"wall        {s['wall_s']:.3f} s   {s['req_per_s']:,.0f} requests/s",
    ]
    if s["ideal_s"] is not None and s["efficiency"] is not None:
        lines.append(f"ideal       {s['ideal_s']:.3f} s   efficiency {s['efficiency']:.1%}")
    elif s["ideal_s"] is not None:  # no delay: nothing to wait for, so no ideal to reach
        lines.append(f"ideal       {s['ideal_s']:.3f} s   (no waiting: wall time is CPU)")
    if s.get("budget_ms"):
        from concur.budget import describe

        lines.append(f"lost        {describe(s['budget_ms'])}")
    lat = s["latency_ms"]
    lines += [
        f"latency     p50 {lat['p50']:.1f} ms   p95 {lat['p95']:.1f} ms   p99 {lat['p99']:.1f} ms",
        f"client cpu  {s['cpu_s']:.3f} s   {s['cpu_us_per_request']:,.0f} µs/request",
        f"memory      peak RSS {s['peak_rss_mb']:.1f} MiB",
        _in_flight(s),
    ]
    return "\n".join(lines)


def _outcomes(s: dict[str, Any]) -> str:
    """``145 ok, 12 failed (http 12), 8 skipped by robots.txt``: skips are not failures."""
    skipped = s.get("robots_skipped", 0)
    failed = s["failed"] - skipped
    kinds = {k: v for k, v in s["errors"].items() if k != str(ErrorKind.ROBOTS)}
    text = f"{s['ok']} ok, {failed} failed" + (f" {_kinds(kinds)}" if kinds else "")
    return text + (f", {skipped} skipped by robots.txt" if skipped else "")


def _in_flight(s: dict[str, Any]) -> str:
    """Peak requests in flight, and what capped them when it was not ``-c``."""
    if s.get("server_peak_in_flight") is not None:
        text = f"in flight   peak {s['server_peak_in_flight']} (server)   "
        text += f"{s['client_peak_in_flight']} (client)"
    else:
        text = f"in flight   peak {s['client_peak_in_flight']} (client)"
    limit = s.get("concurrency_limit")
    if limit:
        text += f" — limited by {limit['by']}"
    return text


def _variant(s: dict[str, Any]) -> str:
    variant = s.get("variant") or {}
    return "".join(f", {k} {v}" for k, v in variant.items() if isinstance(v, str))


def _concurrent(engine: str) -> bool:
    from concur.engines import ENGINES

    spec = ENGINES.get(engine)
    return spec is None or spec.concurrent


def _kinds(errors: dict[str, int]) -> str:
    return "(" + ", ".join(f"{k} {v}" for k, v in errors.items()) + ")"
