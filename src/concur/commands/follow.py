"""``concur crawl --follow URL ...`` and ``concur crawl --site``: crawl by following links.

The list mode of ``concur crawl`` fetches the URLs it is given; with ``--follow`` they
are seeds, and the engine crawls through :class:`concur.crawl.Scheduler` (robots.txt,
per-host politeness, retries, redirects as new URLs) — see
:mod:`concur.engines.crawling`.  ``--site`` starts the embedded mock server's synthetic
website (a subprocess), crawls it from its root and compares what was found with the
site's own ground truth (``GET /__site``):

  concur crawl --impl asyncio --site --pages 1000 --json
  concur crawl --impl threads --follow https://example.org/ --depth 2 --max-pages 200
  concur crawl --impl asyncio --site --db crawl.db        # kill it, then: ... --resume

With ``--db`` the frontier and the results live in an SQLite file, ``--resume``
continues a crawl that stopped (even by ``kill -9``), and ``-o`` exports every result in
the file.  With ``--site --resume`` the server is started on the port the file's URLs
name, so the resumed crawl finds the same site.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from concur.records import CrawlConfig, CrawlResult, FetchRecord

SITE_HOSTS = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The crawl-mode options of ``concur crawl`` (a group of their own)."""
    from concur.commands.crawl import _non_negative_int, _positive_int

    group = parser.add_argument_group("crawl mode: follow links (with --follow or --site)")
    group.add_argument(
        "--follow", action="store_true", help="treat the URLs as seeds and follow links"
    )
    group.add_argument(
        "--site", action="store_true", help="crawl the embedded mock server's synthetic site"
    )
    group.add_argument(
        "--pages", type=_positive_int, default=1000, help="pages of the synthetic site (1000)"
    )
    group.add_argument("--depth", type=_non_negative_int, help="links followed from a seed at most")
    group.add_argument("--max-pages", type=_non_negative_int, help="URLs admitted at most")
    group.add_argument(
        "--domain",
        action="append",
        default=[],
        metavar="NAME",
        help="also crawl this host and its subdomains (repeatable)",
    )
    group.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="REGEX",
        help="only URLs matching one of these (repeatable)",
    )
    group.add_argument(
        "--exclude", action="append", default=[], metavar="REGEX", help="skip matching URLs"
    )
    group.add_argument("--per-host", type=_positive_int, default=2, help="in flight per host (2)")
    group.add_argument(
        "--user-agent", default=None, help="User-Agent (robots.txt rules are matched against it)"
    )
    group.add_argument("--no-robots", action="store_true", help="ignore robots.txt")
    group.add_argument(
        "--sitemaps", action="store_true", help="also crawl what robots.txt's Sitemap: files list"
    )
    group.add_argument("--db", metavar="FILE", help="keep the frontier and results in SQLite")
    group.add_argument("--resume", action="store_true", help="continue the crawl in --db FILE")
    group.add_argument(
        "--commit-every",
        type=_positive_int,
        default=1,
        metavar="N",
        help="results per --db transaction (1: after kill -9 only the pages in flight are "
        "fetched again; more is faster and re-fetches up to N)",
    )


def wanted(args: argparse.Namespace) -> bool:
    return bool(args.follow or args.site)


def run(args: argparse.Namespace, config: CrawlConfig) -> int:
    from dataclasses import replace

    from concur.crawl import CrawlOptions
    from concur.engines import EngineUnavailable
    from concur.engines.crawling import CrawlPlan, get_follower
    from concur.store.sqlite import StoreExistsError

    parser: argparse.ArgumentParser = args._parser
    for pattern in args.include + args.exclude:
        try:
            re.compile(pattern)
        except re.error as exc:
            parser.exit(2, f"concur crawl: error: bad pattern {pattern!r}: {exc}\n")
    if args.resume and not args.db:
        parser.error("--resume needs --db FILE")
    try:
        follower = get_follower(args.impl)
    except EngineUnavailable as exc:
        parser.exit(2, f"concur crawl: error: {exc}\n")
    if args.user_agent:
        config = replace(config, user_agent=args.user_agent)
    # --delay is the server's delay (ms) in the experiment; here, seconds between requests
    delay = 0.0 if args.delay is None else args.delay
    options = CrawlOptions(
        per_host=args.per_host,
        delay=delay,
        max_pages=args.max_pages,
        obey_robots=not args.no_robots,
        sitemaps=args.sitemaps,
    )
    seeds = list(args.urls)
    if args.input:
        from concur.commands.crawl import _read_urls

        seeds = _read_urls(args)
    with _site(args) as server:
        domains: tuple[str, ...] = ()
        if server is not None:
            seeds = [server.url + "/"]
            domains = tuple(f"127.0.0.{i}" for i in range(1, SITE_HOSTS + 1))
        if not seeds:
            parser.error("--follow needs at least one seed URL")
        plan = CrawlPlan(
            tuple(seeds),
            options,
            args.depth,
            domains + tuple(args.domain),
            db=args.db,
            resume=args.resume,
            commit_every=args.commit_every,
            include=tuple(args.include),
            exclude=tuple(args.exclude),
        )
        show = not args.no_progress and not args.json and sys.stderr.isatty()
        try:
            with live_progress(args.impl, enabled=show) as on_record:
                result = follower(plan, config, on_record)
        except StoreExistsError as exc:
            parser.exit(2, f"concur crawl: error: {exc}\n")
        summary = follow_summary(result, options)
        if server is not None:
            summary["server"] = server_checks(server.get_json("/__site?stats=1"))
            peak = server.stats().get("peak_in_flight")
            summary["peak_in_flight"] = summary["server_peak_in_flight"] = peak
            # the site's truth up to the same depth; a page limit makes it an upper bound
            site = "/__site" if args.depth is None else f"/__site?depth={args.depth}"
            summary["ground_truth"] = ground_truth(
                server.get_json(site), server.get_json("/__site?stats=1"), result, args.db
            )
            limits = [f"--max-pages {args.max_pages}"] if args.max_pages is not None else []
            limits += [f"--include {p}" for p in args.include]
            limits += [f"--exclude {p}" for p in args.exclude]
            if limits:  # the site's truth knows nothing of these: an upper bound only
                summary["ground_truth"]["limited_by"] = ", ".join(limits)
    _write(args, result)
    if args.json:
        print(json.dumps(summary))
    else:
        print(render_follow(summary))
    if args.fail_on_error and summary["failed"]:
        return 1
    return 0


@contextmanager
def _site(args: argparse.Namespace) -> Iterator[Any]:
    """The synthetic site's server (a subprocess), or None without ``--site``."""
    if not args.site:
        yield None
        return
    from mockserver.testing import serve

    kw: dict[str, Any] = {"site_pages": args.pages, "site_hosts": SITE_HOSTS, "seed": args.seed}
    if args.latency:
        kw["latency"] = args.latency
    if args.resume and args.db:
        port = _port_of(args.db)
        if port:
            kw["port"] = port  # the same site at the same URLs as the run being resumed
    with serve(mode="subprocess", **kw) as server:
        if not args.json:
            print(f"concur: crawling the synthetic site at {server.url}/", file=sys.stderr)
        yield server


def _port_of(db: str) -> int | None:
    """The port of the first URL in a crawl file (None if it holds none)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT url FROM urls ORDER BY id LIMIT 1").fetchone()
    except sqlite3.Error:
        return None
    return urlsplit(row[0]).port if row else None


def _write(args: argparse.Namespace, result: CrawlResult) -> None:
    if not args.output:
        return
    if args.db:  # every result in the file, earlier runs included
        from concur.store.sqlite import SqliteStore

        store = SqliteStore(args.db, resume=True)
        try:
            store.export_jsonl(args.output)
        finally:
            store.close()
        return
    with open(args.output, "w", encoding="utf-8") as out:
        for record in result.records:
            out.write(json.dumps(record.to_dict()) + "\n")


# --- summaries ---------------------------------------------------------------------------


def _is_page(record: FetchRecord) -> bool:
    return record.status is not None and 200 <= record.status < 300 and record.error is None


def follow_summary(result: CrawlResult, options: Any) -> dict[str, Any]:
    """The list-mode summary plus what the crawl found and the scheduler's counters."""
    from concur.report import summarize

    summary = summarize(result)
    wall = result.wall_s
    pages = sum(1 for r in result.records if _is_page(r))
    extra = result.extra
    summary["crawl"] = {
        "pages": pages,  # 2xx answers
        "pages_per_s": round(pages / wall, 1) if wall > 0 else 0.0,
        "cpu_us_per_page": round(result.cpu_s / pages * 1e6, 1) if pages else 0.0,
        "per_host": options.per_host,
        **{
            k: extra[k]
            for k in (
                "admitted",
                "disallowed",
                "retries",
                "redirects",
                "robots_fetches",
                "sitemap_fetches",
            )
            if k in extra
        },
    }
    return summary


def server_checks(stats: dict[str, Any]) -> dict[str, Any]:
    """What the synthetic site's server saw: per-host peak in flight and smallest gaps."""
    s = stats["stats"]
    return {
        "requests": s["requests"],
        "hosts": s["hosts"],
        "disallowed_fetched": s["disallowed_fetched_count"],
        "fetched_twice": s["fetched_twice_count"],
    }


def ground_truth(
    truth: dict[str, Any], stats: dict[str, Any], result: CrawlResult, db: str | None
) -> dict[str, Any]:
    """The crawl against the site's ground truth (every run in ``db``, when there is one)."""
    records: Any = result.records
    store = None
    if db:
        from concur.store.sqlite import SqliteStore

        store = SqliteStore(db, resume=True)
        records = store.records()
    try:
        found = {r.url for r in records if _is_page(r)}
    finally:
        if store is not None:
            store.close()
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
        "missing_sample": missing[:20],
        "unexpected_sample": unexpected[:20],
        "duplicates_sample": sorted(twice)[:20],
        "exact": not missing and not unexpected,
    }


def render_follow(s: dict[str, Any]) -> str:
    from concur.report import render

    c = s["crawl"]
    lines = [
        render(s),
        f"crawl       {c['pages']} pages (2xx)   {c['pages_per_s']:,.0f} pages/s   "
        f"{c['cpu_us_per_page']:,.0f} µs CPU/page",
        f"            {c.get('admitted', 0)} URLs admitted, {c.get('disallowed', 0)} disallowed "
        f"by robots.txt, {c.get('retries', 0)} retries, {c.get('redirects', 0)} redirects",
    ]
    g = s.get("ground_truth")
    if g is not None:
        verdict = "exact" if g["exact"] else "NOT exact"
        lines.append(
            f"truth       {g['found']} of {g['expected']} expected pages found ({verdict}): "
            f"{g['missing']} missing, {g['unexpected']} unexpected, "
            f"{g['duplicates']} fetched twice"
            + (f" (limited by {g['limited_by']})" if g.get("limited_by") else "")
        )
    return "\n".join(lines)


# --- progress ------------------------------------------------------------------------------


@contextmanager
def live_progress(label: str, enabled: bool) -> Iterator[Any]:
    """An ``on_record`` callback driving a live line: pages, pages/s, queue, hosts, errors.

    The queue size comes from the scheduler when it runs in this process (the engine's
    :func:`concur.engines.crawling.crawl_run` hands it to ``attach``); gevent's runs in
    its child, so it shows none.
    """
    if not enabled:
        yield None
        return
    from rich.live import Live
    from rich.text import Text

    t0 = time.perf_counter()
    state = {"done": 0, "pages": 0, "errors": 0}
    scheduler: list[Any] = []
    last = [0.0]

    def line() -> Text:
        wall = max(time.perf_counter() - t0, 1e-9)
        queued = ""
        if scheduler:
            sched = scheduler[0]
            queued = (
                f"{sched.queued:,} queued  {sched.in_flight:,} in flight  "
                f"{sched.active_hosts():,}/{sched.hosts:,} hosts active  "
            )
        return Text(
            f"{label}: {state['done']:,} URLs  {state['pages']:,} pages  "
            f"{state['pages'] / wall:,.0f} pages/s  {queued}{state['errors']:,} errors"
        )

    with Live(line(), transient=True, refresh_per_second=8) as live:

        class Progress:
            def __call__(self, record: FetchRecord) -> None:
                state["done"] += 1
                if _is_page(record):
                    state["pages"] += 1
                elif record.error is not None:
                    state["errors"] += 1
                now = time.perf_counter()
                if now - last[0] > 0.1:
                    last[0] = now
                    live.update(line())

            def attach(self, sched: Any) -> None:
                scheduler[:] = [sched]

        yield Progress()
