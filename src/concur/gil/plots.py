"""Figures for the GIL lab, drawn from result data alone (never from live measurements).

matplotlib is imported inside each function, with the Agg backend, so importing the
lab costs nothing and a machine without a display (or without matplotlib, until a
figure is asked for) still runs the experiments.  Figures are small PNGs: dpi 90,
256 colours.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

DPI = 90
COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")


def _pyplot() -> Any:
    """pyplot, on the Agg backend (files, no window) unless pyplot is already in use: a
    notebook's inline backend stays, since the figures here are saved and closed."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: Path) -> Path:
    """Save as a small PNG: rendered at ``DPI``, then reduced to a 256-colour palette."""
    import io

    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format="png")
    _pyplot().close(fig)
    buffer.seek(0)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=256).save(path, format="PNG", optimize=True)
    return path


def _plain(axis: Any, suffix: str = "") -> None:
    """Tick labels like ``2`` or ``2x`` on a log axis, instead of ``2 x 10^0``."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}{suffix}"))
    axis.set_minor_formatter(NullFormatter())


def _ms(seconds: float | None) -> float:
    return math.nan if seconds is None else seconds * 1e3


# --- 1. speedup -------------------------------------------------------------------------


def speedup_heatmap(result: dict[str, Any], path: Path) -> Path:
    """Workloads x models, coloured by speed-up over serial (log scale), annotated."""
    plt = _pyplot()
    from matplotlib.colors import LogNorm

    models = result["models"]
    keys = list(result["workloads"])
    grid = [[result["speedup"][k][m]["median"] for m in models] for k in keys]
    top = max(max(row) for row in grid)
    fig, ax = plt.subplots(figsize=(7.5, 3.4), layout="constrained")
    image = ax.imshow(
        grid, cmap="viridis", norm=LogNorm(vmin=0.5, vmax=max(top, 4.0)), aspect="auto"
    )
    for i, k in enumerate(keys):
        for j, m in enumerate(models):
            cell = result["speedup"][k][m]
            value = cell["median"]
            colour = "white" if value < math.sqrt(max(top, 4.0) * 0.5) else "black"
            ax.text(
                j, i - 0.08, f"{value:.2f}x", ha="center", va="center", color=colour, fontsize=11
            )
            ax.text(
                j,
                i + 0.25,
                f"{cell['min']:.2f}-{cell['max']:.2f}",
                ha="center",
                va="center",
                color=colour,
                fontsize=7,
            )
    ax.set_xticks(range(len(models)), models)
    ax.set_yticks(range(len(keys)), [result["workloads"][k] for k in keys])
    p = result.get("params", {})
    title = "Speed-up over serial"
    if p:
        title += (
            f" ({p['cpu_tasks']} CPU or {p['io_tasks']} I/O tasks, {p['workers']} workers;"
            " median, min-max)"
        )
    ax.set_title(title, fontsize=10)
    bar = fig.colorbar(image, ax=ax, label="speed-up (log)")
    bar.set_ticks([t for t in (0.5, 1, 2, 4, 8, 16, 32) if t <= max(top, 4.0)])
    _plain(bar.ax.yaxis, "x")
    return save_png(fig, path)


# --- 2. convoy --------------------------------------------------------------------------


def _interval(result: dict[str, Any]) -> float:
    return float(result.get("machine", {}).get("switch_interval_s", 0.005))


def convoy(result: dict[str, Any], path: Path) -> Path:
    """Round trips per second per variant (log bars) and the round-trip-time histograms."""
    plt = _pyplot()
    switch_interval = _interval(result)
    variants = result["variants"]
    fig, (bars, hist) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    keys = list(variants)
    med = [result["cells"][k]["rate_per_s"]["median"] for k in keys]
    lo = [m - result["cells"][k]["rate_per_s"]["min"] for m, k in zip(med, keys, strict=True)]
    hi = [result["cells"][k]["rate_per_s"]["max"] - m for m, k in zip(med, keys, strict=True)]
    colours = [COLORS[i % len(COLORS)] for i in range(len(keys))]
    bars.bar(range(len(keys)), med, yerr=[lo, hi], color=colours, capsize=3)
    bars.set_yscale("log")
    bars.set_xticks(
        range(len(keys)), [variants[k] for k in keys], rotation=30, ha="right", fontsize=8
    )
    bars.set_ylabel("round trips per second (log)")
    bars.set_title("I/O thread round trips (median, min-max)", fontsize=10)
    for i, k in enumerate(keys):
        top = result["cells"][k]["rate_per_s"]["max"]
        bars.text(i, top * 1.12, f"{med[i]:,.0f}", ha="center", fontsize=7)
    bars.set_ylim(top=max(result["cells"][k]["rate_per_s"]["max"] for k in keys) * 3)
    edges = result["edges"]
    centres = [math.sqrt(a * b) for a, b in zip(edges, edges[1:], strict=False)]
    shown = [
        k for k in ("threads-0", "threads-1", "threads-2", "processes-2", "pinned-1") if k in keys
    ]
    for k in shown:
        # Weighted by time: where the I/O thread's time goes, not how many round trips.
        spent = [c * x for c, x in zip(result["cells"][k]["histogram"], centres, strict=True)]
        total = sum(spent) or 1.0
        hist.step(
            [x * 1e3 for x in centres],
            [s / total for s in spent],
            where="mid",
            color=colours[keys.index(k)],
            label=variants[k],
            ls="-" if k.startswith("threads") else "--",
            lw=1.6 if k.startswith("threads") else 1.2,
            zorder=3 if k.startswith("threads") else 2,
        )
    for j in range(1, 5):
        hist.axvline(j * switch_interval * 1e3, color="grey", lw=0.7, ls="--")
    hist.set_xscale("log")
    hist.set_xlabel(
        f"round-trip time, ms (log); dashed: 1-4 x the {switch_interval * 1e3:g} ms interval"
    )
    hist.set_ylabel("share of the I/O thread's time")
    hist.set_title("Where the round-trip time goes", fontsize=10)
    hist.legend(fontsize=7)
    return save_png(fig, path)


# --- 3. switch interval ------------------------------------------------------------------


def _interval_label(seconds: float) -> str:
    return f"{seconds * 1e6:g} us" if seconds < 1e-3 else f"{seconds * 1e3:g} ms"


def switch_tradeoff(result: dict[str, Any], path: Path) -> Path:
    """The trade-off curve (CPU share vs I/O p99) and both against the interval."""
    plt = _pyplot()
    pts = result["points"]
    fig, (curve, sweep) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    x = [pt["cpu_share"]["median"] * 100 for pt in pts]
    y = [_ms(pt["p99"]["median"]) for pt in pts]
    curve.plot(x, y, "-o", color=COLORS[0])
    for pt, xi, yi in zip(pts, x, y, strict=True):
        curve.annotate(
            _interval_label(pt["interval_s"]),
            (xi, yi),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=8,
        )
    curve.axhline(_ms(result["io_alone_p99"]["median"]), color="grey", ls="--", lw=0.8)
    curve.text(
        min(x),
        _ms(result["io_alone_p99"]["median"]) * 1.15,
        "I/O p99 with no CPU thread",
        fontsize=7,
        color="grey",
    )
    curve.set_yscale("log")
    curve.margins(x=0.12, y=0.12)
    curve.set_xlabel("CPU thread throughput, % of running alone")
    curve.set_ylabel("I/O round-trip p99, ms (log)")
    curve.set_title("The trade-off, one point per switch interval", fontsize=10)
    ivs = [pt["interval_s"] * 1e3 for pt in pts]
    for key, colour, label in (("p50", COLORS[1], "I/O p50"), ("p99", COLORS[0], "I/O p99")):
        med = [_ms(pt[key]["median"]) for pt in pts]
        lo = [_ms(pt[key]["min"]) for pt in pts]
        hi = [_ms(pt[key]["max"]) for pt in pts]
        sweep.plot(ivs, med, "-o", color=colour, label=label)
        sweep.fill_between(ivs, lo, hi, color=colour, alpha=0.2)
    sweep.plot(ivs, ivs, ":", color="grey", lw=0.8, label="y = interval")
    sweep.set_xscale("log")
    sweep.set_yscale("log")
    sweep.set_xlabel("sys.setswitchinterval, ms (log)")
    sweep.set_ylabel("round-trip time, ms (log)")
    share = sweep.twinx()
    share.plot(
        ivs,
        [pt["cpu_share"]["median"] * 100 for pt in pts],
        "-s",
        color=COLORS[2],
        label="CPU throughput",
    )
    share.set_ylabel("CPU throughput, % of alone", color=COLORS[2])
    share.set_ylim(0, 110)
    lines = sweep.get_legend_handles_labels()
    more = share.get_legend_handles_labels()
    sweep.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper left")
    sweep.set_title("Against the interval (median, min-max band)", fontsize=10)
    return save_png(fig, path)


# --- 4. GIL timeline ---------------------------------------------------------------------


def gil_timeline(result: dict[str, Any], path: Path) -> Path:
    """One panel per setting, one Gantt lane per thread or process."""
    plt = _pyplot()
    panels = result["panels"]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(11, 1.45 * len(panels) + 0.6), layout="constrained", sharex=True
    )
    for ax, (key, panel) in zip(axes, panels.items(), strict=True):
        for i, lane in enumerate(panel["lanes"]):
            ax.broken_barh(
                [(s, max(e - s, 0.02)) for s, e in lane],
                (i - 0.38, 0.76),
                color=COLORS[i % len(COLORS)],
            )
        kind = "process" if key.startswith("process") else "thread"
        ax.set_yticks(
            range(len(panel["lanes"])), [f"{kind} {i + 1}" for i in range(len(panel["lanes"]))]
        )
        ax.set_ylim(-0.6, len(panel["lanes"]) - 0.4)
        ax.set_title(
            f"{panel['label']}: {panel['cores_busy']['median']:.2f} cores busy, "
            f"median block {panel['median_block_ms']['median']:.2f} ms",
            fontsize=9,
            loc="left",
        )
    axes[-1].set_xlabel("time, ms")
    fig.supylabel("one lane per thread or process: a bar while it ran", fontsize=9)
    return save_png(fig, path)


# --- 5. event-loop lag -------------------------------------------------------------------


def loop_lag(result: dict[str, Any], path: Path) -> Path:
    """Lag over time per variant, and p50/p99 bars annotated with debug-mode warnings."""
    plt = _pyplot()
    variants = result["variants"]
    keys = list(variants)
    fig, (over, bars) = plt.subplots(
        1, 2, figsize=(11, 4), layout="constrained", gridspec_kw={"width_ratios": [3, 2]}
    )
    for i, k in enumerate(keys):
        series = result["cells"][k]["series"]
        over.plot(
            [t for t, _ in series],
            [max(lag, 0.01) for _, lag in series],
            ".-",
            ms=3,
            lw=0.6,
            color=COLORS[i],
            label=variants[k],
        )
    over.set_yscale("log")
    over.set_xlabel("time, s")
    over.set_ylabel("lag of a 10 ms sleep, ms (log)")
    over.set_title("Event-loop lag over time (one run)", fontsize=10)
    over.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    width = 0.38
    for j, (stat, alpha) in enumerate((("p50", 0.55), ("p99", 1.0))):
        med = [max(result["cells"][k][stat]["median"] * 1e3, 0.01) for k in keys]
        bars.bar(
            [i + (j - 0.5) * width for i in range(len(keys))],
            med,
            width,
            color=[COLORS[i] for i in range(len(keys))],
            alpha=alpha,
            label=f"lag {stat}",
        )
    for i, k in enumerate(keys):
        n = result["cells"][k]["warnings"]["median"]
        top = max(result["cells"][k]["p99"]["median"] * 1e3, 0.01)
        bars.text(i, top * 1.3, f"{n:.0f} warn.", ha="center", fontsize=7)
    bars.set_yscale("log")
    bars.set_ylim(top=max(result["cells"][k]["p99"]["median"] * 1e3 for k in keys) * 5)
    bars.set_xticks(
        range(len(keys)), [variants[k] for k in keys], rotation=30, ha="right", fontsize=7
    )
    bars.set_ylabel("lag, ms (log): p50 light, p99 dark")
    bars.set_title("Lag, and debug-mode slow-callback warnings", fontsize=10)
    return save_png(fig, path)


# --- 6. the mixed workload ---------------------------------------------------------------


def mixed_slower(result: dict[str, Any], path: Path) -> Path:
    """The book's figure: times slower than doing no I/O, one bar per variant."""
    plt = _pyplot()
    variants = result["variants"]
    keys = list(variants)[::-1]
    med = [result["times_slower"][k]["median"] for k in keys]
    lo = [m - result["times_slower"][k]["min"] for m, k in zip(med, keys, strict=True)]
    hi = [result["times_slower"][k]["max"] - m for m, k in zip(med, keys, strict=True)]
    colours = [
        COLORS[3] if k.startswith("py_") else COLORS[2] if k == "threads" else COLORS[0]
        for k in keys
    ]
    fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    ax.barh(range(len(keys)), med, xerr=[lo, hi], color=colours, capsize=3)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks(range(len(keys)), [variants[k] for k in keys], fontsize=8)
    for i, k in enumerate(keys):
        right = result["times_slower"][k]["max"]
        ax.text(right * 1.04, i, f"{med[i]:.2f}x", va="center", fontsize=8)
    ax.set_xscale("log")
    low = min(result["times_slower"][k]["min"] for k in keys) * 0.8
    high = max(result["times_slower"][k]["max"] for k in keys) * 1.35
    ax.set_xlim(low, high)
    ax.set_xticks([t for t in (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16) if low <= t <= high])
    _plain(ax.xaxis, "x")
    ax.set_xlabel("times slower than doing no I/O (log; < 1 is faster)")
    p = result["params"]
    ax.set_title(
        f"bcrypt cost {p['cost']} + a {p['delay_ms']} ms HTTP save, {p['tasks']} tasks "
        "(median, min-max)",
        fontsize=10,
    )
    return save_png(fig, path)


def mixed_calls(result: dict[str, Any], path: Path) -> Path:
    """The book's call graph: each task's hash (CPU) and save (I/O), async vs threads."""
    plt = _pyplot()
    calls = result["calls"]
    fig, axes = plt.subplots(1, len(calls), figsize=(11, 4), layout="constrained", sharex=True)
    titles = {
        "async": "full async: hashing in the loop",
        "threads": "threads: bcrypt releases the GIL",
    }
    for ax, (key, rows) in zip(axes, calls.items(), strict=True):
        for i, (h0, h1, s0, s1) in enumerate(rows):
            ax.broken_barh(
                [(s0 * 1e3, (s1 - s0) * 1e3)], (i - 0.4, 0.8), color=COLORS[0], alpha=0.35
            )
            ax.broken_barh([(h0 * 1e3, max(h1 - h0, 1e-5) * 1e3)], (i - 0.4, 0.8), color=COLORS[3])
        ax.set_title(titles.get(key, key), fontsize=10)
        ax.set_xlabel("time, ms")
        ax.set_ylabel("task: one row each, in the order they were made")
    axes[0].legend(
        handles=[
            plt.Rectangle((0, 0), 1, 1, color=COLORS[3]),
            plt.Rectangle((0, 0), 1, 1, color=COLORS[0], alpha=0.35),
        ],
        labels=["hash (CPU)", "save (HTTP POST)"],
        fontsize=7,
        loc="lower right",
    )
    return save_png(fig, path)


# --- 7. requests under CPU load -----------------------------------------------------------


def request_timelines(result: dict[str, Any], path: Path) -> Path:
    """The book's call timelines: one row per engine, alone vs beside a CPU-bound thread."""
    plt = _pyplot()
    engines = result["engines"]
    rows = max(1, len(engines))
    fig, axes = plt.subplots(
        rows, 2, figsize=(11, 2.4 * rows + 0.5), layout="constrained", sharex=True, squeeze=False
    )
    labels = {"alone": "alone", "neighbour": "beside a CPU-bound thread"}
    for r, (engine, cells) in enumerate(engines.items()):
        for c, key in enumerate(("alone", "neighbour")):
            ax = axes[r][c]
            cell = cells[key]
            spans = sorted(cell["spans"])  # the records come in the order they finished
            ax.hlines(
                range(len(spans)),
                [s for s, _ in spans],
                [e for _, e in spans],
                color=COLORS[r % len(COLORS)],
                lw=1,
            )
            ax.set_title(
                f"{engine}, {labels[key]}: {cell['wall_s']['median']:.2f} s", fontsize=9, loc="left"
            )
    ideal = result["params"]["ideal_s"]
    for ax in axes[-1]:
        ax.set_xlabel(f"time, s (ideal {ideal:.2f} s)")
    fig.supylabel(
        "one row per request, in the order they started (first at the bottom)", fontsize=9
    )
    return save_png(fig, path)


# --- 8. free-threaded, side by side ----------------------------------------------------


def side_by_side(result: dict[str, Any], path: Path) -> Path:
    """Experiments 1-3 on this interpreter and on the other one."""
    plt = _pyplot()
    sides = {
        "this": f"{result['machines']['this']['python']}"
        + ("t" if result["machines"]["this"]["free_threaded_build"] else ""),
        "other": f"{result['machines']['other']['python']}"
        + ("t" if result["machines"]["other"]["free_threaded_build"] else ""),
    }
    if sides["this"] == sides["other"]:
        sides = {k: f"{k}: {v}" for k, v in sides.items()}
    fig, (sp, cv, sw) = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
    width = 0.38
    for j, side in enumerate(("this", "other")):
        speed = result[side]["speedup"]
        keys = list(speed["workloads"])
        med = [speed["speedup"][k]["threads"]["median"] for k in keys]
        sp.bar(
            [i + (j - 0.5) * width for i in range(len(keys))],
            med,
            width,
            color=COLORS[j],
            label=sides[side],
        )
        sp.set_xticks(range(len(keys)), [speed["workloads"][k] for k in keys], fontsize=8)
        convoy = result[side]["convoy"]
        ckeys = [k for k in ("threads-0", "threads-1", "threads-2") if k in convoy["cells"]]
        rates = [convoy["cells"][k]["rate_per_s"]["median"] for k in ckeys]
        cv.bar(
            [i + (j - 0.5) * width for i in range(len(ckeys))],
            rates,
            width,
            color=COLORS[j],
            label=sides[side],
        )
        cv.set_xticks(range(len(ckeys)), [convoy["variants"][k] for k in ckeys], fontsize=8)
        pts = result[side]["switch"]["points"]
        sw.plot(
            [pt["interval_s"] * 1e3 for pt in pts],
            [_ms(pt["p99"]["median"]) for pt in pts],
            "-o",
            color=COLORS[j],
            label=sides[side],
        )
    sp.set_yscale("log")
    _plain(sp.yaxis, "x")
    sp.set_ylabel("threads' speed-up over serial (log)")
    sp.set_title("1. Threads speed-up", fontsize=10)
    cv.set_yscale("log")
    cv.set_ylabel("round trips per second (log)")
    cv.set_title("2. Convoy: I/O thread round trips", fontsize=10)
    sw.set_xscale("log")
    sw.set_yscale("log")
    sw.set_xlabel("switch interval, ms (log)")
    sw.set_ylabel("I/O p99 beside a CPU thread, ms (log)")
    sw.set_title("3. Switch interval", fontsize=10)
    for ax in (sp, cv, sw):
        ax.legend(fontsize=8)
    return save_png(fig, path)
