"""Cheap per-request recording: timelines by name, in-flight and peak counters, stats.

The recorder sits on the hot path of every request, so it does as little as it can:
two float appends to typed arrays per request (16 bytes, no per-request objects),
integer counters, and a fixed-size ring of *delay errors* — how much later than asked
the server really answered.  Everything else (JSON, percentiles, Prometheus text) is
computed only when someone asks for it.

Times are ``time.perf_counter()`` seconds inside the server and are exported as Unix
epoch seconds, so a client can line its own records up with the server's.
"""

from __future__ import annotations

import os
import time
from array import array
from collections import Counter
from typing import Any


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(q / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[rank]


class Timeline:
    """The requests recorded under one name: start/end/status arrays and in-flight counts."""

    __slots__ = ("starts", "ends", "statuses", "in_flight", "peak_in_flight", "dropped", "cap")

    def __init__(self, cap: int) -> None:
        self.starts = array("d")
        self.ends = array("d")
        self.statuses = array("H")
        self.in_flight = 0
        self.peak_in_flight = 0
        self.dropped = 0
        self.cap = cap

    def begin(self) -> None:
        self.in_flight += 1
        if self.in_flight > self.peak_in_flight:
            self.peak_in_flight = self.in_flight

    def end(self, start: float, end: float, status: int) -> None:
        self.in_flight -= 1
        if len(self.starts) < self.cap:
            self.starts.append(start)
            self.ends.append(end)
            self.statuses.append(status)
        else:
            self.dropped += 1

    def to_json(self, name: str, epoch_offset: float) -> dict[str, Any]:
        requests = [
            {"start": s + epoch_offset, "end": e + epoch_offset, "dt": e - s, "status": st}
            for s, e, st in zip(self.starts, self.ends, self.statuses, strict=True)
        ]
        return {
            "name": name,
            "count": len(requests),
            "dropped": self.dropped,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "requests": requests,
        }


class Recorder:
    """All of a server's observations.  Single-threaded: only the event loop touches it.

    Bounded whatever clients send: a timeline keeps ``timeline_cap`` requests, and there
    are at most ``max_names`` timelines.  A request under a further new name is counted
    (``total``, ``by_status``, ``unrecorded``) but kept in no timeline, so 100,000
    distinct ``name=`` values cost no more than 10,000.  Names in ``reserved`` (the
    synthetic site's, one per host) are always kept.
    """

    DELAY_RING = 1 << 16

    def __init__(self, timeline_cap: int, max_names: int = 10_000) -> None:
        self.timeline_cap = timeline_cap
        self.max_names = max_names
        self.reserved: set[str] = set()
        self.epoch_offset = time.time() - time.perf_counter()
        self.started = time.perf_counter()
        self.reset()

    def reset(self) -> None:
        self.timelines: dict[str, Timeline] = {}
        self.unrecorded = Timeline(0)  # the requests whose name came past max_names
        self.total = 0
        # Requests already in flight stay counted, so the gauge never goes negative.
        self.in_flight: int = getattr(self, "in_flight", 0)
        self.peak_in_flight = self.in_flight
        self.by_status: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()
        self.rejected = 0  # over the in-flight limit
        self.bad_requests = 0  # unparseable or out-of-range input
        self.internal_errors = 0  # a route that raised: answered 500 (a bug in the server)
        self.connections = 0
        self.open_connections = 0
        self.peak_connections = 0
        self.delay_errors = array("d", bytes(8 * self.DELAY_RING))
        self.delay_count = 0
        self.reset_at = time.perf_counter()

    def timeline(self, name: str) -> Timeline:
        tl = self.timelines.get(name)
        if tl is None:
            if len(self.timelines) >= self.max_names and name not in self.reserved:
                return self.unrecorded  # counted, not kept: names are bounded too
            tl = self.timelines[name] = Timeline(self.timeline_cap)
        return tl

    def delay_error(self, late_s: float) -> None:
        self.delay_errors[self.delay_count & (self.DELAY_RING - 1)] = late_s
        self.delay_count += 1

    def delay_error_ms(self) -> dict[str, float]:
        n = min(self.delay_count, self.DELAY_RING)
        values = sorted(self.delay_errors[:n])
        return {
            "count": self.delay_count,
            "p50": percentile(values, 50) * 1e3,
            "p99": percentile(values, 99) * 1e3,
            "max": (values[-1] * 1e3) if values else 0.0,
        }

    def stats(self) -> dict[str, Any]:
        now = time.perf_counter()
        return {
            "pid": os.getpid(),  # which worker answered, with --workers
            "uptime_s": now - self.started,
            "since_reset_s": now - self.reset_at,
            "total": self.total,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "faults": dict(sorted(self.faults.items())),
            "rejected": self.rejected,
            "bad_requests": self.bad_requests,
            "internal_errors": self.internal_errors,
            "unrecorded": self.unrecorded.dropped,
            "connections": self.connections,
            "open_connections": self.open_connections,
            "peak_connections": self.peak_connections,
            "delay_error_ms": self.delay_error_ms(),
            "names": {name: len(tl.starts) + tl.dropped for name, tl in self.timelines.items()},
        }

    def prometheus(self) -> str:
        """The stats in Prometheus text exposition format (version 0.0.4)."""
        s = self.stats()
        lines = [
            "# HELP mockserver_requests_total Requests answered, by status code.",
            "# TYPE mockserver_requests_total counter",
        ]
        lines += [f'mockserver_requests_total{{code="{c}"}} {n}' for c, n in s["by_status"].items()]
        lines += [
            "# HELP mockserver_faults_total Faults injected, by kind.",
            "# TYPE mockserver_faults_total counter",
        ]
        lines += [f'mockserver_faults_total{{kind="{k}"}} {n}' for k, n in s["faults"].items()]
        gauges = {
            "in_flight": ("Requests being handled now.", s["in_flight"]),
            "peak_in_flight": ("Most requests in flight at once since reset.", s["peak_in_flight"]),
            "open_connections": ("Open client connections.", s["open_connections"]),
        }
        for name, (help_text, value) in gauges.items():
            lines += [
                f"# HELP mockserver_{name} {help_text}",
                f"# TYPE mockserver_{name} gauge",
                f"mockserver_{name} {value}",
            ]
        counters = {
            "rejected_total": ("Requests refused over the in-flight limit.", s["rejected"]),
            "bad_requests_total": ("Unparseable or out-of-range requests.", s["bad_requests"]),
            "internal_errors_total": ("Requests answered 500 by a bug.", s["internal_errors"]),
            "connections_total": ("Connections accepted.", s["connections"]),
        }
        for name, (help_text, value) in counters.items():
            lines += [
                f"# HELP mockserver_{name} {help_text}",
                f"# TYPE mockserver_{name} counter",
                f"mockserver_{name} {value}",
            ]
        de = s["delay_error_ms"]
        lines += [
            "# HELP mockserver_delay_error_seconds How much later than asked delayed answers left.",
            "# TYPE mockserver_delay_error_seconds summary",
            f'mockserver_delay_error_seconds{{quantile="0.5"}} {de["p50"] / 1e3:.6f}',
            f'mockserver_delay_error_seconds{{quantile="0.99"}} {de["p99"] / 1e3:.6f}',
            f"mockserver_delay_error_seconds_count {de['count']}",
        ]
        return "\n".join(lines) + "\n"
