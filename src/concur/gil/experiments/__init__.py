"""The eight experiments, in reading order; each module is imported only when it runs.

An experiment module has:

* ``EXPLAIN`` — the "what you should see, and why" paragraph;
* ``run(lab) -> dict`` — measure, and return plain data (``params`` plus results);
* ``summary(result) -> list[str]`` — the lines printed for a result;
* ``figures(result, out_dir) -> list[Path]`` — draw PNGs from the result alone.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


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
