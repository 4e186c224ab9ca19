"""Every endpoint and response shape, as a real client (aiohttp) and the raw wire see it."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from typing import Any

import aiohttp
import pytest
from raw_http import connect, exchange, get, one, read_responses, read_until_closed

from mockserver import routes
from mockserver.testing import RunningServer, serve


def fetch(url: str, method: str = "GET", **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    """One request with aiohttp: (status, headers, body)."""

    async def main() -> tuple[int, dict[str, str], bytes]:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, url, **kwargs) as resp:
                return resp.status, dict(resp.headers), await resp.read()

    return asyncio.run(main())


def test_index_lists_the_endpoints(server: RunningServer) -> None:
    status, headers, body = fetch(server.url + "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    for endpoint in ("/add", "/bytes/N", "/status/CODE", "/redirect/N", "/drip", "/echo"):
        assert endpoint.encode() in body


def test_index_is_a_plain_list_with_parameters(server: RunningServer) -> None:
    text = fetch(server.url + "/")[2].decode()
    assert text.startswith("mockserver: endpoints")
    for endpoint, _ in routes.ENDPOINTS + routes.CONTROL_ENDPOINTS:
        assert f"\n  {endpoint}\n      " in text
    for parameter in ("delay=MS", "latency=SPEC", "fault=KIND", "faults=KIND:RATE", "name=NAME"):
        assert f"\n  {parameter}" in text
    assert "``" not in text and ":mod:" not in text  # not a docstring


def test_add_answers_a_dot_after_the_delay(server: RunningServer) -> None:
    started = time.perf_counter()
    status, _, body = fetch(server.url + "/add?name=book&delay=120")
    elapsed = time.perf_counter() - started
    assert (status, body) == (200, b".")
    assert elapsed >= 0.115
    assert server.timeline("book")["count"] == 1


def test_add_accepts_any_method(server: RunningServer) -> None:
    assert fetch(server.url + "/add", "POST", data=b"x" * 100)[::2] == (200, b".")


def test_unknown_path_is_404(server: RunningServer) -> None:
    status, _, body = fetch(server.url + "/nowhere")
    assert status == 404
    assert body == b"not found: /nowhere\n"


def test_bytes_are_seeded(server: RunningServer) -> None:
    status, headers, body = fetch(server.url + "/bytes/1000")
    assert status == 200
    assert len(body) == 1000
    assert headers["Content-Type"] == "application/octet-stream"
    assert fetch(server.url + "/bytes/1000")[2] == body  # the same seed, the same bytes
    assert fetch(server.url + "/bytes/0")[2] == b""
    with serve(seed=1) as other:
        assert fetch(other.url + "/bytes/1000")[2] != body  # another seed, other bytes
    with serve(seed=0) as same:
        assert fetch(same.url + "/bytes/1000")[2] == body  # and no state between servers


def test_servers_in_one_process_share_no_answers() -> None:
    # Byte-identical requests (same Host header) to two servers of one process: each
    # answers from its own config, not from what the other one answered before.
    with serve(seed=1) as a, serve(seed=2, latency="150") as b:
        first = one(a.url, "/bytes/16").body
        assert one(a.url, "/bytes/16").body == first
        started = time.perf_counter()
        assert one(b.url, "/bytes/16").body != first
        assert time.perf_counter() - started >= 0.145


def test_large_bytes_body(server: RunningServer) -> None:
    status, _, body = fetch(server.url + "/bytes/3000000")
    assert (status, len(body)) == (200, 3_000_000)


@pytest.mark.parametrize("code", [200, 201, 404, 418, 500, 503, 599])
def test_status_code(server: RunningServer, code: int) -> None:
    status, headers, body = fetch(server.url + f"/status/{code}")
    assert (status, body) == (code, f"{code}\n".encode())
    if code == 503:
        assert headers["Retry-After"] == "1"


@pytest.mark.parametrize("code", [204, 304])
def test_bodyless_status_keeps_the_connection_usable(server: RunningServer, code: int) -> None:
    # A 204 or 304 must carry no body: stray bytes would be read as the next answer.
    query = "?gzip=1&chunked=1"
    data = get(f"/status/{code}{query}") + get("/add")
    with connect(server.url) as sock:
        sock.sendall(data)
        sock.settimeout(5)
        raw = b""
        while not raw.endswith(b"\r\n\r\n."):
            chunk = sock.recv(4096)
            assert chunk, raw
            raw += chunk
    first, _, rest = raw.partition(b"\r\n\r\n")
    assert first.startswith(f"HTTP/1.1 {code} ".encode())
    assert b"Content-Length" not in first and b"Transfer-Encoding" not in first
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")


async def weighted_codes(url: str) -> list[int]:
    """The status of 400 requests to one weighted ``/status``, each URL distinct."""
    async with aiohttp.ClientSession() as session:

        async def status(i: int) -> int:
            async with session.get(f"{url}/status/200:3,500:1?id={i}") as resp:
                await resp.read()
                return resp.status

        return list(await asyncio.gather(*(status(i) for i in range(400))))


@pytest.mark.asyncio
async def test_weighted_status_draws_by_weight(server: RunningServer) -> None:
    codes = await weighted_codes(server.url)
    assert set(codes) == {200, 500}
    assert 0.15 < codes.count(500) / len(codes) < 0.35  # 1 in 4, give or take
    server.reset()  # forget repeat counts: the same URLs draw the same codes again
    assert await weighted_codes(server.url) == codes


@pytest.mark.asyncio
async def test_redirect_chain(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/redirect/3?x=1") as resp:
            assert (resp.status, await resp.read()) == (200, b".")
            assert [h.headers["Location"] for h in resp.history] == [
                "/redirect/2?x=1",
                "/redirect/1?x=1",
                "/redirect/0?x=1",
            ]
        async with session.get(server.url + "/redirect/1", allow_redirects=False) as resp:
            assert resp.status == 302
            assert resp.headers["Location"] == "/redirect/0"


@pytest.mark.asyncio
async def test_drip_is_streamed_over_time(server: RunningServer) -> None:
    arrivals = []
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        url = server.url + "/drip?bytes=50&duration=600&chunks=5"
        async with session.get(url) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Length"] == "50"
            async for piece in resp.content.iter_any():
                arrivals.append((time.perf_counter() - started, len(piece)))
    assert sum(n for _, n in arrivals) == 50
    assert len(arrivals) >= 3  # pieces, not one block at the end
    assert arrivals[0][0] < 0.45  # the first piece long before the last
    assert arrivals[-1][0] >= 0.55


def test_drip_chunked(server: RunningServer) -> None:
    status, headers, body = fetch(server.url + "/drip?bytes=7&duration=50&chunks=3&chunked=1")
    assert (status, body) == (200, b"*" * 7)
    assert headers["Transfer-Encoding"] == "chunked"


def test_chunked_response(server: RunningServer) -> None:
    status, headers, body = fetch(server.url + "/bytes/40000?chunked=1")
    assert (status, len(body)) == (200, 40000)
    assert headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in headers
    assert body == fetch(server.url + "/bytes/40000")[2]
    raw = one(server.url, "/add?chunked=1")  # the wire: one chunk and the last chunk
    assert raw.body == b"."
    with connect(server.url) as sock:
        sock.sendall(get("/add?chunked=1", "Connection: close\r\n"))
        assert read_until_closed(sock).endswith(b"\r\n\r\n1\r\n.\r\n0\r\n\r\n")


def test_gzip_response(server: RunningServer) -> None:
    plain = fetch(server.url + "/bytes/5000")[2]
    status, headers, body = fetch(server.url + "/bytes/5000?gzip=1")  # aiohttp decompresses
    assert (status, body) == (200, plain)
    assert headers["Content-Encoding"] == "gzip"
    raw = one(server.url, "/bytes/5000?gzip=1", "Accept-Encoding: gzip\r\n")
    assert gzip.decompress(raw.body) == plain
    both = one(server.url, "/bytes/5000?gzip=1&chunked=1")
    assert gzip.decompress(both.body) == plain


def test_head_has_headers_and_no_body(server: RunningServer) -> None:
    data = b"HEAD /bytes/100 HTTP/1.1\r\nHost: t\r\n\r\n" + get("/add")
    with connect(server.url) as sock:
        sock.sendall(data)
        sock.settimeout(5)
        raw = b""
        while not raw.endswith(b"\r\n\r\n."):
            chunk = sock.recv(4096)
            assert chunk, raw
            raw += chunk
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Length: 100" in head
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")  # no body bytes between the two answers
    status, headers, body = fetch(server.url + "/drip?bytes=10&duration=10", "HEAD")
    assert (status, headers["Content-Length"], body) == (200, "10", b"")


def test_echo(server: RunningServer) -> None:
    status, headers, body = fetch(
        server.url + "/echo?a=1&b=x%20y", "POST", data=b"hello", headers={"X-Test": "yes"}
    )
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    assert doc["method"] == "POST"
    assert doc["target"] == "/echo?a=1&b=x%20y"
    assert doc["query"] == {"a": "1", "b": "x y"}
    assert doc["headers"]["x-test"] == "yes"
    assert doc["body_bytes"] == 5


def test_chunked_request_body(server: RunningServer) -> None:
    data = (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    (resp,) = exchange(server.url, data)
    assert json.loads(resp.body)["body_bytes"] == 5


def test_keep_alive_and_http10(server: RunningServer) -> None:
    with connect(server.url) as sock:
        for _ in range(3):  # one connection, several requests
            sock.sendall(get("/add"))
            assert [r.body for r in read_responses(sock, 1)] == [b"."]
        sock.sendall(b"GET /add HTTP/1.0\r\n\r\n")  # HTTP/1.0: answered, then closed
        raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 200 OK") and raw.endswith(b"\r\n\r\n.")
    assert b"Connection: close" in raw


def test_redirect_to_any_location(server: RunningServer) -> None:
    import http.client
    from urllib.parse import urlsplit

    conn = http.client.HTTPConnection("127.0.0.1", urlsplit(server.url).port, timeout=5)
    conn.request("GET", "/redirect-to?url=ftp%3A%2F%2Fexample.org%2Fx&status=301")
    answer = conn.getresponse()
    assert (answer.status, answer.getheader("Location"), answer.read()) == (
        301,
        "ftp://example.org/x",
        b"",
    )
    conn.request("GET", "/redirect-to?url=%2Fadd%0d%0aX-Evil:%201")
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 302 and not answer.getheader("Location")  # no header injection
    assert answer.getheader("X-Evil") is None
    conn.close()
