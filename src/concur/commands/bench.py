"""Run every engine side by side on the benchmark scenarios, against the ideal.

Scenarios: book (1,000 × 100 ms, 100 in flight), scale (20,000 × 100 ms, 2,000),
cpu (zero delay), tail (lognormal latency), faults (5 % errors, retries), and
sweep (concurrency 1 → 1,000 at 50, 100 and 500 ms).  Each trial runs in a fresh
process; results go to DIR/results.json, figures and DIR/report.md beside it.

  concur bench --quick --out bench-quick          # under a minute
  concur bench book cpu --engines asyncio,uvloop,httpx --out out/
  concur plot out/results.json --out figures/     # redraw from the JSON alone
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from concur.args import fail, lacking, positive_int
from concur.bench.scenarios import NAMES

DESCRIPTION = """\
Run every engine side by side on the benchmark scenarios, against the ideal.

Scenarios: book (1,000 x 100 ms, 100 in flight), scale (20,000 x 100 ms, 2,000),
cpu (zero delay), tail (lognormal latency), faults (5 % errors, retries), tls
(the book's experiment over HTTPS, keep-alive) and tls-new (a new connection per
request), and sweep (concurrency 1 to 1,000 at 50, 100 and 500 ms).  Each trial runs in a fresh
process; results go to DIR/results.json, figures (matplotlib: pip install
'concur[plot]') and DIR/report.md beside it.  wrk and Scrapy (pip install
'concur[scrapy]') are measured as references when installed.

examples:
  concur bench --quick --out bench-quick          # under a minute
  concur bench book cpu --engines asyncio,uvloop,httpx --out out/
  concur plot out/results.json --out figures/     # redraw from the JSON alone
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help=f"some of: {', '.join(NAMES)}"
    )
    parser.add_argument(
        "--engines",
        metavar="NAME,...",
        help="comma-separated engines (default: every installed one)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small versions of every scenario (under a minute)"
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        metavar="N",
        help="trials per engine (default: 3, or 1 with --quick)",
    )
    parser.add_argument("--no-warmup", action="store_true", help="skip the warm-up trial")
    parser.add_argument(
        "--no-references",
        action="store_true",
        help="skip wrk and Scrapy (with --quick they run on the book scenario only)",
    )
    parser.add_argument(
        "--no-plots", action="store_true", help="results and report only (no matplotlib needed)"
    )
    parser.add_argument("--out", default="bench-out", metavar="DIR", help="the output folder")


def run(args: argparse.Namespace) -> int:
    import json

    from concur.bench.runner import quick_defaults, run_bench
    from concur.bench.schema import validate

    names = args.scenarios or list(NAMES)
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        args._parser.error(
            f"unknown scenario(s): {', '.join(unknown)} (choose from {', '.join(NAMES)})"
        )
    engines = [e.strip() for e in args.engines.split(",")] if args.engines else None
    _check_installs(args, engines)
    names = _with_tls(args, names)
    repeats, warmup = quick_defaults(args.repeats, False if args.no_warmup else None, args.quick)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    live = sys.stderr.isatty()
    started = time.perf_counter()

    def log(line: str) -> None:
        clear = "\r\x1b[2K" if live else ""
        print(clear + line, file=sys.stderr, flush=True)

    def progress(line: str) -> None:  # a status line, overwritten in place on a terminal
        if live:
            elapsed = time.perf_counter() - started
            sys.stderr.write(f"\r\x1b[2K{line}  [{elapsed:,.0f} s]")
            sys.stderr.flush()

    try:
        results = run_bench(
            names,
            engines,
            quick=args.quick,
            repeats=repeats,
            warmup=warmup,
            with_references=not args.no_references,
            log=log,
            progress=progress,
        )
    except ValueError as exc:
        fail(args._parser, str(exc))
    validate(results)
    (out / "results.json").write_text(json.dumps(results), encoding="utf-8")
    from concur.bench.report import print_tables, write_report

    print_tables(results)
    figures: list[str] = []
    if not args.no_plots:
        figures = _plot(results, out)
    report = write_report(results, figures, out)
    print(f"results: {out / 'results.json'}   report: {report}   figures: {len(figures)}")
    return 0


def _check_installs(args: argparse.Namespace, engines: list[str] | None) -> None:
    """Before any trial: what this run needs is installed, or exit 2 with the pip line."""
    from concur.engines import ENGINES, install_hint, missing

    for name in engines or ():
        if name not in ENGINES:
            fail(args._parser, f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")
        if missing(name):
            fail(
                args._parser,
                f"engine {name!r} needs {', '.join(missing(name))}: {install_hint(ENGINES[name])}",
            )
    if not args.no_plots and lacking(["matplotlib"]):
        hint = "pip install 'concur[plot]' (or --no-plots)"
        fail(args._parser, f"the figures need matplotlib: {hint}")
    if not args.no_references and lacking(["scrapy"]):
        print(
            "concur bench: no Scrapy reference without scrapy: pip install 'concur[scrapy]'",
            file=sys.stderr,
        )


def _with_tls(args: argparse.Namespace, names: list[str]) -> list[str]:
    """The HTTPS scenarios need trustme for the server's certificates: asked for by name,
    its pip line and exit 2; part of the default set, left out with that line."""
    from concur.bench.scenarios import scenarios

    table = scenarios(args.quick)
    tls = [n for n in names if getattr(table[n], "tls", False)]
    if not tls or not lacking(["trustme"]):
        return names
    hint = "pip install 'concur[tls]'"
    if args.scenarios:
        fail(args._parser, f"{', '.join(tls)} serve HTTPS and need trustme: {hint}")
    print(f"concur bench: no {', '.join(tls)} (HTTPS) without trustme: {hint}", file=sys.stderr)
    return [n for n in names if n not in tls]


def _plot(results: dict[str, Any], out: Path) -> list[str]:
    try:
        from concur.bench.plots import draw_all
    except ImportError:
        print("concur bench: no figures: pip install 'concur[plot]'", file=sys.stderr)
        return []
    try:
        return draw_all(results, out)
    except ImportError:
        print("concur bench: no figures: pip install 'concur[plot]'", file=sys.stderr)
        return []
