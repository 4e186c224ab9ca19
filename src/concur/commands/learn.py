"""``concur learn``: the learner's path, six small crawlers from serial to gevent.

The steps are :mod:`concur.path`; running one (starting the server, timing, the
summary) is :mod:`concur.path.harness`.  This module parses and lists.
"""

from __future__ import annotations

import argparse

DESCRIPTION = """\
A learner's path through I/O concurrency: six small crawlers, 10-40 lines each, one
model each, in reading order - serial, threads, callbacks on a selector, generator
coroutines, asyncio, gevent.  Each fetches the book's URLs from concur's own mock
server and prints the summary concur crawl prints: efficiency against Little's-law
ideal, CPU per request, the peak in flight the server saw, latency percentiles.

With no STEP, list the steps.  The tutorial is docs/path.md.

examples:
  concur learn                  # the steps, one line each
  concur learn 1                # serial: 100 requests of 50 ms, one at a time (5 s)
  concur learn 3                # the same 100 on callbacks, 25 at a time (0.2 s)
  concur learn 5 -n 1000 -c 100 --delay 100   # the book's experiment on step 5
  concur learn 4 --code         # read step 4's crawler
"""


def _step_number(text: str) -> int:
    from concur.path import STEPS

    numbers = [s.number for s in STEPS]
    if not text.isdigit() or int(text) not in numbers:
        raise argparse.ArgumentTypeError(f"{text!r}: the steps are {numbers[0]}-{numbers[-1]}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from concur.path import harness

    parser.add_argument(
        "step", nargs="?", type=_step_number, metavar="STEP", help="the step to run (1-6)"
    )
    harness.add_options(parser)  # -n, -c, --delay and --json, as python -m concur.path.stepN
    parser.add_argument(
        "--code", action="store_true", help="print the step's source instead of running it"
    )


def _list() -> None:
    from concur.path import STEPS, harness

    for s in STEPS:
        pip = harness.missing(s)
        print(f"{s.number}  {s.name:<11} {s.line}" + (f"  (needs {pip})" if pip else ""))
    print("\nrun one: concur learn 1    read it: concur learn 1 --code    tutorial: docs/path.md")


def _running_flags(args: argparse.Namespace) -> list[str]:
    """The flags given that only running a step uses."""
    given = {"-n": args.n, "-c": args.concurrency, "--delay": args.delay, "--json": args.json}
    return [flag for flag, value in given.items() if value not in (None, False)]


def run(args: argparse.Namespace) -> int:
    import importlib.util
    from pathlib import Path

    from concur.args import fail
    from concur.path import harness, step

    parser: argparse.ArgumentParser = args._parser
    running = _running_flags(args)
    if args.step is None:
        if args.code or running:
            flags = ", ".join(running + (["--code"] if args.code else []))
            fail(parser, f"{flags}: only with a STEP (concur learn lists the steps)")
        _list()
        return 0
    if args.code:  # read from the file: importing step 6 would monkey-patch this process
        if running:
            flags = ", ".join(running)
            fail(parser, f"--code prints the step's source and runs nothing: no {flags} with it")
        spec = importlib.util.find_spec(step(args.step).module)
        assert spec is not None and spec.origin is not None
        print(Path(spec.origin).read_text(encoding="utf-8"), end="")
        return 0
    n, concurrency, delay_ms = harness.sizes(step(args.step), args, parser.prog)
    return harness.lesson(
        args.step, n=n, concurrency=concurrency, delay_ms=delay_ms, as_json=args.json
    )
