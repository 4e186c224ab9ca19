"""What a run cost: wall time, CPU and peak memory, packaged with its records.

Every driver measures the same way (and so does the benchmark's Scrapy reference), so
figures compare across models: the clock (``time.perf_counter``) starts when the engine
is ready to fetch — after imports and, for engines that work in child processes, after
those have started — and record times are seconds since then.  CPU is user + system
time of this process and of the children it has waited for (``RUSAGE_CHILDREN``), so
worker processes count once they are joined.
"""

from __future__ import annotations

import operator
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any

from concur.records import CrawlConfig, CrawlResult, FetchRecord

__all__ = ["Meter", "cpu_seconds", "own_peak_rss_kib", "peak_rss_mb"]


def cpu_seconds() -> float:
    """User + system CPU of this process and of its waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def own_peak_rss_kib() -> float:
    """This process's peak RSS in KiB.

    On Linux, ``ru_maxrss`` survives ``exec``: a process started from a large parent
    reports the parent's peak.  ``VmHWM`` belongs to the current address space only.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    scale = 1 / 1024 if sys.platform == "darwin" else 1.0  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def peak_rss_mb() -> float:
    """Peak resident set size of this process or its largest waited-for child, in MiB."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    kids_kib = kids / 1024 if sys.platform == "darwin" else float(kids)
    return max(own_peak_rss_kib(), kids_kib) / 1024


_by_index = operator.attrgetter("index")


class Meter:
    """Measures a run: ``t0`` for record times, then :meth:`result` to package it."""

    def __init__(self) -> None:
        self.cpu0 = cpu_seconds()
        self.t0 = time.perf_counter()

    def result(
        self,
        engine: str,
        config: CrawlConfig,
        records: Sequence[FetchRecord],
        peak_in_flight: int,
        extra_cpu_s: float = 0.0,
        extra: dict[str, Any] | None = None,
    ) -> CrawlResult:
        wall = time.perf_counter() - self.t0
        cpu = cpu_seconds() - self.cpu0 + extra_cpu_s
        ordered = tuple(sorted(records, key=_by_index))
        return CrawlResult(
            engine, config, ordered, wall, cpu, peak_rss_mb(), peak_in_flight, extra or {}
        )
