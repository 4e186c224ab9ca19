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

Compare with: ``threads`` (same overlap, pre-emptive, a thread per request in flight),
``gevent`` (same idea with implicit yields), ``httpx`` (same model, another client)
and ``uvloop`` — this very engine on a faster loop, selected by :func:`run_uvloop`.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import aiohttp

from concur.engines.base import (
    InFlight,
    Meter,
    OnRecord,
    Outcome,
    drain_async,
    one_line,
    outcome_for_status,
)
from concur.records import CrawlConfig, CrawlResult, ErrorKind, FetchRecord

if TYPE_CHECKING:
    from concur.crawl import Job, Page
    from concur.engines.crawling import CrawlPlan

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def classify(exc: BaseException) -> Outcome:
    """Map an aiohttp/asyncio exception to concur's error kinds (the only place that knows)."""
    detail = one_line(exc)
    if isinstance(exc, asyncio.TimeoutError):
        return Outcome(error=ErrorKind.TIMEOUT, detail=detail or "timed out")
    if isinstance(exc, aiohttp.InvalidURL):
        return Outcome(error=ErrorKind.INVALID_URL, detail=detail)
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, socket.gaierror):
            return Outcome(error=ErrorKind.DNS, detail=detail)
        if isinstance(os_error, ConnectionRefusedError):
            return Outcome(error=ErrorKind.REFUSED, detail=detail)
        return Outcome(error=ErrorKind.CONNECT, detail=detail)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return Outcome(error=ErrorKind.RESET, detail=detail)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return Outcome(error=ErrorKind.TRUNCATED, detail=detail)
    if isinstance(exc, aiohttp.TooManyRedirects):
        return Outcome(error=ErrorKind.OTHER, detail=detail)
    if isinstance(exc, aiohttp.ClientResponseError):  # the parser refused the response
        return Outcome(error=ErrorKind.PROTOCOL, detail=detail)
    if isinstance(exc, aiohttp.ClientOSError | ConnectionError | OSError):
        err = getattr(exc, "errno", None)
        if isinstance(exc, ConnectionResetError) or err in (errno.ECONNRESET, errno.EPIPE):
            return Outcome(error=ErrorKind.RESET, detail=detail)
        return Outcome(error=ErrorKind.CONNECT, detail=detail)
    if isinstance(exc, ssl.SSLError):
        return Outcome(error=ErrorKind.CONNECT, detail=detail)
    if isinstance(exc, aiohttp.ClientError | ValueError):
        return Outcome(error=ErrorKind.OTHER, detail=detail)
    raise exc


def _no_hidden_retry(session: aiohttp.ClientSession) -> None:
    """Stop aiohttp re-sending a request by itself: every attempt is one the record counts.

    aiohttp sends an idempotent request a second time, silently, when a reused keep-alive
    connection fails before the answer (RFC 9112 section 9.3.1 allows it).  urllib3 and
    httpx do not, and concur's attempt loop retries with backoff on every engine, so with
    it on the server saw 1,059 requests of the faults scenario from those engines and
    1,059 from aiohttp's while aiohttp's records counted 1,055.  There is no public switch;
    ``_retry_connection`` is the attribute aiohttp's own test client turns off.
    """
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False


async def _read_body(resp: aiohttp.ClientResponse, limit: int) -> int | None:
    """Stream the body and return its size, or None once it exceeds ``limit`` bytes."""
    total = 0
    async for piece in resp.content.iter_any():
        total += len(piece)
        if total > limit:
            return None
    return total


async def crawl(
    urls: Sequence[str], config: CrawlConfig, on_record: OnRecord = None
) -> CrawlResult:
    """Fetch every URL with at most ``config.concurrency`` requests in flight."""
    meter = Meter()
    gauge = InFlight()
    headers = {"User-Agent": config.user_agent, **dict(config.headers)}
    timeout = aiohttp.ClientTimeout(total=config.timeout)
    connector = aiohttp.TCPConnector(limit=config.concurrency, ttl_dns_cache=300)
    records: list[FetchRecord] = []
    limit = config.max_body

    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers, auto_decompress=True
    ) as session:
        _no_hidden_retry(session)

        async def fetch_once(url: str) -> Outcome:
            gauge.enter()
            try:
                async with session.get(url, max_redirects=config.max_redirects) as resp:
                    status = resp.status
                    length = resp.content_length
                    if (
                        length is not None
                        and length <= limit
                        and not resp.headers.get("Content-Encoding")
                    ):
                        nbytes: int | None = len(await resp.read())
                    else:
                        nbytes = await _read_body(resp, limit)
                    final = str(resp.url) if resp.history else ""
                    if nbytes is None:
                        detail = f"body over {limit} bytes"
                        return Outcome(status, limit, ErrorKind.TOO_LARGE, detail, None, final)
                    outcome = outcome_for_status(status, nbytes, final)
                    if status == 429 or status == 503:
                        outcome.retry_after = resp.headers.get("Retry-After")
                    return outcome
            except Exception as exc:  # mapped to a record, never raised further
                return classify(exc)
            finally:
                gauge.leave()

        work: Iterator[tuple[int, str]] = iter(enumerate(urls))
        n_workers = max(1, min(config.concurrency, len(urls)))
        await asyncio.gather(
            *(
                drain_async(fetch_once, work, config, meter.t0, records, on_record)
                for _ in range(n_workers)
            )
        )

    return meter.result("asyncio", config, records, gauge.peak)


def run(
    urls: Sequence[str],
    config: CrawlConfig,
    on_record: OnRecord = None,
    loop_factory: LoopFactory | None = None,
) -> CrawlResult:
    """Run :func:`crawl` on a fresh event loop made by ``loop_factory`` (asyncio's default)."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(crawl(urls, config, on_record))


def run_uvloop(urls: Sequence[str], config: CrawlConfig, on_record: OnRecord = None) -> CrawlResult:
    """The same engine on uvloop's event loop (libuv, in Cython): a variant, not a copy."""
    import uvloop

    return replace(
        run(urls, config, on_record, loop_factory=uvloop.new_event_loop), engine="uvloop"
    )


# --- crawl mode: follow links (see concur.engines.crawling) ------------------------------


async def fetch_page(session: aiohttp.ClientSession, job: Job, limit: int) -> Page:
    """One crawl fetch: ``job.url`` exactly, redirects not followed, body up to ``limit``."""
    from concur.crawl import Page

    try:
        async with session.get(job.url, allow_redirects=False) as resp:
            headers = resp.headers
            status = resp.status
            ctype = headers.get("Content-Type", "")
            body = bytearray()
            async for piece in resp.content.iter_any():
                body += piece
                if len(body) > limit:
                    detail = f"body over {limit} bytes"
                    return Page(
                        status, None, limit, ctype, error=ErrorKind.TOO_LARGE, detail=detail
                    )
            return Page(
                status,
                bytes(body),
                len(body),
                ctype,
                headers.get("Location", ""),
                headers.get("Retry-After"),
            )
    except Exception as exc:  # mapped to the page's error kind, never raised further
        outcome = classify(exc)
        return Page(
            outcome.status, None, outcome.nbytes, error=outcome.error, detail=outcome.detail
        )


async def follow_async(
    plan: CrawlPlan, config: CrawlConfig, on_record: OnRecord = None, engine: str = "asyncio"
) -> CrawlResult:
    """Crawl ``plan`` with ``config.concurrency`` worker tasks sharing one ``ClientSession``."""
    from concur.engines.crawling import crawl_run, drive_async, result_of

    meter = Meter()
    gauge = InFlight()
    headers = {"User-Agent": config.user_agent, **dict(config.headers)}
    timeout = aiohttp.ClientTimeout(total=config.timeout)
    connector = aiohttp.TCPConnector(limit=config.concurrency, ttl_dns_cache=300)
    limit = config.max_body
    with crawl_run(plan, config, on_record) as (scheduler, records):
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers=headers, auto_decompress=True
        ) as session:
            _no_hidden_retry(session)

            async def fetch(job: Job) -> Page:
                gauge.enter()
                try:
                    return await fetch_page(session, job, limit)
                finally:
                    gauge.leave()

            await drive_async(scheduler, fetch, config.concurrency, meter.t0)
        return result_of(engine, config, meter, scheduler, records, gauge.peak)


def follow(
    plan: CrawlPlan,
    config: CrawlConfig,
    on_record: OnRecord = None,
    loop_factory: LoopFactory | None = None,
) -> CrawlResult:
    """Crawl mode on a fresh event loop (asyncio's default, or ``loop_factory``'s)."""
    engine = "asyncio" if loop_factory is None else "uvloop"
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(follow_async(plan, config, on_record, engine))


def follow_uvloop(plan: CrawlPlan, config: CrawlConfig, on_record: OnRecord = None) -> CrawlResult:
    """Crawl mode on uvloop."""
    import uvloop

    return follow(plan, config, on_record, loop_factory=uvloop.new_event_loop)
