"""The learner's path, measured: every step on the same experiment, and its figures.

    python scripts/path_figures.py [--out docs/images/path] [-n N] [-c C] [--delay MS]
                                   [--repeat R] [--plot]

Runs each step of :mod:`concur.path` ``--repeat`` times against one embedded mock
server (the steps taking turns, so a noisy moment costs every step alike), through
the same harness as ``concur learn``, and writes to ``--out``:

* ``path.json`` - every run's summary (the keys of ``concur crawl --json``), and the
  median run's summary as printed and its request times, per step;
* ``compare.png`` - wall time, efficiency and CPU per request of every step (the
  median of the runs; the whiskers span them all);
* ``stepN_NAME.png`` - the median run of each step: every request from start to end,
  and how many were in flight.

The figures are drawn from ``path.json`` alone (``--plot`` redraws them without
running anything), with matplotlib imported inside the drawing functions.  The
defaults are ``concur learn``'s: 100 requests of 50 ms, 25 at a time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

from concur.path import STEPS, harness

OUT = Path("docs/images/path")
COLORS = ("#8C8C8C", "#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3")


def measure(n: int, c: int, delay_ms: float, repeat: int) -> dict[str, Any]:
    """Run every step ``repeat`` times, taking turns; the medians and their records."""
    from concur.report import render

    runs: dict[int, list[harness.Run]] = {s.number: [] for s in STEPS}
    with harness.serve() as server:
        for _ in range(repeat):
            for s in STEPS:
                if harness.missing(s):
                    print(f"skipping step {s.number}: {harness.missing(s)}", file=sys.stderr)
                    continue
                done = harness.run(s, server, n=n, concurrency=c, delay_ms=delay_ms)
                if done.summary["failed"]:
                    raise SystemExit(f"step {s.number}: {done.summary['errors']}")
                runs[s.number].append(done)
                print(
                    f"step {s.number} {s.name:<11} wall {done.summary['wall_s']:.3f} s  "
                    f"efficiency {done.summary['efficiency']:.1%}",
                    file=sys.stderr,
                )
    steps = []
    for s in STEPS:
        mine = sorted(runs[s.number], key=lambda r: r.summary["wall_s"])
        if not mine:
            continue
        median = mine[len(mine) // 2]
        steps.append(
            {
                "number": s.number,
                "name": s.name,
                "line": s.line,
                "runs": [r.summary for r in runs[s.number]],
                "median": median.summary,
                "text": render(median.summary),
                "requests": [[round(r.start, 6), round(r.end, 6)] for r in median.result.records],
            }
        )
    return {
        "command": "python scripts/path_figures.py " + " ".join(sys.argv[1:]),
        "date": datetime.date.today().isoformat(),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "n": n,
        "concurrency": c,
        "delay_ms": delay_ms,
        "repeat": repeat,
        "steps": steps,
    }


def _pyplot() -> Any:
    from concur.gil.plots import _pyplot as pyplot  # Agg unless a notebook's is in use

    return pyplot()


def _save(fig: Any, path: Path) -> None:
    """A small PNG, as the GIL lab saves its figures (a 256-colour palette)."""
    from concur.gil.plots import save_png

    save_png(fig, path)
    print(f"wrote {path}", file=sys.stderr)


def compare(data: dict[str, Any], path: Path) -> None:
    """Three panels, one bar per step: wall time (log), efficiency, CPU per request."""
    plt = _pyplot()
    steps = data["steps"]
    labels = [f"{s['number']} {s['name']}" for s in steps]
    colors = [COLORS[(s["number"] - 1) % len(COLORS)] for s in steps]
    panels = [
        ("wall time (s, log scale)", lambda m: m["wall_s"]),
        ("efficiency: ideal / wall (%)", lambda m: 100 * m["efficiency"]),
        ("client CPU per request (µs)", lambda m: m["cpu_us_per_request"]),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
    for ax, (title, value) in zip(axes, panels, strict=True):
        mid = [statistics.median(value(r) for r in s["runs"]) for s in steps]
        low = [m - min(value(r) for r in s["runs"]) for m, s in zip(mid, steps, strict=True)]
        high = [max(value(r) for r in s["runs"]) - m for m, s in zip(mid, steps, strict=True)]
        ax.bar(labels, mid, color=colors, yerr=[low, high], capsize=3)
        for x, (v, above) in enumerate(zip(mid, high, strict=True)):
            ax.annotate(  # above the whisker
                f"{v:.3g}",
                (x, v + above),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 2),
                textcoords="offset points",
            )
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelrotation=35, labelsize=8)
    axes[0].set_yscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axes[0].yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axes[0].yaxis.set_minor_formatter(NullFormatter())
    ideals = {s["median"]["ideal_s"] for s in steps}
    for ideal in sorted(ideals):
        axes[0].axhline(ideal, color="black", linewidth=0.8, linestyle=":")
    axes[1].axhline(100, color="black", linewidth=0.8, linestyle=":")
    fig.suptitle(
        f"{data['n']} requests of {data['delay_ms']:g} ms, {data['concurrency']} at a time "
        "(step 1: one); dotted: Little's-law ideal",
        fontsize=10,
    )
    _save(fig, path)


def timeline(data: dict[str, Any], entry: dict[str, Any], path: Path) -> None:
    """One step's median run: each request from start to end, and the count in flight."""
    plt = _pyplot()
    m = entry["median"]
    spans = sorted(entry["requests"])
    color = COLORS[(entry["number"] - 1) % len(COLORS)]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(7, 3.8), sharex=True, height_ratios=[3, 1.2], layout="constrained"
    )
    top.hlines(
        range(len(spans)),
        [a * 1e3 for a, _ in spans],
        [b * 1e3 for _, b in spans],
        color=color,
        linewidth=1.2,
    )
    top.set_ylabel("request")
    top.invert_yaxis()
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    times, counts, now = [0.0], [0], 0
    for t, change in events:
        now += change
        times.append(t * 1e3)
        counts.append(now)
    bottom.step(times, counts, where="post", color=color)
    bottom.axhline(m["concurrency"], color="black", linewidth=0.8, linestyle=":")
    bottom.set_ylabel("in flight")
    bottom.set_xlabel("ms since the run started")
    bottom.set_ylim(0, m["concurrency"] * 1.25 + 0.5)
    top.set_title(
        f"step {entry['number']}, {entry['name']}: {m['requests']} requests of "
        f"{data['delay_ms']:g} ms in {m['wall_s'] * 1e3:,.0f} ms "
        f"(ideal {m['ideal_s'] * 1e3:,.0f}, efficiency {m['efficiency']:.0%}), "
        f"{m['cpu_us_per_request']:,.0f} µs CPU each",
        fontsize=9,
    )
    _save(fig, path)


def plot(data: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    compare(data, out / "compare.png")
    for entry in data["steps"]:
        timeline(data, entry, out / f"step{entry['number']}_{entry['name']}.png")


def table(data: dict[str, Any]) -> str:
    """Each figure's median over the runs (and their range) as a Markdown table."""
    rows = [
        "| step | wall | ideal | efficiency | CPU / request | in flight (server) | p50 | p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in data["steps"]:
        runs = s["runs"]

        def med(key: str, sub: str = "", runs: list[dict[str, Any]] = runs) -> float:
            return statistics.median(r[key][sub] if sub else r[key] for r in runs)

        effs = [r["efficiency"] for r in runs]
        cpus = [r["cpu_us_per_request"] for r in runs]
        rows.append(
            f"| {s['number']} {s['name']} | {med('wall_s'):.3f} s | {runs[0]['ideal_s']:.3f} s "
            f"| {med('efficiency'):.1%} ({min(effs):.0%}-{max(effs):.0%}) "
            f"| {med('cpu_us_per_request'):,.0f} µs ({min(cpus):,.0f}-{max(cpus):,.0f}) "
            f"| {max(r['server_peak_in_flight'] for r in runs)} "
            f"| {med('latency_ms', 'p50'):.1f} ms | {med('latency_ms', 'p99'):.1f} ms |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("-n", type=int, default=harness.DEFAULT_N)
    parser.add_argument("-c", type=int, default=harness.DEFAULT_CONCURRENCY)
    parser.add_argument("--delay", type=float, default=harness.DEFAULT_DELAY_MS, metavar="MS")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--plot", action="store_true", help="redraw from OUT/path.json only")
    args = parser.parse_args()
    results = args.out / "path.json"
    if args.plot:
        data = json.loads(results.read_text(encoding="utf-8"))
    else:
        data = measure(args.n, args.c, args.delay, args.repeat)
        args.out.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {results}", file=sys.stderr)
    plot(data, args.out)
    print(table(data))
    for s in data["steps"]:
        print(f"\nstep {s['number']}, the median run by wall time:\n{s['text']}")


if __name__ == "__main__":
    main()
