"""WARC output: every exchange a run makes, kept as request and response records.

``--warc crawl.warc.gz`` (``CrawlConfig.warc``) makes every engine, in both jobs, write
each attempt that got an answer as a WARC request record and a response record — the
format web archives use (ISO 28500, WARC 1.1), so wget, Heritrix, pywb, warcio and
``concur serve --replay`` all read it:

* the response record holds the status line, every header as received (in order, names
  as sent) and the payload **as received**: with ``--warc`` the engines stop decoding
  ``Content-Encoding`` themselves and concur decodes a copy for link extraction, so a
  gzip answer is kept gzipped under its own ``Content-Encoding: gzip`` header, as
  ``wget --warc-file`` and Heritrix keep it (a decoded body under that header would be
  a record that lies);
* the request record holds the request line and the headers the library sent, and names
  its response (``WARC-Concurrent-To``);
* a ``warcinfo`` record opens each file: concur's version, the engine, the config;
* each record is gzipped on its own (a ``.warc.gz`` any reader can seek in), with
  ``WARC-Block-Digest`` and ``WARC-Payload-Digest`` (sha1, base32); a path ending in
  ``.warc`` asks for records left uncompressed (wget's ``--no-warc-compression``):
  larger files, and the cheapest ``--warc`` there is (gzip is a third of its CPU);
* ``--warc-max-size`` starts a new file when one passes that many bytes
  (``crawl-00000.warc.gz``, ``crawl-00001.warc.gz``, ...), and each worker of a shared crawl
  writes files of its own (its tag in the name): WARC files are never shared between
  processes.

Robots.txt and sitemap fetches are exchanges too, and are kept; an attempt that got no
answer (refused, reset before the status line, timed out) has nothing to keep.

Who writes what
---------------

FastWARC (Resiliparse's WARC library, compiled) builds each record: its header lines,
``Content-Length``, and the block and payload digests (sha1, base32).  warcio, the
reference library, reads them back: ``concur serve --replay`` reads with it, and the
tests run ``warcio check`` (every digest verified) and ``warcio index`` on every file
written here.  concur only decides what goes in (the exchange as received) and how the
records are grouped, gzipped and written.

Where the CPU goes, and what that chose
---------------------------------------

``--warc`` should cost a crawl little CPU (issue 13 asks for under a tenth); the
figures, measured inside crawls of the synthetic site, are in docs/benchmarks.md,
"What ``--warc`` costs" (``scripts/bench_warc.py``).

* **Records**: FastWARC takes ~20-25 µs a record of a few KiB, digests included;
  warcio's writer, tried first, took ~100 (its header handling is Python).
* **gzip** is the other large part.  A gzip member a record means a fresh deflate
  stream a record, and on records of one or two KiB the fixed cost of a stream (Huffman
  tables built for each) is most of it: zlib's level 1 takes 10-35 µs a member,
  whatever its window or ``memLevel``.  ISA-L's deflate (the ``isal`` package, from
  Intel's storage library; in the ``warc`` extra) at its level 0 takes 2-5: its tables
  are precomputed.  On pages of 20-300 KiB its files are 4 % larger than zlib's level 1
  (level 6: 15 % smaller, 2.5 times the time); with the synthetic site's small records,
  28 %.  So ISA-L, level 0, when ``isal`` is installed, and zlib, level 1, when it is
  not (:data:`GZIP_LIBRARY` says which).
* **Batches.** :meth:`WarcFile.write` only notes the exchange and its time;
  :meth:`WarcFile.flush` writes ``_BATCH`` of them at a time, or what a second brought.
  One exchange written between two of the crawl's pages runs on cold caches and leaves
  them cold for the crawl: one at a time cost the crawl 41 % more CPU than no ``--warc``,
  eight at a time 21 %, 64 at a time 13 % (256: no better), in one paired run.  The
  price: a process killed outright (not stopped: ``close`` flushes) loses the exchanges
  of its last batch, where it lost an 8 KiB file buffer before.  A writer thread, tried
  too, cost more CPU, not less: handing the GIL over is not free.
* Smaller things: a record ID is a random prefix and a counter (:class:`_RecordIds`),
  not a ``uuid4`` object; ``WARC-Date`` is formatted once a second (:class:`_Clock`); the
  request's header lines are joined once for each set a library sends.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import itertools
import json
import os
import re
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import quote

from concur.errors import ConcurError, EngineUnavailable

if TYPE_CHECKING:
    from fastwarc.warc import WarcRecordType

    from concur.attempt import Attempt
    from concur.records import CrawlConfig

__all__ = ["GZIP_LIBRARY", "WarcFile", "open_warc", "require_warcio", "warc_name"]

INSTALL = "pip install 'concur[warc]'"

_BATCH = 64  # exchanges noted before they are written (see "Batches" above)
_RESPONSE = "application/http; msgtype=response"
_REQUEST = "application/http; msgtype=request"
_EMPTY = hashlib.sha1(b"").digest()  # a GET's payload digest
_URL_SAFE = "/?#[]@!$&'()*+,;=%:~"
_AUTHORITY = re.compile(r"[^:/?#]*://([^/?#]*)")  # scheme://authority, the host in group 1


def require_warcio() -> None:
    """Raise :class:`EngineUnavailable` with the pip line when the WARC writer is missing."""
    try:
        import fastwarc.warc  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailable(f"--warc needs FastWARC: {INSTALL}") from exc


def open_warc(
    config: CrawlConfig, *, engine: str = "", tag: str = "", append: bool = False
) -> WarcFile | None:
    """The WARC files ``config.warc`` asks for (None when it asks for none)."""
    if config.warc is None:
        return None
    return WarcFile(
        config.warc,
        config,
        engine=engine,
        tag=tag,
        max_size=config.warc_max_size,
        append=append,
    )


def warc_name(path: str, tag: str = "", number: int | None = None) -> str:
    """The file name of one WARC file: ``path`` with a worker's ``tag`` and a rotation
    ``number`` before the ``.warc.gz`` (``crawl.warc.gz`` -> ``crawl-w1-00003.warc.gz``)."""
    if not tag and number is None:
        return path
    p = Path(path)
    name = p.name
    for ext in (".warc.gz", ".warc"):
        if name.endswith(ext):
            stem, suffix = name[: -len(ext)], ext
            break
    else:
        stem, suffix = name, ".warc.gz"
    parts = [stem] + ([tag] if tag else []) + ([f"{number:05d}"] if number is not None else [])
    return str(p.with_name("-".join(parts) + suffix))


class WarcFile:
    """The WARC files of one process: request/response pairs, rotated at ``max_size``."""

    def __init__(
        self,
        path: str,
        config: CrawlConfig,
        *,
        engine: str = "",
        tag: str = "",
        max_size: int | None = None,
        append: bool = False,
    ) -> None:
        require_warcio()
        from fastwarc.warc import WarcRecord, WarcRecordType

        self._new = WarcRecord
        self._types = WarcRecordType
        self.path = path
        self.tag = tag
        self.max_size = max_size
        self.append = append  # a resumed crawl adds to its files (each its own warcinfo)
        self.files: list[str] = []
        # gzip a member a record, unless the name asks for a plain .warc
        self._gzip = _stored if path.endswith(".warc") else _gzip
        self.records = 0
        self._number = 0 if max_size else None
        info = {
            "software": f"concur/{_version()}",
            "format": "WARC File Format 1.1",
            "engine": engine,
            "user-agent": config.user_agent,
            "concur-config": json.dumps(config.to_dict(), sort_keys=True),
        }
        self._info = "".join(f"{k}: {v}\r\n" for k, v in info.items()).encode()
        self._clock = _Clock()
        self._ids = _RecordIds()
        self._pending: list[tuple[str, Attempt, int]] = []  # url, attempt, time (ns)
        self._asked: dict[tuple[tuple[str, str], ...], tuple[str, bool]] = {}  # _blocks
        self._file: BinaryIO | None = None
        self._size = 0
        self._open()

    def write(self, url: str, attempt: Attempt, when: datetime | None = None) -> None:
        """Keep one attempt: its response and its request (nothing if no answer came),
        dated ``when`` (now by default; a naive time is taken as UTC).

        The exchange is only noted here, and written with its batch (:meth:`flush`)."""
        if attempt.status is None or not attempt.headers:
            return
        stamp = time.time_ns() if when is None else _ns(when)
        pending = self._pending
        pending.append((url, attempt, stamp))
        if len(pending) >= _BATCH or stamp - pending[0][2] >= 1_000_000_000:
            self.flush()

    def flush(self) -> None:
        """Write the exchanges noted so far, starting a new file where one passes
        ``max_size``.

        A batch at a time, on warm caches: each exchange's two records and their gzip
        members, then one write (one a file, when the batch fills one).
        """
        pending, self._pending = self._pending, []
        if not pending:
            return
        sha1 = hashlib.sha1
        ids = self._ids
        clock = self._clock
        types = self._types
        chunk: list[bytes] = []
        for url, attempt, stamp in pending:
            uri, http, payload, request = _blocks(url, attempt, self._asked)
            date = clock.date(stamp)
            answer = ids.next()
            response = self._record(
                types.response, answer, date, _RESPONSE, http + payload, uri, sha1(payload).digest()
            )
            asking = self._record(
                types.request, ids.next(), date, _REQUEST, request, uri, _EMPTY, answer
            )
            pair = self._gzip(response) + self._gzip(asking)
            chunk.append(pair)
            self._size += len(pair)
            if self.max_size and self._size >= self.max_size:
                self._write(chunk)
                chunk = []
                self._rotate()
        self._write(chunk)
        self.records += 2 * len(pending)

    def _record(
        self,
        kind: WarcRecordType,
        record_id: str,
        date: str,
        content_type: str,
        block: bytes,
        uri: str = "",
        payload_digest: bytes | None = None,
        concurrent: str = "",
    ) -> bytes:
        """One WARC record by FastWARC, not yet gzipped: its header (digests included)
        and ``block``; ``concurrent`` names the record this one goes with."""
        record = self._new()
        record.init_headers(record_type=kind, record_urn=f"uuid:{record_id}".encode())
        headers = record.headers
        headers["WARC-Date"] = date
        if uri:
            headers["WARC-Target-URI"] = uri
        if concurrent:
            headers["WARC-Concurrent-To"] = f"<urn:uuid:{concurrent}>"
        headers["Content-Type"] = content_type
        record.set_bytes_content(block)
        out = io.BytesIO()
        record.write(out, checksum_data=True, payload_digest=payload_digest)
        return out.getvalue()

    def close(self) -> None:
        if self._file is not None and not self._file.closed:
            self.flush()
            self._file.close()

    def _open(self) -> None:
        name = warc_name(self.path, self.tag, self._number)
        try:
            self._file = open(name, "ab" if self.append else "wb")  # noqa: SIM115 - kept open
        except OSError as exc:
            raise ConcurError(f"cannot write {name}: {exc.strerror or exc}") from exc
        self.files.append(name)
        record = self._record(self._types.warcinfo, self._ids.next(),
                              self._clock.date(time.time_ns()), "application/warc-fields",
                              self._info)  # fmt: skip
        member = self._gzip(record)
        self._size = self._file.tell() + len(member)
        self._write([member])

    def _write(self, members: list[bytes]) -> None:
        assert self._file is not None
        try:
            self._file.write(b"".join(members))
        except OSError as exc:
            raise ConcurError(f"cannot write {self.files[-1]}: {exc.strerror or exc}") from exc

    def _rotate(self) -> None:
        assert self._file is not None and self._number is not None
        self._file.close()
        self._number += 1
        self._open()


def _blocks(
    url: str, attempt: Attempt, asked: dict[tuple[tuple[str, str], ...], tuple[str, bool]]
) -> tuple[str, bytes, bytes, bytes]:
    """What the records of one exchange hold: the target URI (as a header can hold
    it), the response's status line and headers, its payload, and the request.

    ``asked`` keeps the request's header lines by what the library sent, which is much
    the same for every request (and whether ``Host`` is among them).
    """
    status = attempt.status or 0
    payload = attempt.raw if attempt.raw is not None else (attempt.body or b"")
    head = f"HTTP/1.1 {status} {attempt.reason or _phrase(status)}".rstrip()
    head += "\r\n" + "".join([f"{k}: {v}\r\n" for k, v in attempt.headers]) + "\r\n"
    uri = _uri(url)
    authority = _AUTHORITY.match(uri)
    target = uri[authority.end() :].partition("#")[0] if authority else uri
    if target[:1] != "/":
        target = "/" + target
    sent = attempt.sent
    known = asked.get(sent)
    if known is None:
        if len(asked) >= 256:
            asked.clear()
        host = any(k.lower() == "host" for k, _ in sent)
        known = asked[sent] = "".join([f"{k}: {v}\r\n" for k, v in sent]) + "\r\n", host
    lines, host = known
    if not host and authority:  # http.client adds it below what the library shows
        lines = f"Host: {authority[1].rpartition('@')[2]}\r\n{lines}"
    request = f"GET {target} HTTP/1.1\r\n{lines}"
    return uri, head.encode("latin-1", "replace"), payload, request.encode("latin-1", "replace")


def _gzipper(library: str) -> Callable[[bytes], bytes]:
    """How a record becomes its gzip member (one a record, so that a reader can seek to
    any of them) with ``library``, "isal" or "zlib": see "gzip" above for the levels."""
    if library == "isal":
        compress: Callable[..., bytes] = importlib.import_module("isal.isal_zlib").compress
        return lambda record: compress(record, 0, wbits=31)
    return lambda record: zlib.compress(record, 1, wbits=31)


try:  # ISA-L's deflate, when it is installed: see "gzip" above
    importlib.import_module("isal.isal_zlib")
    GZIP_LIBRARY = "isal"
except ImportError:
    GZIP_LIBRARY = "zlib"
_gzip = _gzipper(GZIP_LIBRARY)


def _stored(record: bytes) -> bytes:
    """A record as it is, for a plain ``.warc``."""
    return record


class _RecordIds:
    """``WARC-Record-ID`` values: UUIDs of 74 random bits, drawn once for the process's
    files, and a 48-bit counter — as unique as version 4's, for a counter's cost, and
    marked version 8 (RFC 9562's own layout) because they are not all random."""

    __slots__ = ("prefix", "count")

    def __init__(self) -> None:
        r = int.from_bytes(os.urandom(10), "big")  # 80 bits, 74 of them used
        self.prefix = (
            f"{r >> 48 & 0xFFFFFFFF:08x}-{r >> 32 & 0xFFFF:04x}-8{r >> 20 & 0xFFF:03x}-"
            f"{8 | r >> 18 & 3:x}{r >> 6 & 0xFFF:03x}-"
        )
        self.count = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.count):012x}"


class _Clock:
    """``WARC-Date`` values, in UTC to the microsecond, from ``time.time_ns()``; the date
    and time of day are formatted once a second (``strftime`` costs more than the rest
    of a record's header)."""

    __slots__ = ("second", "text")

    def __init__(self) -> None:
        self.second = -1
        self.text = ""

    def date(self, ns: int) -> str:
        second, rest = divmod(ns, 1_000_000_000)
        if second != self.second:
            self.second = second
            self.text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self.text}.{rest // 1000:06d}Z"


def _ns(when: datetime) -> int:
    """A given time in ns since the epoch, exactly (a naive one is taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(microseconds=1) * 1000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _uri(url: str) -> str:
    """``url`` as a header line can hold it: printable ASCII without spaces (an IRI is
    %-escaped as UTF-8, as clients send it; a line break could end the header)."""
    if url.isascii() and url.isprintable() and " " not in url:
        return url
    return quote(url, safe=_URL_SAFE)


def _phrase(status: int) -> str:
    """The standard reason phrase, when the library did not keep the server's."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _version() -> str:
    """concur's version, from its installed metadata (the package's front door, which
    imports everything lazily, is not needed for one string)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("concur")
    except PackageNotFoundError:
        return "unknown"
