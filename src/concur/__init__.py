"""concur: I/O-bound concurrency made visible and measurable.

The front door: fetch a list of URLs or crawl a site, with any engine, and get records.

>>> import concur                                                     # doctest: +SKIP
>>> result = concur.fetch(urls, engine="threads", concurrency=50)
>>> result = concur.crawl("https://example.org/", engine="uvloop", max_pages=500)
>>> result.ok, result.wall_s

:func:`get_engine` gives an engine with its options to run many times;
:func:`available_engines` says which are installed.  Every exception concur raises is
a :class:`ConcurError` (see :mod:`concur.errors`).
"""

from concur.api import crawl, fetch
from concur.crawl.plan import CrawlPlan
from concur.crawl.scheduler import CrawlOptions
from concur.engines import Engine, available_engines, get_engine
from concur.errors import ConcurError, EngineUnavailable
from concur.records import CrawlConfig, CrawlResult, ErrorKind, FetchRecord

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
    "available_engines",
    "crawl",
    "fetch",
    "get_engine",
]
__version__ = "0.1.0"
