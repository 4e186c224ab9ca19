"""Raw-socket helpers for the mock server's tests: send exact bytes, parse what comes back.

A real client (aiohttp) hides what is on the wire; these helpers show it.  Responses are
parsed with httptools' response parser, so several pipelined answers on one connection
come out one by one and in order.
"""

from __future__ import annotations

import http.client
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def connect(url: str, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(address(url), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def get(path: str, headers: str = "") -> bytes:
    """The bytes of a plain keep-alive GET (``headers`` are extra CRLF-ended lines)."""
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n{headers}\r\n".encode()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    arrived: float  # time.perf_counter() when its last byte was parsed


@dataclass
class ResponseStream:
    """Feed it the bytes of a connection; complete responses collect in ``responses``."""

    responses: list[Response] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []

    def feed(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_begin(self) -> None:
        self._headers = {}
        self._body = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        body = b"".join(self._body)
        self.responses.append(Response(status, self._headers, body, time.perf_counter()))


def read_responses(sock: socket.socket, count: int, timeout: float = 5.0) -> list[Response]:
    """Read until ``count`` responses are complete; fewer if the server closes first."""
    stream = ResponseStream()
    deadline = time.monotonic() + timeout
    while len(stream.responses) < count:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            break
        stream.feed(data)
    return stream.responses


def read_until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything the server sends until it closes (or resets) the connection."""
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def exchange(url: str, data: bytes, count: int = 1, timeout: float = 5.0) -> list[Response]:
    """Open a connection, send ``data`` in one write, read ``count`` responses, close."""
    with connect(url, timeout) as sock:
        sock.sendall(data)
        return read_responses(sock, count, timeout)


def one(url: str, path: str, headers: str = "") -> Response:
    """A single GET over a fresh connection."""
    responses = exchange(url, get(path, headers))
    assert len(responses) == 1, f"no complete answer to {path}"
    return responses[0]


def request(
    url: str, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request with http.client, any status: (status, lower-case headers, body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request(method, target, body=body or None, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()
