"""Experiment 5, event-loop lag: what CPU work does to an asyncio app, and what debug mode sees.

An asyncio app runs a lag probe — ``await asyncio.sleep(10 ms)`` in a loop, recording
how late each wake-up is — while a worker coroutine runs CPU jobs of 150 ms back to
back: inline in the loop, in ``asyncio.to_thread`` (pure Python, then hashlib which
releases the GIL) or in a process pool.  The loop runs in debug mode, and every
"Executing ... took N seconds" warning it logs is counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from concur.gil import stats, workloads
from concur.gil.experiments import Check, switch_interval

if TYPE_CHECKING:
    from concur.gil.lab import Lab

VARIANTS = {
    "idle": "no CPU work",
    "inline": "inline in the loop",
    "thread-pure": "to_thread, pure Python",
    "thread-releasing": "to_thread, hashlib (releases the GIL)",
    "process": "process pool",
}

EXPLAIN = (
    "What you should see, and why: inline CPU work stops the loop, and debug mode reports "
    "the jobs as slow callbacks.  The lag is even longer than a job: a sleeping task needs "
    "two turns of the loop to wake up (the timer fires, then the task runs), and the worker "
    "takes a whole job at every turn.  Moved to a thread, pure-Python work no longer blocks "
    "any callback — debug mode reports nothing — yet the loop is late at a typical wake-up "
    "by a good part of a switch interval, several times later than when idle: the loop "
    "thread must win the GIL back from the worker, and waits up to a switch interval for "
    "it.  That is the lag debug mode cannot see.  Work that releases the GIL (hashlib) or "
    "runs in another process leaves the loop almost as punctual as when idle."
)


def check(result: dict[str, Any]) -> list[Check]:
    """The text's expectations against one run (see :mod:`concur.gil.experiments`)."""
    if result.get("skipped"):
        return []
    cells = result["cells"]
    interval = switch_interval(result)
    job = result["params"]["job_s"]

    def ms(key: str, stat: str = "p50") -> float:
        return float(cells[key][stat]["median"]) * 1e3

    inline_warned = cells["inline"]["warnings"]["median"]
    thread_warned = cells["thread-pure"]["warnings"]["median"]
    idle, pure = ms("idle"), ms("thread-pure")
    calm = {k: ms(k) for k in ("thread-releasing", "process") if k in cells}
    return [
        Check(
            "inline work stops the loop (median wake-up late by over half a "
            f"{job * 1e3:g} ms job), and debug mode warns",
            f"lag p50 {ms('inline'):.0f} ms, {inline_warned:.0f} warnings",
            ms("inline") > job * 1e3 / 2 and inline_warned >= 1,
        ),
        Check(
            "in a thread, pure-Python work leaves debug mode silent (no warnings)",
            f"{thread_warned:.0f} warnings",
            thread_warned == 0,
        ),
        Check(
            "pure-Python work in a thread still makes the loop late by a good part of a "
            f"switch interval (lag p50 over {0.4 * interval * 1e3:g} ms, and over 3x idle)",
            f"lag p50 {pure:.2f} ms, idle {idle:.2f} ms",
            pure > 0.4 * interval * 1e3 and pure > 3 * idle,
        ),
        Check(
            "hashlib in a thread, or a process pool, leaves the loop almost as punctual as "
            f"idle (lag p50 under {0.4 * interval * 1e3:g} ms)",
            ", ".join(f"{VARIANTS[k].split(' (')[0]} {v:.2f} ms" for k, v in calm.items())
            + f", idle {idle:.2f} ms",
            all(v < 0.4 * interval * 1e3 for v in calm.values()),
        ),
    ]


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Executing"):
            self.count += 1


async def _app(
    variant: str, seconds: float, period: float, sizes: dict[str, int], pool: Executor | None
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    end = start + seconds
    lags: list[tuple[float, float]] = []
    jobs = 0

    async def probe() -> None:
        while time.perf_counter() < end:
            expected = time.perf_counter() + period
            await asyncio.sleep(period)
            now = time.perf_counter()
            lags.append((now - start, max(0.0, now - expected)))

    async def worker() -> None:
        nonlocal jobs
        while time.perf_counter() < end:
            if variant == "inline":
                workloads.count(sizes["pure"])
                await asyncio.sleep(0)
            elif variant == "thread-pure":
                await asyncio.to_thread(workloads.count, sizes["pure"])
            elif variant == "thread-releasing":
                await asyncio.to_thread(workloads.sha_work, sizes["releasing"])
            elif variant == "process":
                await loop.run_in_executor(pool, workloads.count, sizes["pure"])
            else:
                await asyncio.sleep(period)
                continue
            jobs += 1

    await asyncio.gather(probe(), worker())
    return {"lags": lags, "jobs": jobs}


def measure(
    variant: str, seconds: float, period: float, sizes: dict[str, int], pool: Executor | None
) -> dict[str, Any]:
    """Run the app once in debug mode; lag samples and the slow-callback warnings logged."""
    logger = logging.getLogger("asyncio")
    counter = _Counter()
    propagate = logger.propagate
    logger.addHandler(counter)
    logger.propagate = False  # counted, not printed
    try:
        with asyncio.Runner(debug=True) as runner:
            got = runner.run(_app(variant, seconds, period, sizes, pool))
            slow = runner.get_loop().slow_callback_duration
    finally:
        logger.removeHandler(counter)
        logger.propagate = propagate
    lags = [lag for _, lag in got["lags"]]
    return {
        "series": [[round(t, 4), round(lag * 1e3, 4)] for t, lag in got["lags"]],
        "p50": stats.percentile(lags, 50),
        "p99": stats.percentile(lags, 99),
        "max": max(lags) if lags else 0.0,
        "late_5ms": sum(1 for lag in lags if lag > 0.005),
        "wakeups": len(lags),
        "warnings": counter.count,
        "jobs": got["jobs"],
        "slow_callback_s": slow,
    }


def run(lab: Lab) -> dict[str, Any]:
    p = {
        "seconds": lab.pick(0.5, 3.0),
        "repeats": lab.pick(1, 3),
        "period_s": 0.01,
        "job_s": 0.15,
    }
    sizes = {
        "pure": lab.size("count", workloads.count, p["job_s"]),
        "releasing": lab.size("sha_work", workloads.sha_work, p["job_s"]),
    }
    pool = lab.pool(1)
    cells: dict[str, list[dict[str, Any]]] = {k: [] for k in VARIANTS}
    for _ in range(p["repeats"]):
        for key in VARIANTS:
            cells[key].append(measure(key, p["seconds"], p["period_s"], sizes, pool))
    out = {}
    for key, got in cells.items():
        shown = sorted(got, key=lambda g: g["p99"])[len(got) // 2]
        out[key] = {
            "p50": stats.spread([g["p50"] for g in got]),
            "p99": stats.spread([g["p99"] for g in got]),
            "max": stats.spread([g["max"] for g in got]),
            "late_5ms": stats.spread([g["late_5ms"] for g in got]),
            "warnings": stats.spread([g["warnings"] for g in got]),
            "jobs": stats.spread([g["jobs"] for g in got]),
            "wakeups": stats.spread([g["wakeups"] for g in got]),
            "series": shown["series"],
        }
    return {
        "params": p,
        "variants": VARIANTS,
        "slow_callback_s": cells["idle"][0]["slow_callback_s"],
        "cells": out,
        "skipped": False,
    }


def summary(result: dict[str, Any]) -> list[str]:
    lines = [
        f"{'CPU work (150 ms jobs)':<40}{'lag p50':>9}{'lag p99':>10}{'>5 ms':>7}"
        f"{'debug warnings':>16}"
    ]
    for key, label in result["variants"].items():
        c = result["cells"][key]
        lines.append(
            f"{label:<40}{c['p50']['median'] * 1e3:>6.2f} ms{c['p99']['median'] * 1e3:>7.1f} ms"
            f"{c['late_5ms']['median']:>7.0f}{c['warnings']['median']:>16.0f}"
        )
    lines.append(
        f"(debug mode warns about callbacks over {result['slow_callback_s'] * 1e3:g} ms; "
        f"the probe wakes every {result['params']['period_s'] * 1e3:g} ms)"
    )
    return lines


def figures(result: dict[str, Any], out_dir: Path) -> list[Path]:
    from concur.gil import plots

    return [plots.loop_lag(result, out_dir / "lag.png")]
