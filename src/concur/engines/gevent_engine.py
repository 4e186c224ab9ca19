"""gevent: green threads over monkey-patched, blocking-looking code.

What it teaches: code written for threads — ``urllib3`` calling ``socket.recv`` and
waiting on a ``queue`` for a pooled connection — runs concurrently on *one* OS thread
once gevent has replaced ``socket``, ``ssl``, ``select``, ``time.sleep`` and the thread
primitives with cooperative versions.  Every call that would block instead switches
to another greenlet; the hub's event loop (libev or libuv) wakes each greenlet when its
socket is ready.  Nothing in :func:`_attempt_function` is marked ``await``: the yield
points are implicit, which is the charm of the model and its danger (one CPU-bound
call, or one C library doing its own blocking I/O, stalls every request in flight).

What to look for:

* ``patch_all()`` changes the standard library for the whole process and cannot be
  undone, so this engine never patches the caller.  :func:`run` starts a fresh Python
  (``python -c`` with :data:`_CHILD`) that patches before anything has imported
  ``socket`` or ``ssl``.  The URLs and config go to the child on stdin as JSON; the
  child streams back one JSON line per finished URL (so ``on_record`` sees records
  live, in batches of whatever finished in one turn of its event loop) and a last line
  with its CPU time, peak memory and peak in flight.  If the child dies, every URL it
  had not reported still becomes a record (``ErrorKind.OTHER``, with the exit status
  and the child's last line of stderr in the detail): nothing is lost.
* ``config.concurrency`` greenlets in a :class:`gevent.pool.Pool` pull URLs from one
  shared iterator, as the asyncio engine's tasks do; a ``urllib3.PoolManager`` with
  ``maxsize=concurrency, block=True`` keeps one keep-alive connection per greenlet.
  The retry loop is :func:`concur.engines.base.fetch_sync` — the *same* function the
  thread engines use — with ``gevent.sleep`` between attempts.
* The timeout covers a whole attempt (connect, redirects, the last byte of the body):
  a :class:`gevent.Timeout` raised in the greenlet wherever it is waiting.  urllib3's
  own socket timeouts stay off, so no timer is armed per ``recv``.
* Not everything can be made cooperative: ``getaddrinfo`` is a blocking C call, so
  gevent runs it in a pool of real threads — which need the GIL that the busy hub
  holds.  At 2,000 in flight a third of the first connections waited seconds to look
  up ``127.0.0.1``; :class:`_SharedLookups` makes it one lookup per name.

Timing: starting the child — Python, gevent, patching, urllib3 — takes 0.1-0.15 s
on a quiet machine.  That is this engine's import time, and like every other engine's
imports it is left out of the crawl: the clock starts when the patched child is ready
(``perf_counter`` is one system-wide monotonic clock on Linux, macOS and Windows, so
the child's reading is valid here), record times and ``wall_s`` are measured from
there to the moment the parent has every record, and ``cpu_s`` is the parent's CPU
plus the child's after start-up.  ``extra`` keeps the rest: ``startup_s``,
``total_wall_s`` (start-up included, what a user waits for), the child's own
``child_wall_s`` and ``child_cpu_s``, and ``child_startup_cpu_s``.

How it differs from the book's version: the book patches the process it runs in,
spawns a greenlet per URL behind a semaphore of 100 and collects them with
``gevent.iwait``; here a pool of workers bounds the requests in flight without a
greenlet per URL, and the patching stays in a process of its own.

Compare with: ``threads`` (the same blocking code, pre-emptive OS threads, a thread
stack per request in flight) and ``asyncio`` (the same single-threaded overlap, with
explicit ``await`` points).
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urljoin

import urllib3
from urllib3 import exceptions as u3

from concur.engines.base import (
    InFlight,
    Meter,
    OnRecord,
    Outcome,
    fetch_sync,
    one_line,
    outcome_for_status,
    own_peak_rss_kib,
)
from concur.records import CrawlConfig, CrawlResult, ErrorKind, FetchRecord

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

    from concur.crawl import Job, Page
    from concur.engines.crawling import CrawlPlan

# The child's program.  gevent asks importlib.metadata for its plugins' entry points
# once per patched module (25 times, each a scan of every installed distribution:
# about 0.1 s in a large virtualenv), so the answer is cached while patching.
# Run with ``-P`` (no current directory on sys.path) and the directory this concur was
# imported from as argv[1], so the child imports the same concur as its parent.
_CHILD = """\
import functools, importlib.metadata as md, sys
_entry_points = md.entry_points
md.entry_points = functools.lru_cache(maxsize=None)(_entry_points)
from gevent import monkey
monkey.patch_all()
md.entry_points = _entry_points
if sys.argv[1] not in sys.path:
    sys.path.insert(0, sys.argv[1])
from concur.engines.gevent_engine import child_main
child_main()
"""

_CHUNK = 64 * 1024  # bytes per read of a response body


# --- the parent: start the child, turn its lines into records -------------------------


def run(urls: Sequence[str], config: CrawlConfig, on_record: OnRecord = None) -> CrawlResult:
    """Crawl ``urls`` in a fresh, monkey-patched Python and collect its records here."""
    meter = Meter()
    launched = meter.t0
    urls = list(urls)
    records: list[FetchRecord | None] = [None] * len(urls)
    ready: dict[str, Any] = {}  # the child's first line: its clock and CPU when it began
    done: dict[str, Any] = {}  # its last line: what the crawl cost it
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-P", "-c", _CHILD, str(Path(__file__).resolve().parents[2])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        try:
            assert proc.stdin is not None and proc.stdout is not None
            try:
                with proc.stdin:
                    proc.stdin.write(
                        json.dumps({"urls": urls, "config": config.to_dict()}).encode()
                    )
            except BrokenPipeError:
                pass  # the child died before reading its job; accounted for below
            for line in proc.stdout:
                message = json.loads(line)
                if isinstance(message, list):
                    record = _from_line(message, urls)
                    if records[record.index] is None:
                        records[record.index] = record
                        if on_record is not None:
                            on_record(record)
                elif "ready" in message:
                    ready = message
                else:
                    done = message
            proc.wait()
        finally:
            if proc.poll() is None:  # we are leaving early (on_record raised, Ctrl-C)
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        complaint = _read_tail(stderr)
    # The crawl's clock starts when the patched child is ready, as every other engine's
    # starts after its imports: record times and wall_s leave the start-up out.
    if ready:
        meter.t0 = ready["ready"]
    lost = [i for i, r in enumerate(records) if r is None]
    if lost or not done:
        why = _death(proc.returncode, complaint, done)
        now = time.perf_counter() - meter.t0
        for i in lost:
            record = FetchRecord(i, urls[i], None, 0, ErrorKind.OTHER, 0, now, now, why)
            records[i] = record
            if on_record is not None:
                on_record(record)
    extra = {
        "startup_s": meter.t0 - launched,  # starting Python, importing, patching
        "total_wall_s": time.perf_counter() - launched,  # start-up included
        "child_startup_cpu_s": ready.get("cpu_s", 0.0),
        **{f"child_{k}": v for k, v in done.items() if k in ("wall_s", "cpu_s", "peak_rss_mb")},
    }
    return meter.result(
        "gevent",
        config,
        [r for r in records if r is not None],
        int(done.get("peak_in_flight", 0)),
        # The child's CPU reaches us through RUSAGE_CHILDREN once it has been waited for;
        # its start-up is left out, as the other engines' imports are.
        extra_cpu_s=-ready.get("cpu_s", 0.0),
        extra=extra,
    )


def _to_line(r: FetchRecord) -> bytes:
    """A record as one compact JSON line (the parent knows the URL from the index)."""
    row = [r.index, r.status, r.nbytes, r.error, r.attempts, r.start, r.end, r.detail, r.final_url]
    return json.dumps(row, separators=(",", ":")).encode() + b"\n"


def _from_line(row: list[Any], urls: list[str]) -> FetchRecord:
    index, status, nbytes, error, attempts, start, end, detail, final_url = row
    kind = None if error is None else ErrorKind(error)
    return FetchRecord(
        index, urls[index], status, nbytes, kind, attempts, start, end, detail, final_url
    )


def _read_tail(stream: IO[bytes]) -> str:
    """The child's stderr, echoed to ours; returns its last non-empty line."""
    stream.seek(0)
    text = stream.read().decode(errors="replace")
    if text:
        sys.stderr.write(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _death(returncode: int | None, complaint: str, done: dict[str, Any]) -> str:
    if returncode is not None and returncode < 0:
        how = f"was killed by signal {-returncode}"
    elif done:
        how = "did not report this URL"
    else:
        how = f"exited with code {returncode} before finishing"
    return f"gevent child process {how}" + (f": {complaint}" if complaint else "")


# --- the child: patched, it fetches and reports ---------------------------------------


def child_main() -> None:
    """The child's side; ``patch_all()`` has already run (see :data:`_CHILD`)."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print() now goes to stderr, not into the records
    try:
        job = json.load(sys.stdin.buffer)
        config = CrawlConfig.from_dict(job["config"])
        t0 = time.perf_counter()
        out.write(json.dumps({"ready": t0, "cpu_s": _cpu()}).encode() + b"\n")
        out.flush()
        if "follow" in job:  # crawl mode: the scheduler and its store live here
            from concur.engines.crawling import CrawlPlan

            summary = follow_here(CrawlPlan.from_dict(job["follow"]), config, t0, out)
        else:
            summary = crawl(job["urls"], config, t0, out)
        out.write(json.dumps(summary).encode() + b"\n")
        out.flush()
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown: the parent is waiting for this exit


def crawl(urls: list[str], config: CrawlConfig, t0: float, out: IO[bytes]) -> dict[str, Any]:
    """Fetch every URL with ``config.concurrency`` greenlets *in this process*.

    Only for a process that has already called ``gevent.monkey.patch_all()`` (the
    child, or an experiment that patches its own fresh interpreter).  Each record is
    written to ``out`` as a JSON array (see :func:`_to_line`), times measured from
    ``t0``; the return value summarises the crawl (``wall_s``, ``cpu_s``, ...).
    """

    import gevent
    import gevent.pool

    cpu0 = _cpu()
    hub = gevent.get_hub()
    if not isinstance(hub.resolver, _SharedLookups):
        hub.resolver = _SharedLookups(hub.resolver)
    gauge = InFlight()
    manager = urllib3.PoolManager(
        maxsize=config.concurrency,  # per host: one keep-alive connection per greenlet
        block=True,  # a greenlet waits for a free connection instead of opening one more
        timeout=None,  # the whole-attempt gevent.Timeout in fetch_once is the only clock
    )
    attempt = _attempt_function(manager, config)
    seconds = config.timeout

    def fetch_once(url: str) -> Outcome:
        gauge.enter()
        timer = gevent.Timeout(seconds)
        timer.start()
        try:
            return attempt(url)
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            detail = f"no complete answer within {seconds:g} s"
            return Outcome(error=ErrorKind.TIMEOUT, detail=detail)
        except Exception as exc:  # mapped to a record, never raised further
            return classify(exc)
        finally:
            timer.close()
            gauge.leave()

    # Records leave in batches: every record finished in one turn of the event loop
    # goes out in one write, at the end of that turn (the parent still sees them live).
    pending: list[bytes] = []
    loop = hub.loop

    def flush() -> None:
        out.write(b"".join(pending))
        out.flush()
        pending.clear()

    work: Iterator[tuple[int, str]] = iter(enumerate(urls))

    def worker() -> None:
        for index, url in work:  # shared iterator: each URL goes to exactly one greenlet
            record = fetch_sync(fetch_once, index, url, config, t0, gevent.sleep)
            if not pending:
                loop.run_callback(flush)
            pending.append(_to_line(record))

    n_workers = max(1, min(config.concurrency, len(urls)))
    group = gevent.pool.Pool(n_workers)
    for _ in range(n_workers):
        group.spawn(worker)
    group.join(raise_error=True)
    if pending:
        flush()
    wall = time.perf_counter() - t0
    manager.clear()
    rss = own_peak_rss_kib()
    return {
        "done": True,
        "wall_s": wall,  # from t0 to the last record, as the child timed it
        "cpu_s": _cpu() - cpu0,  # the crawl alone
        "peak_rss_mb": rss / 1024,
        "peak_in_flight": gauge.peak,
    }


class _SharedLookups:
    """Wraps gevent's resolver: one ``getaddrinfo`` per name, shared and kept ``ttl`` s.

    gevent resolves names in a pool of real threads.  While the hub is busy with
    hundreds of greenlets it holds the GIL, and each pool thread waits up to a switch
    interval (5 ms) for it, twice per lookup: at 2,000 in flight, a third of the first
    connections waited seconds for the address of a server named ``127.0.0.1``.
    Greenlets that ask for the same name while a lookup is running wait for that one
    lookup; answers are kept for ``ttl`` seconds (aiohttp's cache keeps them 300 s too).
    Failures are not kept.
    """

    def __init__(self, inner: Any, ttl: float = 300.0) -> None:
        from gevent.event import AsyncResult

        self._inner = inner
        self._ttl = ttl
        self._new_result = AsyncResult
        self._answers: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._running: dict[tuple[Any, ...], Any] = {}

    def getaddrinfo(self, *args: Any) -> Any:
        hit = self._answers.get(args)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        running = self._running.get(args)
        if running is not None:
            return running.get()  # the answer, or the lookup's exception raised here
        result = self._running[args] = self._new_result()
        try:
            answer = self._inner.getaddrinfo(*args)
        except BaseException as exc:
            result.set_exception(exc)
            raise
        finally:
            del self._running[args]
        self._answers[args] = (time.monotonic() + self._ttl, answer)
        result.set(answer)
        return answer

    def __getattr__(self, name: str) -> Any:  # gethostbyname, close, ...: gevent's own
        return getattr(self._inner, name)


_crawl = crawl  # the name concur.gil.experiments.requests calls


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def _attempt_function(
    manager: urllib3.PoolManager, config: CrawlConfig
) -> Callable[[str], Outcome]:
    """One attempt at a URL with ``manager``: status, body size (streamed), redirects."""
    headers = {"User-Agent": config.user_agent, **dict(config.headers)}
    # urllib3 follows redirects but retries nothing else: base.fetch_sync owns retries.
    policy = urllib3.Retry(
        total=None,
        connect=0,
        read=0,
        status=0,
        other=0,
        redirect=config.max_redirects,
        raise_on_redirect=True,
        raise_on_status=False,
    )
    limit = config.max_body

    def attempt(url: str) -> Outcome:
        resp: BaseHTTPResponse = manager.urlopen(
            "GET", url, headers=headers, retries=policy, preload_content=False
        )
        finished = False
        try:
            status = resp.status
            final = ""
            if resp.retries is not None and resp.retries.history:  # redirects were followed
                hop = resp.retries.history[-1]
                final = urljoin(hop.url or url, hop.redirect_location or "")
            nbytes = 0
            try:
                length = resp.length_remaining
                if (
                    length is not None
                    and length <= limit
                    and "content-encoding" not in resp.headers
                ):
                    nbytes = len(resp.read())  # a small plain body: one read, no chunking
                else:
                    for piece in resp.stream(_CHUNK, decode_content=True):
                        nbytes += len(piece)
                        if nbytes > limit:
                            detail = f"body over {limit} bytes"
                            return Outcome(status, limit, ErrorKind.TOO_LARGE, detail, None, final)
            except Exception as exc:  # the answer began: keep its status and what arrived
                broken = classify(exc)
                if broken.error is ErrorKind.RESET:  # reset mid-body: the body was cut short
                    broken.error = ErrorKind.TRUNCATED
                broken.status, broken.nbytes, broken.final_url = status, nbytes, final
                return broken
            finished = True
            outcome = outcome_for_status(status, nbytes, final)
            if status == 429 or status == 503:
                outcome.retry_after = resp.headers.get("Retry-After")
            return outcome
        finally:
            if not finished:
                resp.close()  # a half-read connection must not go back to the pool
            resp.release_conn()

    return attempt


def classify(exc: BaseException) -> Outcome:
    """Map a urllib3/socket exception to concur's error kinds (the only place that knows)."""
    if isinstance(exc, u3.MaxRetryError):  # urllib3 wraps what ended its (zero) retries
        if isinstance(exc.reason, u3.ResponseError):  # "too many redirects"
            return Outcome(error=ErrorKind.OTHER, detail=one_line(exc.reason))
        if exc.reason is not None:
            return classify(exc.reason)
    detail = one_line(exc)
    if isinstance(exc, u3.NameResolutionError | socket.gaierror):
        return Outcome(error=ErrorKind.DNS, detail=detail)
    if isinstance(exc, u3.NewConnectionError):  # before TimeoutError: it subclasses it
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, socket.gaierror):
            return Outcome(error=ErrorKind.DNS, detail=detail)
        if isinstance(cause, ConnectionRefusedError):
            return Outcome(error=ErrorKind.REFUSED, detail=detail)
        return Outcome(error=ErrorKind.CONNECT, detail=detail)
    if isinstance(exc, u3.TimeoutError | socket.timeout):
        return Outcome(error=ErrorKind.TIMEOUT, detail=detail)
    if isinstance(exc, u3.LocationValueError):
        return Outcome(error=ErrorKind.INVALID_URL, detail=detail)
    if isinstance(exc, u3.ProtocolError):  # args: (message, the error underneath)
        inner = exc.args[1] if len(exc.args) > 1 else None
        if isinstance(inner, BaseException):
            kind = _inner_kind(inner)
            return Outcome(
                error=kind, detail=one_line(inner) if kind is not ErrorKind.OTHER else detail
            )
        return Outcome(error=ErrorKind.PROTOCOL, detail=detail)
    if isinstance(exc, u3.DecodeError):
        return Outcome(error=ErrorKind.PROTOCOL, detail=detail)
    if isinstance(exc, u3.SSLError | ssl.SSLError):
        return Outcome(error=ErrorKind.CONNECT, detail=detail)
    if isinstance(exc, http.client.IncompleteRead):
        return Outcome(error=ErrorKind.TRUNCATED, detail=detail)
    if isinstance(exc, http.client.HTTPException):
        return Outcome(error=ErrorKind.PROTOCOL, detail=detail)
    if isinstance(exc, OSError):
        return Outcome(error=_os_kind(exc), detail=detail)
    return Outcome(error=ErrorKind.OTHER, detail=detail)


def _inner_kind(inner: BaseException) -> ErrorKind:
    """The kind of the error a ``ProtocolError`` wraps (it happened mid-exchange)."""
    if isinstance(inner, u3.InvalidChunkLength):
        return ErrorKind.TRUNCATED if not inner.length else ErrorKind.PROTOCOL
    if isinstance(inner, http.client.IncompleteRead):
        return ErrorKind.TRUNCATED
    if isinstance(inner, http.client.RemoteDisconnected):  # closed before any answer
        return ErrorKind.RESET
    if isinstance(inner, http.client.HTTPException):  # BadStatusLine, LineTooLong, ...
        return ErrorKind.PROTOCOL
    if isinstance(inner, socket.timeout):
        return ErrorKind.TIMEOUT
    if isinstance(inner, OSError):
        return _os_kind(inner)
    return ErrorKind.OTHER


def _os_kind(exc: OSError) -> ErrorKind:
    if isinstance(exc, ConnectionRefusedError):
        return ErrorKind.REFUSED
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return ErrorKind.RESET
    if exc.errno in (errno.ECONNRESET, errno.EPIPE):
        return ErrorKind.RESET
    return ErrorKind.CONNECT


# --- crawl mode: follow links (see concur.engines.crawling) ------------------------------


def follow(plan: CrawlPlan, config: CrawlConfig, on_record: OnRecord = None) -> CrawlResult:
    """Crawl ``plan`` in a fresh, monkey-patched Python; its records stream back here.

    The scheduler and its store live in the child (greenlets share them through
    :class:`concur.crawl.BlockingScheduler`, whose lock and condition are gevent's once
    patched); each record comes back as one JSON line, with its URL, as in list mode.
    """
    meter = Meter()
    launched = meter.t0
    records: list[FetchRecord] = []
    ready: dict[str, Any] = {}
    done: dict[str, Any] = {}
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-P", "-c", _CHILD, str(Path(__file__).resolve().parents[2])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        try:
            assert proc.stdin is not None and proc.stdout is not None
            try:
                with proc.stdin:
                    job = {"follow": plan.to_dict(), "config": config.to_dict()}
                    proc.stdin.write(json.dumps(job).encode())
            except BrokenPipeError:
                pass  # the child died before reading its job: reported below
            for line in proc.stdout:
                message = json.loads(line)
                if isinstance(message, list):
                    record = _from_follow_line(message)
                    records.append(record)
                    if on_record is not None:
                        on_record(record)
                elif "ready" in message:
                    ready = message
                else:
                    done = message
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        complaint = _read_tail(stderr)
    if not done:
        raise RuntimeError(_death(proc.returncode, complaint, done))
    if ready:
        meter.t0 = ready["ready"]
    extra = {
        "mode": "follow",
        "startup_s": meter.t0 - launched,
        "total_wall_s": time.perf_counter() - launched,
        "child_startup_cpu_s": ready.get("cpu_s", 0.0),
        **done.get("stats", {}),
        **{f"child_{k}": v for k, v in done.items() if k in ("wall_s", "cpu_s", "peak_rss_mb")},
    }
    return meter.result(
        "gevent",
        config,
        records,
        int(done.get("peak_in_flight", 0)),
        extra_cpu_s=-ready.get("cpu_s", 0.0),
        extra=extra,
    )


def _to_follow_line(r: FetchRecord) -> bytes:
    row = [r.index, r.url, r.status, r.nbytes, r.error, r.attempts, r.start, r.end]
    row += [r.detail, r.final_url]
    return json.dumps(row, separators=(",", ":")).encode() + b"\n"


def _from_follow_line(row: list[Any]) -> FetchRecord:
    index, url, status, nbytes, error, attempts, start, end, detail, final_url = row
    kind = None if error is None else ErrorKind(error)
    return FetchRecord(index, url, status, nbytes, kind, attempts, start, end, detail, final_url)


def follow_here(plan: CrawlPlan, config: CrawlConfig, t0: float, out: IO[bytes]) -> dict[str, Any]:
    """Crawl ``plan`` with ``config.concurrency`` greenlets *in this (patched) process*."""
    import contextlib

    import gevent

    from concur.engines.crawling import crawl_run, drive_blocking

    cpu0 = _cpu()
    hub = gevent.get_hub()
    if not isinstance(hub.resolver, _SharedLookups):
        hub.resolver = _SharedLookups(hub.resolver)
    gauge = InFlight()
    manager = urllib3.PoolManager(maxsize=config.concurrency, block=True, timeout=None)
    page_of = _page_function(manager, config)
    seconds = config.timeout
    pending: list[bytes] = []
    loop = hub.loop

    def flush() -> None:
        out.write(b"".join(pending))
        out.flush()
        pending.clear()

    def emit(record: FetchRecord) -> None:
        if not pending:
            loop.run_callback(flush)
        pending.append(_to_follow_line(record))

    def fetch(job: Job) -> Page:
        from concur.crawl import Page

        gauge.enter()
        timer = gevent.Timeout(seconds)
        timer.start()
        try:
            return page_of(job.url)
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            return Page(error=ErrorKind.TIMEOUT, detail=f"no complete answer within {seconds:g} s")
        except Exception as exc:  # mapped to the page's error kind, never raised further
            o = classify(exc)
            return Page(o.status, None, o.nbytes, error=o.error, detail=o.detail)
        finally:
            timer.close()
            gauge.leave()

    @contextlib.contextmanager
    def fetcher() -> Iterator[Callable[[Job], Page]]:
        yield fetch

    with crawl_run(plan, config, emit) as (scheduler, _records):
        drive_blocking(scheduler, fetcher, config.concurrency, t0)  # threads are greenlets here
        stats = {"admitted": scheduler.admitted, **scheduler.stats}
    if pending:
        flush()
    wall = time.perf_counter() - t0
    manager.clear()
    rss = own_peak_rss_kib()
    return {
        "done": True,
        "wall_s": wall,
        "cpu_s": _cpu() - cpu0,
        "peak_rss_mb": rss / 1024,
        "peak_in_flight": gauge.peak,
        "stats": stats,
    }


def _page_function(manager: urllib3.PoolManager, config: CrawlConfig) -> Callable[[str], Page]:
    """One crawl fetch with ``manager``: redirects off, the body kept up to ``max_body``."""
    from concur.crawl import Page

    headers = {"User-Agent": config.user_agent, **dict(config.headers)}
    policy = urllib3.Retry(total=0, redirect=0, raise_on_redirect=False, raise_on_status=False)
    limit = config.max_body

    def page(url: str) -> Page:
        resp: BaseHTTPResponse = manager.urlopen(
            "GET", url, headers=headers, retries=policy, redirect=False, preload_content=False
        )
        finished = False
        try:
            status = resp.status
            rh = resp.headers
            ctype = rh.get("Content-Type", "")
            body = bytearray()
            try:
                for piece in resp.stream(_CHUNK, decode_content=True):
                    body += piece
                    if len(body) > limit:
                        detail = f"body over {limit} bytes"
                        return Page(
                            status, None, limit, ctype, error=ErrorKind.TOO_LARGE, detail=detail
                        )
            except Exception as exc:  # the answer began: keep its status
                broken = classify(exc)
                if broken.error is ErrorKind.RESET:
                    broken.error = ErrorKind.TRUNCATED
                return Page(
                    status, None, len(body), ctype, error=broken.error, detail=broken.detail
                )
            finished = True
            location = rh.get("Location", "")
            return Page(status, bytes(body), len(body), ctype, location, rh.get("Retry-After"))
        finally:
            if not finished:
                resp.close()
            resp.release_conn()

    return page
