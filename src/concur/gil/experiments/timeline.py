"""Experiment 4, the GIL timeline: which thread ran when, without root, perf or py-spy.

Two pure-Python threads each spin reading ``time.perf_counter()`` (a reading every
fraction of a microsecond while they run).  A jump of more than 0.2 ms between two
readings means the thread was stopped; the spans in between are when it ran.  Drawn
as Gantt lanes: at the default switch interval, at 1 ms, and — for contrast — the
same tracer in two processes, which have a GIL each.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from concur.gil import stats, workloads
from concur.gil.experiments import Check, near, switch_interval, usable_cpus

if TYPE_CHECKING:
    from concur.gil.lab import Lab

GAP_S = 2e-4

EXPLAIN = (
    "What you should see, and why: with threads, the lanes take turns in blocks of about the "
    "switch interval (5 ms by default, 1 ms in the middle panel; longer on a busy machine, "
    "where the thread due to take over must itself wait for a core), never overlapping, "
    "adding up to one core between them: one thread runs bytecode while the other waits for "
    "the GIL.  The processes' lanes run side by side and add up to about two cores when two "
    "are idle (on a busy machine, or with one usable CPU, the OS stops them too, which shows "
    "as gaps).  The tracer itself is the tight loop; it needs no privileges because a thread "
    "that cannot run cannot read the clock either."
)


def check(result: dict[str, Any]) -> list[Check]:
    """The text's expectations against one run (see :mod:`concur.gil.experiments`)."""
    if result.get("skipped"):
        return []
    panels = result["panels"]
    intervals = {"threads": switch_interval(result), "threads-1ms": 1e-3}
    threads = {k: panels[k] for k in intervals if k in panels}
    cores = {k: float(p["cores_busy"]["median"]) for k, p in threads.items()}
    blocks = {k: float(p["median_block_ms"]["median"]) for k, p in threads.items()}
    checks = [
        Check(
            "two threads add up to about one core, never two (under 1.3 cores)",
            ", ".join(
                f"{near(c, 1.3)} cores at {intervals[k] * 1e3:g} ms" for k, c in cores.items()
            ),
            all(c < 1.3 for c in cores.values()),
        ),
        Check(
            "threads run in blocks of about the switch interval (median block 0.5-4 intervals)",
            ", ".join(f"{b:.2f} ms at {intervals[k] * 1e3:g} ms" for k, b in blocks.items()),
            all(0.5 <= b / (intervals[k] * 1e3) <= 4 for k, b in blocks.items()),
        ),
    ]
    if "processes" in panels:
        procs = float(panels["processes"]["cores_busy"]["median"])
        if usable_cpus(result) >= 2:
            checks.append(
                Check(
                    "two processes run side by side (over 1.5 cores)",
                    f"{near(procs, 1.5)} cores",
                    procs > 1.5,
                )
            )
        else:
            checks.append(
                Check(
                    "with one usable CPU, the processes take turns too (under 1.3 cores)",
                    f"{near(procs, 1.3)} cores",
                    procs < 1.3,
                )
            )
    return checks


def _threads(seconds: float, interval: float | None) -> list[list[tuple[float, float]]]:
    old = sys.getswitchinterval()
    if interval is not None:
        sys.setswitchinterval(interval)
    lanes: list[list[tuple[float, float]]] = [[], []]
    start_at = time.perf_counter() + 0.02

    def trace(i: int) -> None:
        lanes[i] = workloads.trace_running(start_at, seconds, GAP_S)

    threads = [threading.Thread(target=trace, args=(i,)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    return lanes


def _processes(lab: Lab, seconds: float) -> list[list[tuple[float, float]]]:
    pool = lab.pool(2)
    start_at = time.perf_counter() + 0.1
    futures = [pool.submit(workloads.trace_running, start_at, seconds, GAP_S) for _ in range(2)]
    return [list(map(tuple, f.result())) for f in futures]  # type: ignore[arg-type]


def _panel(lanes: list[list[tuple[float, float]]], seconds: float) -> dict[str, Any]:
    origin = min(s for lane in lanes for s, _ in lane)
    busy = [sum(e - s for s, e in lane) for lane in lanes]
    blocks = [e - s for lane in lanes for s, e in lane]
    return {
        "lanes": [
            [[round((s - origin) * 1e3, 4), round((e - origin) * 1e3, 4)] for s, e in lane]
            for lane in lanes
        ],
        "cores_busy": sum(busy) / seconds,
        "median_block_ms": stats.percentile(blocks, 50) * 1e3,
        "blocks": len(blocks),
    }


def run(lab: Lab) -> dict[str, Any]:
    p = {"seconds": lab.pick(0.08, 0.25), "repeats": lab.pick(2, 3), "gap_s": GAP_S}
    default = sys.getswitchinterval()
    kinds = {
        "threads": f"2 threads, switch interval {default * 1e3:g} ms",
        "threads-1ms": "2 threads, switch interval 1 ms",
        "processes": "2 processes",
    }
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for _ in range(p["repeats"]):
        runs["threads"].append(_panel(_threads(p["seconds"], None), p["seconds"]))
        runs["threads-1ms"].append(_panel(_threads(p["seconds"], 1e-3), p["seconds"]))
        runs["processes"].append(_panel(_processes(lab, p["seconds"]), p["seconds"]))
    panels = {}
    for key, got in runs.items():
        cores = stats.spread([g["cores_busy"] for g in got])
        # Draw the repeat whose busy-cores figure is the median one.
        shown = sorted(got, key=lambda g: g["cores_busy"])[len(got) // 2]
        panels[key] = {
            "label": kinds[key],
            "cores_busy": cores,
            "median_block_ms": stats.spread([g["median_block_ms"] for g in got]),
            "blocks": stats.spread([g["blocks"] for g in got]),
            "lanes": shown["lanes"],
        }
    return {"params": p, "panels": panels, "skipped": False}


def summary(result: dict[str, Any]) -> list[str]:
    lines = [f"{'':<36}{'cores busy':>11}{'median block':>14}{'blocks':>8}"]
    for panel in result["panels"].values():
        lines.append(
            f"{panel['label']:<36}{panel['cores_busy']['median']:>11.2f}"
            f"{panel['median_block_ms']['median']:>11.2f} ms{panel['blocks']['median']:>8.0f}"
        )
    return lines


def figures(result: dict[str, Any], out_dir: Path) -> list[Path]:
    from concur.gil import plots

    return [plots.gil_timeline(result, out_dir / "timeline.png")]
