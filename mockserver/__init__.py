"""concur's fixture HTTP server: seeded latency and faults, a request timeline, and speed.

Start it with ``python -m mockserver --port 0``, ``concur serve``, from Python with
:func:`mockserver.testing.serve` (``async with`` :func:`mockserver.testing.serve_async`),
or in pytest with the ``mockserver`` fixture (:mod:`mockserver.pytest_plugin`).  A test
adds canned answers with ``server.expect(...)`` and reads what the server received with
``server.requests()``.
"""

from mockserver.config import ServerConfig
from mockserver.control import MockServerError, RecordedRequest
from mockserver.latency import Latency, SpecError
from mockserver.server import MockServer
from mockserver.testing import AsyncRunningServer, RunningServer, serve, serve_async

__all__ = [
    "AsyncRunningServer",
    "Latency",
    "MockServer",
    "MockServerError",
    "RecordedRequest",
    "RunningServer",
    "ServerConfig",
    "SpecError",
    "serve",
    "serve_async",
]
