"""The log of requests received (``GET /__requests``): what it keeps, its bounds, its resets.

Against real servers over loopback, in a thread and in a subprocess (``both``).
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from raw_http import connect, exchange, get, read_responses, request

from mockserver.testing import RunningServer, serve


def test_each_request_with_method_target_headers_and_body(both: RunningServer) -> None:
    before = time.time()
    request(both.url, "POST", "/echo?x=1&y=a%20b", b'{"k": 2}', {"X-Token": "t"})
    request(both.url, "GET", "/add")
    after = time.time()
    first, second = both.requests()
    assert (first.method, first.target, first.path, first.query) == (
        "POST",
        "/echo?x=1&y=a%20b",
        "/echo",
        "x=1&y=a%20b",
    )
    assert first.params == {"x": "1", "y": "a b"}
    assert first.headers["x-token"] == "t"  # names in lower case
    assert first.headers["content-length"] == "8"
    assert first.body == b'{"k": 2}' and first.json() == {"k": 2} and first.text == '{"k": 2}'
    assert first.route is None  # answered by an endpoint, not a run-time route
    assert (second.method, second.target, second.body) == ("GET", "/add", b"")
    assert before - 0.01 <= first.time <= second.time <= after + 0.01


def test_the_route_that_answered(both: RunningServer) -> None:
    route = both.expect("/api", method="PUT", json={})
    request(both.url, "PUT", "/api", b"data")
    request(both.url, "GET", "/api")  # no route for GET: a 404, still logged
    put, got = both.requests()
    assert (put.route, put.body) == (route, b"data")
    assert (got.method, got.route) == ("GET", None)


def test_filters(both: RunningServer) -> None:
    for target in ("/a", "/b", "/a?x=1"):
        request(both.url, "GET", target)
    request(both.url, "POST", "/a")
    assert [r.target for r in both.requests(path="/a")] == ["/a", "/a?x=1", "/a"]
    assert [r.target for r in both.requests(method="post")] == ["/a"]
    assert [r.target for r in both.requests("GET", "/a")] == ["/a", "/a?x=1"]


def test_control_requests_are_not_logged(both: RunningServer) -> None:
    both.stats()
    both.timeline("x")
    both.get("/metrics")
    both.expect("/r")
    both.routes()
    assert both.requests() == []
    request(both.url, "GET", "/r")
    assert [r.path for r in both.requests()] == ["/r"]


def test_bad_requests_are_logged_too(both: RunningServer) -> None:
    # what the code under test got wrong is what a test wants to see
    assert request(both.url, "GET", "/add?delay=soon")[0] == 400
    assert [r.target for r in both.requests()] == ["/add?delay=soon"]


def test_replayed_requests_are_logged_in_full(both: RunningServer) -> None:
    # The same bytes three times on one connection: the second and third are answered
    # from the replay cache without being parsed; the log parses them when it is read.
    raw = get("/add?name=r", "X-Id: 7\r\nContent-Length: 3\r\n") + b"abc"
    with connect(both.url) as sock:
        for _ in range(3):
            sock.sendall(raw)
            assert read_responses(sock, 1)[0].body == b"."
    logged = both.requests()
    assert len(logged) == 3
    for r in logged:
        assert (r.method, r.target, r.body) == ("GET", "/add?name=r", b"abc")
        assert r.headers["x-id"] == "7" and r.headers["host"] == "test"


def test_pipelined_requests_keep_their_order(both: RunningServer) -> None:
    data = b"".join(get(f"/add?i={i}") for i in range(20))
    assert len(exchange(both.url, data, 20)) == 20
    assert [r.params["i"] for r in both.requests()] == [str(i) for i in range(20)]


def test_repeated_headers_are_joined(both: RunningServer) -> None:
    exchange(both.url, get("/add", "Accept: a\r\nAccept: b\r\n"))
    assert both.requests()[0].headers["accept"] == "a, b"


def test_reset_and_clear_empty_the_log(both: RunningServer) -> None:
    request(both.url, "GET", "/add")
    both.reset()
    assert both.requests() == []
    request(both.url, "GET", "/add")
    doc = both.get_json("/__requests?clear=1")  # read and forget
    assert doc["count"] == 1 and base64.b64decode(doc["requests"][0]["body"]) == b""
    assert both.requests() == []
    request(both.url, "GET", "/add")
    both.clear_requests()
    assert both.request_log().requests == []


def test_the_log_is_bounded_by_count() -> None:
    with serve(request_log=3) as server:
        for i in range(5):
            request(server.url, "GET", f"/add?i={i}")
        log = server.request_log()
        assert [r.params["i"] for r in log.requests] == ["0", "1", "2"]  # the first ones
        assert (log.dropped, log.cap) == (2, 3)
        assert server.stats()["total"] == 5  # counted all the same
        server.reset()
        request(server.url, "GET", "/add")
        assert (len(server.requests()), server.request_log().dropped) == (1, 0)


def test_the_log_is_bounded_by_bytes() -> None:
    with serve(request_log_bytes=4000) as server:
        request(server.url, "POST", "/add", b"x" * 3000)
        request(server.url, "POST", "/add", b"y" * 3000)  # would pass the budget
        request(server.url, "GET", "/add")  # still fits
        log = server.request_log()
        assert [len(r.body) for r in log.requests] == [3000, 0]
        assert log.dropped == 1


def test_the_log_can_be_off() -> None:
    with serve(mode="subprocess", request_log=0) as server:
        request(server.url, "GET", "/add")
        log = server.request_log()
        assert (log.requests, log.dropped, log.cap) == ([], 0, 0)  # not even counted


def test_bodies_of_any_bytes(both: RunningServer) -> None:
    body = bytes(range(256)) * 4
    request(both.url, "POST", "/echo", body)
    assert both.requests()[0].body == body
    assert (
        json.loads(both.get("/__requests"))["requests"][0]["body"]
        == base64.b64encode(body).decode()
    )


@pytest.mark.parametrize("n", [1, 50])
def test_concurrent_connections(both: RunningServer, n: int) -> None:
    socks = [connect(both.url) for _ in range(n)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(get(f"/add?c={i}"))
        for sock in socks:
            assert read_responses(sock, 1)[0].status == 200
    finally:
        for sock in socks:
            sock.close()
    assert sorted(int(r.params["c"]) for r in both.requests()) == list(range(n))
