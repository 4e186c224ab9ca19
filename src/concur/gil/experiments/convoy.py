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
    "What you should see, and why: alone, the I/O thread makes tens of thousands of round "
    "trips a second.  Beside one CPU-bound thread the rate falls by one to two orders of "
    "magnitude.  Every send and recv lets the GIL go; if the CPU thread grabs it, the I/O "
    "thread, whose answer is already there, gets it back only when the CPU thread is forced "
    "off after the switch interval.  So a round trip takes either microseconds (the I/O "
    "thread won the GIL back first) or about one or more whole intervals, and the time-"
    "weighted histogram puts its peaks at multiples of the switch interval.  CPU-bound "
    "processes have GILs of their own: they only compete for cores, and round trips stay "
    "fast.  Pinned to one core, the OS scheduler decides who runs when a packet arrives, and "
    "the result swings from run to run: compare the pinned bars with each other, not with "
    "the two-core ones."
)


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
