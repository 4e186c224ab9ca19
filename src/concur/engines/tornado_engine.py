"""Tornado: coroutines on Tornado's IOLoop, fetching with ``AsyncHTTPClient``.

What it teaches: the same single-threaded, explicit-yield model as asyncio, through a
framework that had it first.  Tornado's coroutines and its ``IOLoop`` predate
``async``/``await``; since Tornado 5 the ``IOLoop`` is a thin wrapper around asyncio's
event loop, so this engine runs on a plain :class:`asyncio.Runner` and Tornado's
futures *are* asyncio futures.  What differs is the HTTP client:

* ``curl`` (the default when ``pycurl`` imports): ``CurlAsyncHTTPClient``, libcurl's
  multi interface driven by the IOLoop: C code parses the responses and keeps
  connections alive.  It needs ``pycurl`` (``pip install 'concur[curl]'``, part of
  ``concur[all]``: a wheel on the common platforms, else a build against libcurl's
  headers).  In the book's experiment it costs 520 µs of client CPU a request against
  the simple client's 910, and reaches efficiency 0.84 against 0.77.
* ``simple`` (the default without pycurl): Tornado's pure-Python client.  It opens a
  fresh connection for every request (``Connection: close``: it has no keep-alive),
  so each fetch pays a TCP handshake, and a name lookup — here through a small
  caching :class:`_CachingResolver`, as aiohttp caches its lookups, instead of a trip
  to a thread pool per request.

The engine option ``client`` picks one (``concur crawl --impl tornado --client simple``,
or ``get_engine("tornado", client="simple")``): a variant is configuration, not a
copy.  The result says which ran (``CrawlResult.extra["client"]``).

What to look for: the async driver's ``config.concurrency`` worker coroutines take URLs
from the job (as with the asyncio engine), so no more than ``concurrency`` requests are
ever in flight, and the client's ``max_clients`` equals it, so its internal queue stays
empty and a request's timeout never counts time spent waiting in that queue.
``raise_error=False`` makes HTTP error statuses ordinary responses; failures below HTTP
(timeouts, resets, refused connections) still arrive as exceptions, which
:func:`classify` maps to concur's error kinds.  The body limit is enforced while
streaming: a ``streaming_callback`` (simple client) or libcurl's write function
(curl client, via ``prepare_curl_callback``) counts the decompressed bytes and aborts
the transfer past ``config.max_body``.

HTTPS and ``--resolve`` (:mod:`concur.engines.connect`): the simple client is given the
shared :func:`~concur.engines.connect.ssl_context` and its resolver sends a resolved
``host:port`` to the address; libcurl does its own TLS, so it is given the same CA file
(``CURLOPT_CAINFO``) and the entries in curl's own form (``CURLOPT_RESOLVE``).

How it differs from the book's version: the book's coroutine crawler hands
``asyncio.run`` a ``functools.partial`` of its coroutine function — ``run_sync``'s
calling convention from older Tornado — and current Python refuses it ("a coroutine
was expected").  Here the runner is given the coroutine object itself.  The book also
configures the curl client globally (``AsyncHTTPClient.configure``) and queues all
1,000 fetches at once, letting ``max_clients`` bound the concurrency; this engine
makes a private client (``force_instance=True``) and bounds the work itself.

Compare with: ``asyncio`` (same model, aiohttp, keep-alive) and ``gevent`` (the same
overlap with implicit yields).  ``simple`` against ``curl`` shows what keep-alive and
a C parser are worth at the same concurrency.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from tornado import httputil
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.netutil import DefaultLoopResolver, Resolver
from tornado.simple_httpclient import HTTPStreamClosedError, HTTPTimeoutError, SimpleAsyncHTTPClient

from concur.attempt import Attempt, failure, one_line, too_large
from concur.engines import connect
from concur.engines.fetcher import AsyncFetcher, Body, Payload, answered, ascii_url, recorded
from concur.engines.oserrors import os_kind
from concur.errors import EngineUnavailable
from concur.records import CrawlConfig, ErrorKind

__all__ = ["Fetcher", "classify", "default_client"]

CURL_HINT = (
    "pip install 'concur[curl]' (pycurl builds against libcurl's headers: libcurl4-openssl-dev)"
)

# libcurl's error numbers (CURLE_*), stable across versions, mapped to concur's kinds.
_CURL_KINDS = {
    1: ErrorKind.PROTOCOL,  # unsupported protocol: for an http(s) URL, the reply's version
    3: ErrorKind.INVALID_URL,  # malformed URL
    5: ErrorKind.DNS,  # could not resolve the proxy
    6: ErrorKind.DNS,  # could not resolve the host
    7: ErrorKind.CONNECT,  # could not connect (refused is told apart below)
    8: ErrorKind.PROTOCOL,  # weird server reply
    16: ErrorKind.PROTOCOL,  # HTTP/2 framing
    18: ErrorKind.TRUNCATED,  # partial file: the body ended early
    28: ErrorKind.TIMEOUT,  # operation timed out
    35: ErrorKind.CONNECT,  # TLS handshake
    47: ErrorKind.OTHER,  # too many redirects
    51: ErrorKind.CERTIFICATE,  # peer verification failed: libcurl before 7.62 (now 60)
    52: ErrorKind.RESET,  # got nothing: closed before any answer
    55: ErrorKind.RESET,  # send error
    56: ErrorKind.RESET,  # receive error (connection reset)
    60: ErrorKind.CERTIFICATE,  # the certificate is not trusted, or not for this name
    61: ErrorKind.PROTOCOL,  # bad content encoding
    63: ErrorKind.TOO_LARGE,  # maximum file size exceeded
    92: ErrorKind.PROTOCOL,  # HTTP/2 stream
}


class _Drop(logging.Filter):
    """Drops one of Tornado's log messages (by its format string): one that only says
    again what the records say, or what is expected (why: where each is installed)."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != self.message


# A run stopped by Ctrl-C cancels its fetches, and the client then fails each of them as
# it closes — expected, and one traceback per request in flight on the terminal otherwise.
logging.getLogger("tornado.application").addFilter(_Drop("Exception after Future was cancelled"))
# The simple client warns of every failed TLS handshake (an untrusted certificate, say);
# the attempt's record already says it, in the same words.
logging.getLogger("tornado.general").addFilter(_Drop("SSL Error on %s %s: %s"))


class _BodyTooLarge(httputil.HTTPInputError):
    """Raised by the streaming callback to abort a body over the limit.

    It must be an ``HTTPInputError``: Tornado logs any other exception from a callback
    as an application error, but treats this one as a bad response and closes the
    connection quietly (an INFO line on ``tornado.general``), as it does for its own
    ``max_body_size``.
    """


class _CachingResolver(Resolver):
    """One lookup per name, shared by the requests that ask meanwhile and kept ``ttl`` s.

    The simple client resolves the host for every request, each lookup a trip to a
    thread pool (``getaddrinfo`` blocks).  aiohttp keeps answers for 300 s; so do we.
    Requests that ask while a lookup is running wait for it rather than start their
    own, so the first wave of 2,000 requests makes one lookup, not 2,000.

    It also applies ``--resolve`` (``addresses``, :func:`~concur.engines.connect.resolve_map`):
    a listed ``host:port`` is looked up as its address.  Only the address changes — the
    client still says the name in the Host header, SNI and the certificate check.
    (Tornado's own ``hostname_mapping`` would do, but it compares names as the URL
    spells them, and ``--resolve`` ignores case.)
    """

    def initialize(
        self, ttl: float = 300.0, addresses: dict[tuple[str, int], str] | None = None
    ) -> None:
        self._inner = DefaultLoopResolver()
        self._ttl = ttl
        self._addresses = addresses or {}
        self._answers: dict[tuple[str, int, int], tuple[float, list[tuple[int, Any]]]] = {}
        self._running: dict[tuple[str, int, int], asyncio.Future[list[tuple[int, Any]]]] = {}

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        if self._addresses:
            host = self._addresses.get((host.lower().strip("[]"), port), host)
        key = (host, port, int(family))
        hit = self._answers.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        running = self._running.get(key)
        if running is None:
            running = self._running[key] = asyncio.ensure_future(self._lookup(key, family))
        return await asyncio.shield(running)  # one waiter's timeout must not cancel it

    async def _lookup(
        self, key: tuple[str, int, int], family: socket.AddressFamily
    ) -> list[tuple[int, Any]]:
        try:
            answer = await self._inner.resolve(key[0], key[1], family)
        finally:
            del self._running[key]
        self._answers[key] = (time.monotonic() + self._ttl, answer)
        return answer

    def close(self) -> None:
        self._inner.close()
        self._answers.clear()


class _Transfer:
    """What one attempt has seen so far: the status line, three headers, the body bytes.

    Both clients feed it: each header line (libcurl's as bytes, Tornado's as text) and
    each piece of the body, counted against the limit as it arrives.
    """

    __slots__ = ("status", "body", "too_large", "headers", "refused", "resent")

    def __init__(self, limit: int, keep_body: bool = False) -> None:
        self.status: int | None = None
        self.body = Body(limit, keep_body)  # crawl mode keeps its bytes
        self.too_large = False
        self.headers: dict[str, str] = {}  # the few the rules read, by lower-case name
        self.refused = False  # curl client only
        self.resent = 0  # curl client only: requests libcurl re-sent on its own

    @property
    def nbytes(self) -> int:
        return min(self.body.nbytes, self.body.limit)

    def header_line(self, line: str) -> None:
        if line.startswith("HTTP/"):  # a new response (after a redirect, say)
            self.status = int(line.split(None, 2)[1])
            self.headers.clear()
            return
        name, _, value = line.partition(":")
        key = name.strip().lower()
        if key in _KEPT:
            self.headers[key] = value.strip()

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def all_headers(self) -> list[tuple[str, str]]:
        return []  # a URL list's transfer keeps only the three

    def chunk(self, data: bytes) -> bool:
        """Take a piece of the body; False once the body is over the limit."""
        if self.body.add(data):
            return True
        self.too_large = True
        return False


class _KeptTransfer(_Transfer):
    """A crawl's transfer: the body, and every header line in order (``Attempt.headers``).

    A subclass, so a URL list's transfers keep the short :meth:`_Transfer.header_line`.
    libcurl hands over the lines as received.  Tornado's simple client hands over its
    parsed ``HTTPHeaders`` instead: names in its Title-Case, a repeated header's lines
    one after another at the place of the first, so its order is not quite the wire's.
    """

    __slots__ = ("lines",)

    def __init__(self, limit: int, keep_body: bool = True) -> None:
        super().__init__(limit, keep_body)
        self.lines: list[tuple[str, str]] = []

    def header_line(self, line: str) -> None:
        super().header_line(line)
        lines = self.lines
        if line.startswith("HTTP/"):  # a new response: the lines so far were another's
            lines.clear()
        elif line[:1] in (" ", "\t"):  # a folded line continues the last value
            if lines and line.strip():
                name, value = lines[-1]
                lines[-1] = (name, f"{value} {line.strip()}")
        else:
            name, colon, value = line.partition(":")
            if colon:
                lines.append((name.strip(), value.strip()))

    def all_headers(self) -> list[tuple[str, str]]:
        return self.lines


class _RecordedTransfer(_KeptTransfer):
    """A transfer for a WARC record (either job): every header line, the payload as
    received (the client decodes nothing), the reason phrase, and the request as sent.

    The payload's coding is known once the headers are: it is made at the first piece.
    libcurl shows the request's head as it wrote it (its debug callback's "header out");
    the simple client's is read from the request after the fetch (:meth:`Fetcher.fetch`).
    """

    __slots__ = ("payload", "reason", "head", "started")

    def __init__(self, limit: int, keep_body: bool) -> None:
        super().__init__(limit, keep_body)
        self.payload = Payload(limit, keep_body)
        self.body = self.payload
        self.reason = ""
        self.head = b""  # curl client only: the request's head as sent
        self.started = False

    def header_line(self, line: str) -> None:
        super().header_line(line)
        if line.startswith("HTTP/"):  # a new response: its status line
            parts = line.split(None, 2)
            self.reason = parts[2].strip() if len(parts) > 2 else ""
            self.started = False

    def chunk(self, data: bytes) -> bool:
        if not self.started:
            self.started = True
            coding = ", ".join(v for n, v in self.lines if n.lower() == "content-encoding")
            self.payload = Payload(self.body.limit, self.payload.keep, coding)
            self.body = self.payload
        return super().chunk(data)

    def sent_head(self, text: bytes) -> None:
        """Take libcurl's "header out": a new request's head, or more of the last one."""
        self.head = self.head + text if self.head and not self.head.endswith(b"\r\n\r\n") else text

    def sent(self) -> list[tuple[str, str]]:
        """The header lines of the request libcurl sent last (after its request line)."""
        out = []
        for line in self.head.decode("latin-1").split("\r\n")[1:]:
            if not line:
                break
            name, colon, value = line.partition(":")
            if colon:
                out.append((name.strip(), value.strip()))
        return out


_KEPT = frozenset({"location", "retry-after", "content-type"})


def classify(exc: BaseException, seen: _Transfer | None = None) -> Attempt:
    """Map a Tornado/pycurl/socket exception to concur's error kinds (the only place that knows).

    ``seen`` tells what the attempt received before it failed: Tornado's simple client
    reports a connection that closed early as ``HTTPStreamClosedError`` whether or not
    an answer had begun, so the status line decides between a truncated body and a
    reset.  When Tornado's own parser refused the response it closes the connection
    itself and says "Connection closed"; a peer that closed first gives "Stream closed"
    (or the socket error itself, such as ``ConnectionResetError``).
    """
    detail = one_line(exc)
    status = seen.status if seen is not None else None
    nbytes = seen.nbytes if seen is not None else 0
    if seen is not None and seen.too_large:
        return too_large(status, seen.nbytes)
    if isinstance(exc, HTTPTimeoutError):
        return failure(ErrorKind.TIMEOUT, detail)
    if isinstance(exc, HTTPStreamClosedError):
        if status is not None:
            return failure(ErrorKind.TRUNCATED, detail, status, nbytes)
        if exc.message == "Connection closed":
            return failure(ErrorKind.PROTOCOL, f"{detail} (response not parseable)")
        return failure(ErrorKind.RESET, detail)
    errno_ = getattr(exc, "errno", None)
    if isinstance(exc, HTTPClientError) and isinstance(errno_, int):  # curl_httpclient.CurlError
        return _curl_attempt(errno_, detail, seen)
    if isinstance(exc, httputil.HTTPInputError):
        return failure(ErrorKind.PROTOCOL, detail)
    if isinstance(exc, StreamClosedError):
        real = exc.real_error
        if real is not None:
            return classify(real, seen)
        return failure(ErrorKind.RESET, detail)
    if isinstance(exc, OSError):
        kind = os_kind(exc)
        if kind is ErrorKind.RESET and status is not None:  # the answer had begun
            return failure(ErrorKind.TRUNCATED, detail, status, nbytes)
        return failure(kind, detail)
    if isinstance(exc, ValueError) and "url" in str(exc).lower():
        return failure(ErrorKind.INVALID_URL, detail)
    if isinstance(exc, HTTPClientError | ValueError):
        return failure(ErrorKind.OTHER, detail)
    raise exc


def _curl_attempt(number: int, detail: str, seen: _Transfer | None) -> Attempt:
    kind = _CURL_KINDS.get(number, ErrorKind.OTHER)
    if number == 1 and 'Protocol "' in detail and 'Protocol "http' not in detail:
        kind = ErrorKind.INVALID_URL  # a redirect to ftp: and the like, as other engines say
    if number == 7 and ("refused" in detail.lower() or (seen is not None and seen.refused)):
        kind = ErrorKind.REFUSED
        detail = f"{detail} (connection refused)" if "refused" not in detail.lower() else detail
    status = seen.status if seen is not None and kind is ErrorKind.TRUNCATED else None
    return failure(kind, detail, status, seen.nbytes if status is not None and seen else 0)


def _make_client(
    config: CrawlConfig, client: str, tls: ssl.SSLContext | None = None
) -> tuple[AsyncHTTPClient, Callable[[_Transfer], dict[str, Any]], Callable[[], None]]:
    """The client, a function giving one attempt's ``HTTPRequest`` callbacks, and a closer.

    ``tls``: the simple client's context for https (default: the config's).
    """
    limit = config.max_body
    warc = config.warc is not None
    if client == "curl":
        try:
            import pycurl
            from tornado.curl_httpclient import CurlAsyncHTTPClient
        except ImportError as exc:
            raise EngineUnavailable(
                f"the tornado engine's curl client needs pycurl ({exc}): {CURL_HINT}"
            ) from None
        http: AsyncHTTPClient = CurlAsyncHTTPClient(
            force_instance=True, max_clients=config.concurrency
        )
        # libcurl's own --resolve (IPv6 addresses in brackets) and --cacert; without a CA
        # file libcurl keeps its default store (Tornado's ca_certs=None leaves it alone).
        resolve = [
            f"{host}:{port}:{f'[{addr}]' if ':' in addr else addr}"
            for (host, port), addr in connect.resolve_map(config).items()
        ]
        cainfo = connect.ca_file(config)

        def curl_kwargs(seen: _Transfer) -> dict[str, Any]:
            def on_header(line: bytes) -> None:
                seen.header_line(line.decode("latin-1"))

            def on_body(chunk: bytes) -> int:  # returning less than given: CURLE_WRITE_ERROR
                return len(chunk) if seen.chunk(chunk) else 0

            def on_debug(kind: int, text: bytes) -> None:
                if kind != 0:  # CURLINFO_TEXT: libcurl's own remarks
                    return
                if b"refused" in text:  # libcurl 8 no longer puts it in the error
                    seen.refused = True
                elif text.startswith(b"Connection died, retrying"):
                    # A reused connection died before any answer, so libcurl sent the
                    # request again on a new one (it has no option to not): the server
                    # saw one more request than this attempt, and the record says so.
                    seen.resent += 1

            def on_debug_recorded(kind: int, text: bytes) -> None:
                if kind == 2:  # CURLINFO_HEADER_OUT: the request's head, as written
                    assert isinstance(seen, _RecordedTransfer)
                    seen.sent_head(text)
                else:
                    on_debug(kind, text)

            def prepare(curl: Any) -> None:
                # Called last when Tornado sets up the handle: our functions replace its
                # header parser and its body buffer with the little this engine needs.
                curl.setopt(pycurl.HEADERFUNCTION, on_header)
                curl.setopt(pycurl.WRITEFUNCTION, on_body)
                curl.setopt(pycurl.VERBOSE, 1)
                if resolve:
                    curl.setopt(pycurl.RESOLVE, resolve)
                if cainfo is not None:
                    curl.setopt(pycurl.CAINFO, cainfo)
                if warc:  # libcurl still asks for gzip and deflate, and decodes nothing
                    curl.setopt(pycurl.HTTP_CONTENT_DECODING, 0)
                    curl.setopt(pycurl.DEBUGFUNCTION, on_debug_recorded)
                else:
                    curl.setopt(pycurl.DEBUGFUNCTION, on_debug)

            return {"prepare_curl_callback": prepare}

        def close_curl() -> None:
            http.close()
            # Closing libcurl's multi handle can set its timer again, after Tornado has
            # removed it; the stale callback then finds the handle gone and logs a
            # traceback (seen on Ctrl-C).  Remove it too.
            stale = getattr(http, "_timeout", None)
            if stale is not None:
                http.io_loop.remove_timeout(stale)

        return http, curl_kwargs, close_curl

    resolver = _CachingResolver(addresses=connect.resolve_map(config))
    # With a streaming_callback only max_body_size applies; keep it out of our way.
    wire_limit = max(limit + 1, 100 * 1024 * 1024)
    http = SimpleAsyncHTTPClient(
        force_instance=True,
        max_clients=config.concurrency,
        resolver=resolver,
        max_body_size=wire_limit,
        max_buffer_size=wire_limit,
        defaults={"ssl_options": tls or connect.ssl_context(config)},  # every engine's CAs
    )

    def simple_kwargs(seen: _Transfer) -> dict[str, Any]:
        def on_chunk(chunk: bytes) -> None:
            if not seen.chunk(chunk):
                raise _BodyTooLarge(f"body over {limit} bytes")

        # Tornado calls the header callback only for the final response
        return {"header_callback": seen.header_line, "streaming_callback": on_chunk}

    def close() -> None:
        http.close()
        resolver.close()  # a resolver we pass in is ours to close, not the client's

    return http, simple_kwargs, close


def default_client() -> str:
    """``curl`` if pycurl imports, else ``simple``."""
    try:
        import pycurl  # noqa: F401
    except ImportError:
        return "simple"
    return "curl"


class Fetcher(AsyncFetcher):
    """``await fetch(url) -> Attempt`` with Tornado's ``AsyncHTTPClient`` (an async context).

    ``client`` is ``curl`` or ``simple`` (default: :func:`default_client`).
    """

    def __init__(self, config: CrawlConfig, *, keep_body: bool, client: str | None = None) -> None:
        super().__init__(config, keep_body=keep_body)
        self.client = client or default_client()  # the registry checks the choice
        self.variant = {"client": self.client}
        # For a WARC record the client decodes nothing.  libcurl asks for gzip and deflate
        # all the same (decoding is a separate switch); the simple client would stop asking
        # for gzip, so it is asked here as it asks by itself (over any Accept-Encoding given).
        self.decompress = not self.warc or self.client == "curl"
        self.request_headers = self.headers
        if not self.decompress:
            self.request_headers = {**self.headers, "Accept-Encoding": "gzip"}
        # The simple client's TLS context, made here, before the clock starts (loading the
        # system's CAs takes tens of ms); libcurl loads its CA file itself.
        self.tls = connect.ssl_context(config) if self.client == "simple" else None

    async def open(self) -> None:
        self.http, self.callbacks, self._close = _make_client(self.config, self.client, self.tls)

    async def aclose(self) -> None:
        self._close()

    async def fetch(self, url: str) -> Attempt:
        config = self.config
        seconds = config.timeout
        if self.warc:
            seen: _Transfer = _RecordedTransfer(self.limit, self.keep_body)
        else:
            seen = _KeptTransfer(self.limit) if self.keep_body else _Transfer(self.limit)
        request = HTTPRequest(
            ascii_url(url),
            headers=self.request_headers,  # fetch() copies them before adding Host...
            connect_timeout=seconds,
            request_timeout=seconds,
            follow_redirects=False,  # the job follows them
            decompress_response=self.decompress,
            **self.callbacks(seen),
        )
        try:
            response = await self.http.fetch(request, raise_error=False)
        except Exception as exc:  # mapped to an error kind, never raised further
            attempt = classify(exc, seen)
        else:
            status = response.code
            if seen.too_large:
                attempt = too_large(status, self.limit)
            elif isinstance(seen, _RecordedTransfer):
                # the simple client adds Host, Connection... to the request's own copy
                sent = seen.sent() if self.client == "curl" else request.headers.get_all()
                lines = seen.lines
                attempt = recorded(status, seen.payload, seen.header, lines, sent, seen.reason)
            else:
                attempt = answered(status, seen.body, seen.header, seen.all_headers)
        return attempt._replace(resent=seen.resent) if seen.resent else attempt
