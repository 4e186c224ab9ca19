"""Replay (``--replay``, ``mockserver.replay``): recorded answers served back exactly.

A WARC file is written here with warcio, answer by answer (a page, a redirect, a gzip
answer, a chunked one kept de-chunked and one kept in its chunks, a 404, a retried URL,
two loopback hosts and a named one), and served by a real server over loopback: each
answer must come back byte for byte as the archive module's docstring promises, with
the server's latency, faults, timeline and counters on top.  Then the ground truth
(``/__replay``), the errors, and the round trip: crawl the synthetic site to WARC,
replay it on the same port, crawl the replay, and find the same pages.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mockserver import cli
from mockserver.config import ConfigError, ServerConfig
from mockserver.replay import ReplayError
from mockserver.replay.archive import dechunk, parse
from mockserver.testing import RunningServer, serve

ORIGIN = "http://127.0.0.1:8001"
OTHER = "http://127.0.0.2:8001"

PAGE = (
    b'<!DOCTYPE html><html><head><title>Home</title><link rel="next" href="/next"></head>'
    b'<body><a href="/a#top">a</a> <a href="/moved">moved</a> <a href="/gz">gz</a>'
    b' <a href="/chunked">c</a> <a href="/framed">f</a> <a href="/missing">m</a>'
    b' <a href="/never">n</a> <a href="/private/x">p</a> <a href="http://127.0.0.2:8001/">o</a>'
    b' <a href="http://elsewhere.test/">away</a> <map><area href="/area"></map>'
    b' <!-- <a href="/in-a-comment">no</a> --></body></html>'
)
GZ_HTML = gzip.compress(b'<html><body><a href="/from-gzip">inside</a></body></html>', mtime=0)
FRAMED = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"

# (URI, status line, headers, payload), in recording order.
RECORDS: list[tuple[str, str, list[tuple[str, str]], bytes]] = [
    (
        f"{ORIGIN}/robots.txt",
        "200 OK",
        [("Content-Type", "text/plain")],
        b"User-agent: *\nDisallow: /private/\n",
    ),
    (
        f"{ORIGIN}/",
        "200 OK",
        [
            ("Date", "Mon, 01 Dec 2025 10:00:00 GMT"),
            ("server", "recorded/1.0"),
            ("Content-Type", "text/html; charset=utf-8"),
            ("Connection", "keep-alive, X-Hop"),
            ("Content-Length", str(len(PAGE))),
            ("Keep-Alive", "timeout=5"),
            ("X-Hop", "named by Connection"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
        ],
        PAGE,
    ),
    (
        f"{ORIGIN}/moved",
        "301 Moved Permanently",
        [("Location", "/a"), ("Content-Length", "0")],
        b"",
    ),
    (
        f"{ORIGIN}/a",
        "200 OK",
        [("Content-Type", "text/html")],
        b'<a href="/">home</a> <a href="b/../deep">deep</a> <a href="/retry">retry</a>',
    ),
    (
        f"{ORIGIN}/gz",
        "200 OK",
        [
            ("Content-Type", "text/html"),
            ("Content-Encoding", "gzip"),
            ("Vary", "Accept-Encoding"),
            ("Content-Length", "999"),  # wrong in the recording: fixed when served
        ],
        GZ_HTML,
    ),
    (f"{ORIGIN}/from-gzip", "200 OK", [("Content-Type", "text/plain")], b"found in gzip\n"),
    (
        f"{ORIGIN}/chunked",
        "200 OK",
        [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")],
        b"kept de-chunked by the recorder\n",
    ),
    (
        f"{ORIGIN}/framed",
        "200 OK",
        [("Transfer-Encoding", "chunked"), ("Content-Type", "text/plain")],
        FRAMED,  # kept in its chunks, as wget and Heritrix keep it
    ),
    (f"{ORIGIN}/missing", "404 Not Found", [("Content-Type", "text/html")], b"<p>gone</p>"),
    (f"{ORIGIN}/retry", "503 Service Unavailable", [("Retry-After", "1")], b"busy"),
    (f"{ORIGIN}/deep", "200 OK", [("Content-Type", "text/plain")], b"deep\n"),
    (f"{ORIGIN}/retry", "200 OK", [("Content-Type", "text/plain")], b"second try\n"),
    (f"{ORIGIN}/next", "200 OK", [("Content-Type", "text/plain")], b"next\n"),
    (f"{ORIGIN}/area", "200 OK", [("Content-Type", "text/plain")], b"area\n"),
    (f"{ORIGIN}/private/x", "200 OK", [("Content-Type", "text/plain")], b"private\n"),
    (
        f"{OTHER}/",
        "200 OK",
        [("Content-Type", "text/html")],
        b'<html><body>the other host <a href="/p?b=2&amp;a=1">p</a></body></html>',
    ),
    (f"{OTHER}/p?a=1&b=2", "200 OK", [("Content-Type", "text/plain")], b"sorted query\n"),
    ("http://example.test/", "200 OK", [("Content-Type", "text/plain")], b"a named host\n"),
    (f"{ORIGIN}/ports", "200 OK", [], b"8001"),
    ("http://127.0.0.1:9009/ports", "200 OK", [], b"9009"),
    (f"{ORIGIN}/cached", "304 Not Modified", [("ETag", '"x"'), ("Content-Length", "12")], b""),
]

EXPECTED = sorted(
    [
        f"{ORIGIN}/",
        f"{ORIGIN}/next",
        f"{ORIGIN}/a",
        f"{ORIGIN}/gz",
        f"{ORIGIN}/chunked",
        f"{ORIGIN}/framed",
        f"{ORIGIN}/private/x",
        f"{ORIGIN}/area",
        f"{OTHER}/",
        f"{ORIGIN}/deep",
        f"{ORIGIN}/retry",
        f"{ORIGIN}/from-gzip",
        f"{OTHER}/p?a=1&b=2",
    ]
)


def write_warc(path: Path, records: list[tuple[str, str, list[tuple[str, str]], bytes]]) -> None:
    """A WARC file of request/response pairs, as a crawler writes it."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
        for uri, status, headers, payload in records:
            answer = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
            response = writer.create_warc_record(
                uri,
                "response",
                payload=io.BytesIO(payload),
                length=len(payload),  # else warcio spools it to a file it never closes
                http_headers=answer,
            )
            host = uri.split("/")[2]
            target = "/" + uri.split("/", 3)[3] if uri.count("/") >= 3 else "/"
            asked = StatusAndHeaders(
                f"GET {target} HTTP/1.1", [("Host", host)], is_http_request=True
            )
            request = writer.create_warc_record(
                uri, "request", payload=io.BytesIO(b""), length=0, http_headers=asked
            )
            writer.write_request_response_pair(request, response)


@pytest.fixture(scope="module")
def warc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("warcio")
    path = tmp_path_factory.mktemp("replay") / "recorded.warc.gz"
    write_warc(path, RECORDS)
    return path


@pytest.fixture(scope="module")
def replay_module(warc: Path) -> Any:
    with serve(replay=[warc]) as running:
        yield running


@pytest.fixture
def replay(replay_module: RunningServer) -> RunningServer:
    replay_module.reset()
    return replay_module


# -- a raw client: the exact bytes of an answer ---------------------------------------------


def exchange(
    server: RunningServer,
    host: str | None,
    target: str,
    method: str = "GET",
    address: str = "127.0.0.1",
    version: str = "HTTP/1.1",
) -> bytes:
    """Send one request; return the whole answer's bytes (head, blank line, body)."""
    port = int(server.url.rsplit(":", 1)[1])
    head = f"{method} {target} {version}\r\n" + (f"Host: {host}\r\n" if host else "") + "\r\n"
    with socket.create_connection((address, port), timeout=10) as sock:
        sock.sendall(head.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
        end = data.index(b"\r\n\r\n") + 4
        length = 0
        for line in data[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if method == "HEAD" or data.startswith(b"HTTP/1.1 304"):
            length = 0
        while len(data) < end + length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def answer(status: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
    return head.encode("latin-1") + b"\r\n" + body


# -- serving -------------------------------------------------------------------------------


def test_a_page_comes_back_as_recorded_minus_hop_by_hop_headers(replay: RunningServer) -> None:
    assert exchange(replay, "127.0.0.1:8001", "/") == answer(
        "200 OK",
        [
            ("Date", "Mon, 01 Dec 2025 10:00:00 GMT"),
            ("server", "recorded/1.0"),
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(PAGE))),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
        ],
        PAGE,
    )


def test_a_redirect_is_an_answer_like_any_other(replay: RunningServer) -> None:
    assert exchange(replay, "127.0.0.1:8001", "/moved") == answer(
        "301 Moved Permanently", [("Location", "/a"), ("Content-Length", "0")], b""
    )


def test_gzip_stays_gzipped_and_the_length_is_the_payloads(replay: RunningServer) -> None:
    got = exchange(replay, "127.0.0.1:8001", "/gz")
    assert got == answer(
        "200 OK",
        [
            ("Content-Type", "text/html"),
            ("Content-Encoding", "gzip"),
            ("Vary", "Accept-Encoding"),
            ("Content-Length", str(len(GZ_HTML))),
        ],
        GZ_HTML,
    )
    assert b"/from-gzip" in gzip.decompress(got.partition(b"\r\n\r\n")[2])


def test_chunked_recordings_are_served_with_a_length(replay: RunningServer) -> None:
    body = b"kept de-chunked by the recorder\n"
    assert exchange(replay, "127.0.0.1:8001", "/chunked") == answer(
        "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))], body
    )
    assert exchange(replay, "127.0.0.1:8001", "/framed") == answer(
        "200 OK", [("Content-Type", "text/plain"), ("Content-Length", "11")], b"hello world"
    )


def test_recorded_errors_and_bodyless_answers(replay: RunningServer) -> None:
    assert exchange(replay, "127.0.0.1:8001", "/missing") == answer(
        "404 Not Found", [("Content-Type", "text/html"), ("Content-Length", "11")], b"<p>gone</p>"
    )
    # a 304 carries no body and no length, whatever the recording said
    assert exchange(replay, "127.0.0.1:8001", "/cached") == answer(
        "304 Not Modified", [("ETag", '"x"')], b""
    )


def test_the_last_record_of_a_url_wins(replay: RunningServer) -> None:
    got = exchange(replay, "127.0.0.1:8001", "/retry")
    assert got.startswith(b"HTTP/1.1 200 OK\r\n") and got.endswith(b"\r\n\r\nsecond try\n")


def test_hosts_by_host_header_and_on_their_own_addresses(replay: RunningServer) -> None:
    other = exchange(replay, "127.0.0.2:8001", "/")
    assert b"the other host" in other
    # the server listens on the recorded loopback addresses too, at its own port
    assert exchange(replay, "127.0.0.2:8001", "/", address="127.0.0.2") == other
    assert exchange(replay, "example.test", "/").endswith(b"\r\n\r\na named host\n")
    assert exchange(replay, "EXAMPLE.test:80", "/").endswith(b"a named host\n")
    # the absolute form names the host itself
    assert exchange(replay, "ignored", f"{OTHER}/") == other


def test_the_port_only_breaks_ties(replay: RunningServer) -> None:
    # the replay server's own port in Host (no --resolve): matched by host name
    port = replay.url.rsplit(":", 1)[1]
    assert exchange(replay, f"127.0.0.1:{port}", "/deep").endswith(b"\r\n\r\ndeep\n")
    assert exchange(replay, "127.0.0.1:8001", "/ports").endswith(b"\r\n\r\n8001")
    assert exchange(replay, "127.0.0.1:9009", "/ports").endswith(b"\r\n\r\n9009")
    assert exchange(replay, "127.0.0.1:7777", "/ports").endswith(b"\r\n\r\n9009")  # the last


def test_what_was_never_recorded_is_a_404(replay: RunningServer) -> None:
    for host, target in [
        ("127.0.0.1:8001", "/never"),
        ("127.0.0.1:8001", "/a?x=1"),  # the query is part of the URL
        ("127.0.0.1:8001", "/add"),  # the built-in endpoints are off while replaying
        ("nowhere.test", "/"),
    ]:
        got = exchange(replay, host, target)
        assert got.startswith(b"HTTP/1.1 404 "), (host, target, got)
        assert f"not recorded: http://{host}{target}".encode() in got
    stats = replay.get_json("/__replay?stats=1")["stats"]
    assert stats["unknown"] == 4 and "http://nowhere.test/" in stats["unknown_sample"]


def test_head_http10_and_control_endpoints(replay: RunningServer) -> None:
    full = exchange(replay, "127.0.0.1:8001", "/deep")
    assert exchange(replay, "127.0.0.1:8001", "/deep", method="HEAD") == full[: -len(b"deep\n")]
    # HTTP/1.0 without Host: the first recorded page's host, and the connection closes
    got = exchange(replay, None, "/deep", version="HTTP/1.0")
    assert got == full.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    assert replay.get("/__health") == b"ok\n"
    assert b"mockserver_requests_total" in replay.get("/metrics")
    assert replay.stats()["total"] >= 3


def test_run_time_routes_come_first(replay: RunningServer) -> None:
    replay.expect("/deep", body="canned")
    assert exchange(replay, "127.0.0.1:8001", "/deep").endswith(b"\r\n\r\ncanned")
    replay.clear_routes()
    assert exchange(replay, "127.0.0.1:8001", "/deep").endswith(b"\r\n\r\ndeep\n")


def test_subprocess_mode_serves_the_same_bytes(warc: Path, replay: RunningServer) -> None:
    with serve(replay=[warc], mode="subprocess") as sub:
        for host, target in [("127.0.0.1:8001", "/"), ("127.0.0.1:8001", "/gz")]:
            assert exchange(sub, host, target) == exchange(replay, host, target)


# -- the server's behaviour on top ---------------------------------------------------------


def test_latency_applies_and_every_request_is_on_the_timeline(warc: Path) -> None:
    with serve(replay=[warc], latency="60") as server:
        started = time.perf_counter()
        got = exchange(server, "127.0.0.1:8001", "/deep")
        assert time.perf_counter() - started >= 0.055
        assert got.endswith(b"\r\n\r\ndeep\n")
        exchange(server, "127.0.0.1:8001", "/deep")  # the same bytes again: still delayed
        tl = server.timeline("replay:127.0.0.1:8001")
        assert tl["count"] == 2
        assert all(r["status"] == 200 and r["dt"] >= 0.055 for r in tl["requests"])


def test_faults_apply_but_never_to_robots_txt(warc: Path) -> None:
    with serve(replay=[warc], faults="5xx:1", seed=3) as server:
        got = exchange(server, "127.0.0.1:8001", "/")
        assert got.split(b" ")[1] in (b"500", b"502", b"503", b"504")
        assert b"X-Fault: 5xx" in got and b"recorded/1.0" not in got
        robots = exchange(server, "127.0.0.1:8001", "/robots.txt")
        assert robots.startswith(b"HTTP/1.1 200 OK") and robots.endswith(b"Disallow: /private/\n")
        stats = server.get_json("/__replay?stats=1")["stats"]
        assert (stats["faulted"], stats["delivered"]) == (1, 1)
    with serve(replay=[warc], faults="truncate:1") as server:
        got = exchange(server, "127.0.0.1:8001", "/")
        head, _, body = got.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\nDate: ") and head.endswith(b"X-Fault: truncate")
        assert body == PAGE[: len(PAGE) // 2]  # half, then the connection closes


def test_seeded_draws_are_the_same_for_the_same_seed(warc: Path) -> None:
    def statuses(seed: int) -> list[bytes]:
        with serve(replay=[warc], faults="5xx:0.5", seed=seed) as server:
            return [
                exchange(server, "127.0.0.1:8001", t).split(b" ")[1]
                for t in ("/", "/a", "/gz", "/deep", "/next", "/area", "/a", "/a")
            ]

    assert statuses(11) == statuses(11)


# -- the ground truth ----------------------------------------------------------------------


def test_ground_truth_of_the_recording(replay: RunningServer) -> None:
    truth = replay.get_json("/__replay")
    assert truth["root"] == f"{ORIGIN}/"  # robots.txt, recorded first, is not the root
    assert truth["expected"] == EXPECTED
    assert truth["redirects"] == {f"{ORIGIN}/moved": f"{ORIGIN}/a"}
    assert truth["failed"] == {f"{ORIGIN}/missing": 404}
    assert truth["unrecorded"] == [f"{ORIGIN}/never", "http://elsewhere.test/"]
    assert truth["counts"] == {
        "expected": 13,
        "html": 4,
        "other": 9,
        "redirects": 1,
        "failed": 1,
        "unrecorded": 2,
        "max_depth": 2,
        "by_depth": [1, 8, 4],
    }
    assert truth["recorded"] == len(RECORDS) - 1  # /retry twice
    assert truth["responses"] == len(RECORDS)
    assert "127.0.0.2:8001" in truth["hosts"] and "example.test" in truth["hosts"]
    shallow = replay.get_json("/__replay?depth=1")
    assert shallow["counts"]["by_depth"] == [1, 8] and len(shallow["expected"]) == 9
    assert "expected" not in replay.get_json("/__replay?summary=1")


def test_ground_truth_from_given_roots(warc: Path) -> None:
    with serve(replay=[warc], replay_root=[f"{OTHER}/"]) as server:
        truth = server.get_json("/__replay")
        assert truth["expected"] == [f"{OTHER}/", f"{OTHER}/p?a=1&b=2"]


def test_stats_read_like_the_sites(replay: RunningServer) -> None:
    from concur.records import FetchRecord
    from concur.report.truth import ground_truth, server_checks

    for target in ("/robots.txt", "/", "/", "/private/x", "/never"):
        exchange(replay, "127.0.0.1:8001", target)
    truth = replay.get_json("/__replay")
    stats = replay.get_json("/__replay?stats=1")
    s = stats["stats"]
    assert s["fetched_twice"] == {f"{ORIGIN}/": 2} and s["fetched_twice_count"] == 1
    assert s["disallowed_fetched"] == {f"{ORIGIN}/private/x": 1}
    assert s["hosts"]["127.0.0.1:8001"]["requests"] == 5
    assert server_checks(stats)["requests"] == 5

    def record(i: int, url: str, status: int = 200) -> FetchRecord:
        return FetchRecord.from_dict(
            {"index": i, "url": url, "status": status, "bytes": 1, "error": None, "attempts": 1}
            | {"start": 0.0, "end": 0.0, "detail": "", "final_url": ""}
        )

    records = [record(i, u) for i, u in enumerate(truth["expected"])]
    result = ground_truth(truth, stats, records + [record(99, f"{ORIGIN}/missing", 404)])
    assert result["expected"] == 13 and result["missing"] == result["unexpected"] == 0
    assert result["duplicates"] == 1 and result["exact"]
    replay.reset()
    assert replay.get_json("/__replay?stats=1")["stats"]["requests"] == 0


# -- reading WARC files, without sockets ---------------------------------------------------


def test_dechunk() -> None:
    assert dechunk(FRAMED) == b"hello world"
    assert dechunk(b"3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n") == b"abc"
    assert dechunk(b"plain text, not chunks") is None
    assert dechunk(b"0\n1\n2\n") is None  # a body that only begins like the last chunk
    assert dechunk(b"5\r\nhel") is None


def test_parse_a_block() -> None:
    block = (
        b"HTTP/1.0 200 OK\r\nX-Folded: a\r\n  b\r\nConnection: close\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )
    rec = parse(0, "<https://Example.TEST/x?q=1#frag>", block)
    assert rec is not None
    assert (rec.uri, rec.host, rec.port, rec.authority) == (
        "https://Example.TEST/x?q=1",
        "example.test",
        443,
        "example.test",
    )
    assert rec.target == "/x?q=1" and rec.payload == b"hello"
    assert rec.head == b"HTTP/1.1 200 OK\r\nX-Folded: a b\r\nContent-Length: 5\r\n"
    assert parse(0, "dns:example.test", block) is None
    assert parse(0, "http://a.test/", b"not http at all\r\n\r\n") is None


# -- errors --------------------------------------------------------------------------------


def test_without_warcio_one_line_names_the_extra(warc: Path) -> None:
    code = (
        "import sys; sys.modules['warcio'] = None\n"
        "from mockserver import cli\n"
        f"sys.exit(cli.main(['--replay', {str(warc)!r}, '--port', '0']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "pip install 'concur[warc]'" in lines[0], proc.stderr
    # and from Python, the same sentence as an exception
    code = (
        "import sys; sys.modules['warcio'] = None\n"
        "from mockserver.testing import serve\n"
        "from mockserver.replay import ReplayError\n"
        "try:\n"
        f"    serve(replay=[{str(warc)!r}]).__enter__()\n"
        "except ReplayError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout == "--replay needs warcio: pip install 'concur[warc]'\n", out.stderr


def test_unreadable_files_stop_the_server_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("warcio")
    missing = tmp_path / "missing.warc.gz"
    assert cli.main(["--replay", str(missing), "--port", "0"]) == 2
    assert (
        capsys.readouterr().err
        == f"mockserver: error: cannot read {missing}: No such file or directory\n"
    )
    text = tmp_path / "notes.txt"
    text.write_text("not a WARC file\n")
    with pytest.raises(ReplayError, match="not a readable WARC file"):
        with serve(replay=[text]):
            pass
    empty = tmp_path / "empty.warc.gz"
    write_warc(empty, [])  # a warcinfo record, and no answer to serve
    with pytest.raises(ReplayError, match="no HTTP response records in"):
        with serve(replay=[empty]):
            pass


def test_replay_refuses_what_it_cannot_share(
    warc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args, message in [
        (["--site", "10"], "--replay and --site cannot be combined"),
        (["--workers", "2"], "--replay needs --workers 1"),
    ]:
        with pytest.raises(SystemExit) as info:
            cli.main(["--replay", str(warc), "--port", "0", *args])
        assert info.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--replay-root", "http://a.test/", "--port", "0"])
    assert "--replay-root needs --replay" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="cannot be combined"):
        ServerConfig(replay=("a.warc.gz",), site_pages=10)
    assert ServerConfig(replay=[str(warc)]).replay == (str(warc),)  # type: ignore[arg-type]


# -- the round trip ------------------------------------------------------------------------


def crawl(cwd: Path, impl: str, *args: str) -> list[dict[str, Any]]:
    """``concur crawl --impl IMPL ... -o out.jsonl`` in a subprocess; the records it wrote."""
    out = cwd / f"crawl-{time.monotonic_ns()}.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "concur", "crawl", "--impl", impl, *args, "-o", str(out)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return [json.loads(line) for line in out.read_text().splitlines()]


def page_facts(records: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    # not depth nor referrer: which page finds a URL first depends on the crawl's timing
    keys = ("status", "bytes", "error", "content_type", "links", "title")
    return {r["url"]: tuple(r.get(k) for k in keys) for r in records}


# asyncio in every run; the other engines with -m slow (about 3 s each)
ENGINES = ["asyncio"] + [
    pytest.param(e, marks=pytest.mark.slow)
    for e in ("serial", "threads", "processes", "gevent", "tornado", "uvloop", "protocol", "httpx")
]


@pytest.mark.parametrize("impl", ENGINES)
def test_round_trip_site_to_warc_to_replay_to_the_same_crawl(tmp_path: Path, impl: str) -> None:
    pytest.importorskip("warcio")
    from concur.engines import available_engines
    from concur.records import FetchRecord
    from concur.report.truth import ground_truth

    if impl not in available_engines():
        pytest.skip(f"{impl} is not installed")
    warc = tmp_path / "site.warc.gz"
    first = crawl(tmp_path, impl, "--site", "--pages", "60", "--warc", str(warc))
    root = next(r["url"] for r in first if r["index"] == 0)
    port = int(root.rstrip("/").rsplit(":", 1)[1])

    with contextlib.ExitStack() as stack:
        for attempt in range(10):  # the site's port, free again once its server stopped
            try:
                server = stack.enter_context(serve(replay=[warc], mode="subprocess", port=port))
                break
            except RuntimeError:
                if attempt == 9:
                    raise
                time.sleep(0.5)
        truth = server.get_json("/__replay")
        assert truth["root"] == root
        again = crawl(
            tmp_path, impl, "--follow", root, "--domain", "127.0.0.2", "--domain", "127.0.0.3"
        )
        stats = server.get_json("/__replay?stats=1")

    # the same URLs, statuses, sizes, types, links and titles
    assert page_facts(again) == page_facts(first)
    pages = {r["url"] for r in first if r["status"] is not None and 200 <= r["status"] < 300}
    assert set(truth["expected"]) == pages
    result = ground_truth(truth, stats, [FetchRecord.from_dict(r) for r in again])
    assert result["exact"], result
    assert result["duplicates"] == 0 and stats["stats"]["unknown"] == 0


def _named_site(server: RunningServer, origin: str) -> None:
    """Four pages under one name, linked by absolute and relative URLs."""
    html = "text/html; charset=utf-8"
    server.expect("/", body=f'<title>home</title><a href="{origin}/a">a</a> <a href="b">b</a>',
                  content_type=html)  # fmt: skip
    server.expect("/a", body='<title>a</title><a href="/c?x=1">c</a>', content_type=html)
    server.expect("/b", body="plain text, no links")
    server.expect("/c", query="x=1", body="<title>c</title><a href='/'>home</a>", content_type=html)


@pytest.mark.parametrize("impl", ENGINES)
def test_replay_a_named_https_site_under_its_own_urls(tmp_path: Path, impl: str) -> None:
    """Record https://docs.example:PORT/ (reached with --resolve), replay it over TLS on the
    recorded port, crawl the replay with --resolve and the replay's CA: the same pages under
    the same URLs; the replay's certificate carries the recorded name."""
    pytest.importorskip("warcio")
    pytest.importorskip("trustme")
    from concur.engines import available_engines

    if impl not in available_engines():
        pytest.skip(f"{impl} is not installed")
    warc = tmp_path / "docs.warc.gz"
    with serve(tls=True, tls_names=("docs.example",)) as origin:
        port = int(origin.url.rsplit(":", 1)[1])
        root = f"https://docs.example:{port}"
        _named_site(origin, root)
        resolve = ["--resolve", f"docs.example:{port}:127.0.0.1"]
        first = crawl(tmp_path, impl, "--follow", root + "/", *resolve,
                      "--ca-file", str(origin.ca_file), "--warc", str(warc))  # fmt: skip
    pages = {r["url"] for r in first if r["status"] == 200}
    assert pages == {f"{root}/", f"{root}/a", f"{root}/b", f"{root}/c?x=1"}, first

    with contextlib.ExitStack() as stack:
        for attempt in range(10):  # the recorded port, free again once the origin stopped
            try:
                replay = stack.enter_context(
                    serve(replay=[warc], tls=True, mode="subprocess", port=port)
                )
                break
            except RuntimeError:
                if attempt == 9:
                    raise
                time.sleep(0.5)
        assert replay.url.startswith("https://")
        truth = replay.get_json("/__replay")
        again = crawl(tmp_path, impl, "--follow", root + "/", *resolve,
                      "--ca-file", str(replay.ca_file))  # fmt: skip
    assert set(truth["expected"]) == pages
    assert page_facts(again) == page_facts(first)
