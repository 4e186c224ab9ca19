"""A crawl of the synthetic site against the site's own ground truth.

The mock server knows its site (``GET /__site``: every page a correct crawler finds,
up to a depth) and what it was asked (``GET /__site?stats=1``: requests per host,
disallowed URLs fetched, URLs fetched twice).  These functions put the crawl's records
beside both; they read JSON the server gave and records, never an engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from concur.records import FetchRecord
from concur.report.crawl import is_page

__all__ = ["delayed_hosts", "ground_truth", "server_checks"]

SAMPLE = 20  # URLs listed per kind of mismatch


def server_checks(stats: dict[str, Any]) -> dict[str, Any]:
    """What the synthetic site's server saw: requests, hosts, rules it saw broken."""
    s = stats["stats"]
    return {
        "requests": s["requests"],
        "hosts": s["hosts"],
        "disallowed_fetched": s["disallowed_fetched_count"],
        "fetched_twice": s["fetched_twice_count"],
    }


def ground_truth(
    truth: dict[str, Any], stats: dict[str, Any], records: Iterable[FetchRecord]
) -> dict[str, Any]:
    """The pages of ``records`` against the site's expected pages: found, missing, extra.

    ``records`` should be every record of the crawl (with ``--db``, those of earlier runs
    too: :meth:`concur.store.sqlite.SqliteStore.records`).
    """
    found = {r.url for r in records if is_page(r)}
    expected = set(truth["expected"])
    missing = sorted(expected - found)
    unexpected = sorted(found - expected)
    twice = stats["stats"]["fetched_twice"]
    return {
        "expected": len(expected),
        "found": len(found),
        "missing": len(missing),
        "unexpected": len(unexpected),
        "duplicates": stats["stats"]["fetched_twice_count"],
        "missing_sample": missing[:SAMPLE],
        "unexpected_sample": unexpected[:SAMPLE],
        "duplicates_sample": sorted(twice)[:SAMPLE],
        "exact": not missing and not unexpected,
    }


def delayed_hosts(truth: dict[str, Any]) -> int:
    """How many of the site's hosts ask for a ``Crawl-delay`` in their robots.txt."""
    return sum(1 for delay in truth.get("crawl_delay", {}).values() if delay)
