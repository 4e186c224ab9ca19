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
  undone, so this engine never patches the caller.  :func:`children` starts a fresh
  Python (``python -c`` with :data:`_CHILD`) that patches before anything has imported
  ``socket`` or ``ssl``, then serves fetches for the child-process driver
  (:mod:`concur.engines.drive_children`): the job stays in the parent, URLs go to the
  child and attempts come back over its stdin and stdout.  The worker code in the child
  is the very code the ``processes`` engine's workers run — ``threading.Thread``,
  ``queue.Queue`` and ``select`` are simply gevent's there, so its C "threads" are
  greenlets.  If the child dies, every URL still gets its record, with the exit status
  and the child's last line of stderr in the detail: nothing is lost.
* One ``urllib3.PoolManager`` with ``maxsize=concurrency, block=True`` keeps one
  keep-alive connection per greenlet.
* The timeout covers a whole attempt (connect, redirects, the last byte of the body):
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

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urljoin

import urllib3

from concur.attempt import Attempt, answer, failure, too_large
from concur.engines.drive_children import Child, ignore_interrupts, serve
from concur.engines.urllib3_errors import classify
from concur.records import CrawlConfig, CrawlResult, ErrorKind

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

    from concur.engines.jobs import Work

__all__ = ["Fetcher", "children", "run_here"]

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


class Fetcher:
    """``fetch(url) -> Attempt`` with urllib3, for greenlets of a patched process."""

    variant: dict[str, Any] = {}

    def __init__(self, config: CrawlConfig, *, redirects: bool, keep_body: bool) -> None:
        import gevent

        hub = gevent.get_hub()
        if not isinstance(hub.resolver, _SharedLookups):
            hub.resolver = _SharedLookups(hub.resolver)
        self._timeout = gevent.Timeout
        self.seconds = config.timeout
        self.limit = config.max_body
        self.redirects = redirects
        self.keep_body = keep_body
        self.headers = {"User-Agent": config.user_agent, **dict(config.headers)}
        self.manager = urllib3.PoolManager(
            maxsize=config.concurrency,  # per host: one keep-alive connection per greenlet
            block=True,  # a greenlet waits for a free connection instead of opening one more
            timeout=None,  # the whole-attempt gevent.Timeout in fetch is the only clock
        )
        # urllib3 follows redirects (or not) but retries nothing else: retries are the job's
        self.policy = urllib3.Retry(
            total=None,
            connect=0,
            read=0,
            status=0,
            other=0,
            redirect=config.max_redirects if redirects else 0,
            raise_on_redirect=redirects,
            raise_on_status=False,
        )

    def fetch(self, url: str) -> Attempt:
        timer = self._timeout(self.seconds)
        timer.start()
        try:
            return self._get(url)
        except self._timeout as exc:
            if exc is not timer:
                raise
            return failure(ErrorKind.TIMEOUT, f"no complete answer within {self.seconds:g} s")
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
            redirect=self.redirects,
            preload_content=False,
        )
        finished = False
        limit = self.limit
        try:
            status = resp.status
            headers = resp.headers
            final = ""
            if resp.retries is not None and resp.retries.history:  # redirects were followed
                hop = resp.retries.history[-1]
                final = urljoin(hop.url or url, hop.redirect_location or "")
            body = bytearray() if self.keep_body else None
            nbytes = 0
            try:
                length = resp.length_remaining
                if length is not None and length <= limit and "content-encoding" not in headers:
                    data = resp.read()  # a small plain body: one read, no chunking
                    nbytes = len(data)
                    if body is not None:
                        body += data
                else:
                    for piece in resp.stream(_CHUNK, decode_content=True):
                        nbytes += len(piece)
                        if nbytes > limit:
                            return too_large(status, limit, final)
                        if body is not None:
                            body += piece
            except Exception as exc:  # the answer began: keep its status and what arrived
                broken = classify(exc)
                kind = ErrorKind.TRUNCATED if broken.error is ErrorKind.RESET else broken.error
                return failure(kind or ErrorKind.OTHER, broken.detail, status, nbytes)
            finished = True
            if body is None:
                return answer(
                    status, nbytes, retry_after=headers.get("Retry-After"), final_url=final
                )
            return answer(
                status,
                nbytes,
                bytes(body),
                headers.get("Content-Type", ""),
                headers.get("Location", ""),
                headers.get("Retry-After"),
                final,
            )
        finally:
            if not finished:
                resp.close()  # a half-read connection must not go back to the pool
            resp.release_conn()

    def close(self) -> None:
        self.manager.clear()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


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


# --- the child process -------------------------------------------------------------------


def children(
    config: CrawlConfig, redirects: bool, keep_body: bool, workers: int
) -> tuple[list[Child], Callable[[bool], None], dict[str, Any]]:
    """Start the patched child: ([it], a reaper, what to add to ``extra``)."""
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the reaper)
    proc = subprocess.Popen(
        [sys.executable, "-P", "-c", _CHILD, str(Path(__file__).resolve().parents[2])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    assert proc.stdin is not None and proc.stdout is not None
    tasks = Connection(os.dup(proc.stdin.fileno()), readable=False)
    results = Connection(os.dup(proc.stdout.fileno()), writable=False)
    proc.stdin.close()
    proc.stdout.close()
    setup = {"config": config.to_dict(), "redirects": redirects, "keep_body": keep_body}
    try:
        tasks.send({**setup, "threads": workers})
    except OSError:
        pass  # it died at once: its results pipe says so
    tail: list[str] = []

    def status() -> str:
        try:
            code = proc.wait(5.0)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        if not tail:
            tail.append(_read_tail(stderr))
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return how + (f": {tail[0]}" if tail[0] else "")

    def reap(kill: bool) -> None:
        if kill and proc.poll() is None:
            proc.kill()
        proc.wait()
        if not tail:
            tail.append(_read_tail(stderr))
        stderr.close()

    return [Child("gevent", tasks, results, workers, status)], reap, {}


def _read_tail(stream: IO[bytes]) -> str:
    """The child's stderr, echoed to ours; returns its last non-empty line."""
    stream.seek(0)
    text = stream.read().decode(errors="replace")
    if text:
        sys.stderr.write(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def child_main() -> None:
    """The child's side; ``patch_all()`` has already run (see :data:`_CHILD`)."""
    ignore_interrupts()
    results = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # a stray print() now goes to stderr, not into the results pipe
    tasks = Connection(0, writable=False)
    try:
        setup = tasks.recv()
        config = CrawlConfig.from_dict(setup["config"])
        with Fetcher(config, redirects=setup["redirects"], keep_body=setup["keep_body"]) as fetcher:
            serve(tasks, results, fetcher, setup["threads"])
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown: the parent is waiting for this exit


def run_here(name: str, work: Work, config: CrawlConfig) -> CrawlResult:
    """Run ``work`` with ``config.concurrency`` greenlets *in this process*.

    Only for a process that has already called ``gevent.monkey.patch_all()`` (an
    experiment that patches its own fresh interpreter): the blocking driver, whose
    threads are greenlets here.
    """
    from concur.engines.drive_threads import run_threads

    return run_threads(name, Fetcher, {}, work, config)
