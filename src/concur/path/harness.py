"""What every step of the path shares, written once: the server, the clock, the summary.

A step is only its crawler: ``crawl(urls, concurrency)`` returning, for each URL,
``(status, body bytes, start, end)`` with ``time.perf_counter()`` times.  This module

* starts the embedded mock server (a subprocess, as ``concur crawl`` does, so that it
  never shares a GIL with the crawler it measures) and makes the book's URLs for it;
* runs the step between the marks of a :class:`~concur.meter.Meter` (wall and CPU
  time, peak memory: what every engine reports), and turns its answers into
  :class:`~concur.records.FetchRecord`\\ s - status 400 or more an ``http`` error, a URL
  without an answer an ``other`` one - with the client's own peak in flight worked out
  from their start and end times;
* summarises them with :func:`concur.report.summarize` against Little's-law ideal, with
  the peak in flight the server saw and, for a fixed delay, where the time beyond the
  ideal went (:mod:`concur.budget`): the very summary ``concur crawl`` prints.

A step that changes the process it runs in (gevent's monkey-patching) runs in a fresh
Python: ``python -m concur.path.step6_gevent --child`` reads the URLs as JSON on stdin,
runs the crawl there and writes its :class:`~concur.records.CrawlResult` back as JSON;
its clock starts once the child has patched and imported, like every engine's.

Loading this module imports neither ``socket`` nor ``threading`` (the heavy imports are
inside the functions).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import itertools
import json
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from concur.path import Step, step
from concur.records import CrawlConfig, CrawlResult, ErrorKind, FetchRecord

if TYPE_CHECKING:
    from mockserver.testing import RunningServer

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_DELAY_MS",
    "DEFAULT_N",
    "Crawl",
    "Run",
    "add_options",
    "lesson",
    "main",
    "measure",
    "missing",
    "peak_in_flight",
    "run",
    "serve",
    "sizes",
]

Answer = tuple[int, int, float, float]  # status, body bytes, start, end (perf_counter)
Crawl = Callable[[list[str], int], dict[str, Answer]]

# -n, -c and --delay when not given: the serial step takes N x delay, 5 s; the others
# ceil(N / C) x delay, 0.2 s
DEFAULT_N = 100
DEFAULT_CONCURRENCY = 25
DEFAULT_DELAY_MS = 50.0

_runs = itertools.count(1)  # each run's own timeline on the server


@dataclass(frozen=True, slots=True)
class Run:
    """One step's run: its records and costs, and the summary ``concur crawl`` would print."""

    step: Step
    result: CrawlResult
    summary: dict[str, Any]


def records(urls: Sequence[str], answers: dict[str, Answer], t0: float) -> list[FetchRecord]:
    """One record per URL, its times in seconds since ``t0``."""
    out = []
    for i, url in enumerate(urls):
        answer = answers.get(url)
        if answer is None:
            out.append(FetchRecord(i, url, None, 0, ErrorKind.OTHER, 0, 0.0, 0.0, "no answer"))
            continue
        status, nbytes, start, end = answer
        error = ErrorKind.HTTP if status >= 400 else None
        out.append(FetchRecord(i, url, status, nbytes, error, 1, start - t0, end - t0))
    return out


def peak_in_flight(done: Sequence[FetchRecord]) -> int:
    """The most records whose [start, end) overlap: the client's own peak in flight."""
    # at the same instant an end sorts before a start (-1 < 1): back to back is not overlap
    events = sorted([(r.start, 1) for r in done] + [(r.end, -1) for r in done])
    peak = now = 0
    for _, change in events:
        now += change
        peak = max(peak, now)
    return peak


def measure(the_step: Step, crawl: Crawl, urls: list[str], concurrency: int) -> CrawlResult:
    """Run ``crawl`` in this process, timed as every engine is (:class:`concur.meter.Meter`)."""
    from concur.meter import Meter

    in_flight = concurrency if the_step.concurrent else 1
    meter = Meter()
    # never more workers than URLs: steps 4 and 5 start C of them whatever the list's size
    answers = crawl(urls, max(1, min(in_flight, len(urls))))
    done = records(urls, answers, meter.t0)
    label = f"step{the_step.number}_{the_step.name}"
    return meter.result(label, CrawlConfig(concurrency=in_flight), done, peak_in_flight(done))


def missing(the_step: Step) -> str | None:
    """The pip line for the optional dependency ``the_step`` lacks; None when it has it."""
    if the_step.extra and importlib.util.find_spec(the_step.extra) is None:
        return f"pip install 'concur[{the_step.extra}]'"
    return None


def _failed(the_step: Step, exc: BaseException) -> str:
    """The one line a step's exception becomes: the steps handle no errors themselves."""
    what = f"{type(exc).__name__}: {exc}".rstrip(": ")
    return f"step {the_step.number} failed: {what} (the steps handle no errors; docs/path.md)"


def _in_process(the_step: Step, crawl: Crawl, urls: list[str], concurrency: int) -> CrawlResult:
    """:func:`measure`, with what a step raises as one line instead of a traceback.

    Steps 3-5 stop at their first exception (a :class:`~concur.errors.ConcurError`
    here); a thread of step 2 that raises ends alone, its URLs left without an answer
    (records of kind ``other``), and is named once on stderr.
    """
    import threading

    from concur.errors import ConcurError

    raised: list[BaseException] = []
    hook = threading.excepthook

    def keep(args: Any) -> None:  # a thread's exception: kept, not printed as a traceback
        if args.exc_value is not None:
            raised.append(args.exc_value)

    threading.excepthook = keep
    try:
        result = measure(the_step, crawl, urls, concurrency)
    except Exception as exc:
        raise ConcurError(_failed(the_step, exc)) from exc
    finally:
        threading.excepthook = hook
    if raised:
        first = f"{type(raised[0]).__name__}: {raised[0]}".rstrip(": ")
        print(
            f"concur: step {the_step.number}: {len(raised)} of its threads stopped on an "
            f"exception, their URLs unanswered (the first: {first})",
            file=sys.stderr,
        )
    return result


def _in_child(the_step: Step, urls: list[str], concurrency: int, delay_ms: float) -> CrawlResult:
    """Run the step in a fresh Python (``--child``): its changes die with that process,
    and it dies with this one (:func:`concur.lifetime.tied`)."""
    import math
    import subprocess

    from concur.errors import ConcurError
    from concur.lifetime import tied

    job = json.dumps({"urls": urls, "concurrency": concurrency})
    # generous: ten times the ideal, and ten minutes for starting and a slow machine
    limit = 600 + 10 * math.ceil(len(urls) / max(1, concurrency)) * delay_ms / 1e3
    try:
        done = subprocess.run(
            [sys.executable, "-m", the_step.module, "--child"],
            input=job,
            capture_output=True,
            text=True,
            timeout=limit,
            **tied(),
        )
    except subprocess.TimeoutExpired:
        raise ConcurError(f"step {the_step.number} did not finish in {limit:.0f} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ConcurError(f"step {the_step.number} failed (exit {done.returncode}): {last}")
    return CrawlResult.from_dict(json.loads(done.stdout))


def _budget_ms(
    result: CrawlResult, seen: dict[str, Any], in_flight: int, delay_s: float
) -> dict[str, Any] | None:
    """Where the time beyond the ideal went, from the server's timeline (as concur crawl)."""
    from concur.budget import run_budget

    if delay_s <= 0:  # no waves to read
        return None
    spent = run_budget(result, seen, in_flight, delay_s)
    return None if spent is None else spent.to_dict(scale=1e3)


def run(
    the_step: Step,
    server: RunningServer,
    *,
    n: int = DEFAULT_N,
    concurrency: int = DEFAULT_CONCURRENCY,
    delay_ms: float = DEFAULT_DELAY_MS,
    crawl: Crawl | None = None,
) -> Run:
    """Run one step against ``server`` and summarise it.

    ``crawl`` runs in this process when given (a step run as ``python -m`` passes its
    own); otherwise an isolated step runs in a child and the others are imported here.
    """
    from concur.experiment import book_urls
    from concur.report import ideal_seconds, summarize

    name = f"path{the_step.number}.{next(_runs)}"  # this run's timeline on the server
    urls = book_urls(server.url, n, name, delay_ms=delay_ms)
    in_flight = concurrency if the_step.concurrent else 1
    if crawl is not None:
        result = _in_process(the_step, crawl, urls, concurrency)
    elif the_step.isolated:
        result = _in_child(the_step, urls, concurrency, delay_ms)
    else:
        module = importlib.import_module(the_step.module)
        result = _in_process(the_step, module.crawl, urls, concurrency)
    seen = server.timeline(name)
    summary = summarize(
        result,
        ideal_s=ideal_seconds(n, in_flight, delay_ms / 1e3),
        server_peak_in_flight=seen["peak_in_flight"],
    )
    summary["budget_ms"] = _budget_ms(result, seen, in_flight, delay_ms / 1e3)
    summary["step"] = the_step.number
    return Run(the_step, result, summary)


def serve() -> AbstractContextManager[RunningServer]:
    """The embedded mock server, in a subprocess: ``with serve() as server: ...``."""
    from mockserver.testing import serve as start

    return start(mode="subprocess")


def lesson(
    number: int,
    *,
    n: int = DEFAULT_N,
    concurrency: int = DEFAULT_CONCURRENCY,
    delay_ms: float = DEFAULT_DELAY_MS,
    as_json: bool = False,
    crawl: Crawl | None = None,
) -> int:
    """Start the server, run step ``number``, print its summary; the exit status.

    2 when the step's optional dependency is missing (its pip line on stderr), 1 when
    a request failed, else 0.
    """
    from concur.report import render

    the_step = step(number)
    pip = missing(the_step) if crawl is None else None
    if pip:
        print(f"step {number} needs {the_step.extra}: {pip}", file=sys.stderr)
        return 2
    with serve() as server:
        if not as_json:
            in_flight = concurrency if the_step.concurrent else 1
            print(
                f"concur: {n} requests to {server.url}/add ({delay_ms:g} ms each), "
                f"{in_flight} at a time, step {number}: {the_step.line}",
                file=sys.stderr,
            )
        done = run(the_step, server, n=n, concurrency=concurrency, delay_ms=delay_ms, crawl=crawl)
    print(json.dumps(done.summary) if as_json else render(done.summary))
    return 1 if done.summary["failed"] else 0


def add_options(parser: argparse.ArgumentParser) -> None:
    """``-n``, ``-c``, ``--delay`` and ``--json``: the size of the experiment, and the
    output; :func:`sizes` fills in what was not given."""
    from concur.args import positive_int, server_delay

    parser.add_argument(
        "-n", type=positive_int, default=None, help=f"requests (default: {DEFAULT_N})"
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        type=positive_int,
        default=None,
        metavar="C",
        help=f"requests in flight at most; step 1 always has 1 (default: {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--delay",
        type=server_delay,
        default=None,
        metavar="MS",
        help="the mock server's delay before each answer, in ms unless a unit follows "
        f"(default: {DEFAULT_DELAY_MS:g})",
    )
    parser.add_argument("--json", action="store_true", help="the summary as one JSON object")


def sizes(the_step: Step, args: argparse.Namespace, prog: str) -> tuple[int, int, float]:
    """``(n, concurrency, delay_ms)`` from :func:`add_options`' flags, defaults filled in;
    ``-c`` on a step that makes one request at a time is named as ignored (as ``concur
    crawl --impl serial -c`` does)."""
    if args.concurrency is not None and not the_step.concurrent:
        print(
            f"{prog}: warning: step {the_step.number} makes one request at a time: "
            f"-c {args.concurrency} is ignored",
            file=sys.stderr,
        )
    n = DEFAULT_N if args.n is None else args.n
    c = DEFAULT_CONCURRENCY if args.concurrency is None else args.concurrency
    return n, c, DEFAULT_DELAY_MS if args.delay is None else args.delay


def _child(the_step: Step, crawl: Crawl) -> int:
    """``--child``: the job from stdin, the :class:`CrawlResult` as JSON on stdout."""
    job = json.load(sys.stdin)
    try:
        result = measure(the_step, crawl, job["urls"], job["concurrency"])
    except Exception as exc:  # one line for the parent to show, not a traceback
        print(f"{type(exc).__name__}: {exc}".rstrip(": "), file=sys.stderr)
        return 1
    json.dump(result.to_dict(), sys.stdout)
    return 0


def main(number: int, crawl: Crawl, argv: Sequence[str] | None = None) -> NoReturn:
    """``python -m concur.path.stepN_...``: run that step, in this process."""
    from concur.args import Parser
    from concur.errors import ConcurError

    parser = Parser(
        prog=f"python -m {step(number).module}",
        description=f"Step {number} of concur's learner's path: {step(number).line}.",
    )
    add_options(parser)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        raise SystemExit(_child(step(number), crawl))
    n, concurrency, delay_ms = sizes(step(number), args, parser.prog)
    try:
        status = lesson(
            number, n=n, concurrency=concurrency, delay_ms=delay_ms, as_json=args.json, crawl=crawl
        )
    except ConcurError as exc:  # a step that raised: one line, as concur learn says it
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        status = 2
    raise SystemExit(status)
