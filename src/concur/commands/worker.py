"""``concur worker``: join a shared crawl from this machine, with any engine.

The crawl was seeded by ``concur crawl --frontier URL ...`` (or ``--workers``); a worker
reads the crawl's plan and config from the server, crawls with ``--impl`` at ``-c``
requests in flight until nothing is queued or leased anywhere, then prints what it did
itself and exits.  Workers may join and leave at any time: one that is stopped (Ctrl-C,
SIGTERM) hands in what it finished; one that dies loses its leases to the others.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace

from concur.args import UsageError, positive_int
from concur.commands import interrupt
from concur.commands.crawl_args import (
    add_connect_arguments,
    add_engine_options,
    add_shared_arguments,
    engine_options,
)
from concur.commands.output import check_writable, report, write_jsonl
from concur.engines import ENGINES

DESCRIPTION = """\
Join a shared crawl (seeded with concur crawl --frontier URL or --workers) and crawl
it with one engine until it is done; then print this worker's part.

examples:
  concur worker --frontier redis://crawler.lan:6379/0 --impl uvloop -c 200
  concur worker --frontier rediss://:secret@host:6380/0 --name docs --impl threads
"""


@dataclass(frozen=True, slots=True)
class _Out:
    output: str | None
    json: bool
    fail_on_error: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--impl",
        "--engine",
        default="asyncio",
        choices=list(ENGINES),
        help="the engine this worker crawls with (any: workers of one crawl may differ)",
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        type=positive_int,
        default=None,
        metavar="N",
        help="requests in flight in this worker (default: the crawl's)",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="this worker's records (JSON Lines)")
    parser.add_argument("--json", action="store_true", help="the summary as JSON, on one line")
    add_connect_arguments(parser)
    add_shared_arguments(parser.add_argument_group("the shared crawl"), seeding=False)
    add_engine_options(parser)


def run(ns: argparse.Namespace) -> int:
    from concur.cluster.frontier import FrontierSpec, RedisFrontier
    from concur.engines import get_engine
    from concur.errors import ConcurError
    from concur.report import crawl_summary, render_crawl

    try:
        options = engine_options(ns)
    except UsageError as exc:
        ns._parser.error(str(exc))
    spec = FrontierSpec(ns.frontier, ns.name or "crawl", ns.lease or 30.0)
    engine = get_engine(ns.impl, **dict(options))
    if ns.output:
        check_writable(ns.output)
    frontier = RedisFrontier(spec)
    try:
        plan, config = frontier.plan()
    except LookupError as exc:
        raise ConcurError(str(exc)) from None
    finally:
        frontier.close()
    if ns.concurrency is not None:
        config = replace(config, concurrency=ns.concurrency)
    if ns.resolve or ns.ca_file:  # this machine's way to the hosts, not the crawl's
        config = replace(
            config,
            resolve=tuple(ns.resolve or ()) or config.resolve,
            ca_file=ns.ca_file or config.ca_file,
        )
    if config.warc:  # the crawl keeps WARC files: this worker writes its own
        from concur.warc import require_warcio

        require_warcio()
    if not ns.json:
        print(f"concur worker: joining {frontier.where()} with {ns.impl}", file=sys.stderr)
    with interrupt.signals():
        try:
            result = engine.run(("cluster", spec), config)
        except KeyboardInterrupt as stop:
            print(f"concur worker: stopped ({interrupt.signal_name(stop)})", file=sys.stderr)
            return interrupt.exit_status(stop)
    summary = crawl_summary(result, plan.options)
    summary["worker"] = result.extra
    out = _Out(ns.output, ns.json)
    return report(out, summary, render_crawl, lambda path: write_jsonl(path, result.records))
