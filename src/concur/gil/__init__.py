"""The GIL lab: experiments that show, measure and picture the GIL next to I/O concurrency.

Run them with ``concur gil`` (all eight) or ``concur gil convoy lag`` (some), add
``--quick`` for a fast pass.  Each experiment is a module in :mod:`concur.gil.experiments`
that measures and returns plain data; :mod:`concur.gil.plots` draws figures from that
data alone, and :mod:`concur.gil.results` saves it as JSON with the machine it ran on.

Reading order:

1. ``speedup``   — workloads x models: who gets faster with threads, processes, asyncio, gevent
2. ``convoy``    — a CPU-bound thread next to an I/O thread: round trips collapse
3. ``switch``    — ``sys.setswitchinterval``: I/O latency against CPU throughput
4. ``timeline``  — which thread held the GIL when, without root or perf
5. ``lag``       — an asyncio loop's lag while CPU work runs inline, in threads, in processes
6. ``mixed``     — the book's bcrypt + HTTP save workload, and hashing in threads
7. ``requests``  — crawl timelines with and without a CPU-bound neighbour
8. ``freethreaded`` — experiments 1-3 again on a free-threaded Python (``--python PATH``)

From Python (a notebook: ``docs/notebooks/03-gil-lab.ipynb``), :func:`run` runs some
and returns their documents, the same JSON ``concur gil`` saves.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from concur.gil.experiments import EXPERIMENTS, Experiment, get

__all__ = ["EXPERIMENTS", "Experiment", "get", "run"]


def run(
    names: Sequence[str] = (),
    *,
    quick: bool = False,
    out: Path | str | None = None,
    echo: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run the named experiments (all when none is named) as ``concur gil`` does.

    Returns one document per experiment (``experiment``, ``params``, ``result``,
    ``machine``, ``figures`` ...: :mod:`concur.gil.results`); with ``out``, each one's JSON
    and figures are written there too (the figures' file names are in ``figures``).
    ``echo`` gets the lines ``concur gil`` prints (``lambda line: None`` for none).

    The lab is set up, used and closed in one thread, in a fresh thread of its own when a
    loop is running here (a notebook): several experiments run their own event loops.
    The lab draws its files with matplotlib's Agg backend; the backend in use before
    (a notebook's inline one) is put back afterwards.
    """
    from concur.gil.lab import Lab, run_experiments
    from concur.loops import outside_loop

    where = None if out is None else Path(out)

    def lab_run() -> list[dict[str, Any]]:
        with Lab(quick=quick, out=where) as lab:
            return run_experiments(lab, names, echo)

    mpl = sys.modules.get("matplotlib")
    backend = mpl.get_backend() if mpl is not None else os.environ.get("MPLBACKEND")
    try:
        return outside_loop(lab_run)
    finally:
        mpl = sys.modules.get("matplotlib")
        if backend and mpl is not None and mpl.get_backend() != backend:
            mpl.use(backend)
