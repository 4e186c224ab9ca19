"""Async test suites: ``async with serve_async(...)`` and the ``mockserver_async`` fixture.

concur's own async tests run their coroutines with ``asyncio.run`` in a sync test (no
async pytest plugin is a dependency); ``test_plugin.py`` runs the fixture under anyio's
and pytest-asyncio's plugins when they are installed.  Real servers over loopback, a
real client (aiohttp).
"""

from __future__ import annotations

import asyncio
import threading
import time

import aiohttp
import pytest

from mockserver.control import MockServerError
from mockserver.testing import AsyncRunningServer, serve_async


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with session.get(url) as resp:
        return resp.status, await resp.read()


async def exercise(server: AsyncRunningServer) -> None:
    """Every helper, awaited, against a fresh or reset server."""
    flaky = await server.expect("/flaky", responses=[{"status": 503}, {"json": {"ok": 1}}])
    await server.expect("/items", method="GET", query={"page": "1"}, json=[1, 2])
    async with aiohttp.ClientSession() as session:
        assert await get(session, server.url_for("/flaky")) == (503, b"")
        assert await get(session, server.url_for("/flaky")) == (200, b'{"ok": 1}')
        assert await get(session, server.url_for("/items?page=1")) == (200, b"[1, 2]")
        assert await get(session, server.url_for("/add?name=a")) == (200, b".")
    logged = await server.requests()
    assert [(r.method, r.target, r.route) for r in logged] == [
        ("GET", "/flaky", flaky),
        ("GET", "/flaky", flaky),
        ("GET", "/items?page=1", flaky + 1),
        ("GET", "/add?name=a", None),
    ]
    assert [r.target for r in await server.requests(path="/flaky")] == ["/flaky", "/flaky"]
    assert (await server.request_log()).dropped == 0
    assert [r["served"] for r in await server.routes()] == [2, 1]
    assert (await server.stats())["total"] == 4
    assert (await server.timeline("a"))["count"] == 1
    await server.clear_routes(flaky)
    assert [r["path"] for r in await server.routes()] == ["/items"]
    await server.clear_requests()
    assert await server.requests() == []
    await server.reset()
    assert await server.routes() == []
    assert len(await server.get("/bytes/100?chunked=1")) == 100  # any framing is read
    with pytest.raises(MockServerError) as info:
        await server.get("/nowhere")
    assert info.value.status == 404
    with pytest.raises(MockServerError, match="server's own"):
        await server.expect("/__reset")


@pytest.mark.parametrize("mode", ["thread", "subprocess", "loop"])
def test_serve_async(mode: str) -> None:
    async def main() -> None:
        async with serve_async(mode=mode, seed=3) as server:
            assert server.config.seed == 3
            await exercise(server)

    asyncio.run(main())


def test_a_server_in_the_tests_own_loop_starts_no_thread() -> None:
    async def main() -> float:
        before = threading.active_count()
        async with serve_async(mode="loop", latency="100") as server:
            assert threading.active_count() == before
            async with aiohttp.ClientSession() as session:
                started = time.perf_counter()
                urls = [server.url_for(f"/add?i={i}") for i in range(20)]
                results = await asyncio.gather(*(get(session, u) for u in urls))
                elapsed = time.perf_counter() - started
            assert results == [(200, b".")] * 20
            assert (await server.timeline(""))["peak_in_flight"] == 20
        return elapsed

    assert 0.095 <= asyncio.run(main()) < 1.0  # twenty at once, all in one loop


def test_starting_a_subprocess_server_does_not_block_the_loop() -> None:
    async def main() -> int:
        ticks = 0
        stop = asyncio.Event()

        async def tick() -> None:
            nonlocal ticks
            while not stop.is_set():
                await asyncio.sleep(0.005)
                ticks += 1

        ticker = asyncio.create_task(tick())
        async with serve_async(mode="subprocess") as server:
            stop.set()
            await ticker
            assert (await server.get("/add")) == b"."
        return ticks

    assert asyncio.run(main()) >= 1  # the loop ran while the server started


def test_the_async_fixture(mockserver_async: AsyncRunningServer) -> None:
    asyncio.run(exercise(mockserver_async))


@pytest.mark.mockserver(mode="thread", latency="60")
def test_the_async_fixture_follows_the_marker(mockserver_async: AsyncRunningServer) -> None:
    async def main() -> float:
        await mockserver_async.expect("/r", body="x")
        async with aiohttp.ClientSession() as session:
            started = time.perf_counter()
            assert await get(session, mockserver_async.url_for("/r")) == (200, b"x")
            return time.perf_counter() - started

    assert mockserver_async.config.latency.a == 60
    assert asyncio.run(main()) >= 0.055
