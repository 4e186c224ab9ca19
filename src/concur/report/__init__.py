"""Summaries of a run, from its records alone: for the terminal and for ``--json``.

* :mod:`.summary` - any run: counts, wall time against Little's-law ideal (efficiency),
  latency percentiles, CPU, memory, peak in flight.
* :mod:`.crawl` - a crawl: pages found, the scheduler's counters, and what capped the
  requests in flight when it was politeness rather than ``-c``.
* :mod:`.truth` - a crawl of the synthetic site against the site's ground truth.

Reports read records and JSON only, never an engine's internals.
"""

from __future__ import annotations

from concur.report.crawl import concurrency_limit, crawl_summary, is_page, render_crawl
from concur.report.summary import (
    ideal_of_delays,
    ideal_seconds,
    percentile,
    render,
    summarize,
)
from concur.report.truth import delayed_hosts, ground_truth, server_checks

__all__ = [
    "concurrency_limit",
    "crawl_summary",
    "delayed_hosts",
    "ground_truth",
    "ideal_of_delays",
    "ideal_seconds",
    "is_page",
    "percentile",
    "render",
    "render_crawl",
    "server_checks",
    "summarize",
]
