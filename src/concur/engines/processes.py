"""processes + requests: a pool of worker processes — the GIL-free contrast.

What it teaches: each process has its own interpreter and its own GIL, so Python code
in different processes runs on different cores at the same time; threads of one
process take turns.  For an I/O-bound crawl that freedom buys little — the waits
already overlap with threads — and it has a price: starting processes, their memory,
and moving every result from one process to another.  Compare the CPU µs per request
and the peak RSS with ``threads``: that is the price.

How many processes — measured, then chosen (2-core Linux VM, Python 3.11, requests 2.34):

* The natural reading, a process per request in flight (C = 100 processes each making
  one blocking request at a time), works but costs more than the crawl it serves.  A
  fork from a parent that has imported requests takes ~1 ms, then each worker spends
  ~5 ms of CPU before its first request is done: ~1,500 copy-on-write page faults
  (~6 MB copied, because reference counting writes to every object the child touches),
  a Session, a cold first request.  100 workers on 2 cores take 0.35-0.6 s just to
  start; the book's 1.0 s experiment then takes ~1.35 s and 1.9 ms of CPU per request
  (threads: ~1.1 s and 0.6 ms), and 300 × 200 ms at C = 100 reaches ~0.6 of ideal.
* A process buys one thing a thread does not — a GIL of its own — and there are only
  as many of those to use as there are cores.  So the default pool is one process per
  CPU (``os.sched_getaffinity``), each running ``C / P`` threads with a Session each;
  ``min(C, N)`` blocking requests in flight in all, as the limit requires.  That is
  how prefork servers are usually run (gunicorn ``--workers`` × ``--threads``).  At
  zero delay, where the CPU is the limit, two GILs finish before one (``threads``) —
  modestly here, as the mock server needs a core too.
* ``run(..., processes=config.concurrency)`` gives the process-per-request pool, to see
  its cost for yourself; ``result.extra`` records the layout, the start method and the
  start-up time of every run, and the wall time includes the start-up.

How it is built:

* Workers are *forked* on Linux: a fork copies page tables, not memory, and needs no
  re-import, where ``spawn`` starts a fresh interpreter that imports requests (~0.13 s
  per worker here; ``forkserver`` without preloading took ~0.1 s).  Elsewhere Python's
  default (``spawn``) is used: fork is unsafe on macOS and absent on Windows.
  ``gc.freeze()`` around the forks keeps the children's collector from writing to (and
  so copying) every object they inherit, should a long crawl run a full collection.
* No task queue, so no chunk size to choose: forked workers inherit the URL list and
  take the next index from a counter in shared memory, under the same lock as the
  in-flight gauge — a semaphore operation per URL instead of pickling every task
  through a pipe (``Pool.imap``).  Each URL goes to exactly one worker.
* Results come back as one small tuple per record over one pipe, and the parent calls
  ``on_record``.  When the last worker exits the pipe reports end-of-file, so a worker
  that dies cannot hang the run: the URL it held becomes an OTHER record.
* Times: ``perf_counter`` is the system-wide monotonic clock on Linux, so workers get
  the parent's ``t0`` and every record shares the parent's time axis.  CPU includes the
  workers (they are joined, so ``RUSAGE_CHILDREN`` counts them, before the result is
  measured); peak RSS is the largest single process's, each worker reporting its own.

Compare with: ``threads`` (the same blocking code and Sessions in one process) and
``asyncio`` (the whole crawl on one thread of one process).
"""

from __future__ import annotations

import functools
import gc
import multiprocessing
import multiprocessing.context
import multiprocessing.process
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from concur.engines.base import Meter, OnRecord, fetch_sync
from concur.engines.requests_common import Fetcher, Watchdog
from concur.records import CrawlConfig, CrawlResult, ErrorKind, FetchRecord

if TYPE_CHECKING:
    from concur.engines.crawling import CrawlPlan

_RSS_SCALE = 1.0 if sys.platform == "darwin" else 1024.0  # ru_maxrss: bytes on macOS, KiB on Linux


def cpus() -> int:
    """CPUs this process may run on (its affinity, where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def layout(concurrency: int, n_urls: int, processes: int | None = None) -> list[int]:
    """Threads per worker process: ``min(C, N)`` in all, over ``processes`` (default: CPUs)."""
    workers = max(1, min(concurrency, n_urls))
    procs = max(1, min(workers, processes or cpus()))
    base, extra = divmod(workers, procs)
    return [base + (1 if i < extra else 0) for i in range(procs)]


def _context() -> multiprocessing.context.ForkContext | multiprocessing.context.DefaultContext:
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()  # spawn: forking is unsafe on macOS, absent on Windows


class _Shared:
    """Shared memory of one run: the next URL to take and the in-flight gauge, under one lock."""

    def __init__(self, ctx: multiprocessing.context.BaseContext, n_urls: int) -> None:
        self.lock = ctx.Lock()
        self.counters = ctx.RawArray("q", 3)  # next index, in flight now, peak in flight
        self.n_urls = n_urls

    def take(self) -> int | None:
        with self.lock:
            index = int(self.counters[0])
            if index >= self.n_urls:
                return None
            self.counters[0] = index + 1
            return index

    def enter(self) -> None:
        with self.lock:
            self.counters[1] += 1
            if self.counters[1] > self.counters[2]:
                self.counters[2] = self.counters[1]

    def leave(self) -> None:
        with self.lock:
            self.counters[1] -= 1

    @property
    def peak(self) -> int:
        return int(self.counters[2])


# A record crosses the pipe as a tuple without its URL (the parent has the list):
# pickling the frozen dataclass costs ten times more.
Packed = tuple[int, int | None, int, str | None, int, float, float, str, str]


def _pack(r: FetchRecord) -> Packed:
    error = None if r.error is None else r.error.value
    return (r.index, r.status, r.nbytes, error, r.attempts, r.start, r.end, r.detail, r.final_url)


def _unpack(p: Packed, urls: Sequence[str]) -> FetchRecord:
    index, status, nbytes, error, attempts, start, end, detail, final_url = p
    kind = None if error is None else ErrorKind(error)
    url = urls[index]
    return FetchRecord(index, url, status, nbytes, kind, attempts, start, end, detail, final_url)


def _worker(
    urls: Sequence[str],
    n_threads: int,
    config: CrawlConfig,
    t0: float,
    shared: _Shared,
    results: Connection,
    send_lock: Any,
) -> None:
    """One worker process: ``n_threads`` threads fetch until no URL is left; then report."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle

    def send(message: object) -> None:
        with send_lock:
            results.send(message)

    def fetch_until_done(watchdog: Watchdog) -> None:
        with Fetcher(config, watchdog, shared) as fetch_once:  # a Session per thread
            while (index := shared.take()) is not None:
                send(_pack(fetch_sync(fetch_once, index, urls[index], config, t0)))

    with Watchdog() as watchdog:
        _on_threads(n_threads, functools.partial(fetch_until_done, watchdog))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    send(("done", usage.ru_maxrss * _RSS_SCALE / (1024 * 1024)))
    results.close()


def _on_threads(n: int, target: Callable[[], None]) -> None:
    """Run ``target`` on ``n`` threads, this one among them, and wait for all of them."""
    threads = [threading.Thread(target=target, daemon=True) for _ in range(n - 1)]
    for thread in threads:
        thread.start()
    target()
    for thread in threads:
        thread.join()


def run(
    urls: Sequence[str],
    config: CrawlConfig,
    on_record: OnRecord = None,
    *,
    processes: int | None = None,
) -> CrawlResult:
    """Fetch every URL with worker processes, at most ``config.concurrency`` requests in flight.

    ``processes`` (default: one per CPU) caps the number of worker processes; the
    ``min(C, N)`` blocking requests in flight are spread over them as threads.
    """
    meter = Meter()
    ctx = _context()
    plan = layout(config.concurrency, len(urls), processes)
    shared = _Shared(ctx, len(urls))
    reader, writer = ctx.Pipe(duplex=False)
    send_lock = ctx.Lock()
    records: dict[int, FetchRecord] = {}
    worker_rss: list[float] = []
    procs: list[multiprocessing.process.BaseProcess] = []
    try:
        gc.freeze()  # what the parent holds now is the children's to share, not to copy
        try:
            for i, n_threads in enumerate(plan):
                args = (urls, n_threads, config, meter.t0, shared, writer, send_lock)
                proc = ctx.Process(target=_worker, args=args, name=f"concur-{i}", daemon=True)
                proc.start()
                procs.append(proc)
        finally:
            gc.unfreeze()
        startup_s = time.perf_counter() - meter.t0
        writer.close()  # only the workers hold the write end now: EOF once the last exits
        while True:
            try:
                message = reader.recv()
            except EOFError:
                break
            if message[0] == "done":
                worker_rss.append(message[1])
                continue
            record = _unpack(message, urls)
            records[record.index] = record
            if on_record is not None:
                on_record(record)
    except BaseException:  # Ctrl-C or a failing on_record: stop the workers, then re-raise
        for started in procs:
            started.terminate()
        raise
    finally:
        writer.close()
        reader.close()
        for started in procs:
            started.join()  # reaped: their CPU is in RUSAGE_CHILDREN from here on
    codes = sorted({p.exitcode for p in procs if p.exitcode})
    for index in range(len(urls)):
        if index not in records:  # a worker died holding this URL: still one record for it
            record = _died(index, urls[index], codes, time.perf_counter() - meter.t0)
            records[index] = record
            if on_record is not None:
                on_record(record)
    extra = {
        "processes": len(plan),
        "threads_per_process": max(plan),
        "start_method": ctx.get_start_method(),
        "startup_s": round(startup_s, 4),
    }
    result = meter.result("processes", config, list(records.values()), shared.peak, extra=extra)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _RSS_SCALE / (1024 * 1024)
    return replace(result, peak_rss_mb=max([own, *worker_rss]))


def _died(index: int, url: str, codes: list[Any], now: float) -> FetchRecord:
    code = ", ".join(map(str, codes)) or "?"
    why = f"worker process exited (code {code}) before answering"
    return FetchRecord(index, url, None, 0, ErrorKind.OTHER, 1, now, now, why)


# --- crawl mode: follow links (see concur.engines.crawling) ------------------------------
#
# The scheduler stays in the parent, which is the only process that decides anything:
# it hands each job to the workers over a queue and completes it when the worker's
# Page comes back over the result pipe.  Workers only fetch (``C / P`` threads each, a
# Session per thread).  Every job and every page body crosses a pipe, pickled: that is
# the price of this model, and the figure to compare with ``threads``.


class _NoGauge:
    def enter(self) -> None:
        pass

    def leave(self) -> None:
        pass


def _follow_worker(
    n_threads: int, config: CrawlConfig, tasks: Any, results: Connection, send_lock: Any
) -> None:
    """One worker process: its threads take jobs until a None, and send back pages."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def fetch_until_done(watchdog: Watchdog) -> None:
        with Fetcher(config, watchdog, _NoGauge()) as fetcher:
            with send_lock:
                results.send(("ready", 0.0))
            while (job := tasks.get()) is not None:
                page = fetcher.page(job)
                with send_lock:
                    results.send((job, page))

    with Watchdog() as watchdog:
        _on_threads(n_threads, functools.partial(fetch_until_done, watchdog))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with send_lock:
        results.send(("done", usage.ru_maxrss * _RSS_SCALE / (1024 * 1024)))
    results.close()


def follow(
    plan: CrawlPlan,
    config: CrawlConfig,
    on_record: OnRecord = None,
    *,
    processes: int | None = None,
) -> CrawlResult:
    """Crawl mode: the scheduler in this process, fetches in worker processes."""
    from concur.engines.base import InFlight
    from concur.engines.crawling import crawl_run, result_of

    meter = Meter()
    ctx = _context()
    plan_threads = layout(config.concurrency, config.concurrency, processes)
    tasks = ctx.SimpleQueue()
    reader, writer = ctx.Pipe(duplex=False)
    send_lock = ctx.Lock()
    gauge = InFlight()
    worker_rss: list[float] = []
    procs: list[multiprocessing.process.BaseProcess] = []
    t0 = meter.t0
    clock = time.perf_counter
    try:
        gc.freeze()
        try:  # fork before the scheduler opens its store: no child inherits the file
            for i, n_threads in enumerate(plan_threads):
                args = (n_threads, config, tasks, writer, send_lock)
                proc = ctx.Process(
                    target=_follow_worker, args=args, name=f"concur-{i}", daemon=True
                )
                proc.start()
                procs.append(proc)
        finally:
            gc.unfreeze()
        writer.close()
        ready = 0
        while ready < sum(plan_threads):  # the first jobs must not wait for a fork
            if reader.recv()[0] == "ready":
                ready += 1
        startup_s = clock() - t0
        with crawl_run(plan, config, on_record) as (scheduler, records):

            def receive(timeout: float | None) -> None:
                if not reader.poll(timeout):
                    return
                message = reader.recv()  # EOFError if every worker died: raised
                if message[0] == "done":
                    worker_rss.append(message[1])
                    return
                job, page = message
                gauge.leave()
                scheduler.complete(job, page, clock() - t0)

            while True:
                while reader.poll(0):
                    receive(0)
                nxt = scheduler.next(clock() - t0)
                if nxt is None:
                    break
                if isinstance(nxt, float):
                    receive(min(nxt, 1.0))
                    if any(p.exitcode not in (None, 0) for p in procs):
                        raise RuntimeError("a crawl worker process died")
                    continue
                gauge.enter()
                tasks.put(nxt)
            for _ in range(sum(plan_threads)):
                tasks.put(None)
            while len(worker_rss) < len(procs):
                try:
                    receive(None)
                except EOFError:
                    break
            for started in procs:
                started.join()  # reaped: their CPU is in RUSAGE_CHILDREN for the result
            extra = {"processes": len(plan_threads), "startup_s": round(startup_s, 4)}
            result = result_of("processes", config, meter, scheduler, records, gauge.peak, **extra)
    except BaseException:
        for started in procs:
            started.terminate()
        raise
    finally:
        writer.close()
        reader.close()
        for started in procs:
            started.join()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _RSS_SCALE / (1024 * 1024)
    return replace(result, peak_rss_mb=max([own, *worker_rss]))
