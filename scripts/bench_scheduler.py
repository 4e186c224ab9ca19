"""Micro-benchmark: CPU the crawl scheduler spends per page, without any network.

A synthetic site (pages spread over hosts, each linking to others) is crawled in
simulated time: every fetch "completes" a fixed latency after it starts, answers are
prebuilt, so the only real work is the scheduler's.  The time inside
``Scheduler.next`` and ``Scheduler.complete`` is summed and divided by the pages
crawled.  Scenarios:

* ``core``       - seeds only, no link following: hand-out, politeness, record;
* ``html``       - each page is HTML: adds link extraction (selectolax + normalisation),
                   de-duplication, scope and queueing of every link;
* ``sqlite``     - ``html`` with the frontier and results in SQLite (WAL, batched);
* ``sqlite-1``   - the same, committing after every page.

Run:  python scripts/bench_scheduler.py [--pages 20000] [--hosts 50] [--links 20] [--repeat 5]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import statistics
import tempfile
import time
from pathlib import Path

from concur.attempt import Attempt, answer
from concur.crawl.frontier import Job
from concur.crawl.scheduler import CrawlOptions, Scheduler
from concur.crawl.scope import Scope
from concur.records import CrawlConfig
from concur.store.sqlite import SqliteStore


def build_site(pages: int, hosts: int, links: int, seed: int = 1) -> tuple[list[str], dict]:
    rng = random.Random(seed)
    names = [f"http://h{h}.bench.test" for h in range(hosts)]
    urls = [f"{names[i % hosts]}/page/{i}" for i in range(pages)]
    site: dict[str, Attempt] = {}
    for i, url in enumerate(urls):
        # mostly links to "nearby" pages (already known, as on real sites), a few new ones
        targets = [urls[(i + 1 + k) % pages] for k in range(3)]
        targets += [urls[rng.randrange(pages)] for _ in range(links - 3)]
        body = "".join(f'<a href="{t}">x</a>' for t in targets)
        html = f"<!doctype html><html><head></head><body>{body}</body></html>".encode()
        site[url] = answer(200, len(html), html, "text/html")
    return names, site


NOT_FOUND = answer(404, 0, b"", "text/plain")


def run(scenario: str, pages: int, hosts: int, links: int, tmp: Path) -> tuple[float, int]:
    names, site = build_site(pages, hosts, links)
    follow = scenario != "core"
    seeds = [f"{names[i % hosts]}/page/{i}" for i in range(pages)] if not follow else names
    frontier = None
    if scenario.startswith("sqlite"):
        db = tmp / f"{scenario}-{time.perf_counter_ns()}.db"
        frontier = SqliteStore(db, commit_every=1 if scenario == "sqlite-1" else 500)
    if follow:
        for name in names:  # every host root links to its first page
            first = next(u for u in site if u.startswith(name + "/"))
            html = f'<html><body><a href="{first}">first</a></body></html>'.encode()
            site[name + "/"] = answer(200, len(html), html, "text/html")
    records = 0

    def on_record(_r: object) -> None:
        nonlocal records
        records += 1

    sched = Scheduler(
        [s if not follow else s + "/" for s in seeds],
        CrawlConfig(concurrency=200),
        CrawlOptions(per_host=4, follow=follow),
        scope=Scope.for_seeds(names),
        frontier=frontier,
        on_record=on_record,
    )
    events: list[tuple[float, int, Job]] = []
    seq = itertools.count()
    now = 0.0
    spent = 0.0
    clock = time.perf_counter
    while True:
        t = clock()
        nxt = sched.next(now)
        spent += clock() - t
        if isinstance(nxt, Job):
            heapq.heappush(events, (now + 0.02, next(seq), nxt))
            continue
        if nxt is None:
            break
        wake = now + nxt
        if events and events[0][0] <= wake:
            when, _, job = heapq.heappop(events)
            now = max(now, when)
            page = site.get(job.url, NOT_FOUND)
            t = clock()
            sched.complete(job, page, now)
            spent += clock() - t
        else:
            now = wake
    t = clock()
    sched.close()
    spent += clock() - t
    return spent, records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=20_000)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--links", type=int, default=20, help="links per page")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scenarios", default="core,html,sqlite,sqlite-1", help="comma-separated")
    args = ap.parse_args()
    print(f"{args.pages} pages on {args.hosts} hosts, {args.links} links per page")
    print(f"{'scenario':10} {'pages':>7} {'us/page (median)':>17} {'min':>7} {'max':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in args.scenarios.split(","):
            costs = []
            n = 0
            for _ in range(args.repeat):
                spent, n = run(scenario, args.pages, args.hosts, args.links, Path(tmp))
                costs.append(spent / n * 1e6)
            print(
                f"{scenario:10} {n:7d} {statistics.median(costs):17.1f}"
                f" {min(costs):7.1f} {max(costs):7.1f}"
            )


if __name__ == "__main__":
    main()
