"""The summary of a crawl: the run's summary, plus what the crawl found and what held it back.

A crawl rarely reaches ``-c`` requests in flight: politeness caps each host at
``per_host`` (one at a time when a delay applies, from ``--crawl-delay`` or robots.txt's
``Crawl-delay``), so with H hosts at most ``per_host x H`` can be in flight however large
``-c`` is.  :func:`concurrency_limit` computes that cap from the records (which hosts
were fetched) and the crawl's options, and the summary names it — a peak of 6 with
``-c 100`` is then not a slow engine but ``--per-host 2 x 3 hosts``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from concur.records import CrawlResult, FetchRecord
from concur.report.summary import render, summarize

if TYPE_CHECKING:
    from concur.crawl.scheduler import CrawlOptions

__all__ = ["concurrency_limit", "crawl_summary", "is_page", "render_crawl"]

_COUNTERS = ("admitted", "disallowed", "retries", "redirects", "robots_fetches", "sitemap_fetches")


def is_page(record: FetchRecord) -> bool:
    """A page: a 2xx answer without an error."""
    return record.status is not None and 200 <= record.status < 300 and record.error is None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def concurrency_limit(
    result: CrawlResult, options: CrawlOptions, delayed_hosts: int | None = None
) -> dict[str, Any] | None:
    """What capped the requests in flight below ``-c``, or None when nothing did.

    ``hosts`` are the origins the crawl fetched from (its records).  A host with a delay
    takes one request at a time: every host with ``--crawl-delay``, else the
    ``delayed_hosts`` whose robots.txt asked for a ``Crawl-delay`` (when the caller
    knows: the scheduler's ``delayed_hosts`` counter, or the synthetic site's truth).
    """
    from concur.crawl.urls import host_key

    hosts = len({host_key(r.url) for r in result.records if r.attempts > 0})
    concurrency = result.config.concurrency
    if not hosts:
        return None
    if options.delay > 0:
        delayed = hosts
    else:
        delayed = min(hosts, result.extra.get("delayed_hosts", delayed_hosts) or 0)
    free = hosts - delayed
    limit = options.per_host * free + delayed
    if limit >= concurrency:
        return None
    parts = [f"--per-host {options.per_host} × {_plural(free, 'host')}"] if free else []
    if delayed:
        why = f"--crawl-delay {options.delay:g} s" if options.delay > 0 else "Crawl-delay"
        parts.append(f"{why} (one at a time) × {_plural(delayed, 'host')}")
    return {
        "by": " + ".join(parts),
        "limit": limit,
        "concurrency": concurrency,
        "per_host": options.per_host,
        "hosts": hosts,
        "delayed_hosts": delayed,
        "crawl_delay_s": options.delay,
    }


def crawl_summary(
    result: CrawlResult,
    options: CrawlOptions,
    *,
    server_peak_in_flight: int | None = None,
    delayed_hosts: int | None = None,
) -> dict[str, Any]:
    """The run's summary (:func:`~concur.report.summary.summarize`) plus ``crawl``: pages
    found, the scheduler's counters, and ``concurrency_limit`` (None: ``-c`` was the cap)."""
    summary = summarize(result, server_peak_in_flight=server_peak_in_flight)
    wall = result.wall_s
    pages = sum(1 for r in result.records if is_page(r))
    extra = result.extra
    summary["crawl"] = {
        "pages": pages,  # 2xx answers
        "pages_per_s": round(pages / wall, 1) if wall > 0 else 0.0,
        "cpu_us_per_page": round(result.cpu_s / pages * 1e6, 1) if pages else 0.0,
        "per_host": options.per_host,
        "crawl_delay_s": options.delay,
        **{k: extra[k] for k in _COUNTERS if k in extra},
    }
    summary["concurrency_limit"] = concurrency_limit(result, options, delayed_hosts)
    return summary


def render_crawl(s: dict[str, Any]) -> str:
    """The terminal summary of a crawl: the run's, then pages, counters and the truth."""
    c = s["crawl"]
    lines = [
        render(s),
        f"crawl       {c['pages']} pages (2xx)   {c['pages_per_s']:,.0f} pages/s   "
        f"{c['cpu_us_per_page']:,.0f} µs CPU/page",
    ]
    if "admitted" in c:  # the scheduler's counters (an interrupted run has none)
        lines.append(
            f"            {c['admitted']} URLs admitted, {c.get('disallowed', 0)} disallowed "
            f"by robots.txt, {c.get('retries', 0)} retries, {c.get('redirects', 0)} redirects"
        )
    g = s.get("ground_truth")
    if g is not None:
        verdict = "exact" if g["exact"] else "NOT exact"
        lines.append(
            f"truth       {g['found']} of {g['expected']} expected pages found ({verdict}): "
            f"{g['missing']} missing, {g['unexpected']} unexpected, "
            f"{g['duplicates']} fetched twice"
            + (f" (limited by {g['limited_by']})" if g.get("limited_by") else "")
        )
    stop = s.get("interrupted")
    if stop and stop.get("resume"):
        lines.append(f"resume      {stop['resume']}")
    return "\n".join(lines)
