"""The protocol engine: asyncio Protocols and httptools, no client library.

What it teaches: where an HTTP client's time goes.  A request through a client library
crosses four layers — the event loop, a protocol (the callbacks the loop makes when
bytes arrive), an HTTP parser, and the library's own objects (sessions, request and
response classes, streams, locks, timeouts, cookie jars, header dictionaries).  This
engine keeps the first three and writes the fourth as the least a crawler needs: a
request head built once per origin, one future per request, a body gathered in the
protocol, and an :class:`~concur.attempt.Attempt` at the end.  Measured side by side on
the mock server at zero delay (``docs/benchmarks.md``, "The protocol engine"), the
library layer is most of the cost: a bare loop-plus-protocol-plus-parser client needs
~15 µs of CPU a request, aiohttp on the same loop ~120 µs.

It keeps the whole contract of the other engines, through the same seam: keep-alive
and ``Connection: close``, Content-Length, chunked and close-delimited bodies, gzip and
deflate (``Payload``'s decoders, bombs stay ``too_large``), ``max_body``, a timeout for
the whole request, every error mapped to its kind, redirects handed to the job (which
follows them, in both jobs), DNS through the loop with a cache, IPv6, TLS with concur's
one context and ``--resolve`` (:mod:`.connect`), WARC records (the payload as received,
the header lines as sent and received).  Retries, backoff and Retry-After are the
job's, as for every engine.

The HTTP/1.1 connection and pool are :mod:`concur.engines.http1`, which httpx's
transport (:class:`~concur.engines.httpx_engine.ConcurTransport`) uses too: one
implementation of the protocol in concur.

It runs on uvloop by default (``--loop asyncio`` for the standard loop).  Compare with:
``uvloop`` (the same loop, aiohttp above it: the library's cost is the difference),
``httpx`` (httpx's client on this module's connections) and ``asyncio``.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from typing import NamedTuple
from urllib.parse import quote, unquote

from concur.attempt import Attempt, answer, failure, one_line, too_large
from concur.engines.connect import is_certificate_error
from concur.engines.fetcher import AsyncFetcher, Payload, ascii_url, broke_off
from concur.engines.http1 import (
    Connection,
    Key,
    LeanConnection,
    Malformed,
    Pool,
    Truncated,
    Unanswered,
)
from concur.engines.oserrors import os_kind
from concur.records import CrawlConfig, ErrorKind

__all__ = ["Fetcher", "Origin", "classify", "origin_of", "split_url"]

_DEFAULT_PORT = {"http": 80, "https": 443}
_TARGET_SAFE = "/?:@!$&'()*+,;=-._~%[]"  # what stays raw in a request target
_ACCEPT_ENCODING = "gzip, deflate"


class Origin(NamedTuple):
    """Everything about a scheme://authority that every request to it shares."""

    key: Key  # (scheme, host, port): the pool's key
    suffix: bytes  # the request head after the request line
    sent: tuple[tuple[str, str], ...]  # its header lines, for a WARC request record


def split_url(url: str) -> tuple[str, str, str] | None:
    """``url`` as (scheme, authority, target), the fragment dropped; None if not http(s).

    A hand-written split (three ``find`` calls) rather than ``urllib.parse.urlsplit``:
    it runs once per request, and a request here costs a few microseconds in all.
    """
    i = url.find("://")
    if i <= 0:
        return None
    scheme = url[:i].lower()
    if scheme != "http" and scheme != "https":
        return None
    start = i + 3
    end = len(url)
    for mark in "/?#":
        k = url.find(mark, start, end)
        if k != -1:
            end = k
    target = url[end:]
    hash_at = target.find("#")
    if hash_at != -1:
        target = target[:hash_at]
    if not target.startswith("/"):
        target = "/" + target  # "http://h?q" asks for "/?q"
    return scheme, url[start:end], target


def origin_of(scheme: str, authority: str, config: CrawlConfig) -> Origin | str:
    """The :class:`Origin` of ``scheme://authority``, or why it is not a URL to fetch."""
    userinfo, at, hostport = authority.rpartition("@")
    if hostport.startswith("["):  # an IPv6 literal
        close = hostport.find("]")
        if close == -1:
            return f"unclosed IPv6 address in {authority!r}"
        host, rest = hostport[1:close], hostport[close + 1 :]
        if rest and not rest.startswith(":"):
            return f"bad authority {authority!r}"
        port_text = rest[1:]
    else:
        host, _, port_text = hostport.partition(":")
    if not host:
        return f"no host in {scheme}://{authority}"
    default = _DEFAULT_PORT[scheme]
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            return f"bad port {port_text!r}"
        port = int(port_text)
    else:
        port = default
    host = host.lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            return f"bad host name {host!r}: {exc}"
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default else f"{shown}:{port}"
    lines: dict[str, tuple[str, str]] = {}  # lower-case name -> (name as given, value)
    for name, value in (
        ("Host", host_header),
        ("User-Agent", config.user_agent),
        ("Accept-Encoding", _ACCEPT_ENCODING),
        ("Accept", "*/*"),
        *config.headers,
    ):
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            return f"header {name!r} holds a line break"
        lines[name.lower()] = (name, value)
    if at:  # user:password@ -> Basic credentials, as browsers and the other engines do
        user, _, password = userinfo.partition(":")
        token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
        lines.setdefault("authorization", ("Authorization", f"Basic {token}"))
    sent = tuple(lines.values())
    suffix = "".join(f"{name}: {value}\r\n" for name, value in sent) + "\r\n"
    return Origin((scheme, host, port), suffix.encode("latin-1", "replace"), sent)


def classify(exc: BaseException) -> Attempt:
    """Map what an exchange or a connect raised to concur's error kinds."""
    detail = one_line(exc)
    if isinstance(exc, TimeoutError):  # asyncio's timeout is TimeoutError since 3.11
        return failure(ErrorKind.TIMEOUT, detail if str(exc) else "timed out")
    if isinstance(exc, Malformed):
        return failure(ErrorKind.PROTOCOL, detail)
    if isinstance(exc, Unanswered):
        return failure(ErrorKind.RESET, detail)
    if isinstance(exc, Truncated):
        return failure(ErrorKind.TRUNCATED, detail)
    if is_certificate_error(exc):
        return failure(ErrorKind.CERTIFICATE, detail)
    if isinstance(exc, ssl.SSLError):  # a handshake that failed otherwise
        return failure(ErrorKind.CONNECT, detail)
    if isinstance(exc, OSError):
        return failure(os_kind(exc), detail)
    if isinstance(exc, UnicodeError | ValueError):
        return failure(ErrorKind.INVALID_URL, detail)
    raise exc


class Fetcher(AsyncFetcher):
    """``await fetch(url) -> Attempt`` on :mod:`.http1` connections (an async context)."""

    pool: Pool

    def __init__(self, config: CrawlConfig, *, keep_body: bool) -> None:
        super().__init__(config, keep_body=keep_body)
        self._origins: dict[tuple[str, str], Origin | str] = {}
        # the raw body may take twice the limit before it counts as too large: an
        # encoded one is decoded within the limit (Payload), a plain one checked after
        self._raw_limit = 2 * self.limit + 4096
        self._timeout = config.timeout
        # Timeouts: one sweep every ``_period`` s ends the exchanges past their deadline,
        # instead of a timer per request (a uvloop timer made and cancelled is ~2.5 µs,
        # a dict entry ~0.06).  A request may so run up to one period over its timeout.
        self._deadlines: dict[Connection, float] = {}
        self._period = max(0.005, min(0.1, config.timeout / 20))
        self._sweeper: asyncio.TimerHandle | None = None
        # the lean connection for a URL list or a crawl; with WARC the reason phrase too
        self._connection = Connection if self.warc else LeanConnection
        self._prefixes: dict[str, tuple[Origin, int]] = {}  # "http://host:port" -> origin

    async def open(self) -> None:
        self.pool = Pool(self.config, max_idle=self.config.concurrency)
        self._loop = loop = asyncio.get_running_loop()
        self._sweeper = loop.call_later(self._period, self._sweep)

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.pool.close()
        await asyncio.sleep(0)  # let the loop run connection_lost: the sockets close now

    def _sweep(self) -> None:
        now = self._loop.time()
        late = [conn for conn, due in self._deadlines.items() if due <= now]
        for conn in late:
            del self._deadlines[conn]
            _expire(conn)
        self._sweeper = self._loop.call_later(self._period, self._sweep)

    def _origin(self, url: str) -> tuple[Origin, str] | str:
        """The origin and request target of ``url``, or why it cannot be fetched.

        The everyday URL, ``http://host:port/path?query``, is one ``find`` and a dict
        lookup of its ``scheme://authority`` prefix; anything else takes the long way.
        """
        cut = url.find("/", 8)
        if cut != -1 and "#" not in url:
            known = self._prefixes.get(url[:cut])
            if known is not None and url.isascii() and url.isprintable() and " " not in url:
                return known[0], url[cut:]
        found = self._origin_slow(url)
        if not isinstance(found, str) and cut != -1 and len(self._prefixes) < 10_000:
            prefix = url[:cut]
            if "?" not in prefix and "#" not in prefix and "@" not in prefix and url.isascii():
                self._prefixes[prefix] = (found[0], cut)
        return found

    def _origin_slow(self, url: str) -> tuple[Origin, str] | str:
        if not url.isascii():
            url = ascii_url(url)
        parts = split_url(url)
        if parts is None:
            return f"not an http(s) URL: {url[:200]!r}"
        scheme, authority, target = parts
        origin = self._origins.get((scheme, authority))
        if origin is None:
            origin = origin_of(scheme, authority, self.config)
            if len(self._origins) < 100_000:
                self._origins[scheme, authority] = origin
        if isinstance(origin, str):
            return origin
        if " " in target or "\t" in target or not target.isprintable():
            target = quote(target, safe=_TARGET_SAFE)
        return origin, target

    async def fetch(self, url: str) -> Attempt:
        found = self._origin(url)
        if isinstance(found, str):
            return failure(ErrorKind.INVALID_URL, found)
        origin, target = found
        loop = self._loop
        deadline = loop.time() + self._timeout
        key = origin.key
        pool = self.pool
        conn = pool.take(key)
        deadlines = self._deadlines
        try:
            if conn is None:
                async with asyncio.timeout_at(deadline):
                    conn = await pool.connect(key, self._connection)
            conn.start(b"GET %s HTTP/1.1\r\n%s" % (target.encode(), origin.suffix), self._raw_limit)
            deadlines[conn] = deadline
            try:  # the wait, in this frame: no coroutine between the task and the protocol
                while not (conn.complete or conn.over):
                    if conn.error is not None:
                        raise conn.error
                    conn.waiter = waiter = loop.create_future()
                    await waiter
            finally:
                conn.waiter = None
                deadlines.pop(conn, None)
        except Exception as exc:  # mapped to an error kind, never raised further
            if conn is not None:
                conn.close()
                if conn.status is not None:  # the answer began: keep its status
                    return broke_off(classify(exc), conn.status)
            return classify(exc)
        attempt = self._attempt(conn, origin)
        pool.release(key, conn)
        return attempt

    def _attempt(self, conn: Connection, origin: Origin) -> Attempt:
        """The attempt of a complete answer (or one whose body passed the limit)."""
        status = conn.status
        assert status is not None
        if conn.over:
            return too_large(status, self.limit)
        chunks = conn.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        coding = ctype = location = retry_after = None
        for name, value in conn.headers:
            n = len(name)
            if n == 12 and name.lower() == b"content-type":
                ctype = value
            elif n == 16 and name.lower() == b"content-encoding":
                coding = value
            elif n == 8 and name.lower() == b"location":
                location = value
            elif n == 11 and name.lower() == b"retry-after":
                retry_after = value
        keep = self.keep_body
        if coding is not None:  # decoded here, within the limit (Payload: bombs stay bombs)
            payload = Payload(self.limit, keep, coding.decode("latin-1"))
            if not payload.add(data):
                return too_large(status, self.limit)
            if payload.undecodable:
                return failure(ErrorKind.PROTOCOL, payload.undecodable, status, payload.nbytes)
            nbytes = payload.nbytes
            body = (bytes(payload.data) if payload.data is not None else data) if keep else None
        else:
            nbytes = len(data)
            if nbytes > self.limit:
                return too_large(status, self.limit)
            body = data if keep else None
        wait = retry_after.decode("latin-1") if retry_after and status in (429, 503) else None
        where = location.decode("latin-1") if location and 300 <= status < 400 else ""
        if body is None and not self.warc:
            return answer(status, nbytes, location=where, retry_after=wait)
        every = tuple((n.decode("latin-1"), v.decode("latin-1")) for n, v in conn.headers)
        text = ctype.decode("latin-1") if ctype and keep else ""
        if not self.warc:
            return answer(status, nbytes, body, text, where, wait, every)
        # a WARC record: the payload as received, the request's lines as sent, the reason
        reason = conn.reason.decode("latin-1")
        return answer(
            status,
            nbytes,
            body,
            text,
            where,
            wait,
            every,
            raw=data,
            sent=origin.sent,
            reason=reason,
        )


def _expire(conn: Connection) -> None:
    """The request's time is up: fail its exchange and drop the connection."""
    conn.fail(TimeoutError("no complete answer within the timeout"))
    conn.close()
