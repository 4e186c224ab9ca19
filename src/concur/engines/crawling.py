"""Crawl mode: follow links with any engine, every engine driving the same scheduler.

List mode (``run(urls, config)``) fetches a fixed list.  Crawl mode starts from seeds and
lets :class:`concur.crawl.Scheduler` decide everything else — which URL next, when a host
may be asked again, robots.txt, retries, redirects as new URLs, the page limit — while the
engine only does what it is good at: keeping fetches in flight.  So each engine supplies
one small function, *fetch one job as a* :class:`~concur.crawl.Page` (redirects off, the
body up to ``max_body``, its library's errors mapped by its own ``classify``), and picks
one of the two drivers here:

* :func:`drive_async` — N worker coroutines on one event loop (asyncio, uvloop, httpx,
  tornado).  A worker asks ``scheduler.next(now)``: a job is fetched and completed; a
  float means "nothing may start for that long", so the worker parks until a completion
  or the earliest due time, whichever comes first; None ends it.  Parked workers are
  woken one at a time (a worker that got a job wakes the next: a baton), so a completion
  costs one ``next()`` call, not one per idle worker.
* :func:`drive_blocking` — N threads over :class:`concur.crawl.BlockingScheduler`
  (serial, threads; gevent's greenlets run the same code in a patched child process).

Either way the scheduler is single-threaded in effect (one loop, or one lock), records
come only through its ``on_record``, and the result is built from those records with
:class:`concur.engines.base.Meter`, exactly as in list mode.  A run with ``db`` keeps
its frontier in SQLite and may be resumed after a crash; its result holds the records
of *this* run (the file holds them all: :meth:`concur.store.sqlite.SqliteStore.records`).
"""

from __future__ import annotations

import asyncio
import importlib
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from concur.crawl import BlockingScheduler, CrawlOptions, Job, Page, Scheduler, Scope
from concur.engines import ENGINES, EngineUnavailable, missing
from concur.engines.base import Meter, OnRecord
from concur.records import CrawlConfig, CrawlResult, FetchRecord

__all__ = [
    "FOLLOW",
    "CrawlPlan",
    "drive_async",
    "drive_blocking",
    "follow",
    "get_follower",
    "new_scheduler",
]


@dataclass(frozen=True, slots=True)
class CrawlPlan:
    """What to crawl: seeds, scope, politeness and storage (``CrawlConfig`` says how to fetch)."""

    seeds: tuple[str, ...]
    options: CrawlOptions = field(default_factory=CrawlOptions)
    max_depth: int | None = None
    domains: tuple[str, ...] = ()  # hosts (and their subdomains) in scope besides the seeds'
    db: str | None = None  # an SQLite file for the frontier and results (None: in memory)
    resume: bool = False  # continue the crawl in ``db``
    # results per SQLite transaction: 1 means a kill -9 re-fetches only the pages in flight;
    # larger batches cost less (~80 µs per commit here) and re-fetch up to one batch
    commit_every: int = 1
    include: tuple[str, ...] = ()  # regular expressions a URL must match (any of them)
    exclude: tuple[str, ...] = ()  # regular expressions no URL may match

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        d = asdict(self)
        d["seeds"] = list(self.seeds)
        d["domains"] = list(self.domains)
        d["include"] = list(self.include)
        d["exclude"] = list(self.exclude)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CrawlPlan:
        return cls(
            seeds=tuple(d["seeds"]),
            options=CrawlOptions(**d["options"]),
            max_depth=d["max_depth"],
            domains=tuple(d["domains"]),
            db=d["db"],
            resume=d["resume"],
            commit_every=d.get("commit_every", 1),
            include=tuple(d.get("include", ())),
            exclude=tuple(d.get("exclude", ())),
        )


def new_scheduler(plan: CrawlPlan, config: CrawlConfig, on_record: OnRecord) -> Scheduler:
    """The scheduler of ``plan``, on an SQLite store when ``plan.db`` is set."""
    scope = Scope.for_seeds(
        plan.seeds,
        domains=plan.domains,
        include=plan.include,
        exclude=plan.exclude,
        max_depth=plan.max_depth,
    )
    frontier = None
    if plan.db is not None:
        from concur.store.sqlite import SqliteStore

        frontier = SqliteStore(plan.db, resume=plan.resume, commit_every=plan.commit_every)
    return Scheduler(
        plan.seeds, config, plan.options, scope=scope, frontier=frontier, on_record=on_record
    )


@contextmanager
def crawl_run(
    plan: CrawlPlan, config: CrawlConfig, on_record: OnRecord
) -> Iterator[tuple[Scheduler, list[FetchRecord]]]:
    """A scheduler whose records are collected (and passed on to ``on_record``); closed after."""
    records: list[FetchRecord] = []

    def collect(record: FetchRecord) -> None:
        records.append(record)
        if on_record is not None:
            on_record(record)

    scheduler = new_scheduler(plan, config, collect)
    attach = getattr(on_record, "attach", None)
    if attach is not None:  # a live display that shows the queue (concur.commands.follow)
        attach(scheduler)
    try:
        yield scheduler, records
    finally:
        scheduler.close()


def result_of(
    engine: str,
    config: CrawlConfig,
    meter: Meter,
    scheduler: Scheduler,
    records: Sequence[FetchRecord],
    peak: int,
    **extra: Any,
) -> CrawlResult:
    """The run's :class:`CrawlResult`, with the scheduler's counters in ``extra``."""
    info = {"mode": "follow", "admitted": scheduler.admitted, **scheduler.stats, **extra}
    return meter.result(engine, config, records, peak, extra=info)


# --- the drivers ------------------------------------------------------------------------


async def drive_async(
    scheduler: Scheduler,
    fetch: Callable[[Job], Awaitable[Page]],
    workers: int,
    t0: float,
) -> None:
    """Run the crawl to its end with ``workers`` coroutines on the running loop."""
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
            nxt = scheduler.next(clock() - t0)
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
            wake_one()  # there may be more work: pass the baton
            page = await fetch(nxt)
            scheduler.complete(nxt, page, clock() - t0)
            wake_one()

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, workers))))
    finally:
        if timer[0] is not None:
            timer[0].cancel()


def drive_blocking(
    scheduler: Scheduler,
    fetcher: Callable[[], Any],
    workers: int,
    t0: float,
    thread: Callable[..., Any] = threading.Thread,
) -> None:
    """Run the crawl to its end with ``workers`` threads, each with ``fetcher()``'s fetch.

    ``fetcher()`` returns a context manager whose value is ``fetch(job) -> Page`` (one
    per thread: a requests Session is not shared).  The thread that calls this is one
    of the workers.  ``thread`` may be a greenlet-spawning equivalent.
    """
    front = BlockingScheduler(scheduler, clock=lambda: time.perf_counter() - t0)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            with fetcher() as fetch:
                while (job := front.take()) is not None:
                    front.complete(job, fetch(job))
        except BaseException as exc:  # a bug, a failing on_record, Ctrl-C: stop everyone
            failures.append(exc)  # raised below, in the caller's thread
            front.stop()

    others = [thread(target=work, daemon=True) for _ in range(max(1, workers) - 1)]
    for t in others:
        t.start()
    try:
        work()
    finally:
        for t in others:
            t.join()
    if failures:
        raise failures[0]


# --- the registry -----------------------------------------------------------------------

FOLLOW: dict[str, tuple[str, str]] = {
    "serial": ("concur.engines.serial", "follow"),
    "threads": ("concur.engines.threads", "follow"),
    "processes": ("concur.engines.processes", "follow"),
    "gevent": ("concur.engines.gevent_engine", "follow"),
    "tornado": ("concur.engines.tornado_engine", "follow"),
    "asyncio": ("concur.engines.asyncio_engine", "follow"),
    "uvloop": ("concur.engines.asyncio_engine", "follow_uvloop"),
    "httpx": ("concur.engines.httpx_engine", "follow"),
}
"""Engine name -> (module, function) of its crawl mode:
``follow(plan, config, on_record=None) -> CrawlResult``."""

Follower = Callable[[CrawlPlan, CrawlConfig, OnRecord], CrawlResult]


def get_follower(name: str) -> Follower:
    """Engine ``name``'s crawl-mode function (its module imported now, not before)."""
    if name not in FOLLOW:
        raise KeyError(f"engine {name!r} has no crawl mode; choose from {', '.join(FOLLOW)}")
    from concur.engines import install_hint

    lacking = missing(name)
    if lacking:
        hint = install_hint(ENGINES[name])
        raise EngineUnavailable(f"engine {name!r} needs {', '.join(lacking)}: {hint}")
    module, function = FOLLOW[name]
    runner: Follower = getattr(importlib.import_module(module), function)
    return runner


def follow(
    name: str, plan: CrawlPlan, config: CrawlConfig, on_record: OnRecord = None
) -> CrawlResult:
    """Crawl ``plan`` with engine ``name``."""
    return get_follower(name)(plan, config, on_record)
