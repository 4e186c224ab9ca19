"""The front door for Python: both jobs, any engine, with its options, in two functions.

>>> import concur
>>> result = concur.fetch(urls, concurrency=100)                      # doctest: +SKIP
>>> result = concur.fetch(urls, engine="tornado", client="simple")    # doctest: +SKIP
>>> result = concur.follow("https://example.org/", engine="uvloop", max_depth=2)  # doctest: +SKIP
>>> result.ok, result.wall_s, result.records[0]                       # doctest: +SKIP

:func:`fetch` takes the URLs as given; :func:`follow` crawls from seeds by following
links, as ``concur crawl --follow`` does.  Both are synchronous and return a
:class:`~concur.records.CrawlResult`; they also work
inside a running event loop (a Jupyter notebook), where the async engines run their
own loop in a thread; :func:`outside_loop` does the same for any other blocking code
that runs a loop of its own (the GIL lab's experiments).  Keyword arguments that are fields of
:class:`~concur.records.CrawlConfig` (``concurrency``, ``timeout``, ``retries`` ...)
build the config when none is given; the rest are the engine's options
(:func:`concur.get_engine` lists what each takes).  For a crawl, fields of
:class:`~concur.crawl.plan.CrawlPlan` and :class:`~concur.crawl.CrawlOptions` are
accepted the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, replace
from typing import Any

from concur.cluster.frontier import FrontierSpec, RedisFrontier
from concur.crawl.hook import OnPage
from concur.crawl.plan import CrawlPlan
from concur.crawl.scheduler import CrawlOptions
from concur.engines import get_engine
from concur.errors import ConcurError
from concur.jobs import OnRecord
from concur.loops import outside_loop
from concur.records import CrawlConfig, CrawlResult

__all__ = ["fetch", "follow", "outside_loop", "work"]


def _take(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: kwargs.pop(k) for k in list(kwargs) if k in names}


def _config(config: CrawlConfig | None, kwargs: dict[str, Any]) -> CrawlConfig:
    given = _take(CrawlConfig, kwargs)
    return replace(config or CrawlConfig(), **given)


def fetch(
    urls: Iterable[str],
    config: CrawlConfig | None = None,
    *,
    engine: str = "asyncio",
    on_record: OnRecord = None,
    **kwargs: Any,
) -> CrawlResult:
    """Fetch every URL as given with ``engine``: one record per input URL, in input order."""
    config = _config(config, kwargs)
    return get_engine(engine, **kwargs).fetch(list(urls), config, on_record)


def follow(
    seeds: CrawlPlan | str | Iterable[str],
    config: CrawlConfig | None = None,
    *,
    engine: str = "asyncio",
    on_record: OnRecord = None,
    on_page: OnPage = None,
    frontier: FrontierSpec | str | None = None,
    **kwargs: Any,
) -> CrawlResult:
    """Crawl from ``seeds`` (or a whole :class:`CrawlPlan`) by following links.

    With ``frontier`` (a :class:`~concur.cluster.frontier.FrontierSpec`, or a Redis URL)
    the crawl is seeded into that server — continued if it is there and ``resume=True``
    — and this process crawls it as one worker, while others may join with :func:`work`
    from anywhere; the result holds every record of the whole crawl.

    ``on_page`` is run on every answered page with its headers, body, links and record
    (a :class:`~concur.crawl.hook.Page`): extract what you want while concur does the
    fetching, politeness and storage.

    (Named for ``concur crawl --follow``: ``concur.crawl`` is the package of crawl rules.)
    """
    config = _config(config, kwargs)
    plan = (
        seeds
        if isinstance(seeds, CrawlPlan)
        else CrawlPlan(tuple([seeds] if isinstance(seeds, str) else seeds))
    )
    options = _take(CrawlOptions, kwargs)
    if options:
        plan = replace(plan, options=replace(plan.options, **options))
    given = _take(CrawlPlan, kwargs)
    if given:
        plan = replace(plan, **given)
    if frontier is None:
        return get_engine(engine, **kwargs).crawl(plan, config, on_record, on_page)
    spec = _spec(frontier)
    shared = RedisFrontier(spec)
    try:
        try:
            shared.seed(plan, config, resume=plan.resume)
        except (FileExistsError, LookupError) as exc:
            raise ConcurError(str(exc)) from None
        mine = get_engine(engine, **kwargs).run(("cluster", spec), config, on_record, on_page)
        records = tuple(shared.records())
    finally:
        shared.close()
    return replace(mine, records=records, extra={**mine.extra, "mode": "shared"})


def work(
    frontier: FrontierSpec | str,
    config: CrawlConfig | None = None,
    *,
    engine: str = "asyncio",
    on_record: OnRecord = None,
    on_page: OnPage = None,
    **kwargs: Any,
) -> CrawlResult:
    """Join the shared crawl on ``frontier`` as one more worker, until it is done.

    ``config`` (and keyword arguments such as ``concurrency``) say how *this* worker
    fetches; what to crawl is the crawl's own, as it was seeded.  The result holds this
    worker's records only.
    """
    spec = _spec(frontier)
    shared = RedisFrontier(spec)
    try:
        try:
            _, seeded = shared.plan()
        except LookupError as exc:
            raise ConcurError(str(exc)) from None
    finally:
        shared.close()
    config = _config(config or seeded, kwargs)
    return get_engine(engine, **kwargs).run(("cluster", spec), config, on_record, on_page)


def _spec(frontier: FrontierSpec | str) -> FrontierSpec:
    return frontier if isinstance(frontier, FrontierSpec) else FrontierSpec(frontier)
