"""What one server process shares between its connections: config, recorder, seeds seen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mockserver.config import ServerConfig
from mockserver.timeline import Recorder

if TYPE_CHECKING:
    from mockserver.server import HttpProtocol, Timers
    from mockserver.site import Site

SEEN_CAP = 4_000_000  # identities remembered for repeat counts; cleared past this


class ServerState:
    """Shared by every connection of one server process (one event loop, no locks)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.recorder = Recorder(config.timeline_cap)
        self.seen: dict[str, int] = {}
        self.connections: set[HttpProtocol] = set()
        # Replay cache (see server.py): the exact bytes of a whole request -> its answer.
        # Per server, because an answer depends on the config (seed, latency, faults).
        self.replay: dict[bytes, tuple[bytes, int, str, float]] = {}
        self.timers: Timers | None = None  # made by the first connection, in the loop
        self.site: Site | None = None  # the synthetic site, when config.site_pages > 0

    def reset(self) -> None:
        """Forget every recording and repeat count (``/__reset``)."""
        self.recorder.reset()
        self.recorder.open_connections = len(self.connections)
        self.seen.clear()
        if self.site is not None:
            self.site.reset_stats()
