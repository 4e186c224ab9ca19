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

With ``CrawlConfig.warc`` set (``self.warc``), in either job, a fetcher reads each body as
received instead — its library's Content-Encoding decoding off, the request it sends
unchanged — into a :class:`Payload`, which decodes a copy here (gzip, deflate, and br or
zstd where their modules import), and reports with :func:`recorded`: the raw payload, the
request headers sent and the reason phrase go into the attempt, for a WARC record.  Without
it nothing of this runs: a fetcher checks ``self.warc`` once per fetch.
"""

from __future__ import annotations

import functools
import importlib
import zlib
from collections.abc import AsyncIterable, Callable, Iterable
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from concur.attempt import Attempt, answer, failure, one_line
from concur.records import CrawlConfig, ErrorKind

__all__ = [
    "AsyncFetcher",
    "BlockingFetcher",
    "Body",
    "HeaderLines",
    "Payload",
    "acollect",
    "afill",
    "answered",
    "ascii_url",
    "broke_off",
    "collect",
    "fill",
    "latin1",
    "recorded",
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
        self.warc = config.warc is not None  # read bodies as received: see Payload


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


# -- a body as received, for a WARC record ------------------------------------------------


class Payload(Body):
    """A body read as received (``raw``), its Content-Encoding decoded here as it arrives.

    A WARC record keeps the payload as exchanged, so an engine writing one turns its
    library's decoding off, and a copy is decoded here for the body (link extraction, the
    page hook) and for ``nbytes``, which counts decoded bytes on every engine.  ``coding``
    is the Content-Encoding header's value.  ``max_body`` still bounds the *decoded* size,
    piece by piece (zlib is asked for no more than the room left), so a decompression bomb
    stays TOO_LARGE without being inflated; the payload itself may take twice the limit
    (more than any encoder's overhead) before it counts as too large, against a stream
    that decodes to next to nothing.  A coding that cannot be decoded here (unknown, or br
    without ``brotli``) leaves the body as received, as HTTP clients do; a payload that is
    not what its coding says sets :attr:`undecodable` (the answer becomes a PROTOCOL error).
    """

    __slots__ = ("raw", "keep", "decoders", "undecodable")

    def __init__(self, limit: int, keep: bool, coding: str | None = None) -> None:
        self.decoders = _decoders(coding) if coding else None
        # the body is the payload itself when nothing is decoded: no second copy
        super().__init__(limit, keep and self.decoders is not None)
        self.raw = bytearray()
        self.keep = keep
        self.undecodable = ""

    def add(self, piece: bytes) -> bool:
        raw = self.raw
        raw += piece
        decoders = self.decoders
        if decoders is None:  # the body is the payload
            self.nbytes = len(raw)
            return self.nbytes <= self.limit
        room = 2 * self.limit + 4096
        if len(raw) > room:
            return False
        try:  # each stage is asked for no more than could still fit, plus one byte
            for decode in decoders[:-1]:
                piece = decode(piece, room)
            piece = decoders[-1](piece, self.limit - self.nbytes + 1)
        except Exception as exc:  # zlib.error, brotli.error...: the payload is not its coding
            self.undecodable = f"undecodable body: {one_line(exc)}"
            self.decoders = None  # keep reading it as it is (the connection stays usable)
            return True
        return super().add(piece)


def fill(pieces: Iterable[bytes], payload: Payload) -> Payload | None:
    """Read a body's pieces as received into ``payload``; None once it is too large."""
    for piece in pieces:
        if not payload.add(piece):
            return None
    return payload


async def afill(pieces: AsyncIterable[bytes], payload: Payload) -> Payload | None:
    """:func:`fill` for a body that arrives asynchronously."""
    async for piece in pieces:
        if not payload.add(piece):
            return None
    return payload


def recorded(
    status: int,
    payload: Payload,
    header: Callable[[str], str | None],
    lines: Iterable[tuple[str, str]],
    sent: Iterable[tuple[str, str]],
    reason: str,
) -> Attempt:
    """:func:`answered` for a payload read as received: the attempt a WARC record needs.

    ``lines`` are every response header line as received (:attr:`Attempt.headers`, in
    either job), ``sent`` the request's header lines as the library sent them, ``reason``
    the status line's reason phrase.
    """
    if payload.undecodable:
        return failure(ErrorKind.PROTOCOL, payload.undecodable, status, payload.nbytes)
    retry_after = header("Retry-After") if status == 429 or status == 503 else None
    location = (header("Location") or "") if 300 <= status < 400 else ""
    ctype = (header("Content-Type") or "") if payload.keep else ""
    raw = bytes(payload.raw)
    if not payload.keep:
        body = None
    elif payload.data is None:  # nothing was decoded: the body is the payload, one copy
        body = raw
    else:
        body = bytes(payload.data)
    return answer(
        status,
        payload.nbytes,
        body,
        ctype,
        location,
        retry_after,
        tuple(lines),
        raw=raw,
        sent=tuple(sent),
        reason=reason,
    )


Decode = Callable[[bytes, int], bytes]  # (data, at most this many bytes out) -> bytes out


def _decoders(coding: str) -> list[Decode] | None:
    """Decoders for a Content-Encoding value, last applied first; None: leave it as is.

    None also for ``identity`` and for a coding this Python cannot decode.  More than
    five codings are not decoded either (urllib3 refuses them too: a cheap way to make a
    client work hard).
    """
    names = [name.strip().lower() for name in coding.split(",")]
    names = [name for name in names if name and name != "identity"]
    if not names or len(names) > 5:
        return None
    out: list[Decode] = []
    for name in reversed(names):
        make = _CODINGS.get(name)
        decode = make() if make is not None else None
        if decode is None:
            return None
        out.append(decode)
    return out


class _Inflate:
    """gzip (every member of a multi-member stream) or deflate, as the pieces arrive.

    HTTP's ``deflate`` is meant to be zlib-wrapped, but some servers send it raw; the
    first two bytes tell which (a zlib header's check bits), as browsers decide.
    """

    __slots__ = ("gzip", "obj", "head", "done", "later")

    def __init__(self, gzip: bool) -> None:
        self.gzip = gzip
        self.obj = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
        self.head: bytes | None = None if gzip else b""  # deflate: bytes until it is known
        self.done = False
        self.later = False  # past the first gzip member

    def __call__(self, data: bytes, room: int) -> bytes:
        if self.done:
            return b""
        if self.head is not None:
            data = self.head + data
            if len(data) < 2:
                self.head = data
                return b""
            self.head = None
            if data[0] & 0x0F != 8 or (data[0] << 8 | data[1]) % 31:  # not a zlib header
                self.obj = zlib.decompressobj(-zlib.MAX_WBITS)
        out = b""
        while data and len(out) < room:  # room >= 1: zlib reads 0 as "no limit"
            obj = self.obj
            if obj.eof:  # the stream ended and bytes follow
                if not self.gzip:
                    self.done = True  # ignored, as clients do
                    break
                obj = self.obj = zlib.decompressobj(16 + zlib.MAX_WBITS)  # another member?
                self.later = True
            try:
                out += obj.decompress(data, room - len(out))
            except zlib.error:
                if not self.later:
                    raise
                self.done = True  # garbage after a complete member (padding): ignored
                break
            data = obj.unused_data if obj.eof else b""
        return out


@functools.cache
def _module(*names: str) -> Any:
    """The first of ``names`` that imports, or None (an optional decoder's library)."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def _brotli() -> Decode | None:
    module = _module("brotli", "brotlicffi")
    if module is None:
        return None
    obj = module.Decompressor()
    process = getattr(obj, "process", None) or obj.decompress
    bounded = [True]

    def decode(data: bytes, room: int) -> bytes:
        if bounded[0]:
            try:  # brotli >= 1.2 stops at a given output size; older ones cannot
                out: bytes = process(data, output_buffer_limit=room)
                return out
            except TypeError:
                bounded[0] = False
        out = process(data)
        return out

    return decode


def _zstd() -> Decode | None:
    stdlib = _module("compression.zstd")  # Python >= 3.14
    if stdlib is not None:
        state = [stdlib.ZstdDecompressor()]

        def frames(data: bytes, room: int) -> bytes:
            out = b""
            while data and len(out) < room:
                if state[0].eof:  # a frame ended and bytes follow: the next frame
                    state[0] = stdlib.ZstdDecompressor()
                obj = state[0]
                out += obj.decompress(data, room - len(out))
                data = obj.unused_data if obj.eof else b""
            return out

        return frames
    module = _module("zstandard")
    if module is None:
        return None
    obj = module.ZstdDecompressor().decompressobj()
    return lambda data, room: obj.decompress(data)  # one frame; no output bound


_CODINGS: dict[str, Callable[[], Decode | None]] = {
    "gzip": lambda: _Inflate(gzip=True),
    "x-gzip": lambda: _Inflate(gzip=True),
    "deflate": lambda: _Inflate(gzip=False),
    "br": _brotli,
    "zstd": _zstd,
}


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
