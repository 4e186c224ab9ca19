"""One attempt at a URL with ``requests``: the fetcher of the serial, threads and processes engines.

The three engines differ only in how many of these attempts run at once and where (one
thread, C threads, P processes of C/P threads); everything about *one* attempt lives
here, once:

* :class:`Fetcher` — ``fetch(url) -> Attempt``: a keep-alive ``requests.Session`` per
  thread (requests does not promise that a Session is thread-safe, psf/requests#2766),
  configured from the :class:`~concur.records.CrawlConfig` (User-Agent, headers,
  redirect cap, no hidden retries, no proxy or ``.netrc`` lookups from the
  environment); it streams the body and stops at ``max_body``;
* :class:`Watchdog` — a whole-request timeout, which requests does not have;
* errors are mapped by :func:`concur.engines.urllib3_errors.classify`, shared with gevent.

Why a watchdog: requests' ``timeout`` bounds each *socket operation* (the connect, then
every single ``recv``), not the request.  A server that sends its headers and then one
byte a second never trips it: ``/drip?bytes=10&duration=3000`` takes 3 s with
``timeout=1``, and so do ten slow redirect hops.  ``CrawlConfig.timeout`` promises
"connect to last byte", as ``aiohttp.ClientTimeout(total=...)`` gives the asyncio engine.
So each attempt arms a deadline with one watchdog thread; when it passes, the watchdog
shuts the attempt's socket down (``shutdown(2)`` wakes a thread blocked in ``recv`` at
once, whatever it is reading) and the attempt becomes a TIMEOUT.  The connection
classes below tell the watchdog which socket the attempt is using, hop by hop, and cap
the connect timeout at the time left.  The watchdog sleeps until the earliest deadline,
so in a healthy crawl it wakes about once per ``timeout`` seconds: arming and disarming
cost a lock and a set operation per attempt.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from types import TracebackType
from typing import Any

import requests
import requests.adapters
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from concur.attempt import Attempt, failure, too_large
from concur.engines.fetcher import (
    BlockingFetcher,
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
from concur.records import CrawlConfig, ErrorKind

__all__ = ["Fetcher", "Watchdog"]

CHUNK = 64 * 1024  # bytes per read of a streamed body


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


class _WatchedHTTPConnection(ResolvingHTTPConnection):
    def connect(self) -> None:
        _enforce(self)
        super().connect()
        _enforce(self)  # expired while connecting: the watchdog saw no socket to shut down

    def request(self, *args: Any, **kwargs: Any) -> None:
        _enforce(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(ResolvingHTTPSConnection):
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
    """requests' adapter with connections that report to the watchdog, made as the
    config says (:class:`~concur.engines.urllib3_errors.PoolManager`: its CAs, ``--resolve``)."""

    pools: dict[str, type[HTTPConnectionPool]] = {"http": _HTTPPool, "https": _HTTPSPool}

    def __init__(self, config: CrawlConfig) -> None:
        # set before requests' __init__, which makes the pool manager (and sets .config)
        self.crawl_config = config
        super().__init__(max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        self._pool_connections, self._pool_maxsize, self._pool_block = connections, maxsize, block
        self.poolmanager = PoolManager(
            self.crawl_config, self.pools, num_pools=connections, maxsize=maxsize, block=block
        )

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """Nothing: requests would give every https connection certifi's bundle
        (``conn.ca_certs``), which urllib3 then loads into the shared context.  The
        config's context alone says what is trusted; ``verify=True`` keeps it required."""


# For WARC records: connections that also remember the header lines they send.


class _SentHTTPConnection(SentHeaders, _WatchedHTTPConnection):
    pass


class _SentHTTPSConnection(SentHeaders, _WatchedHTTPSConnection):
    pass


class _SentHTTPPool(HTTPConnectionPool):
    ConnectionCls = _SentHTTPConnection


class _SentHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _SentHTTPSConnection


class _SentAdapter(_Adapter):
    pools = {"http": _SentHTTPPool, "https": _SentHTTPSPool}


# -- one attempt -------------------------------------------------------------------------


def new_session(config: CrawlConfig) -> requests.Session:
    """A keep-alive session that sends the config's headers (redirects are the job's).

    ``max_retries=0``: urllib3 never retries behind our back, so the server sees exactly
    the attempts the records count (retries are the job's, the same on every engine).
    ``trust_env=False``: no proxy, ``.netrc`` or CA variables read from the environment
    on every request — aiohttp's default too (``$SSL_CERT_FILE`` is read once, by
    :func:`~concur.engines.connect.ssl_context`, as on every engine).  With ``config.warc``
    its connections remember the header lines they send
    (:class:`~concur.engines.urllib3_errors.SentHeaders`).
    """
    session = requests.Session()
    session.trust_env = False
    session.headers["User-Agent"] = config.user_agent
    session.headers.update(dict(config.headers))
    adapter = (_Adapter if config.warc is None else _SentAdapter)(config)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Fetcher(BlockingFetcher):
    """``fetch(url) -> Attempt`` with requests, from any number of threads.

    Each thread gets a session of its own the first time it fetches (a thread-local),
    so one fetcher serves a whole pool; :meth:`close` closes every session it made.
    """

    def __init__(self, config: CrawlConfig, *, keep_body: bool) -> None:
        super().__init__(config, keep_body=keep_body)
        self.watchdog = Watchdog()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        # requests' timeout is per socket operation; the watchdog bounds the whole attempt
        self._socket_timeout = (config.timeout, config.timeout)

    def _session(self) -> requests.Session:
        session = new_session(self.config)
        with self._lock:
            self._sessions.append(session)
        self._local.session = session
        return session

    def fetch(self, url: str) -> Attempt:
        watch = self.watchdog.arm(self.config.timeout)
        _current.watch = watch
        try:
            attempt = self._get(url)
        except Exception as exc:  # mapped to an error kind, never raised further
            attempt = classify(exc)
        finally:
            _current.watch = None
            expired = self.watchdog.disarm(watch)
        if expired:  # whatever the cut socket made the library say, the cause is the deadline
            seconds = self.config.timeout
            return failure(ErrorKind.TIMEOUT, f"no complete answer within {seconds:g} s")
        return attempt

    def _get(self, url: str) -> Attempt:
        session = getattr(self._local, "session", None) or self._session()
        timeout = self._socket_timeout
        with session.get(url, stream=True, timeout=timeout, allow_redirects=False) as resp:
            if self.warc:
                return self._record(resp)
            status = resp.status_code
            headers = resp.headers
            length = headers.get("Content-Length", "")
            if length.isdigit() and int(length) > self.limit and "Content-Encoding" not in headers:
                return too_large(status, self.limit)  # announced: no need to read it
            try:  # decompressed, as aiohttp's
                got = collect(resp.iter_content(CHUNK), self.limit, self.keep_body)
            except Exception as exc:  # the answer began: keep its status
                return broke_off(classify(exc), status)
            if got is None:
                return too_large(status, self.limit)
            # resp.headers joins repeated headers with ", "; urllib3's response has them all
            return answered(status, got, headers.get, lambda: urllib3_headers(resp.raw))

    def _record(self, resp: requests.Response) -> Attempt:
        """The answer as received, for a WARC record: urllib3's stream, not decoded."""
        status = resp.status_code
        headers = resp.headers
        raw = resp.raw
        payload = Payload(self.limit, self.keep_body, headers.get("Content-Encoding"))
        try:
            got = fill(raw.stream(CHUNK, decode_content=False), payload)
        except Exception as exc:  # the answer began: keep its status
            return broke_off(classify(exc), status)
        if got is None:
            return too_large(status, self.limit)
        # The lines the connection put, Host first; requests' resp.request.headers would
        # miss the Host that http.client adds.  The watch knows this attempt's connection.
        watch: Watch | None = getattr(_current, "watch", None)
        sent = getattr(watch.conn, "sent", ()) if watch is not None else ()
        lines = urllib3_headers(raw)
        return recorded(status, got, headers.get, lines, sent, resp.reason or "")

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self.watchdog.close()
