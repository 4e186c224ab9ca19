"""concur's fixture HTTP server: seeded latency and faults, a request timeline, and speed.

Start it with ``python -m mockserver --port 0``, ``concur serve``, from Python with
:func:`mockserver.testing.serve`, or in pytest with the ``mockserver`` fixture.
"""

from mockserver.config import ServerConfig
from mockserver.latency import Latency, SpecError
from mockserver.server import MockServer
from mockserver.testing import RunningServer, serve

__all__ = ["Latency", "MockServer", "RunningServer", "ServerConfig", "SpecError", "serve"]
