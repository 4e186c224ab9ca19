"""What the serial, threads and processes engines share: one attempt at a URL with ``requests``.

The three engines differ only in how many of these attempts run at once and where;
everything about *one* attempt lives here, once:

* :func:`new_session` — a keep-alive ``requests.Session`` configured from the
  :class:`~concur.records.CrawlConfig` (User-Agent, headers, redirect cap, no hidden
  retries, no proxy or ``.netrc`` lookups from the environment);
* :class:`Fetcher` — ``fetch_once(url) -> Outcome`` for :func:`~concur.engines.base.fetch_sync`:
  streams the body, stops at ``max_body`` (TOO_LARGE), follows redirects;
* :func:`classify` — the one place that maps requests/urllib3/http.client exceptions
  to :class:`~concur.records.ErrorKind`;
* :class:`Watchdog` — a whole-request timeout, which requests does not have.

Why a watchdog: requests' ``timeout`` bounds each *socket operation* (the connect, then
every single ``recv``), not the request.  A server that sends its headers and then one
byte a second never trips it: ``/drip?bytes=10&duration=3000`` takes 3 s with
``timeout=1``, and so do ten slow redirect hops.  ``CrawlConfig.timeout`` promises
"connect to last byte", as ``aiohttp.ClientTimeout(total=...)`` gives the asyncio engine.
So each attempt arms a deadline with one watchdog thread; when it passes, the watchdog
shuts the attempt's socket down (``shutdown(2)`` wakes a thread blocked in ``recv`` at
once, whatever it is reading) and the attempt becomes a TIMEOUT record.  The connection
classes below tell the watchdog which socket the attempt is using, hop by hop, and cap
the connect timeout at the time left.  The watchdog sleeps until the earliest deadline,
so in a healthy crawl it wakes about once per ``timeout`` seconds: arming and disarming
cost a lock and a set operation per attempt.
"""

from __future__ import annotations

import errno
import http.client
import math
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Protocol

import requests
import requests.adapters
import urllib3.exceptions
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from concur.crawl.frontier import Job
from concur.crawl.scheduler import Page
from concur.engines.base import Outcome, one_line, outcome_for_status
from concur.records import CrawlConfig, ErrorKind

CHUNK = 64 * 1024  # bytes per read of a streamed body


class Gauge(Protocol):
    """What :class:`Fetcher` needs from an in-flight counter (``base.InFlight`` or a shared one)."""

    def enter(self) -> None: ...

    def leave(self) -> None: ...


# -- the whole-request deadline ----------------------------------------------------------


class Watch:
    """The deadline of one attempt and the connection it is using right now."""

    __slots__ = ("deadline", "conn", "expired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.conn: HTTPConnection | None = None
        self.expired = False

    def cut(self) -> None:
        """Called by the watchdog (under its lock) when the deadline has passed."""
        self.expired = True
        sock = getattr(self.conn, "sock", None)
        if sock is not None:
            try:  # the plain socket's shutdown, also under a TLS socket: it acts on the fd
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:  # already closed by its thread
                pass


class Watchdog:
    """One thread that enforces the deadlines of the attempts of a run (or of a process).

    Use as a context manager; the thread starts at the first :meth:`arm` and stops on exit.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._armed: set[Watch] = set()
        self._wake_at = math.inf  # when the thread will look next (inf: asleep until notified)
        self._closing = False
        self._thread: threading.Thread | None = None

    def arm(self, timeout: float) -> Watch:
        watch = Watch(time.perf_counter() + timeout)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="watchdog", daemon=True)
                self._thread.start()
            self._armed.add(watch)
            if watch.deadline < self._wake_at:  # sooner than the thread planned to look
                self._wake_at = watch.deadline
                self._cond.notify()
        return watch

    def disarm(self, watch: Watch) -> bool:
        """Forget ``watch``; True if its deadline passed first (the attempt timed out)."""
        with self._cond:
            self._armed.discard(watch)
            return watch.expired

    def _loop(self) -> None:
        with self._cond:
            while not self._closing:
                now = time.perf_counter()
                nearest = math.inf
                for watch in list(self._armed):
                    if watch.deadline <= now:
                        self._armed.discard(watch)
                        watch.cut()
                    elif watch.deadline < nearest:
                        nearest = watch.deadline
                self._wake_at = nearest
                self._cond.wait(None if nearest == math.inf else nearest - now)

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Watchdog:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


_current = threading.local()  # .watch: the Watch of the attempt this thread is making


class _DeadlineExceeded(TimeoutError):
    """Raised inside urllib3 when a hop starts after the attempt's deadline."""


def _enforce(conn: HTTPConnection) -> None:
    """Tell this thread's watch which connection the attempt uses; cap the connect timeout."""
    watch: Watch | None = getattr(_current, "watch", None)
    if watch is None:
        return
    watch.conn = conn
    if watch.expired:  # the deadline passed between hops or while the socket was connecting
        raise _DeadlineExceeded("the request's deadline passed")
    left = watch.deadline - time.perf_counter()
    if isinstance(conn.timeout, int | float):
        conn.timeout = max(0.001, min(conn.timeout, left))


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        _enforce(self)
        super().connect()
        _enforce(self)  # expired while connecting: the watchdog saw no socket to shut down

    def request(self, *args: Any, **kwargs: Any) -> None:
        _enforce(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        _enforce(self)
        super().connect()
        _enforce(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _enforce(self)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter with connections that report to the watchdog."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


# -- one attempt -------------------------------------------------------------------------


def new_session(config: CrawlConfig) -> requests.Session:
    """A keep-alive session that sends the config's headers and follows its redirect cap.

    ``max_retries=0``: urllib3 never retries behind our back, so the server sees exactly
    the attempts the records count (retries are :func:`~concur.engines.base.fetch_sync`'s
    job, the same on every engine).  ``trust_env=False``: no proxy, ``.netrc`` or CA
    variables read from the environment on every request — aiohttp's default too.
    """
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = config.max_redirects
    session.headers["User-Agent"] = config.user_agent
    session.headers.update(dict(config.headers))
    adapter = _Adapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Fetcher:
    """``fetch_once(url) -> Outcome`` on a session of its own: one per thread that fetches.

    requests does not promise that a ``Session`` is thread-safe (psf/requests#2766), so
    threads never share one.
    """

    def __init__(self, config: CrawlConfig, watchdog: Watchdog, gauge: Gauge) -> None:
        self.config = config
        self.watchdog = watchdog
        self.gauge = gauge
        self.session = new_session(config)
        # requests' timeout is per socket operation; the watchdog bounds the whole attempt
        self._socket_timeout = (config.timeout, config.timeout)

    def __call__(self, url: str) -> Outcome:
        self.gauge.enter()
        watch = self.watchdog.arm(self.config.timeout)
        _current.watch = watch
        try:
            outcome = self._get(url)
        except Exception as exc:  # mapped to a record, never raised further
            outcome = classify(exc)
        finally:
            _current.watch = None
            expired = self.watchdog.disarm(watch)
            self.gauge.leave()
        if expired:  # whatever the cut socket made the library say, the cause is the deadline
            return Outcome(
                error=ErrorKind.TIMEOUT,
                detail=f"no complete answer within {self.config.timeout:g} s",
            )
        return outcome

    def _get(self, url: str) -> Outcome:
        limit = self.config.max_body
        with self.session.get(url, stream=True, timeout=self._socket_timeout) as resp:
            final = resp.url if resp.history else ""
            length = resp.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > limit and "Content-Encoding" not in resp.headers:
                return _too_large(resp.status_code, limit, final)  # announced: no need to read it
            nbytes = 0
            for piece in resp.iter_content(CHUNK):  # decompressed, as aiohttp's auto_decompress
                nbytes += len(piece)
                if nbytes > limit:
                    return _too_large(resp.status_code, limit, final)
            outcome = outcome_for_status(resp.status_code, nbytes, final)
            outcome.retry_after = resp.headers.get("Retry-After")
            return outcome

    def page(self, job: Job) -> Page:
        """Crawl mode: one fetch of ``job.url`` as a :class:`~concur.crawl.Page`, redirects off."""
        self.gauge.enter()
        watch = self.watchdog.arm(self.config.timeout)
        _current.watch = watch
        try:
            page = self._get_page(job.url)
        except Exception as exc:  # mapped to the page's error kind, never raised further
            outcome = classify(exc)
            page = Page(outcome.status, None, outcome.nbytes, error=outcome.error)
            page.detail = outcome.detail
        finally:
            _current.watch = None
            expired = self.watchdog.disarm(watch)
            self.gauge.leave()
        if expired:
            detail = f"no complete answer within {self.config.timeout:g} s"
            return Page(error=ErrorKind.TIMEOUT, detail=detail)
        return page

    def _get_page(self, url: str) -> Page:
        limit = self.config.max_body
        timeout = self._socket_timeout
        with self.session.get(url, stream=True, timeout=timeout, allow_redirects=False) as resp:
            headers = resp.headers
            status = resp.status_code
            ctype = headers.get("Content-Type", "")
            body = bytearray()
            for piece in resp.iter_content(CHUNK):
                body += piece
                if len(body) > limit:
                    detail = f"body over {limit} bytes"
                    return Page(
                        status, None, limit, ctype, error=ErrorKind.TOO_LARGE, detail=detail
                    )
            location = headers.get("Location", "")
            return Page(status, bytes(body), len(body), ctype, location, headers.get("Retry-After"))

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _too_large(status: int, limit: int, final: str) -> Outcome:
    return Outcome(status, limit, ErrorKind.TOO_LARGE, f"body over {limit} bytes", None, final)


# -- errors ------------------------------------------------------------------------------


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: its cause and context, ``.reason``, exceptions in ``.args``.

    requests wraps urllib3, which wraps http.client and socket errors, each layer in its
    own way (``ConnectionError(MaxRetryError(reason=NewConnectionError(...)))``); the
    innermost error is the informative one.
    """
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 20:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        inner = [getattr(e, "reason", None), e.__cause__, e.__context__, *e.args]
        todo += [x for x in inner if isinstance(x, BaseException)]


def classify(exc: BaseException) -> Outcome:
    """Map a requests/urllib3/http.client exception to concur's error kinds (the one place)."""
    chain = list(_causes(exc))
    os_errors = [x for x in chain if isinstance(x, OSError) and not _wrapper(x)]

    def find(*types: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, types)), None)

    def outcome(kind: ErrorKind, cause: BaseException | None = None) -> Outcome:
        return Outcome(error=kind, detail=one_line(cause if cause is not None else exc))

    if e := find(*_INVALID_URL):
        return outcome(ErrorKind.INVALID_URL, e)
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return outcome(ErrorKind.OTHER)
    # before timeouts: urllib3's NewConnectionError subclasses ConnectTimeoutError
    if e := find(socket.gaierror) or find(urllib3.exceptions.NameResolutionError):
        return outcome(ErrorKind.DNS, e)
    if e := find(ConnectionRefusedError):
        return outcome(ErrorKind.REFUSED, e)
    timeouts = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
    if e := next((x for x in chain if isinstance(x, timeouts) and not _is_new_conn(x)), None):
        return outcome(ErrorKind.TIMEOUT, e)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):  # broke off inside the body
        bad = find(urllib3.exceptions.InvalidChunkLength)
        if bad is not None and getattr(bad, "length", b"").strip():
            return outcome(ErrorKind.PROTOCOL, bad)  # a chunk size line that is not one
        cause = find(http.client.IncompleteRead) or (os_errors[0] if os_errors else None)
        return outcome(ErrorKind.TRUNCATED, cause)
    if e := find(http.client.RemoteDisconnected):  # closed before a status line: a subclass
        return outcome(ErrorKind.RESET, e)  # of BadStatusLine, so it is tested first
    if e := find(http.client.HTTPException, urllib3.exceptions.DecodeError):
        return outcome(ErrorKind.PROTOCOL, e)  # BadStatusLine, LineTooLong, bad gzip...
    if e := next((x for x in os_errors if x.errno in _RESET_ERRNOS), None):
        return outcome(ErrorKind.RESET, e)
    if e := find(requests.exceptions.SSLError, urllib3.exceptions.NewConnectionError):
        return outcome(ErrorKind.CONNECT, e)  # TLS handshake, unreachable network...
    if isinstance(exc, requests.exceptions.ConnectionError) or os_errors:
        return outcome(ErrorKind.CONNECT, os_errors[-1] if os_errors else exc)
    return outcome(ErrorKind.OTHER)  # InvalidHeader, a bug: the detail says which


_INVALID_URL = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.URLRequired,
    urllib3.exceptions.LocationValueError,
)
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE})


def _is_new_conn(e: BaseException) -> bool:
    return isinstance(e, urllib3.exceptions.NewConnectionError)


def _wrapper(e: BaseException) -> bool:
    """requests' exceptions are OSErrors too, but they only wrap the real one."""
    return isinstance(e, requests.exceptions.RequestException)
