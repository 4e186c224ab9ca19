"""concur: I/O-bound concurrency made visible and measurable.

The front door: fetch a list of URLs or crawl a site, with any engine, and get records.

>>> import concur                                                     # doctest: +SKIP
>>> result = concur.fetch(urls, engine="threads", concurrency=50)
>>> result = concur.follow("https://example.org/", engine="uvloop", max_pages=500)
>>> result.ok, result.wall_s

A crawl shared by many processes and machines keeps its frontier in Redis/Valkey:
``concur.follow(seeds, frontier="redis://host:6379/0")`` seeds it and crawls as one
worker, ``concur.work("redis://host:6379/0")`` joins it from anywhere else.

:func:`get_engine` gives an engine with its options to run many times;
:func:`available_engines` says which are installed.  Every exception concur raises is
a :class:`ConcurError` (see :mod:`concur.errors`).

The names load on first use (PEP 562), so ``import concur.records`` in a worker
process or ``concur --help`` does not pay for the crawler's parsers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from concur.lazy import exports as _exports

if TYPE_CHECKING:
    from concur.api import fetch, follow, work
    from concur.cluster.frontier import FrontierSpec
    from concur.crawl.hook import Page
    from concur.crawl.plan import CrawlPlan
    from concur.crawl.scheduler import CrawlOptions
    from concur.engines import Engine, available_engines, get_engine
    from concur.errors import ConcurError, EngineUnavailable
    from concur.records import CrawlConfig, CrawlResult, ErrorKind, FetchRecord, PageRecord

_WHERE = {
    "ConcurError": "concur.errors",
    "CrawlConfig": "concur.records",
    "CrawlOptions": "concur.crawl.scheduler",
    "CrawlPlan": "concur.crawl.plan",
    "CrawlResult": "concur.records",
    "Engine": "concur.engines",
    "EngineUnavailable": "concur.errors",
    "ErrorKind": "concur.records",
    "FetchRecord": "concur.records",
    "FrontierSpec": "concur.cluster.frontier",
    "Page": "concur.crawl.hook",
    "PageRecord": "concur.records",
    "available_engines": "concur.engines",
    "fetch": "concur.api",
    "follow": "concur.api",
    "get_engine": "concur.engines",
    "work": "concur.api",
}

__all__ = [
    "ConcurError",
    "CrawlConfig",
    "CrawlOptions",
    "CrawlPlan",
    "CrawlResult",
    "Engine",
    "EngineUnavailable",
    "ErrorKind",
    "FetchRecord",
    "FrontierSpec",
    "Page",
    "PageRecord",
    "available_engines",
    "fetch",
    "follow",
    "get_engine",
    "work",
]
__version__ = "0.1.0"


__getattr__, __dir__ = _exports(globals(), _WHERE)
