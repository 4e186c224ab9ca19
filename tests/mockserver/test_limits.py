"""Limits: the in-flight limit, pipelining, overlapping waits, and bounded memory."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
from raw_http import connect, get, one, read_responses

from mockserver.config import ServerConfig
from mockserver.routes import Request, plan
from mockserver.state import ServerState
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


# -- memory is bounded whatever clients send (issue 11) ---------------------------------


def pipeline(url: str, targets: list[str]) -> None:
    """Send every target on one connection and read every answer."""
    with connect(url) as sock:
        for i in range(0, len(targets), 5000):
            part = targets[i : i + 5000]
            sock.sendall(b"".join(get(t) for t in part))
            assert len(read_responses(sock, len(part), timeout=30)) == len(part)


def test_timeline_names_are_bounded() -> None:
    with serve(max_names=50) as server:
        pipeline(server.url, [f"/add?name=n{i}" for i in range(200)])
        names = server.get_json("/__timeline")["names"]
        assert names == {f"n{i}": 1 for i in range(50)}  # the first 50 are kept
        stats = server.stats()
        assert stats["total"] == 200  # every request is still counted
        assert stats["unrecorded"] == 150  # and these were put in no timeline
        server.get("/__timeline?name=n0&reset=1")  # forgetting a name makes room
        one(server.url, "/add?name=late")
        assert "late" in server.get_json("/__timeline")["names"]


def test_repeat_counts_are_bounded() -> None:
    # Each distinct faults= value is a request identity with a repeat count to keep.
    state = ServerState(ServerConfig(max_identities=100))
    for i in range(1000):
        plan(Request("GET", f"/add?faults=5xx:0.{i:04d}"), state)
        assert len(state.seen) <= 100
    # Below the cap nothing is forgotten: a repeat is a fresh draw, as ever.
    state = ServerState(ServerConfig())
    first = [plan(Request("GET", f"/add?faults=5xx:0.5&id={i}"), state).status for i in range(50)]
    again = [plan(Request("GET", f"/add?faults=5xx:0.5&id={i}"), state).status for i in range(50)]
    assert first != again
    assert len(state.seen) == 50


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_many_distinct_names_cost_a_bounded_amount() -> None:
    # 100,000 names used to take 50 MB until /__reset; at most 10,000 are kept now.
    with serve(mode="subprocess") as server:
        pid = server.stats()["pid"]
        before = rss_mb(pid)
        pipeline(server.url, [f"/add?name=n{i}" for i in range(100_000)])
        grown = rss_mb(pid) - before
        stats = server.stats()
    assert stats["total"] == 100_000 and len(stats["names"]) == 10_000
    assert grown < 20, f"the server grew by {grown:.0f} MB"
