"""What every engine's fetcher shares: its shape, and reading a body within a limit.

A fetcher is the part of an engine that differs between HTTP libraries, and nothing
more: made from a :class:`~concur.records.CrawlConfig` and one switch the job sets,
``keep_body`` (a crawl extracts links from it; a list only counts its bytes), then opened,
``fetch(url) -> Attempt`` as often as the driver likes, and closed.  Blocking fetchers
are context managers; async ones are async context managers whose ``fetch`` is a
coroutine.  A fetcher never follows redirects: it reports a 3xx with its ``Location``,
and the job decides (the same hop limit, schemes and address rules on every engine).
``variant`` names the options that chose the library's setup (Tornado's
client, httpx's transport) for the result's ``extra``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from concur.attempt import Attempt, answer
from concur.records import CrawlConfig, ErrorKind

__all__ = [
    "AsyncFetcher",
    "BlockingFetcher",
    "Body",
    "HeaderLines",
    "acollect",
    "answered",
    "ascii_url",
    "broke_off",
    "collect",
    "latin1",
    "urllib3_headers",
]


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

    def __init__(self, config: CrawlConfig, *, keep_body: bool) -> None:
        self.config = config
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


HeaderLines = Callable[[], Iterable[tuple[str, str]]]


def answered(
    status: int,
    body: Body,
    header: Callable[[str], str | None],
    all_headers: HeaderLines | None = None,
) -> Attempt:
    """The attempt of an answer, with the headers the rules read.

    ``header(name)`` looks a response header up (None when absent).  ``Location`` is
    read for a redirect, ``Retry-After`` only where it means "wait" (429, 503), and
    ``Content-Type`` with a kept body (links are extracted from HTML only).
    ``all_headers()`` gives every header line as received (see :attr:`Attempt.headers`);
    it is called only with a kept body, so a URL list never pays for it.
    """
    retry_after = header("Retry-After") if status == 429 or status == 503 else None
    location = (header("Location") or "") if 300 <= status < 400 else ""
    if body.data is None:
        return answer(status, body.nbytes, location=location, retry_after=retry_after)
    ctype = header("Content-Type") or ""
    lines = tuple(all_headers()) if all_headers is not None else ()
    return answer(status, body.nbytes, bytes(body.data), ctype, location, retry_after, lines)


def latin1(pairs: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """Header lines a library gives as bytes, as text (HTTP's header charset is latin-1)."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in pairs]


def urllib3_headers(resp: Any) -> list[tuple[str, str]]:
    """Every header line of a urllib3 response (requests' ``resp.raw``), in order.

    urllib3's ``HTTPHeaderDict`` keeps repeats, but groups them under the first one's
    name; the ``http.client`` message it was made from keeps the lines as received.
    requests reads that message the same way (``_original_response``) for its cookies.
    """
    original = getattr(resp, "_original_response", None)
    if original is not None:
        items: list[tuple[str, str]] = original.msg.items()
        return items
    return list(resp.headers.iteritems())


def broke_off(attempt: Attempt, status: int) -> Attempt:
    """A failure after the status line came: keep the status; a reset cut the body short.

    Every engine reports a broken answer the same way — the status it did receive, and
    ``TRUNCATED`` rather than ``RESET`` when the peer closed in the middle of the body.
    """
    kind = attempt.error
    if kind is ErrorKind.RESET or kind is None:
        kind = ErrorKind.TRUNCATED
    return attempt._replace(status=status, error=kind)


_URL_SAFE = "/?#[]@!$&'()*+,;=%:~"


def ascii_url(url: str) -> str:
    """``url`` as a client that only takes ASCII needs it: an IDNA host, %-escaped UTF-8.

    What browsers (and aiohttp, requests, httpx) do before sending; libcurl and some
    others refuse the raw text.  Escapes already present are kept.
    """
    if url.isascii():
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host.isascii():
        netloc = parts.netloc.replace(host, host.encode("idna").decode("ascii"))
        parts = parts._replace(netloc=netloc)
    path, query, fragment = (quote(x, safe=_URL_SAFE) for x in parts[2:])
    return urlunsplit((parts.scheme, parts.netloc, path, query, fragment))
