"""HTTP/1.1 on asyncio protocols, parsed by httptools: one connection, and a keep-alive pool.

This is the whole of an HTTP client below the API people call: what ``aiohttp``,
``httpx`` and the rest do between the event loop and the socket, without their layers.
The event loop calls :meth:`Connection.data_received` with bytes; httptools' C parser
calls back ``on_status``, ``on_header``, ``on_body``, ``on_message_complete``; the task
that sent the request waits on **one** future until there is something for it.  No
lock, no task per connection, no stream object, no cancel scope.

Two users share it, so there is one implementation of HTTP/1.1 in concur, not two:

* the **protocol engine** (:mod:`concur.engines.protocol_engine`) waits for a whole
  answer: the body is gathered here, within ``max_body``, and the task wakes once per
  request (it awaits :attr:`Connection.waiter` in its own frame: no coroutine between);
* **httpx's transport** (:class:`concur.engines.httpx_engine.ConcurTransport`) streams:
  it waits for the head (:meth:`Connection.answer_head`), then takes the body a piece at
  a time (:meth:`Connection.next_chunk`), with reading paused while too much is
  buffered.

Errors are this module's own (:class:`HTTPFailure` and kin), carrying the operating
system's error as their cause; each user maps them to its vocabulary (an error kind,
httpx's exceptions).

:class:`Pool` keeps idle keep-alive connections per origin (a dict of stacks: O(1) to
take and return one), opens new ones where ``--resolve`` says (:mod:`.connect`), over
TLS with concur's one context, and looks names up through the event loop's
``getaddrinfo`` with a cache (five minutes, as aiohttp's connector), one lookup per name
however many requests wait for it.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import ssl
import time
from collections.abc import Callable

import httptools

from concur.attempt import one_line
from concur.engines.connect import resolved, ssl_context
from concur.records import CrawlConfig

__all__ = [
    "Connection",
    "HTTPFailure",
    "Malformed",
    "Pool",
    "Truncated",
    "Unanswered",
]

DNS_TTL = 300.0  # seconds a looked-up address is reused


class HTTPFailure(Exception):
    """An exchange that went wrong after the connection was made."""


class Malformed(HTTPFailure):
    """A response no HTTP parser accepts (or bytes nobody asked for)."""


class Unanswered(HTTPFailure):
    """The connection closed before the status line came."""


class Truncated(HTTPFailure):
    """The body stopped short of its end (its length, its last chunk)."""


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one exchange at a time.

    ``start(head)`` sends a request; then either wait until :attr:`complete` or
    :attr:`over` (the whole body, up to ``limit`` bytes), awaiting a fresh
    :attr:`waiter` each time, or await :meth:`answer_head` and :meth:`next_chunk`.
    After the exchange, :attr:`reusable` says whether the connection may carry another.
    """

    HIGH_WATER = 1 << 20  # buffered body bytes before reading pauses (streaming)

    __slots__ = (
        "_loop",
        "_tls",
        "_parser",
        "_transport",
        "waiter",
        "_paused",
        "_stream",
        "_limit",
        "in_use",
        "closed",
        "status",
        "reason",
        "headers",
        "chunks",
        "_buffered",
        "received",
        "complete",
        "over",
        "keep_alive",
        "error",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, tls: bool = False) -> None:
        self._loop = loop
        self._tls = tls
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        # the future the requesting task awaits; resolved when there is something for it
        self.waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._stream = False
        self._limit = 0
        self.in_use = True  # by the request that opened it
        self.closed = False
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: collections.deque[bytes] = collections.deque()
        self._clear()

    def _clear(self) -> None:
        """Ready for the next exchange (the containers are emptied, not made anew)."""
        self.status: int | None = None
        self.reason = b""
        self.headers.clear()
        self.chunks.clear()
        self._buffered = 0  # body bytes received and not yet taken (streaming)
        self.received = 0  # body bytes received in all
        self.complete = False
        self.over = False  # the body passed the limit: stop (the connection is dropped)
        self.keep_alive = False
        self.error: BaseException | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if not self.in_use:  # bytes nobody asked for (a 408 before an idle close, say)
            self.error = Malformed("data on an idle connection")
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # 101 Switching Protocols: not HTTP/1.1 any more
            self.fail(Malformed("the server switched protocols"))
            self.close()
        except httptools.HttpParserError as exc:
            error = Malformed(f"malformed response: {' '.join(str(exc).split())}")
            error.__cause__ = exc
            self.fail(error)
            self.close()

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost tells the waiter

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._transport = None
        if not self.in_use or self.complete or self.error is not None or self.over:
            self._wake()
            return
        if self.status is not None and exc is None and self._until_close():
            self.complete = True  # the close is the end of this body
            self._wake()
            return
        error: HTTPFailure
        if self.status is None:  # the request went unanswered
            error = Unanswered(
                "the server closed the connection without answering"
                if exc is None
                else f"the connection broke before an answer: {one_line(exc)}"
            )
        else:  # the answer began and its body stopped short
            error = Truncated(f"the body ended early ({self._received_text()})")
        error.__cause__ = exc
        self.fail(error)

    def pause_writing(self) -> None:  # a request head never fills the buffer
        pass

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks ---------------------------------------------------------------

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): wait for the real one
            return
        self.status = status
        if self._stream:
            self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        n = len(body)
        self.received += n
        if self._stream:
            self._buffered += n
            if self._buffered > self.HIGH_WATER and not self._paused:
                transport = self._transport
                if transport is not None:
                    self._paused = True  # until the reader catches up: memory stays bounded
                    transport.pause_reading()
            self._wake()
        elif self.received > self._limit and not self.over:
            self.over = True  # what came is dropped with the connection: no more reading
            self._wake()

    def on_message_complete(self) -> None:
        if self.status is None:  # the end of an interim answer
            self.reason = b""
            self.headers.clear()
            return
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive()
        self._wake()

    # -- the requesting task's side --------------------------------------------------------

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self._wake()

    async def _wait(self) -> None:
        self.waiter = waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            self.waiter = None

    def _until_close(self) -> bool:
        """Whether this answer's body is delimited by the end of the connection."""
        return self.status not in (204, 304) and not any(
            (name.lower() == b"content-length")
            or (name.lower() == b"transfer-encoding" and value.lower().endswith(b"chunked"))
            for name, value in self.headers
        )

    def _received_text(self) -> str:
        for name, value in self.headers:
            if name.lower() == b"content-length":
                return f"received {self.received} of {value.decode('latin-1')} bytes"
        return f"received {self.received} bytes of an unfinished body"

    def start(self, head: bytes, limit: int = 0, *, stream: bool = False) -> None:
        """Send one request (its head, and body if any, as bytes).

        ``stream``: the reader takes the body with :meth:`next_chunk`; otherwise it is
        gathered here, and past ``limit`` bytes the exchange stops (:attr:`over`).
        """
        self._clear()
        self.in_use = True
        self._stream = stream
        self._limit = limit
        transport = self._transport
        if transport is None:
            raise Unanswered("the connection closed before the request went out")
        transport.write(head)

    async def answer_head(self) -> None:
        """Wait for the status line and headers (streaming)."""
        while self.status is None:
            if self.error is not None:
                raise self.error
            await self._wait()

    async def next_chunk(self) -> bytes:
        """The next piece of the body, ``b""`` at its end (streaming)."""
        while True:
            if self.chunks:
                chunk = self.chunks.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered <= self.HIGH_WATER // 4:
                    self._paused = False
                    if self._transport is not None:
                        self._transport.resume_reading()
                if chunk:
                    return chunk
                continue
            if self.complete:
                return b""
            if self.error is not None:
                raise self.error
            await self._wait()

    @property
    def reusable(self) -> bool:
        """Whether the exchange ended cleanly and the connection may carry another."""
        return (
            self.complete
            and self.keep_alive
            and self.error is None
            and not self.over
            and self.is_open
        )

    @property
    def is_open(self) -> bool:
        transport = self._transport
        return not self.closed and transport is not None and not transport.is_closing()

    def idle(self) -> None:
        self.in_use = False

    def close(self) -> None:
        """Close now.  TLS's graceful close would wait for the peer's ``close_notify``
        (up to asyncio's 30 s ``ssl_shutdown_timeout``), a wait that can outlive the
        run's loop and leak the socket; a connection closed here has nothing left to
        say, so a TLS one is aborted: the socket closes on the loop's next turn."""
        transport = self._transport
        if transport is not None:
            if self._tls:
                transport.abort()
            else:
                transport.close()


class LeanConnection(Connection):
    """A :class:`Connection` that does not keep the reason phrase (``OK`` ...).

    httptools calls only the callbacks a protocol has, and each call into Python costs;
    nothing but a WARC record needs the reason, so the others go without.
    """

    __slots__ = ()
    on_status = None  # type: ignore[assignment]


Key = tuple[str, str, int]  # (scheme, host, port)


class Pool:
    """Idle keep-alive connections per origin, and new ones made where ``config`` says.

    At most ``max_idle`` idle connections are kept in all; a connection belongs to one
    exchange until :meth:`release` takes it back.
    """

    def __init__(self, config: CrawlConfig, max_idle: int = 100) -> None:
        self.config = config
        self.max_idle = max_idle
        self.idle: dict[Key, list[Connection]] = {}
        self.n_idle = 0
        self._tls: ssl.SSLContext | None = None  # made on the first https URL, not before
        self._dns: dict[tuple[str, int], tuple[float, list[tuple[int, str]]]] = {}
        self._pending: dict[tuple[str, int], asyncio.Future[list[tuple[int, str]]]] = {}

    def take(self, key: Key) -> Connection | None:
        """An idle connection to ``key``'s origin, or None."""
        stack = self.idle.get(key)
        while stack:
            conn = stack.pop()
            self.n_idle -= 1
            if conn.is_open and conn.error is None:
                return conn
        return None

    def release(self, key: Key, conn: Connection) -> None:
        """Keep ``conn`` for the next request to its origin, or close it if it cannot serve one."""
        if conn.reusable and self.n_idle < self.max_idle:
            conn.idle()
            stack = self.idle.get(key)
            if stack is None:
                self.idle[key] = [conn]
            else:
                stack.append(conn)
            self.n_idle += 1
        else:
            conn.close()

    async def connect(
        self, key: Key, factory: Callable[[asyncio.AbstractEventLoop, bool], Connection]
    ) -> Connection:
        """A new connection to ``key``'s origin: its ``--resolve`` address if it has one,
        else the addresses DNS gives, tried in order; TLS's server name and the
        certificate check keep the host.  Raises the OS (or TLS) error of the last try."""
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl_context(self.config)  # offers HTTP/1.1 by ALPN
            tls = self._tls
        target = resolved(self.config, host, port)  # the host itself without --resolve
        addresses = await self._addresses(loop, target, port)
        error: BaseException | None = None
        for family, address in addresses:
            try:
                _, conn = await loop.create_connection(
                    lambda: factory(loop, tls is not None),
                    address,
                    port,
                    family=family,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                )
            except (OSError, ssl.SSLError) as exc:
                error = exc
                if isinstance(exc, ssl.SSLError):  # the handshake, not the address: no retry
                    break
                continue
            return conn
        assert error is not None
        raise error

    async def _addresses(
        self, loop: asyncio.AbstractEventLoop, host: str, port: int
    ) -> list[tuple[int, str]]:
        """``host``'s addresses as (family, address): a literal as it is, a name looked
        up once per ``DNS_TTL`` through the loop, concurrent askers sharing one lookup."""
        literal = _literal(host)
        if literal is not None:
            return [(literal, host)]
        key = (host, port)
        now = time.monotonic()
        cached = self._dns.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[list[tuple[int, str]]] = loop.create_future()
        self._pending[key] = future
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found = list(dict.fromkeys((int(info[0]), str(info[4][0])) for info in infos))
            self._dns[key] = (now + DNS_TTL, found)
            future.set_result(found)
            return found
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning if nobody waits
            raise
        finally:
            del self._pending[key]

    def close(self) -> None:
        """Close every idle connection."""
        for stack in self.idle.values():
            for conn in stack:
                conn.close()
        self.idle.clear()
        self.n_idle = 0


def _literal(host: str) -> int | None:
    """The address family of an IP literal, None for a name."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family
    return None
