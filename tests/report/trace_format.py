"""A checker of the Trace Event Format as concur writes it (what ui.perfetto.dev opens).

Written from the format's documentation (Chrome's "Trace Event Format" document), not
from concur's code, so that a trace concur writes wrong fails here: the keys every
phase needs and their types, times in non-negative microseconds, every process and
track named by a metadata event, and complete events on one track that either follow
one another or nest, never overlap part-way (viewers draw such slices wrongly).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

_METADATA = {"process_name", "process_sort_index", "thread_name", "thread_sort_index"}
_EPSILON_US = 1e-6  # times are written to the nanosecond: their sums may differ by less


@dataclass
class Tracks:
    """What a checked trace holds, for the tests to look into."""

    processes: dict[int, str] = field(default_factory=dict)  # pid -> process name
    threads: dict[tuple[int, int], str] = field(default_factory=dict)  # (pid, tid) -> name
    slices: dict[tuple[int, int], list[dict[str, Any]]] = field(default_factory=dict)

    def pid(self, prefix: str) -> int:
        """The one process whose name starts with ``prefix``."""
        found = [p for p, name in self.processes.items() if name.startswith(prefix)]
        assert len(found) == 1, (prefix, self.processes)
        return found[0]

    def of(self, pid: int) -> list[dict[str, Any]]:
        """The complete events of process ``pid``, all tracks."""
        return [s for (p, _), got in self.slices.items() if p == pid for s in got]


def _int(value: Any) -> bool:
    return type(value) is int


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _time(event: dict[str, Any], key: str) -> None:
    assert _number(event.get(key)) and event[key] >= 0, f"{key} must be a number >= 0: {event}"


def check_trace(doc: Any) -> Tracks:
    """Assert ``doc`` is a valid trace in the JSON Object Format; return what it holds."""
    assert isinstance(doc, dict) and isinstance(doc.get("traceEvents"), list), "no traceEvents"
    assert doc.get("displayTimeUnit", "ms") in ("ms", "ns")
    if "otherData" in doc:
        assert isinstance(doc["otherData"], dict)
    out = Tracks()
    used_pids: set[int] = set()
    used_tracks: set[tuple[int, int]] = set()
    for e in doc["traceEvents"]:
        assert isinstance(e, dict), e
        ph = e.get("ph")
        assert isinstance(e.get("name"), str) and e["name"], f"an event needs a name: {e}"
        assert _int(e.get("pid")), f"pid must be an integer: {e}"
        if "args" in e:
            assert isinstance(e["args"], dict), e
        if ph == "M":
            assert e["name"] in _METADATA, f"unknown metadata event: {e}"
            args = e["args"]
            if e["name"].endswith("_name"):
                assert isinstance(args.get("name"), str) and args["name"], e
            else:
                assert _int(args.get("sort_index")), e
            if e["name"] == "process_name":
                assert e["pid"] not in out.processes, f"process named twice: {e}"
                out.processes[e["pid"]] = args["name"]
            elif e["name"].startswith("thread_"):
                assert _int(e.get("tid")), e
                if e["name"] == "thread_name":
                    key = (e["pid"], e["tid"])
                    assert key not in out.threads, f"track named twice: {e}"
                    out.threads[key] = args["name"]
            continue
        _time(e, "ts")
        used_pids.add(e["pid"])
        if ph == "C":
            values = e.get("args")
            assert isinstance(values, dict) and values, f"a counter needs values: {e}"
            assert all(_number(v) for v in values.values()), e
            continue
        assert ph in ("X", "i", "I"), f"a phase concur does not write: {e}"
        assert isinstance(e.get("cat", ""), str), e
        assert _int(e.get("tid")), f"tid must be an integer: {e}"
        used_tracks.add((e["pid"], e["tid"]))
        if ph == "X":
            _time(e, "dur")
            out.slices.setdefault((e["pid"], e["tid"]), []).append(e)
        else:
            assert e.get("s", "t") in ("g", "p", "t"), f"instant scope: {e}"
    assert used_pids <= set(out.processes), f"unnamed processes: {used_pids - set(out.processes)}"
    unnamed = used_tracks - set(out.threads)
    assert not unnamed, f"unnamed tracks: {sorted(unnamed)}"
    tids: dict[int, set[int]] = defaultdict(set)
    for pid, tid in out.threads:
        tids[tid].add(pid)
    assert all(len(p) == 1 for p in tids.values()), "a tid in two processes"
    for track, slices in out.slices.items():
        _nested_or_apart(track, slices)
    return out


def _nested_or_apart(track: tuple[int, int], slices: list[dict[str, Any]]) -> None:
    """Slices of one track: each starts after the last one ended, or ends inside it."""
    open_ends: list[float] = []
    for s in sorted(slices, key=lambda s: (s["ts"], -s["dur"])):
        start, end = s["ts"], s["ts"] + s["dur"]
        while open_ends and open_ends[-1] <= start + _EPSILON_US:
            open_ends.pop()
        if open_ends:
            assert end <= open_ends[-1] + _EPSILON_US, f"overlap on track {track}: {s}"
        open_ends.append(end)
