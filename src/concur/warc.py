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
* the request record holds the request line and the headers the library sent;
* a ``warcinfo`` record opens each file: concur's version, the engine, the config;
* each record is gzipped on its own (a ``.warc.gz`` any reader can seek in), with
  ``WARC-Block-Digest`` and ``WARC-Payload-Digest`` (sha1, base32).

FastWARC (Resiliparse's WARC library, in compiled code) builds and digests the records;
concur gzips each one with a small zlib state.  warcio, the reference library, reads and
checks them in the tests (``warcio check``).  Measured on the synthetic site's 2 KiB
pages, warcio's writer cost 212 µs of CPU a page (two records), FastWARC with per-record
zlib 60-85 µs: the difference is Python code per header, and a fresh 256 KiB deflate
state per record (a ``memLevel`` of 4 halves its cost; pages are small).
* ``--warc-max-size`` starts a new file when one passes that many bytes
  (``crawl-00000.warc.gz``, ``crawl-00001.warc.gz``, ...), and each worker of a shared crawl
  writes files of its own (its tag in the name): WARC files are never shared between
  processes.

Robots.txt and sitemap fetches are exchanges too, and are kept; an attempt that got no
answer (refused, reset before the status line, timed out) has nothing to keep.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from concur.errors import ConcurError, EngineUnavailable

if TYPE_CHECKING:
    from concur.attempt import Attempt
    from concur.records import CrawlConfig

__all__ = ["WarcFile", "open_warc", "require_warcio", "warc_name"]

INSTALL = "pip install 'concur[warc]'"


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

        self._record = WarcRecord
        self._types = WarcRecordType
        self.path = path
        self.tag = tag
        self.max_size = max_size
        self.append = append  # a resumed crawl adds to its files (each its own warcinfo)
        self.files: list[str] = []
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
        self._file: Any = None
        self._size = 0
        self._open()

    def _open(self) -> None:
        name = warc_name(self.path, self.tag, self._number)
        try:
            self._file = open(name, "ab" if self.append else "wb")  # noqa: SIM115 - kept open
        except OSError as exc:
            raise ConcurError(f"cannot write {name}: {exc.strerror or exc}") from exc
        self.files.append(name)
        self._size = self._file.tell()
        info = self._build(self._types.warcinfo, "", self._info, "application/warc-fields")
        self._put(info)

    def _build(
        self,
        kind: Any,
        uri: str,
        block: bytes,
        content_type: str,
        payload: bytes | None = None,
        date: str | None = None,
    ) -> bytes:
        record = self._record()
        record.init_headers(record_type=kind, record_urn=uuid.uuid4().urn[4:].encode())
        headers = record.headers
        if date is not None:
            headers["WARC-Date"] = date
        if uri:
            headers["WARC-Target-URI"] = uri
        headers["Content-Type"] = content_type
        record.set_bytes_content(block)
        out = io.BytesIO()
        if payload is None:
            record.write(out, checksum_data=True)
        else:
            record.write(out, checksum_data=True, payload_digest=hashlib.sha1(payload).digest())
        return out.getvalue()

    def _put(self, data: bytes) -> None:
        """One gzip member a record, so that a reader can seek to any of them."""
        gz = zlib.compressobj(6, zlib.DEFLATED, 31, 4)
        member = gz.compress(data) + gz.flush()
        try:
            self._file.write(member)
        except OSError as exc:
            raise ConcurError(f"cannot write {self.files[-1]}: {exc.strerror or exc}") from exc
        self._size += len(member)

    def write(self, url: str, attempt: Attempt, when: datetime | None = None) -> None:
        """Keep one attempt: its response and its request (nothing if no answer came)."""
        status = attempt.status
        if status is None or not attempt.headers:
            return
        date = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        payload = attempt.raw if attempt.raw is not None else (attempt.body or b"")
        reason = attempt.reason or _phrase(status)
        head = f"HTTP/1.1 {status} {reason}".rstrip() + "\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in attempt.headers) + "\r\n"
        block = head.encode("latin-1", "replace") + payload
        response = self._build(
            self._types.response, url, block, "application/http; msgtype=response", payload, date
        )
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        asked = f"GET {target} HTTP/1.1\r\n"
        asked += "".join(f"{k}: {v}\r\n" for k, v in _request_headers(url, attempt.sent))
        request = self._build(
            self._types.request,
            url,
            (asked + "\r\n").encode("latin-1", "replace"),
            "application/http; msgtype=request",
            b"",
            date,
        )
        self._put(response)
        self._put(request)
        self.records += 2
        if self.max_size and self._size >= self.max_size:
            self._rotate()

    def _rotate(self) -> None:
        self._file.close()
        assert self._number is not None
        self._number += 1
        self._open()

    def close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()


def _request_headers(url: str, sent: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The request's headers as the library sent them; ``Host`` first if it left it to the
    socket layer (http.client adds it there, after the headers we can see)."""
    headers = list(sent)
    if not any(k.lower() == "host" for k, _ in headers):
        headers.insert(0, ("Host", urlsplit(url).netloc))
    return headers


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
