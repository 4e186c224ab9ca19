"""Redraw every figure and the report of a benchmark from its results.json alone."""

from __future__ import annotations

import argparse

from concur.args import fail, lacking

DESCRIPTION = """\
Redraw every figure and the report of a benchmark from its results.json alone.

Needs matplotlib: pip install 'concur[plot]'.

example:
  concur plot bench-out/results.json --out figures/
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results", metavar="RESULTS_JSON", help="a results.json written by concur bench"
    )
    parser.add_argument(
        "--out", default=None, metavar="DIR", help="the output folder (default: beside it)"
    )


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    parser: argparse.ArgumentParser = args._parser
    if lacking(["matplotlib"]):  # before reading anything
        fail(parser, "the figures need matplotlib: pip install 'concur[plot]'")
    from concur.bench.plots import draw_all
    from concur.bench.report import write_report
    from concur.bench.schema import SchemaError, validate

    path = Path(args.results)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
        validate(results)
    except (OSError, ValueError, SchemaError) as exc:
        fail(parser, f"{path}: {exc}")
    out = Path(args.out) if args.out else path.parent
    figures = draw_all(results, out)
    report = write_report(results, figures, out)
    print(f"{len(figures)} figures and {report} in {out}")
    return 0
