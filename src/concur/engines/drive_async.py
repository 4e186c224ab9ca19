"""The async driver: N worker coroutines on one event loop run a job with an async fetcher.

Used by every engine whose library is asynchronous (asyncio and uvloop with aiohttp,
httpx, Tornado).  A worker asks the job for work: a task is fetched and completed; a
float means "nothing may start for that long", so the worker parks until a completion
or the earliest due time, whichever comes first; None ends it.  Parked workers are
woken one at a time — a worker that got a task wakes the next, a baton — so a
completion costs one ``next()`` call, not one per idle worker.  No task, future or
semaphore is made per URL: ``concurrency`` coroutines live as long as the run.

The driver owns its event loop (a fresh :class:`asyncio.Runner`, on the loop factory
the engine's options name — uvloop is this driver with another factory) and is
synchronous from the outside.  Called where a loop is already running (a notebook, an
async web handler), where ``asyncio.run`` would refuse, it runs the job on a fresh loop
in a thread of its own and waits for it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from concur.attempt import Attempt, failure, one_line
from concur.jobs import Work
from concur.loops import outside_loop
from concur.meter import Meter
from concur.records import CrawlConfig, CrawlResult, ErrorKind

__all__ = ["drive_async", "run_async"]

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


async def drive_async(
    work: Work,
    fetch: Callable[[str], Awaitable[Attempt]],
    workers: int,
    t0: float,
) -> None:
    """Run ``work`` to its end with ``workers`` coroutines on the running loop."""
    loop = asyncio.get_running_loop()
    clock = time.perf_counter
    parked: deque[asyncio.Future[None]] = deque()
    timer: list[Any] = [None, math.inf]  # [handle, due] of the one wake-up timer
    finished = False

    def wake_one() -> None:
        while parked:
            waiter = parked.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def on_timer() -> None:
        timer[0], timer[1] = None, math.inf
        wake_one()

    def arm(delay: float) -> None:
        due = clock() + delay
        if due < timer[1]:
            if timer[0] is not None:
                timer[0].cancel()
            timer[0], timer[1] = loop.call_at(loop.time() + delay, on_timer), due

    async def worker() -> None:
        nonlocal finished
        while not finished:
            nxt = work.next(clock() - t0)
            if nxt is None:
                finished = True
                while parked:  # release everyone
                    wake_one()
                return
            if isinstance(nxt, float):
                if nxt != math.inf:
                    arm(nxt)
                waiter = loop.create_future()
                parked.append(waiter)
                await waiter
                continue
            if parked:
                wake_one()  # there may be more work: pass the baton
            try:
                attempt = await fetch(nxt.url)
            except Exception as exc:  # a library error the fetcher did not map: still a record
                attempt = failure(ErrorKind.OTHER, one_line(exc))
            work.complete(nxt, attempt, clock() - t0)
            # no wake-up here: this worker asks the job next, and passes the baton on
            # if what it completed made more work ready (a freed slot, new links)

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, workers))))
    finally:
        if timer[0] is not None:
            timer[0].cancel()


def run_async(
    name: str,
    fetcher: Callable[..., Any],
    options: dict[str, Any],
    work: Work,
    config: CrawlConfig,
    loop_factory: LoopFactory | None = None,
) -> CrawlResult:
    """Run ``work`` with ``fetcher(config, keep_body=…, **options)`` on a fresh loop."""

    async def main() -> CrawlResult:
        # made before the clock starts, as imports are; opened (connections, sessions) after
        client = fetcher(config, keep_body=work.keep_body, **options)
        meter = Meter()
        async with client:
            workers = work.workers(config.concurrency)
            await drive_async(work, client.fetch, workers, meter.t0)
        extra = {**client.variant, **work.extra()}
        return meter.result(name, config, work.records, work.peak_in_flight, extra=extra)

    return run_coroutine(main(), loop_factory)


def run_coroutine(coro: Coroutine[Any, Any, T], loop_factory: LoopFactory | None = None) -> T:
    """Run ``coro`` on a fresh loop; in a thread of its own if this thread runs a loop
    (:func:`concur.loops.outside_loop`)."""

    def on_a_fresh_loop() -> T:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(coro)

    return outside_loop(on_a_fresh_loop)
