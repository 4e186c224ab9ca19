"""``Expect: 100-continue``: the client waits for a ``100 Continue`` before sending its body.

Issue 11: the server never sent one, so curl waited a second (its timeout) before every
upload.  The 100 goes out in order (after the answers to earlier pipelined requests), only
when a body is still to come, never to HTTP/1.0, and a body over the limit gets its 413
at once instead.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time

import pytest
from raw_http import connect, read_responses, read_until_closed

from mockserver.testing import RunningServer

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def post_head(length: int | None, version: str = "1.1", target: str = "/echo") -> bytes:
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return (
        f"POST {target} HTTP/{version}\r\nHost: x\r\nExpect: 100-continue\r\n{framing}\r\n\r\n"
    ).encode()


def receive(sock: socket.socket, n: int, timeout: float = 2.0) -> bytes:
    """Exactly ``n`` bytes, or what came before the timeout."""
    data = b""
    sock.settimeout(timeout)
    try:
        while len(data) < n:
            more = sock.recv(n - len(data))
            if not more:
                break
            data += more
    except TimeoutError:
        pass
    return data


def nothing_comes(sock: socket.socket, wait: float = 0.3) -> bool:
    sock.settimeout(wait)
    try:
        return sock.recv(100) == b""
    except TimeoutError:
        return True


def test_100_continue_comes_before_the_body(server: RunningServer) -> None:
    with connect(server.url) as sock:
        started = time.perf_counter()
        sock.sendall(post_head(5))
        assert receive(sock, len(CONTINUE)) == CONTINUE
        assert time.perf_counter() - started < 0.5
        sock.sendall(b"hello")
        (answer,) = read_responses(sock, 1)
    assert answer.status == 200
    assert json.loads(answer.body)["body_bytes"] == 5


def test_100_continue_for_a_chunked_body(server: RunningServer) -> None:
    with connect(server.url) as sock:
        sock.sendall(post_head(None))
        assert receive(sock, len(CONTINUE)) == CONTINUE
        sock.sendall(b"3\r\nabc\r\n0\r\n\r\n")
        (answer,) = read_responses(sock, 1)
    assert json.loads(answer.body)["body_bytes"] == 3


def test_no_100_when_the_body_came_with_the_head(server: RunningServer) -> None:
    with connect(server.url) as sock:
        sock.sendall(post_head(5) + b"hello")
        (answer,) = read_responses(sock, 1)  # the parser would show a 100 as an answer
    assert answer.status == 200


def test_no_100_without_a_body(server: RunningServer) -> None:
    with connect(server.url) as sock:
        sock.sendall(post_head(0))
        assert [r.status for r in read_responses(sock, 1)] == [200]


def test_no_100_to_http10(server: RunningServer) -> None:
    with connect(server.url) as sock:
        sock.sendall(post_head(5, version="1.0"))
        assert nothing_comes(sock)  # an HTTP/1.0 client knows no 100: it sends anyway
        sock.sendall(b"hello")
        raw = read_until_closed(sock, timeout=2)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")


def test_100_waits_for_the_answers_before_it(server: RunningServer) -> None:
    # Pipelined after a delayed request, the 100 must not cut into that request's answer.
    first = b"GET /bytes/3?delay=200 HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(server.url) as sock:
        sock.sendall(first + post_head(4))
        raw = b""
        sock.settimeout(2)
        while not raw.endswith(CONTINUE):
            more = sock.recv(10_000)
            assert more, raw
            raw += more
        answer = raw[: -len(CONTINUE)]
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert len(answer.partition(b"\r\n\r\n")[2]) == 3  # the whole first answer, then
        sock.sendall(b"body")
        (echo,) = read_responses(sock, 1)
    assert json.loads(echo.body)["body_bytes"] == 4


def test_a_body_over_the_limit_is_refused_before_it_is_sent(server: RunningServer) -> None:
    with connect(server.url) as sock:
        sock.sendall(post_head(server.config.max_body_bytes + 1))
        raw = read_until_closed(sock, timeout=2)
    assert raw.startswith(b"HTTP/1.1 413 ")
    assert CONTINUE not in raw


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_does_not_wait_for_its_expect_timeout(server: RunningServer) -> None:
    started = time.perf_counter()
    done = subprocess.run(
        ["curl", "-sS", "--expect100-timeout", "3", "-H", "Expect: 100-continue"]
        + ["--data-binary", "x" * 2000, server.url + "/echo"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["body_bytes"] == 2000
    assert elapsed < 2.0  # it would wait out the 3 s if no 100 came
