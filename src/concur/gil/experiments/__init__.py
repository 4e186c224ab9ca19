"""The eight experiments, in reading order; each module is imported only when it runs.

An experiment module has:

* ``EXPLAIN`` — the "what you should see, and why" paragraph;
* ``run(lab) -> dict`` — measure, and return plain data (``params`` plus results);
* ``summary(result) -> list[str]`` — the lines printed for a result;
* ``figures(result, out_dir) -> list[Path]`` — draw PNGs from the result alone;
* ``check(result) -> list[Check]`` — every expectation ``EXPLAIN`` states, tested against
  the result it is printed with: pure, from the result alone (its ``params`` and the
  ``machine`` it ran on included), with bounds generous enough that only a run that does
  not show the effect fails them.  The lab prints each with ✓ or ✗ and the figure
  measured, and saves them in the JSON.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True, slots=True)
class Check:
    """One expectation of an experiment's text, tested against one run.

    ``claim`` says what you should see, with the bound that tests it; ``measured`` what
    this run measured; ``holds`` whether the measurement is within the bound.
    """

    claim: str
    measured: str
    holds: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def near(value: float, *bounds: float, digits: int = 2) -> str:
    """``value`` to ``digits`` decimals, or to as many more as keep it on its side of each
    of a check's ``bounds``: 0.8977 against "under 0.9x" is shown 0.898, never 0.90,
    which would read as a ✓ that contradicts itself."""
    text = f"{value:.{digits}f}"
    for places in range(digits, digits + 7):
        text = f"{value:.{places}f}"
        shown = float(text)
        if all((shown < b) == (value < b) and (shown > b) == (value > b) for b in bounds):
            break
    return text


def usable_cpus(result: dict[str, Any]) -> int:
    """The CPUs the run could use, from the ``machine`` a result was measured on."""
    machine = result.get("machine") or {}
    return int(machine.get("usable_cpus") or machine.get("cpu_count") or 1)


def switch_interval(result: dict[str, Any]) -> float:
    """The run's default switch interval, seconds (5 ms unless the machine says otherwise)."""
    return float((result.get("machine") or {}).get("switch_interval_s") or 0.005)


@dataclass(frozen=True, slots=True)
class Experiment:
    number: int
    name: str
    title: str
    module: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


EXPERIMENTS: tuple[Experiment, ...] = tuple(
    Experiment(i, name, title, f"concur.gil.experiments.{name}")
    for i, (name, title) in enumerate(
        (
            ("speedup", "Speedup matrix: workloads x concurrency models"),
            ("convoy", "Convoy effect: an I/O thread next to CPU-bound threads"),
            ("switch", "Switch interval: I/O latency against CPU throughput"),
            ("timeline", "GIL timeline: which thread ran when"),
            ("lag", "Event-loop lag under CPU work"),
            ("mixed", "The book's mixed workload: bcrypt + HTTP save"),
            ("requests", "Requests under CPU load: crawl timelines"),
            ("freethreaded", "Free-threaded Python: experiments 1-3 side by side"),
        ),
        start=1,
    )
)


def get(name: str) -> Experiment:
    """The experiment called ``name`` (or numbered ``name``)."""
    for exp in EXPERIMENTS:
        if name in (exp.name, str(exp.number)):
            return exp
    raise KeyError(
        f"unknown experiment {name!r}; choose from {', '.join(e.name for e in EXPERIMENTS)}"
    )
