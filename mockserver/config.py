"""The server's configuration: one frozen dataclass, filled from the command line or by tests.

A value the server could not use is refused here, when the config is made, with a one-line
reason: ``--seed 99999999999999999999`` or ``--max-delay nan`` used to start a server that
then failed every request.  :class:`ConfigError` names the field, so the command line can
name its flag instead (``mockserver.cli``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from mockserver.faults import FaultRates
from mockserver.latency import ZERO, Latency, SpecError, unsamplable

SEED_RANGE = (-(2**63), 2**63 - 1)  # the seed keys a 64-bit hash (latency.unit)
MAX_DELAY_CAP_MS = 1e9  # about 11.6 days: the largest delay cap a loop timer is asked for


class ConfigError(SpecError):
    """A config field the server cannot use: ``field``, the ``value`` given, and why not."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r} {reason}")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How a mock server behaves.  Every field has a safe default for tests.

    ``latency`` and ``faults`` are the server-wide defaults; a request can override
    them with ``delay=``, ``latency=``, ``fault=`` and ``faults=`` in its query.

    Memory is bounded whatever clients send: ``timeline_cap`` requests per timeline name,
    ``max_names`` names (a request under a further new name is counted but not put in a
    timeline), and ``max_identities`` request identities whose repeat count is kept (see
    ``routes._identity``; past it the counts start again from zero, as after ``/__reset``).
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
    max_names: int = 10_000  # timeline names kept; requests under further names are counted only
    max_identities: int = 1_000_000  # repeat counts kept (about 100 bytes each), then restarted
    max_bytes: int = 64 * 1024 * 1024  # largest /bytes/N or /drip body
    request_log: int = 10_000  # requests kept for /__requests since the last reset; 0: none
    request_log_bytes: int = 64 * 1024 * 1024  # their heads and bodies, at most
    workers: int = 1
    # The synthetic site (mockserver.site): P pages on hosts 127.0.0.1 ... 127.0.0.H, seeded by
    # ``seed``; 0 pages: no site.  The last host's robots.txt has the Crawl-delay (0: none).
    site_pages: int = 0
    site_hosts: int = 3
    site_crawl_delay: float = 0.1
    # Replay (mockserver.replay): serve the answers recorded in these WARC files instead of
    # the endpoints; the ground truth starts at ``replay_root`` (default: the first page).
    replay: tuple[str, ...] = ()
    replay_root: tuple[str, ...] = ()
    # HTTPS (mockserver.tls): a CA made at start-up, a certificate for every name served
    # (the bound address, localhost, the site's and the recording's hosts, tls_names),
    # the CA's PEM written to tls_ca (None: a temporary file) and served at /__ca.pem.
    tls: bool = False
    tls_names: tuple[str, ...] = ()
    tls_ca: str | None = None

    def __post_init__(self) -> None:
        for name in ("replay", "replay_root", "tls_names"):  # a list or one is a tuple
            value = getattr(self, name)
            if isinstance(value, (str, os.PathLike)):
                value = (value,)
            object.__setattr__(self, name, tuple(os.fspath(v) for v in value))
        if self.replay and self.site_pages:
            raise ConfigError("replay", list(self.replay), "cannot be combined with site_pages")
        if self.replay and self.workers > 1:
            raise ConfigError(
                "replay", list(self.replay), "needs workers=1: its counters live in one process"
            )
        if (self.tls_names or self.tls_ca) and not self.tls:
            raise ConfigError(
                "tls_names" if self.tls_names else "tls_ca",
                self.tls_names or self.tls_ca,
                "needs tls",
            )
        if self.replay_root and not self.replay:
            raise ConfigError("replay_root", list(self.replay_root), "needs replay")
        low, high = SEED_RANGE
        if not low <= self.seed <= high:
            raise ConfigError("seed", self.seed, "is not a 64-bit integer")
        if not 0.0 <= self.max_delay_ms <= MAX_DELAY_CAP_MS:  # also refuses NaN
            raise ConfigError(
                "max_delay_ms", self.max_delay_ms, f"must be between 0 and {MAX_DELAY_CAP_MS:g} ms"
            )
        for name in ("header_timeout_s", "idle_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(name, value, "must be a finite number of seconds > 0")
        if not 0 <= self.port <= 65535:
            raise ConfigError("port", self.port, "is not a port number")
        for name in ("max_in_flight", "retry_after_s", "max_body_bytes", "timeline_cap"):
            if getattr(self, name) < 0:
                raise ConfigError(name, getattr(self, name), "must be >= 0")
        for name in ("max_header_bytes", "max_pipeline", "max_names", "max_identities", "workers"):
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "must be >= 1")
        for name in ("max_bytes", "request_log", "request_log_bytes"):
            if getattr(self, name) < 0:
                raise ConfigError(name, getattr(self, name), "must be >= 0")
        reason = unsamplable(self.latency)
        if reason is not None:
            raise ConfigError("latency", str(self.latency), reason)
