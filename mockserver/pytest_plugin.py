"""pytest plugin (registered through the ``pytest11`` entry point): the ``mockserver`` fixture.

``mockserver`` is one subprocess server for the whole test session, reset before each
test that uses it; ask for :func:`mockserver.testing.serve` directly for a server with
another configuration.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mockserver.testing import RunningServer, serve


@pytest.fixture(scope="session")
def mockserver_session() -> Iterator[RunningServer]:
    """One subprocess mock server for the whole test session."""
    with serve(mode="subprocess") as server:
        yield server


@pytest.fixture
def mockserver(mockserver_session: RunningServer) -> RunningServer:
    """The session's mock server, with its recordings reset for this test."""
    mockserver_session.reset()
    return mockserver_session
