"""Experiment 2, the convoy effect: what CPU-bound neighbours do to an I/O thread.

One thread plays socket ping-pong with an echo server in another process (so the
server never waits for our GIL) and times every round trip.  Beside it run 0, 1 or 2
pure-Python CPU-bound threads; or 1 or 2 CPU-bound *processes* instead; or, in a
fresh interpreter pinned to one core with ``os.sched_setaffinity``, 0 or 1 CPU thread.

Each blocking ``send``/``recv`` releases the GIL; a CPU-bound thread takes it at once,
and the I/O thread, whose answer is already there, gets it back only when the CPU
thread is forced to drop it — after the switch interval (5 ms by default).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from concur.gil import stats, workloads
from concur.gil.experiments import Check, switch_interval

if TYPE_CHECKING:
    from concur.gil.lab import Lab

VARIANTS: dict[str, str] = {
    "threads-0": "no CPU thread",
    "threads-1": "1 CPU thread",
    "threads-2": "2 CPU threads",
    "processes-1": "1 CPU process",
    "processes-2": "2 CPU processes",
    "pinned-0": "one core, no CPU thread",
    "pinned-1": "one core, 1 CPU thread",
}

EDGES = stats.log_edges(2e-6, 1.0, per_decade=12)  # round-trip histogram bins, seconds

EXPLAIN = (
    "What you should see, and why: alone, the I/O thread's round trips take well under a "
    "millisecond.  Beside one CPU-bound thread it makes several times fewer of them — often "
    "one to two orders of magnitude fewer, though the size of the drop swings from run to "
    "run — and beside two, fewer still.  Every send and recv lets the GIL go; if the CPU "
    "thread grabs it, the I/O thread, whose answer is already there, gets it back only when "
    "the CPU thread is forced off after the switch interval.  So a round trip takes either "
    "microseconds (the I/O thread won the GIL back first) or about one or more whole "
    "intervals, and most of the I/O thread's time goes to the slow ones: the time-weighted "
    "histogram peaks at multiples of the switch interval.  A CPU-bound process has a GIL of "
    "its own and competes only for a core: round trips stay about as fast as alone, or "
    "faster (a busy core does not doze off between packets); two processes on two cores "
    "take the cores the I/O thread and the echo peer need.  Pinned "
    "to one core, a CPU thread still slows the I/O thread down, but the OS scheduler decides "
    "who runs when a packet arrives and the numbers swing from run to run: compare the "
    "pinned bars with each other, not with the two-core ones."
)


def slow_share(cell: dict[str, Any], edges: list[float], threshold: float) -> float:
    """The share of a variant's round-trip time spent in round trips of ``threshold`` or more
    (from its histogram, each bin counted at its geometric centre)."""
    centres = [(a * b) ** 0.5 for a, b in zip(edges, edges[1:], strict=False)]
    spent = [n * c for n, c in zip(cell["histogram"], centres, strict=True)]
    total = sum(spent)
    slow = sum(s for s, c in zip(spent, centres, strict=True) if c >= threshold)
    return slow / total if total else 0.0


def check(result: dict[str, Any]) -> list[Check]:
    """The text's expectations against one run (see :mod:`concur.gil.experiments`)."""
    if result.get("skipped"):
        return []
    cells = result["cells"]
    interval = switch_interval(result)

    def rate(key: str) -> float:
        return float(cells[key]["rate_per_s"]["median"])

    alone, one, two = rate("threads-0"), rate("threads-1"), rate("threads-2")
    p50 = cells["threads-0"]["p50"]
    share = slow_share(cells["threads-1"], result["edges"], interval / 2)
    checks = [
        Check(
            "alone, a round trip takes well under a millisecond (p50 under 1 ms)",
            f"p50 {p50 * 1e3:.3f} ms, {alone:,.0f} round trips/s",
            p50 < 1e-3,
        ),
        Check(
            "beside one CPU thread, several times fewer round trips (at most 1/3 of alone)",
            f"{one:,.0f}/s against {alone:,.0f}/s alone: {_fraction(one, alone)}",
            one <= alone / 3,
        ),
        Check(
            "beside two CPU threads, fewer still",
            f"{two:,.0f}/s against {one:,.0f}/s beside one",
            two < one,
        ),
        Check(
            "beside one CPU thread, most of the I/O thread's time goes to round trips of "
            f"half a switch interval or more (over 50 % of it; {interval * 1e3:g} ms interval)",
            f"{share:.0%} of it",
            share > 0.5,
        ),
    ]
    if "processes-1" in cells:
        proc = rate("processes-1")
        checks.append(
            Check(
                "beside one CPU process, round trips stay about as fast as alone (at least "
                "half the rate)",
                f"{proc:,.0f}/s against {alone:,.0f}/s alone",
                proc >= alone / 2,
            )
        )
    if "pinned-0" in cells and "pinned-1" in cells:
        p0, p1 = rate("pinned-0"), rate("pinned-1")
        checks.append(
            Check(
                "pinned to one core, a CPU thread still slows the I/O thread (at most half "
                "the rate)",
                f"{p1:,.0f}/s against {p0:,.0f}/s pinned alone",
                p1 <= p0 / 2,
            )
        )
    return checks


def _fraction(part: float, whole: float) -> str:
    """``1/32`` for a small ratio, ``0.61x`` for a large one."""
    if part <= 0 or whole <= 0:
        return "n/a"
    ratio = part / whole
    return f"1/{1 / ratio:,.0f}" if ratio < 0.5 else f"{ratio:.2f}x"


def measure(address: tuple[str, int], seconds: float, cpu_threads: int) -> dict[str, Any]:
    """Ping-pong for ``seconds`` beside ``cpu_threads`` spinning threads; summary and histogram."""
    neighbours = workloads.CpuThreads(cpu_threads) if cpu_threads else contextlib.nullcontext()
    with neighbours:
        rtts = workloads.ping_pong(address, seconds)
    out = stats.latency_summary(rtts, seconds)
    out["histogram"] = stats.histogram(rtts, EDGES)
    return out


def pinned_cells(job: dict[str, Any]) -> dict[str, Any]:
    """(In a fresh child.)  Pin this process to one CPU, then measure each variant."""
    if not hasattr(os, "sched_setaffinity"):
        return {"unavailable": "os.sched_setaffinity is not available on this platform"}
    os.sched_setaffinity(0, {job["cpu"]})
    address = (job["address"][0], job["address"][1])
    out: dict[str, list[dict[str, Any]]] = {}
    for _ in range(job["repeats"]):
        for n in job["cpu_threads"]:
            out.setdefault(str(n), []).append(measure(address, job["seconds"], n))
    return {"cells": out, "affinity": sorted(os.sched_getaffinity(0))}


def _combine(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Repeats of one variant: rates as median with spread, percentiles as medians, summed bins."""
    return {
        "rate_per_s": stats.spread([c["rate_per_s"] for c in cells]),
        "p50": stats.percentile([c["p50"] for c in cells], 50),
        "p90": stats.percentile([c["p90"] for c in cells], 50),
        "p99": stats.percentile([c["p99"] for c in cells], 50),
        "max": max(c["max"] for c in cells),
        "count": sum(c["count"] for c in cells),
        "histogram": [sum(col) for col in zip(*(c["histogram"] for c in cells), strict=True)],
    }


def run(lab: Lab) -> dict[str, Any]:
    from concur.gil.lab import run_child

    p = {"seconds": lab.pick(0.2, 1.5), "repeats": lab.pick(2, 3)}
    address = lab.echo()
    measure(address, 0.05, 0)  # warm up the connection path
    cells: dict[str, list[dict[str, Any]]] = {}
    for _ in range(p["repeats"]):
        for n in (0, 1, 2):
            cells.setdefault(f"threads-{n}", []).append(measure(address, p["seconds"], n))
        for n in (1, 2):
            with workloads.cpu_processes(n, lab.mp()):
                cells.setdefault(f"processes-{n}", []).append(measure(address, p["seconds"], 0))
    unavailable: dict[str, str] = {}
    if hasattr(os, "sched_getaffinity"):
        job = {
            "kind": "convoy_pinned",
            "address": list(address),
            "cpu": min(os.sched_getaffinity(0)),
            "seconds": p["seconds"],
            "repeats": p["repeats"],
            "cpu_threads": [0, 1],
        }
        got = run_child(job, timeout=300)
        if "unavailable" in got:
            unavailable["pinned"] = got["unavailable"]
        else:
            for n, values in got["cells"].items():
                cells[f"pinned-{n}"] = values
    else:
        unavailable["pinned"] = "os.sched_setaffinity is not available on this platform"
    variants = {k: v for k, v in VARIANTS.items() if k in cells}
    return {
        "params": p,
        "variants": variants,
        "edges": EDGES,
        "cells": {k: _combine(cells[k]) for k in variants},
        "skipped": False,
        "unavailable": unavailable,
    }


def summary(result: dict[str, Any]) -> list[str]:
    base = result["cells"]["threads-0"]["rate_per_s"]["median"]
    lines = [f"{'variant':<26}{'round trips/s':>14}{'vs alone':>10}{'p50 ms':>9}{'p99 ms':>9}"]
    for key, label in result["variants"].items():
        c = result["cells"][key]
        rate = c["rate_per_s"]["median"]
        lines.append(
            f"{label:<26}{rate:>14,.0f}{rate / base:>9.3f}x"
            f"{c['p50'] * 1e3:>9.3f}{c['p99'] * 1e3:>9.2f}"
        )
    for what, why in result["unavailable"].items():
        lines.append(f"{what}: skipped ({why})")
    return lines


def figures(result: dict[str, Any], out_dir: Path) -> list[Path]:
    from concur.gil import plots

    return [plots.convoy(result, out_dir / "convoy.png")]
