"""processes + requests: a pool of worker processes — the GIL-free contrast.

What it teaches: each process has its own interpreter and its own GIL, so Python code
in different processes runs on different cores at the same time; threads of one
process take turns.  For an I/O-bound crawl that freedom buys little — the waits
already overlap with threads — and it has a price: starting processes, their memory,
and moving every URL and every answer from one process to another.  Compare the CPU µs
per request and the peak RSS with ``threads``: that is the price.

How many processes — measured, then chosen (2-core Linux VM, Python 3.11, requests 2.34):

* The natural reading, a process per request in flight (C = 100 processes each making
  one blocking request at a time), works but costs more than the crawl it serves.  A
  fork from a parent that has imported requests takes ~1 ms, then each worker spends
  ~5 ms of CPU before its first request is done: ~1,500 copy-on-write page faults
  (~6 MB copied, because reference counting writes to every object the child touches),
  a Session, a cold first request.  100 workers on 2 cores take 0.35-0.6 s just to
  start, and the book's experiment then costs 1.9 ms of CPU per request (threads: ~0.6).
* A process buys one thing a thread does not — a GIL of its own — and there are only
  as many of those to use as there are cores.  So the default pool is one process per
  CPU (``os.sched_getaffinity``), each running ``C / P`` threads with a Session each
  (:func:`layout`); ``min(C, N)`` blocking requests in flight in all, as the limit
  requires.  That is how prefork servers are usually run (gunicorn ``--workers`` ×
  ``--threads``).  The option ``processes=C`` gives the process-per-request pool, to
  see its cost for yourself.

How it is built: this module only starts the workers; the child-process driver
(:mod:`concur.engines.drive_children`) runs the job in the parent and hands each worker
``(key, url)`` over a pipe of its own, and the worker's threads fetch with the same
:class:`~concur.engines.requests_fetcher.Fetcher` as ``serial`` and ``threads``.

* Workers are *forked* on Linux: a fork copies page tables, not memory, and needs no
  re-import, where ``spawn`` starts a fresh interpreter that imports requests (~0.13 s
  per worker here).  Elsewhere Python's default (``spawn``) is used: fork is unsafe on
  macOS and absent on Windows.  ``gc.freeze()`` around the forks keeps the children's
  collector from writing to (and so copying) every object they inherit.
* Workers are forked before the job opens its SQLite file, so no child inherits it.
* The clock starts when every worker is ready; ``extra`` records the layout, the start
  method and the start-up time.  CPU includes the workers' (after their start-up);
  peak RSS is the largest single process's.

Compare with: ``threads`` (the same blocking code and Sessions in one process) and
``asyncio`` (the whole crawl on one thread of one process).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from concur.engines.drive_children import Child, ignore_interrupts, serve
from concur.engines.requests_fetcher import Fetcher
from concur.lifetime import die_with_parent
from concur.records import CrawlConfig

__all__ = ["Fetcher", "children", "cpus", "layout"]


def cpus() -> int:
    """CPUs this process may run on (its affinity, where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def layout(workers: int, processes: int | None = None) -> list[int]:
    """Threads per worker process: ``workers`` in all, over ``processes`` (default: CPUs)."""
    workers = max(1, workers)
    procs = max(1, min(workers, processes or cpus()))
    base, extra = divmod(workers, procs)
    return [base + (1 if i < extra else 0) for i in range(procs)]


def _context() -> Any:  # multiprocessing's fork or spawn context
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()  # spawn: forking is unsafe on macOS, absent on Windows


def _worker(
    tasks: Connection,
    results: Connection,
    inherited: list[Connection],
    config: CrawlConfig,
    keep_body: bool,
    threads: int,
    parent: int,
) -> None:
    """One worker process: ``threads`` threads fetch what the parent sends."""
    die_with_parent(parent)
    ignore_interrupts()
    for conn in inherited:  # the other workers' pipes, inherited through fork
        conn.close()
    with Fetcher(config, keep_body=keep_body) as fetcher:
        serve(tasks, results, fetcher, threads)


def children(
    config: CrawlConfig,
    keep_body: bool,
    workers: int,
    processes: int | None = None,
) -> tuple[list[Child], Callable[[bool], None], dict[str, Any]]:
    """Fork the worker processes: (the children, a reaper, what to add to ``extra``)."""
    ctx = _context()
    plan = layout(workers, processes)
    procs: list[Any] = []
    kids: list[Child] = []
    mine: list[Connection] = []  # the parent's ends, which later forks must not keep open
    me = os.getpid()
    gc.freeze()  # what the parent holds now is the children's to share, not to copy
    try:
        for i, threads in enumerate(plan):
            task_r, task_w = ctx.Pipe(duplex=False)
            result_r, result_w = ctx.Pipe(duplex=False)
            args = (task_r, result_w, list(mine), config, keep_body, threads, me)
            proc = ctx.Process(target=_worker, args=args, name=f"concur-{i}", daemon=True)
            proc.start()
            task_r.close()
            result_w.close()
            mine += [task_w, result_r]
            procs.append(proc)
            kids.append(Child(f"concur-{i}", task_w, result_r, threads, _status_of(proc)))
    finally:
        gc.unfreeze()

    def reap(kill: bool) -> None:
        for proc in procs:
            if kill:
                proc.terminate()
            proc.join()

    extra = {
        "processes": len(plan),
        "threads_per_process": max(plan),
        "start_method": ctx.get_start_method(),
    }
    return kids, reap, extra


def _status_of(proc: Any) -> Callable[[], str]:
    def status() -> str:
        proc.join(1.0)
        code = proc.exitcode
        if code is None:
            return "stopped answering"
        return f"was killed by signal {-code}" if code < 0 else f"exited (code {code})"

    return status
