"""The worker-process driver: the job stays in this process; workers in child processes fetch.

Used by ``processes`` (P forked workers, each running C/P threads with requests).  The
split:

* **here**, the job — the URL list or the crawl's scheduler and its SQLite frontier —
  decides what is fetched next and what every answer means, exactly as in the other
  drivers: nothing about scheduling is written twice, and nothing of it needs to be
  safe to fork;
* **there**, each worker only fetches: it takes ``(key, url)`` from its task pipe and
  sends back ``(key, Attempt)``.  Each child has a pipe of its own each way, so the
  parent always knows which child holds which URL.

The pipes carry length-prefixed pickles (:class:`multiprocessing.connection.Connection`
on both ends).  A child that dies — a crash, ``kill -9``, an out-of-memory kill —
closes its result pipe; the parent reads end-of-file, turns each URL it held into a
failed attempt (the job decides: a record, or a retry on the children left), and goes
on with the others.  With no child left, the job accounts for what remains
(:meth:`~concur.jobs.Work.abandon`): a URL list gives every URL its record, a
crawl stops with :class:`~concur.errors.WorkerDied` and keeps what it did.

(gevent also runs in a child process, but a different way: the whole job runs there, on
the threads driver, because a round trip per URL cost it 30 % more CPU; see
:mod:`concur.engines.gevent_engine`.)

Timing: children report when they are ready (imported, their fetcher open),
and the clock starts then, as every engine's starts after its imports; ``extra`` keeps
``startup_s``.  CPU counts the children's after their start-up (they report it).
"""

from __future__ import annotations

import math
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import Any

from concur.attempt import failure, one_line
from concur.jobs import Task, Work
from concur.meter import Meter, own_peak_rss_kib
from concur.records import CrawlConfig, CrawlResult, ErrorKind

__all__ = ["Child", "drive_children", "run_children", "serve"]

READY_TIMEOUT = 60.0  # seconds a child may take to start (import, patch, open its fetcher)


# -- the worker's side -------------------------------------------------------------------


def serve(tasks: Connection, results: Connection, fetcher: Any, threads: int) -> None:
    """Fetch with ``threads`` workers until the parent sends None; report, then return.

    ``fetcher`` is an open blocking fetcher, shared by the threads (it keeps what must
    not be shared, a requests Session, per thread).
    """
    todo: queue.Queue[tuple[int, str] | None] = queue.Queue()
    send_lock = threading.Lock()
    cpu0 = _own_cpu()
    results.send(("ready", cpu0))

    def read() -> None:
        while True:
            try:
                message = tasks.recv()
            except EOFError:  # the parent is gone
                message = None
            if message is None:
                for _ in range(threads):
                    todo.put(None)
                return
            todo.put(message)

    def work() -> None:
        fetch = fetcher.fetch
        while (task := todo.get()) is not None:
            try:
                attempt = fetch(task[1])
            except Exception as exc:  # a library error the fetcher did not map
                attempt = failure(ErrorKind.OTHER, one_line(exc))
            with send_lock:
                results.send((task[0], attempt))

    reader = threading.Thread(target=read, name="concur-reader", daemon=True)
    reader.start()
    pool = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.send(("done", _own_cpu() - cpu0, own_peak_rss_kib() / 1024))


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def ignore_interrupts() -> None:
    """Ctrl-C is the parent's to handle: a child stops when its task pipe says so.

    SIGTERM gets its default back (a forked child inherits the parent's handler, which
    may turn it into an exception): the parent terminates a child it gives up on.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


# -- the parent's side -------------------------------------------------------------------


@dataclass(eq=False)
class Child:
    """One worker process as the parent sees it: its pipes, its capacity, what it holds."""

    name: str
    tasks: Connection  # parent -> child
    results: Connection  # child -> parent
    capacity: int  # fetches it runs at once
    exit_status: Callable[[], str]  # how it ended, for error details ("exited with code 3")
    held: dict[int, Task] = field(default_factory=dict)  # key -> task sent, not answered
    ready_cpu: float = 0.0
    cpu: float = 0.0
    rss_mb: float = 0.0
    alive: bool = True

    def free(self) -> int:
        return self.capacity - len(self.held) if self.alive else 0


def await_ready(children: Sequence[Child]) -> None:
    """Wait for every child's ready message; a child that dies first is marked dead."""
    deadline = time.monotonic() + READY_TIMEOUT
    for child in children:
        left = deadline - time.monotonic()
        try:
            if not child.results.poll(max(0.0, left)):
                raise EOFError
            message = child.results.recv()
        except (EOFError, OSError):
            child.alive = False
            continue
        child.ready_cpu = message[1]


def drive_children(work: Work, children: Sequence[Child], t0: float) -> None:
    """Run ``work`` to its end on ``children``: send tasks, complete their attempts."""
    clock = time.perf_counter
    keys = iter(range(1 << 62))
    by_conn = {child.results: child for child in children if child.alive}
    last_death = "; ".join(
        f"worker process {c.name} {c.exit_status()}" for c in children if not c.alive
    )
    while True:
        nxt: Any = math.inf  # when nothing more may start: wait for answers
        while True:  # hand out what may start, to the child with the most room
            child = max(by_conn.values(), key=Child.free, default=None)
            if child is None or child.free() <= 0:
                nxt = math.inf
                break
            nxt = work.next(clock() - t0)
            if nxt is None or isinstance(nxt, float):
                break
            key = next(keys)
            child.held[key] = nxt
            try:
                child.tasks.send((key, nxt.url))
            except OSError:  # it died; its results pipe will say so
                pass
        if nxt is None:
            return
        if not by_conn:
            work.abandon(f"no worker process left ({last_death})", clock() - t0)
            return
        timeout = None if nxt == math.inf else nxt
        for conn in wait(list(by_conn), timeout):
            child = by_conn[conn]  # type: ignore[index]
            results = child.results
            while True:
                try:
                    if not results.poll():
                        break
                    message = results.recv()
                except (EOFError, OSError):
                    last_death = _lost(work, child, clock() - t0)
                    del by_conn[results]
                    break
                key = message[0]
                if key == "done":
                    child.cpu, child.rss_mb = message[1], message[2]
                    continue
                work.complete(child.held.pop(key), message[1], clock() - t0)


def _lost(work: Work, child: Child, now: float) -> str:
    """``child`` died: each URL it held becomes a failed attempt (the job may retry it)."""
    child.alive = False
    why = f"worker process {child.name} {child.exit_status()}"
    held, child.held = child.held, {}
    for task in held.values():
        work.complete(task, failure(ErrorKind.OTHER, f"{why}, before answering"), now)
    return why


def stop(children: Sequence[Child]) -> None:
    """Tell every child that is left to finish, and collect its last report."""
    for child in children:
        try:
            child.tasks.send(None)
        except OSError:
            pass
    for child in children:
        try:
            while child.alive:
                message = child.results.recv()
                if message[0] == "done":
                    child.cpu, child.rss_mb = message[1], message[2]
                    break
        except (EOFError, OSError):
            pass


def run_children(
    name: str,
    start: Callable[[], tuple[list[Child], Callable[[bool], None], dict[str, Any]]],
    work: Work,
    config: CrawlConfig,
) -> CrawlResult:
    """Start children with ``start()``, run ``work`` on them, reap them.

    ``start`` returns the children, a reaper and what to add to ``extra`` (the layout);
    ``reap(kill)`` waits for every child to exit (``kill``: make it exit now — the run
    is being abandoned, by Ctrl-C or a failing ``on_record``).
    """
    launched = time.perf_counter()
    children, reap, extra = start()
    finished = False
    try:
        await_ready(children)
        meter = Meter()  # the clock starts when the workers are ready
        drive_children(work, children, meter.t0)
        stop(children)
        finished = True
    finally:
        for child in children:
            child.tasks.close()
        reap(not finished)  # joined: their CPU is in RUSAGE_CHILDREN from here on
        for child in children:
            child.results.close()
    startup_cpu = sum(child.ready_cpu for child in children)
    info = {
        **extra,
        **work.extra(),
        "startup_s": round(meter.t0 - launched, 4),
        "total_wall_s": time.perf_counter() - launched,
    }
    result = meter.result(
        name, config, work.records, work.peak_in_flight, extra_cpu_s=-startup_cpu, extra=info
    )
    peak = max([result.peak_rss_mb, *(child.rss_mb for child in children)])
    return replace(result, peak_rss_mb=peak)
