"""Large answer bodies, made a piece at a time while the client reads them.

A ``/bytes/67108864`` answer used to be generated whole (a quarter of a second of
``randbytes``), joined to its head (a second copy) and handed to the transport at once:
eight clients asking for one and not reading took the server from 29 to 541 MB, and each
answer held the event loop for ~300 ms.  Now a route gives such a plan a *body source*
instead of bytes: an object that knows the body's length and yields it in pieces of
:data:`PIECE` bytes.  The protocol (``server.py``) writes one piece per turn of the loop,
and only while the transport is not above its high-water mark (``pause_writing`` /
``resume_writing``): memory per connection stays under a MiB or so, and no turn of the loop
spends more than a fraction of a millisecond on one answer.  The same eight clients now
cost the server 1.5 MB, and a health check on another connection answers in ~10 ms.

The bytes are the same as before, byte for byte: :class:`SeededBytes` draws them from the
same ``random.Random(f"{seed}:{n}")`` in pieces whose sizes are multiples of four, and
``randbytes`` of consecutive multiples of four bytes is the prefix of one long draw (it
fills 32-bit words in order).  Bodies up to :data:`STREAM_OVER` stay plain bytes, cached
and rendered with their head in one write: the hot path does not change.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator

PIECE = 64 * 1024  # bytes made and written per turn of the loop (about 0.15 ms of randbytes)
STREAM_OVER = 1 << 20  # larger bodies are streamed; smaller ones are plain bytes
_PACK = 16 * 1024  # bytes compressed per piece of a gzipped stream (about 0.3 ms)


class Source:
    """A body made on demand: ``length`` bytes (None: not known before the end), in pieces."""

    length: int | None = None

    def pieces(self, end: int | None = None) -> Iterator[bytes]:
        """The body's first ``end`` bytes (all of it if None), a piece at a time."""
        whole = self._pieces()
        return whole if end is None else _prefix(whole, end)

    def _pieces(self) -> Iterator[bytes]:
        raise NotImplementedError


def _prefix(pieces: Iterator[bytes], end: int) -> Iterator[bytes]:
    """The first ``end`` bytes of ``pieces``.

    The pieces are made as for the whole body and the last one is cut, so a truncated
    answer is an exact prefix of the full one (a shorter ``randbytes`` draw is not).
    """
    left = end
    for piece in pieces:
        if left <= 0:
            return
        yield piece if len(piece) <= left else piece[:left]
        left -= len(piece)


class SeededBytes(Source):
    """``n`` seeded bytes: exactly ``random.Random(f"{seed}:{n}").randbytes(n)``."""

    def __init__(self, seed: int, n: int) -> None:
        self.seed = seed
        self.n = self.length = n

    def _pieces(self) -> Iterator[bytes]:
        n = self.n
        rng = random.Random(f"{self.seed}:{n}")
        for made in range(0, n, PIECE):  # PIECE is a multiple of four; the last piece the rest
            yield rng.randbytes(min(PIECE, n - made))


class Fill(Source):
    """``n`` copies of one byte (``/drip`` sends stars)."""

    def __init__(self, n: int, byte: bytes = b"*") -> None:
        self.n = self.length = n
        self.byte = byte

    def _pieces(self) -> Iterator[bytes]:
        n = self.n
        whole = self.byte * min(PIECE, n)
        for made in range(0, n, PIECE):
            yield whole if n - made >= PIECE else whole[: n - made]


class Gzipped(Source):
    """Another source, gzip-compressed as it goes (level 1, mtime 0, as ``routes`` does).

    The compressed length is known only at the end, so such an answer is sent with
    ``Transfer-Encoding: chunked`` rather than a ``Content-Length``.
    """

    length = None

    def __init__(self, inner: Source) -> None:
        self.inner = inner

    def _pieces(self) -> Iterator[bytes]:
        packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: the gzip wrapper, mtime 0
        for raw in self.inner.pieces():
            view = memoryview(raw)
            for start in range(0, len(raw), _PACK):  # a piece per 16 KiB compressed
                packed = packer.compress(view[start : start + _PACK])
                if packed:
                    yield packed
        yield packer.flush()
