"""What to crawl, as one value: seeds, scope, politeness and where the frontier lives.

:class:`~concur.records.CrawlConfig` says how to *fetch* (concurrency, timeouts,
retries) and is the same for a URL list and a crawl; a :class:`CrawlPlan` says what a
crawl covers.  It is plain data, so it can be saved with a crawl, sent to a worker
process, or written by hand in a notebook::

    plan = CrawlPlan(("https://example.org/",), CrawlOptions(per_host=4), max_depth=2)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from concur.crawl.scheduler import CrawlOptions

__all__ = ["CrawlPlan"]


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

    def __post_init__(self) -> None:
        if isinstance(self.seeds, str):  # one seed given as a string: not its characters
            object.__setattr__(self, "seeds", (self.seeds,))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name in ("seeds", "domains", "include", "exclude"):
            d[name] = list(d[name])
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
