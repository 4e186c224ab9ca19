"""Routes registered at run time: canned answers and answer sequences (``/__routes``).

What pytest-httpserver users reach for: a test tells the running server "answer
``GET /api/items`` with this JSON", or "answer ``/flaky`` 503 twice, then 200", and then
points the code under test at it.  The test talks to the server over HTTP, so the same
calls work whether the server runs in a thread, a subprocess or another machine:

* ``POST /__routes`` with one route as JSON (below) adds it and answers ``{"id": N}``;
* ``GET /__routes`` lists the routes with how often each has answered;
* ``DELETE /__routes`` removes them all (``?id=N``: one); ``/__reset`` does too.

:class:`mockserver.testing.RunningServer.expect` writes the JSON for you.  A route::

    {"path": "/flaky", "method": "GET", "query": null, "times": null, "name": "",
     "answers": [{"status": 503}, {"status": 200, "body": "b2s=",
                  "headers": [["Content-Type", "text/plain"]], "delay_ms": null,
                  "fault": null}]}

Matching: the method (``null``: any), the exact path, and the query (``null``: any
query; else the request's parameters must be exactly these, in any order).  Routes are
tried in the order they were added; the first that matches and is not used up answers.
Run-time routes come before the built-in endpoints (a route for ``/add`` hides it), but
never before the control endpoints (``/__*``), which cannot be registered.

Sequences: each request a route answers takes its next answer; after the last, the last
one is repeated.  With ``times`` the route answers that many requests in all and is then
used up: later requests go on to the next matching route, or to the built-in endpoints
(a 404 for an unknown path).

An answer's body is base64 over the wire (JSON, text and bytes alike).  Its delay is
``delay_ms``, else the server's latency (seeded, as for every endpoint); its ``fault``
(``reset``, ``hang``, ``truncate``, ``malformed``) is carried out instead of the answer,
else the server's fault rates apply.  Requests for ``/__*`` are never matched here.

The table is :class:`Routes`; :func:`mockserver.routes.canned_plan` makes a request's
answer and ``mockserver.routes.routes_endpoint`` is ``/__routes``.  The hot path does not
pay for any of this: the server looks in the table (a dict keyed by path) only while it
is not empty.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from mockserver import faults as faults_mod
from mockserver.latency import SpecError

_FRAMING = frozenset({"content-length", "transfer-encoding"})  # the server's to write
_ROUTE_KEYS = frozenset({"path", "method", "query", "answers", "times", "name"})
_ANSWER_KEYS = frozenset({"status", "headers", "body", "delay_ms", "fault"})
MAX_ROUTES = 10_000  # a bound on what a client can make the server hold


class RouteError(ValueError):
    """A route the server cannot use; the control endpoint answers 400 with the reason."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One canned answer: status, headers, body; optionally a delay or a fault."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = None  # None: text/plain
    headers: tuple[tuple[str, str], ...] = ()
    delay_ms: float | None = None  # None: the server's latency
    fault: str | None = None  # a faults kind carried out instead; None: the server's rates


@dataclass(slots=True)
class Route:
    """A route added at run time, and how many requests it has answered."""

    id: int
    path: str
    method: str | None  # upper case; None: any method
    query: dict[str, str] | None  # None: any query
    answers: tuple[Answer, ...]
    times: int | None  # requests answered before the route is used up; None: no limit
    name: str = ""  # the timeline name of its requests
    served: int = 0

    def matches(self, method: str, query: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.times is not None and self.served >= self.times:
            return False
        return self.query is None or self.query == dict(parse_qsl(query, True))

    def take(self) -> Answer:
        """The answer for the next request: the sequence in order, then its last one."""
        answer = self.answers[min(self.served, len(self.answers) - 1)]
        self.served += 1
        return answer

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "method": self.method,
            "query": self.query,
            "answers": len(self.answers),
            "times": self.times,
            "name": self.name,
            "served": self.served,
        }


class Routes:
    """The run-time routes of one server, by path (``by_path`` is what the server checks)."""

    def __init__(self) -> None:
        # path -> its routes in the order they were added.  Cleared in place, never
        # replaced: each connection holds this dict to test it cheaply.
        self.by_path: dict[str, list[Route]] = {}
        self.next_id = 1
        self.count = 0

    def add(self, route: Route) -> None:
        """Add a route made with ``id=next_id``."""
        self.by_path.setdefault(route.path, []).append(route)
        self.count += 1
        self.next_id = max(self.next_id, route.id) + 1

    def remove(self, route_id: int) -> bool:
        for path, routes in self.by_path.items():
            for i, route in enumerate(routes):
                if route.id == route_id:
                    del routes[i]
                    self.count -= 1
                    if not routes:
                        del self.by_path[path]
                    return True
        return False

    def clear(self) -> None:
        self.by_path.clear()
        self.count = 0

    def all(self) -> list[Route]:
        return sorted((r for routes in self.by_path.values() for r in routes), key=lambda r: r.id)


def from_json(doc: Any, route_id: int) -> Route:
    """A :class:`Route` from its JSON (see the module docstring); RouteError if unusable."""
    if not isinstance(doc, dict):
        raise RouteError("a route is a JSON object")
    unknown = set(doc) - _ROUTE_KEYS
    if unknown:
        raise RouteError(f"unknown route keys: {', '.join(sorted(unknown))}")
    path = doc.get("path")
    if not isinstance(path, str) or not path.startswith("/") or "?" in path:
        raise RouteError("path must be a string starting with / (the query goes in query)")
    if path.startswith("/__"):
        raise RouteError(f"{path}: paths starting with /__ are the server's own")
    _check_text("path", path)
    method = doc.get("method")
    if method is not None:
        if not isinstance(method, str) or not method.isalpha():
            raise RouteError(f"method {method!r} is not an HTTP method")
        method = method.upper()
    query = doc.get("query")
    if query is not None:
        if not isinstance(query, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in query.items()
        ):
            raise RouteError("query must be an object of strings (or null: any query)")
    times = doc.get("times")
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
        raise RouteError(f"times={times!r} must be an integer >= 1 (or null: no limit)")
    name = doc.get("name", "")
    if not isinstance(name, str):
        raise RouteError("name must be a string")
    answers = doc.get("answers")
    if not isinstance(answers, list) or not answers:
        raise RouteError("answers must be a non-empty list")
    return Route(
        id=route_id,
        path=path,
        method=method,
        query=query,
        answers=tuple(_answer(a) for a in answers),
        times=times,
        name=name,
    )


def _answer(doc: Any) -> Answer:
    if not isinstance(doc, dict):
        raise RouteError("an answer is a JSON object")
    unknown = set(doc) - _ANSWER_KEYS
    if unknown:
        raise RouteError(f"unknown answer keys: {', '.join(sorted(unknown))}")
    status = doc.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        raise RouteError(f"status {status!r} is not a final HTTP status code (200-599)")
    try:
        body = base64.b64decode(doc.get("body", ""), validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise RouteError("body must be base64") from None
    content_type = None
    headers: list[tuple[str, str]] = []
    raw_headers = doc.get("headers", [])
    if not isinstance(raw_headers, list):
        raise RouteError("headers must be a list of [name, value] pairs")
    for pair in raw_headers:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(x, str) for x in pair)
            and pair[0]
        ):
            raise RouteError(f"header {pair!r} is not a [name, value] pair of strings")
        name, value = pair
        _check_text("header name", name)
        _check_text("header value", value)
        if ":" in name or " " in name:
            raise RouteError(f"header name {name!r} is not a token")
        lower = name.lower()
        if lower in _FRAMING:
            raise RouteError(f"{name} is written by the server (it frames the body)")
        if lower == "content-type":
            content_type = value
        else:
            headers.append((name, value))
    delay_ms = doc.get("delay_ms")
    if delay_ms is not None:
        if not isinstance(delay_ms, int | float) or not 0 <= delay_ms < float("inf"):
            raise RouteError(f"delay_ms={delay_ms!r} must be a number >= 0")
        delay_ms = float(delay_ms)
    fault = doc.get("fault")
    if fault is not None:
        if not isinstance(fault, str):
            raise RouteError("fault must be a string")
        try:
            fault = faults_mod.canonical(fault)
        except SpecError as exc:
            raise RouteError(str(exc)) from None
    return Answer(status, body, content_type, tuple(headers), delay_ms, fault)


def _check_text(what: str, text: str) -> None:
    if any(c in text for c in "\r\n\0"):
        raise RouteError(f"{what} {text!r} holds a line break or NUL")
