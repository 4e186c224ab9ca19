"""A web site with no sockets, for driving :class:`~concur.cluster.job.ClusterJob`s.

Page ``/p/N`` of each host links to ``fanout`` pages ``/p/(N*fanout+1)`` ... below
``pages``, and back to ``/p/0`` (a repeat the frontier must drop); robots.txt is
answered from ``robots``.  :func:`crawl` runs jobs round-robin in one thread, each
fetch completing at once or after ``hold`` calls, and records what a server would see.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from concur.attempt import Attempt
from concur.cluster.job import ClusterJob


def answer(url: str, pages: int, fanout: int = 3, robots: str = "") -> Attempt:
    parts = urlsplit(url)
    if parts.path == "/robots.txt":
        body = robots.encode()
        return Attempt(200, len(body), None, "", body, "text/plain", "", None)
    n = int(parts.path.rsplit("/", 1)[1])
    if n >= pages:
        return Attempt(404, 0, None, "", b"", "text/plain", "", None)
    base = f"{parts.scheme}://{parts.netloc}"
    kids = [n * fanout + k for k in range(1, fanout + 1) if n * fanout + k < pages]
    links = "".join(f'<a href="{base}/p/{k}">{k}</a>' for k in [*kids, 0])
    body = f"<html><body>{links}</body></html>".encode()
    return Attempt(200, len(body), None, "", body, "text/html", "", None)


@dataclass
class Seen:
    """What the site saw: fetches per URL, and the most in flight per host at once."""

    fetches: Counter[str] = field(default_factory=Counter)
    peak_per_host: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)


def crawl(
    jobs: Sequence[ClusterJob],
    pages: int,
    *,
    hold: int = 0,
    robots: str = "",
    fetch: Callable[[str], Attempt] | None = None,
    timeout: float = 30.0,
) -> Seen:
    """Drive ``jobs`` until each says the crawl is over (None); what the site saw.

    ``fetch(url)`` answers instead of :func:`answer` when given."""
    seen = Seen()
    flying: list[list[Any]] = [[] for _ in jobs]  # per job: [task, calls before it answers]
    finished = [False] * len(jobs)
    deadline = time.monotonic() + timeout
    get = fetch or (lambda url: answer(url, pages, robots=robots))
    while time.monotonic() < deadline:
        if all(finished):
            return seen
        for i, job in enumerate(jobs):
            if finished[i]:
                continue
            for entry in list(flying[i]):
                entry[1] -= 1
                if entry[1] < 0:
                    flying[i].remove(entry)
                    task = entry[0]
                    seen.in_flight[urlsplit(task.url).netloc] -= 1
                    job.complete(task, get(task.url), 0.0)
            got = job.next(0.0)
            if got is None:
                finished[i] = True
            elif not isinstance(got, float):
                host = urlsplit(got.url).netloc
                seen.fetches[got.url] += 1
                seen.in_flight[host] += 1
                seen.peak_per_host[host] = max(seen.peak_per_host[host], seen.in_flight[host])
                flying[i].append([got, hold])
    raise AssertionError("the crawl did not end")
