"""pytest plugin (registered through the ``pytest11`` entry point): the mock server fixtures.

``mockserver``
    One subprocess server for the whole test session, reset before each test that uses
    it (timelines, counters, run-time routes and the request log).  A test marked
    ``@pytest.mark.mockserver(...)`` gets a server of its own instead, started with
    those :func:`mockserver.testing.serve` arguments (``ServerConfig`` fields such as
    ``latency="50"`` or ``faults="5xx:0.1"``, and ``mode``, ``"subprocess"`` unless
    given) and stopped after the test::

        @pytest.mark.mockserver(latency="50", faults="reset:0.2")
        def test_retries(mockserver):
            mockserver.expect("/api", json={"ok": True})
            ...

    The marker also works on a class or a module (``pytestmark``).
``mockserver_async``
    The same server as ``mockserver`` (marker included), with the helpers awaited
    (:class:`~mockserver.testing.AsyncRunningServer`): for pytest-asyncio or anyio tests,
    or plain ``asyncio.run`` in a sync test.  It is an ordinary fixture on purpose:
    starting and resetting a server needs no event loop, so it works with whichever
    async plugin (and loop scope) a suite uses.
``mockserver_factory``
    Start as many servers as a test wants, each with its own configuration, all
    stopped after the test: ``a = mockserver_factory(latency="100", mode="thread")``.
``mockserver_loop``
    With pytest-asyncio (0.24 or later) active: a server of the test's own, running in
    the test's event loop (:func:`mockserver.testing.serve_async` with ``mode="loop"``,
    the marker's fields applied), with awaitable helpers.  No thread, no process: the
    quickest server to start, for tests whose client is async too::

        @pytest.mark.asyncio
        @pytest.mark.mockserver(latency="20")
        async def test_client(mockserver_loop):
            await mockserver_loop.expect("/api", json={"ok": True})
            ...

    A server in a loop answers only while that loop runs, so the fixture refuses a test
    that would wait on it forever: a sync test, a test run by another async plugin, or
    one whose loop is not the function-scoped loop this fixture's server runs in.  Those
    use ``mockserver_async``.  The fixture is defined when pytest-asyncio is registered
    (``pytest_configure``), so this plugin loads, and its other fixtures work, without it.
"""

from __future__ import annotations

import contextlib
import inspect
import types
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

import pytest

from mockserver.config import ServerConfig
from mockserver.testing import AsyncRunningServer, RunningServer, serve, serve_async

MARKER = (
    "mockserver(config=None, *, mode='subprocess', **fields): give this test's mockserver "
    "fixture a server of its own, started with these mockserver.testing.serve() arguments"
)


class ServerFactory(Protocol):
    """What ``mockserver_factory`` is: :func:`mockserver.testing.serve`, stopped for you."""

    def __call__(
        self, config: ServerConfig | None = None, *, mode: str = "subprocess", **fields: Any
    ) -> RunningServer: ...


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    # pytest-asyncio, under whatever name it came in (its entry point's "asyncio", or -p
    # pytest_asyncio.plugin), unless -p no:asyncio turned it off
    plugins = config.pluginmanager.get_plugins()
    if any(getattr(plugin, "__name__", "") == "pytest_asyncio.plugin" for plugin in plugins):
        loop_fixtures = _loop_fixtures()
        if loop_fixtures is not None:
            config.pluginmanager.register(loop_fixtures, "mockserver-loop")


@pytest.fixture(scope="session")
def mockserver_session() -> Iterator[RunningServer]:
    """One subprocess mock server for the whole test session."""
    with serve(mode="subprocess") as server:
        yield server


@pytest.fixture
def mockserver_factory() -> Iterator[ServerFactory]:
    """Start servers (``serve()``'s arguments, ``mode="subprocess"`` by default); all stop
    after the test."""
    with contextlib.ExitStack() as stack:

        def start(
            config: ServerConfig | None = None, *, mode: str = "subprocess", **fields: Any
        ) -> RunningServer:
            return stack.enter_context(serve(config, mode=mode, **fields))

        yield start


@pytest.fixture
def mockserver(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """The session's mock server, reset for this test; or the marker's own server."""
    marker = request.node.get_closest_marker("mockserver")
    if marker is None:
        session: RunningServer = request.getfixturevalue("mockserver_session")
        session.reset()
        yield session
        return
    kwargs = dict(marker.kwargs)
    kwargs.setdefault("mode", "subprocess")
    with serve(*marker.args, **kwargs) as running:
        yield running


@pytest.fixture
def mockserver_async(mockserver: RunningServer) -> AsyncRunningServer:
    """The ``mockserver`` fixture's server, with awaitable helpers."""
    return AsyncRunningServer(mockserver.url, mockserver.config, mockserver.ca_file)


def _loop_fixtures() -> types.ModuleType | None:
    """A plugin holding the ``mockserver_loop`` fixture; ``None`` before pytest-asyncio 0.24.

    Built here rather than at import so that this module never imports pytest-asyncio
    unless pytest has registered it; 0.24 is the first release whose fixtures take a
    ``loop_scope``, without which the server's loop would follow the suite's
    ``asyncio_default_fixture_loop_scope`` instead of being the test's.
    """
    import pytest_asyncio

    if "loop_scope" not in inspect.signature(pytest_asyncio.fixture).parameters:
        return None

    @pytest_asyncio.fixture(loop_scope="function")
    async def mockserver_loop(request: pytest.FixtureRequest) -> AsyncIterator[AsyncRunningServer]:
        """A server in this test's event loop (the marker's fields applied), stopped after it."""
        _check_the_test_runs_in_the_function_loop(request)
        args: tuple[Any, ...] = ()
        kwargs: dict[str, Any] = {}
        marker = request.node.get_closest_marker("mockserver")
        if marker is not None:
            args, kwargs = marker.args, dict(marker.kwargs)
            kwargs.pop("mode", None)  # the marker's mode is mockserver's; this one is "loop"
        async with serve_async(*args, mode="loop", **kwargs) as running:
            yield running

    plugin = types.ModuleType(f"{__name__}.loop")  # pytest reads a module's fixtures
    plugin.mockserver_loop = mockserver_loop  # type: ignore[attr-defined]
    return plugin


def _check_the_test_runs_in_the_function_loop(request: pytest.FixtureRequest) -> None:
    """Fail the test now if it would run outside the loop ``mockserver_loop``'s server runs in.

    pytest-asyncio runs a test in the loop of its ``loop_scope`` (the ``asyncio`` marker's,
    else ``asyncio_default_test_loop_scope``, else ``function``); a server in another
    loop, or under a test no loop runs at all, never answers: the client would hang.
    """
    import pytest_asyncio

    item = request.node
    if not pytest_asyncio.is_async_test(item):
        pytest.fail(
            "mockserver_loop runs its server in pytest-asyncio's loop: the test must be "
            "an async test marked @pytest.mark.asyncio (other tests: mockserver_async)",
            pytrace=False,
        )
    marker = item.get_closest_marker("asyncio")
    scope = marker and (marker.kwargs.get("loop_scope") or marker.kwargs.get("scope"))
    if not scope:
        try:
            scope = request.config.getini("asyncio_default_test_loop_scope")
        except ValueError:  # an older pytest-asyncio: tests run in the function's loop
            scope = None
    if scope and scope != "function":
        pytest.fail(
            f"mockserver_loop's server runs in the test function's loop, but this test "
            f"runs in the {scope}-scoped loop: start one in a fixture of that loop scope "
            f"(async with serve_async(mode='loop')), or use mockserver_async",
            pytrace=False,
        )
