"""List the engines, their concurrency model, and how to install the missing ones."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")


def run(args: argparse.Namespace) -> int:
    import json

    from concur.engines import ENGINES, install_hint, missing

    rows = []
    for name, spec in ENGINES.items():
        lacking = missing(name)
        rows.append(
            {
                "engine": name,
                "model": spec.model,
                "installed": not lacking,
                "install": install_hint(spec) if lacking else "",
            }
        )
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        status = "installed" if row["installed"] else f"missing: {row['install']}"
        print(f"{row['engine']:<10} {row['model']:<20} {status}")
    return 0
