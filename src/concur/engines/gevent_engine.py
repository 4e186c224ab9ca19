"""gevent: green threads over monkey-patched, blocking-looking code.

What it teaches: code written for threads — ``urllib3`` calling ``socket.recv`` and
waiting on a ``queue`` for a pooled connection — runs concurrently on *one* OS thread
once gevent has replaced ``socket``, ``ssl``, ``select``, ``time.sleep`` and the thread
primitives with cooperative versions.  Every call that would block instead switches
to another greenlet; the hub's event loop (libev or libuv) wakes each greenlet when its
socket is ready.  Nothing in :meth:`Fetcher.fetch` is marked ``await``: the yield
points are implicit, which is the charm of the model and its danger (one CPU-bound
call, or one C library doing its own blocking I/O, stalls every request in flight).

What to look for:

* ``patch_all()`` changes the standard library for the whole process and cannot be
  undone, so this engine never patches the caller.  :func:`run` starts a fresh Python
  (``python -c`` with :data:`_CHILD`) that patches before anything has imported
  ``socket`` or ``ssl``, and the whole job runs there: the job (the URLs, or the
  crawl's plan) and config go to the child on stdin as JSON, and the child runs the
  blocking driver (:mod:`concur.engines.drive_threads`) — the very code the
  ``threads`` engine runs, whose ``threading.Thread`` and locks are gevent's there, so
  its C threads are greenlets.  It streams back one JSON line per record (so
  ``on_record`` sees records live, in batches of whatever finished in one turn of its
  event loop) and a last line with what the run cost.  If the child dies, every URL it
  had not reported still becomes a record (``ErrorKind.OTHER``, with the exit status
  and the child's last line of stderr in the detail): nothing is lost.  (Sending each
  URL to the child and each answer back, as the ``processes`` engine does, cost 30 %
  more CPU per request here: a patched child that owns the job needs no round trip.)
* One ``urllib3.PoolManager`` with ``maxsize=concurrency, block=True`` keeps one
  keep-alive connection per greenlet.
* The timeout covers a whole attempt (connect to the last byte of the body):
  a :class:`gevent.Timeout` raised in the greenlet wherever it is waiting.  urllib3's
  own socket timeouts stay off, so no timer is armed per ``recv``.
* Not everything can be made cooperative: ``getaddrinfo`` is a blocking C call, so
  gevent runs it in a pool of real threads — which need the GIL that the busy hub
  holds.  At 2,000 in flight a third of the first connections waited seconds to look
  up ``127.0.0.1``; :class:`_SharedLookups` makes it one lookup per name.

Timing: starting the child — Python, gevent, patching, urllib3 — takes 0.1-0.15 s on
a quiet machine.  That is this engine's import time, and like every other engine's
imports it is left out of the crawl: the clock starts when the patched child is ready.
``extra`` keeps ``startup_s`` and ``total_wall_s`` (start-up included, what a user
waits for).

How it differs from the book's version: the book patches the process it runs in,
spawns a greenlet per URL behind a semaphore of 100 and collects them with
``gevent.iwait``; here a fixed set of greenlets bounds the requests in flight without a
greenlet per URL, and the patching stays in a process of its own.  Code that has
patched its own fresh interpreter (the GIL lab) can run a job in it with :func:`run_here`.

Compare with: ``threads`` (the same blocking code, pre-emptive OS threads, a thread
stack per request in flight) and ``asyncio`` (the same single-threaded overlap, with
explicit ``await`` points).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import urllib3

from concur import errors
from concur.attempt import Attempt, failure, too_large
from concur.collector import paced, threshold_for
from concur.engines.drive_threads import run_threads
from concur.engines.fetcher import (
    BlockingFetcher,
    Body,
    Payload,
    answered,
    broke_off,
    collect,
    fill,
    recorded,
    urllib3_headers,
)
from concur.engines.urllib3_errors import (
    PoolManager,
    ResolvingHTTPConnection,
    ResolvingHTTPSConnection,
    SentHeaders,
    classify,
)
from concur.errors import ConcurError, WorkerDied
from concur.jobs import JobSpec, OnRecord, make_job
from concur.meter import Meter
from concur.records import CrawlConfig, CrawlResult, ErrorKind, FetchRecord

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

__all__ = ["Fetcher", "run", "run_here"]

# The child's program.  gevent asks importlib.metadata for its plugins' entry points
# once per patched module (25 times, each a scan of every installed distribution:
# about 0.1 s in a large virtualenv), so the answer is cached while patching.
# Run with ``-P`` (no current directory on sys.path) and the directory this concur was
# imported from as argv[1], so the child imports the same concur as its parent; argv[2]
# is the parent's pid: the child dies with it (concur.lifetime), before patching anything.
_CHILD = """\
import functools, importlib.metadata as md, sys
if sys.argv[1] not in sys.path:
    sys.path.insert(0, sys.argv[1])
from concur.lifetime import die_with_parent
die_with_parent(int(sys.argv[2]))
_entry_points = md.entry_points
md.entry_points = functools.lru_cache(maxsize=None)(_entry_points)
from gevent import monkey
monkey.patch_all()
md.entry_points = _entry_points
from concur.engines.gevent_engine import child_main
child_main()
"""

_CHUNK = 64 * 1024  # bytes per read of a response body


class Fetcher(BlockingFetcher):
    """``fetch(url) -> Attempt`` with urllib3, for greenlets of a patched process."""

    def __init__(self, config: CrawlConfig, *, keep_body: bool) -> None:
        import gevent

        super().__init__(config, keep_body=keep_body)
        hub = gevent.get_hub()
        if not isinstance(hub.resolver, _SharedLookups):
            hub.resolver = _SharedLookups(hub.resolver)
        self._timeout = gevent.Timeout
        self.manager = PoolManager(  # the config's CAs and --resolve (concur.engines.connect)
            config,
            # with a WARC: connections that remember the header lines they send
            {"http": _SentHTTPPool, "https": _SentHTTPSPool} if self.warc else None,
            maxsize=config.concurrency,  # per host: one keep-alive connection per greenlet
            block=True,  # a greenlet waits for a free connection instead of opening one more
            timeout=None,  # the whole-attempt gevent.Timeout in fetch is the only clock
        )
        # urllib3 retries nothing and follows no redirect: both are the job's
        self.policy = urllib3.Retry(
            total=0, redirect=0, raise_on_redirect=False, raise_on_status=False
        )

    def fetch(self, url: str) -> Attempt:
        seconds = self.config.timeout
        timer = self._timeout(seconds)
        timer.start()
        try:
            return self._get(url)
        except self._timeout as exc:
            if exc is not timer:
                raise
            return failure(ErrorKind.TIMEOUT, f"no complete answer within {seconds:g} s")
        except Exception as exc:  # mapped to an error kind, never raised further
            return classify(exc)
        finally:
            timer.close()

    def _get(self, url: str) -> Attempt:
        resp: BaseHTTPResponse = self.manager.urlopen(
            "GET",
            url,
            headers=self.headers,
            retries=self.policy,
            redirect=False,
            preload_content=False,
        )
        finished = False
        try:
            if self.warc:
                attempt, finished = self._record(resp)
                return attempt
            status = resp.status
            length = resp.length_remaining
            plain = "content-encoding" not in resp.headers
            try:
                if length is not None and length <= self.limit and plain:
                    data = resp.read()  # a small plain body: one read, no chunking
                    got: Body | None = Body(self.limit, self.keep_body, data)
                else:
                    pieces = resp.stream(_CHUNK, decode_content=True)
                    got = collect(pieces, self.limit, self.keep_body)
            except Exception as exc:  # the answer began: keep its status
                return broke_off(classify(exc), status)
            if got is None:
                return too_large(status, self.limit)
            finished = True
            return answered(status, got, resp.headers.get, lambda: urllib3_headers(resp))
        finally:
            if not finished:
                resp.close()  # a half-read connection must not go back to the pool
            resp.release_conn()

    def _record(self, resp: BaseHTTPResponse) -> tuple[Attempt, bool]:
        """The answer as received, for a WARC record: urllib3's stream, not decoded.

        Also whether the body was read to its end (else the connection must not be reused).
        """
        status = resp.status
        # urllib3's response does not hold its request: its connection kept the lines
        # (read now: a response read to its end may hand the connection back)
        sent = list(getattr(resp.connection, "sent", ()))
        payload = Payload(self.limit, self.keep_body, resp.headers.get("Content-Encoding"))
        try:
            got = fill(resp.stream(_CHUNK, decode_content=False), payload)
        except Exception as exc:  # the answer began: keep its status
            return broke_off(classify(exc), status), False
        if got is None:
            return too_large(status, self.limit), False
        lines = urllib3_headers(resp)
        return recorded(status, got, resp.headers.get, lines, sent, resp.reason or ""), True

    def close(self) -> None:
        self.manager.clear()


# For WARC records: urllib3's connections, remembering the header lines they send.


class _SentHTTPConnection(SentHeaders, ResolvingHTTPConnection):
    pass


class _SentHTTPSConnection(SentHeaders, ResolvingHTTPSConnection):
    pass


class _SentHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _SentHTTPConnection


class _SentHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _SentHTTPSConnection


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


# --- the child process: the whole job runs there --------------------------------------


def run(name: str, job: JobSpec, config: CrawlConfig, on_record: OnRecord = None) -> CrawlResult:
    """Run ``job`` in a fresh, monkey-patched Python and collect its records here."""
    meter = Meter()
    launched = meter.t0
    kind, what = job
    urls: list[str] = list(what) if kind == "list" else []  # type: ignore[arg-type]
    shipped = urls if kind == "list" else what.to_dict()  # type: ignore[union-attr]
    payload = {"kind": kind, "config": config.to_dict(), "job": shipped}
    records: list[FetchRecord] = []
    ready: dict[str, Any] = {}  # the child's first line: its clock and CPU when it began
    done: dict[str, Any] = {}  # its last line: what the run cost it
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-P",
                "-c",
                _CHILD,
                str(Path(__file__).resolve().parents[2]),
                str(os.getpid()),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        try:
            assert proc.stdin is not None and proc.stdout is not None
            try:
                with proc.stdin:
                    proc.stdin.write(json.dumps(payload).encode())
            except BrokenPipeError:
                pass  # the child died before reading its job; accounted for below
            for line in proc.stdout:
                message = json.loads(line)
                if isinstance(message, list):
                    record = _from_line(message)
                    records.append(record)
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
    if ready:  # the clock starts when the patched child is ready, as others' after imports
        meter.t0 = ready["ready"]
    if "error" in done:  # the child stopped on one of concur's errors: the same here
        error = getattr(errors, done["error"], ConcurError)
        if not (isinstance(error, type) and issubclass(error, ConcurError)):
            error = ConcurError
        raise error(done["message"])
    if not done:
        why = _death(proc.returncode, complaint)
        if kind != "list":
            raise WorkerDied(f"{why}; what was done is kept (with --db, --resume continues)")
        _account_for_the_rest(urls, records, why, time.perf_counter() - meter.t0, on_record)
    extra = {
        **done.get("extra", {}),
        "startup_s": meter.t0 - launched,  # starting Python, importing, patching
        "total_wall_s": time.perf_counter() - launched,  # start-up included
    }
    # The child's CPU reaches us through RUSAGE_CHILDREN once it has been waited for;
    # its start-up is left out, as the other engines' imports are.
    start_cpu = ready.get("cpu_s", 0.0)
    peak = int(done.get("peak_in_flight", 0))
    return meter.result(name, config, records, peak, extra_cpu_s=-start_cpu, extra=extra)


def _account_for_the_rest(
    urls: Sequence[str], records: list[FetchRecord], why: str, now: float, on_record: OnRecord
) -> None:
    """The child died: every URL it did not report still gets its record."""
    seen = {r.index for r in records}
    for index, url in enumerate(urls):
        if index not in seen:
            record = FetchRecord(index, url, None, 0, ErrorKind.OTHER, 0, now, now, why)
            records.append(record)
            if on_record is not None:
                on_record(record)


def _to_line(r: FetchRecord) -> bytes:
    """A record as one compact JSON line."""
    row = [r.index, r.url, r.status, r.nbytes, r.error, r.attempts, r.start, r.end]
    row += [r.detail, r.final_url]
    return json.dumps(row, separators=(",", ":")).encode() + b"\n"


def _from_line(row: list[Any]) -> FetchRecord:
    index, url, status, nbytes, error, attempts, start, end, detail, final_url = row
    kind = None if error is None else ErrorKind(error)
    return FetchRecord(index, url, status, nbytes, kind, attempts, start, end, detail, final_url)


def _read_tail(stream: IO[bytes]) -> str:
    """The child's stderr, echoed to ours; returns its last non-empty line."""
    stream.seek(0)
    text = stream.read().decode(errors="replace")
    if text:
        sys.stderr.write(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _death(returncode: int | None, complaint: str) -> str:
    if returncode is not None and returncode < 0:
        how = f"was killed by signal {-returncode}"
    else:
        how = f"exited with code {returncode} before finishing"
    return f"gevent child process {how}" + (f": {complaint}" if complaint else "")


def child_main() -> None:
    """The child's side; ``patch_all()`` has already run (see :data:`_CHILD`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops us
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print() now goes to stderr, not into the records
    try:
        payload = json.load(sys.stdin.buffer)
        config = CrawlConfig.from_dict(payload["config"])
        kind = payload["kind"]
        if kind == "list":
            what = payload["job"]
        elif kind == "cluster":
            from concur.cluster.frontier import FrontierSpec

            what = FrontierSpec.from_dict(payload["job"])
        else:
            from concur.crawl.plan import CrawlPlan

            what = CrawlPlan.from_dict(payload["job"])
        gc.freeze()  # what start-up made is not the collector's to walk again and again
        result = run_here("gevent", (kind, what), config, _batched(out))
        extra = {**result.extra, "child_cpu_s": result.cpu_s, "child_wall_s": result.wall_s}
        summary = {"done": True, "peak_in_flight": result.peak_in_flight, "extra": extra}
        out.write(json.dumps(summary).encode() + b"\n")
        out.flush()
    except ConcurError as exc:  # a clear error (a damaged --db, a full disk): said, not dumped
        out.write(json.dumps({"error": type(exc).__name__, "message": str(exc)}).encode() + b"\n")
        out.flush()
        os._exit(1)
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown: the parent is waiting for this exit


def _batched(out: IO[bytes]) -> Callable[[FetchRecord], None]:
    """An ``on_record`` that writes records to ``out`` once per turn of gevent's loop.

    Every record finished in one turn goes out in one write, at the end of that turn:
    the parent still sees them live, at a write per batch instead of per record.
    """
    import gevent

    loop = gevent.get_hub().loop
    pending: list[bytes] = []

    def flush() -> None:
        out.write(b"".join(pending))
        out.flush()
        pending.clear()

    def emit(record: FetchRecord) -> None:
        if not pending:
            loop.run_callback(flush)
        pending.append(_to_line(record))

    out.write(json.dumps({"ready": time.perf_counter(), "cpu_s": _own_cpu()}).encode() + b"\n")
    out.flush()
    emit.flush = flush  # type: ignore[attr-defined]
    return emit


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def run_here(
    name: str, job: JobSpec, config: CrawlConfig, on_record: OnRecord = None
) -> CrawlResult:
    """Run ``job`` with ``config.concurrency`` greenlets *in this process*.

    Only for a process that has already called ``gevent.monkey.patch_all()`` (the child,
    or an experiment that patches its own fresh interpreter): the blocking driver,
    whose threads are greenlets here.
    """
    work = make_job(job, config, on_record)
    try:
        with paced(threshold_for(config.concurrency)):  # as Engine.run paces the parent
            result = run_threads(name, Fetcher, {}, work, config, green=True)
    finally:
        work.close()
    flush = getattr(on_record, "flush", None)
    if flush is not None:
        flush()
    return result
