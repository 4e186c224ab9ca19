"""The two jobs a driver can run, behind one small interface: a URL list, and a crawl.

A driver (async, threads, child processes: :mod:`concur.engines`) keeps fetches in
flight; a job decides which URL is fetched next and what each finished attempt means,
without any I/O of its own — rules, like :mod:`concur.crawl`, tested with a fake clock.
Both jobs answer the same two calls, so every driver runs either one with the same loop:

* ``next(now)`` — a task (a URL to fetch now, with what the job remembers about it:
  a :class:`ListTask`, or the crawl's :class:`~concur.crawl.frontier.Job`); or a
  float, the seconds until one may be ready (``math.inf``: not before a fetch in flight
  completes); or None when the job is over (nothing queued, waiting or in flight);
* ``complete(task, attempt, now)`` — the :class:`~concur.attempt.Attempt` of a task
  handed out by ``next``: it becomes a record, or a retry queued for later.

:class:`ListJob` fetches a fixed list, each URL as given, one record per input URL.
:class:`CrawlJob` is the crawl's :class:`~concur.crawl.Scheduler` (robots.txt,
politeness, links, its frontier), with bodies kept for link extraction.  Both follow
redirects themselves, the fetchers never do, so a hop means the same on every engine.
Retries mean the same in both (:func:`concur.retry.retry_delay`, seeded per URL); a URL
waiting for a retry frees its slot for other URLs meanwhile.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol
from urllib.parse import urljoin

from concur.attempt import Attempt, failure
from concur.crawl.urls import check_url, private_jump
from concur.errors import SpecError, WorkerDied
from concur.records import CrawlConfig, ErrorKind, FetchRecord
from concur.retry import Jitter, retry_delay
from concur.warc import open_warc

if TYPE_CHECKING:  # a crawl's modules load when a crawl runs: a URL list needs none of them
    from concur.cluster.frontier import FrontierSpec
    from concur.crawl.frontier import Job
    from concur.crawl.hook import OnPage
    from concur.crawl.plan import CrawlPlan
    from concur.crawl.scheduler import Scheduler

__all__ = ["CrawlJob", "JobSpec", "ListJob", "ListTask", "OnRecord", "Task", "Work", "make_job"]

OnRecord = Callable[[FetchRecord], None] | None
"""An optional callback a run calls with each record as it is done (progress bars)."""

JobSpec = (
    tuple[Literal["list"], Sequence[str]]
    | tuple[Literal["crawl"], "CrawlPlan"]
    | tuple[Literal["cluster"], "FrontierSpec"]
)
"""A job as data, before it runs: ``("list", urls)``, ``("crawl", plan)``, or
``("cluster", frontier)`` — a worker's share of a crawl kept on a Redis/Valkey server
(:mod:`concur.cluster`)."""


def make_job(
    job: JobSpec, config: CrawlConfig, on_record: OnRecord, on_page: OnPage = None
) -> Work:
    """The running job for ``job`` (a crawl opens its frontier here); ``on_page`` is a
    crawl's per-page hook (:mod:`concur.crawl.hook`), refused for a URL list."""
    if job[0] == "list":
        if on_page is not None:
            raise SpecError("on_page is a crawl's hook: a URL list has on_record")
        return ListJob(job[1], config, on_record)
    if job[0] == "cluster":
        from concur.cluster.job import ClusterJob

        return ClusterJob(job[1], config, on_record, on_page=on_page)
    return CrawlJob(job[1], config, on_record, on_page)


class Task(Protocol):
    """What a driver needs to know of a task: the URL to fetch (the rest is the job's)."""

    @property
    def url(self) -> str: ...


class Work(Protocol):
    """What a driver needs from a job (see the module docstring)."""

    keep_body: bool  # the fetcher keeps bodies (crawl: links are extracted from them)
    records: list[FetchRecord]

    @property
    def peak_in_flight(self) -> int:
        """The most tasks handed out and not yet completed, at once."""
        ...

    def workers(self, concurrency: int) -> int:
        """How many workers are worth starting for this job."""
        ...

    def next(self, now: float) -> Any: ...  # a Task, a float or None

    def complete(self, task: Any, attempt: Attempt, now: float) -> None: ...

    def abandon(self, why: str, now: float) -> None:
        """The workers are gone: account for every URL not yet recorded, or raise."""
        ...

    def extra(self) -> dict[str, Any]:
        """What the job adds to the result's ``extra``."""
        ...

    def close(self) -> None: ...


class ListTask(NamedTuple):
    """One fetch of a URL list: which URL, which attempt, when its first attempt began."""

    id: int  # the URL's index in the input
    url: str  # as given, stripped; after a redirect, where it led
    attempt: int  # 1 for the first try
    start: float  # when the first attempt started (the record's start)
    resent: int = 0  # re-sends the library made in earlier attempts
    hops: int = 0  # redirects followed to reach ``url``


REDIRECTS = frozenset({301, 302, 303, 307, 308})


class ListJob:
    """Fetch ``urls`` as given: one record per input URL, invalid ones included.

    Redirects are followed here, not by the HTTP library, so that they mean the same on
    every engine: at most ``config.max_redirects`` hops, only to http(s) URLs, and not
    from a public host to a private address unless ``config.allow_private``.  A hop is
    the same attempt (the record's ``attempts`` counts tries, not hops) and the record's
    ``final_url`` says where the URL led.
    """

    keep_body = False

    def __init__(self, urls: Sequence[str], config: CrawlConfig, on_record: OnRecord) -> None:
        self.urls = urls
        self.config = config
        self.records: list[FetchRecord] = []
        self._on_record = on_record
        self._next = 0
        self._max = config.concurrency
        self._in_flight = 0
        self.peak_in_flight = 0
        self._delayed: list[tuple[float, int, ListTask]] = []  # retries: (not before, seq, task)
        self._hops: deque[ListTask] = deque()  # redirects to follow now
        self._seq = itertools.count()
        self._rngs: dict[int, Jitter] = {}  # backoff jitter of URLs that were retried
        self._warc = open_warc(config)

    def workers(self, concurrency: int) -> int:
        return max(1, min(concurrency, len(self.urls)))

    def next(self, now: float) -> ListTask | float | None:
        if self._in_flight >= self._max:
            return math.inf
        delayed = self._delayed
        if self._hops:
            task = self._hops.popleft()
        elif delayed and delayed[0][0] <= now:
            task = heapq.heappop(delayed)[2]
        else:
            task = None
            urls = self.urls
            while self._next < len(urls):
                index = self._next
                self._next += 1
                url = urls[index]
                why = check_url(url)
                if why is None:
                    task = ListTask(index, url.strip(), 1, now)
                    break
                self.records.append(  # never fetched, still recorded
                    record := FetchRecord(
                        index, url, None, 0, ErrorKind.INVALID_URL, 0, now, now, why
                    )
                )
                if self._on_record is not None:
                    self._on_record(record)
            if task is None:
                if delayed:
                    return max(delayed[0][0] - now, 0.0)
                return math.inf if self._in_flight else None
        self._in_flight += 1
        if self._in_flight > self.peak_in_flight:
            self.peak_in_flight = self._in_flight
        return task

    def complete(self, task: ListTask, attempt: Attempt, now: float) -> None:
        self._in_flight -= 1
        if self._warc is not None:
            self._warc.write(task.url, attempt)
        index = task.id
        if attempt.status in REDIRECTS and attempt.error is None and attempt.location:
            refused = self._redirect(task, attempt)
            if refused is None:
                return  # the next hop is queued
            attempt = refused
        if attempt.error is not None:
            rng = self._rngs.get(index) or Jitter(self.config.seed, index)
            wait = retry_delay(attempt, task.attempt, self.config, rng)
            if wait is not None:
                self._rngs[index] = rng  # later attempts continue the same sequence
                retry = task._replace(attempt=task.attempt + 1, resent=task.resent + attempt.resent)
                heapq.heappush(self._delayed, (now + wait, next(self._seq), retry))
                return
            self._rngs.pop(index, None)
        record = FetchRecord(
            index,
            self.urls[index],
            attempt.status,
            attempt.nbytes,
            attempt.error,
            task.attempt + task.resent + attempt.resent,
            task.start,
            now,
            attempt.detail,
            task.url if task.hops else "",
        )
        self.records.append(record)
        if self._on_record is not None:
            self._on_record(record)

    def _redirect(self, task: ListTask, attempt: Attempt) -> Attempt | None:
        """Queue the hop ``attempt`` asks for; or the failed attempt that says why not."""
        target = urljoin(task.url, attempt.location.strip())
        config = self.config
        status = attempt.status
        why = check_url(target)
        if why is not None:
            detail = f"redirect to a URL that cannot be fetched ({why}): {target[:200]}"
            return failure(ErrorKind.INVALID_URL, detail, status)
        if task.hops >= config.max_redirects:
            detail = f"too many redirects: more than {config.max_redirects} in a row"
            return failure(ErrorKind.OTHER, detail, status)
        if not config.allow_private and (why := private_jump(task.url, target)) is not None:
            return failure(ErrorKind.BLOCKED, f"redirect to {target[:200]} {why}", status)
        self._hops.append(task._replace(url=target, hops=task.hops + 1))
        return None

    def abandon(self, why: str, now: float) -> None:
        waiting = [task for _, _, task in self._delayed] + list(self._hops)
        self._delayed.clear()
        self._hops.clear()
        lost = [(t.id, t.attempt - 1 + t.resent, t.start) for t in waiting]
        lost += [(i, 0, now) for i in range(self._next, len(self.urls))]
        self._next = len(self.urls)
        for index, tries, start in lost:
            record = FetchRecord(
                index, self.urls[index], None, 0, ErrorKind.OTHER, tries, start, now, why
            )
            self.records.append(record)
            if self._on_record is not None:
                self._on_record(record)

    def extra(self) -> dict[str, Any]:
        return {} if self._warc is None else {"warc_files": self._warc.files}

    def close(self) -> None:
        if self._warc is not None:
            self._warc.close()


class CrawlJob:
    """Crawl ``plan`` through a :class:`~concur.crawl.Scheduler` (on SQLite with ``plan.db``).

    A run with ``db`` keeps its frontier in SQLite and may be resumed after a crash; its
    records are those of *this* run (the file holds them all).  If ``on_record`` has an
    ``attach`` method (a live display), it is given the scheduler to read the queue from.
    """

    keep_body = True

    def __init__(
        self, plan: CrawlPlan, config: CrawlConfig, on_record: OnRecord, on_page: OnPage = None
    ) -> None:
        self.records: list[FetchRecord] = []
        self._on_record = on_record
        self.scheduler = scheduler = new_scheduler(plan, config, self._collect, on_page)
        self.next = scheduler.next
        self.complete = scheduler.complete
        self._warc = open_warc(config, append=plan.resume)
        if self._warc is not None:
            self.complete = self._kept
        attach = getattr(on_record, "attach", None)
        if attach is not None:
            attach(scheduler)

    def _kept(self, job: Job, page: Attempt, now: float) -> None:
        """``scheduler.complete``, the exchange kept in the WARC files first."""
        assert self._warc is not None
        self._warc.write(job.url, page)
        self.scheduler.complete(job, page, now)

    def _collect(self, record: FetchRecord) -> None:
        self.records.append(record)
        if self._on_record is not None:
            self._on_record(record)

    def workers(self, concurrency: int) -> int:
        return concurrency

    @property
    def peak_in_flight(self) -> int:
        return self.scheduler.peak_in_flight

    def abandon(self, why: str, now: float) -> None:
        raise WorkerDied(f"{why}; what was done is kept (with --db, --resume continues)")

    def extra(self) -> dict[str, Any]:
        scheduler = self.scheduler
        extra = {"mode": "follow", "admitted": scheduler.admitted, **scheduler.stats}
        if self._warc is not None:
            extra["warc_files"] = self._warc.files
        return extra

    def close(self) -> None:
        self.scheduler.close()
        if self._warc is not None:
            self._warc.close()


def new_scheduler(
    plan: CrawlPlan,
    config: CrawlConfig,
    on_record: Callable[[FetchRecord], None],
    on_page: OnPage = None,
) -> Scheduler:
    """The scheduler of ``plan``, on an SQLite store when ``plan.db`` is set."""
    from concur.crawl.scheduler import Scheduler
    from concur.crawl.scope import Scope

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
        frontier.save_plan(plan, config)  # once: what --resume continues (kept if there)
    return Scheduler(
        plan.seeds,
        config,
        plan.options,
        scope=scope,
        frontier=frontier,
        on_record=on_record,
        on_page=on_page,
    )
