"""The endpoints: each request becomes a :class:`Plan` — what to answer, after how long.

Routes are plain functions with no I/O.  :func:`plan` parses the target, applies the
parameters every endpoint shares (``delay``, ``latency``, ``fault``, ``faults``,
``name``, ``chunked``, ``gzip``), and calls one small function per endpoint.  The
protocol in ``server.py`` then carries the plan out: it waits, records, and writes.
Routes a test registers at run time (:mod:`mockserver.canned`) are planned by
:func:`canned_plan`, before any of these.

``GET /`` lists the endpoints with their parameters (:data:`ENDPOINTS`).
"""

from __future__ import annotations

import gzip as gzip_module
import json
import os
import random
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_plus

from mockserver import canned
from mockserver import faults as faults_mod
from mockserver import latency as latency_mod
from mockserver.bodies import STREAM_OVER, Fill, Gzipped, SeededBytes, Source
from mockserver.latency import SpecError
from mockserver.state import ServerState
from mockserver.timeline import Timeline

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
OCTETS = "application/octet-stream"
BODYLESS = (204, 304)  # answers that never carry a body, whatever the query asks


@dataclass(slots=True)
class Request:
    """One parsed request, as the routes see it."""

    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(slots=True)
class Plan:
    """What the protocol should do for a request.

    ``action`` is None for an ordinary answer, or one of the fault kinds that need the
    connection itself (``reset``, ``hang``, ``truncate``, ``malformed``), ``drip``, or
    ``stream``: a large body made a piece at a time while the client reads (``source``,
    see :mod:`mockserver.bodies`; ``body`` is then empty).
    ``internal`` plans (stats, timeline) are neither delayed, counted nor recorded.
    """

    status: int = 200
    body: bytes = b""
    content_type: str = TEXT
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay_s: float = 0.0
    action: str | None = None
    fault: str | None = None
    name: str = ""
    chunked: bool = False
    close: bool = False
    internal: bool = False
    replayable: bool = False  # a pure function of the request's bytes (see server._replay_cache)
    drip: tuple[int, float, int] = (0, 0.0, 0)  # bytes, seconds, pieces
    source: Source | None = None  # the body, made on demand (large bodies, drip)
    route: int = 0  # the id of the run-time route that answered (mockserver.canned); 0: none


@dataclass(slots=True)
class RawPlan(Plan):
    """A plan whose status line and headers are given as bytes: a recorded answer.

    ``head`` is written as it is (:func:`mockserver.server.render_head`), then
    ``Connection: close`` if the plan closes, then the blank line; ``headers`` are not
    written (a fault's ``X-Fault`` must be put in ``head``).  ``content_type`` holds the
    whole head as text: it is part of the key under which ``render`` caches a small
    answer, so two recorded answers with the same body but different heads are never
    mixed up (:mod:`mockserver.replay`).
    """

    head: bytes = b""


class BadRequest(Exception):
    """A request the server refuses with 400 and a one-line reason."""


def parse_query(query: str) -> dict[str, str]:
    """A fast ``a=1&b=2`` parser; the last value of a repeated key wins."""
    out: dict[str, str] = {}
    if not query:
        return out
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if "%" in key or "+" in key:
            key = unquote_plus(key)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        out[key] = value
    return out


def float_param(q: dict[str, str], key: str, default: float, low: float, high: float) -> float:
    """The number ``q[key]`` (``default`` if absent); :class:`BadRequest` outside [low, high]."""
    text = q.get(key)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"{key}={text!r} is not a number") from None
    if not low <= value <= high:  # also rejects NaN
        raise BadRequest(f"{key}={text} is out of range [{low:g}, {high:g}]")
    return value


def int_param(q: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    """The integer ``q[key]`` (``default`` if absent); :class:`BadRequest` outside [low, high]."""
    text = q.get(key)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{key}={text!r} is not an integer") from None
    if not low <= value <= high:
        raise BadRequest(f"{key}={text} is out of range [{low}, {high}]")
    return value


def flag(q: dict[str, str], key: str) -> bool:
    """Whether ``q[key]`` is on: ``1``, ``true``, ``yes`` or ``on`` (absent is off)."""
    return q.get(key, "0").lower() in ("1", "true", "yes", "on")


@lru_cache(maxsize=64)
def _seeded_bytes(seed: int, n: int) -> bytes:
    return random.Random(f"{seed}:{n}").randbytes(n)


def seeded_bytes(seed: int, n: int) -> bytes:
    """N bytes that depend only on the seed and N (small bodies are cached)."""
    if n <= 1 << 20:
        return _seeded_bytes(seed, n)
    return random.Random(f"{seed}:{n}").randbytes(n)


class Draws:
    """Seeded uniform numbers for one request: one per purpose, from its identity."""

    __slots__ = ("seed", "identity")

    def __init__(self, seed: int, identity: bytes) -> None:
        self.seed = seed
        self.identity = identity

    def __call__(self, purpose: bytes) -> float:
        return latency_mod.unit(self.seed, purpose + b"|" + self.identity)


def _key(method: str, path: str, q: dict[str, str]) -> str:
    rest = "&".join(f"{k}={v}" for k, v in sorted(q.items()) if k != "name")
    return f"{method} {path}?{rest}"


def first_delay_ms(target: str, seed: int, default: latency_mod.Latency | None = None) -> float:
    """The delay the server gives the first GET of ``target`` (path and query), uncapped.

    The same rule as the server's, without a server: a client can compute the delays it
    will meet, and so the exact ideal of a run with drawn latencies.
    """
    path, _, query = target.partition("?")
    q = parse_query(query)
    if "delay" in q:
        return float(q["delay"])
    lat = _latency(q, default or latency_mod.parse("0"))
    if lat.is_fixed:
        return lat.a
    return lat.sample(Draws(seed, f"{_key('GET', path, q)}#0".encode())(_LATENCY))


_LATENCY = b"latency"  # the purpose of a request's latency draw


def _latency(q: dict[str, str], default: latency_mod.Latency) -> latency_mod.Latency:
    """The request's latency distribution: its ``latency=`` spec, else the server's."""
    spec = q.get("latency")
    return latency_mod.parse(spec) if spec is not None else default


def _identity(state: ServerState, req: Request, path: str, q: dict[str, str]) -> bytes:
    """The request's identity: method and target without ``name``, plus a repeat count.

    ``name`` only labels the timeline, so two engines that send the same URLs under
    different names draw the same delays and faults.  The repeat count makes a retry
    of the same URL a fresh draw (a retried 5xx may succeed); ``/__reset`` zeroes it.

    The counts are kept under the key's hash, not the key (an int, about half the
    memory; 64 bits, so a collision in a million keys has odds of about 1 in 40 million),
    for at most ``max_identities`` keys: past that they are all forgotten and start again
    from zero, so 100,000 distinct ``faults=`` values cannot grow the server for ever.
    """
    key = _key(req.method, path, q)
    seen = state.seen
    if len(seen) >= state.config.max_identities:
        seen.clear()
    h = hash(key)
    n = seen.get(h, 0)
    seen[h] = n + 1
    return f"{key}#{n}".encode()


def plan(req: Request, state: ServerState) -> Plan:
    """Turn a request into a plan; bad input becomes a 400 plan with a one-line reason."""
    path, _, query = req.target.partition("?")
    try:
        q = parse_query(query)
        route = _ROUTES.get(path)
        if route is None:
            head, _, tail = path[1:].partition("/")
            prefixed = _PREFIX_ROUTES.get(head)
            if prefixed is None:
                body = f"not found: {path}\n".encode()
                return Plan(status=404, body=body, name=q.get("name", ""), replayable=True)
            return common(req, state, path, q, lambda draws: prefixed(tail, q, req, state, draws))
        if path.startswith("/__") or path == "/metrics":
            return route("", q, req, state, None)
        return common(req, state, path, q, lambda draws: route("", q, req, state, draws))
    except (BadRequest, SpecError) as exc:
        state.recorder.bad_requests += 1
        reason = str(exc).splitlines()[0] if str(exc) else "bad request"
        return Plan(status=400, body=f"bad request: {reason}\n".encode(), internal=True)


def common(req: Request, state: ServerState, path: str, q: dict[str, str], route: Any) -> Plan:
    """Apply the shared parameters around an endpoint: ``route(draws)`` makes the answer.

    The delay, the fault, ``name``, ``gzip``, ``chunked`` and ``close`` are decided here, once for
    every endpoint (the synthetic site's pages too), from the query and the server's
    defaults; ``draws`` is None when nothing needs a seeded draw.
    """
    cfg = state.config
    fixed_delay = q.get("delay")
    spec = q.get("latency")
    lat = _latency(q, cfg.latency)
    rates = faults_mod.parse_rates(q["faults"]) if "faults" in q else cfg.faults
    forced = faults_mod.canonical(q["fault"]) if "fault" in q else None

    needs_draws = (fixed_delay is None and not lat.is_fixed) or bool(rates) or forced == "5xx"
    needs_draws = needs_draws or path.startswith("/status/") and "," in path
    draws = Draws(cfg.seed, _identity(state, req, path, q)) if needs_draws else None

    if fixed_delay is not None:
        delay_ms = float_param(q, "delay", 0.0, 0.0, cfg.max_delay_ms)
    elif lat.is_fixed:
        delay_ms = lat.a
    else:
        assert draws is not None
        delay_ms = lat.sample(draws(_LATENCY))
    if delay_ms > cfg.max_delay_ms:
        if spec is not None and lat.is_fixed:
            raise BadRequest(f"delay {delay_ms:g} ms is over the cap of {cfg.max_delay_ms:g} ms")
        delay_ms = cfg.max_delay_ms  # a drawn tail value is clipped, not refused

    fault = forced
    if fault is None and rates:
        assert draws is not None
        fault = faults_mod.choose(rates, draws(b"fault"))

    p: Plan = route(draws)
    p.delay_s = delay_ms / 1000.0
    p.name = q.get("name", "")
    if fault is not None:
        _apply_fault(p, fault, q, draws)
    if p.status not in BODYLESS:
        if flag(q, "gzip") and p.action is None:
            if p.source is None:
                p.body = gzip_module.compress(p.body, compresslevel=1, mtime=0)
            else:  # compressed as it is sent: its length is known only at the end
                p.source = Gzipped(p.source)
                p.chunked = True
            p.headers.append(("Content-Encoding", "gzip"))
        if flag(q, "chunked"):
            p.chunked = True
    if flag(q, "close"):  # a new connection per request: the client must connect again
        p.close = True
    if p.source is not None and p.action is None:
        p.action = "stream"
    p.replayable = draws is None and fault is None and p.action is None
    return p


def _apply_fault(p: Plan, fault: str, q: dict[str, str], draws: Draws | None) -> None:
    """Turn the plan into a fault: a kind of ``faults.KINDS``, or a 5xx code such as ``503``."""
    if fault[0] == "5":  # "5xx" or a code
        if fault != "5xx":
            p.status = int(fault)
        else:
            u = draws(b"code") if draws is not None else 0.0
            p.status = faults_mod.SERVER_ERRORS[int(u * len(faults_mod.SERVER_ERRORS))]
        fault = "5xx"
        p.body = b"injected server error\n"
        p.source = None
        p.content_type = TEXT
    elif fault == "429":
        retry_after = int_param(q, "retry_after", 1, 0, 86_400)
        p.status = 429
        p.body = b"too many requests\n"
        p.source = None
        p.content_type = TEXT
        p.headers.append(("Retry-After", str(retry_after)))
    else:
        p.action = fault
    p.headers.append(("X-Fault", fault))
    p.fault = fault


def canned_plan(req: Request, state: ServerState) -> Plan | None:
    """The plan of the first run-time route (:mod:`mockserver.canned`) matching ``req``.

    None when no route matches (the built-in endpoints answer).  The answer gets the
    server's latency and fault rates unless it has its own ``delay_ms`` or ``fault``;
    the request's query belongs to the application and is never read as parameters.
    """
    path, _, query = req.target.partition("?")
    candidates = state.routes.by_path.get(path)
    if candidates is None:
        return None
    for route in candidates:
        if route.matches(req.method, query):
            ans = route.take()
            break
    else:
        return None
    p = Plan(
        status=ans.status,
        body=b"" if ans.status in BODYLESS else ans.body,
        content_type=ans.content_type or TEXT,
        headers=list(ans.headers),
        name=route.name,
        route=route.id,
    )
    p.delay_s, fault, draws = server_draws(req, state, req.target, ans.delay_ms, ans.fault)
    if fault is not None:
        _apply_fault(p, fault, {}, draws)
    return p


def server_draws(
    req: Request,
    state: ServerState,
    key: str,
    delay_ms: float | None = None,
    fault: str | None = None,
    rates: faults_mod.FaultRates | None = None,
) -> tuple[float, str | None, Draws | None]:
    """The delay (seconds) and fault of a request whose query is not the server's to read.

    For answers that belong to someone else (a run-time route, a recorded site): the
    server's own latency and fault ``rates`` (default: the config's) apply, drawn from
    the request's identity under ``key``, unless ``delay_ms`` or ``fault`` is given.
    The draws are returned for :func:`_apply_fault`.
    """
    cfg = state.config
    lat = cfg.latency
    if fault is not None:
        rates = ()
    elif rates is None:
        rates = cfg.faults
    draws = None
    if (delay_ms is None and not lat.is_fixed) or rates:
        draws = Draws(cfg.seed, _identity(state, req, key, {}))
    if delay_ms is None:
        if lat.is_fixed:
            delay_ms = lat.a
        else:
            assert draws is not None
            delay_ms = lat.sample(draws(_LATENCY))
    if fault is None and rates:
        assert draws is not None
        fault = faults_mod.choose(rates, draws(b"fault"))
    return min(delay_ms, cfg.max_delay_ms) / 1000.0, fault, draws


def apply_fault(p: Plan, fault: str, draws: Draws | None) -> None:
    """Turn ``p`` into the fault ``fault`` (a kind of ``faults.KINDS``): see ``common``."""
    _apply_fault(p, fault, {}, draws)


# -- endpoints -------------------------------------------------------------------------
# Each takes (tail, query, request, state, draws) and returns a Plan.


def add(tail: str, q: dict[str, str], req: Request, state: Any, draws: Any) -> Plan:
    return Plan(body=b".")


# The index at ``/``: (the endpoint and its parameters, what it answers).
ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("/add", "wait, then answer '.' (the book's endpoint)"),
    ("/bytes/N", "N seeded bytes (made as they are sent past 1 MiB)"),
    ("/status/CODE?retry_after=S", "answer CODE (Retry-After on 429 and 503)"),
    ("/status/CODE:WEIGHT,CODE:WEIGHT", "one of the codes, drawn by weight (seeded)"),
    ("/redirect/N", "a chain of N redirects ending at /redirect/0"),
    ("/redirect-to?url=U&status=302", "one redirect to any Location, as given"),
    ("/drip?bytes=N&duration=MS&chunks=K&code=200", "N bytes streamed over MS ms in K pieces"),
    ("/echo", "the request as JSON: method, target, query, headers, body size"),
    ("/", "this list"),
)
SHARED_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("delay=MS", "answer after MS milliseconds"),
    (
        "latency=SPEC",
        "a drawn delay (seeded): MS, uniform:LO,HI, normal:MEAN,SD, lognormal:MEDIAN,P99, "
        "exp:MEAN or pareto:MIN,SHAPE",
    ),
    ("fault=KIND", "one of " + ", ".join(faults_mod.KINDS) + ", or a 5xx code"),
    ("faults=KIND:RATE,...", "a seeded chance of each kind"),
    ("retry_after=S", "the Retry-After of fault=429"),
    ("name=NAME", "the timeline the request is recorded under"),
    ("gzip=1", "a gzipped body"),
    ("chunked=1", "a chunked body"),
    ("close=1", "answer with Connection: close, then close: a new connection per request"),
)
CONTROL_ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("/__health", "ok"),
    ("/__stats", "the server's counters (JSON)"),
    ("/metrics", "the counters for Prometheus"),
    ("/__timeline?name=NAME&reset=1", "the requests under NAME, or the names (JSON)"),
    ("/__reset", "forget recordings, repeat counts, run-time routes and the request log"),
    ("/__routes", "GET: the run-time routes; POST one as JSON: add it; DELETE [?id=N]: remove"),
    ("/__requests?clear=1", "the requests received (JSON); clear=1 or DELETE: then forget them"),
    ("/__ca.pem", "with --tls: the CA that signed the server's certificate (PEM)"),
)


def _list(rows: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> list[str]:
    lines: list[str] = []
    for what, how in rows:
        lines += [f"  {what}", f"      {how}"]
    return lines


def index_text(state: ServerState) -> str:
    """The ``/`` page: every endpoint with its parameters, as plain text."""
    lines = ["mockserver: endpoints (any method; HEAD gets no body)", ""]
    lines += _list(ENDPOINTS)
    lines += ["", "Parameters every endpoint above takes:", *_list(SHARED_PARAMETERS)]
    lines += ["", "Control (never delayed, faulted, nor recorded):", *_list(CONTROL_ENDPOINTS)]
    if state.config.site_pages:
        lines += _list([("/__site?stats=1", "the synthetic site's ground truth, what was fetched")])
    added = state.routes.all()
    if added:
        lines += ["", "Routes added at run time (tried before the endpoints above):"]
        rows = []
        for r in added:
            pairs = None if r.query is None else "&".join(f"{k}={v}" for k, v in r.query.items())
            query = "" if pairs is None else "?" + pairs
            times = "" if r.times is None else f", {r.times} times"
            rows.append(
                (f"{r.method or 'any'} {r.path}{query}", f"{len(r.answers)} answer(s){times}")
            )
        lines += _list(rows)
    return "\n".join(lines) + "\n"


def index(tail: str, q: dict[str, str], req: Request, state: ServerState, draws: Any) -> Plan:
    return Plan(body=index_text(state).encode())


def echo(tail: str, q: dict[str, str], req: Request, state: Any, draws: Any) -> Plan:
    doc = {
        "method": req.method,
        "target": req.target,
        "query": q,
        "headers": req.headers,
        "body_bytes": len(req.body),
    }
    return Plan(body=json.dumps(doc).encode(), content_type=JSON)


def bytes_(tail: str, q: dict[str, str], req: Request, state: ServerState, draws: Any) -> Plan:
    n = int_param({"n": tail}, "n", 0, 0, state.config.max_bytes)
    if n > STREAM_OVER:  # made a piece at a time while the client reads (mockserver.bodies)
        return Plan(source=SeededBytes(state.config.seed, n), content_type=OCTETS)
    return Plan(body=seeded_bytes(state.config.seed, n), content_type=OCTETS)


def status(tail: str, q: dict[str, str], req: Request, state: Any, draws: Draws | None) -> Plan:
    choices = faults_mod.weighted_codes(tail)
    code = (
        choices[0][0]
        if len(choices) == 1
        else faults_mod.pick_weighted(choices, draws(b"status") if draws else 0.0)
    )
    p = Plan(status=code, body=b"" if code in BODYLESS else f"{code}\n".encode())
    if 300 <= code < 400 and code != 304:
        p.headers.append(("Location", "/redirect/0"))
    if code in (429, 503):
        p.headers.append(("Retry-After", str(int_param(q, "retry_after", 1, 0, 86_400))))
    return p


def redirect(tail: str, q: dict[str, str], req: Request, state: Any, draws: Any) -> Plan:
    n = int_param({"n": tail}, "n", 0, 0, 1000)
    if n == 0:
        return Plan(body=b".")
    query = req.target.partition("?")[2]
    location = f"/redirect/{n - 1}" + (f"?{query}" if query else "")
    return Plan(status=302, body=b"", headers=[("Location", location)])


def redirect_to(tail: str, q: dict[str, str], req: Request, state: Any, draws: Any) -> Plan:
    """``/redirect-to?url=U[&status=302]``: a redirect to any ``Location``, as given.

    For clients' redirect rules: a target on another scheme (``ftp:``), on a private
    address, or not a URL at all.  ``status`` is 301, 302, 303, 307 or 308.
    """
    code = int_param(q, "status", 302, 301, 308)
    if code not in (301, 302, 303, 307, 308):
        code = 302
    location = q.get("url", "")
    if any(c in location for c in "\r\n"):  # no header injection through the query
        location = ""
    return Plan(status=code, body=b"", headers=[("Location", location)])


def drip(tail: str, q: dict[str, str], req: Request, state: ServerState, draws: Any) -> Plan:
    n = int_param(q, "bytes", 10, 0, state.config.max_bytes)
    duration_ms = float_param(q, "duration", 1000.0, 0.0, state.config.max_delay_ms)
    pieces = int_param(q, "chunks", min(max(n, 1), 10), 1, 10_000)
    code = int_param(q, "code", 200, 200, 599)
    if code in BODYLESS:
        raise BadRequest(f"code={code} answers have no body to drip")
    return Plan(
        status=code,
        source=Fill(n),  # the stars are made as they are sent, not held
        content_type=OCTETS,
        action="drip",
        drip=(n, duration_ms / 1000.0, pieces),
    )


def stats(tail: str, q: dict[str, str], req: Request, state: ServerState, draws: Any) -> Plan:
    return Plan(body=json.dumps(state.recorder.stats()).encode(), content_type=JSON, internal=True)


def metrics(tail: str, q: dict[str, str], req: Request, state: ServerState, draws: Any) -> Plan:
    body = state.recorder.prometheus().encode()
    return Plan(body=body, content_type="text/plain; version=0.0.4", internal=True)


def timeline(tail: str, q: dict[str, str], req: Request, state: ServerState, draws: Any) -> Plan:
    rec = state.recorder
    name = q.get("name")
    if name is None:
        doc: Any = {"names": {n: len(t.starts) + t.dropped for n, t in rec.timelines.items()}}
    else:
        tl = rec.timelines.get(name) or Timeline(0)  # asking does not create a name
        doc = tl.to_json(name, rec.epoch_offset)
        if flag(q, "reset") or req.method == "DELETE":
            rec.timelines.pop(name, None)
    return Plan(body=json.dumps(doc).encode(), content_type=JSON, internal=True)


def reset(tail: str, q: dict[str, str], req: Request, state: ServerState, draws: Any) -> Plan:
    state.reset()
    return Plan(body=b'{"reset": true}', content_type=JSON, internal=True)


def health(tail: str, q: dict[str, str], req: Request, state: Any, draws: Any) -> Plan:
    return Plan(body=b"ok\n", internal=True)


def ca_pem(tail: str, q: dict[str, str], req: Request, state: ServerState, draws: Any) -> Plan:
    """``/__ca.pem``: the CA that signed this server's certificate (``--tls``; 404 without)."""
    if state.ca_pem is None:
        return Plan(
            status=404, body=b"not serving https: no CA (start with --tls)\n", internal=True
        )
    return Plan(body=state.ca_pem, content_type="application/x-pem-file", internal=True)


def routes_endpoint(
    tail: str, q: dict[str, str], req: Request, state: ServerState, draws: Any
) -> Plan:
    """``/__routes``: list (GET), add (POST, one route as JSON) or remove (DELETE) routes."""
    table = state.routes
    status = 200
    doc: Any
    if req.method in ("GET", "HEAD"):
        doc = {"routes": [r.to_json() for r in table.all()]}
    elif req.method == "DELETE":
        if "id" in q:
            removed = table.remove(int_param(q, "id", 0, 0, 2**63))
            status, doc = (200, {"removed": 1}) if removed else (404, {"removed": 0})
        else:
            doc = {"removed": table.count}
            table.clear()
        state.replay.clear()
    elif req.method == "POST":
        if state.config.workers > 1:
            raise BadRequest("run-time routes need --workers 1: each worker has its own")
        if table.count >= canned.MAX_ROUTES:
            raise BadRequest(f"more than {canned.MAX_ROUTES} routes: DELETE /__routes first")
        try:
            doc = json.loads(req.body)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise BadRequest(f"the route is not JSON: {exc}") from None
        try:
            route = canned.from_json(doc, table.next_id)
        except canned.RouteError as exc:
            raise BadRequest(f"route: {exc}") from None
        table.add(route)
        # The replay cache's answers (a 404 for this path, say) are not the answers now.
        state.replay.clear()
        doc = {"id": route.id}
    else:
        raise BadRequest(f"/__routes takes GET, POST or DELETE, not {req.method}")
    return Plan(status=status, body=json.dumps(doc).encode(), content_type=JSON, internal=True)


def requests_endpoint(
    tail: str, q: dict[str, str], req: Request, state: ServerState, draws: Any
) -> Plan:
    """``/__requests``: the request log (:mod:`mockserver.requestlog`); ``clear=1`` empties it."""
    doc = state.log.to_json(state.recorder.epoch_offset)
    doc["pid"] = os.getpid()  # which worker answered, with --workers
    if flag(q, "clear") or req.method == "DELETE":
        state.log.clear()
    return Plan(body=json.dumps(doc).encode(), content_type=JSON, internal=True)


_ROUTES: dict[str, Any] = {
    "/": index,
    "/add": add,
    "/echo": echo,
    "/drip": drip,
    "/redirect-to": redirect_to,
    "/__stats": stats,
    "/metrics": metrics,
    "/__timeline": timeline,
    "/__reset": reset,
    "/__health": health,
    "/__ca.pem": ca_pem,
    "/__routes": routes_endpoint,
    "/__requests": requests_endpoint,
}
_PREFIX_ROUTES: dict[str, Any] = {"bytes": bytes_, "status": status, "redirect": redirect}
