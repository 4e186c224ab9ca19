"""asyncio + httpx: the asyncio engine's model with httpx's ``AsyncClient`` instead of aiohttp.

What it teaches: the concurrency model is not the whole story — a client library's own
bookkeeping can cost more than the network.  The model is exactly the ``asyncio``
engine's: ``concurrency`` worker tasks on one thread pull URLs from a shared iterator and
switch at ``await``.  Only the HTTP client differs, so any gap between them is the client's.

What to look for: the transport, the part of httpx that owns connections.  With httpx's
stock transport (httpcore 1.0.9) one ``AsyncClient`` with a 100-connection pool takes
11.5-12.5 s for the book's experiment (1,000 x 100 ms, 100 in flight; ideal 1.0 s), at
~11 ms of CPU per request.  Every request start and end runs a pass over the whole pool
(an O(connections^2) keep-alive count, a socket poll per idle connection), and an idle
connection is handed to *every* waiting request, the losers retrying the pass: 7.4 passes
per request measured (encode/httpx#3215; encode/httpcore#1035, #1000, #822, #928).  A
client per worker removes the pool's part (1.3-1.6 s); what is left, ~420-800 us of CPU per
request against aiohttp's ~110 — anyio locks that yield to the loop even when free, a
cancel scope per read, a failed ``import sniffio`` per lock (encode/httpcore#1103) — still
stalls each wave of responses.  So this engine keeps httpx's client (URLs, headers,
redirects, cookies, decompression, exceptions) and plugs in, through httpx's public
transport interface, :class:`ConcurTransport`: one ``asyncio.Protocol`` per connection,
httptools' C parser, an O(1) keep-alive pool.  That runs the experiment as fast as the
asyncio engine (~120 us of CPU per request).  The numbers and how they were taken are in
``docs/httpx.md``; the engine option ``transport`` — ``pool`` (the slow setup) or
``per-worker`` (the best stock one), ``concur crawl --impl httpx --transport pool`` —
runs this engine on httpcore, to see it for yourself.

Where connections go and what they trust (:mod:`concur.engines.connect`) is the same on
every transport: concur's one TLS context, and ``--resolve`` applied where a connection
is opened (:meth:`ConcurTransport._connect`; httpcore's network backend for the stock
ones, :class:`_Resolving`), so the URL, ``Host``, SNI and the certificate keep the name.

Compare with: ``asyncio`` (same model, aiohttp: the CPU per request is the client's
difference), ``uvloop`` (a faster loop under the same model) and ``threads``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpcore
import httpx

from concur.attempt import Attempt, failure, one_line, too_large
from concur.engines.connect import is_certificate_error, resolved, ssl_context
from concur.engines.fetcher import (
    AsyncFetcher,
    Payload,
    acollect,
    afill,
    answered,
    broke_off,
    latin1,
    recorded,
)
from concur.engines.http1 import (
    Connection,
    HTTPFailure,
    Key,
    Malformed,
    Pool,
    Truncated,
    Unanswered,
)
from concur.engines.oserrors import RESET_ERRNOS
from concur.records import CrawlConfig, ErrorKind

__all__ = ["ConcurTransport", "Fetcher", "classify"]

_SPENT = httpx.ByteStream(b"")  # what a read and closed response's stream becomes
_TRUNCATED_TEXT = "peer closed connection without sending complete message body"
_NO_RESPONSE_TEXT = "Server disconnected without sending a response."


# --- errors: the one place that knows httpx's exceptions --------------------------------


def _os_error(exc: BaseException) -> OSError | None:
    """The operating-system error under ``exc``, following causes and exception groups."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and (e.errno is not None or isinstance(e, socket.gaierror)):
            return e
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)
        for nxt in (e.__cause__, e.__context__):
            if nxt is not None:
                todo.append(nxt)
    return None


def classify(exc: BaseException) -> Attempt:
    """Map an httpx/asyncio exception to concur's error kinds (stock or concur transport)."""
    detail = one_line(exc)
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return failure(ErrorKind.TIMEOUT, detail)
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return failure(ErrorKind.INVALID_URL, detail)
    if isinstance(exc, httpx.ConnectError | ssl.SSLError) and is_certificate_error(exc):
        return failure(ErrorKind.CERTIFICATE, detail)  # not trusted for its name: no retry
    if isinstance(exc, httpx.ConnectError):
        os_error = _os_error(exc)
        text = str(exc).lower()
        if isinstance(os_error, socket.gaierror) or "name or service not known" in text:
            return failure(ErrorKind.DNS, detail)
        if isinstance(os_error, ConnectionRefusedError) or "connection refused" in text:
            return failure(ErrorKind.REFUSED, detail)
        return failure(ErrorKind.CONNECT, detail)
    if isinstance(exc, httpx.RemoteProtocolError):
        text = str(exc)
        if _TRUNCATED_TEXT in text:  # the answer began, its body did not finish
            return failure(ErrorKind.TRUNCATED, detail)
        if "disconnected without sending a response" in text:  # closed before answering
            return failure(ErrorKind.RESET, detail)
        return failure(ErrorKind.PROTOCOL, detail)
    if isinstance(exc, httpx.DecodingError):  # a body its Content-Encoding cannot decode
        return failure(ErrorKind.PROTOCOL, detail)
    if isinstance(exc, httpx.NetworkError | OSError):  # read, write or close failed
        os_error = _os_error(exc)
        if os_error is None or os_error.errno in RESET_ERRNOS:
            return failure(ErrorKind.RESET, detail)
        return failure(ErrorKind.CONNECT, detail)
    if isinstance(exc, ssl.SSLError):
        return failure(ErrorKind.CONNECT, detail)
    if isinstance(exc, httpx.TooManyRedirects | httpx.HTTPError | httpx.StreamError | ValueError):
        return failure(ErrorKind.OTHER, detail)
    raise exc


# --- the transport: httpx's interface on concur's HTTP/1.1 connections (engines/http1) ---


def _httpx_error(exc: BaseException, request: httpx.Request) -> BaseException:
    """:mod:`.http1`'s errors as httpx's, with httpcore's messages (``classify`` reads them)."""
    error: httpx.HTTPError
    if isinstance(exc, Unanswered):
        cause = exc.__cause__
        error = (
            httpx.ReadError(one_line(cause), request=request)
            if isinstance(cause, OSError)
            else httpx.RemoteProtocolError(_NO_RESPONSE_TEXT, request=request)
        )
    elif isinstance(exc, Truncated):
        error = httpx.RemoteProtocolError(f"{_TRUNCATED_TEXT} ({exc})", request=request)
    elif isinstance(exc, Malformed):
        error = httpx.RemoteProtocolError(str(exc), request=request)
    else:
        return exc
    error.__cause__ = exc.__cause__ or exc
    return error


class _Body(httpx.AsyncByteStream):
    """A response body: chunks straight from the connection; closing hands the connection back.

    An iterator class rather than an async generator: the event loop registers every
    async generator in a weak set as it starts, a cost paid per response otherwise.
    """

    def __init__(
        self, transport: ConcurTransport, key: Key, conn: Connection, request: httpx.Request
    ) -> None:
        self._transport = transport
        self._key = key
        self._conn: Connection | None = conn
        self._request = request

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._conn is None:
            raise httpx.StreamClosed()
        try:
            chunk = await self._conn.next_chunk()
        except HTTPFailure as exc:
            raise _httpx_error(exc, self._request) from exc.__cause__
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._transport.release(self._key, conn)


class _Cookies(httpx.Cookies):
    """httpx's cookie store, skipping the work for answers that set no cookie.

    ``AsyncClient`` hands every response to ``Cookies.extract_cookies``, which builds
    urllib request and response adapters first (~30 us) — for nothing when there is no
    ``Set-Cookie`` header, as in most crawls.  Same cookies, kept the same way.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            super().extract_cookies(response)


class ConcurTransport(httpx.AsyncBaseTransport):
    """A lean HTTP/1.1 transport for ``httpx.AsyncClient``: GET and small bodies, no proxies.

    The connections and their pool are :mod:`concur.engines.http1`'s, the protocol
    engine's own: one ``asyncio.Protocol`` per connection, httptools' parser, an O(1)
    keep-alive pool (a dict from origin to a stack of idle connections), at most
    ``max_idle`` idle connections.  A connection belongs to one request until its body
    is closed.  Timeouts are the caller's (``asyncio.timeout`` around the whole
    request); cancellation closes the connection.  ``config`` says where connections go
    and what they trust (``resolve``, ``ca_file``).
    """

    def __init__(self, max_idle: int = 100, *, config: CrawlConfig | None = None) -> None:
        self._pool = Pool(config if config is not None else CrawlConfig(), max_idle)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}", request=request)
        if request.method in ("HEAD", "CONNECT"):
            raise httpx.UnsupportedProtocol(f"{request.method} is not supported by this transport")
        key = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        body = await request.aread()
        head = self._head(request)
        pool = self._pool
        conn = pool.take(key)
        if conn is None:
            try:
                conn = await pool.connect(key, Connection)
            except (OSError, ssl.SSLError) as exc:  # refused, unreachable, DNS, TLS handshake
                raise httpx.ConnectError(one_line(exc), request=request) from exc
        try:
            conn.start(head + body if body else head, stream=True)
            await conn.answer_head()
        except HTTPFailure as exc:
            conn.close()
            raise _httpx_error(exc, request) from exc.__cause__
        except BaseException:
            conn.close()
            raise
        return httpx.Response(
            conn.status or 0,
            headers=conn.headers,
            stream=_Body(self, key, conn, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": conn.reason},
        )

    @staticmethod
    def _head(request: httpx.Request) -> bytes:
        lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
        lines += [b"%s: %s" % (name, value) for name, value in request.headers.raw]
        lines.append(b"\r\n")
        return b"\r\n".join(lines)

    def release(self, key: Key, conn: Connection) -> None:
        """Keep ``conn`` for the next request to its origin, or close it if it cannot serve one."""
        self._pool.release(key, conn)

    async def aclose(self) -> None:
        self._pool.close()
        await asyncio.sleep(0)  # let the loop run connection_lost: the sockets close now


# --- httpx's stock transports: --resolve in httpcore's network backend -------------------


class _Resolving(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with curl's ``--resolve``: a TCP connection to a listed
    host and port goes to its address.  httpcore keys its pool by the URL's origin and
    passes the URL's host to TLS, so the name is kept everywhere else."""

    def __init__(self, config: CrawlConfig, backend: httpcore.AsyncNetworkBackend) -> None:
        self._config = config
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        address = resolved(self._config, host, port)
        return await self._backend.connect_tcp(
            address, port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        return await self._backend.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def _stock(config: CrawlConfig, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's own transport, trusting concur's TLS context and honouring ``--resolve``.

    httpx has no public way to reach httpcore's network backend: the pool is the
    transport's ``_pool`` and its backend the pool's ``_network_backend`` (httpx 0.27-0.28
    on httpcore 1.0).  Without them ``--resolve`` is refused rather than ignored: a
    crawl that silently asked DNS instead would mislead.
    """
    stock = httpx.AsyncHTTPTransport(verify=ssl_context(config), limits=limits, trust_env=False)
    if config.resolve:
        pool = getattr(stock, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if not isinstance(backend, httpcore.AsyncNetworkBackend):
            raise ValueError(
                "--resolve with httpx's stock transport needs httpx <= 0.28 and httpcore 1.0;"
                " use the default transport (concur)"
            )
        pool._network_backend = _Resolving(config, backend)  # type: ignore[union-attr]
    return stock


# --- the engine: a fetcher on httpx's client ----------------------------------------------


def _clients(config: CrawlConfig, transport: str) -> list[httpx.AsyncClient]:
    """The clients to fetch with: one shared (``concur``, ``pool``), or C (``per-worker``)."""

    def client(**kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            headers={"User-Agent": config.user_agent, **dict(config.headers)},
            timeout=httpx.Timeout(config.timeout),  # per phase; asyncio.timeout bounds the whole
            follow_redirects=False,  # the job follows them
            trust_env=False,  # like the asyncio engine: no proxy or netrc from the environment
            **kwargs,
        )

    if transport == "concur":
        shared = client(transport=ConcurTransport(max_idle=config.concurrency, config=config))
        # No public way in: the client's cookie store is its ``_cookies`` attribute (httpx
        # 0.23-0.28).  Should that change, the stock store stays in place: slower, same result.
        if isinstance(getattr(shared, "_cookies", None), httpx.Cookies):
            shared._cookies = _Cookies()
        return [shared]
    n = config.concurrency
    if transport == "pool":
        every = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        return [client(transport=_stock(config, every))]
    # per-worker: one TLS context for all (connect.ssl_context is shared: ~15 ms to make)
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return [client(transport=_stock(config, one)) for _ in range(n)]


class Fetcher(AsyncFetcher):
    """``await fetch(url) -> Attempt`` with ``httpx.AsyncClient`` (an async context).

    ``transport`` is ``concur`` (the default: :class:`ConcurTransport`), ``per-worker``
    (httpx's stock transport, a one-connection client per fetch in flight) or ``pool``
    (one stock client pooling ``concurrency`` connections: the slow setup).  With
    ``per-worker``, each fetch in flight borrows a client of its own.
    """

    def __init__(self, config: CrawlConfig, *, keep_body: bool, transport: str = "concur") -> None:
        super().__init__(config, keep_body=keep_body)
        self.transport = transport
        self.variant = {"transport": transport}

    async def open(self) -> None:
        self._clients = _clients(self.config, self.transport)
        self._free = list(self._clients)
        self._shared = self._clients[0] if len(self._clients) == 1 else None

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    async def fetch(self, url: str) -> Attempt:
        shared = self._shared
        client = shared if shared is not None else self._free.pop()
        try:
            async with asyncio.timeout(self.config.timeout):  # connect to last byte
                resp = await client.send(client.build_request("GET", url), stream=True)
                try:
                    return await (self._record(resp) if self.warc else self._read(resp))
                finally:
                    await resp.aclose()
                    # httpx links the response and its stream both ways; unlinking them
                    # lets reference counting free both now instead of the cyclic GC later.
                    resp.stream = _SPENT
        except Exception as exc:  # mapped to an error kind, never raised further
            return classify(exc)
        finally:
            if shared is None:
                self._free.append(client)

    async def _read(self, resp: httpx.Response) -> Attempt:
        """Stream the (decoded) body, stopping once it passes ``max_body`` bytes."""
        limit = self.limit
        status = resp.status_code
        raw = resp.headers.raw
        wanted = {}
        for name, value in raw:  # one pass: each Headers lookup scans them all
            key = name.lower()
            if key in _WANTED:
                wanted[_WANTED[key]] = value.decode("latin-1")
        length = wanted.get("Content-Length", "")
        encoded = "Content-Encoding" in wanted
        if not encoded and length.isdigit() and int(length) > limit:
            return too_large(status, limit)
        # Without a Content-Encoding the raw bytes are the body: skip the decoder layer.
        pieces = resp.aiter_bytes() if encoded else resp.aiter_raw()
        try:
            got = await acollect(pieces, limit, self.keep_body)
        except Exception as exc:  # the answer began: keep its status
            return broke_off(classify(exc), status)
        if got is None:
            return too_large(status, limit)
        return answered(status, got, wanted.get, lambda: latin1(raw))

    async def _record(self, resp: httpx.Response) -> Attempt:
        """The answer as received, for a WARC record: the raw stream (the client still
        asks for gzip and deflate), decoded here."""
        status = resp.status_code
        headers = resp.headers
        payload = Payload(self.limit, self.keep_body, headers.get("Content-Encoding"))
        try:
            got = await afill(resp.aiter_raw(), payload)
        except Exception as exc:  # the answer began: keep its status
            return broke_off(classify(exc), status)
        if got is None:
            return too_large(status, self.limit)
        # The request's headers are what either transport writes, Host first; the reason
        # is the transport's (httpx's reason_phrase would make one up when it is absent).
        sent = latin1(resp.request.headers.raw)
        reason = resp.extensions.get("reason_phrase", b"")
        reason = reason.decode("latin-1") if isinstance(reason, bytes) else str(reason)
        return recorded(status, got, headers.get, latin1(headers.raw), sent, reason)


_WANTED = {
    name.lower().encode(): name
    for name in ("Content-Length", "Content-Encoding", "Content-Type", "Location", "Retry-After")
}
