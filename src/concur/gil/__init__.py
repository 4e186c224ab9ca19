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
"""

from __future__ import annotations

from concur.gil.experiments import EXPERIMENTS, Experiment, get

__all__ = ["EXPERIMENTS", "Experiment", "get"]
