"""WARC output on every engine: files warcio itself accepts, holding what was exchanged.

``warcio check`` verifies every record's block and payload digests, ``warcio index``
lists them; both run as a user would run them, on the files concur wrote.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from concur.engines import available_engines
from concur.records import FetchRecord
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
