"""Replay a recorded site: serve the answers of WARC files, with a ground truth.

``python -m mockserver --replay crawl.warc.gz [more.warc.gz ...]`` (``concur serve
--replay``, ``serve(replay=[...])`` in :mod:`mockserver.testing`) answers every request
with the answer recorded for its ``Host`` and target, on any recorded host, with the
server's seeded latency, faults, timeline and counters on top; ``GET /__replay`` gives
the pages a crawl of the recording should find, ``GET /__replay?stats=1`` what crawlers
fetched.  Record a crawl with ``concur crawl --follow URL --warc crawl.warc.gz``.

One module per job, in reading order:

* :mod:`~mockserver.replay.archive` — the WARC files read into answers, and how a
  request finds its answer (host name and target; the port breaks ties; the last
  record of a URL wins);
* :mod:`~mockserver.replay.truth` — the recorded pages reachable from the first one
  (``GET /__replay``);
* :mod:`~mockserver.replay.handler` — :class:`Replay`, the router that serves them, and
  its counters (``GET /__replay?stats=1``).

WARC files are read with warcio, an optional dependency (``pip install 'concur[warc]'``),
imported only when a recording is loaded.
"""

from mockserver.replay.archive import Archive, Recorded, ReplayError, load
from mockserver.replay.handler import Replay
from mockserver.replay.truth import ReplayTruth

__all__ = ["Archive", "Recorded", "Replay", "ReplayError", "ReplayTruth", "load"]
