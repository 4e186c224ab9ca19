"""asyncio + aiohttp: cooperative tasks on one thread, switching only at ``await``.

What it teaches: one thread can keep thousands of requests in flight, because a
request that waits for the network costs a few hundred bytes of coroutine state, not a
thread.  Little's law does the rest: C requests in flight, each taking L seconds, give
C / L requests per second until the CPU cost per request catches up.

How it differs from the book's version: the book starts one task per URL behind a
semaphore and collects them with ``asyncio.as_completed``.  Here ``concurrency`` worker
tasks pull URLs from one shared iterator: the same bound on requests in flight, but
no task, semaphore wait or future per URL, and memory that does not grow with the
number of URLs.  One ``ClientSession`` keeps connections alive across requests; its
connector's limit equals the concurrency, so each worker holds at most one connection.

Where connections go and what they trust (:mod:`concur.engines.connect`): ``--resolve``
is a resolver of aiohttp's (:class:`_Resolver`), installed only when there are entries,
and every https request carries concur's one TLS context.

This module is only the fetcher: how to open aiohttp's client for a config, fetch one
URL into an :class:`~concur.attempt.Attempt`, and close.  The worker tasks, the event
loop and the job (a URL list or a crawl) are the async driver's
(:mod:`concur.engines.drive_async`), shared with httpx and Tornado.

Compare with: ``threads`` (same overlap, pre-emptive, a thread per request in flight),
``gevent`` (same idea with implicit yields), ``httpx`` (same model, another client)
and ``uvloop`` — this very engine on a faster loop: the same fetcher and driver with
the option ``loop="uvloop"``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import TYPE_CHECKING

import aiohttp
from aiohttp.abc import AbstractResolver

from concur.attempt import Attempt, failure, one_line, too_large
from concur.engines.connect import is_certificate_error, resolve_map, ssl_context
from concur.engines.fetcher import (
    AsyncFetcher,
    Body,
    Payload,
    acollect,
    afill,
    answered,
    broke_off,
    latin1,
    recorded,
)
from concur.engines.oserrors import os_kind
from concur.records import ErrorKind

if TYPE_CHECKING:  # aiohttp >= 3.10 names the dict a resolver returns
    from aiohttp.abc import ResolveResult

__all__ = ["Fetcher", "classify"]


# aiohttp >= 3.10: a redirect to a URL it cannot fetch (ftp:, a malformed Location)
_BAD_REDIRECTS = frozenset({"InvalidUrlRedirectClientError", "NonHttpUrlRedirectClientError"})


def classify(exc: BaseException) -> Attempt:
    """Map an aiohttp/asyncio exception to concur's error kinds (the only place that knows)."""
    detail = one_line(exc)
    if isinstance(exc, asyncio.TimeoutError):
        return failure(ErrorKind.TIMEOUT, detail or "timed out")
    if isinstance(exc, aiohttp.InvalidURL) or type(exc).__name__ in _BAD_REDIRECTS:
        return failure(ErrorKind.INVALID_URL, detail)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError) or is_certificate_error(exc):
        return failure(ErrorKind.CERTIFICATE, detail)
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, socket.gaierror | ConnectionRefusedError):
            return failure(os_kind(os_error), detail)
        return failure(ErrorKind.CONNECT, detail)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return failure(ErrorKind.RESET, detail)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return failure(ErrorKind.TRUNCATED, detail)
    if isinstance(exc, aiohttp.TooManyRedirects):
        return failure(ErrorKind.OTHER, detail)
    if isinstance(exc, aiohttp.ClientResponseError):  # the parser refused the response
        return failure(ErrorKind.PROTOCOL, detail)
    if isinstance(exc, OSError):  # aiohttp.ClientOSError is one
        kind = os_kind(exc)
        return failure(kind if kind is ErrorKind.RESET else ErrorKind.CONNECT, detail)
    if isinstance(exc, ssl.SSLError):
        return failure(ErrorKind.CONNECT, detail)
    if isinstance(exc, aiohttp.ClientError | ValueError):
        return failure(ErrorKind.OTHER, detail)
    raise exc


def _no_hidden_retry(session: aiohttp.ClientSession) -> None:
    """Stop aiohttp re-sending a request by itself: every attempt is one the record counts.

    aiohttp sends an idempotent request a second time, silently, when a reused keep-alive
    connection fails before the answer (RFC 9112 section 9.3.1 allows it).  urllib3 and
    httpx do not, and concur's jobs retry with backoff on every engine, so with it on the
    server saw 1,059 requests of the faults scenario from those engines and 1,059 from
    aiohttp's while aiohttp's records counted 1,055.  There is no public switch;
    ``_retry_connection`` is the attribute aiohttp's own test client turns off.
    """
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False


class _Resolver(AbstractResolver):
    """curl's ``--resolve`` for aiohttp: the config's addresses first, DNS for other names.

    aiohttp's connector asks its resolver for the address of each new connection's host
    and port (and caches the answer for ``ttl_dns_cache`` seconds).  An answer's
    ``hostname`` stays the URL's host, so TLS's server name and the certificate check
    keep the name while the socket goes to the address; the URL and the ``Host`` header
    never pass through here.  A name on another port is looked up as usual.
    """

    def __init__(self, table: dict[tuple[str, int], str]) -> None:
        self._table = table
        # made on the running loop (uvloop's too): ThreadedResolver, or aiodns's if installed
        self._dns = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = self._table.get((host.lower(), port))
        if address is None:
            return await self._dns.resolve(host, port, family)
        found: ResolveResult = {
            "hostname": host,  # what TLS checks the certificate against
            "host": address,  # where the socket goes
            "port": port,
            "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
            "proto": 0,
            "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
        }
        return [found]

    async def close(self) -> None:
        await self._dns.close()


class Fetcher(AsyncFetcher):
    """``await fetch(url) -> Attempt`` on one ``aiohttp.ClientSession`` (an async context)."""

    session: aiohttp.ClientSession
    _resolver: _Resolver | None = None
    _tls: ssl.SSLContext | None = None

    async def open(self) -> None:
        config = self.config
        if config.resolve:  # otherwise aiohttp's own resolver, as before
            self._resolver = _Resolver(resolve_map(config))
        connector = aiohttp.TCPConnector(
            limit=config.concurrency,  # = the concurrency: a worker holds at most one connection
            ttl_dns_cache=300,
            resolver=self._resolver,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=config.timeout),
            headers=self.headers,
            # For a WARC record the body is read as received (concur decodes a copy);
            # aiohttp asks for gzip and deflate either way.
            auto_decompress=not self.warc,
        )
        _no_hidden_retry(self.session)

    async def aclose(self) -> None:
        await self.session.close()
        if self._resolver is not None:  # a resolver passed in is not the connector's to close
            await self._resolver.close()

    def _ssl(self, url: str) -> ssl.SSLContext | bool:
        """The request's ``ssl=``: concur's context for https, aiohttp's default for http.

        The context (:func:`~concur.engines.connect.ssl_context`: ``--ca-file``, else
        ``$SSL_CERT_FILE``, else the system's store) is made on the first https URL: a
        plain-HTTP run does not pay the ~15 ms of loading a store.  http keeps ``True``,
        so its connections are pooled under the same key before and after.
        """
        if url[:6].lower() != "https:":
            return True
        if self._tls is None:
            self._tls = ssl_context(self.config)
        return self._tls

    async def fetch(self, url: str) -> Attempt:
        limit = self.limit
        try:
            async with self.session.get(url, allow_redirects=False, ssl=self._ssl(url)) as resp:
                if self.warc:
                    return await self._record(resp)
                status = resp.status
                headers = resp.headers
                length = resp.content_length
                plain = not headers.get("Content-Encoding")
                try:
                    if length is not None and length <= limit and plain:
                        data = await resp.read()  # a small plain body: one read, no chunking
                        got: Body | None = Body(limit, self.keep_body, data)
                    else:
                        got = await acollect(resp.content.iter_any(), limit, self.keep_body)
                except Exception as exc:  # the answer began: keep its status
                    return broke_off(classify(exc), status)
                if got is None:
                    return too_large(status, limit)
                # raw_headers: the lines as received (bytes); resp.headers merges by name
                return answered(status, got, headers.get, lambda: latin1(resp.raw_headers))
        except Exception as exc:  # mapped to an error kind, never raised further
            return classify(exc)

    async def _record(self, resp: aiohttp.ClientResponse) -> Attempt:
        """The answer as received, for a WARC record (the session does not decode)."""
        status = resp.status
        headers = resp.headers
        payload = Payload(self.limit, self.keep_body, headers.get("Content-Encoding"))
        try:
            got = await afill(resp.content.iter_any(), payload)
        except Exception as exc:  # the answer began: keep its status
            return broke_off(classify(exc), status)
        if got is None:
            return too_large(status, self.limit)
        # request_info.headers: every header aiohttp wrote, Host and Accept-Encoding too
        sent = resp.request_info.headers.items()
        lines = latin1(resp.raw_headers)
        return recorded(status, got, headers.get, lines, sent, resp.reason or "")
