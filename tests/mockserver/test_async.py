"""Async test suites: ``async with serve_async(...)``, ``mockserver_async``, ``mockserver_loop``.

Written as an async suite is: ``@pytest.mark.asyncio`` tests (pytest-asyncio, strict mode,
a loop per test), each awaiting the helpers in the loop it runs in.  ``test_plugin.py``
runs the fixtures in a user's suite: under pytest-asyncio, under anyio's plugin, and with
``asyncio.run`` in a sync test.  Real servers over loopback, a real client (aiohttp).
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


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["thread", "subprocess", "loop"])
async def test_serve_async(mode: str) -> None:
    async with serve_async(mode=mode, seed=3) as server:
        assert server.config.seed == 3
        await exercise(server)


@pytest.mark.asyncio
async def test_a_server_in_the_tests_own_loop_starts_no_thread() -> None:
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
    assert 0.095 <= elapsed < 1.0  # twenty at once, all in one loop


@pytest.mark.asyncio
async def test_starting_a_subprocess_server_does_not_block_the_loop() -> None:
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
    assert ticks >= 1  # the loop ran while the server started


@pytest.mark.asyncio
async def test_the_async_fixture(mockserver_async: AsyncRunningServer) -> None:
    await exercise(mockserver_async)


@pytest.mark.asyncio
@pytest.mark.mockserver(mode="thread", latency="60")
async def test_the_async_fixture_follows_the_marker(mockserver_async: AsyncRunningServer) -> None:
    assert mockserver_async.config.latency.a == 60
    await mockserver_async.expect("/r", body="x")
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        assert await get(session, mockserver_async.url_for("/r")) == (200, b"x")
        assert time.perf_counter() - started >= 0.055


@pytest.mark.asyncio
async def test_the_loop_fixture(mockserver_loop: AsyncRunningServer) -> None:
    await exercise(mockserver_loop)


@pytest.mark.asyncio
@pytest.mark.mockserver(seed=3, latency="60", max_body_bytes=10)  # an in-process-only field
async def test_the_loop_fixture_follows_the_marker(mockserver_loop: AsyncRunningServer) -> None:
    assert (mockserver_loop.config.seed, mockserver_loop.config.max_body_bytes) == (3, 10)
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        assert await get(session, mockserver_loop.url_for("/add")) == (200, b".")
        assert time.perf_counter() - started >= 0.055
        async with session.post(mockserver_loop.url_for("/add"), data=b"x" * 20) as resp:
            assert resp.status == 413
