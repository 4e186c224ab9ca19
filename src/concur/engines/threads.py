"""threads + requests: C operating-system threads, each making blocking requests.

What it teaches: blocking code overlaps its waits once several threads run it.  A
thread blocked in ``recv`` has released the GIL, so while one thread waits for the
network the others run; the OS decides who runs next (pre-emptive), and the GIL lets
only one of them execute Python at a time.  For I/O-bound work that is nearly enough:
the book's 1,000 × 100 ms at 100 threads take ~1.1 s here (asyncio ~1.05 s); the gap
is requests' CPU, ~0.5 ms per request, queued behind one GIL.

How it is built: ``config.concurrency`` worker threads (no more than there are URLs)
pull ``(index, url)`` pairs from one shared iterator behind a lock, so each URL goes to
exactly one worker and never more than C requests are in flight, without a task or a
future per URL.  Each worker owns a ``requests.Session`` — a keep-alive connection of
its own, and requests does not promise that sessions are thread-safe — for as long as
it runs.  The workers live exactly as long as the crawl, so a local variable of the
worker function is all the per-thread state needed (``threading.local`` is for pools
whose threads outlive the code that uses them), and each session is closed when its
worker ends.  ``on_record`` is called under a lock, so a callback never runs in two
threads at once.

What to look for: efficiency within 5-10 % of asyncio's at C = 100; CPU µs per request
higher than serial's (thread switches and GIL hand-offs, ``sys.getswitchinterval``),
growing with C (~370 µs at C = 10, ~550 µs at C = 100 and 500 here); memory grows with
C too (each thread has a stack, however little of it is resident).  Raise ``-c`` to a
few thousand: the GIL, not the network, becomes the limit.

Compare with: ``serial`` (the same ``fetch_once``, one thread), ``gevent`` (the same
blocking style, switched by an event loop instead of the OS), ``asyncio`` (explicit
``await`` instead of pre-emption) and ``processes`` (the same threads spread over one
process per CPU, each with a GIL of its own).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from concur.crawl import Job, Page
from concur.engines.base import InFlight, Meter, OnRecord, fetch_sync
from concur.engines.requests_common import Fetcher, Watchdog
from concur.records import CrawlConfig, CrawlResult, FetchRecord

if TYPE_CHECKING:
    from concur.engines.crawling import CrawlPlan


def run(urls: Sequence[str], config: CrawlConfig, on_record: OnRecord = None) -> CrawlResult:
    """Fetch every URL with ``config.concurrency`` threads, each on its own session."""
    meter = Meter()
    gauge = InFlight(threadsafe=True)
    records: list[FetchRecord] = []
    work: Iterator[tuple[int, str]] = iter(enumerate(urls))
    take_lock = threading.Lock()  # next() on a shared iterator is not promised to be atomic
    report_lock = threading.Lock()
    stop = threading.Event()  # set when the main thread gives up (Ctrl-C) or a worker fails
    failures: list[BaseException] = []

    def take() -> tuple[int, str] | None:
        with take_lock:
            return next(work, None)

    def worker(watchdog: Watchdog) -> None:
        try:
            with Fetcher(config, watchdog, gauge) as fetch_once:
                while not stop.is_set() and (item := take()) is not None:
                    record = fetch_sync(fetch_once, item[0], item[1], config, meter.t0)
                    with report_lock:
                        records.append(record)
                        if on_record is not None:
                            on_record(record)
        except BaseException as exc:  # a failing on_record: stop everyone, re-raise in run()
            failures.append(exc)
            stop.set()

    n_workers = max(1, min(config.concurrency, len(urls)))
    with Watchdog() as watchdog:
        threads = [
            threading.Thread(target=worker, args=(watchdog,), name=f"concur-{i}", daemon=True)
            for i in range(n_workers)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except BaseException:  # KeyboardInterrupt: no new requests; daemons die with us
            stop.set()
            raise
    if failures:
        raise failures[0]
    return meter.result("threads", config, records, gauge.peak)


def follow(plan: CrawlPlan, config: CrawlConfig, on_record: OnRecord = None) -> CrawlResult:
    """Crawl mode: ``config.concurrency`` threads, each on its own session, one locked scheduler."""
    return follow_blocking("threads", plan, config, on_record, config.concurrency)


def follow_blocking(
    engine: str, plan: CrawlPlan, config: CrawlConfig, on_record: OnRecord, workers: int
) -> CrawlResult:
    """``workers`` threads over :class:`concur.crawl.BlockingScheduler` (serial: one)."""
    from concur.engines.crawling import crawl_run, drive_blocking, result_of

    meter = Meter()
    gauge = InFlight(threadsafe=True)
    with Watchdog() as watchdog, crawl_run(plan, config, on_record) as (scheduler, records):

        @contextmanager
        def fetcher() -> Iterator[Callable[[Job], Page]]:
            with Fetcher(config, watchdog, gauge) as fetch:
                yield fetch.page

        drive_blocking(scheduler, fetcher, workers, meter.t0)
        return result_of(engine, config, meter, scheduler, records, gauge.peak)
