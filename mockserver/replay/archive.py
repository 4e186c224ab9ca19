"""Recorded answers, read from WARC files: what ``--replay`` serves, and how it finds them.

Only ``response`` records of HTTP(S) URLs are read (``request``, ``warcinfo``,
``metadata``, ``revisit`` and ``resource`` records are skipped: a revisit names an
earlier answer instead of holding one).  Each becomes a :class:`Recorded`, kept in
memory, ready to be written as it is:

* the **status line** is the recorded one (``HTTP/1.1`` and the recorded code and reason
  phrase: this server speaks HTTP/1.1 whatever the recording did);
* the **headers** are the recorded ones, in their order, names and values byte for byte,
  minus the hop-by-hop headers (``Connection``, ``Keep-Alive``, ``Transfer-Encoding``,
  ``TE``, ``Trailer``, ``Upgrade``, ``Proxy-Authenticate``, ``Proxy-Authorization``,
  ``Proxy-Connection`` and any header a ``Connection`` header names): they described
  the recorded connection, not this one.  ``Content-Length`` is set to the payload's
  length, where the recorded one was (at the end if there was none); 1xx, 204 and 304
  answers carry none, and no payload;
* the **payload** is the recorded one, as received: a gzip answer stays gzipped under
  its ``Content-Encoding``.  A payload recorded under ``Transfer-Encoding: chunked`` is
  de-chunked when it is still framed in chunks (as wget and Heritrix keep it), and kept
  as it is when it is not (concur, warcio's own capture, keep the de-chunked bytes).

How a request finds its answer
------------------------------

By the **host name** of its ``Host`` header (lower case; or of an absolute-form target)
and its **target** (path and query, byte for byte as sent, against the recorded URI's).
The port is not part of the match, because the replay server listens on a port of its
own: a crawler reaching recorded hosts through ``--resolve`` sends the recorded port
in ``Host``, and a client pointed at the replay server directly sends the server's.
The port only breaks ties: when one host name and target were recorded under several
ports (``http://a/`` and ``http://a:8080/``, or ``http`` and ``https``), the answer
recorded under the ``Host`` header's port wins, else the one recorded last.  A URL
recorded more than once (a retry, a crawl that came back) answers with its **last**
record, the one the recording crawl kept.  A request without a ``Host`` is taken to
be for the host of the first recorded page.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

INSTALL = "pip install 'concur[warc]'"

# Headers that describe one connection, not the answer (RFC 9110 section 7.6.1).
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
_HEX = frozenset(b"0123456789abcdefABCDEF")


class ReplayError(Exception):
    """A recording that cannot be served: warcio missing, a file unreadable or no WARC."""


@dataclass(slots=True)
class Recorded:
    """One recorded answer, as it will be served.

    ``head`` is the status line and headers as they are written (``Content-Length``
    fixed), without the blank line that ends them (``head_text``: the same, decoded as
    latin-1); ``headers`` the headers as text, for reading (``Location``,
    ``Content-Type``, ``Content-Encoding``).
    """

    index: int  # position among the response records read, files in the order given
    uri: str  # WARC-Target-URI, without a fragment
    host: str  # host name, lower case (an IPv6 address in brackets)
    port: int  # the recorded port (80 or 443 when the URI has none)
    authority: str  # host[:port] as the URI writes it: what a client sends as ``Host``
    target: str  # path and query, as a request line carries them
    status: int
    head: bytes
    headers: list[tuple[str, str]]
    payload: bytes
    head_text: str = ""

    def __post_init__(self) -> None:
        self.head_text = self.head.decode("latin-1")

    def header(self, name: str) -> str | None:
        """The first value of a header (``name`` in lower case), or None."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


class Archive:
    """The recorded answers of one or more WARC files, indexed by host name and target."""

    def __init__(self, records: Sequence[Recorded], files: Sequence[str] = ()) -> None:
        self.files = list(files)
        self.responses = len(records)  # response records read, repeats included
        self.skipped = 0  # response records left out: cut short, or not an HTTP answer
        by_key: dict[tuple[str, str, int], Recorded] = {}
        for rec in records:  # the last record of a URL wins
            key = (rec.host, rec.target, rec.port)
            by_key.pop(key, None)  # re-inserted: dict order is then recording order
            by_key[key] = rec
        self.records: list[Recorded] = list(by_key.values())  # one per URL, in order
        self.by_index = {rec.index: rec for rec in self.records}
        self.index: dict[tuple[str, str], list[Recorded]] = {}
        for rec in self.records:
            self.index.setdefault((rec.host, rec.target), []).append(rec)
        self.hosts = list(dict.fromkeys(rec.host for rec in self.records))
        self.authorities = list(dict.fromkeys(rec.authority for rec in self.records))

    def __len__(self) -> int:
        return len(self.records)

    def lookup(self, host: str, port: int | None, target: str) -> Recorded | None:
        """The answer recorded for ``host`` (a lower-case name) and ``target`` (see above)."""
        found = self.index.get((host, target))
        if found is None:
            return None
        if len(found) == 1:
            return found[0]
        for rec in found:
            if rec.port == port:
                return rec
        return max(found, key=lambda rec: rec.index)

    @property
    def loopback(self) -> list[str]:
        """The recorded hosts that are IPv4 loopback addresses: the server listens on each."""
        return [h for h in self.hosts if _is_loopback_v4(h)]


def _is_loopback_v4(host: str) -> bool:
    parts = host.split(".")
    return (
        len(parts) == 4
        and parts[0] == "127"
        and all(p.isdigit() and p.isascii() and int(p) <= 255 for p in parts)
    )


def split_host(value: str) -> tuple[str, int | None]:
    """A ``Host`` header's name (lower case) and port (None if absent or not a number)."""
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8080
        end = value.find("]")
        name, rest = value[: end + 1], value[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port_text = value.partition(":")
    port = int(port_text) if port_text.isdigit() and port_text.isascii() else None
    return name, port


def load(paths: Iterable[str | os.PathLike[str]]) -> Archive:
    """Read every response record of the WARC files ``paths`` (gzipped or not)."""
    try:
        from warcio.archiveiterator import ArchiveIterator
        from warcio.exceptions import ArchiveLoadFailed
    except ImportError:
        raise ReplayError(f"--replay needs warcio: {INSTALL}") from None
    records: list[Recorded] = []
    skipped = 0  # response records that cannot be served
    files = [os.fspath(p) for p in paths]
    for path in files:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed below, read in a loop
        except OSError as exc:
            raise ReplayError(f"cannot read {path}: {exc.strerror or exc}") from None
        with fh:
            try:
                for record in ArchiveIterator(fh, no_record_parse=True):
                    if record.rec_type != "response":
                        continue
                    uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                    kind = (record.rec_headers.get_header("Content-Type") or "").lower()
                    if not kind.startswith("application/http"):
                        continue
                    block = record.raw_stream.read()
                    if record.length is not None and len(block) < record.length:
                        skipped += 1  # cut short (a file still being written): not served
                        continue
                    rec = parse(len(records), uri, block)
                    if rec is None:
                        skipped += 1
                    else:
                        records.append(rec)
            except (ArchiveLoadFailed, OSError, EOFError, ValueError, zlib.error) as exc:
                text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ReplayError(f"{path}: not a readable WARC file: {text[:120]}") from None
    if not records:
        raise ReplayError(f"no HTTP response records in {', '.join(files) or 'no files'}")
    archive = Archive(records, files)
    archive.skipped = skipped
    return archive


def parse(index: int, uri: str, block: bytes) -> Recorded | None:
    """A response record's block (HTTP head and payload) as a :class:`Recorded`.

    None for what cannot be served: a URI that is not http(s) with a host, a block that
    does not start with an HTTP status line.
    """
    uri = uri.strip().strip("<>").partition("#")[0]
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    authority = host if port is None else f"{host}:{port}"
    if port is None:
        port = 443 if scheme == "https" else 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    end, gap = block.find(b"\r\n\r\n"), 4
    bare = block.find(b"\n\n")
    if bare >= 0 and (end < 0 or bare < end):
        end, gap = bare, 2
    if end < 0:  # a head with no blank line after it: all head, no payload
        end, gap = len(block), 0
    lines = block[:end].split(b"\n")
    status_line = lines[0].rstrip(b"\r").split(None, 2)
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/"):
        return None
    code = status_line[1]
    if not (len(code) == 3 and code.isdigit()):
        return None
    status = int(code)
    reason = status_line[2].strip() if len(status_line) > 2 else b""

    headers: list[list[bytes]] = []
    for raw in lines[1:]:
        line = raw.rstrip(b"\r")
        if line[:1] in (b" ", b"\t") and headers:  # an obsolete folded line
            headers[-1][1] += b" " + line.strip()
            continue
        name, sep, value = line.partition(b":")
        if sep and name.strip():
            headers.append([name.strip(), value.strip()])

    payload = block[end + gap :]
    dropped = set(HOP_BY_HOP)
    chunked = False
    for name, value in headers:
        key = name.lower()
        if key == b"connection":
            dropped.update(t.strip().lower() for t in value.split(b",") if t.strip())
        elif key == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        framed = dechunk(payload)
        if framed is not None:
            payload = framed
    bodyless = status < 200 or status in (204, 304)
    if bodyless:
        payload = b""

    kept: list[tuple[bytes, bytes]] = []
    length_written = bodyless
    for name, value in headers:
        key = name.lower()
        if key in dropped:
            continue
        if key == b"content-length":
            if length_written:
                continue
            value = b"%d" % len(payload)
            length_written = True
        kept.append((name, value))
    if not length_written:
        kept.append((b"Content-Length", b"%d" % len(payload)))

    head = b"".join(
        [b"HTTP/1.1 %d %s\r\n" % (status, reason), *(n + b": " + v + b"\r\n" for n, v in kept)]
    )
    text = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in kept]
    return Recorded(index, uri, host, port, authority, target, status, head, text, payload)


def dechunk(data: bytes) -> bytes | None:
    """The payload of a chunked body, or None if ``data`` is not chunked framing.

    A payload recorded already de-chunked is then kept as it is: its first line is
    not a hexadecimal size (or its sizes do not add up), which a chunked body always is.
    """
    out: list[bytes] = []
    pos = 0
    n = len(data)
    while True:
        eol = data.find(b"\n", pos)
        if eol < 0:
            return None
        size_text = data[pos:eol].rstrip(b"\r").partition(b";")[0].strip()
        if not size_text or len(size_text) > 16 or not _HEX.issuperset(size_text):
            return None
        size = int(size_text, 16)
        pos = eol + 1
        if size == 0:  # the last chunk: then trailer lines (dropped) and a blank line
            lines = data[pos:].replace(b"\r\n", b"\n").split(b"\n")
            if lines[-1] == b"" and len(lines) >= 2:
                lines.pop()
            if lines[-1:] not in ([], [b""]) or not all(b":" in t for t in lines[:-1]):
                return None  # "0" then more text: a body that only began like a chunk
            return b"".join(out)
        if pos + size > n:
            return None
        out.append(data[pos : pos + size])
        pos += size
        if data[pos : pos + 2] == b"\r\n":
            pos += 2
        elif data[pos : pos + 1] == b"\n":
            pos += 1
        else:
            return None
