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
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

import pytest

from mockserver.config import ServerConfig
from mockserver.testing import AsyncRunningServer, RunningServer, serve

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
