"""Run the fixture HTTP server in the foreground until Ctrl-C.

Endpoints: /add?name=N&delay=MS (the book's), /bytes/N, /status/CODE, /redirect/N,
/drip, /echo; observe with /__stats, /metrics and /__timeline?name=N.
"""

from __future__ import annotations

import argparse

from mockserver.cli import add_arguments as _add_server_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _add_server_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from mockserver.cli import serve_command

    return serve_command(args, args._parser)
