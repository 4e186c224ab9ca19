"""Routes added at run time: canned answers, sequences, matching, and what they refuse.

Against real servers over loopback, in a thread and in a subprocess (``both``): a test
sets a route up over HTTP, so both modes must behave the same.
"""

from __future__ import annotations

import json
import time

import pytest
from raw_http import connect, exchange, get, read_responses, read_until_closed, request

from mockserver.control import MockServerError
from mockserver.testing import RunningServer, serve


def status_of(url: str, target: str, method: str = "GET") -> int:
    return request(url, method, target)[0]


# -- answers ---------------------------------------------------------------------------


def test_json_answer_with_headers(both: RunningServer) -> None:
    both.expect("/api/items", method="GET", json=[{"id": 1}], headers={"X-Trace": "abc"})
    status, headers, body = request(both.url, "GET", "/api/items")
    assert status == 200
    assert json.loads(body) == [{"id": 1}]
    assert headers["content-type"] == "application/json"
    assert headers["x-trace"] == "abc"
    assert headers["content-length"] == str(len(body))


def test_text_and_bytes_bodies_and_their_types(both: RunningServer) -> None:
    both.expect("/text", body="héllo")
    both.expect("/bytes", body=bytes(range(256)))
    both.expect("/typed", body="<p>hi</p>", content_type="text/html")
    both.expect("/header-typed", body="a,b", headers=[("Content-Type", "text/csv")])
    status, headers, body = request(both.url, "GET", "/text")
    assert (status, body) == (200, "héllo".encode())
    assert headers["content-type"] == "text/plain; charset=utf-8"
    _, headers, body = request(both.url, "GET", "/bytes")
    assert body == bytes(range(256))
    assert headers["content-type"] == "application/octet-stream"
    assert request(both.url, "GET", "/typed")[1]["content-type"] == "text/html"
    assert request(both.url, "GET", "/header-typed")[1]["content-type"] == "text/csv"


def test_status_and_an_empty_body(both: RunningServer) -> None:
    both.expect("/created", method="POST", status=201)
    both.expect("/gone", status=204, body="never sent")
    status, headers, body = request(both.url, "POST", "/created", b"{}")
    assert (status, body, headers["content-length"]) == (201, b"", "0")
    status, headers, body = request(both.url, "GET", "/gone")
    assert (status, body) == (204, b"")
    assert "content-length" not in headers  # 204 carries no body and no length


def test_a_large_body(both: RunningServer) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB: the route's JSON stays under max_body_bytes
    both.expect("/big", body=data)
    assert request(both.url, "GET", "/big")[2] == data


def test_head_gets_the_headers_only(both: RunningServer) -> None:
    both.expect("/doc", body="twelve bytes")
    status, headers, body = request(both.url, "HEAD", "/doc")
    assert (status, body, headers["content-length"]) == (200, b"", "12")


# -- matching --------------------------------------------------------------------------


def test_method_matching(both: RunningServer) -> None:
    both.expect("/thing", method="post", body="posted")
    both.expect("/thing", method="GET", body="got")
    assert request(both.url, "POST", "/thing")[2] == b"posted"
    assert request(both.url, "GET", "/thing")[2] == b"got"
    assert status_of(both.url, "/thing", "PUT") == 404  # no route for PUT: the endpoints'


def test_any_method_by_default(both: RunningServer) -> None:
    both.expect("/any", body="x")
    for method in ("GET", "POST", "DELETE", "PATCH"):
        assert request(both.url, method, "/any")[2] == b"x"


def test_query_matching(both: RunningServer) -> None:
    both.expect("/search", query={"q": "cats", "page": "2"}, body="dict")
    both.expect("/search?q=dogs", body="inline")
    both.expect("/search", query="q=a%20b", body="string")
    both.expect("/search", body="any query")
    assert request(both.url, "GET", "/search?page=2&q=cats")[2] == b"dict"  # any order
    assert request(both.url, "GET", "/search?q=dogs")[2] == b"inline"
    assert request(both.url, "GET", "/search?q=a+b")[2] == b"string"  # decoded alike
    assert request(both.url, "GET", "/search?q=cats")[2] == b"any query"  # not all of them
    assert request(both.url, "GET", "/search?q=dogs&x=1")[2] == b"any query"  # more
    assert request(both.url, "GET", "/search")[2] == b"any query"


def test_the_first_route_added_wins(both: RunningServer) -> None:
    first = both.expect("/dup", body="first")
    both.expect("/dup", body="second")
    assert request(both.url, "GET", "/dup")[2] == b"first"
    both.clear_routes(first)
    assert request(both.url, "GET", "/dup")[2] == b"second"


def test_routes_come_before_the_endpoints(both: RunningServer) -> None:
    assert request(both.url, "GET", "/add")[2] == b"."
    both.expect("/add", body="mine")
    assert request(both.url, "GET", "/add?delay=5")[2] == b"mine"
    both.clear_routes()
    assert request(both.url, "GET", "/add")[2] == b"."


def test_the_query_of_a_route_is_the_applications(both: RunningServer) -> None:
    # delay=, fault=, name= are the endpoints' parameters, not a canned route's
    both.expect("/app", body="ok")
    started = time.perf_counter()
    status, _, body = request(both.url, "GET", "/app?delay=oops&fault=reset&name=x")
    assert (status, body) == (200, b"ok")
    assert time.perf_counter() - started < 1.0


def test_control_paths_cannot_be_routes(both: RunningServer) -> None:
    with pytest.raises(MockServerError, match="server's own") as info:
        both.expect("/__stats", body="hijacked")
    assert info.value.status == 400
    assert json.loads(both.get("/__stats"))["total"] == 0


# -- sequences and times ---------------------------------------------------------------


def test_503_twice_then_200_and_the_last_repeats(both: RunningServer) -> None:
    both.expect(
        "/flaky",
        responses=[
            {"status": 503, "headers": {"Retry-After": "0"}},
            {"status": 503},
            {"status": 200, "json": {"ok": True}},
        ],
    )
    seen = [request(both.url, "GET", "/flaky") for _ in range(5)]
    assert [s for s, _, _ in seen] == [503, 503, 200, 200, 200]
    assert seen[0][1]["retry-after"] == "0"
    assert "retry-after" not in seen[1][1]
    assert json.loads(seen[4][2]) == {"ok": True}
    [route] = both.routes()
    assert route["served"] == 5 and route["answers"] == 3


def test_times_retires_a_route(both: RunningServer) -> None:
    both.expect("/once", body="first", times=1)
    assert request(both.url, "GET", "/once")[:3:2] == (200, b"first")
    assert status_of(both.url, "/once") == 404  # used up: an unknown path again


def test_times_hands_over_to_the_next_route(both: RunningServer) -> None:
    both.expect("/retry", status=500, times=2)
    both.expect("/retry", body="fine")
    assert [status_of(both.url, "/retry") for _ in range(4)] == [500, 500, 200, 200]


def test_times_with_a_sequence(both: RunningServer) -> None:
    both.expect("/seq", responses=[{"body": "a"}, {"body": "b"}], times=3)
    bodies = [request(both.url, "GET", "/seq")[2] for _ in range(4)]
    assert bodies == [b"a", b"b", b"b", b"not found: /seq\n"]


def test_a_sequence_on_one_keep_alive_connection(both: RunningServer) -> None:
    both.expect("/k", responses=[{"status": 503}, {"body": "up"}])
    with connect(both.url) as sock:
        sock.sendall(get("/k") + get("/k") + get("/k"))  # pipelined: answered in order
        got = read_responses(sock, 3)
    assert [(r.status, r.body) for r in got] == [(503, b""), (200, b"up"), (200, b"up")]


# -- delays and faults -----------------------------------------------------------------


def test_an_answer_delay(both: RunningServer) -> None:
    both.expect("/slow", responses=[{"delay_ms": 150, "body": "late"}, {"body": "now"}])
    started = time.perf_counter()
    assert request(both.url, "GET", "/slow")[2] == b"late"
    assert time.perf_counter() - started >= 0.145
    started = time.perf_counter()
    assert request(both.url, "GET", "/slow")[2] == b"now"
    assert time.perf_counter() - started < 0.1


def test_a_reset_then_an_answer(both: RunningServer) -> None:
    both.expect("/drop", responses=[{"fault": "reset"}, {"body": "ok"}])
    with connect(both.url) as sock:
        sock.sendall(get("/drop"))
        assert read_until_closed(sock) == b""  # reset: not a byte of an answer
    assert request(both.url, "GET", "/drop")[2] == b"ok"
    assert both.stats()["faults"] == {"reset": 1}


def test_a_hang_is_never_answered(both: RunningServer) -> None:
    both.expect("/hang", fault="hang")
    with connect(both.url, timeout=0.3) as sock:
        sock.sendall(get("/hang"))
        with pytest.raises(TimeoutError):
            sock.recv(1)


def test_truncate_and_malformed(both: RunningServer) -> None:
    both.expect("/cut", body="0123456789", fault="truncate")
    both.expect("/junk", fault="malformed")
    with connect(both.url) as sock:
        sock.sendall(get("/cut"))
        raw = read_until_closed(sock)
    assert b"Content-Length: 10" in raw and raw.endswith(b"\r\n\r\n01234")
    with connect(both.url) as sock:
        sock.sendall(get("/junk"))
        assert read_until_closed(sock).startswith(b"HTTP/1.1 OK maybe")


def test_the_servers_latency_applies_to_routes() -> None:
    with serve(latency="120") as server:
        server.expect("/r", body="x")
        server.expect("/fast", body="y", delay_ms=0)
        started = time.perf_counter()
        assert request(server.url, "GET", "/r")[2] == b"x"
        assert time.perf_counter() - started >= 0.115
        assert server.timeline("")["count"] == 1
        started = time.perf_counter()
        request(server.url, "GET", "/fast")
        assert time.perf_counter() - started < 0.1


def test_the_servers_fault_rates_apply_and_are_seeded() -> None:
    def statuses(seed: int) -> list[int]:
        with serve(faults="5xx:0.5", seed=seed) as server:
            server.expect("/r", body="x")
            return [status_of(server.url, f"/r?i={i}") for i in range(30)]

    first = statuses(1)
    assert 200 in first and any(s >= 500 for s in first)
    assert statuses(1) == first  # the same seed, the same faults


def test_a_route_name_is_its_timeline(both: RunningServer) -> None:
    both.expect("/named", name="api", body="x")
    request(both.url, "GET", "/named")
    request(both.url, "GET", "/named")
    assert both.timeline("api")["count"] == 2


# -- the table: list, remove, reset, replay cache --------------------------------------


def test_list_remove_and_reset(both: RunningServer) -> None:
    a = both.expect("/a", method="GET", query={"x": "1"}, times=2, name="n")
    b = both.expect("/b")
    assert [r["id"] for r in both.routes()] == [a, b]
    assert both.routes()[0] == {
        "id": a,
        "path": "/a",
        "method": "GET",
        "query": {"x": "1"},
        "answers": 1,
        "times": 2,
        "name": "n",
        "served": 0,
    }
    both.clear_routes(a)
    assert [r["id"] for r in both.routes()] == [b]
    with pytest.raises(MockServerError) as info:
        both.clear_routes(a)
    assert info.value.status == 404
    both.reset()
    assert both.routes() == []
    assert status_of(both.url, "/b") == 404


def test_a_route_replaces_a_cached_answer(both: RunningServer) -> None:
    # The same bytes twice: the second 404 comes from the replay cache.  A route added
    # afterwards must still answer those very bytes.
    raw = get("/cached")
    assert [r.status for r in exchange(both.url, raw + raw, 2)] == [404, 404]
    both.expect("/cached", body="now")
    assert [r.body for r in exchange(both.url, raw, 1)] == [b"now"]
    both.clear_routes()
    assert [r.status for r in exchange(both.url, raw, 1)] == [404]


def test_the_index_lists_the_routes(both: RunningServer) -> None:
    both.expect("/api/items", method="GET", query={"page": "2"}, times=3)
    index = both.get("/").decode()
    assert "GET /api/items?page=2\n      1 answer(s), 3 times" in index
    both.clear_routes()
    assert "/api/items" not in both.get("/").decode()


# -- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": 99}, "not a final HTTP status"),
        ({"headers": {"Content-Length": "3"}}, "written by the server"),
        ({"headers": {"X-Bad": "a\r\nInjected: 1"}}, "line break"),
        ({"fault": "explode"}, "unknown kind"),
        ({"delay_ms": -1}, "must be a number >= 0"),
        ({"times": 0}, "times=0"),
        ({"method": "G E T"}, "not an HTTP method"),
    ],
)
def test_the_server_refuses_a_route_it_cannot_use(
    server: RunningServer, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(MockServerError, match=message) as info:
        server.expect("/x", **kwargs)
    assert info.value.status == 400
    assert server.routes() == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not JSON"),
        (b"[]", "a JSON object"),
        (b'{"path": "/x", "answers": [], "extra": 1}', "unknown route keys: extra"),
        (b'{"path": "x", "answers": [{}]}', "starting with /"),
        (b'{"path": "/x", "answers": []}', "non-empty list"),
        (b'{"path": "/x", "answers": [{"body": "***"}]}', "base64"),
        (b'{"path": "/x", "answers": [{"colour": 1}]}', "unknown answer keys"),
    ],
)
def test_malformed_route_json_is_a_400(server: RunningServer, body: bytes, message: str) -> None:
    status, _, answer = request(server.url, "POST", "/__routes", body)
    assert status == 400
    assert message.encode() in answer


def test_client_side_mistakes_are_caught_before_sending(server: RunningServer) -> None:
    with pytest.raises(ValueError, match="body= or json="):
        server.expect("/x", body="a", json={})
    with pytest.raises(ValueError, match="responses= or"):
        server.expect("/x", status=500, responses=[{}])
    with pytest.raises(ValueError, match="query"):
        server.expect("/x?a=1", query={"b": "2"})
    with pytest.raises(TypeError):
        server.expect("/x", responses=[{"colour": "red"}])


def test_workers_refuse_routes() -> None:
    # each worker process has its own table: a route would answer one request in N
    with serve(mode="subprocess", workers=2) as server:
        with pytest.raises(MockServerError, match="--workers 1"):
            server.expect("/x")


def test_a_subprocess_cannot_be_given_what_its_command_line_lacks() -> None:
    with pytest.raises(ValueError, match="max_body_bytes .* use mode='thread'"):
        with serve(mode="subprocess", max_body_bytes=10):
            pass
