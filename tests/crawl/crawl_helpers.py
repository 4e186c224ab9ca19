"""A fake web site and a fake clock, to drive the scheduler the way an engine would.

No sockets: a "fetch" is a dictionary lookup that completes ``latency`` simulated
seconds after it starts.  :func:`drive` is an event loop over simulated time that keeps
every fetch the scheduler hands out in flight until its completion time, and records
what a server would see (request starts per host, requests in flight per host).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from concur.attempt import Attempt
from concur.crawl.frontier import Job
from concur.crawl.links import extract_links
from concur.crawl.scheduler import Scheduler
from concur.records import ErrorKind, FetchRecord

Answer = Attempt | Callable[[int], Attempt]  # a fixed answer, or one per request (0, 1, ...)


def page(
    status: int | None = None,
    body: bytes | None = None,
    nbytes: int = 0,
    content_type: str = "",
    location: str = "",
    retry_after: str | None = None,
    error: ErrorKind | None = None,
    detail: str = "",
    links: list[str] | None = None,
) -> Attempt:
    """An engine's attempt as a fake fetch reports it (``links``: an HTML body linking them)."""
    if links is not None:
        body = "".join(f'<a href="{u}">{u}</a>' for u in links).encode()
    return Attempt(status, nbytes, error, detail, body, content_type, location, retry_after)


def html(*hrefs: str, extra: str = "") -> Attempt:
    links = "".join(f'<a href="{h}">{h}</a>' for h in hrefs)
    body = f"<!doctype html><html><head>{extra}</head><body>{links}</body></html>".encode()
    return page(200, body, content_type="text/html; charset=utf-8")


def redirect(location: str, status: int = 301) -> Attempt:
    return page(status, b"", location=location)


def robots(text: str) -> Attempt:
    return page(200, text.encode(), content_type="text/plain")


NOT_FOUND = page(404, b"not found", content_type="text/plain")


@dataclass
class FakeSite:
    """Answers by exact URL; robots.txt defaults to 404 (allow all), other URLs to 404."""

    pages: dict[str, Answer] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)

    def answer(self, job: Job) -> Attempt:
        n = self.requests[job.url]
        self.requests[job.url] += 1
        spec = self.pages.get(job.url, NOT_FOUND)
        return spec(n) if callable(spec) else spec


@dataclass
class Trace:
    """What the fake server saw."""

    records: list[FetchRecord] = field(default_factory=list)
    starts: list[tuple[float, Job]] = field(default_factory=list)
    ends: list[tuple[float, Job]] = field(default_factory=list)
    peak_per_host: Counter[str] = field(default_factory=Counter)
    peak_total: int = 0
    end_time: float = 0.0

    def starts_of(self, host: str) -> list[float]:
        return [t for t, job in self.starts if job.host == host]

    def fetched(self) -> list[str]:
        return [job.url for _, job in self.starts]

    def by_url(self) -> dict[str, FetchRecord]:
        out = {}
        for r in self.records:
            assert r.url not in out, f"two records for {r.url}"
            out[r.url] = r
        return out


def grid_site(hosts: list[str], n: int, seed: int = 1, fanout: int = 6) -> FakeSite:
    """n pages per host, each linking to random pages of all hosts (and some junk)."""
    rng = random.Random(seed)
    site = FakeSite()
    every = [f"{h}/p{i}" for h in hosts for i in range(n)]
    for url in every:
        hrefs = rng.sample(every, fanout) + ["#top", "mailto:x@y", url + "?", "javascript:0"]
        site.pages[url] = html(*hrefs)
    for h in hosts:
        site.pages[f"{h}/"] = html(*[f"{h}/p{i}" for i in range(0, n, max(1, n // 5))])
    return site


def reachable(site: FakeSite, seeds: list[str]) -> set[str]:
    seen, todo = set(seeds), list(seeds)
    while todo:
        url = todo.pop()
        got = site.pages.get(url)
        if isinstance(got, Attempt) and got.body and got.status == 200:
            for link in extract_links(got.body, url, got.content_type):
                if link not in seen:
                    seen.add(link)
                    todo.append(link)
    return seen


def new_scheduler(seeds: list[str], trace: Trace, **kw: object) -> Scheduler:
    return Scheduler(seeds, on_record=trace.records.append, **kw)  # type: ignore[arg-type]


def drive(
    scheduler: Scheduler,
    site: FakeSite,
    trace: Trace,
    *,
    latency: float | Callable[[Job], float] = 0.01,
    max_steps: int = 1_000_000,
    stop_after: int | None = None,
) -> Trace:
    """Run the crawl to the end in simulated time; check the scheduler's answers as we go.

    ``stop_after`` completions, return at once, leaving fetches in flight (a "crash").
    """
    now = 0.0
    seq = itertools.count()
    events: list[tuple[float, int, Job]] = []
    flying: defaultdict[str, int] = defaultdict(int)
    total = 0
    for _ in range(max_steps):
        nxt = scheduler.next(now)
        if isinstance(nxt, Job):
            trace.starts.append((now, nxt))
            flying[nxt.host] += 1
            total += 1
            trace.peak_per_host[nxt.host] = max(trace.peak_per_host[nxt.host], flying[nxt.host])
            trace.peak_total = max(trace.peak_total, total)
            delay = latency(nxt) if callable(latency) else latency
            heapq.heappush(events, (now + delay, next(seq), nxt))
            continue
        if nxt is None:
            assert not events, "finished with fetches in flight"
            assert scheduler.in_flight == 0
            trace.end_time = now
            return trace
        assert nxt >= 0
        wake = now + nxt
        if events and events[0][0] <= wake:
            when, _, job = heapq.heappop(events)
            now = max(now, when)
            flying[job.host] -= 1
            total -= 1
            trace.ends.append((now, job))
            scheduler.complete(job, site.answer(job), now)
            if stop_after is not None and len(trace.ends) >= stop_after:
                trace.end_time = now
                return trace
        else:
            assert wake < math.inf, "the scheduler waits forever with nothing in flight"
            now = wake
    raise AssertionError("the crawl did not finish")
