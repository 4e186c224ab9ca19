"""What one server process shares between its connections: config, recorder, seeds seen.

The routes read and write it; the server owns it.  It imports neither: the connections
and timers belong to :class:`mockserver.server.MockServer`, and whatever else
``/__reset`` must clear (the synthetic site's counters) is registered in ``on_reset``.
The run-time routes (:mod:`mockserver.canned`) and the request log
(:mod:`mockserver.requestlog`) are plain data kept here.
"""

from __future__ import annotations

from collections.abc import Callable

from mockserver.canned import Routes
from mockserver.config import ServerConfig
from mockserver.requestlog import RequestLog
from mockserver.timeline import Recorder


class ServerState:
    """Shared by every connection of one server process (one event loop, no locks)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.recorder = Recorder(config.timeline_cap, config.max_names)
        # hash of a request identity -> times seen (see routes._identity), max_identities keys
        self.seen: dict[int, int] = {}
        # Replay cache (see server.py): the exact bytes of a whole request -> its answer.
        # Per server, because an answer depends on the config (seed, latency, faults).
        self.replay: dict[bytes, tuple[bytes, int, str, float]] = {}
        self.routes = Routes()  # added at run time (/__routes)
        self.log = RequestLog(config.request_log, config.request_log_bytes)  # /__requests
        self.on_reset: list[Callable[[], None]] = []  # more to clear on /__reset
        self.errors_logged: set[tuple[str, str, int]] = set()  # bugs already told (server.py)
        self.ca_pem: bytes | None = None  # with tls: the CA's certificate, at /__ca.pem

    def reset(self) -> None:
        """Forget every recording, repeat count, run-time route and logged request."""
        still_open = self.recorder.open_connections  # connections outlive a reset
        self.recorder.reset()
        self.recorder.open_connections = still_open
        self.seen.clear()
        self.log.clear()
        if self.routes.count:
            self.routes.clear()
            self.replay.clear()  # the index at / lists the routes
        for clear in self.on_reset:
            clear()
