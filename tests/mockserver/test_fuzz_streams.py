"""Request streams cut at random read boundaries: every valid request is answered, in order.

A server sees a connection as reads, and where one read ends is up to the network: inside
a request line, a header, a chunk size, a body.  Hypothesis builds a stream of valid
pipelined requests (some with a body, ``Content-Length`` or chunked, some asking
``Expect: 100-continue``, some delayed, some with big heads) and perhaps garbage after
them, cuts it at random places, and sends the pieces as separate writes (TCP_NODELAY,
sometimes with a pause between them).  The answers to the valid requests must all come
back, in order and right; garbage may get a 400 and a close; and the server stays up.

This is the search that found issue 11's first item: a read ending inside a head made
the next read's whole length count as header bytes, and a long pipeline got 431.  The
short run is part of every test run; ``-m slow`` runs a long one.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw_http import Response, ResponseStream, connect, one

from mockserver.testing import RunningServer, serve


class Sent:
    """One valid request: its bytes and what its answer must be.

    ``body`` is the exact answer body, or None for ``/echo`` (checked as JSON, which must
    report ``echo_bytes`` of request body).  Not a dataclass: Hypothesis would print a
    falsifying example field by field, kilobytes of padding included.
    """

    def __init__(self, data: bytes, body: bytes | None, echo_bytes: int = 0) -> None:
        self.data = data
        self.body = body
        self.echo_bytes = echo_bytes

    def __repr__(self) -> str:  # a falsifying example stays readable
        line = self.data.partition(b"\r\n")[0].decode()
        return f"<{line}, {len(self.data)} bytes>"


@st.composite
def requests(draw: st.DrawFn, i: int) -> Sent:
    pad = draw(st.sampled_from([0, 0, 0, 100, 3000, 9000]))
    headers = "Host: fuzz\r\n" + (f"X-Pad: {'p' * pad}\r\n" if pad else "")
    delay = draw(st.sampled_from(["", "", "", "&delay=1", "&delay=3"]))
    kind = draw(st.sampled_from(["add", "bytes", "length", "chunked"]))
    if kind == "add":
        return Sent(f"GET /add?id={i}{delay} HTTP/1.1\r\n{headers}\r\n".encode(), b".")
    if kind == "bytes":
        n = draw(st.integers(0, 3000))
        data = f"GET /bytes/{n}?id={i}{delay} HTTP/1.1\r\n{headers}\r\n".encode()
        return Sent(data, random.Random(f"0:{n}").randbytes(n))
    body = draw(st.binary(max_size=6000))
    if draw(st.booleans()):
        headers += "Expect: 100-continue\r\n"
    target = f"/echo?id={i}{delay}"
    if kind == "length":
        head = f"POST {target} HTTP/1.1\r\n{headers}Content-Length: {len(body)}\r\n\r\n"
        return Sent(head.encode() + body, None, len(body))
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p) + b"0\r\n\r\n"
    head = f"POST {target} HTTP/1.1\r\n{headers}Transfer-Encoding: chunked\r\n\r\n"
    return Sent(head.encode() + chunks, None, len(body))


@st.composite
def streams(draw: st.DrawFn, most: int) -> tuple[list[Sent], bytes, list[int], float]:
    """(valid requests, garbage after them, cut points, pause between pieces)."""
    n = draw(st.integers(1, most))
    sent = [draw(requests(i)) for i in range(n)]
    garbage = draw(
        st.one_of(
            st.just(b""),
            st.tuples(
                st.sampled_from([b"\x00", b"\x7f", b"{", b"\xff", b"GET / HTTP/1.1\r\n\x01"]),
                st.binary(max_size=60),
            ).map(lambda t: t[0] + t[1]),
        )
    )
    total = sum(len(s.data) for s in sent) + len(garbage)
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, total - 1)), max_size=8))))
    pause = draw(st.sampled_from([0.0, 0.0, 0.001, 0.005]))
    return sent, garbage, cuts, pause


def pieces(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    start = 0
    for cut in [*cuts, len(data)]:
        if cut > start:
            yield data[start:cut]
            start = cut


def exchange(url: str, data: bytes, cuts: list[int], pause: float) -> list[Response]:
    """Send ``data`` in pieces (then half-close) while reading every answer until the close."""
    with connect(url, timeout=10) as sock:

        def send() -> None:
            try:
                for piece in pieces(data, cuts):
                    sock.sendall(piece)
                    if pause:
                        time.sleep(pause)
                sock.shutdown(socket.SHUT_WR)  # the server answers what it has, then closes
            except OSError:
                pass  # refused and closed mid-send (garbage): fine

        sender = threading.Thread(target=send)
        sender.start()
        stream = ResponseStream()
        try:
            while True:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                stream.feed(chunk)
        except ConnectionResetError:
            pass
        finally:
            sender.join()
    return [r for r in stream.responses if r.status != 100]  # interim answers to Expect


def check(server: RunningServer, sent: list[Sent], garbage: bytes, got: list[Response]) -> None:
    answered = got[: len(sent)]
    assert len(answered) == len(sent), f"{len(answered)} of {len(sent)} answered"
    for i, (want, resp) in enumerate(zip(sent, answered, strict=True)):
        assert resp.status == 200, (i, resp.status, resp.body[:100])
        if want.body is not None:
            assert resp.body == want.body, i
        else:
            echo = json.loads(resp.body)
            assert echo["query"]["id"] == str(i)  # in order
            assert echo["body_bytes"] == want.echo_bytes
    rest = got[len(sent) :]
    assert not rest or (garbage and [r.status for r in rest] == [400]), [r.status for r in rest]


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[RunningServer]:
    with serve(header_timeout_s=5.0) as server:
        yield server


def run(server: RunningServer, case: tuple[list[Sent], bytes, list[int], float]) -> None:
    sent, garbage, cuts, pause = case
    data = b"".join(s.data for s in sent) + garbage
    check(server, sent, garbage, exchange(server.url, data, cuts, pause))
    assert one(server.url, "/add?name=after").body == b"."  # and the server stays up


COMMON = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


@settings(max_examples=40, **COMMON)
@given(case=streams(most=24))
def test_split_request_streams_are_answered_in_order(
    fuzz_server: RunningServer, case: tuple[list[Sent], bytes, list[int], float]
) -> None:
    run(fuzz_server, case)


@pytest.mark.slow
@settings(max_examples=1500, **COMMON)
@given(case=streams(most=60))
def test_split_request_streams_long_run(
    fuzz_server: RunningServer, case: tuple[list[Sent], bytes, list[int], float]
) -> None:
    run(fuzz_server, case)
