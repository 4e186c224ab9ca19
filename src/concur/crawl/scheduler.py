"""The crawl scheduler: which URL to fetch next, and what a finished fetch means.

Every engine crawls through this one class, so politeness, robots.txt, redirects,
retries and limits mean the same thing whatever the concurrency model.  It does no I/O
and never blocks: an engine asks :meth:`Scheduler.next` for work and reports each
fetch to :meth:`Scheduler.complete`; both take the current time, so tests drive it with
a fake clock.  It is single-threaded; drivers whose workers are threads put a lock
in front of it (:mod:`concur.engines.drive_threads`).

How an engine drives it::

    t0 = time.perf_counter()
    while True:
        nxt = scheduler.next(time.perf_counter() - t0)
        if nxt is None:                  # finished: nothing queued, nothing in flight
            break
        if isinstance(nxt, float):       # nothing may start for nxt seconds (inf: until
            wait_for_a_completion(nxt)   # a fetch in flight completes); complete() may
            continue                     # make work ready sooner, so wake on it too
        start_fetch(nxt)                 # later: scheduler.complete(nxt, page, now)

How to fetch a :class:`~concur.crawl.frontier.Job`: a GET of ``job.url`` exactly as given,
**without following redirects** (a 3xx is reported as it is: the scheduler turns its
``Location`` into a new URL, so chains that meet are merged and loops end), with the
``User-Agent`` of the config (robots.txt rules are matched against it) and the config's
headers.  Read the body up to ``config.max_body`` bytes (more is ``TOO_LARGE``), and
report a :class:`~concur.attempt.Attempt`: status, the ``Content-Type``, ``Location``
and ``Retry-After`` headers, the body (the scheduler parses HTML, robots.txt and
sitemaps, and keeps none of it), or the error kind the engine's library error maps
to.  Robots and sitemap jobs (``job.kind``) are fetched the same way.

The rules it keeps:

* **per-origin politeness** - at most ``per_host`` requests in flight to one origin,
  and request *starts* at least ``delay`` seconds apart (or the site's robots.txt
  ``Crawl-delay``, whichever is longer, capped by ``max_crawl_delay``).  An origin with
  a delay gets one request at a time, and the next starts ``delay`` after the previous
  *answer*: spacing the starts alone let the site see shorter gaps whenever one request
  left the client later than the next (a busy event loop, a thread waiting for the
  GIL), while an answer always comes after its request arrived.  Origins that
  may start a request are kept in a heap keyed by the time they may, so picking one
  costs O(log hosts), not a scan of all hosts.
* **robots.txt first** - an origin's URLs wait until its robots.txt is known; URLs it
  disallows are never handed out: they get a record with error kind
  ``ErrorKind.ROBOTS`` if concur's records define it, else ``ErrorKind.OTHER``, and the
  detail "disallowed by robots.txt" (see :data:`DISALLOWED`).
* **retries** - a transient failure (connect, timeout, reset, truncated, 429, 5xx)
  is retried after exponential backoff with full jitter, within ``config.retries``
  (:func:`concur.retry.retry_delay`); ``Retry-After`` on a 429 or 503 is
  honoured (capped by ``config.max_backoff``) and pauses the whole origin, since it
  is the site, not the URL, that asked us to slow down.
* **links** - from 2xx HTML pages (by Content-Type, or sniffed when there is none;
  at most ``max_html`` bytes parsed), normalised, scoped, de-duplicated, queued at
  depth + 1; nothing deeper than the scope's ``max_depth``; at most ``max_pages`` URLs
  ever admitted, each of which gets exactly one record.
* **every admitted URL gets exactly one record**, through ``on_record``: fetched,
  failed, disallowed, or (for seeds) invalid.  Robots and sitemap fetches are not
  pages and get no record (see :attr:`Scheduler.stats`).
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from concur.attempt import Attempt, verdict
from concur.crawl.frontier import PAGE, ROBOTS, SITEMAP, Candidate, Frontier, Job, MemoryFrontier
from concur.crawl.hook import OnPage, Page, call_hook
from concur.crawl.links import PageFacts, is_html, looks_like_html, parse_sitemap, read_page
from concur.crawl.robots import (
    MAX_ROBOTS_REDIRECTS,
    ROBOTS_TTL,
    RobotsPolicy,
    policy_for_response,
    robots_url,
)
from concur.crawl.scope import Scope
from concur.crawl.urls import host_key, join, normalize, private_jump
from concur.records import CrawlConfig, ErrorKind, FetchRecord, PageRecord
from concur.retry import Jitter, parse_retry_after, retry_delay

__all__ = ["DISALLOWED", "NOTHING_READ", "CrawlOptions", "Job", "Scheduler", "read_fetched"]

DISALLOWED: ErrorKind = ErrorKind.ROBOTS
"""The error kind of URLs robots.txt keeps us from fetching (a dedicated kind once
``concur.records.ErrorKind`` has ``ROBOTS``; until then ``OTHER``, told apart by the
detail, which always starts with "robots.txt" or "disallowed by robots.txt")."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PAUSE_STATUSES = frozenset({429, 503})
_REACHABLE = (None, ErrorKind.HTTP, ErrorKind.TOO_LARGE)  # robots: an HTTP answer came
_SKIPS_PER_CALL = 256  # records made inside one next() call before it yields
_REJECTED_CACHE = 20_000  # out-of-scope URLs remembered (two generations of this many)
NOTHING_READ = PageFacts([], "")


@dataclass(frozen=True, slots=True)
class CrawlOptions:
    """How to crawl (what :class:`~concur.records.CrawlConfig` says is how to *fetch*)."""

    per_host: int = 2  # requests in flight to one origin
    delay: float = 0.0  # seconds between request starts to one origin (at least)
    max_pages: int | None = None  # URLs admitted (seeds included); None: no limit
    follow: bool = True  # extract links from pages and crawl them
    obey_robots: bool = True
    robots_retries: int = 2  # re-fetches of an unreachable robots.txt before giving up
    robots_backoff: float = 1.0  # first wait before re-fetching it, doubling
    robots_ttl: float = ROBOTS_TTL  # seconds a robots policy is trusted
    max_crawl_delay: float = 30.0  # a larger Crawl-delay is obeyed as this
    sitemaps: bool = False  # also crawl the pages robots.txt's Sitemap: files list
    max_sitemaps: int = 100
    respect_nofollow: bool = False
    sort_query: bool = True  # see concur.crawl.urls.normalize
    max_html: int = 4 * 1024 * 1024  # bytes of a page parsed for links
    window: int = 64  # queued URLs per origin kept in RAM, when the frontier is on disk

    def __post_init__(self) -> None:
        if self.per_host < 1:
            raise ValueError("per_host must be at least 1")
        if self.delay < 0 or self.max_crawl_delay < 0:
            raise ValueError("delays must be >= 0")
        if self.max_pages is not None and self.max_pages < 0:
            raise ValueError("max_pages must be >= 0")
        if self.window < 1:
            raise ValueError("window must be at least 1")


def read_fetched(url: str, page: Attempt, options: CrawlOptions) -> PageFacts:
    """What a fetched page held — its links and title — if it is HTML (by Content-Type,
    or sniffed when there is none); :data:`NOTHING_READ` otherwise.  At most
    ``options.max_html`` bytes are parsed.  Every crawl reads its pages through this:
    the scheduler here, and a shared crawl's workers (:mod:`concur.cluster.job`)."""
    body = page.body
    if not body:
        return NOTHING_READ
    ctype = page.content_type
    if (ctype and not is_html(ctype)) or (not ctype and not looks_like_html(body)):
        return NOTHING_READ
    return read_page(
        body[: options.max_html],
        url,
        ctype or None,
        respect_nofollow=options.respect_nofollow,
        sort_query=options.sort_query,
    )


_NEED, _FETCHING, _KNOWN = 0, 1, 2  # robots.txt states of an origin


class _Host:
    """Everything the scheduler knows about one origin."""

    __slots__ = (
        "key",
        "queue",
        "extra",
        "backlog",
        "cursor",
        "in_flight",
        "next_start",
        "last_start",
        "delay",
        "armed",
        "robots",
        "policy",
        "robots_expires",
        "robots_url",
        "robots_hops",
        "robots_failures",
    )

    def __init__(self, key: str, delay: float) -> None:
        self.key = key
        self.queue: deque[Job] = deque()  # page jobs ready to hand out (a window, with a store)
        self.extra: deque[Job] = deque()  # sitemap jobs
        self.backlog = 0  # queued in the frontier, not in `queue` (ids above `cursor`)
        self.cursor = -1  # highest id ever moved into `queue`
        self.in_flight = 0
        self.next_start = -math.inf  # no request may start before this time
        self.last_start = -math.inf
        self.delay = delay
        self.armed = False  # in the ready heap
        self.robots = _NEED
        self.policy: RobotsPolicy | None = None
        self.robots_expires = math.inf
        self.robots_url = ""
        self.robots_hops = 0
        self.robots_failures = 0


class Scheduler:
    """Hands out fetches in a polite order and turns their results into records.

    ``on_page`` is a hook run on every answered page (:mod:`concur.crawl.hook`).
    ``seeds`` are crawled at depth 0; ``scope`` defaults to the seeds' hosts at any
    depth; ``frontier`` defaults to a :class:`MemoryFrontier` (pass a
    :class:`concur.store.sqlite.SqliteStore` for a bounded, resumable crawl; on resume,
    seeds already known are ignored).  The scheduler owns the frontier: :meth:`close`
    closes it.  ``on_record`` receives every final record, exactly once per URL.
    ``config.concurrency`` bounds the requests in flight over all origins.
    """

    def __init__(
        self,
        seeds: Iterable[str],
        config: CrawlConfig | None = None,
        options: CrawlOptions | None = None,
        *,
        scope: Scope | None = None,
        frontier: Frontier | None = None,
        on_record: Callable[[FetchRecord], None] | None = None,
        on_page: OnPage = None,
    ) -> None:
        seeds = list(seeds)
        self.config = config = config if config is not None else CrawlConfig()
        self.options = options = options if options is not None else CrawlOptions()
        self.scope = scope if scope is not None else Scope.for_seeds(seeds)
        self.frontier: Frontier = frontier if frontier is not None else MemoryFrontier()
        self._on_record = on_record
        self._on_page = on_page
        self._ua = config.user_agent
        self._max_pages = options.max_pages if options.max_pages is not None else 1 << 62
        self._max_in_flight = config.concurrency
        self._windowed = self.frontier.windowed
        self._hosts: dict[str, _Host] = {}
        self._ready: list[tuple[float, int, _Host]] = []  # (may start at, seq, host)
        self._delayed: list[tuple[float, int, Job]] = []  # retries: (not before, seq, job)
        self._seq = itertools.count()
        self._flying: dict[int, float] = {}  # job id -> start of its first attempt
        self._retry_start: dict[int, float] = {}  # first start of URLs waiting to retry
        self._rngs: dict[int, Jitter] = {}  # backoff jitter of URLs that were retried
        self._in_flight = 0
        self.peak_in_flight = 0  # most fetches handed out and not yet completed, at once
        self._queued = 0  # page jobs admitted and not yet handed out (windows + backlogs)
        self._aux_ids = itertools.count(-1, -1)  # ids of robots/sitemap jobs
        self._sitemaps_seen: set[str] = set()
        # Out-of-scope links (the same footer links on every page) are checked once, then
        # remembered; only depth can change a verdict, so only depth-independent ones are.
        self._rejected: set[str] = set()
        self._rejected_old: set[str] = set()
        max_depth = self.scope.max_depth
        self._scope_depth = max_depth if max_depth is not None else 1 << 62
        self._skips = 0
        self.stats: dict[str, int] = {
            "records": 0,  # final records emitted
            "errors": 0,  # ... of which with an error
            "disallowed": 0,  # ... of which kept from fetching by robots.txt
            "retries": 0,  # attempts scheduled again
            "robots_fetches": 0,
            "sitemap_fetches": 0,
            "redirects": 0,  # 3xx answers whose target was new
            "delayed_hosts": 0,  # origins fetched one at a time, a delay apart
            "blocked": 0,  # links and redirects from public hosts to private addresses
        }

        for key, count in self.frontier.queued_hosts():  # resume: work left on disk
            host = self._host(key)
            host.backlog += count
            self._queued += count
            self._arm(host)

        cands: list[Candidate] = []
        for seed in seeds:
            url = normalize(seed, sort_query=options.sort_query) if isinstance(seed, str) else None
            if url is None:
                self._reject_seed(str(seed))
            else:
                cands.append((url, 0, 0, host_key(url), ""))
        self._add(cands)

    # -- the engine's side -------------------------------------------------------------

    def next(self, now: float) -> Job | float | None:
        """A job to start now; or seconds until one may be ready; or None when finished.

        A float is a promise about time only: :meth:`complete` may make work ready
        sooner (a free slot, new links), so wait for the first of the two.
        ``math.inf`` means nothing will be ready until a fetch in flight completes.
        None means the crawl is over: nothing queued, waiting or in flight.
        """
        delayed = self._delayed
        while delayed and delayed[0][0] <= now:  # retries whose wait is over
            retry = heapq.heappop(delayed)[2]
            host = self._hosts[retry.host]
            host.queue.appendleft(retry)
            self._queued += 1
            self._arm(host)
        if self._in_flight >= self._max_in_flight:
            return math.inf
        ready = self._ready
        self._skips = 0
        while ready:
            when, _, host = ready[0]
            if when > now:
                break
            heapq.heappop(ready)
            host.armed = False
            if when < host.next_start:  # paused (Retry-After) since it was armed
                self._arm(host)
                continue
            job = self._take(host, now)
            if job is not None:
                return job
            if self._skips >= _SKIPS_PER_CALL:
                return 0.0  # made many records without a fetch: let the engine breathe
        wake = math.inf
        if ready:
            wake = ready[0][0]
        if delayed and delayed[0][0] < wake:
            wake = delayed[0][0]
        if wake < math.inf:
            return max(wake - now, 0.0)
        if self._in_flight:
            return math.inf
        return None

    def complete(self, job: Job, page: Attempt, now: float) -> None:
        """Report the outcome of ``job`` (handed out by :meth:`next`), at time ``now``.

        Final records go to ``on_record``; a retry goes back to the queue.  Completing a
        job that is not in flight raises ``ValueError`` (each job completes once).
        """
        try:
            start = self._flying.pop(job.id)
        except KeyError:
            raise ValueError(f"job {job.id} ({job.url}) is not in flight") from None
        host = self._hosts[job.host]
        host.in_flight -= 1
        self._in_flight -= 1
        if host.delay > 0.0 and now + host.delay > host.next_start:
            host.next_start = now + host.delay  # the delay counts from the answer
        kind = job.kind
        if kind == PAGE:
            self._complete_page(host, job, page, start, now)
        elif kind == ROBOTS:
            self._complete_robots(host, job, page, now)
        else:
            self._complete_sitemap(job, page)
        self._arm(host)
        self.frontier.tick()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def active_hosts(self) -> int:
        """Origins with a request in flight: O(origins), for progress displays."""
        hosts = list(self._hosts.values())  # one C-level copy: safe beside worker threads
        return sum(1 for h in hosts if h.in_flight)

    @property
    def queued(self) -> int:
        """Page URLs admitted and not yet handed out (retries waiting included)."""
        return self._queued + len(self._delayed)

    @property
    def hosts(self) -> int:
        return len(self._hosts)

    @property
    def admitted(self) -> int:
        return self.frontier.admitted()

    def close(self) -> None:
        """Close the frontier (with a store: commit and release the file)."""
        self.frontier.close()

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- handing out -------------------------------------------------------------------

    def _arm(self, host: _Host) -> None:
        """Put ``host`` in the ready heap if it has work and a free slot."""
        limit = 1 if host.delay > 0.0 else self.options.per_host
        if host.armed or host.in_flight >= limit or host.robots == _FETCHING:
            return
        if host.queue or host.backlog or host.extra or host.robots == _NEED:
            host.armed = True
            heapq.heappush(self._ready, (host.next_start, next(self._seq), host))

    def _start(self, host: _Host, job: Job, start: float, now: float) -> Job:
        self._flying[job.id] = start
        host.in_flight += 1
        self._in_flight += 1
        if self._in_flight > self.peak_in_flight:
            self.peak_in_flight = self._in_flight
        host.last_start = now
        host.next_start = now + host.delay
        self._arm(host)
        return job

    def _take(self, host: _Host, now: float) -> Job | None:
        """The next job of ``host``, or None (records made for disallowed URLs on the way)."""
        if host.robots == _KNOWN and now >= host.robots_expires:
            host.robots = _NEED  # a day old: read it again before the next page
        if host.robots == _NEED:
            host.robots = _FETCHING
            url = host.robots_url or robots_url(host.key)
            attempt = host.robots_failures + 1
            job = Job(next(self._aux_ids), url, 0, host.key, attempt, ROBOTS, host.robots_hops)
            self.stats["robots_fetches"] += 1
            return self._start(host, job, now, now)
        if host.extra:
            self.stats["sitemap_fetches"] += 1
            return self._start(host, host.extra.popleft(), now, now)
        queue = host.queue
        policy = host.policy
        while True:
            if not queue:
                if not host.backlog:
                    return None
                self._refill(host)
                if not queue:
                    return None
            job = queue.popleft()
            self._queued -= 1
            if policy is not None and not policy.allowed(job.url, self._ua):
                self._disallow(job, policy.reason, now)
                if self._skips >= _SKIPS_PER_CALL:
                    self._arm(host)
                    return None
                continue
            start = self._retry_start.pop(job.id, now) if job.attempt > 1 else now
            return self._start(host, job, start, now)

    def _refill(self, host: _Host) -> None:
        jobs = self.frontier.load(host.key, host.cursor, self.options.window)
        if not jobs:
            self._queued -= host.backlog  # should not happen: keep the counts honest
            host.backlog = 0
            return
        host.queue.extend(jobs)
        host.backlog = max(0, host.backlog - len(jobs))
        host.cursor = jobs[-1].id

    # -- admitting URLs ----------------------------------------------------------------

    def _host(self, key: str) -> _Host:
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host(key, self.options.delay)
            if host.delay > 0.0:
                self.stats["delayed_hosts"] += 1
            if not self.options.obey_robots:
                host.robots = _KNOWN
            else:
                cached = self.frontier.robots(key)
                if cached is not None:  # resume: a robots.txt read by an earlier run
                    status, body, fetched = cached
                    left = self.options.robots_ttl - (time.time() - fetched)
                    policy = policy_for_response(status, body)
                    if policy is not None and left > 0:
                        self._set_policy(host, policy, left)
        return host

    def _add(self, cands: Sequence[Candidate]) -> None:
        limit = self._max_pages - self.frontier.admitted()
        if limit <= 0 or not cands:
            return
        windowed = self._windowed
        window = self.options.window
        hosts = self._hosts
        for job in self.frontier.add(cands, limit):
            host = hosts.get(job.host)
            if host is None:
                host = self._host(job.host)
            if windowed and (host.backlog or len(host.queue) >= window):
                host.backlog += 1
            else:
                host.queue.append(job)
                host.cursor = job.id
            self._queued += 1
            if not host.armed:
                self._arm(host)

    def _admit(
        self, urls: Iterable[str], depth: int, hops: int, source: str = "", checked: bool = False
    ) -> None:
        """Queue the new, in-scope URLs among ``urls`` (normalised) at ``depth``.

        ``source`` is the page they were found on (their records' referrer): a public one
        does not lead to private addresses (:func:`~concur.crawl.urls.private_jump`)
        unless the config allows it, or the caller ``checked`` that already.
        """
        if self.frontier.admitted() >= self._max_pages:
            return
        fresh = self.frontier.unknown(urls)
        if not fresh:
            return
        reason = self.scope.reason
        rejected, rejected_old = self._rejected, self._rejected_old
        cands = []
        for url in fresh:
            if url in rejected or url in rejected_old:
                continue
            if reason(url, depth) is None:
                cands.append((url, depth, hops, host_key(url), source))
            elif depth <= self._scope_depth:  # out of scope whatever the depth: remember
                rejected.add(url)
                if len(rejected) >= _REJECTED_CACHE:
                    self._rejected_old = rejected
                    self._rejected = rejected = set()
        if cands and source and not checked and not self.config.allow_private:
            kept = [c for c in cands if private_jump(source, c[0]) is None]
            self.stats["blocked"] += len(cands) - len(kept)
            cands = kept
        self._add(cands)

    # -- completions -------------------------------------------------------------------

    def _complete_page(
        self, host: _Host, job: Job, page: Attempt, start: float, now: float
    ) -> None:
        status = page.status
        error, detail = verdict(page)
        if error is not None:
            wait = self._retry_wait(job, page, error)
            if wait is not None:
                if status in _PAUSE_STATUSES:
                    host.next_start = max(host.next_start, now + wait)
                self._retry_start[job.id] = start
                retry = job._replace(attempt=job.attempt + 1)
                heapq.heappush(self._delayed, (now + wait, next(self._seq), retry))
                self.frontier.retried(job.id, job.attempt)
                self.stats["retries"] += 1
                return
            if error is ErrorKind.HTTP and not detail:
                detail = f"HTTP {status}"
        self._rngs.pop(job.id, None)

        final = ""
        facts = NOTHING_READ
        if error is None and status is not None:
            if status in _REDIRECTS:
                if page.location:
                    final, why = self._redirect(job, page.location)
                    detail = detail or why
                else:
                    detail = detail or "redirect without a Location"
            elif 200 <= status < 300 and self.options.follow:
                facts = self._follow(job, page)
        nbytes = page.nbytes or (len(page.body) if page.body is not None else 0)
        record = PageRecord(
            job.id, job.url, status, nbytes, error, job.attempt, start, now, detail, final,
            job.depth, job.referrer, page.content_type, len(facts.links), facts.title,
        )  # fmt: skip
        self._emit(record)
        if self._on_page is not None and status is not None:
            seen = Page(job.url, status, page.headers, page.body or b"", facts.links, record)
            call_hook(self._on_page, seen, self.stats)

    def _retry_wait(self, job: Job, page: Attempt, error: ErrorKind) -> float | None:
        if job.attempt > self.config.retries:
            return None
        rng = self._rngs.get(job.id)
        if rng is None:
            rng = Jitter(self.config.seed, job.id)  # the same seeded jitter as list mode
        if page.error is not error:  # an answer of 400 and more that the engine left unmarked
            page = page._replace(error=error)
        wait = retry_delay(page, job.attempt, self.config, rng)
        if wait is not None:
            self._rngs[job.id] = rng  # later attempts continue the same random sequence
        return wait

    def _redirect(self, job: Job, location: str) -> tuple[str, str]:
        """Queue a redirect's target as a URL of its own; (target, a note for the record)."""
        target = join(job.url, location, sort_query=self.options.sort_query)
        if target is None:
            return "", f"redirect to an unusable Location: {location[:200]}"
        if target == job.url:
            return target, "redirect to itself"
        if job.hops >= self.config.max_redirects:
            return target, f"redirect not followed: more than {self.config.max_redirects} in a row"
        if not self.config.allow_private and (why := private_jump(job.url, target)):
            self.stats["blocked"] += 1
            return target, f"redirect {why}"
        before = self.frontier.admitted()
        self._admit((target,), job.depth, job.hops + 1, job.url, checked=True)
        if self.frontier.admitted() > before:
            self.stats["redirects"] += 1
        return target, ""

    def _follow(self, job: Job, page: Attempt) -> PageFacts:
        """Queue the links of a fetched page, if it is HTML and not at the depth limit;
        what the page held (nothing, when it was not read: not HTML, or no link of it
        could be admitted — the depth or the page limit reached)."""
        max_depth = self.scope.max_depth
        if max_depth is not None and job.depth >= max_depth:
            return NOTHING_READ
        if self.frontier.admitted() >= self._max_pages:
            return NOTHING_READ
        facts = read_fetched(job.url, page, self.options)
        if facts.links:
            self._admit(facts.links, job.depth + 1, 0, job.url)
        return facts

    def _complete_robots(self, host: _Host, job: Job, page: Attempt, now: float) -> None:
        reachable = page.error in _REACHABLE and page.status is not None
        status = page.status
        if reachable and status in _REDIRECTS and page.location and job.hops < MAX_ROBOTS_REDIRECTS:
            target = join(job.url, page.location)
            if target is not None:
                host.robots = _NEED
                host.robots_url = target
                host.robots_hops = job.hops + 1
                return
        policy = policy_for_response(status, page.body, reachable=reachable)
        if policy is None:  # unreachable: disallow all for a while, then try again
            if host.robots_failures < self.options.robots_retries:
                host.robots_failures += 1
                told = parse_retry_after(page.retry_after) or 0.0
                wait = self.options.robots_backoff * 2 ** (host.robots_failures - 1)
                wait = min(max(wait, told), self.config.max_backoff)
                host.next_start = max(host.next_start, now + wait)
                host.robots = _NEED
                host.robots_url = ""
                host.robots_hops = 0
                return
            why = f"HTTP {status}" if reachable else (page.error or "no answer")
            policy = RobotsPolicy.disallow_all(f"robots.txt unreachable ({why}): host skipped")
        elif status is not None:
            self.frontier.save_robots(host.key, status, (page.body or b"")[:600_000])
        self._set_policy(host, policy, now + self.options.robots_ttl)

    def _set_policy(self, host: _Host, policy: RobotsPolicy, expires: float) -> None:
        host.policy = policy
        host.robots = _KNOWN
        host.robots_expires = expires
        host.robots_url = ""
        host.robots_hops = 0
        host.robots_failures = 0
        asked = policy.crawl_delay(self._ua) or 0.0
        was = host.delay > 0.0
        host.delay = max(self.options.delay, min(asked, self.options.max_crawl_delay))
        self.stats["delayed_hosts"] += (host.delay > 0.0) - was
        host.next_start = max(host.next_start, host.last_start + host.delay)
        if self.options.sitemaps:
            for url in policy.sitemaps:
                self._add_sitemap(url)

    def _add_sitemap(self, url: str) -> None:
        target = normalize(url)
        if target is None or target in self._sitemaps_seen:
            return
        if len(self._sitemaps_seen) >= self.options.max_sitemaps:
            return
        if self.scope.reason(target, 0) is not None:
            return
        self._sitemaps_seen.add(target)
        key = host_key(target)
        host = self._host(key)
        host.extra.append(Job(next(self._aux_ids), target, 0, key, 1, SITEMAP, 0))
        self._arm(host)

    def _complete_sitemap(self, job: Job, page: Attempt) -> None:
        if page.error is not None or page.status is None or not 200 <= page.status < 300:
            return
        if not page.body:
            return
        sitemap = parse_sitemap(page.body)
        for url in sitemap.sitemaps:
            self._add_sitemap(url)
        if sitemap.pages and self.options.follow:
            self._admit(sitemap.pages, 1, 0, job.url)  # one step from the root, like links

    # -- records -----------------------------------------------------------------------

    def _emit(self, record: FetchRecord) -> None:
        self.frontier.done(record)
        stats = self.stats
        stats["records"] += 1
        if record.error is not None:
            stats["errors"] += 1
        if self._on_record is not None:
            self._on_record(record)

    def _disallow(self, job: Job, reason: str, now: float) -> None:
        self._skips += 1
        self.stats["disallowed"] += 1
        start = self._retry_start.pop(job.id, now)
        self._rngs.pop(job.id, None)
        self._emit(
            PageRecord(
                job.id,
                job.url,
                None,
                0,
                DISALLOWED,
                job.attempt - 1,
                start,
                now,
                reason,
                "",
                job.depth,
                job.referrer,
            )  # fmt: skip
        )

    def _reject_seed(self, seed: str) -> None:
        """An input that is not an http(s) URL still gets its record (INVALID_URL)."""
        jobs = self.frontier.add([(seed, 0, 0, "", "")], 1)
        if jobs:
            why = "not an http(s) URL"
            record = PageRecord(jobs[0].id, seed, None, 0, ErrorKind.INVALID_URL, 0, 0.0, 0.0, why)
            self._emit(record)
