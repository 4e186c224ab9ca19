"""``concur``: one subcommand per job; this module parses and delegates, nothing else.

Each command lives in :mod:`concur.commands` as a module with ``DESCRIPTION`` (plain
text for ``--help``), ``add_arguments(parser)`` and ``run(args) -> int``; its heavy
imports happen inside ``run``, so ``concur --help`` stays instant and a missing optional
dependency only affects the command that needs it.

Errors reach the user as one line and exit status 2: usage errors from argparse (see
:class:`Parser`), and any :class:`~concur.errors.ConcurError` a command lets through
(a missing engine library, with its pip line; a crawl file that cannot be used).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from concur.args import Help, Parser

COMMANDS = {
    "crawl": ("concur.commands.crawl", "fetch URLs, crawl, or run the book's experiment"),
    "serve": (
        "concur.commands.serve",
        "run the fixture HTTP server (same as python -m mockserver)",
    ),
    "bench": ("concur.commands.bench", "run every engine side by side on the benchmark scenarios"),
    "plot": ("concur.commands.plot", "redraw a benchmark's figures and report from results.json"),
    "plan": ("concur.commands.plan", "which model to pick for a rate and a latency, computed"),
    "gil": ("concur.commands.gil", "the GIL lab: eight experiments, with figures and JSON"),
    "engines": ("concur.commands.engines", "list the engines, their options and installs"),
    "worker": ("concur.commands.worker", "join a shared crawl (Redis/Valkey) from this machine"),
    "status": ("concur.commands.status", "show a shared crawl as a whole: pages, queue, workers"),
    "export": ("concur.commands.export", "write a shared crawl's records as JSON Lines"),
    "learn": ("concur.commands.learn", "a learner's path: six small crawlers, serial to gevent"),
}


def _fill_missing_help(parser: argparse.ArgumentParser) -> None:
    """Options without a help text still say their default (``--idle-timeout S``)."""
    for action in parser._actions:
        if action.help is None and action.option_strings:
            action.help = ""  # Help adds the default; an empty text shows nothing else
            if action.default not in (None, False, argparse.SUPPRESS):
                action.help = "(default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="concur",
        description="I/O-bound concurrency made visible and measurable.",
        formatter_class=Help,
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=Parser
    )
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            name, help=help_text, description=module.DESCRIPTION, formatter_class=Help
        )
        module.add_arguments(p)
        _fill_missing_help(p)
        p.set_defaults(_module=module, _parser=p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from concur.errors import ConcurError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args._module.run(args)
    except ConcurError as exc:  # a run that cannot start or go on: one line, no traceback
        print(f"{args._parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("concur: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `concur ... | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the exit's flush does not raise again
        return 141  # 128 + SIGPIPE, as a shell reports a process killed by it
    return code


if __name__ == "__main__":
    raise SystemExit(main())
