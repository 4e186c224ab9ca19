"""The log of requests received, for tests to assert on: ``GET /__requests``.

Every request the server plans an answer for is kept — method, target, headers, body,
when it arrived, and which run-time route (:mod:`mockserver.canned`) answered it — except
the control endpoints' own (``/__*``, ``/metrics``) and requests refused before they were
whole (a head or body over its limit, a malformed request).

It sits on the hot path, so keeping a request costs one tuple and one list append:

* a parsed request is kept as the :class:`~mockserver.routes.Request` the routes saw
  (its header dict and body already exist; nothing is copied);
* a request answered from the replay cache (``server.py``) was never parsed: its raw
  bytes are kept, and parsed only when someone reads the log.

Bounded like the timelines: the first ``request_log`` requests since the last reset, and
at most ``request_log_bytes`` of their heads and bodies; later ones are only counted
(``dropped``), so a benchmark of a million requests costs the same memory as a test.
"""

from __future__ import annotations

import base64
from typing import Any, NamedTuple, Protocol

import httptools


class Logged(Protocol):
    """A request as the log keeps it: a :class:`mockserver.routes.Request`, or :class:`Parsed`.

    (A protocol, not the class: the routes import the state, which holds the log.)
    """

    @property
    def method(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def body(self) -> bytes: ...


class Parsed(NamedTuple):
    """A request parsed from its raw bytes, when the log is read."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class RequestLog:
    """The requests of one server since the last reset (one event loop: no locks)."""

    __slots__ = ("entries", "cap", "max_bytes", "size", "dropped", "room")

    def __init__(self, cap: int, max_bytes: int) -> None:
        self.cap = cap
        self.max_bytes = max_bytes
        self.entries: list[tuple[float, Logged | bytes, int]] = []
        self.size = 0
        self.dropped = 0
        # False once ``cap`` requests are kept: the server then only counts ``dropped``,
        # without calling ``add`` (a benchmark's millionth request costs one increment).
        self.room = cap > 0

    def add(self, when: float, request: Logged | bytes, route: int, size: int) -> None:
        """Keep a request (a parsed one, or its raw bytes) of ``size`` bytes, or count it."""
        entries = self.entries
        if len(entries) < self.cap and self.size + size <= self.max_bytes:
            entries.append((when, request, route))
            self.size += size
            self.room = len(entries) < self.cap
        else:
            self.dropped += 1

    def clear(self) -> None:
        self.entries = []
        self.size = 0
        self.dropped = 0
        self.room = self.cap > 0

    def to_json(self, epoch_offset: float) -> dict[str, Any]:
        """The log as JSON: bodies in base64, times in Unix epoch seconds."""
        requests = []
        for when, request, route in self.entries:
            req: Logged = parse(request) if isinstance(request, bytes) else request
            requests.append(
                {
                    "time": when + epoch_offset,
                    "method": req.method,
                    "target": req.target,
                    "headers": req.headers,
                    "body": base64.b64encode(req.body).decode("ascii"),
                    "route": route or None,
                }
            )
        return {
            "count": len(requests),
            "dropped": self.dropped,
            "cap": self.cap,
            "requests": requests,
        }


class _Collector:
    """httptools callbacks that gather one request (headers merged as the server does)."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self.headers.get(key)
        self.headers[key] = text if old is None else f"{old}, {text}"

    def on_body(self, body: bytes) -> None:
        self.body.append(body)


def parse(data: bytes) -> Parsed:
    """One whole request from its raw bytes (a replayed request: parsed once already)."""
    collector = _Collector()
    parser = httptools.HttpRequestParser(collector)
    parser.feed_data(data)
    method = parser.get_method().decode("latin-1")
    target = collector.url.decode("utf-8")
    return Parsed(method, target, collector.headers, b"".join(collector.body))
