"""serial + requests: one request after another — the baseline for every other engine.

What it teaches: with nothing overlapping, a crawl takes the *sum* of its latencies.
1,000 requests of 100 ms take 100 s however fast the machine is, because the program
spends nearly all of it waiting for the network with the CPU idle.  Little's law with
one request in flight: throughput is 1 / latency.  Run it with ``-n 20`` or so.

It ignores ``config.concurrency`` on purpose: its peak in flight is always 1.  It
still uses one keep-alive ``requests.Session``, so the cost it shows is waiting, not
opening a TCP connection per URL (what ``requests.get`` without a session does).

What to look for: wall time ≈ N × delay; requests/s ≈ 1 / delay; CPU µs per request
is the lowest of the three requests engines (no thread switches, no contended locks,
no pipes) — the figure that ``threads`` and ``processes`` add their overhead to.  It
is not the lowest of all: requests spends ~350 µs of CPU per request here, aiohttp
about a third of that, so ``asyncio`` costs less per request even with 100 in flight.

How it is built: the blocking driver (:mod:`concur.engines.drive_threads`) with one
worker — the calling thread, no thread started — and the requests
:class:`~concur.engines.requests_fetcher.Fetcher` that ``threads`` and ``processes``
use too.  This module only names them: the model is all in the configuration.

Compare with: ``threads`` (the same blocking code and the same fetcher, run by C
threads at once) and ``asyncio`` (C requests in flight on this one thread).
"""

from __future__ import annotations

from concur.engines.requests_fetcher import Fetcher

__all__ = ["Fetcher"]
