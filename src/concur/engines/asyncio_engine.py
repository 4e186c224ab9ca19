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

import aiohttp

from concur.attempt import Attempt, failure, one_line, too_large
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


class Fetcher(AsyncFetcher):
    """``await fetch(url) -> Attempt`` on one ``aiohttp.ClientSession`` (an async context)."""

    session: aiohttp.ClientSession

    async def open(self) -> None:
        config = self.config
        self.session = aiohttp.ClientSession(
            # its limit equals the concurrency: each worker holds at most one connection
            connector=aiohttp.TCPConnector(limit=config.concurrency, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=config.timeout),
            headers=self.headers,
            # For a WARC record the body is read as received (concur decodes a copy);
            # aiohttp asks for gzip and deflate either way.
            auto_decompress=not self.warc,
        )
        _no_hidden_retry(self.session)

    async def aclose(self) -> None:
        await self.session.close()

    async def fetch(self, url: str) -> Attempt:
        limit = self.limit
        try:
            async with self.session.get(url, allow_redirects=False) as resp:
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
