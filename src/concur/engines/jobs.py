"""The two jobs a driver can run, behind one small interface: a URL list, and a crawl.

A driver (async, threads, child processes) keeps fetches in flight; a job decides which
URL is fetched next and what each finished attempt means.  Both jobs answer the same
two calls, so every driver runs either one with the same loop:

* ``next(now)`` — a :class:`~concur.crawl.frontier.Job` to fetch now; or a float, the
  seconds until one may be ready (``math.inf``: not before a fetch in flight
  completes); or None when the job is over (nothing queued, waiting or in flight);
* ``complete(task, attempt, now)`` — the :class:`~concur.attempt.Attempt` of a task
  handed out by ``next``: it becomes a record, or a retry queued for later.

:class:`ListJob` fetches a fixed list, each URL as given, redirects followed by the
library, one record per input URL.  :class:`CrawlJob` is the crawl's
:class:`~concur.crawl.Scheduler` (robots.txt, politeness, links, its frontier),
redirects reported as they are and bodies kept for link extraction.  Retries mean the
same in both (:func:`concur.retry.retry_delay`, seeded per URL); a URL waiting for a
retry frees its slot for other URLs meanwhile.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from concur.attempt import Attempt
from concur.crawl.frontier import Job
from concur.crawl.plan import CrawlPlan
from concur.crawl.scheduler import Scheduler
from concur.crawl.scope import Scope
from concur.crawl.urls import check_url
from concur.errors import WorkerDied
from concur.records import CrawlConfig, ErrorKind, FetchRecord
from concur.retry import Jitter, retry_delay

__all__ = ["CrawlJob", "ListJob", "OnRecord", "Work"]

OnRecord = Callable[[FetchRecord], None] | None
"""An optional callback a run calls with each record as it is done (progress bars)."""


class Work(Protocol):
    """What a driver needs from a job (see the module docstring)."""

    redirects: bool  # the fetcher follows redirects itself (list) or reports them (crawl)
    keep_body: bool  # the fetcher keeps bodies (crawl: links are extracted from them)
    records: list[FetchRecord]

    def workers(self, concurrency: int) -> int:
        """How many workers are worth starting for this job."""
        ...

    def next(self, now: float) -> Job | float | None: ...

    def complete(self, task: Job, attempt: Attempt, now: float) -> None: ...

    def abandon(self, why: str, now: float) -> None:
        """The workers are gone: account for every URL not yet recorded, or raise."""
        ...

    def extra(self) -> dict[str, Any]:
        """What the job adds to the result's ``extra``."""
        ...

    def close(self) -> None: ...


class ListJob:
    """Fetch ``urls`` as given: one record per input URL, invalid ones included."""

    redirects = True
    keep_body = False

    def __init__(self, urls: Sequence[str], config: CrawlConfig, on_record: OnRecord) -> None:
        self.urls = urls
        self.config = config
        self.records: list[FetchRecord] = []
        self._on_record = on_record
        self._next = 0
        self._max = config.concurrency
        self._in_flight = 0
        self._starts: dict[int, float] = {}  # index -> start of its first attempt
        self._delayed: list[tuple[float, int, Job]] = []  # retries: (not before, seq, task)
        self._seq = itertools.count()
        self._rngs: dict[int, Jitter] = {}  # backoff jitter of URLs that were retried
        self._resent: dict[int, int] = {}  # library re-sends of earlier attempts

    def workers(self, concurrency: int) -> int:
        return max(1, min(concurrency, len(self.urls)))

    def next(self, now: float) -> Job | float | None:
        if self._in_flight >= self._max:
            return math.inf
        delayed = self._delayed
        if delayed and delayed[0][0] <= now:
            self._in_flight += 1
            return heapq.heappop(delayed)[2]
        urls = self.urls
        while self._next < len(urls):
            index = self._next
            self._next += 1
            url = urls[index]
            why = check_url(url)
            if why is not None:  # never fetched, still recorded
                self._emit(
                    FetchRecord(index, url, None, 0, ErrorKind.INVALID_URL, 0, now, now, why)
                )
                continue
            self._in_flight += 1
            self._starts[index] = now
            return Job(index, url.strip(), 0, "", 1)
        if delayed:
            return max(delayed[0][0] - now, 0.0)
        return math.inf if self._in_flight else None

    def complete(self, task: Job, attempt: Attempt, now: float) -> None:
        self._in_flight -= 1
        index = task.id
        number = task.attempt
        if attempt.error is not None:
            rng = self._rngs.get(index) or Jitter(self.config.seed, index)
            wait = retry_delay(attempt, number, self.config, rng)
            if wait is not None:
                self._rngs[index] = rng  # later attempts continue the same sequence
                if attempt.resent:
                    self._resent[index] = self._resent.get(index, 0) + attempt.resent
                retry = task._replace(attempt=number + 1)
                heapq.heappush(self._delayed, (now + wait, next(self._seq), retry))
                return
            self._rngs.pop(index, None)
        attempts = number + attempt.resent
        if self._resent:
            attempts += self._resent.pop(index, 0)
        final = attempt.final_url
        self._emit(
            FetchRecord(
                index,
                self.urls[index],
                attempt.status,
                attempt.nbytes,
                attempt.error,
                attempts,
                self._starts.pop(index),
                now,
                attempt.detail,
                final if final != task.url else "",
            )
        )

    def _emit(self, record: FetchRecord) -> None:
        self.records.append(record)
        if self._on_record is not None:
            self._on_record(record)

    def abandon(self, why: str, now: float) -> None:
        waiting = [task for _, _, task in self._delayed]
        self._delayed.clear()
        for task in waiting:
            start = self._starts.pop(task.id, now)
            url = self.urls[task.id]
            tries = task.attempt - 1 + self._resent.pop(task.id, 0)
            self._emit(FetchRecord(task.id, url, None, 0, ErrorKind.OTHER, tries, start, now, why))
        while self._next < len(self.urls):
            index = self._next
            self._next += 1
            self._emit(
                FetchRecord(index, self.urls[index], None, 0, ErrorKind.OTHER, 0, now, now, why)
            )

    def extra(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


class CrawlJob:
    """Crawl ``plan`` through a :class:`~concur.crawl.Scheduler` (on SQLite with ``plan.db``).

    A run with ``db`` keeps its frontier in SQLite and may be resumed after a crash; its
    records are those of *this* run (the file holds them all).  If ``on_record`` has an
    ``attach`` method (a live display), it is given the scheduler to read the queue from.
    """

    redirects = False
    keep_body = True

    def __init__(self, plan: CrawlPlan, config: CrawlConfig, on_record: OnRecord) -> None:
        self.records: list[FetchRecord] = []
        self._on_record = on_record
        self.scheduler = scheduler = new_scheduler(plan, config, self._collect)
        self.next = scheduler.next
        self.complete = scheduler.complete
        attach = getattr(on_record, "attach", None)
        if attach is not None:
            attach(scheduler)

    def _collect(self, record: FetchRecord) -> None:
        self.records.append(record)
        if self._on_record is not None:
            self._on_record(record)

    def workers(self, concurrency: int) -> int:
        return concurrency

    def abandon(self, why: str, now: float) -> None:
        raise WorkerDied(f"{why}; what was done is kept (with --db, --resume continues)")

    def extra(self) -> dict[str, Any]:
        scheduler = self.scheduler
        return {"mode": "follow", "admitted": scheduler.admitted, **scheduler.stats}

    def close(self) -> None:
        self.scheduler.close()


def new_scheduler(
    plan: CrawlPlan, config: CrawlConfig, on_record: Callable[[FetchRecord], None]
) -> Scheduler:
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
