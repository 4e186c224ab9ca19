"""The server's configuration: one frozen dataclass, filled from the command line or by tests."""

from __future__ import annotations

from dataclasses import dataclass

from mockserver.faults import FaultRates
from mockserver.latency import ZERO, Latency


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How a mock server behaves.  Every field has a safe default for tests.

    ``latency`` and ``faults`` are the server-wide defaults; a request can override
    them with ``delay=``, ``latency=``, ``fault=`` and ``faults=`` in its query.
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 0
    latency: Latency = ZERO
    faults: FaultRates = ()
    max_delay_ms: float = 600_000.0
    max_in_flight: int = 0  # 0: no limit
    over_limit_status: int = 503  # 503, or 429 with Retry-After
    retry_after_s: int = 1
    max_header_bytes: int = 32 * 1024
    max_body_bytes: int = 1024 * 1024
    max_pipeline: int = 256  # queued pipelined requests per connection before reading pauses
    header_timeout_s: float = 30.0  # slowloris guard: a request's head must arrive within this
    idle_timeout_s: float = 120.0  # keep-alive connections idle longer than this are closed
    timeline_cap: int = 2_000_000  # requests kept per timeline name; later ones are counted only
    max_bytes: int = 64 * 1024 * 1024  # largest /bytes/N or /drip body
    workers: int = 1
    # The synthetic site (mockserver.site): P pages on hosts 127.0.0.1 ... 127.0.0.H, seeded by
    # ``seed``; 0 pages: no site.  The last host's robots.txt has the Crawl-delay (0: none).
    site_pages: int = 0
    site_hosts: int = 3
    site_crawl_delay: float = 0.1
