"""Every Python entry point the notebooks use works inside a running event loop.

A Jupyter cell runs in the kernel's event loop, where ``asyncio.run`` refuses to start
another.  Each test here is a coroutine run by pytest-asyncio, so a loop is running
while it calls the synchronous API, as a notebook cell does: fetching with every engine,
following links, starting and stopping the mock server, a concurrency sweep, and the GIL
lab (whose experiments run event loops of their own).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

import concur
import concur.gil
from concur.api import outside_loop
from concur.bench.runner import sweep
from concur.experiment import book_urls
from mockserver.testing import RunningServer, serve


def _needs_own_loop() -> str:
    """What the GIL lab's experiments do: start a loop of their own."""

    async def name() -> str:
        return threading.current_thread().name

    coro = name()
    try:
        return asyncio.run(coro)
    finally:
        coro.close()  # a no-op once it ran; no "never awaited" when asyncio.run refused


@pytest.mark.asyncio
async def test_outside_loop_runs_loop_owning_code_aside_and_hands_back_its_outcome() -> None:
    with pytest.raises(RuntimeError, match="running event loop"):
        _needs_own_loop()  # the failure it exists for
    assert outside_loop(_needs_own_loop) == "concur-outside-loop"

    def fails(kind: type[Exception]) -> None:
        raise kind("from the thread")

    with pytest.raises(LookupError, match="from the thread"):
        outside_loop(fails, LookupError)


def test_outside_loop_without_a_loop_runs_in_this_thread() -> None:
    assert outside_loop(_needs_own_loop) == threading.current_thread().name


@pytest.mark.asyncio
@pytest.mark.parametrize("engine", concur.available_engines())
async def test_fetch_with_every_engine(engine: str, mockserver: RunningServer) -> None:
    urls = book_urls(mockserver.url, 6, f"in-loop-{engine}", delay_ms=1)
    result = concur.fetch(urls, engine=engine, concurrency=3)
    assert result.ok == 6 and [r.url for r in result.records] == urls


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["thread", "subprocess"])
async def test_the_mock_server_starts_serves_and_stops(mode: str) -> None:
    with serve(mode=mode, seed=0) as server:
        result = concur.fetch(book_urls(server.url, 4, "started-in-loop", delay_ms=1))
        assert result.ok == 4
        assert server.timeline("started-in-loop")["count"] == 4


@pytest.mark.asyncio
@pytest.mark.parametrize("engine", ["asyncio", "threads"])
async def test_follow_crawls_a_site(engine: str) -> None:
    with serve(mode="subprocess", site_pages=20, site_hosts=1) as server:
        result = concur.follow(server.url + "/", engine=engine, per_host=4, max_pages=10)
    assert result.extra["mode"] == "follow" and len(result.records) == 10


@pytest.mark.asyncio
async def test_a_concurrency_sweep() -> None:
    data = sweep([1, 4], [1.0], ["asyncio"], waves=1, min_n=4)
    assert [p["concurrency"] for p in data["points"]] == [1, 4]
    for point in data["points"]:
        run = point["results"]["asyncio"]
        assert run["failed"] == 0 and run["req_per_s"] > 0
        assert run["peak_in_flight"] <= point["concurrency"]


@pytest.mark.asyncio
async def test_the_gil_lab(tmp_path: Path) -> None:
    """lag runs asyncio loops of its own: the lab must run aside from this one.  Its
    figures are drawn on Agg, and the backend in use before comes back (a notebook's
    inline one: without it, the notebook's own figures would no longer show)."""
    import matplotlib

    lines: list[str] = []
    before = matplotlib.get_backend()
    matplotlib.use("svg")  # standing in for the inline backend
    try:
        (doc,) = concur.gil.run(["lag"], quick=True, out=tmp_path, echo=lines.append)
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    assert doc["experiment"] == "lag" and not doc["result"].get("skipped")
    assert (tmp_path / "lag.json").exists()
    assert doc["figures"] and all((tmp_path / name).exists() for name in doc["figures"])
    assert any("lag" in line for line in lines)
