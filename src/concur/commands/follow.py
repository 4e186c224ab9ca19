"""``concur crawl --follow URL ...`` and ``concur crawl --site``: crawl by following links.

With ``--follow`` the URLs are seeds, and the engine crawls through the one scheduler
every engine shares (robots.txt, per-host politeness, retries, redirects as new URLs;
see :mod:`concur.jobs`).  ``--site`` starts the embedded mock server's synthetic
website (a subprocess; ``--delay``/``--latency`` set its delay), crawls it from its root
and compares what was found with the site's own ground truth (``GET /__site``).

With ``--db`` the frontier and the results live in an SQLite file, ``--resume``
continues a crawl that stopped (even by ``kill -9``), and ``-o`` exports every result in
the file.  With ``--site --resume`` the server is started on the port the file's URLs
name, so the resumed crawl finds the same site.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from concur.commands.crawl_args import CrawlArgs, with_seeds
from concur.commands.output import write_jsonl

if TYPE_CHECKING:
    from concur.engines import Engine
    from concur.records import CrawlResult
    from mockserver.testing import RunningServer

SITE_HOSTS = 3


def run(args: CrawlArgs, engine: Engine) -> int:
    """Crawl ``args.plan`` (``--site``: the synthetic site) and print its summary."""
    from concur.progress import crawl_progress
    from concur.report import crawl_summary, delayed_hosts, render_crawl, server_checks

    assert args.plan is not None
    with _site(args) as server:
        if server is not None:
            hosts = tuple(f"127.0.0.{i}" for i in range(1, SITE_HOSTS + 1))
            args = with_seeds(args, (server.url + "/",), hosts)
        plan = args.plan
        assert plan is not None
        show = args.progress and not args.json and sys.stderr.isatty()
        with crawl_progress(args.impl, enabled=show) as on_record:
            result = engine.crawl(plan, args.config, on_record)
        if server is None:
            summary = crawl_summary(result, plan.options)
        else:
            # the site's truth up to the same depth; a page limit makes it an upper bound
            depth = "" if plan.max_depth is None else f"?depth={plan.max_depth}"
            truth = server.get_json(f"/__site{depth}")
            stats = server.get_json("/__site?stats=1")
            summary = crawl_summary(
                result,
                plan.options,
                server_peak_in_flight=server.stats().get("peak_in_flight"),
                delayed_hosts=delayed_hosts(truth),
            )
            summary["server"] = server_checks(stats)
            summary["ground_truth"] = _truth(args, truth, stats, result)
    summary["engine_options"] = dict(engine.options)
    if args.output:
        _export(args, result)
    print(json.dumps(summary) if args.json else render_crawl(summary))
    return 1 if args.fail_on_error and summary["failed_requests"] else 0


def _truth(
    args: CrawlArgs, truth: dict[str, Any], stats: dict[str, Any], result: CrawlResult
) -> dict[str, Any]:
    """The crawl against the site's truth up to the same depth (every run in ``--db``)."""
    from concur.report import ground_truth

    plan = args.plan
    assert plan is not None
    with _records(plan.db, result) as records:
        checked = ground_truth(truth, stats, records)
    limits = [f"--max-pages {plan.options.max_pages}"] if plan.options.max_pages is not None else []
    limits += [f"--include {p}" for p in plan.include]
    limits += [f"--exclude {p}" for p in plan.exclude]
    if limits:  # the site's truth knows nothing of these: an upper bound only
        checked["limited_by"] = ", ".join(limits)
    return checked


@contextmanager
def _records(db: str | None, result: CrawlResult) -> Iterator[Any]:
    """The crawl's records: this run's, or with ``db`` every run's in the file."""
    if not db:
        yield result.records
        return
    from concur.store.sqlite import SqliteStore

    store = SqliteStore(db, resume=True)
    try:
        yield store.records()
    finally:
        store.close()


def _export(args: CrawlArgs, result: CrawlResult) -> None:
    """``-o FILE``: this run's records, or with ``--db`` every result in the file."""
    assert args.output is not None and args.plan is not None
    if not args.plan.db:
        write_jsonl(args.output, result.records)
        return
    from concur.store.sqlite import SqliteStore

    store = SqliteStore(args.plan.db, resume=True)
    try:
        store.export_jsonl(args.output)
    finally:
        store.close()


@contextmanager
def _site(args: CrawlArgs) -> Iterator[RunningServer | None]:
    """The synthetic site's server (a subprocess), or None without ``--site``."""
    if args.mode != "site":
        yield None
        return
    from mockserver.testing import serve

    plan = args.plan
    assert plan is not None
    kw: dict[str, Any] = {"site_pages": args.pages, "site_hosts": SITE_HOSTS, "seed": args.seed}
    # the server's delay for every answer: a distribution, or --delay's fixed milliseconds
    kw["latency"] = args.latency if args.latency is not None else f"{args.delay_ms:g}"
    if plan.resume and plan.db:
        port = _port_of(plan.db)
        if port:
            kw["port"] = port  # the same site at the same URLs as the run being resumed
    with serve(mode="subprocess", **kw) as server:
        if not args.json:
            print(f"concur: crawling the synthetic site at {server.url}/", file=sys.stderr)
        yield server


def _port_of(db: str) -> int | None:
    """The port of the first URL in a crawl file (None if it holds none)."""
    from concur.store.sqlite import SqliteStore

    url = SqliteStore.first_url(db)
    return urlsplit(url).port if url else None
