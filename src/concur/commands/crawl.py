"""``concur crawl``: fetch URLs with one engine, or crawl by following links, and summarise.

The flags and the mode they choose are :mod:`concur.commands.crawl_args`; this module
runs the two fetch-only modes (the book's experiment, a URL list) and hands crawl mode
to :mod:`concur.commands.follow`.  Summaries are :mod:`concur.report`'s, the progress
display :mod:`concur.progress`'s.  Ctrl-C and SIGTERM end every mode with what was done
(:mod:`concur.commands.interrupt`): ``-o`` written, a summary marked interrupted, exit
130 or 143, and no traceback.  ``--trace FILE`` draws a run of any local mode, the
embedded server's own timeline beside it (:mod:`concur.commands.tracing`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from concur.args import UsageError
from concur.commands import crawl_args, follow, interrupt, tracing
from concur.commands.crawl_args import CrawlArgs
from concur.commands.output import check_writable, report, write_jsonl

if TYPE_CHECKING:
    from concur.budget import Budget
    from concur.engines import Engine
    from concur.records import CrawlResult, FetchRecord
    from mockserver.testing import RunningServer

DESCRIPTION = """\
Fetch URLs with one engine and summarise the run.

With no URL, concur starts its own mock server and runs the book's experiment:
N requests (-n, default 1,000) that each wait DELAY on the server (--delay, default
100 ms), at most C at a time (-c, default 100).  Little's law says that takes
ceil(N/C) x DELAY, 1.0 s, and the summary shows how close the engine came (its
efficiency, as a percentage).

With --follow the URLs are the seeds of a crawl that follows links (robots.txt,
per-host politeness, retries, scope); --site crawls the mock server's synthetic
website and checks what was found against the site's own ground truth.

Durations take a unit (100ms, 1.5s, 2m); bare numbers are milliseconds for --delay
and seconds for --timeout and --crawl-delay.  A flag that does not apply to the mode
is an error.

examples:
  concur crawl --impl asyncio                   # the book's experiment
  concur crawl --impl threads -n 2000 -c 200    # a bigger one, with threads
  concur crawl --impl tornado --client simple --delay 50
  concur crawl --impl uvloop https://example.org/ -o pages.jsonl
  concur crawl --impl gevent -i urls.txt --json
  concur crawl --impl asyncio --site --pages 1000 --delay 5 --json
  concur crawl --impl threads --follow https://example.org/ --depth 2 --crawl-delay 1s
  concur crawl --impl asyncio --site --db crawl.db    # kill it, then: ... --resume
  concur crawl --impl threads -n 200 --trace run.json # open it in ui.perfetto.dev
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    crawl_args.add_arguments(parser)


def run(ns: argparse.Namespace) -> int:
    """Check the flags (a usage error exits 2 on one line), then run the mode they chose."""
    from concur.commands import resume
    from concur.engines import get_engine
    from concur.store.sqlite import SqliteStore

    parser: argparse.ArgumentParser = ns._parser
    try:
        args = crawl_args.from_namespace(ns)
        if ns.resume and not args.shared:  # the crawl in the file decides what it is
            args = resume.resumed(args, crawl_args.given(ns), SqliteStore.saved_crawl(ns.db))
    except UsageError as exc:
        parser.error(str(exc))
    for warning in args.warnings:
        print(f"concur crawl: warning: {warning}", file=sys.stderr)
    engine = get_engine(args.impl, **args.options)  # ConcurError: concur.cli reports it
    if args.config.warc:
        from concur.warc import require_warcio

        require_warcio()  # the pip line before anything starts
        check_writable(args.config.warc)
    if args.tls:
        from concur.errors import EngineUnavailable
        from mockserver.tls import TLSUnavailable, require_trustme

        try:
            require_trustme()  # the pip line before the server starts
        except TLSUnavailable as exc:
            raise EngineUnavailable(str(exc)) from None
    if args.output:
        check_writable(args.output)  # before the run, not after it
    if args.trace:
        check_writable(args.trace)
    with interrupt.signals():
        try:
            if args.shared:
                from concur.commands import shared

                return shared.run(args, crawl_args.given(ns))
            if args.mode in ("follow", "site"):
                return follow.run(args, engine)
            if args.mode == "list":
                return _finish(args, engine, list(args.urls))
            return _experiment(args, engine)
        except KeyboardInterrupt as stop:  # before any record: nothing to keep
            print(f"concur: interrupted ({interrupt.signal_name(stop)})", file=sys.stderr)
            return interrupt.exit_status(stop)


def _experiment(args: CrawlArgs, engine: Engine) -> int:
    """The book's experiment: ``-n`` URLs of the embedded server, and their ideal time."""
    from concur.engines import ENGINES
    from concur.experiment import book_urls, drawn_ideal_s
    from concur.report import ideal_seconds
    from mockserver.testing import serve

    spec = args.latency
    with serve(mode="subprocess", seed=args.seed, tls=args.tls) as server:
        if server.ca_file:  # --tls: trust the CA the server made
            args = replace(args, config=replace(args.config, ca_file=server.ca_file))
        urls = book_urls(server.url, args.n, args.impl, delay_ms=args.delay_ms, latency=spec)
        # serial ignores the concurrency: its ideal is one request after another
        in_flight = args.config.concurrency if ENGINES[args.impl].concurrent else 1
        if spec is not None:  # the very delays the seeded server will draw, slot by slot
            ideal = drawn_ideal_s(urls, in_flight, args.seed)
        else:
            ideal = ideal_seconds(len(urls), in_flight, args.delay_ms / 1e3)
        if not args.json:
            what = f"latency {spec}" if spec else f"{args.delay_ms:g} ms each"
            print(
                f"concur: {len(urls)} requests to {server.url}/add ({what}), "
                f"{in_flight} at a time, engine {args.impl}",
                file=sys.stderr,
            )
        budget_of = None if spec is not None else _budget_of(server, args, in_flight)
        return _finish(args, engine, urls, server, ideal, budget_of)


def _budget_of(
    server: RunningServer, args: CrawlArgs, in_flight: int
) -> Callable[[CrawlResult], Budget | None]:
    """Where the time went (:mod:`concur.budget`), once every request of the run is in."""
    from concur.budget import run_budget

    def of(result: CrawlResult) -> Budget | None:
        seen = server.timeline(args.impl)
        return run_budget(result, seen, in_flight, args.delay_ms / 1e3)

    return of


def _finish(
    args: CrawlArgs,
    engine: Engine,
    urls: list[str],
    server: RunningServer | None = None,
    ideal_s: float | None = None,
    budget_of: Callable[[CrawlResult], Budget | None] | None = None,
) -> int:
    """Run the URL list, then write records and print the summary."""
    from concur.progress import progress_bar
    from concur.report import render, summarize

    show = args.progress and not args.json and sys.stderr.isatty()
    with progress_bar(
        len(urls), args.impl, enabled=show, concurrency=args.config.concurrency
    ) as on_record:
        clock = tracing.trace_clock(args, on_record)
        kept = interrupt.Kept(clock or on_record)
        try:
            result = engine.fetch(urls, args.config, kept)
        except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: what was done, and no more
            with interrupt.finishing():
                summary = summarize(kept.result(args.impl, args.config))  # no ideal: partial
                summary["engine_options"] = dict(engine.options)
                summary["interrupted"] = {"signal": interrupt.signal_name(stop), "resume": None}
                tracing.write_trace(args, kept.records, clock, server)
                report(args, summary, render, _writer(kept.records))
                _name_failures(args, summary, kept.records)
            return interrupt.exit_status(stop)
    traced = tracing.write_trace(args, result.records, clock, server)  # 2: not written
    server_peak = None if server is None else server.stats()["peak_in_flight"]
    summary = summarize(result, ideal_s=ideal_s, server_peak_in_flight=server_peak)
    summary["engine_options"] = dict(engine.options)
    if budget_of is not None:
        spent = budget_of(result)
        summary["budget_ms"] = None if spent is None else spent.to_dict(scale=1e3)
    status = report(args, summary, render, _writer(result.records))
    _name_failures(args, summary, result.records)
    return max(status, traced)


def _writer(records: Sequence[FetchRecord]) -> Callable[[str], int]:
    """``-o``: the records in input order."""
    return lambda path: write_jsonl(path, sorted(records, key=lambda r: r.index))


def _name_failures(
    args: CrawlArgs, summary: dict[str, Any], records: Sequence[FetchRecord]
) -> None:
    """After the text summary, the failed URLs when there are only a few."""
    if args.json or summary["failed"] > 10:
        return
    for r in records:
        if r.error is not None:
            print(f"  failed: {r.url}  {r.error}: {r.detail}", file=sys.stderr)
