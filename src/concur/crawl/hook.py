"""The per-page hook: a script's own code, run on every page a crawl fetches.

concur does the fetching, the politeness, the retries and the storage; a hook sees each
page as it is answered and takes what it wants from it — prices, headings, a search
index — without writing a crawler::

    def keep_titles(page: concur.Page) -> None:
        if page.status == 200 and page.body:
            titles[page.url] = page.record.title

    concur.follow("https://example.org/", on_page=keep_titles)

It runs for every URL that got an answer (any status; not for a network failure, and
not for a URL robots.txt kept concur from fetching), after the last attempt: a retried
URL is seen once.  It runs where the crawl runs — in the engine's event loop or under
its scheduler's lock — so a slow hook slows the crawl; and in the process that crawls:
the gevent engine runs its crawl in a child process and takes no hook.  An exception in
a hook is the hook's: it is counted (``hook_errors`` in the result's ``extra``), the first
one is said on stderr, and the crawl goes on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NamedTuple

from concur.records import PageRecord

__all__ = ["OnPage", "Page", "call_hook"]


class Page(NamedTuple):
    """One answered page, as the hook sees it."""

    url: str
    status: int
    headers: tuple[tuple[str, str], ...]  # as received, in order (names as sent)
    body: bytes  # as the engine read it (decompressed), at most the config's max_body
    links: list[str]  # the page's links, normalised, in document order (HTML 2xx pages)
    record: PageRecord  # what the crawl records for it (depth, referrer, title ...)


OnPage = Callable[[Page], object] | None
"""An optional per-page hook (see the module docstring)."""


def call_hook(hook: Callable[[Page], object], page: Page, stats: dict[str, int]) -> None:
    """Run ``hook`` on ``page``; an exception is counted in ``stats`` and said once."""
    try:
        hook(page)
    except Exception as exc:  # the script's bug: said, counted, and the crawl goes on
        stats["hook_errors"] = stats.get("hook_errors", 0) + 1
        if stats["hook_errors"] == 1:
            why = " ".join(str(exc).split())[:200]
            print(
                f"concur: the page hook raised {type(exc).__name__}: {why} (on {page.url}); "
                "the crawl goes on, and counts them",
                file=sys.stderr,
            )
