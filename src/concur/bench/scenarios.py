"""The benchmark scenarios, declared as data.

A :class:`Scenario` says what the mock server does (a fixed delay or a latency
distribution, fault rates) and how the client is configured (requests, concurrency,
timeout, retries).  A *sweep* is a family of scenarios over concurrency and delay.
Each has a full and a ``--quick`` form: the quick one keeps the shape of the
experiment but finishes in seconds, for CI.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    n: int
    concurrency: int
    delay_ms: float | None = 100.0  # fixed server delay; None when ``latency`` is set
    latency: str | None = None  # a mockserver latency spec, e.g. "lognormal:50,1000"
    faults: str | None = None  # a mockserver ``faults=`` spec, e.g. "5xx:0.03,429:0.01"
    timeout: float = 30.0
    retries: int = 0
    serial_n: int = 0  # serial runs this many requests and is scaled to n (0: all of n)
    why: str = ""  # what the scenario shows, for the report
    tls: bool = False  # over HTTPS: the server makes a CA, the engines trust it (--ca-file)
    new_connections: bool = False  # the server closes after each answer (close=1)

    @property
    def ideal_s(self) -> float | None:
        """Little's law: ceil(n / concurrency) waves of one delay each (fixed delays only)."""
        if not self.delay_ms or self.faults:
            return None
        waves = -(-self.n // self.concurrency)
        return waves * self.delay_ms / 1000.0

    def extra_query(self) -> str:
        parts = [f"faults={self.faults}"] if self.faults else []
        if self.new_connections:
            parts.append("close=1")
        return "&".join(parts)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "title": self.title,
            "n": self.n,
            "concurrency": self.concurrency,
            "delay_ms": self.delay_ms,
            "latency": self.latency,
            "faults": self.faults,
            "timeout": self.timeout,
            "retries": self.retries,
            "serial_n": self.serial_n,
            "ideal_s": self.ideal_s,
            "tls": self.tls,
            "new_connections": self.new_connections,
        }


@dataclass(frozen=True, slots=True)
class Sweep:
    """Concurrency levels × delays; each point fetches ``waves × concurrency`` URLs."""

    name: str
    title: str
    concurrencies: tuple[int, ...]
    delays_ms: tuple[float, ...]
    waves: int = 3
    min_n: int = 20
    why: str = ""
    skip: tuple[str, ...] = field(default=("serial",))

    def points(self) -> list[Scenario]:
        out = []
        for delay in self.delays_ms:
            for c in self.concurrencies:
                n = max(self.min_n, c * self.waves)
                out.append(
                    Scenario(f"{self.name}-{delay:g}ms-c{c}", self.title, n, c, delay, timeout=60.0)
                )
        return out


_FULL: dict[str, Scenario | Sweep] = {
    "book": Scenario(
        "book",
        "The book's experiment: 1,000 × 100 ms, 100 in flight",
        1000,
        100,
        100.0,
        serial_n=50,
        why="Every concurrent model should come close to the time Little's law allows.",
    ),
    "scale": Scenario(
        "scale",
        "Scale: 20,000 × 100 ms, 2,000 in flight",
        20_000,
        2000,
        100.0,
        timeout=60.0,
        serial_n=20,
        why="Ten times the book's concurrency: now the CPU cost of each request decides.",
    ),
    "cpu": Scenario(
        "cpu",
        "CPU cost: 20,000 requests at zero delay, 100 in flight",
        20_000,
        100,
        0.0,
        serial_n=2000,
        why="No waiting at all: wall time is client CPU, which is where the libraries differ.",
    ),
    "tail": Scenario(
        "tail",
        "A slow tail: lognormal latency (median 50 ms, p99 1 s), 2,000 × 100 in flight",
        2000,
        100,
        None,
        latency="lognormal:50,1000",
        serial_n=40,
        why="Slow requests hold a slot each; the tail decides the wall time, not the median.",
    ),
    "faults": Scenario(
        "faults",
        "Faults: 5 % errors (5xx, 429 + Retry-After, resets), 2 retries, 1,000 × 20 ms",
        1000,
        100,
        20.0,
        faults="5xx:0.03,429:0.01,reset:0.01",
        retries=2,
        serial_n=100,
        why="Error handling must be correct (every URL accounted for) and cheap.",
    ),
    "tls": Scenario(
        "tls",
        "HTTPS, keep-alive: the book's experiment over TLS, 1,000 × 100 ms, 100 in flight",
        1000,
        100,
        100.0,
        serial_n=50,
        tls=True,
        why="One handshake per connection, then encrypted requests: TLS costs little here.",
    ),
    "tls-new": Scenario(
        "tls-new",
        "HTTPS, a new connection per request: 1,000 × 100 ms, 100 in flight",
        1000,
        100,
        100.0,
        serial_n=50,
        tls=True,
        new_connections=True,
        why="A TCP and a TLS handshake per request, as when a crawler meets many hosts: "
        "handshakes are where the CPU goes.",
    ),
    "sweep": Sweep(
        "sweep",
        "Finding the right number of concurrent requests",
        (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
        (50.0, 100.0, 500.0),
        why="Throughput grows with concurrency until CPU per request takes over: the knee.",
    ),
}

_QUICK: dict[str, Scenario | Sweep] = {
    "book": Scenario(
        "book",
        "The book's experiment (quick: 200 × 50 ms, 50 in flight)",
        200,
        50,
        50.0,
        serial_n=10,
    ),
    "scale": Scenario(
        "scale", "Scale (quick: 1,000 × 50 ms, 250 in flight)", 1000, 250, 50.0, serial_n=10
    ),
    "cpu": Scenario(
        "cpu", "CPU cost (quick: 500 requests at zero delay)", 500, 50, 0.0, serial_n=100
    ),
    "tail": Scenario(
        "tail",
        "A slow tail (quick: lognormal 20 ms / 200 ms p99, 200 × 50)",
        200,
        50,
        None,
        latency="lognormal:20,200",
        serial_n=10,
    ),
    "faults": Scenario(
        "faults",
        "Faults (quick: 200 × 10 ms, 5 % errors, 2 retries)",
        200,
        50,
        10.0,
        faults="5xx:0.03,429:0.01,reset:0.01",
        retries=2,
        serial_n=20,
    ),
    "tls": Scenario(
        "tls",
        "HTTPS, keep-alive (quick: 200 × 50 ms, 50 in flight)",
        200,
        50,
        50.0,
        serial_n=10,
        tls=True,
    ),  # fmt: skip
    "tls-new": Scenario(
        "tls-new",
        "HTTPS, a new connection per request (quick: 200 × 50 ms, 50 in flight)",
        200,
        50,
        50.0,
        serial_n=10,
        tls=True,
        new_connections=True,
    ),  # fmt: skip
    "sweep": Sweep("sweep", "Concurrency sweep (quick)", (1, 10, 100), (50.0,), waves=2, min_n=4),
}

NAMES = tuple(_FULL)
_QUICK = {name: replace(s, why=_FULL[name].why) for name, s in _QUICK.items()}


def scenarios(quick: bool) -> dict[str, Scenario | Sweep]:
    """All scenarios by name, in their full or quick form."""
    return dict(_QUICK if quick else _FULL)
