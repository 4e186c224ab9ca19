"""``concur``: one subcommand per job; this module parses and delegates, nothing else.

Each command lives in :mod:`concur.commands` as a module with ``add_arguments(parser)``
and ``run(args) -> int``; its heavy imports happen inside ``run``, so ``concur --help``
stays instant and a missing optional dependency only affects the command that needs it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

COMMANDS = {
    "crawl": ("concur.commands.crawl", "fetch URLs (or run the book's experiment) with one engine"),
    "serve": (
        "concur.commands.serve",
        "run the fixture HTTP server (same as python -m mockserver)",
    ),
    "bench": ("concur.commands.bench", "run every engine side by side on the benchmark scenarios"),
    "plot": ("concur.commands.plot", "redraw a benchmark's figures and report from results.json"),
    "gil": ("concur.commands.gil", "the GIL lab: eight experiments, with figures and JSON"),
    "engines": ("concur.commands.engines", "list the engines and whether each is installed"),
}


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line: what went wrong and where help is.

    argparse's own ``error`` prints the whole usage block first, a dozen lines for
    ``concur crawl``, in which the one line that matters is easy to miss.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="concur",
        description="I/O-bound concurrency made visible and measurable.",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=Parser
    )
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=module.__doc__)
        p.formatter_class = argparse.RawDescriptionHelpFormatter
        module.add_arguments(p)
        p.set_defaults(_module=module, _parser=p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args._module.run(args)
    except KeyboardInterrupt:
        print("concur: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
