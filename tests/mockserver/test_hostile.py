"""Hostile input must never crash or wedge the server: a fuzzer and the classic attacks.

After each attack the server must still answer an ordinary request at once; the
autouse fixture in conftest also fails a test if the server logged an error.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw_http import connect, exchange, get, one, read_responses, read_until_closed

from mockserver.testing import RunningServer, serve


def assert_healthy(server: RunningServer) -> None:
    """An ordinary request on a new connection is answered at once."""
    started = time.perf_counter()
    resp = one(server.url, "/add?name=health")
    assert (resp.status, resp.body) == (200, b".")
    assert time.perf_counter() - started < 1.0


def refused(server: RunningServer, data: bytes) -> tuple[int, bytes, bytes]:
    """Send ``data``; the server must answer once and close: (status, body, raw bytes)."""
    with connect(server.url) as sock:
        try:
            sock.sendall(data)
        except OSError:  # the server may close before all of a huge request is sent
            pass
        raw = read_until_closed(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0
    return status, body, raw


# -- the fuzzer ------------------------------------------------------------------------

METHODS = [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"CONNECT", b"G\x00T", b""]
PATHS = [
    b"/",
    b"/add",
    b"/bytes/5",
    b"/bytes/-1",
    b"/status/200:1,500:1",
    b"/status/abc",
    b"/redirect/2",
    b"/drip",
    b"/echo",
    b"/__stats",
    b"/__timeline",
    b"/metrics",
    b"*",
    b"http://example.com/add",
    b"/%ff%fe",
    b"/\xff\xfe",
]
KEYS = [b"delay", b"latency", b"fault", b"faults", b"name", b"chunked", b"gzip", b"bytes"]
KEYS += [b"duration", b"chunks", b"code", b"retry_after", b"reset", b"id", b"%", b""]
VALUES = [b"0", b"1", b"-1", b"abc", b"1e9", b"nan", b"inf", b"%00", b"%", b"", b"9" * 5000]
VALUES += [b"uniform:1,2", b"pareto:0,1", b"5xx", b"429", b"truncate", b"reset", b"malformed"]
VALUES += [b"500:0.5,reset:0.5", b"1%0d%0aX-Injected:%201", b"x" * 100]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/9", b"", b"HTTP/1.1 extra"]
HEADERS = [
    b"Host: x",
    b"Content-Length: 5",
    b"Content-Length: -1",
    b"Content-Length: 99999999999999999999",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip, chunked",
    b"Connection: close",
    b"Connection: upgrade\r\nUpgrade: websocket",
    b"Expect: 100-continue",
    b"X-Bad\x00: \x01\x02",
    b": empty name",
    b"No colon",
    b" folded: line",
]

query = st.lists(
    st.tuples(st.sampled_from(KEYS), st.sampled_from(VALUES)).map(lambda kv: kv[0] + b"=" + kv[1]),
    max_size=4,
).map(lambda parts: b"&".join(parts))


def _request(
    method: bytes,
    path: bytes,
    q: bytes,
    version: bytes,
    headers: list[bytes],
    body: bytes,
    eol: bytes,
) -> bytes:
    line = method + b" " + path + (b"?" + q if q else b"") + b" " + version + eol
    return line + b"".join(h + eol for h in headers) + eol + body


request_ish = st.builds(
    _request,
    st.sampled_from(METHODS),
    st.sampled_from(PATHS),
    query,
    st.sampled_from(VERSIONS),
    st.lists(st.one_of(st.sampled_from(HEADERS), st.binary(max_size=40)), max_size=5),
    st.one_of(st.just(b""), st.binary(max_size=50), st.just(b"5\r\nhello\r\n0\r\n\r\n")),
    st.sampled_from([b"\r\n", b"\n", b"\r"]),
)

huge_header = st.integers(1_000, 120_000).map(lambda n: b"GET / HTTP/1.1\r\nX-Long: " + b"a" * n)
many_headers = st.integers(10, 3_000).map(
    lambda n: b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(n)) + b"\r\n"
)

payloads = st.lists(
    st.one_of(st.binary(max_size=300), request_ish, huge_header, many_headers),
    min_size=1,
    max_size=4,
).map(lambda parts: b"".join(parts))


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[RunningServer]:
    with serve(header_timeout_s=2.0) as server:
        yield server


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=payloads, pieces=st.integers(1, 4), half_close=st.booleans())
def test_fuzz_raw_bytes(
    fuzz_server: RunningServer, data: bytes, pieces: int, half_close: bool
) -> None:
    with connect(fuzz_server.url) as sock:
        step = max(1, len(data) // pieces)
        try:
            for i in range(0, len(data), step):
                sock.sendall(data[i : i + step])
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server refused and closed mid-send: fine
        if half_close:  # then the server finishes what it owes and closes, promptly
            raw = read_until_closed(sock, timeout=5)
            assert not raw or raw.startswith(b"HTTP/1.1 ") or b"OK maybe" in raw
    assert_healthy(fuzz_server)


# -- the classic attacks ---------------------------------------------------------------


def test_oversized_headers_get_431(server: RunningServer) -> None:
    many = b"".join(b"X-Header-%d: %s\r\n" % (i, b"v" * 100) for i in range(400))  # ~45 KB
    status, body, raw = refused(server, b"GET /add HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert status == 431
    assert body == b"request header fields too large\n"
    assert b"Connection: close" in raw
    assert_healthy(server)


def test_one_endless_header_line_is_cut_off(server: RunningServer) -> None:
    # httptools keeps an unfinished header line in memory: the server must count it
    # as it arrives rather than wait for its end.
    rss_before = rss_mb()
    with connect(server.url) as sock:
        sock.sendall(b"GET /add HTTP/1.1\r\nX-Endless: ")
        sent = 0
        try:
            while sent < 50_000_000:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass
        raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 431 ")
    assert sent < 10_000_000
    assert rss_mb() - rss_before < 50
    assert_healthy(server)


def test_endless_header_line_in_small_reads_is_cut_off(server: RunningServer) -> None:
    # The same line in 1 KB sends: every read after the first is all head, and counted.
    with connect(server.url) as sock:
        sock.sendall(b"GET /add HTTP/1.1\r\nX-Endless: ")
        sent = 0
        try:
            while sent < 1_000_000:
                sock.sendall(b"a" * 1024)
                sent += 1024
                time.sleep(0.0005 if sent < 64_000 else 0)
        except OSError:
            pass
        raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 431 ")
    assert_healthy(server)


def test_a_long_pipeline_is_answered_in_full(server: RunningServer) -> None:
    # 5,000 pipelined requests on one socket: reads of 64 KiB end inside request heads,
    # and the next read's later requests must not count as that head's bytes (issue 11:
    # 3,458 answered, then 431 and a close).
    n = 5000
    with connect(server.url) as sock:
        sock.sendall(get("/add") * n)
        got = read_responses(sock, n, timeout=20)
    assert len(got) == n
    assert {(r.status, r.body) for r in got} == {(200, b".")}
    assert_healthy(server)


def test_a_head_split_across_reads_then_many_requests(server: RunningServer) -> None:
    # A head cut in two sends, its second half followed by 43 KB of whole requests in one
    # send: every request is answered (issue 11: 1 of 1,402).
    first = get("/add?name=split")
    rest = get("/add?name=split") * 1400
    assert len(rest) > server.config.max_header_bytes
    with connect(server.url) as sock:
        sock.sendall(first[:20])
        time.sleep(0.05)  # two reads on the server's side
        sock.sendall(first[20:] + rest)
        got = read_responses(sock, 1401, timeout=20)
    assert [r.status for r in got] == [200] * 1401
    assert server.timeline("split")["count"] == 1401


def test_a_large_body_after_a_split_head_is_not_header_bytes(server: RunningServer) -> None:
    # The bytes after a head's end in the same read are body, not head.
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n"
    with connect(server.url) as sock:
        sock.sendall(head[:10])
        time.sleep(0.05)
        sock.sendall(head[10:] + b"z" * 200_000)
        got = read_responses(sock, 1)
    assert got[0].status == 200
    assert json.loads(got[0].body)["body_bytes"] == 200_000


def test_nothing_after_a_connection_close_answer(server: RunningServer) -> None:
    # A request after one that asked Connection: close is ignored: one answer, then a
    # quiet close (issue 11: an extra "400 Data after Connection: close").
    close = b"GET /add HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    http10 = b"GET /add HTTP/1.0\r\n\r\n"
    for first in (close, http10):
        for after in (get("/add"), b"\x00garbage", get("/add")[:7]):
            with connect(server.url) as sock:
                sock.sendall(first + after)
                raw = read_until_closed(sock)
            assert raw.count(b"HTTP/1.") == 1, raw
            assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and raw.endswith(b"\r\n\r\n.")
    assert server.stats()["bad_requests"] == 0
    assert_healthy(server)


def test_oversized_url_gets_414(server: RunningServer) -> None:
    status, body, _ = refused(server, get("/add?x=" + "y" * 40_000))
    assert (status, body) == (414, b"request target too long\n")
    assert_healthy(server)


def test_oversized_body_gets_413() -> None:
    with serve(max_body_bytes=10_000) as server:
        head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n"
        status, body, _ = refused(server, head + b"z" * 200_000)
        assert (status, body) == (413, b"request body too large\n")
        chunked = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        status, _, _ = refused(server, chunked + (b"1000\r\n" + b"z" * 4096 + b"\r\n") * 4)
        assert status == 413
        assert_healthy(server)
        small = exchange(server.url, head.replace(b"2000000", b"5000") + b"z" * 5000)
        assert small[0].status == 200  # under the limit: fine


@pytest.mark.parametrize(
    "target",
    [
        "/add?delay=-1",
        "/add?delay=abc",
        "/add?delay=nan",
        "/add?delay=inf",
        "/add?delay=1e309",
        "/add?delay=600001",
        "/add?latency=bogus",
        "/add?latency=uniform:5,1",
        "/add?latency=700000",
        "/add?latency=pareto:1,0.0001",  # parses, but its median is beyond any float
        "/add?latency=lognormal:1,1e308",  # its tail overflows exp()
        "/add?latency=exp:1e308",  # its tail is infinite
        "/add?fault=explode",
        "/add?faults=5xx:2",
        "/add?faults=5xx:0.7,reset:0.7",
        "/add?fault=429&retry_after=-1",
        "/bytes/-1",
        "/bytes/abc",
        "/bytes/99999999999",
        "/bytes/" + "9" * 5000,
        "/redirect/-1",
        "/redirect/100000",
        "/status/99",
        "/status/1000",
        "/status/abc",
        "/status/200:-1",
        "/status/200:0",
        "/status/429?retry_after=1%0d%0aX-Injected:%201",
        "/drip?bytes=-5",
        "/drip?duration=-1",
        "/drip?chunks=0",
        "/drip?code=204",
        "/drip?bytes=999999999999",
    ],
)
def test_bad_parameters_get_400_with_one_line(server: RunningServer, target: str) -> None:
    with connect(server.url) as sock:
        sock.sendall(get(target) + get("/add"))  # the connection stays usable
        bad, good = read_responses(sock, 2)
    assert bad.status == 400
    assert bad.body.startswith(b"bad request: ") and bad.body.count(b"\n") == 1
    assert "x-injected" not in bad.headers
    assert (good.status, good.body) == (200, b".")
    assert server.stats()["bad_requests"] == 1


@pytest.mark.parametrize(
    "data",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(100),  # a TLS hello
        b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"\x00" * 1000,
    ],
)
def test_garbage_is_refused_and_closed(server: RunningServer, data: bytes) -> None:
    status, body, _ = refused(server, data + get("/add"))
    assert status == 400
    assert body.count(b"\n") == 1
    assert_healthy(server)


def test_upgrade_is_answered_then_closed(server: RunningServer) -> None:
    # The request itself is answered over HTTP/1.1 (ignoring the Upgrade is allowed);
    # whatever follows would be the new protocol, which the server does not speak.
    upgrade = b"GET /add HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n"
    with connect(server.url) as sock:
        sock.sendall(upgrade + b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"HTTP/1.1 400 Bad Request\r\n" in raw
    assert_healthy(server)


def test_half_closed_connection_still_gets_its_answers(server: RunningServer) -> None:
    with connect(server.url) as sock:
        sock.sendall(get("/bytes/4?delay=100") + get("/add") + get("/bytes/2?delay=20"))
        sock.shutdown(socket.SHUT_WR)
        raw = read_until_closed(sock)
    stream = [r.body for r in read_pipelined(raw)]
    assert stream == [b"\x00" * 0 + stream[0], b".", stream[2]]
    assert [len(b) for b in stream] == [4, 1, 2]
    with connect(server.url) as sock:  # at once, without any delay
        sock.sendall(get("/add"))
        sock.shutdown(socket.SHUT_WR)
        assert read_until_closed(sock).endswith(b"\r\n\r\n.")


def read_pipelined(raw: bytes) -> list[object]:
    from raw_http import ResponseStream

    stream = ResponseStream()
    stream.feed(raw)
    return list(stream.responses)


def test_slowloris_is_closed() -> None:
    with serve(header_timeout_s=0.5) as server, connect(server.url) as slow:
        head = get("/add")
        started = time.perf_counter()
        closed_after = None
        for byte in head[:-1]:  # one byte every 0.1 s: never a whole head in 0.5 s
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                closed_after = time.perf_counter() - started
                break
            assert_healthy(server)  # meanwhile the server serves others
            time.sleep(0.1)
            slow.setblocking(False)
            try:
                if slow.recv(100) == b"":
                    closed_after = time.perf_counter() - started
                    break
            except BlockingIOError:
                pass
            except ConnectionResetError:
                closed_after = time.perf_counter() - started
                break
            finally:
                slow.setblocking(True)
        assert closed_after is not None, "the slow client was never cut off"
        assert 0.4 < closed_after < 3.0
        assert_healthy(server)


def test_idle_connection_is_closed() -> None:
    with serve(idle_timeout_s=0.5) as server, connect(server.url) as idle:
        idle.sendall(get("/add"))
        assert read_responses(idle, 1)[0].body == b"."
        started = time.perf_counter()
        assert read_until_closed(idle, timeout=5) == b""
        assert 0.4 < time.perf_counter() - started < 3.0


def rss_mb() -> float:
    """This process's resident memory (the thread-mode server lives in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_client_that_never_reads(server: RunningServer) -> None:
    # 400 pipelined requests for 1 MB each, never read: the server must not render
    # 400 MB of answers, must keep serving others, and must account for it all later.
    rss_before = rss_mb()
    greedy = connect(server.url)
    greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        greedy.sendall(b"".join(get(f"/bytes/1048576?id={i % 2}") for i in range(400)))
        time.sleep(0.3)
        for _ in range(5):
            assert_healthy(server)
        assert rss_mb() - rss_before < 150
        assert server.stats()["in_flight"] >= 300  # queued, waiting for the reader
    finally:
        greedy.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        greedy.close()  # a reset: the server drops what it queued
    deadline = time.monotonic() + 5
    while server.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.stats()["in_flight"] == 0
    assert_healthy(server)


def test_many_abrupt_disconnects(server: RunningServer) -> None:
    # Clients that vanish mid-request, mid-wait and mid-drip, with a TCP reset.
    def vandal(i: int) -> None:
        for j in range(10):
            sock = connect(server.url)
            data = [
                get("/add?delay=50"),
                get("/drip?bytes=100&duration=200"),
                get("/add")[:10],
                get("/bytes/100000"),
            ][(i + j) % 4]
            sock.sendall(data)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()

    threads = [threading.Thread(target=vandal, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + 5
    while server.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.stats()["in_flight"] == 0
    assert_healthy(server)
