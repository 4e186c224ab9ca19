"""Crawl rules without I/O, shared by every engine: URLs, scope, links, robots.txt, scheduling.

Reading order: :mod:`~concur.crawl.urls` (one spelling per page), :mod:`~concur.crawl.scope`
(which pages), :mod:`~concur.crawl.links` (what a page links to), :mod:`~concur.crawl.robots`
(what a site allows), :mod:`~concur.crawl.frontier` (which URLs exist),
:mod:`~concur.crawl.scheduler` (when each is fetched, and what its answer means) and
:mod:`~concur.crawl.plan` (a whole crawl described as one value).
Nothing here opens a socket; engines fetch, this package decides.

The names below load on first use (PEP 562): a URL list needs :mod:`~concur.crawl.urls`
and not the HTML and robots.txt parsers the scheduler imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from concur.lazy import exports as _exports

if TYPE_CHECKING:
    from concur.crawl.frontier import Job, MemoryFrontier
    from concur.crawl.plan import CrawlPlan
    from concur.crawl.scheduler import DISALLOWED, CrawlOptions, Scheduler
    from concur.crawl.scope import Scope

_WHERE = {
    "DISALLOWED": "concur.crawl.scheduler",
    "CrawlOptions": "concur.crawl.scheduler",
    "CrawlPlan": "concur.crawl.plan",
    "Job": "concur.crawl.frontier",
    "MemoryFrontier": "concur.crawl.frontier",
    "Scheduler": "concur.crawl.scheduler",
    "Scope": "concur.crawl.scope",
}

__all__ = [
    "DISALLOWED",
    "CrawlOptions",
    "CrawlPlan",
    "Job",
    "MemoryFrontier",
    "Scheduler",
    "Scope",
]


__getattr__, __dir__ = _exports(globals(), _WHERE)
