"""List the engines, their concurrency model, their options, and how to install the missing."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = """\
List the engines in reading order: the concurrency model of each, whether it is
installed (if not, the pip command that installs it), and the options it takes,
each a flag of concur crawl (e.g. --client simple for tornado).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON array instead of a table")


def _choices(allowed: tuple[Any, ...] | type) -> list[str] | str:
    """An option's values: the allowed ones, or the type's name ("int": a positive int)."""
    return allowed.__name__ if isinstance(allowed, type) else [str(v) for v in allowed]


def _flags(options: dict[str, list[str] | str]) -> str:
    """``--client curl|simple`` for each option, as ``concur crawl`` takes it."""
    return "  ".join(
        f"--{name.replace('_', '-')} {'N' if isinstance(v, str) else '|'.join(v)}"
        for name, v in options.items()
    )


def run(args: argparse.Namespace) -> int:
    import json

    from concur.engines import ENGINES, install_hint, missing

    rows: list[dict[str, Any]] = []
    for name, spec in ENGINES.items():
        lacking = missing(name)
        rows.append(
            {
                "engine": name,
                "model": spec.model,
                "installed": not lacking,
                "install": install_hint(spec) if lacking else "",
                "options": {k: _choices(v) for k, v in spec.choices.items()},
            }
        )
    if args.json:
        print(json.dumps(rows))
        return 0
    status = [("installed" if r["installed"] else f"missing: {r['install']}") for r in rows]
    width = max(map(len, status))
    for row, state in zip(rows, status, strict=True):
        line = f"{row['engine']:<10} {row['model']:<20} {state:<{width}}  {_flags(row['options'])}"
        print(line.rstrip())
    return 0
