"""Crawl rules without I/O, shared by every engine: URLs, scope, links, robots.txt, scheduling.

Reading order: :mod:`~concur.crawl.urls` (one spelling per page), :mod:`~concur.crawl.scope`
(which pages), :mod:`~concur.crawl.links` (what a page links to), :mod:`~concur.crawl.robots`
(what a site allows), :mod:`~concur.crawl.frontier` (which URLs exist) and
:mod:`~concur.crawl.scheduler` (when each is fetched, and what its answer means).
Nothing here opens a socket; engines fetch, this package decides.
"""

from __future__ import annotations

from concur.crawl.frontier import Job, MemoryFrontier
from concur.crawl.scheduler import DISALLOWED, BlockingScheduler, CrawlOptions, Page, Scheduler
from concur.crawl.scope import Scope

__all__ = [
    "DISALLOWED",
    "BlockingScheduler",
    "CrawlOptions",
    "Job",
    "MemoryFrontier",
    "Page",
    "Scheduler",
    "Scope",
]
