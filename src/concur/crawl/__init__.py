"""Crawl rules without I/O, shared by every engine: URLs, scope, links, robots.txt, scheduling.

Reading order: :mod:`~concur.crawl.urls` (one spelling per page), :mod:`~concur.crawl.scope`
(which pages), :mod:`~concur.crawl.links` (what a page links to), :mod:`~concur.crawl.robots`
(what a site allows), :mod:`~concur.crawl.frontier` (which URLs exist),
:mod:`~concur.crawl.scheduler` (when each is fetched, and what its answer means) and
:mod:`~concur.crawl.plan` (a whole crawl described as one value).
Nothing here opens a socket; engines fetch, this package decides.
"""

from __future__ import annotations

from concur.crawl.frontier import Job, MemoryFrontier
from concur.crawl.plan import CrawlPlan
from concur.crawl.scheduler import DISALLOWED, CrawlOptions, Scheduler
from concur.crawl.scope import Scope

__all__ = [
    "DISALLOWED",
    "CrawlOptions",
    "CrawlPlan",
    "Job",
    "MemoryFrontier",
    "Scheduler",
    "Scope",
]
