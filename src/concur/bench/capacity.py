"""Which concurrency model should I pick?  Computed from a benchmark's results, not written.

The question is a rate (requests per second), a latency (how long each request waits
for its answer) and a number of cores.  The answer, engine by engine, is arithmetic on
what ``concur bench`` measured:

* **In flight** — Little's law: a request holds its slot for its latency, so keeping up
  with ``rate`` takes ``rate × latency`` requests in flight (5,000/s × 0.1 s = 500).
  ``serial`` has one, whatever the rate: it reaches at most 1 / (latency + CPU) per second.
* **CPU** — ``rate × CPU per request`` cores, with CPU per request from the ``cpu``
  scenario (zero delay, kept-alive connections: what the client alone costs for each
  request).  One event loop runs on one core, and so does Python in the threads of one
  process (the GIL); only the process pool spreads over every core.  The rate is within
  reach when the CPU it needs fits in what the model can use.
* **Memory** — peak RSS grows with the concurrency a run is given (connections, tasks or
  threads, buffers).  Two plain scenarios at different concurrency (``book`` at 100,
  ``scale`` at 2,000, both 100 ms) give a line, RSS = base + per-slot × concurrency,
  read here at the in-flight count needed.  The process pool's recorded RSS is its
  largest process's, which held concurrency / processes of the slots; the plan counts
  one base per core and every slot once (shared pages counted in each process: an upper
  bound).
* **Knee** — where throughput stops following the ideal: the first concurrency the
  sweep (and any plain scenario beyond it) measured below 80 % of the ideal while the
  client's CPU was busy (:func:`concur.bench.plots.knee`, the × of the sweep figure), at
  the swept delay nearest the latency.  A knee is a CPU ceiling, a rate, so at another
  latency it sits at ``knee × latency / delay`` in flight (Little's law again).

Everything here is arithmetic on a results dict (:func:`plan`); reading the file and
printing the table belong to ``concur plan`` (:mod:`concur.commands.plan`).  The
results shipped inside the package (:data:`SHIPPED`) are :func:`essentials` of the full
run in ``docs/bench/results.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from concur.bench.plots import knee as _knee
from concur.engines import ENGINES

__all__ = [
    "POOL",
    "SERIAL",
    "SHIPPED",
    "Choice",
    "Measured",
    "NotEnoughData",
    "Plan",
    "essentials",
    "measure",
    "plan",
]

SHIPPED = Path(__file__).with_name("data") / "results.json"
CPU_SCENARIO = "cpu"
SERIAL, POOL = "one at a time", "process pool"  # the two models that differ in the arithmetic
FILE_LIMIT = 1024  # the usual soft limit on open files (ulimit -n): one socket per request


class NotEnoughData(ValueError):
    """Results the plan cannot answer from (no CPU per request at all); one line."""


@dataclass(frozen=True, slots=True)
class Measured:
    """What a results document says about one engine, before any question is asked."""

    engine: str
    model: str  # "event loop", "green threads", "threads, one GIL", "process pool", "serial"
    cpu_us: float  # client CPU per request, µs (the cpu scenario's median)
    base_mib: float | None  # RSS with nothing in flight, MiB (one process)
    kib_per_slot: float | None  # RSS per request of concurrency, KiB (one process)
    memory_from: str  # which scenarios gave the memory line ("book (100), scale (2,000)")
    knee: int | None  # the first concurrency measured past the knee, at knee_delay_ms
    knee_delay_ms: float | None  # the swept delay nearest the latency asked about
    measured_to: int | None  # the largest concurrency measured at that delay


@dataclass(frozen=True, slots=True)
class Choice:
    """One engine's answer to one question: a row of ``concur plan``'s table."""

    engine: str
    model: str
    reaches: bool  # the rate fits in the CPU the model can use here
    cpu_us: float  # CPU per request, µs
    cores: float  # CPU needed: rate × CPU per request, in cores
    usable_cores: float  # what the model can use here: 1, or every core (processes)
    max_rate: float  # requests/s it can reach here (CPU, or serial's one in flight)
    in_flight: float  # requests it holds in flight at the rate (Little's law; serial: 1)
    memory_mib: float | None  # RSS at that in-flight count (None: not measured)
    knee: float | None  # in flight at this latency where the knee is (None: none measured)
    measured_to: float | None  # the largest in-flight count measured, at this latency
    past_knee: bool | None  # in_flight >= knee (None: beyond what was measured)
    processes: int | None  # processes of it that would do (None: one is enough, or n/a)
    verdict: str


@dataclass(frozen=True, slots=True)
class Plan:
    """The question, Little's law's answer to it, and one :class:`Choice` per engine."""

    latency_s: float
    rate: float  # requests per second
    cores: int
    in_flight: float  # rate × latency
    choices: tuple[Choice, ...]  # reaching first, cheapest CPU first
    measured: tuple[Measured, ...]  # in the results' engine order
    notes: tuple[str, ...]  # what is missing or rough in the results, and why it matters
    measured_on: str  # "2 CPUs, Python 3.11.7, 2026-12-02"
    bench_processes: int  # processes the pool ran when measured (one per CPU there)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _plain(block: Any) -> bool:
    """A scenario with a fixed delay over plain HTTP, no faults: comparable with the sweep."""
    block = _dict(block)
    p = _dict(block.get("params"))
    return (
        block.get("kind") == "scenario"
        and (p.get("delay_ms") or 0) > 0
        and not p.get("latency")
        and not p.get("faults")
        and not p.get("tls")
        and not p.get("new_connections")
        and bool(p.get("ideal_s"))
    )


def essentials(results: Any) -> Any:
    """What :func:`plan` reads of a results document, and nothing else.

    The ``cpu`` scenario, the plain fixed-delay ones (``book``, ``scale``) and the sweep,
    without request timelines, latency lists or reference tools: still a valid results
    document (``concur plot`` draws it), a thirtieth of the full run's size, and quick to
    check against the schema.  Anything that is not shaped like results is returned as
    it is, for the schema check to name.
    """
    if not isinstance(results, dict) or not isinstance(results.get("scenarios"), dict):
        return results
    kept: dict[str, Any] = {}
    for name, block in results["scenarios"].items():
        if not isinstance(block, dict):
            kept[name] = block
            continue
        if name != CPU_SCENARIO and block.get("kind") != "sweep" and not _plain(block):
            continue
        block = {k: v for k, v in block.items() if k != "references"}
        if isinstance(block.get("results"), dict):
            block["results"] = {
                engine: {k: ([] if k in ("timeline", "latencies_ms") else v) for k, v in r.items()}
                if isinstance(r, dict)
                else r
                for engine, r in block["results"].items()
            }
        kept[name] = block
    return {**results, "scenarios": kept}


def _model(engine: str) -> tuple[str, bool]:
    """The engine's concurrency model as the plan needs it: a label, and many cores or one."""
    spec = ENGINES.get(engine)
    if spec is None:
        return "one process", False  # an engine this version does not know: assume one core
    if not spec.concurrent:
        return SERIAL, False
    if spec.driver == "children":
        return POOL, True
    if spec.driver == "threads":
        return "threads, one GIL", False
    if spec.driver == "child":
        return "green threads", False  # gevent: one hub (an event loop) in one process
    return "event loop", False


def _median(block: Any, engine: str) -> dict[str, Any] | None:
    result = _dict(_dict(_dict(block).get("results")).get(engine))
    median = result.get("median")
    return median if isinstance(median, dict) else None


def _memory_line(results: dict[str, Any], engine: str) -> tuple[float | None, float | None, str]:
    """(base MiB, KiB per slot, "book (100), scale (2,000)") from the plain scenarios."""
    points: list[tuple[int, float, str]] = []
    for name, block in results["scenarios"].items():
        median = _median(block, engine) if _plain(block) else None
        if median is None or "peak_rss_mb" not in median:
            continue
        trials = block["results"][engine].get("trials") or [{}]
        # the concurrency the engine ran with (serial: 1 whatever the scenario says)
        concurrency = trials[0].get("concurrency") or block["params"]["concurrency"]
        points.append((int(concurrency), float(median["peak_rss_mb"]), name))
    if not points:
        return None, None, ""
    low, high = min(points), max(points)
    if high[0] == low[0]:
        return low[1], None, f"{low[2]} ({low[0]:,})"
    slope = max(0.0, (high[1] - low[1]) / (high[0] - low[0]))  # MiB per slot; noise below 0
    base = max(0.0, low[1] - slope * low[0])
    return base, slope * 1024, f"{low[2]} ({low[0]:,}), {high[2]} ({high[0]:,})"


def _knee_points(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The sweep's points, and each plain scenario at a (delay, concurrency) it lacks."""
    points: list[dict[str, Any]] = []
    for block in results["scenarios"].values():
        if _dict(block).get("kind") == "sweep":
            points += [p for p in block.get("points") or [] if isinstance(p, dict)]
    swept = {(p.get("delay_ms"), p.get("concurrency")) for p in points}
    for block in results["scenarios"].values():
        if not _plain(block):
            continue
        p = block["params"]
        if (p["delay_ms"], p["concurrency"]) in swept:
            continue
        medians = {e: m for e in _dict(block.get("results")) if (m := _median(block, e))}
        points.append(
            {
                "delay_ms": p["delay_ms"],
                "concurrency": p["concurrency"],
                "n": p["n"],
                "ideal_s": p["ideal_s"],
                "results": medians,
            }
        )
    return points


def _knee_at(
    points: list[dict[str, Any]], engine: str, latency_ms: float
) -> tuple[int | None, float | None, int | None]:
    """(knee, at delay, measured up to) for ``engine`` at the measured delay nearest
    ``latency_ms`` (nearest as a ratio: 1 s is nearer 500 ms than 100 ms)."""
    mine = [
        p
        for p in points
        if (p.get("delay_ms") or 0) > 0
        and "req_per_s" in _dict(_dict(p.get("results")).get(engine))
    ]
    if not mine:
        return None, None, None
    delay = min(
        {float(p["delay_ms"]) for p in mine}, key=lambda d: (abs(math.log(latency_ms / d)), -d)
    )
    top = max(int(p["concurrency"]) for p in mine if p["delay_ms"] == delay)
    return _knee(mine, engine, delay), delay, top


def measure(results: dict[str, Any], latency_s: float) -> tuple[list[Measured], list[str]]:
    """Each engine's CPU per request, memory line and knee (nearest ``latency_s``), and
    notes on what the results lack.  Raises :class:`NotEnoughData` without a cpu scenario.
    """
    scenarios = results["scenarios"]
    cpu = scenarios.get(CPU_SCENARIO)
    if not _dict(cpu).get("results"):
        raise NotEnoughData(
            "no cpu scenario, so no CPU per request to plan with "
            "(run: concur bench cpu book scale sweep --out DIR)"
        )
    notes: list[str] = []
    points = _knee_points(results)
    if not points:
        notes.append("no sweep and no plain scenario: knees unknown (concur bench sweep)")
    engines = list(results.get("engines") or []) + [
        e for e in cpu["results"] if e not in (results.get("engines") or [])
    ]
    measured: list[Measured] = []
    no_memory: list[str] = []
    for engine in engines:
        median = _median(cpu, engine)
        cpu_us = float((median or {}).get("cpu_us_per_request") or 0.0)
        if not (0 < cpu_us < math.inf):  # missing, zero, negative or NaN: not a measurement
            error = _dict(cpu["results"].get(engine)).get("error")
            why = f": {str(error).splitlines()[0]}" if error else ""
            notes.append(f"{engine}: no CPU per request in the cpu scenario{why}; left out")
            continue
        model, _ = _model(engine)
        base, per_slot, memory_from = _memory_line(results, engine)
        if base is None or (per_slot is None and model != SERIAL):
            no_memory.append(engine)
        if model == SERIAL:
            knee, delay, top = None, None, None  # one in flight: no concurrency to sweep
        else:
            knee, delay, top = _knee_at(points, engine, latency_s * 1e3)
        measured.append(
            Measured(engine, model, cpu_us, base, per_slot, memory_from, knee, delay, top)
        )
    if no_memory:
        notes.append(
            f"memory unknown for {', '.join(no_memory)}: it needs two plain scenarios "
            "at different concurrency (concur bench book scale)"
        )
    if results.get("quick"):
        notes.append("a --quick run: short trials at low concurrency, so the figures are rough")
    return measured, notes


BIG = 1e15  # past this a count is shown as 3.6e+303, not three hundred digits


def _fmt(x: float) -> str:
    if x >= BIG:
        return f"{x:.3g}"
    return f"{x:,.0f}" if x >= 10 else f"{x:.2g}"


def _cores(x: float) -> str:
    return f"{x:.1f}" if x < BIG else f"{x:.3g}"


def _choose(m: Measured, rate: float, latency_s: float, cores: int, bench_procs: int) -> Choice:
    many = m.model == POOL
    serial = m.model == SERIAL
    cpu_s = m.cpu_us / 1e6
    usable = float(cores) if many else 1.0
    needed = rate * cpu_s
    if serial:
        in_flight = 1.0
        max_rate = min(1 / (latency_s + cpu_s), usable / cpu_s)
    else:
        in_flight = rate * latency_s
        max_rate = usable / cpu_s
    reaches = rate <= max_rate

    memory = None
    if m.base_mib is not None:
        if m.kib_per_slot is not None:
            slots = m.kib_per_slot / 1024 * in_flight  # MiB
            # the pool: a base per process, and each process held 1/bench_procs of the slots
            memory = (cores * m.base_mib + slots * bench_procs) if many else m.base_mib + slots
        elif serial:
            memory = m.base_mib

    scale = None if m.knee_delay_ms is None else latency_s * 1e3 / m.knee_delay_ms
    knee = None if m.knee is None or scale is None else m.knee * scale
    measured_to = None if m.measured_to is None or scale is None else m.measured_to * scale
    if serial:
        past = None
    elif knee is not None:
        past = in_flight >= knee
    elif measured_to is not None and in_flight <= measured_to:
        past = False
    else:
        past = None

    processes = None
    busy = needed / usable
    share = f"{busy:.0%}" if busy >= 0.01 else "<1%"
    share += " of one core" if usable == 1 else f" of {cores} cores"
    if serial:
        verdict = "yes: one at a time keeps up" if reaches else f"no: {_fmt(max_rate)}/s at most"
    elif not reaches and many:
        verdict = f"no: needs {_cores(needed)} cores, {cores} here"
    elif not reaches:
        processes = max(2, math.ceil(needed))
        if knee is not None:  # and each process below its knee
            processes = max(processes, math.floor(in_flight / knee) + 1)
        more = f" on more than {cores} cores" if needed > cores else ""
        verdict = f"no: needs {_cores(needed)} cores, run {_fmt(processes)} processes{more}"
    elif past:
        verdict = f"past its knee at {share}"
        if not many and knee is not None:
            processes = math.floor(in_flight / knee) + 1
            verdict += f": split over {_fmt(processes)} processes"
    elif past is None:
        verdict = f"CPU fits ({share}); {_fmt(in_flight)} in flight unmeasured"
    else:
        verdict = f"yes: {share}, below its knee"
    return Choice(
        m.engine,
        m.model,
        reaches,
        m.cpu_us,
        needed,
        usable,
        max_rate,
        in_flight,
        memory,
        knee,
        measured_to,
        past,
        processes,
        verdict,
    )


def plan(results: dict[str, Any], latency_s: float, rate: float, cores: int | None = None) -> Plan:
    """Answer "which model for ``rate`` requests/s at ``latency_s`` on ``cores``?" from
    ``results`` (a concur-bench/1 document; ``cores``: the measuring machine's if None).

    Raises :class:`NotEnoughData` when the results hold no CPU per request at all;
    anything else missing becomes a note and unknown (None) figures.
    """
    if not (latency_s > 0 and rate > 0 and math.isfinite(rate * latency_s)):
        raise ValueError("latency and rate must be more than 0, and their product finite")
    machine = _dict(results.get("machine"))
    affinity = machine.get("affinity")
    here = len(affinity) if isinstance(affinity, list) and affinity else machine.get("cpu_count")
    bench_procs = int(here) if isinstance(here, int) and here > 0 else 1
    cores = bench_procs if cores is None else cores
    if cores < 1:
        raise ValueError("cores must be at least 1")
    measured, notes = measure(results, latency_s)
    choices = [_choose(m, rate, latency_s, cores, bench_procs) for m in measured]
    choices.sort(key=lambda c: (not c.reaches, c.cpu_us))
    in_flight = rate * latency_s
    if in_flight > FILE_LIMIT:
        notes.append(
            f"{_fmt(in_flight)} connections open at once: raise the open-file limit "
            f"(ulimit -n, often {FILE_LIMIT:,}) above that"
        )
    created = str(results.get("created") or "")[:10]
    measured_on = ", ".join(
        x
        for x in (
            f"{bench_procs} CPU{'s' if bench_procs > 1 else ''}",
            f"Python {machine['python']}" if machine.get("python") else "",
            created,
        )
        if x
    )
    return Plan(
        latency_s,
        rate,
        cores,
        in_flight,
        tuple(choices),
        tuple(measured),
        tuple(notes),
        measured_on,
        bench_procs,
    )
