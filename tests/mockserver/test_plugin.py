"""The pytest plugin as a user's suite meets it: fixtures, the marker, the factory.

Each check runs a small test suite of its own in a fresh ``python -m pytest`` (the plugin
comes in through its ``pytest11`` entry point, as in any project that installs concur),
with ``--strict-markers`` and warnings as errors, and asserts what the suite saw.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from mockserver.testing import RunningServer

HAS_PYTEST_ASYNCIO = importlib.util.find_spec("pytest_asyncio") is not None
PLAIN_INI = """\
[pytest]
addopts = --strict-markers -p no:cacheprovider
filterwarnings = error
"""
INI = PLAIN_INI
if HAS_PYTEST_ASYNCIO:  # without a loop scope, pytest-asyncio warns, and warnings are errors
    INI += "asyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"


def run_suite(
    tmp_path: Path, source: str, must_pass: bool = True, ini: str = INI, args: tuple[str, ...] = ()
) -> str:
    """Run ``source`` as a test module in a fresh pytest (``args`` added); its output."""
    (tmp_path / "pytest.ini").write_text(ini)
    (tmp_path / "test_suite.py").write_text(textwrap.dedent(source))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *args, "test_suite.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if must_pass:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


SUITE = """\
import asyncio
import http.client
import time
import urllib.request

import pytest

seen = {}


def status(url, path, body=None):
    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST" if body else "GET", path, body=body)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def alive(url):
    try:
        return urllib.request.urlopen(url + "/__health", timeout=2).read() == b"ok\\n"
    except OSError:
        return False


def test_unmarked_uses_the_session_server(mockserver):
    mockserver.expect("/x", body="a")
    assert urllib.request.urlopen(mockserver.url + "/x").read() == b"a"
    seen["session"] = mockserver.url


def test_the_session_server_is_reset_between_tests(mockserver):
    assert mockserver.url == seen["session"]
    assert mockserver.routes() == [] and mockserver.requests() == []


@pytest.mark.mockserver(latency="80")
def test_marked_gets_its_own_server(mockserver):
    assert mockserver.url != seen["session"]
    seen["marked"] = mockserver.url
    started = time.perf_counter()
    urllib.request.urlopen(mockserver.url + "/add").read()
    assert time.perf_counter() - started >= 0.075


def test_the_marked_server_stopped_after_its_test():
    assert not alive(seen["marked"])
    assert alive(seen["session"])


@pytest.mark.mockserver(mode="thread", max_body_bytes=10)
def test_marked_thread_mode_sees_every_field(mockserver):
    assert mockserver.config.max_body_bytes == 10
    assert status(mockserver.url, "/add", b"x" * 20) == 413


class TestAClass:
    pytestmark = pytest.mark.mockserver(seed=5, faults="5xx:1")

    def test_in_the_class(self, mockserver):
        assert mockserver.config.seed == 5
        assert status(mockserver.url, "/add") >= 500


def test_the_factory(mockserver_factory):
    a = mockserver_factory(latency="50")
    b = mockserver_factory(mode="thread", seed=3)
    assert a.url != b.url and b.config.seed == 3
    seen["factory"] = [a.url, b.url]
    started = time.perf_counter()
    urllib.request.urlopen(a.url + "/add").read()
    assert time.perf_counter() - started >= 0.045


def test_the_factory_servers_stopped():
    assert not any(alive(url) for url in seen["factory"])


def test_the_async_fixture(mockserver_async):  # no async plugin needed: asyncio.run
    async def main():
        await mockserver_async.expect("/j", json={"a": 1})
        assert await mockserver_async.get("/j") == b'{"a": 1}'
        return [r.path for r in await mockserver_async.requests()]

    assert asyncio.run(main()) == ["/j"]
    assert mockserver_async.url == seen["session"]
"""


def test_fixtures_marker_and_factory(tmp_path: Path) -> None:
    out = run_suite(tmp_path, SUITE)
    assert "9 passed" in out


def test_a_marker_with_an_unknown_field_fails_its_test_only(tmp_path: Path) -> None:
    source = """\
    import pytest

    @pytest.mark.mockserver(latncy="5")
    def test_typo(mockserver):
        pass

    def test_fine(mockserver):
        pass
    """
    out = run_suite(tmp_path, source, must_pass=False)
    assert "1 passed, 1 error" in out, out
    assert "latncy" in out


@pytest.mark.skipif(importlib.util.find_spec("anyio") is None, reason="anyio is not installed")
def test_under_anyios_plugin(tmp_path: Path) -> None:
    source = """\
    import aiohttp
    import pytest

    pytestmark = pytest.mark.anyio


    @pytest.fixture
    def anyio_backend():
        return "asyncio"


    async def test_async(mockserver_async):
        await mockserver_async.expect("/flaky", responses=[{"status": 503}, {"body": "ok"}])
        async with aiohttp.ClientSession() as session:
            statuses = []
            for _ in range(3):
                async with session.get(mockserver_async.url_for("/flaky")) as resp:
                    statuses.append(resp.status)
        assert statuses == [503, 200, 200]
        assert len(await mockserver_async.requests(path="/flaky")) == 3


    @pytest.mark.mockserver(mode="thread", seed=9)
    async def test_async_marked(mockserver_async):
        assert mockserver_async.config.seed == 9
        assert (await mockserver_async.stats())["total"] == 0
    """
    assert "2 passed" in run_suite(tmp_path, source)


@pytest.mark.skipif(not HAS_PYTEST_ASYNCIO, reason="pytest-asyncio is not installed")
def test_under_pytest_asyncio(tmp_path: Path) -> None:
    source = """\
    import threading

    import aiohttp
    import pytest
    import pytest_asyncio

    from mockserver.testing import serve_async


    @pytest_asyncio.fixture
    async def own_server():
        async with serve_async(mode="loop") as server:
            yield server


    @pytest.mark.asyncio
    async def test_async_fixture(mockserver_async):
        await mockserver_async.expect("/a", json=[1])
        assert await mockserver_async.get("/a") == b"[1]"


    @pytest.mark.asyncio
    async def test_a_server_in_the_tests_loop(own_server):
        await own_server.expect("/b", body="b")
        assert await own_server.get("/b") == b"b"
        assert [r.path for r in await own_server.requests()] == ["/b"]


    @pytest.mark.asyncio
    async def test_the_loop_fixture(mockserver_loop):
        assert not any(t.name == "mockserver" for t in threading.enumerate())  # no thread
        await mockserver_loop.expect("/c", responses=[{"status": 503}, {"body": "c"}])
        async with aiohttp.ClientSession() as session:
            for status in (503, 200):
                async with session.get(mockserver_loop.url_for("/c")) as resp:
                    assert resp.status == status
        assert len(await mockserver_loop.requests(path="/c")) == 2


    # max_body_bytes: a field only an in-process server takes; the mode is mockserver's
    @pytest.mark.mockserver(mode="subprocess", seed=4, max_body_bytes=10)
    @pytest.mark.asyncio
    async def test_the_loop_fixture_follows_the_marker(mockserver_loop):
        assert mockserver_loop.config.seed == 4
        async with aiohttp.ClientSession() as session:
            async with session.post(mockserver_loop.url_for("/add"), data=b"x" * 20) as resp:
                assert resp.status == 413


    def test_a_sync_test_is_refused(mockserver_loop):
        pass


    @pytest.mark.asyncio(loop_scope="module")
    async def test_another_loop_is_refused(mockserver_loop):
        pass
    """
    out = run_suite(tmp_path, source, must_pass=False)
    assert "4 passed, 2 errors" in out, out
    assert "the test must be an async test marked @pytest.mark.asyncio" in out
    assert "this test runs in the module-scoped loop" in out


def test_the_plugin_loads_without_pytest_asyncio(tmp_path: Path) -> None:
    source = """\
    def test_sync(mockserver):
        assert mockserver.get("/add") == b"."

    def test_no_loop_fixture(mockserver_loop):
        pass
    """
    out = run_suite(tmp_path, source, must_pass=False, ini=PLAIN_INI, args=("-p", "no:asyncio"))
    assert "1 passed, 1 error" in out, out
    assert "fixture 'mockserver_loop' not found" in out


def test_the_marker_is_registered(pytestconfig: pytest.Config) -> None:
    assert any(line.startswith("mockserver(") for line in pytestconfig.getini("markers"))


def test_the_session_fixture_is_a_subprocess(mockserver: RunningServer) -> None:
    # the shared server does not share this process's GIL (its pid is another's)
    import os

    assert mockserver.stats()["pid"] != os.getpid()
    started = time.perf_counter()
    urllib.request.urlopen(mockserver.url + "/add").read()
    assert time.perf_counter() - started < 1.0
