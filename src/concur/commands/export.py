"""``concur export --frontier URL -o FILE``: a shared crawl's records as JSON Lines.

The records are read from the server in the order they were made, one JSON object a
line, in the same form as ``concur crawl -o``; a crawl still running gives what is done.
"""

from __future__ import annotations

import argparse
import sys

from concur.commands.crawl_args import add_shared_arguments
from concur.commands.output import check_writable, write_jsonl

DESCRIPTION = """\
Write the records of a shared crawl (one per admitted URL) as JSON Lines.

example:
  concur export --frontier redis://crawler.lan:6379/0 --name docs -o pages.jsonl
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_shared_arguments(parser.add_argument_group("the shared crawl"), seeding=False)
    parser.add_argument("-o", "--output", metavar="FILE", required=True, help="- for stdout")


def run(ns: argparse.Namespace) -> int:
    from concur.cluster.frontier import FrontierSpec, RedisFrontier
    from concur.errors import ConcurError

    frontier = RedisFrontier(FrontierSpec(ns.frontier, ns.name or "crawl"))
    try:
        if not frontier.exists():
            raise ConcurError(f"{frontier.where()}: no such crawl")
        path = "/dev/stdout" if ns.output == "-" else ns.output
        if ns.output != "-":
            check_writable(path)
        n = write_jsonl(path, frontier.records())
    finally:
        frontier.close()
    if ns.output != "-":
        print(f"concur export: {n:,} records to {ns.output}", file=sys.stderr)
    return 0
