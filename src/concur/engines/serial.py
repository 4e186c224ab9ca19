"""serial + requests: one request after another — the baseline for every other engine.

What it teaches: with nothing overlapping, a crawl takes the *sum* of its latencies.
1,000 requests of 100 ms take 100 s however fast the machine is, because the program
spends nearly all of it waiting for the network with the CPU idle.  Little's law with
one request in flight: throughput is 1 / latency.  Run it with ``-n 20`` or so.

It ignores ``config.concurrency`` on purpose: its peak in flight is always 1.  It
still uses one keep-alive ``requests.Session``, so the cost it shows is waiting, not
opening a TCP connection per URL (what ``requests.get`` without a session does).

What to look for: wall time ≈ N × delay; requests/s ≈ 1 / delay; CPU µs per request
is the lowest of the three requests engines (no thread switches, no contended locks,
no pipes) — the figure that ``threads`` and ``processes`` add their overhead to.  It
is not the lowest of all: requests spends ~350 µs of CPU per request here, aiohttp
about a third of that, so ``asyncio`` costs less per request even with 100 in flight.

Compare with: ``threads`` (the same blocking code and the same ``fetch_once``, run by
C threads at once) and ``asyncio`` (C requests in flight on this one thread).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from concur.engines.base import InFlight, Meter, OnRecord, fetch_sync
from concur.engines.requests_common import Fetcher, Watchdog
from concur.records import CrawlConfig, CrawlResult, FetchRecord

if TYPE_CHECKING:
    from concur.engines.crawling import CrawlPlan


def run(urls: Sequence[str], config: CrawlConfig, on_record: OnRecord = None) -> CrawlResult:
    """Fetch every URL in order, one at a time, on one session."""
    meter = Meter()
    gauge = InFlight()
    records: list[FetchRecord] = []
    with Watchdog() as watchdog, Fetcher(config, watchdog, gauge) as fetch_once:
        for index, url in enumerate(urls):
            record = fetch_sync(fetch_once, index, url, config, meter.t0)
            records.append(record)
            if on_record is not None:
                on_record(record)
    return meter.result("serial", config, records, gauge.peak)


def follow(plan: CrawlPlan, config: CrawlConfig, on_record: OnRecord = None) -> CrawlResult:
    """Crawl mode: one request at a time (the threads engine's driver with one worker)."""
    from concur.engines.threads import follow_blocking

    return follow_blocking("serial", plan, config, on_record, 1)
