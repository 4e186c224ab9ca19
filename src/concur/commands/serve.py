"""Run the fixture HTTP server in the foreground until Ctrl-C.

Endpoints: /add?name=N&delay=MS (the book's), /bytes/N, /status/CODE, /redirect/N,
/drip, /echo; observe with /__stats, /metrics and /__timeline?name=N.
"""

from __future__ import annotations

import argparse

from mockserver.cli import add_arguments as _add_server_arguments

DESCRIPTION = """\
Run the fixture HTTP server in the foreground until Ctrl-C (the same as
python -m mockserver).  Delays are in milliseconds, timeouts in seconds.

Endpoints: /add?name=N&delay=MS (the book's), /bytes/N, /status/CODE, /redirect/N,
/drip, /echo; observe with /__stats, /metrics and /__timeline?name=N.  With --site,
also a seeded synthetic website on 127.0.0.1 ... 127.0.0.H, and its truth at /__site.
With --replay crawl.warc.gz, the answers a crawl --warc recorded instead, on every
recorded host, and their truth at /__replay (docs/replay.md).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _add_server_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from mockserver.cli import serve_command

    return serve_command(args, args._parser)
