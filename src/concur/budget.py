"""Where a fixed-delay run's time went, read off the server's own timeline.

When every request waits the same delay and C are in flight, requests reach the
server in *waves* of C: sort the arrival times and cut every C.  The run's wall time
then splits exactly into four measured parts, beside the ideal ceil(N/C) x delay that
Little's law allows:

* ``outside``: the client's time before its first request reached the server and
  after the last answer left it (start-up, the first connection, the last read);
* ``wave0``: from the first arrival to the C-th: opening C connections and sending C
  requests one after another on one CPU;
* ``later``: each later wave's last arrival after the previous wave's, less the
  delay, summed: a wave's answers queue for the client's CPU before their next
  requests go out, and the slowest chain collects that queueing at every step;
* ``last``: the final wave's last arrival to the last answer, less the delay (the
  server's own lateness).

wall = outside + wave0 + (waves - 1) x delay + later + delay + last, so
wall - ideal = outside + wave0 + later + last.  ``scripts/book_budget.py`` prints the
parts for every engine; ``concur crawl`` prints them after the book's experiment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concur.records import CrawlResult


@dataclass(frozen=True, slots=True)
class Budget:
    """The measured parts of a fixed-delay run's time beyond its ideal (seconds)."""

    waves: int
    outside: float
    wave0: float
    later: float
    last: float

    @property
    def lost(self) -> float:
        """All of it: wall time minus the ideal."""
        return self.outside + self.wave0 + self.later + self.last

    def to_dict(self, scale: float = 1.0) -> dict[str, Any]:
        """The parts (times ``scale``: 1e3 for milliseconds) and their sum as ``lost``."""
        parts = {k: v for k, v in asdict(self).items() if k != "waves"}
        parts["lost"] = self.lost
        digits = 3 if scale >= 1e3 else 6  # microseconds either way
        return {"waves": self.waves, **{k: round(v * scale, digits) for k, v in parts.items()}}


def describe(ms: dict[str, Any]) -> str:
    """Two lines for the terminal summary, from ``Budget.to_dict(scale=1e3)``."""
    later_waves = ms["waves"] - 1
    per_wave = ms["later"] / max(1, later_waves)
    return (
        f"{ms['lost']:.1f} ms over ideal: {ms['outside']:.1f} ms before the first arrival"
        f" or after the last answer,\n{'':12}{ms['wave0']:.1f} ms spreading wave 1,"
        f" {ms['later']:.1f} ms over {later_waves} later waves ({per_wave:.1f} each),"
        f" {ms['last']:.1f} ms on the last answer"
    )


def budget(
    arrivals: Sequence[float],
    last_end: float,
    wall_s: float,
    concurrency: int,
    delay_s: float,
) -> Budget | None:
    """Split ``wall_s`` of a run whose requests arrived at ``arrivals`` (server clock, s).

    ``last_end`` is when the server sent its last answer.  None for an empty run.
    """
    if not arrivals or concurrency < 1:
        return None
    times = sorted(arrivals)
    n = len(times)
    wave_last = [times[min(k + concurrency, n) - 1] for k in range(0, n, concurrency)]
    later = sum(b - a - delay_s for a, b in zip(wave_last, wave_last[1:], strict=False))
    return Budget(
        waves=len(wave_last),
        outside=wall_s - (last_end - times[0]),
        wave0=wave_last[0] - times[0],
        later=later,
        last=last_end - wave_last[-1] - delay_s,
    )


def run_budget(
    result: CrawlResult, timeline: dict[str, Any], concurrency: int, delay_s: float
) -> Budget | None:
    """:func:`budget` of a whole run, from the server's timeline of it (the document
    ``RunningServer.timeline(name)`` returns): None when the waves are not clean —
    a failed request, or a timeline that dropped or missed requests."""
    n = len(result.records)
    if result.ok != n or timeline["dropped"] or timeline["count"] != n:
        return None
    requests = timeline["requests"]
    arrivals = [r["start"] for r in requests]
    last_end = max(r["end"] for r in requests)
    return budget(arrivals, last_end, result.wall_s, concurrency, delay_s)
