"""The blocking driver: N threads, each calling a blocking fetcher, run a job.

Used by the engines whose library blocks (serial and threads with requests) and, inside
gevent's patched child process, by gevent, where ``threading.Thread`` *is* a greenlet.
The job is single-threaded, so the threads share it through :class:`Locked`: one lock
(a condition) around ``next`` and ``complete``.  A completion wakes one waiting thread,
and a thread that got a task wakes the next, so a burst of new work reaches as many
threads as it needs without waking them all.  The thread that calls :func:`drive_threads`
is one of the workers: serial is this driver with one worker and no thread at all.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from concur.attempt import Attempt, failure, one_line
from concur.jobs import Task, Work
from concur.meter import Meter
from concur.records import CrawlConfig, CrawlResult, ErrorKind

__all__ = ["Locked", "drive_threads", "run_threads"]


class _NoLock:
    """A lock that is never contended: green threads switch only where they block.

    Under gevent, ``next`` and ``complete`` never yield (they do no I/O the hub sees),
    so no other greenlet can enter them half-way: the condition needs its wait and
    notify, not mutual exclusion, and skipping four lock operations per request is
    measurable there.
    """

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return True

    def release(self) -> None:
        pass

    def _is_owned(self) -> bool:  # what threading.Condition asks before notify
        return True

    __enter__ = acquire

    def __exit__(self, *exc: object) -> None:
        pass


class Locked:
    """A thread-safe, blocking front on a job: :meth:`take` waits until a task may start.

    Idle threads wait on one condition.  Only one of them waits with a timeout — for the
    earliest time the job said something may start (a retry's backoff, a host's delay) —
    and the others until they are notified, so a due time wakes one thread, not all.
    """

    def __init__(self, work: Work, clock: Callable[[], float], green: bool = False) -> None:
        self.work = work
        self.clock = clock
        # A plain lock, not an RLock (Condition's default): cheaper, and under gevent's
        # patching an RLock is Python code.  Notifying costs lock operations even when
        # nobody waits, so waiters are counted and a notify is made only for one.
        self._cond = threading.Condition(_NoLock() if green else threading.Lock())  # type: ignore[arg-type]
        self._waiting = 0
        self._due = math.inf  # when the one timed waiter wakes
        self._stopped = False

    def take(self) -> Task | None:
        """The next task, once one may start; None when the job is over or stopped."""
        with self._cond:
            while not self._stopped:
                now = self.clock()
                nxt = self.work.next(now)
                if nxt is None:
                    self._cond.notify_all()  # finished: release every worker
                    return None
                if isinstance(nxt, float):
                    self._wait(now, nxt)
                    continue
                if self._waiting:
                    self._cond.notify()  # there may be more: pass the baton
                return nxt
            return None

    def _wait(self, now: float, delay: float) -> None:
        due = now + delay
        timed = delay != math.inf and due < self._due
        if timed:
            self._due = due
        self._waiting += 1
        self._cond.wait(delay if timed else None)
        self._waiting -= 1
        if timed and self._due == due:
            self._due = math.inf

    def complete(self, task: Task, attempt: Attempt) -> None:
        with self._cond:  # no notify: this thread takes next, and passes the baton on
            self.work.complete(task, attempt, self.clock())

    def stop(self) -> None:
        """Make every :meth:`take`, waiting or to come, return None (a worker failed)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()


def drive_threads(
    work: Work,
    fetch: Callable[[str], Attempt],
    workers: int,
    t0: float,
    green: bool = False,
) -> None:
    """Run ``work`` to its end with ``workers`` threads (this one among them).

    ``green``: the threads are gevent's greenlets (see :class:`_NoLock`).
    """
    front = Locked(work, lambda: time.perf_counter() - t0, green)
    failures: list[BaseException] = []

    def loop() -> None:
        try:
            while (task := front.take()) is not None:
                try:
                    attempt = fetch(task.url)
                except Exception as exc:  # a library error the fetcher did not map
                    attempt = failure(ErrorKind.OTHER, one_line(exc))
                front.complete(task, attempt)
        except BaseException as exc:  # a bug, a failing on_record, Ctrl-C: stop everyone
            failures.append(exc)  # raised below, in the caller's thread
            front.stop()

    others = [
        threading.Thread(target=loop, name=f"concur-{i}", daemon=True)
        for i in range(1, max(1, workers))
    ]
    for thread in others:
        thread.start()
    try:
        loop()
    finally:
        # Stopping (Ctrl-C, a failing on_record), a worker may be inside a fetch for up to
        # the timeout: wait briefly, then leave it; it is a daemon and takes no new task.
        patience = None if not failures else time.monotonic() + 1.0
        for thread in others:
            thread.join(None if patience is None else max(0.0, patience - time.monotonic()))
    if failures:
        raise failures[0]


def run_threads(
    name: str,
    fetcher: Callable[..., Any],
    options: dict[str, Any],
    work: Work,
    config: CrawlConfig,
    workers: int | None = None,
    green: bool = False,
) -> CrawlResult:
    """Run ``work`` on ``workers`` threads (default: what the job is worth, up to C)."""
    n = work.workers(config.concurrency if workers is None else workers)
    client = fetcher(config, keep_body=work.keep_body, **options)
    meter = Meter()  # the clock starts once the fetcher is made, as after imports
    with client:
        drive_threads(work, client.fetch, n, meter.t0, green)
    extra = {**client.variant, **work.extra()}
    return meter.result(name, config, work.records, work.peak_in_flight, extra=extra)
