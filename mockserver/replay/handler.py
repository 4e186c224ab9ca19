"""The recorded site over HTTP: :class:`Replay`, the server's router while replaying.

Every request is answered from the recording (:mod:`~mockserver.replay.archive` says how
one is found): the recorded answer, or ``404 not recorded``.  The built-in endpoints
(``/add``, ``/bytes/N``, the ``/`` index...) are off, so a crawler meets only the
recorded site; the control endpoints (``/__stats``, ``/__timeline``, ``/__reset``,
``/__routes``, ``/__requests``, ``/__health``) stay, and ``/metrics`` too unless the
recording has a page there.  Run-time routes (``POST /__routes``) are tried first, as
always.

On top of the recording, the server's own behaviour: its seeded latency (``--latency``)
delays every answer, its fault rates (``--faults``) replace some (a 5xx or 429 is the
server's own short answer; ``reset``, ``hang``, ``truncate`` and ``malformed`` act on
the recorded one, which then carries ``X-Fault``), except robots.txt, never faulted so
the robots policy never depends on a draw (as on the synthetic site).  The draws are
keyed by host and target, so the same seed gives the same delays and faults.  The
request's query is the recorded site's, never read as the server's parameters
(``delay=``, ``fault=``...).  Every answer is counted and recorded under the timeline
``replay:HOST`` (``HOST`` as the ``Host`` header gave it), never taken from the
server's cache of repeated requests, so the counters see every one.

``GET /__replay`` is the ground truth (:mod:`~mockserver.replay.truth`); with
``?stats=1``, what crawlers fetched, in the fields ``/__site?stats=1`` has.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from mockserver import routes
from mockserver.config import ServerConfig
from mockserver.replay.archive import Archive, Recorded, load, split_host
from mockserver.replay.truth import ReplayTruth, decoded
from mockserver.routes import JSON, Plan, RawPlan, Request
from mockserver.state import ServerState
from mockserver.timeline import Timeline

_MAX_HOSTS = 1000  # Host values counted one by one; later ones are counted as "other"
_MAX_UNKNOWN = 10_000  # distinct unrecorded URLs remembered (for the robots check)
_SAMPLE = 100
_CAPS = 100_000  # distinct URLs remembered as fetched twice


class _Host:
    """The counters of one ``Host`` value."""

    __slots__ = ("requests", "last", "min_gap", "last_page", "min_gap_page")

    def __init__(self) -> None:
        self.requests = 0
        self.last = 0.0
        self.min_gap = float("inf")
        self.last_page = 0.0
        self.min_gap_page = float("inf")


class Checks:
    """What crawlers fetched from the replay: the ``/__replay?stats=1`` counters.

    The same fields as the synthetic site's (:mod:`mockserver.site.checks`): per host,
    the requests, peak in flight, smallest gap between two arrivals (and leaving out
    the gaps around robots.txt fetches); the recorded URLs delivered more than once
    (``fetched_twice``: without an injected fault, so a retry is not a duplicate); the
    requests for what was never recorded (``unknown``); and the fetched URLs that the
    recorded robots.txt of their host disallows for ``*`` (``disallowed_fetched``,
    worked out when the stats are asked for, with :mod:`urllib.robotparser`).
    """

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.reset()

    def reset(self) -> None:
        self.fetches = bytearray(self.archive.responses)  # by record index, saturating
        self.hosts: dict[str, _Host] = {a: _Host() for a in self.archive.authorities}
        self.other = _Host()
        self.delivered = 0
        self.faulted = 0
        self.distinct = 0
        self.twice: set[int] = set()
        self.twice_overflow = 0
        self.unknown = 0
        self.unknown_urls: dict[str, int] = {}
        self.unknown_sample: list[str] = []

    def arrival(self, host: str, robots: bool) -> None:
        """A request came for ``host`` (``robots``: for its robots.txt)."""
        counters = self.hosts.get(host)
        if counters is None:
            if len(self.hosts) < _MAX_HOSTS:
                counters = self.hosts[host] = _Host()
            else:
                counters = self.other
        now = time.perf_counter()
        if counters.last and now - counters.last < counters.min_gap:
            counters.min_gap = now - counters.last
        counters.last = now
        if not robots:
            if counters.last_page and now - counters.last_page < counters.min_gap_page:
                counters.min_gap_page = now - counters.last_page
        counters.last_page = 0.0 if robots else now
        counters.requests += 1

    def answer(self, rec: Recorded | None, url: str, delivered: bool) -> None:
        """The answer to ``url`` (``rec``, None if never recorded) is decided."""
        if not delivered:
            self.faulted += 1
            return
        self.delivered += 1
        if rec is None:
            self.unknown += 1
            if len(self.unknown_sample) < _SAMPLE:
                self.unknown_sample.append(url)
            seen = self.unknown_urls
            if url in seen or len(seen) < _MAX_UNKNOWN:
                seen[url] = seen.get(url, 0) + 1
            return
        count = self.fetches[rec.index]
        if count == 0:
            self.distinct += 1
        elif count == 1:
            if len(self.twice) < _CAPS:
                self.twice.add(rec.index)
            else:
                self.twice_overflow += 1
        if count < 255:
            self.fetches[rec.index] = count + 1

    def stats(self, timelines: dict[str, Timeline]) -> dict[str, Any]:
        """The ``stats`` document."""

        def gap(value: float) -> float | None:
            return None if value == float("inf") else value

        counted = list(self.hosts.items())
        if self.other.requests:
            counted.append(("other", self.other))
        hosts = {}
        for name, c in counted:
            tl = timelines.get(f"replay:{name}")
            hosts[name] = {
                "requests": c.requests,
                "peak_in_flight": tl.peak_in_flight if tl is not None else 0,
                "min_gap_s": gap(c.min_gap),
                "min_gap_after_robots_s": gap(c.min_gap_page),
            }
        by_index = self.archive.by_index
        fetches = self.fetches
        twice = sorted((by_index[i].uri, fetches[i]) for i in self.twice)[:1000]
        fetched = [(by_index[i].uri, n) for i, n in enumerate(fetches) if n]
        disallowed = self._disallowed(fetched + list(self.unknown_urls.items()))
        return {
            "requests": sum(c.requests for _, c in counted),
            "delivered": self.delivered,
            "faulted": self.faulted,
            "distinct": self.distinct,
            "hosts": hosts,
            "fetched_twice": dict(twice),
            "fetched_twice_count": len(self.twice) + self.twice_overflow,
            "disallowed_fetched": dict(sorted(disallowed.items())[:1000]),
            "disallowed_fetched_count": sum(disallowed.values()),
            "unknown": self.unknown,
            "unknown_sample": list(self.unknown_sample),
        }

    def _disallowed(self, fetched: list[tuple[str, int]]) -> dict[str, int]:
        """The URLs among ``fetched`` that their host's recorded robots.txt forbids."""
        parsers: dict[str, RobotFileParser | None] = {}
        out: dict[str, int] = {}
        for url, count in fetched:
            parts = urlsplit(url)
            if parts.path == "/robots.txt":
                continue
            origin = parts.netloc.lower()
            if origin not in parsers:
                parsers[origin] = self._robots(origin)
            parser = parsers[origin]
            if parser is not None and not parser.can_fetch("*", url):
                out[url] = out.get(url, 0) + count
        return out

    def _robots(self, authority: str) -> RobotFileParser | None:
        """The recorded robots.txt of a host, parsed; None if none was recorded (2xx)."""
        name, port = split_host(authority)
        rec = self.archive.lookup(name, port, "/robots.txt")
        if rec is None or not 200 <= rec.status < 300:
            return None
        body = decoded(rec)
        if body is None:
            return None
        parser = RobotFileParser()
        parser.parse(body.decode("utf-8", "replace").splitlines())
        return parser


class Replay:
    """A recorded site, behind one router (see the module docstring).

    Made from the config's WARC files (``replay``), read at once: a file that cannot be
    read stops the server before it listens (:class:`~mockserver.replay.ReplayError`).
    """

    def __init__(self, config: ServerConfig) -> None:
        self.archive = load(config.replay)
        self.truth = ReplayTruth(self.archive, config.replay_root)
        self.checks = Checks(self.archive)
        first = self.truth.roots[0] if self.truth.roots else None
        self.default_host = split_host(urlsplit(first).netloc)[0] if first else ""

    @property
    def addresses(self) -> list[str]:
        """The recorded hosts that are loopback addresses: the server listens on each."""
        return self.archive.loopback

    @property
    def names(self) -> list[str]:
        """The timeline names of the recorded hosts (always kept, past ``max_names``)."""
        return [f"replay:{a}" for a in self.archive.authorities]

    def describe(self) -> str:
        a = self.archive
        return (
            f"replaying {len(a)} recorded URLs from {len(a.files)} file(s), "
            f"{len(a.authorities)} host(s)"
        )

    def reset_stats(self) -> None:
        """Clear the counters (``/__reset``)."""
        self.checks.reset()

    def plan(self, req: Request, state: ServerState) -> Plan:
        """The router while replaying (see the module docstring)."""
        target = req.target
        if target.startswith("/__"):
            path, _, query = target.partition("?")
            if path == "/__replay":
                return self._endpoint(query, state)
            return routes.plan(req, state)
        host = req.headers.get("host", "").strip().lower()
        if not target.startswith("/"):  # absolute form: GET http://host/path HTTP/1.1
            try:
                parts = urlsplit(target)
            except ValueError:
                parts = None
            if parts is not None and parts.scheme.lower() in ("http", "https") and parts.netloc:
                host = parts.netloc.rpartition("@")[2].lower()
                target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        name, port = split_host(host) if host else (self.default_host, None)
        rec = self.archive.lookup(name, port, target)
        if rec is None and target.partition("?")[0] == "/metrics":
            return routes.plan(req, state)  # the counters, unless the site has the page

        robots = target == "/robots.txt"
        checks = self.checks
        checks.arrival(host, robots)
        delay_s, fault, draws = routes.server_draws(
            req, state, f"//{name}{target}", rates=() if robots else None
        )
        p: Plan
        if rec is None:
            body = f"not recorded: http://{host}{target}\n".encode()
            p = Plan(status=404, body=body)
        elif fault is not None and (fault[0] == "5" or fault == "429"):
            p = Plan()  # the server's own error answer replaces the recorded one
        else:
            head, text = rec.head, rec.head_text
            if fault is not None:  # reset, hang, truncate, malformed: on the recorded answer
                head += f"X-Fault: {fault}\r\n".encode()
                text = head.decode("latin-1")
            # content_type: the head as text, the key of render's cache (see RawPlan)
            p = RawPlan(status=rec.status, body=rec.payload, content_type=text)
            p.head = head
        p.delay_s = delay_s
        p.name = f"replay:{host}"
        if fault is not None:
            routes.apply_fault(p, fault, draws)
        cfg = state.config
        refused = bool(cfg.max_in_flight) and state.recorder.in_flight >= cfg.max_in_flight
        checks.answer(rec, f"http://{host}{target}", delivered=fault is None and not refused)
        return p

    def _endpoint(self, query: str, state: ServerState) -> Plan:
        """``/__replay``: the ground truth, or with ``stats=1`` the checks."""
        q = routes.parse_query(query)
        try:
            if routes.flag(q, "stats"):
                stats = self.checks.stats(state.recorder.timelines)
                root = self.truth.roots[0] if self.truth.roots else None
                doc: dict[str, Any] = {"root": root, "stats": stats}
            else:
                max_depth = routes.int_param(q, "depth", -1, 0, 1 << 20)
                doc = self.truth.document(
                    summary=routes.flag(q, "summary"),
                    max_depth=None if max_depth < 0 else max_depth,
                )
        except routes.BadRequest as exc:
            return Plan(status=400, body=f"bad request: {exc}\n".encode(), internal=True)
        return Plan(body=json.dumps(doc).encode(), content_type=JSON, internal=True)
