"""The frontier: every URL the crawl has admitted, what remains to fetch, and jobs.

The :class:`~concur.crawl.scheduler.Scheduler` decides *when* a URL is fetched; a
frontier remembers *which* URLs exist: it de-duplicates, hands out ids, keeps the
queued ones and records the finished ones.  Two implementations share the small
:class:`Frontier` protocol:

* :class:`MemoryFrontier` (here) - sets and counters in RAM: the fastest, for crawls
  that fit in memory and need not survive a crash;
* :class:`concur.store.sqlite.SqliteStore` - SQLite in WAL mode: the frontier lives on
  disk, memory stays bounded however large it grows, and ``--resume`` continues after
  a ``kill -9``.

A frontier never decides politeness, scope or retries; it only stores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

from concur.records import FetchRecord

__all__ = ["PAGE", "ROBOTS", "SITEMAP", "Candidate", "Frontier", "Job", "MemoryFrontier"]

PAGE = "page"
ROBOTS = "robots"
SITEMAP = "sitemap"


class Job(NamedTuple):
    """One fetch to make: handed out by ``Scheduler.next``, given back to ``Scheduler.complete``.

    A named tuple rather than a dataclass: it is created for every URL, so creating it
    must be cheap, and engines that fetch in worker processes must be able to pickle it.
    It is immutable; a retry is a new Job with ``attempt + 1``.
    """

    id: int  # the URL's id (its discovery order, >= 0); negative for robots/sitemap fetches
    url: str  # normalised absolute URL: fetch exactly this
    depth: int  # link distance from a seed (redirect targets keep their source's depth)
    host: str  # the origin whose politeness it counts against (scheme://host[:port]); for a
    # robots.txt that redirected to another origin, still the origin that asked
    attempt: int  # 1 for the first try
    kind: str = PAGE  # PAGE, ROBOTS or SITEMAP
    hops: int = 0  # redirects followed to reach this URL
    referrer: str = ""  # the page that linked or redirected to it ("" for a seed)


Candidate = tuple[str, int, int, str, str]
"""A URL the scheduler wants admitted: (normalised url, depth, hops, origin, referrer)."""


class Frontier(Protocol):
    """What the scheduler needs from a place that stores URLs.  Ids start at 0, ascending."""

    windowed: bool
    """True: the scheduler keeps only a small window of queued jobs per origin in RAM
    and calls :meth:`load` for more.  False: :meth:`add` results are all kept in RAM."""

    def unknown(self, urls: Iterable[str]) -> list[str]:
        """The URLs among ``urls`` not certainly admitted before (some may still be).

        A batch call: pages repeat links, and one comprehension over a set beats a method
        call per link."""
        ...

    def add(self, candidates: Sequence[Candidate], limit: int) -> list[Job]:
        """Admit the candidates not seen before, at most ``limit`` of them; their new jobs."""
        ...

    def admitted(self) -> int:
        """How many URLs were ever admitted (queued, in flight or done)."""
        ...

    def load(self, host: str, after: int, limit: int) -> list[Job]:
        """Up to ``limit`` queued jobs of ``host`` with ids above ``after``, in id order."""
        ...

    def queued_hosts(self) -> Iterable[tuple[str, int]]:
        """(origin, number of queued URLs) for every origin with queued URLs (on resume)."""
        ...

    def done(self, record: FetchRecord) -> None:
        """The URL ``record.index`` is finished; keep its record."""
        ...

    def retried(self, job_id: int, attempts: int) -> None:
        """The URL failed ``attempts`` times and will be tried again."""
        ...

    def robots(self, host: str) -> tuple[int, bytes, float] | None:
        """A cached robots.txt answer (status, body, wall-clock time fetched), if any."""
        ...

    def save_robots(self, host: str, status: int, body: bytes) -> None:
        """Remember a robots.txt answer (only definitive answers are saved)."""
        ...

    def tick(self) -> None:
        """Called after every completion: a chance to commit a batch of writes."""
        ...

    def close(self) -> None:
        """Write everything out and release resources."""
        ...


class MemoryFrontier:
    """A frontier in RAM: a set for de-duplication and a counter for ids.

    Memory grows with the number of URLs (about 150 bytes each); use the SQLite store
    for frontiers of millions of URLs.
    """

    windowed = False

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._next = 0

    def unknown(self, urls: Iterable[str]) -> list[str]:
        seen = self._seen
        return [url for url in urls if url not in seen]

    def add(self, candidates: Sequence[Candidate], limit: int) -> list[Job]:
        seen = self._seen
        out: list[Job] = []
        for url, depth, hops, host, referrer in candidates:
            if url in seen:
                continue
            if len(out) >= limit:
                break
            seen.add(url)
            out.append(Job(self._next, url, depth, host, 1, PAGE, hops, referrer))
            self._next += 1
        return out

    def admitted(self) -> int:
        return self._next

    def load(self, host: str, after: int, limit: int) -> list[Job]:
        return []

    def queued_hosts(self) -> Iterable[tuple[str, int]]:
        return ()

    def done(self, record: FetchRecord) -> None:
        pass

    def retried(self, job_id: int, attempts: int) -> None:
        pass

    def robots(self, host: str) -> tuple[int, bytes, float] | None:
        return None

    def save_robots(self, host: str, status: int, body: bytes) -> None:
        pass

    def tick(self) -> None:
        pass

    def close(self) -> None:
        pass
