"""Tables and a Markdown report from a results JSON alone.

The terminal table and ``report.md`` read only the saved results, so a report can be
regenerated, diffed and published without rerunning anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from concur.bench.references import NAMES, not_run

READINGS = {
    "cpu": "Client CPU per request at zero delay: the cost of the library and the concurrency "
    "model, once waiting is taken away. This is where the client libraries differ: the "
    "protocol engine, with none, shows what the loop, protocol and parser cost alone.",
    "cdf": "The fraction of requests finished within a latency, one panel per engine: its "
    "curve in colour (dots at p50 and p99) over every other engine's in grey. A lognormal "
    "server tail is the same for every engine; an engine whose curve bends right of the grey "
    "pack adds its own wait.",
    "sweep": "Throughput against requests in flight. The ideal is concurrency / delay; every "
    "engine follows it until its CPU per request takes over (× marks the knee: below 80 % of "
    "ideal with the client CPU at least half a core busy). Longer delays push the knee to "
    "higher concurrency.",
}


def reading(kind: str, block: dict[str, Any]) -> str:
    """The caption of one figure, saying only what that scenario's figure shows."""
    params = block["params"]
    ideal = params.get("ideal_s")
    has_wrk = "req_per_s" in block.get("references", {}).get("wrk", {})
    if kind == "timeline":
        text = "Each horizontal segment is one request, from its start to its end. "
        if params.get("latency"):
            text += (
                "Latencies are drawn from a distribution, so there are no steps: long segments "
                "are the slow tail, each holding a slot that no other request can use. The "
                "dashed ideal is computed from the very delays the seeded server drew."
            )
        elif ideal:
            text += (
                f"A concurrent engine draws steps of {params['concurrency']:,} requests, one "
                "step per delay; slanted or widening steps are client overhead. Compare the "
                "right edge with the dashed ideal."
            )
        elif params.get("faults"):
            text += (
                f"Each request waits {params.get('delay_ms') or 0:g} ms on the server, and "
                "failures are retried, so there is no ideal to mark: the slope is the engine's "
                "request rate, retries included."
            )
        else:
            text += (
                "With no delay at all, the slope is the engine's request rate: the steeper, "
                "the less CPU each request costs."
            )
        if any("median" in r and r["median"].get("failed") for r in block["results"].values()):
            text += " Magenta segments, each with a × at its end, failed."
        if params.get("faults"):
            text += " A long segment is a request retried, waiting out Retry-After or a backoff."
        return text
    if kind == "throughput":
        text = "Requests per second per engine (median, whiskers min–max)"
        marks = []
        if ideal:
            marks.append("the Little's-law ideal (dashed)")
        if has_wrk:
            marks.append("wrk, a load generator written in C, as the ceiling (dotted)")
        text += ", with " + " and ".join(marks) + ". " if marks else ". "
        if ideal:
            return text + "The second panel is efficiency = ideal / wall."
        return text + "The second panel is client CPU per request (µs, user + system)."
    return READINGS[kind]


def table_rows(block: dict[str, Any]) -> list[list[str]]:
    rows = []
    for engine, r in block["results"].items():
        if "median" not in r:
            error = r.get("error", "").split(": ", 1)[-1][:70]
            rows.append([engine, "—", "—", "—", "—", "—", "—", "—", "—", f"error: {error}"])
            continue
        m = r["median"]
        eff = m.get("efficiency")
        note = f"scaled from {r['n']}" if r.get("n") != block["params"]["n"] else ""
        if m.get("failed"):
            note = (note + "; " if note else "") + f"{m['failed']:.0f} failed"
        if block["params"].get("retries") and m.get("attempts"):
            note = (note + "; " if note else "") + f"{m['attempts']:,.0f} attempts"
        variant = (r.get("trials") or [{}])[0].get("variant") or {}
        named = ", ".join(f"{k} {v}" for k, v in variant.items() if isinstance(v, str))
        if named:  # which client or transport ran, where the engine has a choice
            note = (note + "; " if note else "") + named
        rows.append(
            [
                engine,
                f"{m['wall_s']:.3f}",
                "—"
                if block["params"].get("ideal_s") is None
                else f"{block['params']['ideal_s']:.2f}",
                "—" if eff is None else f"{eff:.1%}",
                f"{m['req_per_s']:,.0f}",
                f"{m['cpu_us_per_request']:,.0f}",
                f"{m['latency_ms']['p50']:.1f}",
                f"{m['latency_ms']['p99']:.1f}",
                f"{m['peak_rss_mb']:.0f}",
                note,
            ]
        )
    refs = block.get("references", {})
    s = refs.get("scrapy", {}).get("summary")
    if s:
        eff = s.get("efficiency")
        rows.append(
            [
                "scrapy",
                f"{s['wall_s']:.3f}",
                "",
                "—" if eff is None else f"{eff:.1%}",
                f"{s['req_per_s']:,.0f}",
                f"{s['cpu_us_per_request']:,.0f}",
                f"{s['latency_ms']['p50']:.1f}",
                f"{s['latency_ms']['p99']:.1f}",
                f"{s['peak_rss_mb']:.0f}",
                "reference",
            ]
        )
    w = refs.get("wrk", {})
    if "req_per_s" in w:
        rows.append(
            [
                "wrk",
                "",
                "",
                "",
                f"{w['req_per_s']:,.0f}",
                "",
                "",
                "",
                "",
                f"reference, {w['connections']} connections",
            ]
        )
    return rows


HEADER = [
    "engine",
    "wall s",
    "ideal s",
    "efficiency",
    "req/s",
    "CPU µs/req",
    "p50 ms",
    "p99 ms",
    "RSS MiB",
    "note",
]


def markdown_table(block: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(block)]
    return "\n".join(lines)


def references_note(block: dict[str, Any]) -> str:
    """A line naming each reference (wrk, Scrapy) that gave no figure here, and why."""
    missing = not_run(block.get("references"))
    if not missing:
        return ""
    return "References: " + "; ".join(f"{NAMES[t]} {why}" for t, why in missing.items()) + "."


def sweep_rows(block: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The sweep as a table: requests/s per engine at each (delay, concurrency) point."""
    engines = sorted({e for p in block["points"] for e in p["results"]})
    rows = []
    for p in block["points"]:
        ideal = p["n"] / p["ideal_s"] if p["ideal_s"] else 0
        cells = [
            f"{p['results'][e]['req_per_s']:,.0f}"
            if "req_per_s" in p["results"].get(e, {})
            else "—"
            for e in engines
        ]
        rows.append([f"{p['delay_ms']:g}", str(p["concurrency"]), f"{ideal:,.0f}", *cells])
    return ["delay ms", "in flight", "ideal req/s", *engines], rows


def sweep_table(block: dict[str, Any]) -> str:
    header, rows = sweep_rows(block)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def print_tables(results: dict[str, Any]) -> None:
    """Terminal tables, one per scenario (rich when installed, which the core requires)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(140, Console().width))
    for block in results["scenarios"].values():
        if block["kind"] == "sweep":
            header, rows = sweep_rows(block)
            sweep = Table(title=f"{block['title']} (requests/s)", title_justify="left")
            for h in header:
                sweep.add_column(h, justify="right")
            for row in rows:
                sweep.add_row(*row)
            console.print(sweep)
            continue
        table = Table(title=block["params"]["title"], title_justify="left")
        for h in HEADER:
            table.add_column(h, justify="left" if h in ("engine", "note") else "right")
        for row in table_rows(block):
            table.add_row(*row)
        console.print(table)
        note = references_note(block)
        if note:
            console.print(note, highlight=False, markup=False)


def write_report(results: dict[str, Any], figures: list[str], out: Path) -> Path:
    """``report.md``: every table and figure with a short reading of each."""
    m = results["machine"]
    parts = [
        "# concur bench report",
        "",
        f"{results['created']} · Python {m['python']} · {m['cpu_count']} cores · {m['platform']} · "
        f"{'quick' if results['quick'] else 'full'} run, {results['repeats']} trial(s) per engine, "
        f"medians · {results.get('duration_s', 0):.0f} s in all",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()),
        "",
    ]
    figs = set(figures)
    for name, block in results["scenarios"].items():
        if block["kind"] == "sweep":
            parts += [f"## {block['title']}", "", block.get("why", ""), "", sweep_table(block), ""]
            if "sweep.png" in figs:
                parts += ["![sweep](sweep.png)", "", READINGS["sweep"], ""]
            continue
        parts += [
            f"## {block['params']['title']}",
            "",
            block.get("why", ""),
            "",
            markdown_table(block),
            "",
        ]
        note = references_note(block)
        if note:
            parts += [note, ""]
        for stem, kind in (
            (f"timeline-{name}", "timeline"),
            (f"throughput-{name}", "throughput"),
            (f"latency-cdf-{name}", "cdf"),
        ):
            if f"{stem}.png" in figs:
                parts += [f"![{stem}]({stem}.png)", "", reading(kind, block), ""]
    if "cpu-per-request.png" in figs:
        parts += ["## CPU per request", "", "![cpu](cpu-per-request.png)", "", READINGS["cpu"], ""]
    path = out / "report.md"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
