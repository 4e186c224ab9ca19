"""One worker's share of a shared crawl: the :class:`~concur.jobs.Work` a driver runs.

Any engine's driver runs a :class:`ClusterJob` exactly as it runs a local crawl: it asks
``next(now)`` for a URL and reports each attempt to ``complete``.  The difference is
where the crawl's state lives.  A local crawl keeps it in the scheduler's memory (and
SQLite); here it lives on a Redis/Valkey server (:mod:`concur.cluster.frontier`), and
this worker holds only what it has leased.  What it does itself is what needs the page:
link extraction, scope, redirects, robots.txt parsing, the retry decision.  What it
sends is the verdict, applied atomically by the server with the record.

The round trips are batched: one call hands in every finished URL since the last one
and leases the next few (the worker's free slots plus a small prefetch), so a busy
worker makes a round trip per several pages, not per page.  Completions that unblock
other work (robots.txt, a host with a crawl delay, a Retry-After pause) go at once.

Leases last :attr:`~concur.cluster.frontier.FrontierSpec.lease` seconds and are renewed
while held; a worker that dies loses them, and they go back to the queue (counted as
retries).  A completion that arrives after its lease went back is *stale*: it is dropped,
and the URL's record comes from whoever fetched it next — exactly one record per URL.

Under gevent the driver's green threads share this object without a lock (they switch
only where they wait), and a round trip is such a place: the pending completions are
taken out before it, and one round trip is under way at a time.

When the server cannot be reached the worker keeps its completions, waits with growing
backoff and tries again; after ``give_up`` seconds without the server it stops with a
one-line :class:`~concur.cluster.frontier.FrontierUnavailable`.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from concur.attempt import Attempt, verdict
from concur.cluster.frontier import FrontierSpec, FrontierUnavailable, RedisFrontier, record_json
from concur.cluster.scripts import RECORD, RETRY, ROBOTS, ROBOTS_AGAIN, SEP
from concur.crawl.hook import OnPage, Page, call_hook
from concur.crawl.links import PageFacts
from concur.crawl.robots import MAX_ROBOTS_REDIRECTS, RobotsPolicy, policy_for_response, robots_url
from concur.crawl.scheduler import DISALLOWED, NOTHING_READ, read_fetched
from concur.crawl.scope import Scope
from concur.crawl.urls import host_key, join, private_jump
from concur.errors import WorkerDied
from concur.records import CrawlConfig, ErrorKind, FetchRecord, PageRecord
from concur.retry import Jitter, parse_retry_after, retry_delay
from concur.warc import open_warc

__all__ = ["ClusterJob", "ClusterTask"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PAUSE_STATUSES = frozenset({429, 503})
_REACHABLE = (None, ErrorKind.HTTP, ErrorKind.TOO_LARGE)
POLL_S = 0.05  # longest wait before asking the server again when nothing was ready
GIVE_UP_S = 60.0  # seconds without the server before a worker stops
_SENT_CACHE = 100_000  # links remembered as handed in (two generations of this many)


class ClusterTask(NamedTuple):
    """A leased job: a page (``kind`` "p") or an origin's robots.txt ("r")."""

    url: str
    lid: str  # the lease's id on the server
    host: str  # the origin whose politeness it counts against
    kind: str
    id: int  # the URL's id (-1 for robots.txt)
    depth: int
    hops: int  # redirects (robots.txt: redirects of its own) followed to reach it
    attempt: int  # 1 for the first try (robots.txt: failures so far)
    losses: int  # leases of it that expired
    first: float | None  # start of its first attempt, seconds since the crawl began
    referrer: str = ""  # the page that linked or redirected to it ("" for a seed)


def _task(host: str, entry: str) -> ClusterTask:
    f = entry.split(SEP)
    if f[0] == "r":  # r, lease id, url ('' = the default), hops, failures
        url = f[2] or robots_url(host)
        return ClusterTask(url, f[1], host, "r", -1, 0, int(f[3]), int(f[4]), 0, None)
    first = float(f[6]) if f[6] else None
    return ClusterTask(
        f[8], f[1], host, "p", int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]), first, f[7]
    )


def _entry(task: ClusterTask, attempt: int, first: float) -> str:
    """The queue entry of ``task`` to try again (the format: :mod:`concur.cluster.scripts`)."""
    fields = (
        "p", task.id, task.depth, task.hops, attempt, task.losses, f"{first:.6f}", task.referrer,
        task.url,
    )  # fmt: skip
    return SEP.join(map(str, fields))


def worker_id() -> str:
    """A name for this worker, unique across machines: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class ClusterJob:
    """This worker's part of the crawl ``spec`` names (see the module docstring)."""

    keep_body = True

    def __init__(
        self,
        spec: FrontierSpec,
        config: CrawlConfig,
        on_record: Callable[[FetchRecord], None] | None = None,
        *,
        on_page: OnPage = None,
        worker: str | None = None,
        give_up: float = GIVE_UP_S,
    ) -> None:
        self.frontier = frontier = RedisFrontier(spec)
        self.worker = worker or worker_id()
        self.config = config
        try:
            plan, _ = frontier.plan()
        except BaseException:
            frontier.close()
            raise
        self.plan = plan
        self.options = plan.options
        self.scope = Scope.for_seeds(
            plan.seeds,
            domains=plan.domains,
            include=plan.include,
            exclude=plan.exclude,
            max_depth=plan.max_depth,
        )
        self.records: list[FetchRecord] = []
        self._on_record = on_record
        self._on_page = on_page
        self._max = config.concurrency
        self._prefetch = min(max(1, config.concurrency // 2), 64)
        self._batch = self._prefetch
        self._renew_every = spec.lease / 3
        self._give_up = give_up
        self._ready: deque[ClusterTask] = deque()
        self._held: set[str] = set()
        self._started: dict[str, float] = {}
        self._pending: list[list[Any]] = []  # completions not yet handed in
        self._sent: set[str] = set()  # links handed in (see _fresh)
        self._sent_old: set[str] = set()
        self._urgent = False
        self._sending = False  # a round trip is under way (gevent: other greenlets run meanwhile)
        self._done = False
        self._active = 0
        self.peak_in_flight = 0
        self._quiet_until = 0.0
        self._renew_at = math.inf
        self._outage: float | None = None
        self._backoff = 0.05
        self._clock = -time.monotonic()  # crawl time - monotonic time, set by the server
        self._policies: dict[str, RobotsPolicy] = {}
        self.stats = {"leased": 0, "round_trips": 0, "stale": 0, "outages": 0, "records": 0}
        # its own WARC files: a worker's tag in their names (never shared between processes)
        self._warc = open_warc(config, tag=self.worker.replace(":", "-"), append=True)

    # -- the driver's side -------------------------------------------------------------

    def workers(self, concurrency: int) -> int:
        return concurrency

    def next(self, now: float) -> ClusterTask | float | None:
        m = time.monotonic()
        if m >= self._renew_at:
            self._renew(m)
        while True:
            while self._ready:
                task = self._ready.popleft()
                try:
                    if task.kind == "p" and self._disallowed(task):
                        continue
                except FrontierUnavailable as exc:  # reading the host's robots.txt verdict
                    self._ready.appendleft(task)
                    return self._outage_wait(exc, m)
                self._active += 1
                if self._active > self.peak_in_flight:
                    self.peak_in_flight = self._active
                if task.first is None:
                    self._started[task.lid] = m + self._clock
                return task
            if self._done:
                if self._pending:
                    self._send(0, m)
                return None if self._active == 0 else math.inf
            room = self._max - self._active
            if room <= 0:
                if self._urgent or len(self._pending) >= self._batch:
                    wait = self._send(0, m)
                    if wait is not None:
                        return wait
                return self._renew_every if self._held else math.inf
            if not self._pending and m < self._quiet_until:
                return self._quiet_until - m
            wait = self._send(room + self._prefetch, m)
            if wait is not None:
                return wait

    def complete(self, task: ClusterTask, attempt: Attempt, now: float) -> None:
        self._active -= 1
        if self._warc is not None:
            self._warc.write(task.url, attempt)
        self._held.discard(task.lid)
        if task.kind == "r":
            self._pending.append(self._robots_done(task, attempt))
            self._urgent = True
            return
        self._pending.append(self._page_done(task, attempt))
        if self._delayed(task.host):
            self._urgent = True  # the host's next start waits for this answer

    def abandon(self, why: str, now: float) -> None:
        raise WorkerDied(f"{why}; this worker's leases go back to the queue when they expire")

    def extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "mode": "cluster",
            "worker": self.worker,
            "crawl": self.frontier.spec.name,
            **self.stats,
        }
        if self._warc is not None:
            extra["warc_files"] = self._warc.files
        return extra

    def close(self) -> None:
        """Hand in what is finished, give back what is not (a stopped worker's URLs go
        to the others at once, not when their leases expire), and leave."""
        try:
            if self._pending:
                self._send(0, time.monotonic())
            if self._held and not self._pending:
                self.frontier.release(self.worker, sorted(self._held))
                self._held.clear()
            self.frontier.leave(self.worker)
        except FrontierUnavailable:
            pass  # what was not handed in is leased, and goes back when the lease expires
        finally:
            self.frontier.close()
            if self._warc is not None:
                self._warc.close()

    # -- talking to the server ---------------------------------------------------------

    def _send(self, want: int, m: float) -> float | None:
        """Hand in what is finished and lease up to ``want``; a wait, or None if jobs came."""
        if self._sending:  # a green thread is inside a round trip: its answer is near
            return 0.001
        pending, self._pending = self._pending, []
        self._urgent = False
        self._sending = True
        try:
            answer, stale = self.frontier.exchange(self.worker, pending, want)
        except FrontierUnavailable as exc:
            self._pending = pending + self._pending  # kept, in order, for the next try
            self._forget_sent()
            return self._outage_wait(exc, m)
        finally:
            self._sending = False
        self._outage = None
        self._backoff = 0.05
        self.stats["round_trips"] += 1
        if stale:
            self.stats["stale"] += stale
            self._forget_sent()
        what = answer[0]
        if what == b"jobs":
            self._clock = float(answer[1]) - time.monotonic()
            ready = self._ready
            held = self._held
            items = answer[2:]
            for i in range(0, len(items), 2):
                task = _task(items[i].decode(), items[i + 1].decode())
                ready.append(task)
                held.add(task.lid)
            self.stats["leased"] += len(items) // 2
            if self._renew_at == math.inf:
                self._renew_at = m + self._renew_every
            return None
        if what == b"done":
            self._done = True
            return None
        if what == b"missing":
            raise FrontierUnavailable(
                f"{self.frontier.where()} is gone from the server (deleted, or the server "
                "restarted without persistence)"
            )
        wait = min(float(answer[1]), POLL_S)
        self._quiet_until = m + wait
        return wait

    def _outage_wait(self, exc: FrontierUnavailable, m: float) -> float:
        """How long to wait before trying the server again; ``exc`` again when it is time
        to give up (a refusal at once: waiting does not make a full server less full)."""
        if not exc.transient:
            raise exc
        if self._outage is None:
            self._outage = m
            self.stats["outages"] += 1
        elif m - self._outage > self._give_up:
            raise exc
        wait = self._backoff
        self._backoff = min(self._backoff * 2, 2.0)
        return wait

    def _renew(self, m: float) -> None:
        self._renew_at = m + self._renew_every
        try:
            self.frontier.renew(self.worker, sorted(self._held))
        except FrontierUnavailable:
            pass  # the next exchange meets the same trouble and paces itself

    # -- pages ---------------------------------------------------------------------------

    def _now(self) -> float:
        return time.monotonic() + self._clock

    def _first(self, task: ClusterTask) -> float:
        started = self._started.pop(task.lid, None)
        if task.first is not None:
            return task.first
        return started if started is not None else self._now()

    def _page_done(self, task: ClusterTask, page: Attempt) -> list[Any]:
        """The completion of a page: its record and new links, or a retry."""
        status = page.status
        error, detail = verdict(page)
        first = self._first(task)
        if error is not None:
            if task.attempt <= self.config.retries:
                rng = Jitter(self.config.seed, task.id * 64 + task.attempt)
                wait = retry_delay(page._replace(error=error), task.attempt, self.config, rng)
                if wait is not None:
                    self.stats["retries"] = self.stats.get("retries", 0) + 1
                    pause = status in _PAUSE_STATUSES
                    if pause:
                        self._urgent = True
                    entry = _entry(task, task.attempt + 1, first)
                    return [task.lid, task.host, RETRY, wait, int(pause), entry]
            if error is ErrorKind.HTTP and not detail:
                detail = f"HTTP {status}"
        links: list[str] = []  # url, origin, url, origin ...
        final = ""
        redirect = blocked = 0
        facts = NOTHING_READ
        depth, hops = task.depth + 1, 0
        if error is None and status is not None:
            if status in _REDIRECTS:
                final, why, target, blocked = self._redirect(task, page.location)
                detail = detail or why
                if target:
                    links = self._fresh([target])
                    redirect = 1
                    depth, hops = task.depth, task.hops + 1  # a redirect keeps its depth
            elif 200 <= status < 300 and self.options.follow:
                facts, found, blocked = self._links(task, page)
                links = self._fresh(found)
        nbytes = page.nbytes or (len(page.body) if page.body is not None else 0)
        attempts = task.attempt + task.losses
        record = PageRecord(
            task.id, task.url, status, nbytes, error, attempts, first, self._now(), detail, final,
            task.depth, task.referrer, page.content_type, len(facts.links), facts.title,
        )  # fmt: skip
        self._emit(record)
        if self._on_page is not None and status is not None:
            seen = Page(task.url, status, page.headers, page.body or b"", facts.links, record)
            call_hook(self._on_page, seen, self.stats)
        error_flag = int(error is not None)
        head = [task.lid, task.host, RECORD, record_json(record), error_flag, 0, redirect]
        return [*head, blocked, depth, hops, task.url, len(links) // 2, *links]

    def _fresh(self, urls: list[str]) -> list[str]:
        """``urls`` this worker has not handed in before, each with its origin, flat.

        Pages repeat their links (menus, footers): the server would find each repeat in
        its ``seen`` set anyway, but every one it is sent costs it a ``SADD`` and the
        round trip its bytes.  A URL handed in once was admitted then, or never will be
        (the page limit only fills up), so two generations of this many are remembered.
        """
        sent, old = self._sent, self._sent_old
        out: list[str] = []
        for url in urls:
            if url in sent or url in old:
                continue
            sent.add(url)
            out += (url, host_key(url))
        if len(sent) >= _SENT_CACHE:
            self._sent_old, self._sent = sent, set()
        return out

    def _forget_sent(self) -> None:
        """After a stale completion or an outage, links handed in may not have been
        admitted (dropped with the completion, or lost with the server's last second)."""
        self._sent.clear()
        self._sent_old.clear()

    def _redirect(self, task: ClusterTask, location: str | None) -> tuple[str, str, str, int]:
        """(target, a note for the record, the target to admit or "", blocked)."""
        if not location:
            return "", "redirect without a Location", "", 0
        target = join(task.url, location, sort_query=self.options.sort_query)
        if target is None or SEP in target:
            return "", f"redirect to an unusable Location: {location[:200]}", "", 0
        if target == task.url:
            return target, "redirect to itself", "", 0
        if task.hops >= self.config.max_redirects:
            limit = self.config.max_redirects
            return target, f"redirect not followed: more than {limit} in a row", "", 0
        if not self.config.allow_private and (jump := private_jump(task.url, target)):
            return target, f"redirect {jump}", "", 1
        if self.scope.reason(target, task.depth) is not None:
            return target, "", "", 0
        return target, "", target, 0

    def _links(self, task: ClusterTask, page: Attempt) -> tuple[PageFacts, list[str], int]:
        """What a fetched HTML page held, its new in-scope links, and how many were blocked.

        "New" to this worker (:meth:`_fresh`): the checks below cost more than the
        look-up, and most of a page's links were on the pages before it."""
        max_depth = self.scope.max_depth
        if max_depth is not None and task.depth >= max_depth:
            return NOTHING_READ, [], 0
        facts = read_fetched(task.url, page, self.options)
        sent, old = self._sent, self._sent_old
        depth = task.depth + 1
        reason = self.scope.reason
        kept = [
            u
            for u in facts.links
            if u not in sent and u not in old and reason(u, depth) is None and SEP not in u
        ]
        blocked = 0
        if kept and not self.config.allow_private:
            public = [u for u in kept if private_jump(task.url, u) is None]
            blocked = len(kept) - len(public)
            kept = public
        return facts, kept, blocked

    def _emit(self, record: FetchRecord) -> None:
        self.records.append(record)
        self.stats["records"] += 1
        if self._on_record is not None:
            self._on_record(record)

    # -- robots.txt ----------------------------------------------------------------------

    def _robots_done(self, task: ClusterTask, page: Attempt) -> list[Any]:
        """The completion of a robots.txt: its verdict, or another try (where, when)."""
        options = self.options
        status = page.status
        reachable = page.error in _REACHABLE and status is not None
        base = [task.lid, task.host]
        if (
            reachable
            and status in _REDIRECTS
            and page.location
            and task.hops < MAX_ROBOTS_REDIRECTS
        ):
            target = join(task.url, page.location)
            if target is not None:
                return [*base, ROBOTS_AGAIN, target, task.hops + 1, task.attempt, 0]
        policy = policy_for_response(status, page.body, reachable=reachable)
        if policy is None:
            if task.attempt < options.robots_retries:
                told = parse_retry_after(page.retry_after) or 0.0
                wait = options.robots_backoff * 2**task.attempt
                wait = min(max(wait, told), self.config.max_backoff)
                return [*base, ROBOTS_AGAIN, "", 0, task.attempt + 1, wait]
            why = f"HTTP {status}" if reachable else (page.error or "no answer")
            verdict: dict[str, Any] = {
                "unreachable": f"robots.txt unreachable ({why}): host skipped"
            }
            policy = RobotsPolicy.disallow_all(verdict["unreachable"])
        else:
            verdict = {"status": status, "body": (page.body or b"")[:600_000].decode("latin-1")}
        self._policies[task.host] = policy
        asked = policy.crawl_delay(self.config.user_agent) or 0.0
        delay = max(options.delay, min(asked, options.max_crawl_delay))
        return [*base, ROBOTS, json.dumps(verdict), delay]

    def _policy(self, host: str) -> RobotsPolicy | None:
        policy = self._policies.get(host)
        if policy is None:
            raw = self.frontier.robots(host)
            if raw is None:
                return None
            verdict = json.loads(raw)
            if "unreachable" in verdict:
                policy = RobotsPolicy.disallow_all(verdict["unreachable"])
            else:
                body = verdict["body"].encode("latin-1")
                policy = policy_for_response(verdict["status"], body) or RobotsPolicy.allow_all()
            self._policies[host] = policy
        return policy

    def _delayed(self, host: str) -> bool:
        if self.options.delay > 0:
            return True
        policy = self._policies.get(host)
        return policy is not None and bool(policy.crawl_delay(self.config.user_agent))

    def _disallowed(self, task: ClusterTask) -> bool:
        """True if robots.txt keeps ``task`` from being fetched (its record is queued)."""
        if not self.options.obey_robots:
            return False
        policy = self._policy(task.host)
        if policy is None or policy.allowed(task.url, self.config.user_agent):
            return False
        self._held.discard(task.lid)
        now = self._now()
        first = task.first if task.first is not None else now
        tries = task.attempt - 1 + task.losses
        record = PageRecord(
            task.id, task.url, None, 0, DISALLOWED, tries, first, now, policy.reason, "",
            task.depth, task.referrer,
        )  # fmt: skip
        self._emit(record)
        completion = [task.lid, task.host, RECORD, record_json(record), 1, 1, 0, 0, 0, 0, "", 0]
        self._pending.append(completion)
        return True
