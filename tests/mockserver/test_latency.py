"""Latency specs, their distributions, and seeded determinism of delays and faults."""

from __future__ import annotations

import asyncio
import statistics
import time

import aiohttp
import pytest

from mockserver import latency
from mockserver.config import ServerConfig
from mockserver.latency import Latency, SpecError
from mockserver.routes import Request, plan
from mockserver.state import ServerState
from mockserver.testing import RunningServer, serve
from mockserver.timeline import percentile

# -- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("100", Latency("fixed", 100.0)),
        ("0.25", Latency("fixed", 0.25)),
        ("fixed:100", Latency("fixed", 100.0)),
        ("const:5", Latency("fixed", 5.0)),
        ("uniform:50,150", Latency("uniform", 50.0, 150.0)),
        ("  Uniform:1.5,2.5 ", Latency("uniform", 1.5, 2.5)),
        ("normal:100,20", Latency("normal", 100.0, 20.0)),
        ("lognormal:50,1000", Latency("lognormal", 50.0, 1000.0)),
        ("exp:100", Latency("exp", 100.0)),
        ("exponential:100", Latency("exp", 100.0)),
        ("pareto:20,1.5", Latency("pareto", 20.0, 1.5)),
        ("heavy:20,1.5", Latency("pareto", 20.0, 1.5)),
    ],
)
def test_parse(spec: str, expected: Latency) -> None:
    parsed = latency.parse(spec)
    assert parsed == expected
    assert latency.parse(str(parsed)) == parsed  # str() is a spec again


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "   ",
        "bogus",
        "bogus:1",
        "uniform",
        "uniform:1",
        "uniform:1,2,3",
        "uniform:2,1",
        "fixed:1,2",
        "normal:abc,1",
        "-5",
        "nan",
        "inf",
        "1e999",
        "exp:",
        "lognormal:100,50",
        "lognormal:0,10",
        "pareto:0,1",
        "pareto:1,0",
    ],
)
def test_bad_specs(spec: str) -> None:
    with pytest.raises(SpecError) as info:
        latency.parse(spec)
    message = str(info.value)
    assert message and "\n" not in message


def test_unit_is_deterministic_and_in_range() -> None:
    values = [latency.unit(7, f"k{i}".encode()) for i in range(2000)]
    assert values == [latency.unit(7, f"k{i}".encode()) for i in range(2000)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert values != [latency.unit(8, f"k{i}".encode()) for i in range(2000)]
    assert 0.45 < statistics.fmean(values) < 0.55


# -- distributions ---------------------------------------------------------------------

N = 20_000


def draws(spec: str) -> list[float]:
    dist = latency.parse(spec)
    return sorted(dist.sample(latency.unit(1, str(i).encode())) for i in range(N))


def test_fixed_and_uniform() -> None:
    assert set(draws("100")) == {100.0}
    values = draws("uniform:50,150")
    assert 50.0 <= values[0] and values[-1] <= 150.0
    assert statistics.fmean(values) == pytest.approx(100.0, rel=0.02)


def test_normal() -> None:
    values = draws("normal:100,20")
    assert statistics.fmean(values) == pytest.approx(100.0, rel=0.02)
    assert statistics.stdev(values) == pytest.approx(20.0, rel=0.05)
    assert min(draws("normal:10,20")) == 0.0  # clipped: never a negative delay


def test_lognormal_median_and_p99_are_as_asked() -> None:
    values = draws("lognormal:50,1000")
    assert percentile(values, 50) == pytest.approx(50.0, rel=0.05)
    assert percentile(values, 99) == pytest.approx(1000.0, rel=0.15)
    assert values[0] > 0.0


def test_exponential() -> None:
    values = draws("exp:100")
    assert statistics.fmean(values) == pytest.approx(100.0, rel=0.05)
    assert percentile(values, 50) == pytest.approx(100.0 * 0.6931, rel=0.05)


def test_pareto_heavy_tail() -> None:
    values = draws("pareto:20,1.5")
    assert values[0] >= 20.0
    assert percentile(values, 50) == pytest.approx(20.0 * 2 ** (1 / 1.5), rel=0.05)
    assert percentile(values, 99) > 10 * percentile(values, 50)  # the tail is heavy


# -- determinism: the plan of a request ------------------------------------------------


def planned(seed: int, targets: list[str], **config: object) -> list[tuple[float, int]]:
    """(delay, status) the router plans for each target, on a fresh server state."""
    state = ServerState(ServerConfig(seed=seed, **config))  # type: ignore[arg-type]
    plans = [plan(Request("GET", t), state) for t in targets]
    return [(p.delay_s, p.status) for p in plans]


TARGETS = [f"/add?id={i}&latency=lognormal:20,400&faults=5xx:0.3" for i in range(200)]


def test_same_seed_same_delays_and_faults() -> None:
    first = planned(3, TARGETS)
    assert first == planned(3, TARGETS)
    assert len({d for d, _ in first}) > 150  # really drawn, not constant
    assert 30 < sum(s >= 500 for _, s in first) < 90


def test_another_seed_other_delays_and_faults() -> None:
    assert planned(3, TARGETS) != planned(4, TARGETS)
    same = sum(a == b for a, b in zip(planned(3, TARGETS), planned(4, TARGETS), strict=True))
    assert same < 10


def test_name_does_not_change_the_draw() -> None:
    as_a = planned(3, [t + "&name=a" for t in TARGETS])
    as_b = planned(3, [t + "&name=engine-b" for t in TARGETS])
    assert as_a == as_b == planned(3, TARGETS)


def test_query_order_does_not_change_the_draw() -> None:
    one_way = planned(3, ["/add?a=1&b=2&latency=exp:50"])
    assert planned(3, ["/add?b=2&latency=exp:50&a=1"]) == one_way


def test_a_retry_is_a_fresh_draw() -> None:
    # The same URL asked again (a retry) draws again, so a retried 5xx can succeed.
    target = "/add?latency=uniform:0,1000&faults=5xx:0.5"
    repeated = planned(3, [target] * 50)
    assert len({d for d, _ in repeated}) == 50
    assert repeated == planned(3, [target] * 50)  # still deterministic from a fresh start


def test_server_wide_latency_is_seeded() -> None:
    targets = [f"/bytes/10?id={i}" for i in range(50)]
    spread = planned(5, targets, latency=latency.parse("uniform:0,100"))
    assert spread == planned(5, targets, latency=latency.parse("uniform:0,100"))
    assert len({d for d, _ in spread}) == 50


def test_drawn_tail_is_clipped_at_the_cap_but_a_fixed_ask_is_refused() -> None:
    targets = [f"/add?id={i}&latency=pareto:10,0.2" for i in range(100)]
    delays = [d for d, _ in planned(3, targets, max_delay_ms=1000.0)]
    assert max(delays) == 1.0  # heavy tail, clipped to the cap (seconds)
    assert planned(3, ["/add?latency=2000"], max_delay_ms=1000.0) == [(0.0, 400)]


# -- determinism over the wire ---------------------------------------------------------


def fetch_all(url: str, targets: list[str]) -> list[int]:
    async def main() -> list[int]:
        async with aiohttp.ClientSession() as session:

            async def status(target: str) -> int:
                async with session.get(url + target) as resp:
                    await resp.read()
                    return resp.status

            return list(await asyncio.gather(*(status(t) for t in targets)))

    return asyncio.run(main())


def dts(server: RunningServer, name: str) -> list[float]:
    return [r["dt"] for r in server.timeline(name)["requests"]]


def test_two_servers_with_one_seed_answer_alike() -> None:
    # Over real sockets: the same faults, and delays that match to within the jitter.
    targets = [f"/add?id={i}&latency=uniform:0,400&faults=5xx:0.5" for i in range(30)]
    runs = []
    for _ in range(2):
        with serve(seed=11) as server:
            statuses = fetch_all(server.url, [t + "&name=x" for t in targets])
            timeline = server.timeline("x")["requests"]
        runs.append((statuses, timeline))
    (statuses_a, tl_a), (statuses_b, tl_b) = runs
    assert statuses_a == statuses_b
    assert 5 < statuses_a.count(200) < 25
    # The timeline is in completion order; compare the sorted delays.
    delays_a = sorted(r["dt"] for r in tl_a)
    delays_b = sorted(r["dt"] for r in tl_b)
    assert max(abs(a - b) for a, b in zip(delays_a, delays_b, strict=True)) < 0.08
    with serve(seed=12) as other:
        assert fetch_all(other.url, targets) != statuses_a


def test_delays_are_kept(server: RunningServer) -> None:
    started = time.perf_counter()
    statuses = fetch_all(server.url, [f"/add?name=d&delay={ms}" for ms in (50, 100.5, 200)])
    assert statuses == [200, 200, 200]
    assert time.perf_counter() - started < 1.0  # concurrently, not one after another
    measured = sorted(dts(server, "d"))
    for asked, got in zip((0.050, 0.1005, 0.200), measured, strict=True):
        assert asked - 0.002 <= got < asked + 0.1


def test_a_delay_is_never_cut_short(server: RunningServer) -> None:
    # The event loop's timers have a 1 ms grain and may fire early; answers must not.
    targets = [f"/add?name=f&delay={d / 7:.3f}&id={d}" for d in range(1, 150)]
    assert fetch_all(server.url, targets) == [200] * len(targets)
    asked = sorted(d / 7 / 1000 for d in range(1, 150))
    got = sorted(dts(server, "f"))
    assert all(g >= a - 1e-6 for a, g in zip(asked, got, strict=True))


def test_per_request_latency_spec(server: RunningServer) -> None:
    targets = [f"/add?name=u&id={i}&latency=uniform:100,200" for i in range(20)]
    assert fetch_all(server.url, targets) == [200] * 20
    measured = dts(server, "u")
    assert len(measured) == 20
    assert min(measured) >= 0.098 and max(measured) < 0.3
    assert max(measured) - min(measured) > 0.03  # spread, not one fixed delay


def test_server_wide_default_latency() -> None:
    with serve(latency="150") as server:
        started = time.perf_counter()
        assert fetch_all(server.url, ["/bytes/3", "/add?delay=0"]) == [200, 200]
        assert time.perf_counter() - started >= 0.145  # the default applies...
        assert min(dts(server, "")) < 0.05  # ...and delay=0 overrides it
