"""Live progress on a terminal (rich), and nothing at all when piped.

Two displays, both driven by the ``on_record`` callback every engine calls once per
record: :func:`progress_bar` for a URL list, whose length is known, and
:func:`crawl_progress` for a crawl, whose length is not (pages, pages/s, the queue).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from concur.engines import OnRecord
from concur.records import FetchRecord

__all__ = ["crawl_progress", "progress_bar", "shared_progress"]


@contextlib.contextmanager
def progress_bar(total: int, label: str, enabled: bool) -> Iterator[OnRecord]:
    """Yield an ``on_record`` callback that advances a bar (None when disabled)."""
    if not enabled or total == 0:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task(label, total=total, failed=0)
        failed = 0

        def on_record(record: FetchRecord) -> None:
            nonlocal failed
            if record.error is not None:
                failed += 1
            progress.update(task, advance=1, failed=failed)

        yield on_record


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
