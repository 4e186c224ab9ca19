"""A test's side of the control endpoints: routes to add, the request log, tiny HTTP clients.

:class:`mockserver.testing.RunningServer` (blocking) and
:class:`mockserver.testing.AsyncRunningServer` (``await``) offer the same methods; what
they share — turning ``expect(...)`` arguments into the JSON of ``POST /__routes``
(:mod:`mockserver.canned`), and ``GET /__requests`` into :class:`RecordedRequest` values —
is here, written once, as pure functions.  Each sends its requests with its own client:
``http.client`` for the blocking one, asyncio streams and httptools for the async one (no
third-party client, no proxy settings read from the environment).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json as json_module
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httptools

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
OCTETS_TYPE = "application/octet-stream"
_ANSWER_ARGS = ("status", "headers", "body", "json", "content_type", "delay_ms", "fault")


class _Unset:
    """The default of ``json=``, so that ``json=None`` can mean a JSON ``null`` body."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


class MockServerError(Exception):
    """The server refused a control request (a route it cannot use, say): status and reason."""

    def __init__(self, status: int, method: str, path: str, body: bytes) -> None:
        self.status = status
        self.body = body
        reason = body.decode("utf-8", "replace").strip()
        super().__init__(f"{method} {path}: {status} {reason}")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received, as ``GET /__requests`` tells it.

    ``headers`` names are lower case, repeated ones joined with ``", "``; ``target`` is
    the path and query as sent (percent-encoding kept); ``time`` is when its last bytes
    arrived (Unix epoch seconds); ``route`` is the id :meth:`RunningServer.expect` returned
    for the route that answered it, or None for a built-in endpoint or a 404.
    """

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    time: float
    route: int | None = None

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    @property
    def params(self) -> dict[str, str]:
        """The query's parameters, decoded (the last of a repeated name wins)."""
        return dict(parse_qsl(self.query, keep_blank_values=True))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json_module.loads(self.body)


@dataclass(frozen=True)
class RecordedRequests:
    """The request log: the first ``cap`` requests since the last reset; ``dropped`` more."""

    requests: list[RecordedRequest] = field(default_factory=list)
    dropped: int = 0
    cap: int = 0


def answer_doc(
    status: int | None = None,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    body: str | bytes | None = None,
    json: Any = UNSET,
    content_type: str | None = None,
    delay_ms: float | None = None,
    fault: str | None = None,
) -> dict[str, Any]:
    """One answer of a route as ``/__routes`` takes it (see :meth:`RunningServer.expect`)."""
    if body is not None and json is not UNSET:
        raise ValueError("give body= or json=, not both")
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers or [])
    if json is not UNSET:
        data = json_module.dumps(json).encode()
        kind = JSON_TYPE
    elif isinstance(body, str):
        data, kind = body.encode(), TEXT_TYPE
    elif isinstance(body, bytes | bytearray | memoryview):
        data, kind = bytes(body), OCTETS_TYPE
    elif body is None:
        data, kind = b"", TEXT_TYPE
    else:
        raise TypeError(f"body must be str or bytes, not {type(body).__name__}")
    if content_type is not None:
        kind = content_type
    if not any(name.lower() == "content-type" for name, _ in pairs):
        pairs.insert(0, ("Content-Type", kind))
    elif content_type is not None:
        raise ValueError("give content_type= or a Content-Type header, not both")
    doc: dict[str, Any] = {
        "status": 200 if status is None else status,
        "headers": [[str(name), str(value)] for name, value in pairs],
        "body": base64.b64encode(data).decode("ascii"),
    }
    if delay_ms is not None:
        doc["delay_ms"] = delay_ms
    if fault is not None:
        doc["fault"] = fault
    return doc


def route_doc(
    path: str,
    *,
    method: str | None,
    query: Mapping[str, str] | str | None,
    responses: Sequence[Mapping[str, Any]] | None,
    times: int | None,
    name: str,
    answer: dict[str, Any],
) -> bytes:
    """The body of ``POST /__routes`` for :meth:`RunningServer.expect`'s arguments."""
    path, sep, inline = path.partition("?")
    if sep:
        if query is not None:
            raise ValueError("give the query in the path or as query=, not both")
        query = inline
    if isinstance(query, str):
        query = dict(parse_qsl(query, keep_blank_values=True))
    if responses is not None:
        if any(v is not None and v is not UNSET for v in answer.values()):
            raise ValueError(f"give responses= or {', '.join(_ANSWER_ARGS)}, not both")
        if isinstance(responses, Mapping) or not responses:
            raise ValueError("responses= is a non-empty list of answers (dicts)")
        answers = [answer_doc(**r) for r in responses]
    else:
        answers = [answer_doc(**answer)]
    doc = {
        "path": path,
        "method": method,
        "query": None if query is None else dict(query),
        "answers": answers,
        "times": times,
        "name": name,
    }
    return json_module.dumps(doc).encode()


def parse_log(doc: dict[str, Any]) -> RecordedRequests:
    """``GET /__requests``'s JSON as values."""
    return RecordedRequests(
        [
            RecordedRequest(
                method=r["method"],
                target=r["target"],
                headers=r["headers"],
                body=base64.b64decode(r["body"]),
                time=r["time"],
                route=r["route"],
            )
            for r in doc["requests"]
        ],
        doc["dropped"],
        doc["cap"],
    )


def select(log: RecordedRequests, method: str | None, path: str | None) -> list[RecordedRequest]:
    """The logged requests with this method and path (None: any)."""
    wanted = None if method is None else method.upper()
    return [
        r
        for r in log.requests
        if (wanted is None or r.method == wanted) and (path is None or r.path == path)
    ]


# -- the two clients -------------------------------------------------------------------


def _address(url: str) -> tuple[str, int, ssl.SSLContext | None]:
    """Host, port, and for an https server the TLS context of a control request."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None, url
    return parts.hostname, parts.port, _control_tls() if parts.scheme == "https" else None


def _control_tls() -> ssl.SSLContext:
    """A control request's TLS: encrypted, not verified.

    Control requests are a test talking to the server it started, over loopback; whether
    the server's certificate is trusted is for the code under test to check (with the
    CA in ``server.ca_file``), not for the set-up around it.
    """
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def call(url: str, method: str, path: str, body: bytes = b"", timeout: float = 10.0) -> Any:
    """A control request, blocking: the JSON answer, or :class:`MockServerError`."""
    host, port, tls = _address(url)
    conn = (
        http.client.HTTPSConnection(host, port, timeout=timeout, context=tls)
        if tls is not None
        else http.client.HTTPConnection(host, port, timeout=timeout)
    )
    try:
        headers = {"Content-Type": JSON_TYPE} if body else {}
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if resp.status >= 400:
        raise MockServerError(resp.status, method, path, data)
    return json_module.loads(data)


class _Response:
    """httptools callbacks gathering one response."""

    def __init__(self) -> None:
        self.body: list[bytes] = []
        self.done = False

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True


async def fetch(
    url: str, method: str, path: str, body: bytes = b"", timeout: float = 10.0
) -> tuple[int, bytes]:
    """One request with asyncio streams: (status, body).  Any status, any framing."""
    host, port, tls = _address(url)

    async def exchange() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls)
        try:
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
                f"Content-Length: {len(body)}\r\n"
            )
            if body:
                head += f"Content-Type: {JSON_TYPE}\r\n"
            writer.write(head.encode("utf-8") + b"\r\n" + body)
            got = _Response()
            parser = httptools.HttpResponseParser(got)
            while not got.done:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError(f"{method} {path}: the server closed early")
                parser.feed_data(data)
            return parser.get_status_code(), b"".join(got.body)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.wait_for(exchange(), timeout)


async def call_async(
    url: str, method: str, path: str, body: bytes = b"", timeout: float = 10.0
) -> Any:
    """A control request, awaited: the JSON answer, or :class:`MockServerError`."""
    status, data = await fetch(url, method, path, body, timeout)
    if status >= 400:
        raise MockServerError(status, method, path, data)
    return json_module.loads(data)
