"""``concur status --frontier URL``: a shared crawl as a whole, from its server.

Pages recorded, URLs queued (per host), leased and waiting for a retry, the workers
heard from recently, records per second; without ``--name``, every crawl the server
holds.  It only reads: run it as often as you like while the crawl goes on.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from concur.commands.crawl_args import add_shared_arguments

DESCRIPTION = """\
Show a shared crawl as a whole: records, queued, leased, per host, workers alive,
records per second.  Without --name, every crawl on the server.

examples:
  concur status --frontier redis://crawler.lan:6379/0
  concur status --frontier redis://crawler.lan:6379/0 --name docs --json
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_shared_arguments(parser.add_argument_group("the shared crawl"), seeding=False)
    parser.add_argument("--json", action="store_true", help="as JSON, one object a crawl")
    parser.add_argument("--hosts", type=int, default=10, metavar="N", help="hosts listed at most")


def run(ns: argparse.Namespace) -> int:
    from concur.cluster.frontier import FrontierSpec, RedisFrontier, crawls
    from concur.errors import ConcurError

    names = [ns.name] if ns.name else crawls(ns.frontier)
    if not names:
        raise ConcurError(f"{ns.frontier} holds no crawl")
    for name in names:
        frontier = RedisFrontier(FrontierSpec(ns.frontier, name))
        try:
            status = frontier.status()
        except LookupError as exc:
            raise ConcurError(str(exc)) from None
        finally:
            frontier.close()
        print(json.dumps(status) if ns.json else render(status, ns.hosts))
    return 0


def render(s: dict[str, Any], hosts: int = 10) -> str:
    """A few lines a person reads at a glance."""
    lines = [
        f"crawl {s['name']!r} on {s['server'].rpartition(' (')[0]}: {s['state']}",
        f"  {s['records']:,} records ({s['errors']:,} errors, {s['disallowed']:,} robots.txt) "
        f"of {s['admitted']:,} URLs admitted   {s['records_per_s']:,.1f} records/s "
        f"over {s['elapsed_s']:.1f} s",
        f"  {s['queued']:,} queued   {s['leased']:,} leased   {s['waiting_retry']:,} waiting "
        f"to retry   {s['retries']:,} retries ({s['expired']:,} leases expired, "
        f"{s['released']:,} given back)",
        f"  {len(s['workers_alive'])} workers alive"
        + (f": {', '.join(s['workers_alive'][:8])}" if s["workers_alive"] else ""),
        f"  {s['hosts']:,} hosts   server memory {s['memory_bytes'] / 2**20:,.1f} MiB",
    ]
    busiest = sorted(s["queued_per_host"].items(), key=lambda kv: -kv[1])[:hosts]
    lines += [f"    {n:>8,} queued  {host}" for host, n in busiest if n]
    return "\n".join(lines)
