"""Every fault as a real client (aiohttp) sees it, per request and as server-wide rates."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import pytest
from raw_http import connect, get, read_until_closed

from mockserver import faults
from mockserver.latency import SpecError
from mockserver.testing import RunningServer, serve

Outcome = tuple[str, object]  # ("status", code) or ("error", exception class)


def outcome(url: str, timeout: float = 5.0) -> tuple[Outcome, dict[str, str]]:
    """What aiohttp makes of one request: a status with headers, or the exception it raised."""

    async def main() -> tuple[Outcome, dict[str, str]]:
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with aiohttp.ClientSession(timeout=client_timeout) as session:
            try:
                async with session.get(url) as resp:
                    await resp.read()
                    return ("status", resp.status), dict(resp.headers)
            except (aiohttp.ClientError, TimeoutError) as exc:
                return ("error", type(exc)), {}

    return asyncio.run(main())


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_fault_with_a_code(server: RunningServer, code: int) -> None:
    (kind, status), headers = outcome(f"{server.url}/bytes/10?fault={code}")
    assert (kind, status) == ("status", code)
    assert headers["X-Fault"] == "5xx"


def test_fault_5xx_picks_a_seeded_server_error(server: RunningServer) -> None:
    seen = [outcome(f"{server.url}/add?fault=5xx&id={i}")[0] for i in range(40)]
    codes = {code for _, code in seen}
    assert codes <= set(faults.SERVER_ERRORS) and len(codes) > 1
    server.reset()
    assert [outcome(f"{server.url}/add?fault=5xx&id={i}")[0] for i in range(40)] == seen


def test_fault_429_with_retry_after(server: RunningServer) -> None:
    (_, status), headers = outcome(f"{server.url}/add?fault=429&retry_after=7")
    assert status == 429
    assert headers["Retry-After"] == "7"
    assert outcome(f"{server.url}/add?fault=429")[1]["Retry-After"] == "1"


def test_fault_reset(server: RunningServer) -> None:
    (kind, exc), _ = outcome(f"{server.url}/add?fault=reset")
    assert kind == "error"
    assert issubclass(exc, aiohttp.ClientConnectionError)  # type: ignore[arg-type]
    with connect(server.url) as sock:  # on the wire: nothing, then a TCP reset
        sock.sendall(get("/add?fault=reset"))
        sock.settimeout(5)
        with pytest.raises(ConnectionResetError):
            sock.recv(100)


def test_fault_hang_is_a_client_timeout(server: RunningServer) -> None:
    started = time.perf_counter()
    (kind, exc), _ = outcome(f"{server.url}/add?fault=hang&name=h", timeout=0.3)
    assert (kind, exc) == ("error", TimeoutError)
    assert 0.25 < time.perf_counter() - started < 3.0
    for _ in range(100):  # the client gave up and closed: the server counts it as done
        if server.stats()["in_flight"] == 0:
            break
        time.sleep(0.02)
    assert server.stats()["in_flight"] == 0
    assert server.timeline("h")["requests"][0]["status"] == 0  # answered with nothing


def test_fault_truncate(server: RunningServer) -> None:
    (kind, exc), _ = outcome(f"{server.url}/bytes/100?fault=truncate")
    assert (kind, exc) == ("error", aiohttp.ClientPayloadError)
    with connect(server.url) as sock:
        sock.sendall(get("/bytes/100?fault=truncate"))
        raw = read_until_closed(sock)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Content-Length: 100" in head
    assert len(body) == 50  # short of its length, then the connection closes


def test_fault_malformed(server: RunningServer) -> None:
    (kind, exc), _ = outcome(f"{server.url}/add?fault=malformed")
    assert kind == "error"
    assert issubclass(exc, aiohttp.ClientResponseError)  # type: ignore[arg-type]
    with connect(server.url) as sock:
        sock.sendall(get("/add?fault=malformed"))
        assert not read_until_closed(sock).startswith(b"HTTP/1.1 200")


def test_fault_after_the_delay(server: RunningServer) -> None:
    started = time.perf_counter()
    assert outcome(f"{server.url}/add?fault=500&delay=150")[0] == ("status", 500)
    assert time.perf_counter() - started >= 0.145


def test_fault_aliases_and_bad_kinds(server: RunningServer) -> None:
    assert faults.normalise("timeout") == "hang"
    assert faults.normalise(" 502 ") == "5xx"
    with pytest.raises(SpecError):
        faults.normalise("explode")
    assert outcome(f"{server.url}/add?fault=explode")[0] == ("status", 400)


def test_rates_parse() -> None:
    assert faults.parse_rates("5xx:0.05, reset:0.01,") == (("5xx", 0.05), ("reset", 0.01))
    assert faults.parse_rates("503:0.1,timeout:0.2") == (("503", 0.1), ("hang", 0.2))
    for bad in ("5xx", "5xx:abc", "5xx:1.5", "5xx:-0.1", "boom:0.1", "5xx:0.6,429:0.6"):
        with pytest.raises(SpecError):
            faults.parse_rates(bad)


def statuses(url: str, targets: list[str]) -> Counter[object]:
    async def main() -> Counter[object]:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def one(target: str) -> object:
                try:
                    async with session.get(url + target) as resp:
                        await resp.read()
                        return resp.status
                except aiohttp.ClientError as exc:
                    return type(exc).__name__

            return Counter(await asyncio.gather(*(one(t) for t in targets)))

    return asyncio.run(main())


def test_per_request_rates(server: RunningServer) -> None:
    targets = [f"/add?id={i}&faults=500:0.3,429:0.2,reset:0.1" for i in range(300)]
    counts = statuses(server.url, targets)
    assert 60 <= counts[500] <= 120  # 30 %
    assert 35 <= counts[429] <= 90  # 20 %
    stats = server.stats()
    assert stats["by_status"]["429"] == counts[429]
    assert stats["faults"]["5xx"] == counts[500]
    # aiohttp retries a GET whose reused connection was reset, and the retry is a fresh
    # draw (see test_latency.test_a_retry_is_a_fresh_draw): count resets at the server.
    assert 10 <= stats["faults"]["reset"] <= 55  # 10 %
    assert stats["total"] == 300 + stats["faults"]["reset"] - sum(
        n for k, n in counts.items() if isinstance(k, str)
    )


def test_server_wide_rates() -> None:
    with serve(faults="5xx:0.5", seed=2) as server:
        counts = statuses(server.url, [f"/add?id={i}" for i in range(200)])
        assert set(counts) <= {200, 500, 502, 503, 504}
        errors = 200 - counts[200]
        assert 70 <= errors <= 130
        assert server.stats()["faults"] == {"5xx": errors}
        # A request can still ask for no faults.
        assert statuses(server.url, [f"/add?id={i}&faults=" for i in range(50)]) == {200: 50}
