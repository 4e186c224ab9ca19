"""Large bodies are made and written a piece at a time, while the client reads them.

Issue 11: eight clients asking ``/bytes/67108864`` and never reading took the server from
29 to 541 MB, and each answer blocked the event loop for ~300 ms (health checks waited up
to a second).  Here the server runs in its own process so that its memory can be read
from ``/proc``; the bytes must still be exactly the seeded bytes of before.
"""

from __future__ import annotations

import gzip
import random
import socket
import struct
import time
from pathlib import Path

import pytest
from raw_http import connect, exchange, get, one, read_responses, read_until_closed

from mockserver.testing import RunningServer, serve

BIG = 64 * 1024 * 1024  # the largest body (max_bytes)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def seeded(seed: int, n: int) -> bytes:
    """What ``/bytes/N`` has always answered."""
    return random.Random(f"{seed}:{n}").randbytes(n)


def non_reader(url: str, target: str) -> socket.socket:
    """A client that asks for ``target`` and never reads the answer."""
    sock = connect(url)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(get(target))
    return sock


def test_clients_that_do_not_read_big_bodies_cost_little() -> None:
    with serve(mode="subprocess") as server:
        pid = server.stats()["pid"]
        before = rss_mb(pid)
        greedy = [non_reader(server.url, f"/bytes/{BIG}") for _ in range(6)]
        greedy.append(non_reader(server.url, f"/drip?bytes={BIG}&chunks=1&duration=0"))
        greedy += [non_reader(server.url, f"/bytes/{BIG}?gzip=1")]
        try:
            slowest = 0.0
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:  # the server keeps serving others, at once
                started = time.perf_counter()
                assert one(server.url, "/add?delay=2&name=health").body == b"."
                slowest = max(slowest, time.perf_counter() - started)
            grown = rss_mb(pid) - before
            stats = server.stats()
        finally:
            for sock in greedy:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
        assert grown < 48, f"the server grew by {grown:.0f} MB"  # was 512 MB (8 x 64 MiB)
        assert slowest < 0.25, f"a health check took {slowest * 1e3:.0f} ms"  # was up to 2 s
        # How late the server's timers fired while it streamed: the loop was never held.
        assert stats["delay_error_ms"]["max"] < 50
        assert stats["in_flight"] == 8  # the big answers, still being written
        # And a client that reads gets every byte, the same as ever.
        body = exchange(server.url, get(f"/bytes/{BIG}"), timeout=30)[0].body
        assert body == seeded(0, BIG)


@pytest.mark.parametrize("n", [(1 << 20) + 1, 3_000_003])
def test_streamed_bodies_are_the_seeded_bytes(server: RunningServer, n: int) -> None:
    want = seeded(0, n)
    plain = exchange(server.url, get(f"/bytes/{n}"), timeout=10)[0]
    assert plain.headers["content-length"] == str(n)
    assert plain.body == want
    chunked = exchange(server.url, get(f"/bytes/{n}?chunked=1"), timeout=10)[0]
    assert chunked.headers["transfer-encoding"] == "chunked"
    assert chunked.body == want
    # Compressed as it goes: the same bytes as gzip.compress, but chunked (the length of
    # the compressed body is known only at its end).
    packed = exchange(server.url, get(f"/bytes/{n}?gzip=1"), timeout=10)[0]
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["transfer-encoding"] == "chunked"
    assert packed.body == gzip.compress(want, compresslevel=1, mtime=0)


def test_a_streamed_body_keeps_the_pipeline_in_order(server: RunningServer) -> None:
    n = 2_000_000
    with connect(server.url) as sock:
        sock.sendall(get(f"/bytes/{n}") + get("/add") + get(f"/bytes/{n}") + get("/bytes/5"))
        got = read_responses(sock, 4, timeout=10)
    assert [r.status for r in got] == [200] * 4
    assert [len(r.body) for r in got] == [n, 1, n, 5]
    assert server.stats()["in_flight"] == 0
    # HEAD: the length and no body; Connection: close after a streamed body closes.
    head = f"HEAD /bytes/{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    close = f"GET /bytes/{n} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    with connect(server.url) as sock:
        sock.sendall(head + close)
        raw = read_until_closed(sock, timeout=10)
    first, _, rest = raw.partition(b"\r\n\r\n")
    assert f"Content-Length: {n}".encode() in first
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")
    assert rest.partition(b"\r\n\r\n")[2] == seeded(0, n)


def test_truncate_fault_on_a_streamed_body(server: RunningServer) -> None:
    n = 3_000_001
    with connect(server.url) as sock:
        sock.sendall(get(f"/bytes/{n}?fault=truncate"))
        raw = read_until_closed(sock, timeout=10)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert f"Content-Length: {n}".encode() in head
    assert body == seeded(0, n)[: n // 2]  # an exact prefix, then the close


def test_big_drip_pieces_arrive_whole(server: RunningServer) -> None:
    got = exchange(server.url, get("/drip?bytes=3000000&duration=20&chunks=2"), timeout=10)
    assert got[0].body == b"*" * 3_000_000
    chunked = exchange(server.url, get("/drip?bytes=700000&duration=10&chunks=3&chunked=1"))
    assert chunked[0].body == b"*" * 700_000


def test_clients_that_vanish_mid_stream(server: RunningServer) -> None:
    # Reset while a body is being streamed (after reading a little, or nothing): the
    # stream stops, the request is accounted for, and nothing is logged.
    targets = [
        "/bytes/8000000",
        "/bytes/8000000?chunked=1",
        "/bytes/8000000?gzip=1",
        "/bytes/8000000?fault=truncate",
        "/drip?bytes=8000000&chunks=4&duration=50",
    ]
    for i in range(20):
        sock = connect(server.url)
        sock.sendall(get(targets[i % len(targets)]) + get("/add"))
        if i % 2:
            sock.recv(100_000)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    deadline = time.monotonic() + 5
    while server.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.stats()["in_flight"] == 0
    assert one(server.url, "/add").body == b"."
