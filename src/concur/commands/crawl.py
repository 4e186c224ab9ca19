"""Fetch URLs with one engine and summarise the run.

With no URL, concur starts its own mock server and runs the book's experiment:
N requests (default 1,000) that each wait DELAY ms (default 100) on the server, at most
C (default 100) at a time.  Little's law says that takes ceil(N/C) x DELAY — 1.0 s —
and the summary shows how close the engine came (its efficiency).

  concur crawl --impl asyncio                 # the book's experiment
  concur crawl --impl threads -n 2000 -c 200  # a bigger one, with threads
  concur crawl --impl uvloop https://example.org/ -o pages.jsonl
  concur crawl --impl gevent -i urls.txt --json

With ``--follow`` the URLs are seeds of a crawl that follows links, and ``--site``
crawls the mock server's synthetic website (see :mod:`concur.commands.follow`):

  concur crawl --impl asyncio --site --pages 1000 --json
  concur crawl --impl threads --follow https://example.org/ --depth 2 --db crawl.db
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO, Any

from concur.commands import follow
from concur.engines import ENGINES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "urls", nargs="*", metavar="URL", help="URLs to fetch (none: the experiment)"
    )
    parser.add_argument(
        "--impl", "--engine", default="asyncio", choices=list(ENGINES), help="engine"
    )
    parser.add_argument(
        "-i", "--input", metavar="FILE", help="read URLs from FILE, one a line (- for stdin)"
    )
    parser.add_argument(
        "-c", "--concurrency", type=_positive_int, default=100, help="requests in flight"
    )
    parser.add_argument("--timeout", type=_positive_float, default=30.0, help="seconds per request")
    parser.add_argument(
        "--retries", type=_non_negative_int, default=0, help="retries of transient failures"
    )
    parser.add_argument(
        "--max-body", type=_non_negative_int, default=16 * 1024 * 1024, metavar="BYTES"
    )
    parser.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'")
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write one JSON record per input URL"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON (last line)")
    parser.add_argument("--fail-on-error", action="store_true", help="exit 1 if any URL failed")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar even on a terminal"
    )
    exp = parser.add_argument_group("the embedded experiment (when no URL is given)")
    exp.add_argument("-n", type=_non_negative_int, default=1000, help="number of requests (1000)")
    exp.add_argument(
        "--delay",
        type=_non_negative_float,
        default=None,
        metavar="MS|S",
        help="the experiment's server delay in ms (100); with --follow or --site, seconds "
        "between requests to one host (0; robots.txt's Crawl-delay if longer)",
    )
    exp.add_argument(
        "--latency", metavar="SPEC", help="a latency distribution instead, e.g. lognormal:50,1000"
    )
    exp.add_argument("--seed", type=int, default=0, help="seed of the server's draws")
    follow.add_arguments(parser)


def _number(kind: type, low: float, strict: bool) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None
        if value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"{text} must be {'>' if strict else '>='} {low}")
        return value

    return parse


_positive_int = _number(int, 0, True)
_non_negative_int = _number(int, 0, False)
_positive_float = _number(float, 0.0, True)
_non_negative_float = _number(float, 0.0, False)


def _read_urls(args: argparse.Namespace) -> list[str]:
    urls = list(args.urls)
    if args.input:
        stream: IO[str] = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")  # noqa: SIM115
        with stream:
            urls += [line.strip() for line in stream if line.strip() and not line.startswith("#")]
    return urls


def _headers(args: argparse.Namespace) -> tuple[tuple[str, str], ...]:
    out = []
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            args._parser.error(f"--header {h!r} should be 'NAME: VALUE'")
        out.append((name.strip(), value.strip()))
    return tuple(out)


def run(args: argparse.Namespace) -> int:
    from concur.engines import EngineUnavailable, get_engine
    from concur.records import CrawlConfig

    parser: argparse.ArgumentParser = args._parser
    try:
        engine = get_engine(args.impl)
    except EngineUnavailable as exc:
        parser.exit(2, f"concur crawl: error: {exc}\n")
    if args.input and args.input != "-":
        try:
            open(args.input, encoding="utf-8").close()
        except OSError as exc:
            parser.exit(2, f"concur crawl: error: cannot read {args.input}: {exc.strerror}\n")
    config = CrawlConfig(
        concurrency=args.concurrency,
        timeout=args.timeout,
        retries=args.retries,
        max_body=args.max_body,
        headers=_headers(args),
    )
    if follow.wanted(args):
        return follow.run(args, config)
    urls = _read_urls(args)
    if urls or args.input:
        return _finish(args, engine, urls, config, server=None, ideal_s=None)
    return _experiment(args, engine, config)


def _experiment(args: argparse.Namespace, engine: Any, config: Any) -> int:
    from concur.experiment import book_urls, drawn_ideal_s
    from concur.report import ideal_seconds
    from mockserver import SpecError
    from mockserver import latency as latency_mod
    from mockserver.testing import serve

    if args.delay is None:
        args.delay = 100.0
    spec = args.latency
    if spec is not None:
        try:
            latency_mod.parse(spec)
        except SpecError as exc:
            args._parser.exit(2, f"concur crawl: error: --latency: {exc}\n")
    with serve(mode="subprocess", seed=args.seed) as server:
        urls = book_urls(server.url, args.n, args.impl, delay_ms=args.delay, latency=spec)
        # serial ignores the concurrency: its ideal is one request after another
        in_flight = config.concurrency if ENGINES[args.impl].concurrent else 1
        if spec is not None:  # the very delays the seeded server will draw, slot by slot
            ideal = drawn_ideal_s(urls, in_flight, args.seed)
        else:
            ideal = ideal_seconds(len(urls), in_flight, args.delay / 1e3)
        if not args.json:
            what = f"latency {spec}" if spec else f"{args.delay:g} ms each"
            print(
                f"concur: {len(urls)} requests to {server.url}/add ({what}), "
                f"{in_flight} at a time, engine {args.impl}",
                file=sys.stderr,
            )
        budget_of = None if spec is not None else _budget_of(server, args, in_flight)
        return _finish(args, engine, urls, config, server, ideal, budget_of)


def _budget_of(server: Any, args: argparse.Namespace, in_flight: int) -> Any:
    """Where the time went (:mod:`concur.budget`), once every request of the run is in."""
    from concur.budget import budget

    def of(result: Any) -> Any:
        seen = server.timeline(args.impl)
        n = len(result.records)
        if result.ok != n or seen["dropped"] or seen["count"] != n:
            return None  # failures or a capped timeline: the waves are not clean
        reqs = seen["requests"]
        arrivals = [r["start"] for r in reqs]
        last_end = max(r["end"] for r in reqs)
        return budget(arrivals, last_end, result.wall_s, in_flight, args.delay / 1e3)

    return of


def _finish(
    args: argparse.Namespace,
    engine: Any,
    urls: list[str],
    config: Any,
    server: Any,
    ideal_s: float | None,
    budget_of: Any = None,
) -> int:
    from concur.progress import progress_bar
    from concur.report import render, summarize

    show = not args.no_progress and not args.json and sys.stderr.isatty()
    with progress_bar(len(urls), args.impl, enabled=show) as on_record:
        result = engine(urls, config, on_record)
    server_peak = None
    if server is not None:
        server_peak = server.stats()["peak_in_flight"]
    summary = summarize(result, ideal_s=ideal_s, server_peak_in_flight=server_peak)
    if budget_of is not None:
        spent = budget_of(result)
        summary["budget_ms"] = None if spent is None else spent.to_dict(scale=1e3)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            for record in result.records:
                out.write(json.dumps(record.to_dict()) + "\n")
    if args.json:
        print(json.dumps(summary))
    else:
        print(render(summary))
        for record in result.records:
            if record.error is not None and summary["failed"] <= 10:
                print(f"  failed: {record.url}  {record.error}: {record.detail}", file=sys.stderr)
    if args.fail_on_error and summary["failed"]:
        return 1
    return 0
