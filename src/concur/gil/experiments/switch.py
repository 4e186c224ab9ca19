"""Experiment 3, the switch interval: I/O latency against CPU throughput.

``sys.setswitchinterval`` sets how long a thread may keep the GIL while another waits
for it (5 ms by default).  One pure-Python CPU thread spins and counts its loops while
the main thread plays socket ping-pong with the echo peer; the sweep goes from 10 us to
100 ms.  The CPU thread's throughput is relative to the same thread running alone.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from concur.gil import stats, workloads
from concur.gil.experiments import Check, switch_interval

if TYPE_CHECKING:
    from concur.gil.lab import Lab

FULL = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 5e-3, 1e-2, 3e-2, 1e-1)
QUICK = (1e-5, 1e-4, 1e-3, 5e-3, 1e-1)

EXPLAIN = (
    "What you should see, and why: a trade-off curve.  A long interval lets the CPU thread "
    "keep the GIL, so it loses little, but the I/O thread waits about a whole interval for "
    "an answer it already has: p99 latency grows with the interval.  A short interval gives "
    "the I/O thread the GIL back quickly, at the price of many more GIL hand-offs, each of "
    "which costs the CPU thread time: it keeps less of its speed than at the default.  The "
    "default of 5 ms favours throughput: the CPU thread keeps most of its speed.  No setting "
    "makes a CPU-bound neighbour harmless, only cheaper in one currency or the other."
)


def _label(seconds: float) -> str:
    return f"{seconds * 1e6:g} us" if seconds < 1e-3 else f"{seconds * 1e3:g} ms"


def check(result: dict[str, Any]) -> list[Check]:
    """The text's expectations against one run (see :mod:`concur.gil.experiments`)."""
    if result.get("skipped"):
        return []
    pts = sorted(result["points"], key=lambda pt: pt["interval_s"])
    short, long = pts[0], pts[-1]
    default = min(pts, key=lambda pt: abs(pt["interval_s"] - switch_interval(result)))
    p99_short, p99_long = short["p99"]["median"], long["p99"]["median"]
    share_short, share_default = short["cpu_share"]["median"], default["cpu_share"]["median"]
    at = f"at {_label(default['interval_s'])}"
    return [
        Check(
            f"at the longest interval ({_label(long['interval_s'])}) the I/O thread waits "
            "about a whole interval (p99 at least half of it)",
            f"p99 {p99_long * 1e3:.1f} ms",
            p99_long >= long["interval_s"] / 2,
        ),
        Check(
            f"p99 grows with the interval (at {_label(short['interval_s'])}, at most a tenth "
            f"of p99 at {_label(long['interval_s'])})",
            f"{p99_short * 1e3:.2f} ms against {p99_long * 1e3:.1f} ms",
            p99_short <= p99_long / 10,
        ),
        Check(
            f"a short interval costs the CPU thread throughput (at {_label(short['interval_s'])}"
            f", under 90 % of what it keeps {at})",
            f"{share_short:.0%} against {share_default:.0%} {at}",
            share_short < 0.9 * share_default,
        ),
        Check(
            f"the default keeps most of the CPU thread's speed (over 70 % of alone {at})",
            f"{share_default:.0%}",
            share_default > 0.7,
        ),
    ]


def cpu_alone(seconds: float) -> float:
    """Loops per second of one CPU thread with nobody else wanting the GIL."""
    with workloads.CpuThreads(1) as cpu:
        start = cpu.loops[0]
        t = time.perf_counter()
        time.sleep(seconds)
        return (cpu.loops[0] - start) / (time.perf_counter() - t)


def measure(address: tuple[str, int], seconds: float, interval: float) -> dict[str, Any]:
    """Ping-pong beside one CPU thread at switch interval ``interval``; restores the old one."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        with workloads.CpuThreads(1) as cpu:
            start = cpu.loops[0]
            t = time.perf_counter()
            rtts = workloads.ping_pong(address, seconds)
            took = time.perf_counter() - t
            loops = cpu.loops[0] - start
    finally:
        sys.setswitchinterval(old)
    out = stats.latency_summary(rtts, took)
    out["cpu_loops_per_s"] = loops / took
    return out


def sweep(lab: Lab) -> dict[str, Any]:
    p = {
        "intervals_s": list(lab.pick(QUICK, FULL)),
        "seconds": lab.pick(0.15, 1.0),
        "repeats": lab.pick(2, 3),
    }
    address = lab.echo()
    alone: list[float] = []
    io_alone: list[dict[str, Any]] = []
    cells: dict[str, list[dict[str, Any]]] = {}
    for _ in range(p["repeats"]):
        alone.append(cpu_alone(p["seconds"]))
        rtts = workloads.ping_pong(address, p["seconds"])
        io_alone.append(stats.latency_summary(rtts, p["seconds"]))
        for interval in p["intervals_s"]:
            cells.setdefault(repr(interval), []).append(measure(address, p["seconds"], interval))
    base = stats.spread(alone)["median"]
    points = []
    for interval in p["intervals_s"]:
        got = cells[repr(interval)]
        points.append(
            {
                "interval_s": interval,
                "p50": stats.spread([c["p50"] for c in got]),
                "p99": stats.spread([c["p99"] for c in got]),
                "rate_per_s": stats.spread([c["rate_per_s"] for c in got]),
                "cpu_share": stats.spread([c["cpu_loops_per_s"] / base for c in got]),
            }
        )
    return {
        "params": p,
        "cpu_alone_loops_per_s": stats.spread(alone),
        "io_alone_p99": stats.spread([c["p99"] for c in io_alone]),
        "io_alone_p50": stats.spread([c["p50"] for c in io_alone]),
        "points": points,
        "skipped": False,
    }


def run(lab: Lab) -> dict[str, Any]:
    return sweep(lab)


def summary(result: dict[str, Any]) -> list[str]:
    lines = [f"{'switch interval':>16}{'I/O p50 ms':>12}{'I/O p99 ms':>12}{'CPU vs alone':>14}"]
    for pt in result["points"]:
        lines.append(
            f"{pt['interval_s'] * 1e3:>13.3g} ms{pt['p50']['median'] * 1e3:>12.3f}"
            f"{pt['p99']['median'] * 1e3:>12.2f}{pt['cpu_share']['median'] * 100:>13.0f}%"
        )
    lines.append(
        f"I/O alone: p50 {result['io_alone_p50']['median'] * 1e3:.3f} ms, "
        f"p99 {result['io_alone_p99']['median'] * 1e3:.3f} ms"
    )
    return lines


def figures(result: dict[str, Any], out_dir: Path) -> list[Path]:
    from concur.gil import plots

    return [plots.switch_tradeoff(result, out_dir / "switch.png")]
