"""concur: I/O-bound concurrency made visible and measurable.

The front door: configure a crawl, pick an engine, get records back.

>>> from concur import CrawlConfig, get_engine          # doctest: +SKIP
>>> result = get_engine("asyncio")(urls, CrawlConfig(concurrency=100))
>>> result.ok, result.wall_s
"""

from concur.engines import EngineUnavailable, available_engines, get_engine
from concur.records import CrawlConfig, CrawlResult, ErrorKind, FetchRecord

__all__ = [
    "CrawlConfig",
    "CrawlResult",
    "EngineUnavailable",
    "ErrorKind",
    "FetchRecord",
    "available_engines",
    "get_engine",
]
__version__ = "0.1.0"
