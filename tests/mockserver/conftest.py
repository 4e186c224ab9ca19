"""Fixtures of the mock server's own tests.

``server`` is one in-process (thread) server per test module, reset before each test:
quick to start and it sees every ``ServerConfig`` field.  Tests that need another
configuration start their own with :func:`mockserver.testing.serve`; tests where the
client must not share the GIL with the server use the plugin's ``mockserver`` fixture
(a subprocess).  ``both`` runs a test against a thread and a subprocess server, for
what goes through the control endpoints (routes, the request log).  Every test also
fails if the server logged an error (a callback that raised, a protocol that crashed):
the server must survive anything a client sends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from mockserver.testing import RunningServer, serve


@pytest.fixture(scope="module")
def server_module() -> Iterator[RunningServer]:
    with serve(mode="thread") as running:
        yield running


@pytest.fixture
def server(server_module: RunningServer) -> RunningServer:
    server_module.reset()
    return server_module


@pytest.fixture(scope="module", params=["thread", "subprocess"])
def both_module(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    with serve(mode=request.param) as running:
        yield running


@pytest.fixture
def both(both_module: RunningServer) -> RunningServer:
    """A thread server, then a subprocess one: the test runs against each, reset."""
    both_module.reset()
    return both_module


@pytest.fixture(autouse=True)
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    errors = [
        r for r in caplog.get_records("call") if r.levelno >= logging.ERROR and r.name == "asyncio"
    ]
    assert not errors, "the server logged: " + "; ".join(r.getMessage() for r in errors)
