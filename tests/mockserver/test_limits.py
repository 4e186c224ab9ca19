"""Concurrency: the in-flight limit, pipelining, and overlapping waits."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from raw_http import connect, get, read_responses

from mockserver.testing import RunningServer, serve


def answers(url: str, targets: list[str]) -> list[tuple[int, str | None]]:
    """(status, Retry-After) of each target, all sent at once on separate connections."""

    async def main() -> list[tuple[int, str | None]]:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(target: str) -> tuple[int, str | None]:
                async with session.get(url + target) as resp:
                    await resp.read()
                    return resp.status, resp.headers.get("Retry-After")

            return list(await asyncio.gather(*(one(t) for t in targets)))

    return asyncio.run(main())


def test_in_flight_limit_answers_503() -> None:
    with serve(max_in_flight=5) as server:
        got = answers(server.url, [f"/add?delay=400&id={i}" for i in range(12)])
        assert sorted(status for status, _ in got) == [200] * 5 + [503] * 7
        assert all(retry == "1" for status, retry in got if status == 503)
        stats = server.stats()
        assert stats["peak_in_flight"] == 5
        assert stats["rejected"] == 7
        assert stats["by_status"] == {"200": 5, "503": 7}
        # Below the limit again, a request is served (and a replayed one is limited too).
        assert answers(server.url, ["/add", "/add"]) == [(200, None), (200, None)]


def test_in_flight_limit_answers_429_with_retry_after() -> None:
    with serve(max_in_flight=3, over_limit_status=429, retry_after_s=2) as server:
        got = answers(server.url, [f"/add?delay=400&id={i}" for i in range(6)])
        assert sorted(got, key=lambda a: a[0]) == [(200, None)] * 3 + [(429, "2")] * 3
        assert server.stats()["peak_in_flight"] == 3


def test_pipelined_requests_are_answered_in_order() -> None:
    # Three requests in one send: the slowest first.  Answers come back in request order,
    # and the waits overlap: the whole takes about the longest delay, not the sum.
    with serve() as server, connect(server.url) as sock:
        data = get("/bytes/3?delay=300") + get("/bytes/1?delay=10") + get("/bytes/2?delay=150")
        data += get("/__health") + get("/add")  # an internal answer waits its turn too
        started = time.perf_counter()
        sock.sendall(data)
        got = read_responses(sock, 5)
        elapsed = time.perf_counter() - started
        assert [len(r.body) for r in got[:3]] == [3, 1, 2]
        assert [r.body for r in got[3:]] == [b"ok\n", b"."]
        assert all(r.status == 200 for r in got)
        assert 0.29 < elapsed < 0.45
        assert max(r.arrived for r in got) - min(r.arrived for r in got) < 0.05
        stats = server.stats()
        assert stats["peak_in_flight"] == 4  # the three delayed ones and /add behind them
        assert stats["in_flight"] == 0


def test_many_pipelined_requests(server: RunningServer) -> None:
    # More than max_pipeline (256) requests in flight on one connection: reading pauses
    # and resumes, and every request is answered, in order.
    n = 1000
    data = b"".join(get(f"/bytes/{i % 7}?delay={i % 3}") for i in range(n))
    with connect(server.url) as sock:
        sock.sendall(data)
        got = read_responses(sock, n, timeout=20)
    assert [len(r.body) for r in got] == [i % 7 for i in range(n)]
    assert server.stats()["total"] == n


def test_hundred_requests_of_200ms_overlap(mockserver: RunningServer) -> None:
    # The server runs in its own process here, so the client does not share its GIL.
    started = time.perf_counter()
    got = answers(mockserver.url, [f"/add?name=overlap&delay=200&id={i}" for i in range(100)])
    elapsed = time.perf_counter() - started
    assert got == [(200, None)] * 100
    assert elapsed < 2.0  # a bound, not a timing: one after another would be 20 s
    timeline = mockserver.timeline("overlap")
    assert timeline["count"] == 100
    assert timeline["peak_in_flight"] >= 50
    assert min(r["dt"] for r in timeline["requests"]) >= 0.199
