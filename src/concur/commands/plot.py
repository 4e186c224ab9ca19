"""Redraw every figure and the report of a benchmark from its results.json alone."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results", metavar="RESULTS_JSON", help="a results.json written by concur bench"
    )
    parser.add_argument(
        "--out", default=None, metavar="DIR", help="output folder (default: beside it)"
    )


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from concur.bench.report import write_report
    from concur.bench.schema import SchemaError, validate

    path = Path(args.results)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
        validate(results)
    except (OSError, ValueError, SchemaError) as exc:
        args._parser.exit(2, f"concur plot: error: {path}: {exc}\n")
    out = Path(args.out) if args.out else path.parent
    try:
        from concur.bench.plots import draw_all

        figures = draw_all(results, out)
    except ImportError:
        args._parser.exit(
            2, "concur plot: error: matplotlib is missing: pip install 'concur[plot]'\n"
        )
    report = write_report(results, figures, out)
    print(f"{len(figures)} figures and {report} in {out}")
    return 0
