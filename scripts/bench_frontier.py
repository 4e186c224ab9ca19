"""Does memory stay flat as the frontier grows?  RSS while 1,000,000 URLs are queued.

    python scripts/bench_frontier.py [--urls 1000000] [--hosts 1 1000] [--memory]

The crawl scheduler is driven without any network: each "hub" page it hands out
completes at once with ``per_hub`` new links, so the queue grows by that many URLs per
page.  With the SQLite store (the default) queued URLs live in the file and the
scheduler keeps a window of at most ``window`` per host in RAM; ``--memory`` runs the
in-memory frontier for contrast.  RSS (VmRSS) is printed every 10 % of the way, with
the time per queued URL.  ``--hosts`` spreads the links over that many hosts, which is
what grows the per-host windows.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from concur.attempt import answer
from concur.crawl.scheduler import CrawlOptions, Scheduler
from concur.crawl.scope import Scope
from concur.store.sqlite import SqliteStore


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fill(urls: int, hosts: int, per_hub: int, memory: bool, folder: Path) -> list[tuple]:
    store = None if memory else SqliteStore(folder / f"frontier-{hosts}.db", commit_every=500)
    hubs = urls // per_hub
    seeds = [f"http://hub.test/hub/{h}" for h in range(hubs)]
    options = CrawlOptions(obey_robots=False, per_host=1, window=64)
    scope = Scope.for_seeds(seeds, domains=["test"])  # every *.test host is in scope
    sched = Scheduler(seeds, options=options, scope=scope, frontier=store)
    rows = [(0, rss_mb(), 0.0)]
    t0 = time.perf_counter()
    step = max(1, hubs // 10)
    for h in range(hubs):
        job = sched.next(float(h))
        assert job is not None and not isinstance(job, float), job
        links = [f"http://h{(h * per_hub + i) % hosts}.test/leaf/{h}/{i}" for i in range(per_hub)]
        html = "".join(f'<a href="{u}">x</a>' for u in links).encode()
        sched.complete(job, answer(200, len(html), html, "text/html"), float(h))
        if (h + 1) % step == 0:
            rows.append((sched.queued, rss_mb(), time.perf_counter() - t0))
    sched.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=1_000_000)
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 1000])
    parser.add_argument("--per-hub", type=int, default=1000)
    parser.add_argument("--memory", action="store_true", help="the in-memory frontier instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for hosts in args.hosts:
            rows = fill(args.urls, hosts, args.per_hub, args.memory, Path(tmp))
            kind = "memory" if args.memory else "sqlite"
            print(f"\n{kind} frontier, links over {hosts} host(s)")
            print("| queued URLs | RSS MiB | seconds | µs per queued URL |")
            print("|---:|---:|---:|---:|")
            for queued, rss, secs in rows:
                per = secs / queued * 1e6 if queued else 0.0
                print(f"| {queued:,} | {rss:.1f} | {secs:.1f} | {per:.1f} |")


if __name__ == "__main__":
    main()
