"""What the server tells about itself: the timeline, /__stats and /metrics."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import pytest
from raw_http import one

from mockserver.testing import RunningServer


def run_all(url: str, targets: list[str], limit: int = 100) -> list[int]:
    async def main() -> list[int]:
        connector = aiohttp.TCPConnector(limit=limit)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def status(target: str) -> int:
                async with session.get(url + target) as resp:
                    await resp.read()
                    return resp.status

            return list(await asyncio.gather(*(status(t) for t in targets)))

    return asyncio.run(main())


def test_timeline_records_each_request(server: RunningServer) -> None:
    before = time.time()
    run_all(server.url, [f"/add?name=tl&delay=80&id={i}" for i in range(10)])
    after = time.time()
    doc = server.timeline("tl")
    assert doc["name"] == "tl"
    assert doc["count"] == 10 and doc["dropped"] == 0
    assert doc["in_flight"] == 0
    assert doc["peak_in_flight"] == 10  # all ten waited at once
    for r in doc["requests"]:
        assert before - 0.01 <= r["start"] < r["end"] <= after + 0.01  # Unix epoch seconds
        assert r["dt"] == pytest.approx(r["end"] - r["start"], abs=1e-6)
        assert 0.078 <= r["dt"] < 0.5
        assert r["status"] == 200


def test_timeline_peak_follows_the_client_limit(server: RunningServer) -> None:
    run_all(server.url, [f"/add?name=lim&delay=50&id={i}" for i in range(20)], limit=4)
    assert server.timeline("lim")["peak_in_flight"] == 4


def test_timeline_names_are_separate_and_resettable(server: RunningServer) -> None:
    run_all(server.url, ["/add?name=a", "/add?name=a", "/add?name=b"])
    assert server.get_json("/__timeline")["names"] == {"a": 2, "b": 1}
    doc = server.get_json("/__timeline?name=a&reset=1")  # read and forget
    assert doc["count"] == 2
    assert server.timeline("a")["count"] == 0
    assert server.timeline("b")["count"] == 1
    assert server.timeline("never-used")["count"] == 0
    assert "never-used" not in server.get_json("/__timeline")["names"]  # asking made none


def test_timeline_records_statuses_and_faults(server: RunningServer) -> None:
    run_all(server.url, ["/status/404?name=s", "/add?name=s&fault=503", "/add?name=s"])
    assert sorted(r["status"] for r in server.timeline("s")["requests"]) == [200, 404, 503]


def test_stats(server: RunningServer) -> None:
    run_all(server.url, ["/add", "/add?delay=30", "/status/404", "/add?fault=500"])
    one(server.url, "/add?delay=-1")  # a 400: a bad request, not a request served
    stats = server.stats()
    assert stats["total"] == 4
    assert stats["in_flight"] == 0
    assert stats["peak_in_flight"] >= 1
    assert stats["by_status"] == {"200": 2, "404": 1, "500": 1}
    assert stats["faults"] == {"5xx": 1}
    assert stats["bad_requests"] == 1
    assert stats["rejected"] == 0
    assert stats["connections"] >= 2 and stats["open_connections"] >= 1
    delay_error = stats["delay_error_ms"]
    assert delay_error["count"] == 1  # only delayed answers are measured
    assert -2.0 < delay_error["p50"] < 50.0  # generous: a real regression is much later
    assert delay_error["p50"] <= delay_error["p99"] <= delay_error["max"]
    assert stats["names"] == {"": 4}
    assert stats["uptime_s"] >= stats["since_reset_s"] >= 0
    assert stats["pid"] > 0


def test_delay_error_over_many_requests(server: RunningServer) -> None:
    run_all(server.url, [f"/add?delay=20&id={i}" for i in range(200)])
    delay_error = server.stats()["delay_error_ms"]
    assert delay_error["count"] == 200
    assert delay_error["p50"] < 100.0  # generous: shared machines are noisy


def test_internal_endpoints_are_not_counted(server: RunningServer) -> None:
    for path in ("/__stats", "/metrics", "/__timeline", "/__health"):
        assert one(server.url, path).status == 200
    assert server.stats()["total"] == 0
    assert one(server.url, "/__health").body == b"ok\n"


def test_reset(server: RunningServer) -> None:
    run_all(server.url, ["/add?name=r", "/status/500"])
    assert one(server.url, "/__reset").body == b'{"reset": true}'
    stats = server.stats()
    assert stats["total"] == 0 and stats["by_status"] == {} and stats["names"] == {}


LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"'
METRIC = re.compile(rf"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{{{LABEL}(?:,{LABEL})*\}})? (\S+)$")


def parse_prometheus(text: str) -> dict[str, float]:
    """Prometheus text format: each sample line is ``name{labels} value``."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            assert line.startswith(("# HELP ", "# TYPE ")) or not line
            continue
        match = METRIC.match(line)
        assert match, f"not a sample line: {line!r}"
        samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


def test_metrics(server: RunningServer) -> None:
    run_all(server.url, ["/add", "/add", "/status/404", "/add?fault=429", "/add?delay=5"])
    resp = one(server.url, "/metrics")
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse_prometheus(resp.body.decode())
    assert samples['mockserver_requests_total{code="200"}'] == 3
    assert samples['mockserver_requests_total{code="404"}'] == 1
    assert samples['mockserver_faults_total{kind="429"}'] == 1
    assert samples["mockserver_in_flight"] == 0
    assert samples["mockserver_open_connections"] >= 1
    assert samples["mockserver_delay_error_seconds_count"] == 1
    assert 'mockserver_delay_error_seconds{quantile="0.99"}' in samples
    for name in ("rejected_total", "bad_requests_total", "connections_total", "peak_in_flight"):
        assert f"mockserver_{name}" in samples
