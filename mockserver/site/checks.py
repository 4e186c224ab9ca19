"""What crawlers did to the site, seen from the server: ``GET /__site?stats=1``.

Every site request is recorded under the timeline name ``site:HOST`` (e.g.
``site:127.0.0.2:PORT``), so ``/__timeline?name=site:127.0.0.2:PORT`` has its start
and end.  ``stats`` also gives, per host, the requests, the peak in flight, and the
smallest gap between two request arrivals (``min_gap_s``; ``min_gap_after_robots_s``
leaves out the gaps around robots.txt fetches: before it, a crawler cannot know the
delay);
site-wide, the URLs delivered more than once (``fetched_twice``: answers without an
injected fault, so a retried 429 is not a duplicate), the requests for URLs robots.txt
forbids (``disallowed_fetched``), hits on the traps, and requests for site paths that
are not part of the site (``unknown``).  Counters are a ``bytearray`` indexed by URL
(saturating at 255), and ``/__reset`` clears them.
"""

from __future__ import annotations

import time
from typing import Any

from mockserver.site.graph import SiteGraph
from mockserver.timeline import Timeline

TRAPS = ("script", "comment", "text")  # the paths under /trap/ that count as hits
_CAPS = 100_000  # distinct URLs remembered as fetched twice
_SAMPLES = 100  # sample of unknown targets kept


class Checks:
    """The counters of one site, fed by its handler one request at a time."""

    def __init__(self, graph: SiteGraph) -> None:
        self.graph = graph
        self.reset()

    def reset(self) -> None:
        hosts = self.graph.hosts
        self.fetches = bytearray(self.graph.n_nodes)
        self.requests = [0] * hosts
        self.last_arrival = [0.0] * hosts
        self.min_gap = [float("inf")] * hosts
        self.last_after_robots = [0.0] * hosts
        self.min_gap_after_robots = [float("inf")] * hosts
        self.delivered = 0
        self.faulted = 0
        self.distinct = 0
        self.twice: set[int] = set()
        self.twice_overflow = 0
        self.disallowed_total = 0
        self.disallowed_hits: dict[str, int] = {}
        self.unknown = 0
        self.unknown_sample: list[str] = []
        self.trap_hits = dict.fromkeys(TRAPS, 0)

    def arrival(self, h: int, robots: bool) -> None:
        """A request reached host h (``robots``: for its robots.txt): count it, time the gap."""
        now = time.perf_counter()
        last = self.last_arrival[h]
        if last and now - last < self.min_gap[h]:
            self.min_gap[h] = now - last
        self.last_arrival[h] = now
        if not robots:
            last = self.last_after_robots[h]
            if last and now - last < self.min_gap_after_robots[h]:
                self.min_gap_after_robots[h] = now - last
        self.last_after_robots[h] = 0.0 if robots else now
        self.requests[h] += 1

    def trap(self, name: str) -> None:
        """A request for ``/trap/NAME``: a link only a careless parser finds."""
        if name in TRAPS:
            self.trap_hits[name] += 1

    def disallowed_fetch(self, url: str) -> None:
        """A request for a URL robots.txt forbids (the first 1000 URLs are named)."""
        self.disallowed_total += 1
        hits = self.disallowed_hits
        if url in hits or len(hits) < 1000:
            hits[url] = hits.get(url, 0) + 1

    def answer(self, node: int, url: str, delivered: bool) -> None:
        """The answer to ``url`` (``node``, -1 if not part of the site) is decided.

        ``delivered`` is False for an injected fault or a refusal over the in-flight
        limit: only delivered answers count as fetches, so a retry is not a duplicate.
        """
        if not delivered:
            self.faulted += 1
            return
        self.delivered += 1
        if node < 0:
            self.unknown += 1
            if len(self.unknown_sample) < _SAMPLES:
                self.unknown_sample.append(url)
            return
        count = self.fetches[node]
        if count == 0:
            self.distinct += 1
        elif count == 1:
            if len(self.twice) < _CAPS:
                self.twice.add(node)
            else:
                self.twice_overflow += 1
        if count < 255:
            self.fetches[node] = count + 1

    def stats(self, timelines: dict[str, Timeline], names: list[str]) -> dict[str, Any]:
        """The ``stats`` document; ``names[h]`` is host h's timeline name."""
        url = self.graph.url

        def gap(value: float) -> float | None:
            return None if value == float("inf") else value

        hosts = {}
        for h, a in enumerate(self.graph.authorities):
            tl = timelines.get(names[h])
            hosts[a] = {
                "requests": self.requests[h],
                "peak_in_flight": tl.peak_in_flight if tl is not None else 0,
                "min_gap_s": gap(self.min_gap[h]),
                "min_gap_after_robots_s": gap(self.min_gap_after_robots[h]),
            }
        twice = sorted(self.twice, key=url)[:1000]
        return {
            "requests": sum(self.requests),
            "delivered": self.delivered,
            "faulted": self.faulted,
            "distinct": self.distinct,
            "hosts": hosts,
            "fetched_twice": {url(n): self.fetches[n] for n in twice},
            "fetched_twice_count": len(self.twice) + self.twice_overflow,
            "disallowed_fetched": dict(sorted(self.disallowed_hits.items())),
            "disallowed_fetched_count": self.disallowed_total,
            "trap_hits": dict(self.trap_hits),
            "unknown": self.unknown,
            "unknown_sample": list(self.unknown_sample),
        }
