"""WARC output on every engine: files warcio itself accepts, holding what was exchanged.

``warcio check`` verifies every record's block and payload digests, ``warcio index``
lists them; both run as a user would run them, on the files concur wrote.  concur writes
the records itself (``concur.warc``), so the writer is also tested alone, with each gzip
library it can use: the awkward URLs, the headers a library leaves out, the dates, the
record IDs and how a request names its response, the batches.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from concur import warc
from concur.attempt import Attempt, answer, failure
from concur.engines import available_engines
from concur.records import CrawlConfig, ErrorKind, FetchRecord
from mockserver.testing import RunningServer

warcio = pytest.importorskip("warcio", reason="--warc needs concur[warc]")
from warcio.archiveiterator import ArchiveIterator  # noqa: E402

ENGINES = available_engines()


def concur(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "concur", *args, "--no-progress"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def warcio_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warcio.cli", *args], capture_output=True, text=True, timeout=60
    )


def read(path: Path) -> list[tuple[str, str, int | None, dict[str, str], bytes]]:
    """(type, uri, status, http headers, raw payload) of every record of a WARC file."""
    out = []
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh):
            status = None
            headers: dict[str, str] = {}
            if rec.http_headers is not None:
                headers = {k.lower(): v for k, v in rec.http_headers.headers}
                line = rec.http_headers.statusline  # a request's method is its "protocol"
                if rec.rec_type == "request":
                    line = f"{rec.http_headers.protocol} {line}"
                headers[":line"] = line
                if rec.rec_type == "response":
                    status = int(rec.http_headers.get_statuscode())
            out.append(
                (rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI") or "", status,
                 headers, rec.raw_stream.read())
            )  # fmt: skip
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_a_crawl_keeps_every_exchange_in_a_valid_warc(engine: str, tmp_path: Path) -> None:
    path = tmp_path / "site.warc.gz"
    out = tmp_path / "pages.jsonl"
    run = concur("crawl", "--impl", engine, "--site", "--pages", "40", "--warc", str(path),
                 "-o", str(out), "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    check = warcio_cli("check", "-v", str(path))
    assert check.returncode == 0, check.stdout + check.stderr
    records = read(path)
    assert records[0][0] == "warcinfo"
    kinds = Counter(r[0] for r in records)
    assert kinds["request"] == kinds["response"] > 0
    pages = [FetchRecord.from_dict(json.loads(line)) for line in out.read_text().splitlines()]
    kept = {uri: status for kind, uri, status, _, _ in records if kind == "response"}
    for page in pages:
        if page.status is not None:
            assert kept[page.url] == page.status  # its last answer, as received
    robots = [uri for uri in kept if uri.endswith("/robots.txt")]
    assert len(robots) == 3  # one a host
    index = warcio_cli("index", "-f", "warc-type,warc-target-uri,http:status", str(path))
    assert index.returncode == 0 and index.stdout.count('"response"') == kinds["response"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_gzip_answer_is_kept_gzipped(
    engine: str, tmp_path: Path, mockserver: RunningServer
) -> None:
    path = tmp_path / "list.warc.gz"
    url = f"{mockserver.url}/bytes/5000?gzip=1"
    run = concur("crawl", "--impl", engine, url, "--warc", str(path))
    assert run.returncode == 0, run.stderr
    assert warcio_cli("check", str(path)).returncode == 0
    ((_, uri, status, headers, raw),) = [r for r in read(path) if r[0] == "response"]
    assert (uri, status, headers.get("content-encoding")) == (url, 200, "gzip")
    assert len(gzip.decompress(raw)) == 5000  # the payload as received: still gzipped
    ((_, _, _, asked, _),) = [r for r in read(path) if r[0] == "request"]
    assert asked[":line"] == "GET /bytes/5000?gzip=1 HTTP/1.1"
    assert asked["user-agent"].startswith("concur/") and asked["host"] == url.split("/")[2]


def test_rotation_and_a_shared_crawls_files(tmp_path: Path) -> None:
    path = tmp_path / "big.warc.gz"
    run = concur("crawl", "--site", "--pages", "60", "--warc", str(path),
                 "--warc-max-size", "4K")  # fmt: skip
    assert run.returncode == 0, run.stderr
    files = sorted(tmp_path.glob("big-*.warc.gz"))
    assert len(files) > 3 and not path.exists()
    for file in files:
        assert warcio_cli("check", str(file)).returncode == 0
        assert read(file)[0][0] == "warcinfo"
    pytest.importorskip("redis")
    shared = tmp_path / "shared.warc.gz"
    run = concur("crawl", "--site", "--pages", "60", "--workers", "2", "--warc", str(shared))
    assert run.returncode == 0, run.stderr
    mine = sorted(tmp_path.glob("shared-*.warc.gz"))
    assert len(mine) == 2  # a file of its own for each worker
    responses = [r for f in mine for r in read(f) if r[0] == "response"]
    assert len({r[1] for r in responses}) == len(responses)  # each page kept once


def test_bad_warc_flags_are_one_line_errors(tmp_path: Path) -> None:
    run = concur("crawl", "-n", "5", "--warc-max-size", "1G")
    assert run.returncode == 2 and "--warc PATH" in run.stderr
    run = concur("crawl", "-n", "5", "--warc", str(tmp_path / "no" / "such" / "x.warc.gz"))
    assert run.returncode == 2 and "no folder" in run.stderr


# -- the writer alone ----------------------------------------------------------------------

LIBRARIES = ["zlib"] + (["isal"] if importlib.util.find_spec("isal") else [])
WHEN = datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=UTC)


def exchange(
    payload: bytes = b"<p>hi</p>",
    status: int = 200,
    reason: str = "OK",
    sent: tuple[tuple[str, str], ...] = (("User-Agent", "t/1"), ("Accept", "*/*")),
    coding: str = "",
) -> Attempt:
    headers = (("Content-Type", "text/html"), ("Content-Length", str(len(payload))))
    if coding:
        headers += (("Content-Encoding", coding),)
    return answer(status, len(payload), payload, "text/html", "", None, headers,
                  raw=payload, sent=sent, reason=reason)  # fmt: skip


def records(path: Path) -> list[tuple[dict[str, str], str, bytes]]:
    """(WARC headers, the HTTP status or request line, raw payload) of every record."""
    out = []
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh):
            line = ""
            if rec.http_headers is not None:
                line = rec.http_headers.statusline
                if rec.rec_type == "request":
                    line = f"{rec.http_headers.protocol} {line}"
            out.append((dict(rec.rec_headers.headers), line, rec.raw_stream.read()))
    return out


@pytest.mark.parametrize("library", LIBRARIES)
def test_the_writer_alone(library: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warc, "_gzip", warc._gzipper(library))
    path = tmp_path / "alone.warc.gz"
    writer = warc.WarcFile(str(path), CrawlConfig(warc=str(path)), engine="test")
    zipped = gzip.compress(b"<p>" + b"zip " * 500 + b"</p>")
    cases = [  # url, attempt, the request line and Host header kept
        ("http://a.example/p?q=1#part", exchange(), "GET /p?q=1 HTTP/1.1", "a.example"),
        ("http://me@a.example:8080", exchange(), "GET / HTTP/1.1", "a.example:8080"),
        ("http://a.example/é x", exchange(), "GET /%C3%A9%20x HTTP/1.1", "a.example"),
        ("http://a.example/gone", exchange(b"", 404, ""), "GET /gone HTTP/1.1", "a.example"),
        ("http://a.example/z", exchange(zipped, coding="gzip"), "GET /z HTTP/1.1", "a.example"),
        ("http://a.example/h", exchange(sent=(("Host", "b.example"), ("User-Agent", "t/1"))),
         "GET /h HTTP/1.1", "b.example"),
    ]  # fmt: skip
    for url, attempt, _, _ in cases:
        writer.write(url, attempt, WHEN)
    writer.write("http://a.example/none", failure(ErrorKind.REFUSED, "refused"), WHEN)
    writer.write("http://a.example/naive", exchange(), WHEN.replace(tzinfo=None))
    writer.write("http://a.example/east", exchange(), WHEN.astimezone(timezone(timedelta(hours=2))))
    writer.close()
    check = warcio_cli("check", "-v", str(path))
    assert check.returncode == 0 and check.stdout.count("digest pass") == 17, check.stdout

    got = records(path)
    info, *pairs = got
    assert info[0]["WARC-Type"] == "warcinfo" and b"engine: test" in info[2]
    assert len(pairs) == 2 * (len(cases) + 2) and writer.records == len(pairs)
    ids = [h["WARC-Record-ID"] for h, _, _ in got]
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i.removeprefix("<urn:uuid:").removesuffix(">")) for i in ids)
    responses, requests = pairs[0::2], pairs[1::2]
    for (answered, status, payload), (asked, line, _), (_, attempt, request_line, _) in zip(
        responses, requests, cases, strict=False
    ):
        assert answered["WARC-Type"] == "response" and asked["WARC-Type"] == "request"
        assert asked["WARC-Concurrent-To"] == answered["WARC-Record-ID"]
        assert answered["WARC-Target-URI"] == asked["WARC-Target-URI"]
        assert answered["WARC-Date"] == asked["WARC-Date"] == "2026-12-02T01:02:03.456789Z"
        assert payload == attempt.raw  # as received, gzip intact
        digest = base64.b32encode(hashlib.sha1(payload).digest()).decode()
        assert answered["WARC-Payload-Digest"] == f"sha1:{digest}"
        assert line == request_line
        assert asked is not None and status.split()[0] == str(attempt.status)
    assert responses[2][0]["WARC-Target-URI"] == "http://a.example/%C3%A9%20x"
    assert responses[3][1] == "404 Not Found"  # the standard phrase, where none was kept
    with open(path, "rb") as fh:  # Host: as sent, or where the library left it out
        hosts = [r.http_headers.get_header("Host") for r in ArchiveIterator(fh)
                 if r.rec_type == "request"]  # fmt: skip
    assert hosts[: len(cases)] == [host for *_, host in cases]
    assert [h["WARC-Date"] for h, _, _ in responses[-2:]] == ["2026-12-02T01:02:03.456789Z"] * 2


def test_exchanges_are_written_in_batches_and_once_a_second(tmp_path: Path) -> None:
    path = tmp_path / "batches.warc.gz"
    writer = warc.WarcFile(str(path), CrawlConfig(warc=str(path)))
    writer.write("http://a.example/1", exchange(), WHEN)
    assert writer.records == 0  # noted, not written yet
    writer.write("http://a.example/2", exchange(), WHEN + timedelta(seconds=1))
    assert writer.records == 4  # a second after the first: both written
    for i in range(warc._BATCH):
        writer.write(f"http://a.example/b{i}", exchange(), WHEN + timedelta(seconds=2))
    assert writer.records == 4 + 2 * warc._BATCH  # a full batch
    writer.write("http://a.example/last", exchange(), WHEN + timedelta(seconds=2))
    writer.close()  # writes what is left
    assert writer.records == 6 + 2 * warc._BATCH
    assert warcio_cli("check", str(path)).returncode == 0


def test_rotation_inside_a_batch(tmp_path: Path) -> None:
    path = tmp_path / "small.warc.gz"
    writer = warc.WarcFile(str(path), CrawlConfig(warc=str(path)), max_size=2000)
    for i in range(20):
        writer.write(f"http://a.example/{i}", exchange(os.urandom(300)), WHEN)
    writer.close()
    assert len(writer.files) > 3 and not path.exists()
    kept = []
    for name in writer.files:
        assert warcio_cli("check", name).returncode == 0
        got = records(Path(name))
        assert got[0][0]["WARC-Type"] == "warcinfo"
        kept += [h["WARC-Target-URI"] for h, _, _ in got if h["WARC-Type"] == "response"]
    assert kept == [f"http://a.example/{i}" for i in range(20)]


def test_a_plain_warc_name_asks_for_uncompressed_records(tmp_path: Path) -> None:
    path = tmp_path / "plain.warc"
    writer = warc.WarcFile(str(path), CrawlConfig(warc=str(path)), max_size=3000)
    for i in range(12):
        writer.write(f"http://a.example/{i}", exchange(os.urandom(300)), WHEN)
    writer.close()
    assert len(writer.files) > 1 and all(name.endswith(".warc") for name in writer.files)
    for name in writer.files:
        assert Path(name).read_bytes().startswith(b"WARC/1.1\r\n")  # no gzip member
        check = warcio_cli("check", "-v", name)
        assert check.returncode == 0 and "digest pass" in check.stdout, check.stdout
    kept = [h["WARC-Target-URI"] for name in writer.files for h, _, _ in records(Path(name))
            if h["WARC-Type"] == "response"]  # fmt: skip
    assert kept == [f"http://a.example/{i}" for i in range(12)]
