"""Ctrl-C and SIGTERM in the middle of a run: keep what was done, and say how to go on.

An engine stops on ``KeyboardInterrupt`` (Ctrl-C) and lets it out; every record finished
by then has been handed to ``on_record``.  So the command keeps its own list of them
(:class:`Kept`, around the progress display's callback), and when the interrupt comes
through it writes them (``-o``), prints the summary of what was done, marked interrupted,
with the command that continues a crawl kept in ``--db``; then it exits 130 for SIGINT
and 143 for SIGTERM, the statuses a shell gives a process those signals killed.

SIGTERM (``kill``, a container stopping, a CI job's timeout) would end Python on the
spot, without a word and without ``-o``: :func:`signals` hands it to whatever handles
Ctrl-C at that moment (Python's own handler: :class:`Terminated`, a
``KeyboardInterrupt``; an asyncio engine's: its main task is cancelled), so every engine
stops by the very path it takes for Ctrl-C.  While the command writes what it kept
(:func:`finishing`), further signals are ignored: a second Ctrl-C must not leave half a
file behind.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from concur.meter import Meter

if TYPE_CHECKING:
    from concur.commands.crawl_args import CrawlArgs
    from concur.jobs import OnRecord
    from concur.records import CrawlConfig, CrawlResult, FetchRecord

__all__ = [
    "Kept",
    "Terminated",
    "exit_status",
    "finishing",
    "peak_in_flight",
    "resume_command",
    "signal_name",
    "signals",
]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as Ctrl-C's ``KeyboardInterrupt`` is (see the module docstring)."""


_terminated = False  # SIGTERM came (an asyncio engine's loop turns it into KeyboardInterrupt)


def signal_name(stop: KeyboardInterrupt) -> str:
    """The signal that raised ``stop``: "SIGTERM" or "SIGINT"."""
    return "SIGTERM" if _terminated or isinstance(stop, Terminated) else "SIGINT"


def exit_status(stop: KeyboardInterrupt) -> int:
    """128 + the signal's number, as a shell reports a process the signal ended."""
    return 128 + (signal.SIGTERM if signal_name(stop) == "SIGTERM" else signal.SIGINT)


@contextlib.contextmanager
def signals() -> Iterator[None]:
    """SIGTERM stops the run as Ctrl-C does while the block runs.

    It goes to whatever handles Ctrl-C at that moment: Python's own handler, which
    raises :class:`Terminated` here, or an asyncio engine's, which cancels the run's
    main task and raises ``KeyboardInterrupt`` once it is cancelled (an exception raised
    inside a task instead would escape it half-way, with a traceback).  A child forked
    meanwhile (the processes engine's workers) inherits the handler but not the reason
    for it: there SIGTERM keeps its default meaning, and ends the child.
    """
    global _terminated
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (and receives the signals)
        return
    me = os.getpid()
    _terminated = False

    def terminate(signum: int, frame: Any) -> None:
        global _terminated
        if os.getpid() != me:  # a forked child: die of SIGTERM, as it would have
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        _terminated = True
        on_ctrl_c = signal.getsignal(signal.SIGINT)
        if callable(on_ctrl_c) and on_ctrl_c is not signal.default_int_handler:
            on_ctrl_c(signal.SIGINT, frame)
            return
        raise Terminated()

    before = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


@contextlib.contextmanager
def finishing() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM while the block writes what an interrupted run kept."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


class Kept:
    """An ``on_record`` callback that keeps every record and passes it on to ``inner``.

    Records are kept as they come (a list append: safe from any driver's thread);
    :meth:`result` packages them when the engine returned none.  A live display's
    ``attach`` (the crawl's queue, :mod:`concur.progress`) is passed on too.
    """

    def __init__(self, inner: OnRecord = None) -> None:
        self.inner = inner
        self.records: list[FetchRecord] = []
        self.meter = Meter()

    def __call__(self, record: FetchRecord) -> None:
        self.records.append(record)
        if self.inner is not None:
            self.inner(record)

    def attach(self, scheduler: Any) -> None:
        attach = getattr(self.inner, "attach", None)
        if attach is not None:
            attach(scheduler)

    def result(self, engine: str, config: CrawlConfig) -> CrawlResult:
        """What was done, as a run's result: its wall time and CPU run from this object's
        making (a little before the engine's clock), peak in flight from the records."""
        records = list(self.records)
        return self.meter.result(engine, config, records, peak_in_flight(records))


def peak_in_flight(records: Sequence[FetchRecord]) -> int:
    """The most records whose [start, end] overlap: requests in flight at once, at least."""
    events = sorted(
        [(r.start, 1) for r in records if r.attempts] + [(r.end, -1) for r in records if r.attempts]
    )
    peak = now = 0
    for _, step in events:  # at a tie, an end (-1) sorts before a start: not an overlap
        now += step
        peak = max(peak, now)
    return peak


def resume_command(args: CrawlArgs) -> str | None:
    """The command line that continues the crawl in ``--db`` (None: no file to continue).

    Everything that defines the crawl is in the file, so the line names only the mode,
    the file, the engine and ``-o``: ``concur crawl --site --db c.db --resume --impl asyncio``.
    """
    plan = args.plan
    if plan is None or not plan.db:
        return None
    argv = ["concur", "crawl", "--site" if args.mode == "site" else "--follow"]
    argv += ["--db", plan.db, "--resume", "--impl", args.impl]
    for name, value in args.engine_options:
        argv += [f"--{name.replace('_', '-')}", str(value)]
    if args.output:
        argv += ["-o", args.output]
    return shlex.join(argv)
