"""The cyclic garbage collector during a run: collections paced to the run's size.

CPython frees most objects by reference counting; the *cyclic* collector is only for
objects that refer to each other in a loop.  It runs a generation-0 collection every
700 net allocations of container objects (``gc.get_threshold()[0]``), and each one walks
every young container; every tenth also walks the middle generation.  A run allocates
a few hundred containers a request (futures, coroutine frames, headers, records), so
at 2,000 requests in flight the collector runs several times a wave and walks objects
that are all alive: the run's records, connections and parked workers, never garbage.

:func:`paced`, around every engine's run (:meth:`concur.engines.Engine.run`), does two
things and undoes both when the run ends:

* ``gc.freeze()``: every object that existed before the run (modules, the config, a
  notebook's own data) moves to the permanent generation, which no collection walks;
  ``gc.unfreeze()`` gives them back to the oldest generation afterwards.
* a generation-0 collection every ``threshold`` (50,000) allocations instead of 700.
  Garbage is still collected, only less often; what a collection costs grows with what
  it walks, not with how often it is asked, so the total falls.

Measured on the scale experiment's shape (20,000 requests of 100 ms, 2,000 in flight,
the protocol engine, one process; ``docs/benchmarks.md``): client CPU per request 44-48 µs
with the default thresholds, 35-40 paced, and the wall time 1.32-1.36 s against
1.22-1.24 s: as much as turning the collector off.  Runs may nest or overlap (a run
inside a notebook's thread): only the outermost changes and restores the settings.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["THRESHOLD", "paced", "threshold_for"]

THRESHOLD = 50_000  # allocations between generation-0 collections during a run

_lock = threading.Lock()
_runs = 0  # runs under way in this process
_saved: tuple[int, int, int] = (700, 10, 10)


def threshold_for(concurrency: int) -> int:
    """Allocations between generation-0 collections for a run of ``concurrency``: 25 a
    request in flight (700, the default, up to 28 in flight; 50,000 from 2,000)."""
    return max(700, min(THRESHOLD, 25 * concurrency))


@contextmanager
def paced(threshold: int = THRESHOLD) -> Iterator[None]:
    """Freeze what exists and collect every ``threshold`` allocations, for the block.

    A threshold already higher (or 0: the collector turned off by the program) is kept.
    """
    global _runs, _saved
    with _lock:
        _runs += 1
        if _runs == 1:
            _saved = gc.get_threshold()
            gc.freeze()
            if 0 < _saved[0] < threshold:
                gc.set_threshold(threshold, *_saved[1:])
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                gc.set_threshold(*_saved)
                gc.unfreeze()
