"""Figures drawn from a results JSON alone (``concur plot results.json --out DIR``).

matplotlib is imported inside the functions (Agg backend), so ``concur bench`` runs
without it and ``concur plot`` says how to install it.  Each function writes its files
and returns their names; :func:`draw_all` draws every figure the results allow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = {
    "serial": "#7f7f7f",
    "threads": "#1f77b4",
    "processes": "#17becf",
    "gevent": "#2ca02c",
    "tornado": "#9467bd",
    "asyncio": "#ff7f0e",
    "uvloop": "#d62728",
    "protocol": "#bcbd22",
    "httpx": "#8c564b",
    "scrapy": "#e377c2",
    "wrk": "#000000",
}
# Failed requests: magenta, which no engine or reference above is near (a test measures
# the distance), with a × at the end of each, so they show on any engine's colour.
FAILED_COLOR = "#ff00ff"
FAILED_MARKER = "x"


def _plt() -> Any:
    """pyplot, on the Agg backend (files, no window) unless pyplot is already in use: a
    notebook's inline backend stays, since the figures here are saved and closed."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out: Path, stem: str, svg: bool) -> list[str]:
    names = [f"{stem}.png"]
    fig.savefig(out / names[0], dpi=100)
    if svg:
        names.append(f"{stem}.svg")
        fig.savefig(out / names[1])
    _plt().close(fig)
    return names


def _ok_engines(block: dict[str, Any]) -> list[str]:
    return [e for e, r in block["results"].items() if "median" in r]


def _nth(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def timelines(results: dict[str, Any], scenario: str, out: Path) -> list[str]:
    """The book's call timeline, one panel per engine on a shared time axis.

    Each row of a panel is one request (or every step-th, in a long run, as the panel
    says), from its start to its end, in the order the requests started (the first at
    the bottom); failed ones are magenta with a × at the end.
    """
    from matplotlib.collections import LineCollection

    plt = _plt()
    block = results["scenarios"][scenario]
    engines = [e for e in _ok_engines(block) if block["results"][e]["timeline"]]
    if not engines:
        return []
    fig, axes = plt.subplots(
        len(engines), 1, sharex=True, figsize=(9, 1.2 + 1.25 * len(engines)), squeeze=False
    )
    ideal = block["params"].get("ideal_s")
    failures = False
    for ax, engine in zip(axes[:, 0], engines, strict=True):
        r = block["results"][engine]
        rows = sorted(r["timeline"])
        segs = [[(s, i), (e, i)] for i, (s, e, _ok) in enumerate(rows)]
        colors = [COLORS.get(engine, "C0") if ok else FAILED_COLOR for _s, _e, ok in rows]
        ax.add_collection(LineCollection(segs, colors=colors, linewidths=0.6))
        failed = [(e, i) for i, (_s, e, ok) in enumerate(rows) if not ok]
        if failed:
            failures = True
            ax.plot(
                [e for e, _ in failed],
                [i for _, i in failed],
                FAILED_MARKER,
                color=FAILED_COLOR,
                ms=4,
                mew=1,
            )
        ax.set_ylim(0, max(1, len(segs)))
        label = engine + (
            f" (first {r['n']} of {block['params']['n']})"
            if r.get("n") != block["params"]["n"]
            else ""
        )
        step = int(r.get("timeline_step") or 1)  # a long run keeps every step-th request
        if step > 1:
            label += f"\nevery {_nth(step)} request"
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        ax.set_yticks([0, len(segs)], ["1", f"{len(segs) * step:,}"], fontsize=7)
        if ideal:
            ax.axvline(ideal, color="k", lw=0.8, ls="--")
    axes[-1, 0].autoscale(axis="x")
    # serial (one request at a time) can take 100x longer: do not let it squash the others
    ends = {
        e: max((end for _s, end, _ok in block["results"][e]["timeline"]), default=0.0)
        for e in engines
    }
    rest = [t for e, t in ends.items() if e != "serial"]
    if "serial" in ends and rest and ends["serial"] > 1.5 * max(rest):
        right = 1.1 * max(max(rest), ideal or 0.0)
        axes[-1, 0].set_xlim(0.0, right)
        ax = axes[engines.index("serial"), 0]
        ax.text(
            0.99,
            0.5,
            f"continues to {ends['serial']:.1f} s →",
            transform=ax.transAxes,
            ha="right",
            va="center",
            fontsize=8,
        )
    notes = ["dashed: Little's-law ideal"] if ideal else []
    if failures:
        notes.append("magenta ×: failed requests")
    suffix = f" ({'; '.join(notes)})" if notes else ""
    axes[-1, 0].set_xlabel(f"seconds since the crawl started{suffix}")
    fig.supylabel(
        "one row per request, in the order they started (first at the bottom)", fontsize=9
    )
    fig.suptitle(f"Request timelines: {block['params']['title']}", fontsize=10)
    fig.tight_layout()
    return _save(fig, out, f"timeline-{scenario}", svg=False)


def throughput(results: dict[str, Any], scenario: str, out: Path) -> list[str]:
    """Requests/s and efficiency per engine, with the ideal and the references marked."""
    plt = _plt()
    block = results["scenarios"][scenario]
    engines = _ok_engines(block)
    if not engines:
        return []
    med = {e: block["results"][e]["median"] for e in engines}
    spread = {e: block["results"][e]["spread"] for e in engines}
    names = list(engines)
    rates = [med[e]["req_per_s"] for e in names]
    errs = [
        [rates[i] - spread[e]["req_per_s"][0] for i, e in enumerate(names)],
        [spread[e]["req_per_s"][1] - rates[i] for i, e in enumerate(names)],
    ]
    refs = block.get("references", {})
    scrapy = refs.get("scrapy", {}).get("summary")
    if scrapy:
        names.append("scrapy")
        rates.append(scrapy["req_per_s"])
        low, high = scrapy.get("spread", {}).get("req_per_s", [rates[-1], rates[-1]])
        errs[0].append(max(0.0, rates[-1] - low))
        errs[1].append(max(0.0, high - rates[-1]))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    ax1.bar(names, rates, yerr=errs, color=[COLORS.get(n, "C0") for n in names], capsize=3)
    ideal = block["params"].get("ideal_s")
    if ideal:
        ax1.axhline(
            block["params"]["n"] / ideal, color="k", ls="--", lw=1, label="ideal (Little's law)"
        )
    wrk = refs.get("wrk", {})
    if "req_per_s" in wrk:
        ax1.axhline(wrk["req_per_s"], color="#555", ls=":", lw=1, label="wrk (C load generator)")
    if ideal or "req_per_s" in wrk:
        ax1.legend(fontsize=8)
    ax1.set_ylabel("requests / s (median, min–max)")
    ax1.tick_params(axis="x", rotation=30)
    effs = [med[e].get("efficiency") or 0.0 for e in engines]
    if ideal:
        ax2.bar(engines, effs, color=[COLORS.get(n, "C0") for n in engines])
        ax2.axhline(1.0, color="k", ls="--", lw=1)
        ax2.set_ylim(0, 1.1)
        ax2.set_ylabel("efficiency = ideal / wall")
    else:
        cpu = [med[e]["cpu_us_per_request"] for e in engines]
        ax2.bar(engines, cpu, color=[COLORS.get(n, "C0") for n in engines])
        ax2.set_ylabel("client CPU µs / request")
    ax2.tick_params(axis="x", rotation=30)
    fig.suptitle(block["params"]["title"], fontsize=10)
    fig.tight_layout()
    return _save(fig, out, f"throughput-{scenario}", svg=True)


def cpu_per_request(results: dict[str, Any], out: Path) -> list[str]:
    """CPU µs per request per engine, from the zero-delay scenario (else any scenario)."""
    plt = _plt()
    scen = results["scenarios"]
    name = (
        "cpu"
        if "cpu" in scen
        else next((k for k, v in scen.items() if v["kind"] == "scenario"), None)
    )
    if name is None:
        return []
    block = scen[name]
    engines = _ok_engines(block)
    if not engines:
        return []
    values = [block["results"][e]["median"]["cpu_us_per_request"] for e in engines]
    labels = list(engines)
    scrapy = block.get("references", {}).get("scrapy", {}).get("summary")
    if scrapy:
        labels.append("scrapy")
        values.append(scrapy["cpu_us_per_request"])
    fig, ax = plt.subplots(figsize=(8, 3.6))
    bars = ax.barh(labels, values, color=[COLORS.get(n, "C0") for n in labels])
    ax.bar_label(bars, fmt="%.0f µs", fontsize=8, padding=3)
    ax.invert_yaxis()
    ax.set_xlabel("client CPU per request (µs, user + system)")
    ax.set_title(f"CPU per request — {block['params']['title']}", fontsize=10)
    ax.set_xlim(0, max(values) * 1.2)
    fig.tight_layout()
    return _save(fig, out, "cpu-per-request", svg=True)


def latency_cdf(results: dict[str, Any], scenario: str, out: Path) -> list[str]:
    """Latency CDFs, one small panel per engine (log time axis).

    Engines whose curves coincide would hide each other on one axis, so each panel draws
    one engine in its colour over every other one in light grey, with its p50 and p99
    marked: the grey shows where the pack is, the colour where this engine is.
    """
    plt = _plt()
    block = results["scenarios"][scenario]
    engines = [e for e in _ok_engines(block) if block["results"][e]["latencies_ms"]]
    if not engines:
        return []
    cols = min(3, len(engines))
    rows = -(-len(engines) // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        sharex=True,
        sharey=True,
        figsize=(3.4 * cols + 0.6, 2.3 * rows + 0.9),
        squeeze=False,
    )
    curves = {}
    for e in engines:
        lat = sorted(block["results"][e]["latencies_ms"])
        keep = range(0, len(lat), max(1, len(lat) // 400))  # 400 points draw a smooth curve
        ranks = sorted({*keep, len(lat) - 1})
        curves[e] = ([lat[i] for i in ranks], [(i + 1) / len(lat) for i in ranks])
    for n, e in enumerate(engines):
        ax = axes[n // cols][n % cols]
        for other, (xs, ys) in curves.items():
            if other != e:
                ax.plot(xs, ys, color="#cccccc", lw=0.8, zorder=1)
        xs, ys = curves[e]
        colour = COLORS.get(e, "C0")
        ax.plot(xs, ys, color=colour, lw=1.6, zorder=3)
        lat = sorted(block["results"][e]["latencies_ms"])
        p50, p99 = (lat[min(len(lat) - 1, int(q * len(lat)))] for q in (0.5, 0.99))
        ax.plot([p50, p99], [0.5, 0.99], "o", color=colour, ms=3, zorder=4)
        ax.set_title(f"{e}: p50 {p50:,.0f} ms, p99 {p99:,.0f} ms", fontsize=8.5)
        ax.axhline(0.99, color="#999", lw=0.6, ls=":")
        ax.set_xscale("log")
    for n in range(len(engines), rows * cols):
        axes[n // cols][n % cols].set_visible(False)
    fig.supxlabel("request latency, ms (log)", fontsize=9)
    fig.supylabel("fraction of requests", fontsize=9)
    fig.suptitle(
        f"Latency CDF — {block['params']['title']}\n(each engine in colour; grey: the others)",
        fontsize=10,
    )
    fig.tight_layout()
    return _save(fig, out, f"latency-cdf-{scenario}", svg=True)


def knee(
    points: list[dict[str, Any]],
    engine: str,
    delay: float,
    threshold: float = 0.8,
    busy: float = 0.5,
) -> int | None:
    """Where CPU takes over: the lowest concurrency at which ``engine`` falls below
    ``threshold`` of the ideal throughput *while* its client CPU is at least ``busy`` of a
    core (CPU per request × requests per second).  A dip with an idle CPU — start-up cost
    in a short run — is not a knee."""
    for p in sorted((p for p in points if p["delay_ms"] == delay), key=lambda p: p["concurrency"]):
        r = p["results"].get(engine, {})
        if "req_per_s" in r and p["ideal_s"]:
            ideal_rate = p["n"] / p["ideal_s"]
            cores = r.get("cpu_us_per_request", 0.0) * r["req_per_s"] / 1e6
            if r["req_per_s"] < threshold * ideal_rate and cores >= busy:
                return int(p["concurrency"])
    return None


def sweep(results: dict[str, Any], out: Path) -> list[str]:
    """Throughput against concurrency, one panel per delay, ideal overlaid, knees marked."""
    plt = _plt()
    block = results["scenarios"].get("sweep")
    if not block or not block["points"]:
        return []
    delays = block["params"]["delays_ms"]
    engines = sorted(
        {e for p in block["points"] for e, r in p["results"].items() if "req_per_s" in r},
        key=lambda e: list(COLORS).index(e) if e in COLORS else 99,
    )
    fig, axes = plt.subplots(1, len(delays), figsize=(4.2 * len(delays), 3.8), squeeze=False)
    for ax, delay in zip(axes[0], delays, strict=True):
        pts = sorted(
            (p for p in block["points"] if p["delay_ms"] == delay), key=lambda p: p["concurrency"]
        )
        cs = [p["concurrency"] for p in pts]
        ax.plot(cs, [p["n"] / p["ideal_s"] for p in pts], "k--", lw=1, label="ideal C / delay")
        for e in engines:
            xs = [p["concurrency"] for p in pts if "req_per_s" in p["results"].get(e, {})]
            ys = [
                p["results"][e]["req_per_s"] for p in pts if "req_per_s" in p["results"].get(e, {})
            ]
            ax.plot(xs, ys, marker="o", ms=3, lw=1.2, label=e, color=COLORS.get(e))
            k = knee(block["points"], e, delay)
            if k is not None and k in xs:
                ax.plot([k], [ys[xs.index(k)]], marker="x", ms=9, color=COLORS.get(e))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{delay:g} ms per request", fontsize=10)
        ax.set_xlabel("requests in flight (log)")
        ax.set_ylabel("requests / s (log)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(
        "Throughput against requests in flight\n"
        "(×: the knee, below 80 % of ideal with the CPU busy)",
        fontsize=10,
    )
    fig.tight_layout()
    return _save(fig, out, "sweep", svg=True)


def draw_all(results: dict[str, Any], out: Path) -> list[str]:
    """Every figure the results allow; returns the file names written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for name, block in results["scenarios"].items():
        if block["kind"] != "scenario":
            continue
        written += timelines(results, name, out)
        written += throughput(results, name, out)
        if block["params"].get("latency"):
            written += latency_cdf(results, name, out)
    written += cpu_per_request(results, out)
    written += sweep(results, out)
    return written
