"""What every engine's fetcher shares: its shape, and reading a body within a limit.

A fetcher is the part of an engine that differs between HTTP libraries, and nothing
more: made from a :class:`~concur.records.CrawlConfig` with two switches the job sets —
``redirects`` (follow them, for a URL list; report them, for a crawl) and ``keep_body``
(a crawl extracts links from it; a list only counts its bytes) — then opened,
``fetch(url) -> Attempt`` as often as the driver likes, and closed.  Blocking fetchers
are context managers; async ones are async context managers whose ``fetch`` is a
coroutine.  ``variant`` names the options that chose the library's setup (Tornado's
client, httpx's transport) for the result's ``extra``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from types import TracebackType
from typing import Any

from concur.attempt import Attempt, answer
from concur.records import CrawlConfig

__all__ = ["AsyncFetcher", "BlockingFetcher", "Body", "acollect", "answered", "collect"]


class Body:
    """A body read within a limit: how many bytes so far, and the bytes when kept."""

    __slots__ = ("limit", "nbytes", "data")

    def __init__(self, limit: int, keep: bool, data: bytes | None = None) -> None:
        self.limit = limit
        self.nbytes = 0 if data is None else len(data)
        self.data: bytes | bytearray | None = data if keep else None
        if keep and data is None:
            self.data = bytearray()

    def add(self, piece: bytes) -> bool:
        """Take the next piece; False once the body is over the limit (stop reading)."""
        self.nbytes += len(piece)
        if self.nbytes > self.limit:
            return False
        if self.data is not None:
            self.data += piece
        return True


class _Base:
    variant: dict[str, Any] = {}

    def __init__(self, config: CrawlConfig, *, redirects: bool, keep_body: bool) -> None:
        self.config = config
        self.redirects = redirects
        self.keep_body = keep_body
        self.limit = config.max_body
        self.headers = {"User-Agent": config.user_agent, **dict(config.headers)}


class BlockingFetcher(_Base):
    """A blocking fetcher: ``with Fetcher(config, ...) as f: f.fetch(url)``."""

    def close(self) -> None:
        """Release the client's connections."""

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncFetcher(_Base):
    """An async fetcher: ``async with Fetcher(config, ...) as f: await f.fetch(url)``.

    The client is made in :meth:`open`, on the running loop (most clients bind to it).
    """

    async def open(self) -> None:
        """Make the client."""

    async def aclose(self) -> None:
        """Release the client's connections."""

    async def __aenter__(self) -> Any:
        await self.open()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def collect(pieces: Iterable[bytes], limit: int, keep: bool) -> Body | None:
    """Read a body's pieces; None as soon as it passes ``limit`` bytes."""
    body = Body(limit, keep)
    for piece in pieces:
        if not body.add(piece):
            return None
    return body


async def acollect(pieces: AsyncIterable[bytes], limit: int, keep: bool) -> Body | None:
    """:func:`collect` for a body that arrives asynchronously."""
    body = Body(limit, keep)
    async for piece in pieces:
        if not body.add(piece):
            return None
    return body


def answered(
    status: int, body: Body, header: Callable[[str], str | None], final_url: str = ""
) -> Attempt:
    """The attempt of an answer: with the headers the rules read when the body is kept.

    ``header(name)`` looks a response header up (None when absent).  ``Retry-After``
    is read only where it means "wait" (429, 503).
    """
    retry_after = header("Retry-After") if status == 429 or status == 503 else None
    if body.data is None:
        return answer(status, body.nbytes, retry_after=retry_after, final_url=final_url)
    return answer(
        status,
        body.nbytes,
        bytes(body.data),
        header("Content-Type") or "",
        header("Location") or "",
        retry_after,
        final_url,
    )
