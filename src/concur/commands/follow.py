"""``concur crawl --follow URL ...`` and ``concur crawl --site``: crawl by following links.

With ``--follow`` the URLs are seeds, and the engine crawls through the one scheduler
every engine shares (robots.txt, per-host politeness, retries, redirects as new URLs;
see :mod:`concur.jobs`).  ``--site`` starts the embedded mock server's synthetic
website (a subprocess; ``--delay``/``--latency`` set its delay), crawls it from its root
and compares what was found with the site's own ground truth (``GET /__site``).

With ``--db`` the frontier and the results live in an SQLite file, ``--resume``
continues a crawl that stopped (even by ``kill -9``), and ``-o`` exports every result in
the file.  The file is checked before anything starts (a crawl in it already, a damaged
or foreign file: one line, exit 2), and keeps what the crawl was started with, site
settings included, so that ``--resume`` continues that crawl
(:mod:`concur.commands.resume`); with ``--site --resume`` the server is started on the
port of the file's seed, so the resumed crawl finds the same site at the same URLs.

Ctrl-C or SIGTERM ends the crawl with what was done (:mod:`concur.commands.interrupt`):
``-o`` written, a summary marked interrupted, the ``--resume`` command when there is a
file to continue.

``--trace FILE`` draws the run (:mod:`concur.report.trace`): the requests on lanes, again
by host with their politeness waits, and with ``--site`` the server's own timeline.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from concur.commands import interrupt
from concur.commands.crawl_args import CrawlArgs, with_seeds
from concur.commands.output import report, write_jsonl
from concur.commands.tracing import trace_clock, write_trace

if TYPE_CHECKING:
    from concur.crawl.plan import CrawlPlan
    from concur.engines import Engine
    from concur.records import CrawlResult, FetchRecord
    from concur.report.trace import RunClock
    from concur.store.sqlite import SqliteStore
    from mockserver.testing import RunningServer

SITE_HOSTS = 3


def run(args: CrawlArgs, engine: Engine) -> int:
    """Crawl ``args.plan`` (``--site``: the synthetic site) and print its summary."""
    from concur.progress import crawl_progress
    from concur.report import crawl_summary, render_crawl

    assert args.plan is not None
    store = _open(args.plan)  # a file that cannot be used is refused before anything starts
    kept: interrupt.Kept | None = None
    clock: RunClock | None = None
    result: CrawlResult | None = None
    stop: KeyboardInterrupt | None = None
    traced = 0  # 2: --trace could not be written (said already); the rest goes on
    try:
        with _site(args) as server:
            if server is not None:
                hosts = tuple(f"127.0.0.{i}" for i in range(1, SITE_HOSTS + 1))
                args = with_seeds(args, (server.url + "/",), hosts, server.ca_file)
            if store is not None:
                _save(store, args)
            show = args.progress and not args.json and sys.stderr.isatty()
            with crawl_progress(args.impl, enabled=show) as on_record:
                clock = trace_clock(args, on_record)
                kept = interrupt.Kept(clock or on_record)
                result = engine.crawl(_plan(args), args.config, kept)
            summary = _summary(args, result, server)
            if clock is not None:  # --trace, while the server can still tell its timeline
                traced = write_trace(
                    args, result.records, clock, server, **_politeness(args, server)
                )
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: keep what was done
        if kept is None:
            raise  # nothing ran yet
        stop = exc
    finally:
        if store is not None:
            store.close()
    if stop is None:
        assert result is not None
        summary["engine_options"] = dict(engine.options)
        records = result.records
        status = report(args, summary, render_crawl, lambda path: _export(args, records))
        return max(status, traced)
    if result is None:
        assert kept is not None
        result = kept.result(args.impl, args.config)
    summary = crawl_summary(result, _plan(args).options)  # the truth is for a whole crawl
    summary["engine_options"] = dict(engine.options)
    summary["interrupted"] = {
        "signal": interrupt.signal_name(stop),
        "resume": interrupt.resume_command(args),
    }
    with interrupt.finishing():  # a second Ctrl-C must not cut the file short
        records = result.records
        if clock is not None:
            write_trace(args, records, clock, None, **_politeness(args, None))
        report(args, summary, render_crawl, lambda path: _export(args, records))
    return interrupt.exit_status(stop)


def _politeness(args: CrawlArgs, server: RunningServer | None) -> dict[str, Any]:
    """What a crawl's trace draws by host: the crawl delay, and with ``--site`` the
    ``Crawl-delay`` each host's robots.txt asks for (the site's truth says; capped as the
    scheduler caps it)."""
    options = _plan(args).options
    delays: dict[str, float] = {}
    if server is not None:
        scheme = "https" if args.tls else "http"
        asked = server.get_json("/__site?depth=0").get("crawl_delay", {})
        delays = {
            f"{scheme}://{host}": min(float(d), options.max_crawl_delay)
            for host, d in asked.items()
            if d
        }
    return {"hosts": True, "crawl_delay": options.delay, "crawl_delays": delays}


def _plan(args: CrawlArgs) -> CrawlPlan:
    assert args.plan is not None
    return args.plan


def _summary(args: CrawlArgs, result: CrawlResult, server: RunningServer | None) -> dict[str, Any]:
    """The crawl's summary; with ``--site``, checked against the site's ground truth."""
    from concur.report import crawl_summary, delayed_hosts, server_checks

    plan = _plan(args)
    if server is None:
        return crawl_summary(result, plan.options)
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
    return summary


def _open(plan: CrawlPlan) -> SqliteStore | None:
    """The crawl file, checked (:class:`~concur.errors.StoreError`): None without ``--db``."""
    if not plan.db:
        return None
    from concur.store.sqlite import SqliteStore

    return SqliteStore(plan.db, resume=plan.resume)


def _save(store: SqliteStore, args: CrawlArgs) -> None:
    """Keep what defines the crawl in its file (once: a resumed crawl keeps the first)."""
    from concur.commands.resume import site_settings

    plan = args.plan
    assert plan is not None
    extra: dict[str, Any] = {}
    if args.mode == "site":
        extra["site"] = site_settings(args, plan.domains[:SITE_HOSTS])
    # a new crawl replaces what a failed start may have left in its (URL-less) file
    store.save_plan(plan, args.config, overwrite=not plan.resume, **extra)
    store.close()  # the engine opens it: one writer at a time


def _truth(
    args: CrawlArgs, truth: dict[str, Any], stats: dict[str, Any], result: CrawlResult
) -> dict[str, Any]:
    """The crawl against the site's truth up to the same depth (every run in ``--db``)."""
    from concur.report import ground_truth

    plan = args.plan
    assert plan is not None
    with _records(plan.db, result.records) as records:
        checked = ground_truth(truth, stats, records)
    limits = [f"--max-pages {plan.options.max_pages}"] if plan.options.max_pages is not None else []
    limits += [f"--include {p}" for p in plan.include]
    limits += [f"--exclude {p}" for p in plan.exclude]
    if limits:  # the site's truth knows nothing of these: an upper bound only
        checked["limited_by"] = ", ".join(limits)
    return checked


@contextmanager
def _records(db: str | None, records: Iterable[FetchRecord]) -> Iterator[Iterable[FetchRecord]]:
    """The crawl's records: this run's, or with ``db`` every run's in the file."""
    if not db:
        yield records
        return
    from concur.store.sqlite import SqliteStore

    store = SqliteStore(db, resume=True, check=False)  # checked when this run opened it
    try:
        yield store.records()
    finally:
        store.close()


def _export(args: CrawlArgs, records: Iterable[FetchRecord]) -> None:
    """``-o FILE``: this run's records, or with ``--db`` every result in the file."""
    assert args.output is not None and args.plan is not None
    with _records(args.plan.db, records) as every:
        write_jsonl(args.output, every)


@contextmanager
def _site(args: CrawlArgs, port: int | None = None) -> Iterator[RunningServer | None]:
    """The synthetic site's server (a subprocess; on ``port`` if given), or None without
    ``--site``."""
    if args.mode != "site":
        yield None
        return
    from mockserver.testing import serve

    plan = args.plan
    assert plan is not None
    kw: dict[str, Any] = {"site_pages": args.pages, "site_hosts": SITE_HOSTS, "seed": args.seed}
    kw["tls"] = args.tls
    # the server's delay for every answer: a distribution, or --delay's fixed milliseconds
    kw["latency"] = args.latency if args.latency is not None else f"{args.delay_ms:g}"
    if port is None and plan.resume and plan.db:
        port = _port_of(plan)
    if port:
        kw["port"] = port  # the same site at the same URLs as the run being resumed
    with serve(mode="subprocess", **kw) as server:
        if not args.json:
            print(f"concur: crawling the synthetic site at {server.url}/", file=sys.stderr)
        yield server


def _port_of(plan: CrawlPlan) -> int | None:
    """The port of the crawl's seed: kept in the file, else its first URL (None: none)."""
    from concur.store.sqlite import SqliteStore

    assert plan.db is not None
    url = plan.seeds[0] if plan.seeds else SqliteStore.first_url(plan.db)
    return urlsplit(url).port if url else None
