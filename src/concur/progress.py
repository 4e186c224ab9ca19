"""Live progress on a terminal (rich), and nothing at all when piped.

Two displays, both driven by the ``on_record`` callback every engine calls once per
record: :func:`progress_bar` for a URL list, whose length is known (done of total,
requests/s and requests in flight, the two sides of Little's law), and
:func:`crawl_progress` for a crawl, whose length is not (pages, pages/s, the queue).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from concur.engines import OnRecord
from concur.records import FetchRecord

__all__ = ["crawl_progress", "progress_bar", "shared_progress"]

WINDOW_S = 1.0  # requests/s and in flight are measured over the last second


class _Recent:
    """Requests/s and requests in flight over the last ``window`` seconds, from records.

    ``on_record`` is called when a request is done, never when one starts (no engine
    reports starts, and the gevent and processes engines make records in other
    processes), so in flight is not a live count.  It is Little's law applied to the
    last second: the requests finished in it, each counted for the time it took (its
    record's ``end - start``, waits between retries included), over the second — the
    average number the client had in flight, as the finished requests tell it.  It lags
    when concurrency changes, and is capped by what is left to do (``total - done``) and
    by ``concurrency`` when that is known.
    """

    def __init__(
        self,
        total: int,
        concurrency: int | None = None,
        clock: Callable[[], float] = time.perf_counter,
        window: float = WINDOW_S,
    ) -> None:
        self.total = total
        self.concurrency = concurrency
        self.clock = clock
        self.window = window
        self.t0 = clock()
        self.done = self.failed = 0
        self._recent: deque[tuple[float, float]] = deque()  # (finished at, took)
        self._busy = 0.0  # the sum of ``took`` in _recent
        self._lock = threading.Lock()  # records come from the engine, reads from rich's thread

    def add(self, record: FetchRecord) -> None:
        now = self.clock()
        took = max(0.0, record.end - record.start)
        with self._lock:
            if not self.done:  # the run began when its first request did, not when the
                self.t0 = now - took  # bar was made (engines take a while to start)
            self.done += 1
            if record.error is not None:
                self.failed += 1
            self._recent.append((now, took))
            self._busy += took
            self._prune(now)

    def _prune(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - self.window:
            self._busy -= self._recent.popleft()[1]

    def rates(self) -> tuple[float, float]:
        """(requests/s, requests in flight) over the last window, now."""
        now = self.clock()
        with self._lock:
            self._prune(now)
            span = min(self.window, now - self.t0)
            if span <= 0:
                return 0.0, 0.0
            per_s = len(self._recent) / span
            in_flight = max(0.0, self._busy) / span
            left = self.total - self.done
        cap = left if self.concurrency is None else min(left, self.concurrency)
        return per_s, min(in_flight, float(cap))


def _one_line() -> Any:
    """A column that never wraps: on a narrow terminal the bar shrinks instead (rich
    would otherwise wrap a text column, and the bar would take two lines at 80 columns)."""
    from rich.table import Column

    return Column(no_wrap=True)


def _rates_column(recent: _Recent) -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Rates(ProgressColumn):
        """``894 req/s  ~89 in flight``, computed when drawn (it decays when nothing ends)."""

        def render(self, task: Any) -> Text:
            per_s, in_flight = recent.rates()
            return Text(f"{per_s:>7,.0f} req/s  ~{in_flight:,.0f} in flight")

    return Rates(table_column=_one_line())


class _ListBar:
    """A URL list's ``on_record``: advances the bar and feeds :class:`_Recent`."""

    def __init__(self, progress: Any, task: Any, recent: _Recent) -> None:
        self.progress = progress
        self.task = task
        self.recent = recent

    def __call__(self, record: FetchRecord) -> None:
        self.recent.add(record)
        self.progress.update(self.task, advance=1, failed=self.recent.failed)


@contextlib.contextmanager
def progress_bar(
    total: int,
    label: str,
    enabled: bool,
    *,
    concurrency: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
    console: Any = None,
) -> Iterator[OnRecord]:
    """Yield an ``on_record`` callback that advances a bar (None when disabled).

    Beside done of total, the bar shows requests/s and requests in flight over the last
    second — throughput and concurrency, whose ratio is the latency (Little's law).  In
    flight is the client's side, estimated from finished records (:class:`_Recent` says
    how); ``concurrency`` caps it.  ``clock`` and ``console`` are for tests.
    """
    if not enabled or total == 0:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    recent = _Recent(total, concurrency, clock)
    columns = (
        TextColumn("[bold]{task.description}", table_column=_one_line()),
        BarColumn(),
        MofNCompleteColumn(table_column=_one_line()),
        _rates_column(recent),
        TextColumn("{task.fields[failed]} failed", table_column=_one_line()),
        TimeElapsedColumn(table_column=_one_line()),
    )
    with Progress(*columns, transient=True, console=console, get_time=clock) as progress:
        task = progress.add_task(label, total=total, failed=0)
        yield _ListBar(progress, task, recent)


class _CrawlLine:
    """The crawl's ``on_record``: counts records and redraws one line, ten times a second.

    The queue comes from the scheduler when it runs in this process: the crawl job
    (:class:`concur.jobs.CrawlJob`) hands it to :meth:`attach`.
    """

    def __init__(self, label: str, live: Any) -> None:
        self.label = label
        self.live = live
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.done = self.pages = self.errors = self.skipped = 0
        self.scheduler: Any = None

    def __call__(self, record: FetchRecord) -> None:
        from concur.records import ErrorKind
        from concur.report import is_page

        self.done += 1
        if is_page(record):
            self.pages += 1
        elif record.error == ErrorKind.ROBOTS:
            self.skipped += 1
        elif record.error is not None:
            self.errors += 1
        now = time.perf_counter()
        if now - self.last > 0.1:
            self.last = now
            self.live.update(self.line())

    def attach(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def line(self) -> Any:
        from rich.text import Text

        wall = max(time.perf_counter() - self.t0, 1e-9)
        queued = ""
        sched = self.scheduler
        if sched is not None:
            queued = (
                f"{sched.queued:,} queued  {sched.in_flight:,} in flight  "
                f"{sched.active_hosts():,}/{sched.hosts:,} hosts  "
            )
        text = (
            f"{self.label}: {self.done:,} URLs  {self.pages:,} pages  "
            f"{self.pages / wall:,.0f}/s  {queued}{self.errors:,} failed  "
            f"{self.skipped:,} robots.txt skips"
        )
        return Text(text, no_wrap=True, overflow="ellipsis")  # one line, however narrow


@contextlib.contextmanager
def crawl_progress(label: str, enabled: bool) -> Iterator[Any]:
    """Yield an ``on_record`` callback driving a live line: URLs, pages, pages/s, the queue,
    hosts, failures and robots.txt's skips (None when disabled)."""
    if not enabled:
        yield None
        return
    from rich.live import Live
    from rich.text import Text

    with Live(Text(f"{label}: starting"), transient=True, refresh_per_second=8) as live:
        yield _CrawlLine(label, live)


@contextlib.contextmanager
def shared_progress(
    label: str, enabled: bool, counters: Callable[[], dict[str, int]]
) -> Iterator[Callable[[], None] | None]:
    """Yield a ``poll()`` that redraws one line from a shared crawl's ``counters()`` (read
    from its server: the records are made in other processes); None when disabled."""
    if not enabled:
        yield None
        return
    from rich.live import Live
    from rich.text import Text

    t0 = time.perf_counter()
    with Live(Text(f"{label}: starting"), transient=True, refresh_per_second=4) as live:

        def poll() -> None:
            try:
                c = counters()
            except Exception:  # the server is away for a moment: keep the last line
                return
            wall = max(time.perf_counter() - t0, 1e-9)
            text = (
                f"{label}: {c['records']:,} of {c['admitted']:,} URLs  "
                f"{c['records'] / wall:,.0f}/s  {c['leased']:,} leased  "
                f"{c['errors']:,} failed  {c['workers']} workers"
            )
            live.update(Text(text, no_wrap=True, overflow="ellipsis"))

        yield poll
