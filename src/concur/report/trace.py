"""Traces: a run drawn as Chrome/Perfetto trace-event JSON, from its records and saved data.

``concur crawl --trace FILE`` and ``concur gil --trace FILE`` write what this module
builds, a JSON object ``{"traceEvents": [...], "displayTimeUnit": "ms"}`` in the Trace
Event Format that ui.perfetto.dev and chrome://tracing open (docs/trace.md says how to
read it).  Three kinds of event are used: complete events (``"ph": "X"``, a slice with
``ts`` and ``dur`` in microseconds) for requests and waits, instant events (``"i"``)
for URLs that were never fetched, counters (``"C"``) for the requests in flight, and
metadata events (``"M"``) that name every process and track and sort them.

Which track a request goes on.  Records say when each URL started and ended, not which
worker, connection or coroutine carried it (the engines differ there, and the contract
does not ask).  So requests are packed into *lanes*: in start order, each takes the
lowest-numbered lane that is free, a new one only when all are busy.  That greedy
packing needs exactly as many lanes as the most requests ever in flight at once, so the
lanes show the concurrency the run reached, whatever the model: a thread, a process or
a connection per lane.  Lanes are not workers: one worker's requests may sit on
different lanes.

What a trace holds for a crawl (:func:`crawl_trace`):

* the client, one lane per request in flight: a slice per fetched URL, named by its
  outcome (``200``, ``timeout``, ``http 503``), its record in ``args`` (URL, status,
  bytes, attempts, error and detail).  A URL tried more than once goes on the
  *retried* lanes: its record keeps the first attempt's start and the last one's end,
  not the times in between, so its slice spans the attempts *and* the backoff waits
  between them (during which its slot carried other URLs).  URLs never fetched
  (robots.txt, an invalid URL) are instant events on a *not fetched* track;
* a crawl's hosts (``hosts=True``), the same slices again by origin, and where the
  origin has a crawl delay, the politeness wait after each answer (the scheduler lets
  the next request to it start no sooner, :mod:`concur.crawl.scheduler`);
* the mock server (when given its timeline): when each request *reached* it and when
  it answered, every attempt apart, on lanes of their own, and its in-flight counter.

Clocks.  Record times are ``time.perf_counter()`` seconds since the run's zero; the
server exports its ``perf_counter`` times as Unix epoch seconds (plus its own
``time.time() - perf_counter()``).  :class:`RunClock` finds the run's zero on the same
epoch axis: an ``on_record`` callback that notes ``perf_counter()`` as each record
arrives (a record's ``end`` is taken just before), the smallest difference being the
zero, to the microsecond; the client's own ``time.time() - perf_counter()`` then puts
it on the epoch axis.  Both processes read one system-wide monotonic clock
(``CLOCK_MONOTONIC`` on Linux, ``mach_absolute_time`` on macOS), so the alignment errs
only by how far the wall clock was slewed between the two samples: microseconds.

For the GIL lab (:func:`gil_trace`), the ``timeline`` experiment's lanes become per-thread
tracks (when each thread ran, holding the GIL) and the ``requests`` experiment's request
spans become lanes; the other experiments record no timeline and add nothing.

Everything here reads records and saved JSON, never an engine.
"""

from __future__ import annotations

import heapq
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from concur.errors import ConcurError
from concur.records import FetchRecord

__all__ = [
    "TRACED_EXPERIMENTS",
    "RunClock",
    "ServerRequest",
    "crawl_trace",
    "gil_trace",
    "lanes",
    "server_requests",
    "write",
]

TRACED_EXPERIMENTS = ("timeline", "requests")
"""The GIL lab's experiments that record a timeline (:func:`gil_trace` draws them)."""

_PANEL_TRACKS = {"processes": "process"}  # the timeline's lanes: threads, except here


@dataclass(frozen=True, slots=True)
class ServerRequest:
    """One request as the mock server recorded it, on the run's clock (seconds)."""

    name: str  # the timeline it was recorded under (the experiment's engine, a site host)
    start: float  # when it reached the server
    end: float  # when the server answered (or gave up on it)
    status: int  # 0: answered with nothing (hung, reset, cut off)


def server_requests(timelines: Iterable[Mapping[str, Any]], zero: float) -> list[ServerRequest]:
    """The requests of the server's ``/__timeline?name=NAME`` documents, on the run's clock.

    Their times are Unix epoch seconds; ``zero`` is the run's zero on that axis
    (:attr:`RunClock.zero`).
    """
    return [
        ServerRequest(doc["name"], r["start"] - zero, r["end"] - zero, int(r["status"]))
        for doc in timelines
        for r in doc["requests"]
    ]


class RunClock:
    """An ``on_record`` callback that finds the run's zero on the Unix epoch axis.

    Wrap the callback a run is given (``inner``, called on); a live display's ``attach``
    is passed on.  Each call costs one ``perf_counter()``; from a driver's threads at once,
    a lost update only loses a slightly better estimate.
    """

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner
        self._t0 = math.inf  # the run's zero, perf_counter seconds: an upper bound
        self._epoch = time.time() - time.perf_counter()

    def __call__(self, record: FetchRecord) -> None:
        t0 = time.perf_counter() - record.end
        if t0 < self._t0:
            self._t0 = t0
        if self.inner is not None:
            self.inner(record)

    def attach(self, scheduler: Any) -> None:
        attach = getattr(self.inner, "attach", None)
        if attach is not None:
            attach(scheduler)

    @property
    def zero(self) -> float | None:
        """The run's zero in Unix epoch seconds (None: no record came)."""
        return None if self._t0 == math.inf else self._epoch + self._t0


def lanes(spans: Sequence[tuple[float, float]]) -> list[int]:
    """The lane (0, 1, ...) of each ``(start, end)`` span, packed into the fewest lanes.

    In start order each span takes the lowest-numbered lane free at its start (a span
    ending exactly then has freed it); the number of lanes is then the most spans that
    overlap at once (interval partitioning: a new lane opens only when all are busy).
    """
    order = sorted(range(len(spans)), key=lambda i: spans[i])
    out = [0] * len(spans)
    free: list[int] = []
    busy: list[tuple[float, int]] = []  # (end, lane)
    opened = 0
    for i in order:
        start, end = spans[i]
        while busy and busy[0][0] <= start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            lane = heapq.heappop(free)
        else:
            lane, opened = opened, opened + 1
        out[i] = lane
        heapq.heappush(busy, (end, lane))
    return out


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


class _Trace:
    """Events being built: processes and tracks numbered from 1, every one named."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._pids = 0
        self._tids = 0  # unique across processes: some viewers key tracks by tid alone

    def process(self, name: str) -> int:
        self._pids += 1
        pid = self._pids
        self.events.append(_meta("process_name", pid, 0, {"name": name}))
        self.events.append(_meta("process_sort_index", pid, 0, {"sort_index": pid}))
        return pid

    def track(self, pid: int, name: str) -> int:
        self._tids += 1
        tid = self._tids
        self.events.append(_meta("thread_name", pid, tid, {"name": name}))
        self.events.append(_meta("thread_sort_index", pid, tid, {"sort_index": tid}))
        return tid

    def lanes(self, pid: int, label: str, count: int) -> list[int]:
        """``count`` tracks named ``label 1`` ... ``label N``: their tids, in order."""
        return [self.track(pid, f"{label} {k}") for k in range(1, count + 1)]

    def slice(
        self,
        pid: int,
        tid: int,
        name: str,
        cat: str,
        start: float,
        end: float,
        args: dict[str, Any] | None = None,
    ) -> None:
        ts, stop = _us(start), _us(max(start, end))
        event = {"ph": "X", "name": name, "cat": cat, "ts": ts, "dur": round(stop - ts, 3)}
        event.update(pid=pid, tid=tid, args=args or {})
        self.events.append(event)

    def instant(
        self, pid: int, tid: int, name: str, cat: str, at: float, args: dict[str, Any]
    ) -> None:
        event = {"ph": "i", "s": "t", "name": name, "cat": cat, "ts": _us(at)}
        event.update(pid=pid, tid=tid, args=args)
        self.events.append(event)

    def in_flight(self, pid: int, spans: Iterable[tuple[float, float]]) -> None:
        """A counter of the spans in flight, a step at every start and end.

        A span of no length (the server answers a request without delay within one tick
        of its clock) was never in flight: it is left out, or its end, sorted before its
        own start, would take the counter below zero.
        """
        timed = [(s, e) for s, e in spans if e > s]
        steps = sorted([(s, 1) for s, _ in timed] + [(e, -1) for _, e in timed])
        now = 0
        for at, step in steps:  # an end sorts before a start at the same time
            now += step
            event = {"ph": "C", "name": "in flight", "ts": _us(at), "pid": pid}
            event["args"] = {"requests": now}
            self.events.append(event)

    def document(self, other: dict[str, Any]) -> dict[str, Any]:
        """The trace: metadata first, then events in time order, none before zero."""
        timed = [e for e in self.events if e["ph"] != "M"]
        first = min((e["ts"] for e in timed), default=0.0)
        if first < 0:  # a server arrival a hair before the client's zero: shift everything
            for e in timed:
                e["ts"] = round(e["ts"] - first, 3)
            other = {**other, "shifted_us": -first}
        meta = [e for e in self.events if e["ph"] == "M"]
        timed.sort(key=lambda e: e["ts"])
        return {"traceEvents": meta + timed, "displayTimeUnit": "ms", "otherData": other}


def _meta(name: str, pid: int, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"ph": "M", "name": name, "pid": pid, "tid": tid, "args": args}


def _outcome(r: FetchRecord) -> str:
    if r.error is None:
        what = str(r.status)
    elif r.status is not None:
        what = f"{r.error} {r.status}"
    else:
        what = str(r.error)
    return what if r.attempts <= 1 else f"{what} ({r.attempts} attempts)"


def _args(r: FetchRecord) -> dict[str, Any]:
    """The record, as the slice's details (its times are the slice's)."""
    return {
        k: v for k, v in r.to_dict().items() if k not in ("start", "end") and v not in ("", None)
    }


def _origin(url: str) -> str:
    from concur.crawl.urls import host_key

    return host_key(url)


def crawl_trace(
    records: Sequence[FetchRecord],
    *,
    engine: str,
    server: Sequence[ServerRequest] = (),
    hosts: bool = False,
    crawl_delays: Mapping[str, float] | None = None,
    crawl_delay: float = 0.0,
    other: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The trace of a run: its records on the client's lanes, and what else is given.

    ``server``: the mock server's requests on the run's clock (:func:`server_requests`),
    drawn as a process of their own.  ``hosts``: a crawl, drawn again by origin, with a
    politeness wait after each answer of an origin that has a delay: ``crawl_delay``
    for every origin, or more for those ``crawl_delays`` names (robots.txt's
    ``Crawl-delay``, where the caller knows it).  ``other``: kept as ``otherData``.
    """
    t = _Trace()
    fetched = [r for r in records if r.attempts > 0]
    once = [r for r in fetched if r.attempts == 1]
    again = [r for r in fetched if r.attempts > 1]
    client = t.process(f"client: {engine}")
    _draw_lanes(t, client, "lane", once)
    _draw_lanes(t, client, "retried", again)
    skipped = [r for r in records if r.attempts == 0]
    if skipped:
        tid = t.track(client, "not fetched")
        for r in skipped:
            t.instant(client, tid, f"not fetched: {r.error}", "skipped", r.start, _args(r))
    t.in_flight(client, [(r.start, r.end) for r in fetched])
    if hosts:
        _draw_hosts(t, fetched, crawl_delay, crawl_delays or {})
    if server:
        _draw_server(t, server)
    info: dict[str, Any] = {
        "generator": "concur",
        "engine": engine,
        "records": len(records),
        "clock": "microseconds since the run's zero (its records' time origin)",
        "lanes": "requests packed greedily into the fewest lanes: as many as were in flight",
    }
    if server:
        info["server_requests"] = len(server)
    return t.document({**info, **(other or {})})


def _draw_lanes(t: _Trace, pid: int, label: str, rs: Sequence[FetchRecord]) -> None:
    where = lanes([(r.start, r.end) for r in rs])
    tids = t.lanes(pid, label, max(where, default=-1) + 1)
    for r, lane in zip(rs, where, strict=True):
        cat = "retried" if r.attempts > 1 else "error" if r.error is not None else "request"
        t.slice(pid, tids[lane], _outcome(r), cat, r.start, r.end, _args(r))


def _draw_hosts(
    t: _Trace, fetched: Sequence[FetchRecord], delay: float, delays: Mapping[str, float]
) -> None:
    by_origin: dict[str, list[FetchRecord]] = {}
    for r in fetched:
        by_origin.setdefault(_origin(r.url), []).append(r)
    pid = t.process("hosts (politeness)")
    for origin in sorted(by_origin):
        rs = by_origin[origin]
        wait = max(delay, delays.get(origin, 0.0))
        where = lanes([(r.start, r.end) for r in rs])
        count = max(where) + 1
        names = [origin] if count == 1 else [f"{origin} {k}" for k in range(1, count + 1)]
        tids = [t.track(pid, name) for name in names]
        last: dict[int, FetchRecord] = {}
        for r, lane in sorted(zip(rs, where, strict=True), key=lambda x: (x[0].start, x[0].end)):
            cat = "error" if r.error is not None else "request"
            t.slice(pid, tids[lane], _outcome(r), cat, r.start, r.end, _args(r))
            before = last.get(lane)
            if wait > 0 and before is not None and r.start > before.end:
                until = min(r.start, before.end + wait)
                why = {"crawl_delay_s": wait, "gap_s": round(r.start - before.end, 6)}
                t.slice(pid, tids[lane], "crawl-delay wait", "wait", before.end, until, why)
            last[lane] = r


def _draw_server(t: _Trace, server: Sequence[ServerRequest]) -> None:
    pid = t.process("mock server (arrival to answer)")
    by_name: dict[str, list[ServerRequest]] = {}
    for s in server:
        by_name.setdefault(s.name, []).append(s)
    for name in sorted(by_name):
        got = by_name[name]
        where = lanes([(s.start, s.end) for s in got])
        tids = t.lanes(pid, name, max(where) + 1)
        for s, lane in zip(got, where, strict=True):
            what = str(s.status) if s.status else "no answer"
            args = {"timeline": s.name, "status": s.status}
            t.slice(pid, tids[lane], what, "server", s.start, s.end, args)
    t.in_flight(pid, [(s.start, s.end) for s in server])


def gil_trace(docs: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The trace of the GIL lab's saved results (``results.document``), or None when none
    of them recorded a timeline (only :data:`TRACED_EXPERIMENTS` do).

    ``timeline``: a process per panel (two threads at the default switch interval, at
    1 ms, two processes), a track per thread or process, a slice for each span in which
    it ran (a thread that runs Python holds the GIL; the gaps are when it did not).
    ``requests``: a process per engine, alone and beside a CPU-bound thread, its
    requests packed into lanes.  Each panel keeps its own time origin, so they line up
    at zero for comparison; they were not run at the same time.
    """
    t = _Trace()
    drawn = []
    for doc in docs:
        result = doc.get("result", {})
        if result.get("skipped"):
            continue
        if doc.get("experiment") == "timeline":
            _draw_gil_timeline(t, result)
        elif doc.get("experiment") == "requests":
            _draw_gil_requests(t, result)
        else:
            continue
        drawn.append(doc["experiment"])
    if not drawn:
        return None
    return t.document(
        {
            "generator": "concur gil",
            "experiments": drawn,
            "clock": "microseconds since each panel's own start",
        }
    )


def _draw_gil_timeline(t: _Trace, result: Mapping[str, Any]) -> None:
    for key, panel in result.get("panels", {}).items():
        pid = t.process(f"GIL timeline: {panel['label']}")
        kind = _PANEL_TRACKS.get(key, "thread")
        name = "runs" if kind == "process" else "runs (holds the GIL)"
        for k, lane in enumerate(panel["lanes"], start=1):
            tid = t.track(pid, f"{kind} {k}")
            for start_ms, end_ms in lane:
                t.slice(pid, tid, name, "gil", start_ms / 1e3, end_ms / 1e3, {"panel": key})


def _draw_gil_requests(t: _Trace, result: Mapping[str, Any]) -> None:
    conditions = {"alone": "alone", "neighbour": "beside a CPU-bound thread"}
    for engine, cells in result.get("engines", {}).items():
        for key, label in conditions.items():
            spans = [(float(s), float(e)) for s, e in cells[key]["spans"]]
            pid = t.process(f"requests: {engine}, {label}")
            where = lanes(spans)
            tids = t.lanes(pid, "lane", max(where, default=-1) + 1)
            for (start, end), lane in zip(spans, where, strict=True):
                t.slice(pid, tids[lane], "request", "request", start, end, {"engine": engine})
            t.in_flight(pid, spans)


def write(path: str, trace: Mapping[str, Any]) -> None:
    """Write ``trace`` as compact JSON (:class:`~concur.errors.ConcurError` if it cannot)."""
    try:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(trace, out, separators=(",", ":"), allow_nan=False)
            out.write("\n")
    except OSError as exc:
        raise ConcurError(f"cannot write {path}: {exc.strerror or exc}") from exc
