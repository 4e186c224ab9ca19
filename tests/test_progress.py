"""The URL list's progress bar: done of total, requests/s and requests in flight.

A fake clock drives it, and the bar is rendered to a string console: no terminal, no
timing.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from concur.progress import _Recent, progress_bar
from concur.records import ErrorKind, FetchRecord


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(i: int, took: float, end: float, error: ErrorKind | None = None) -> FetchRecord:
    return FetchRecord(i, f"http://h/{i}", 200, 1, error, 1, end - took, end)


def steady(recent: _Recent, clock: Clock, per_s: int, took: float, seconds: float) -> int:
    """Finish ``per_s`` requests a second, each having taken ``took``, for ``seconds``
    (a run's first request starts when it does: the first answer comes ``took`` later)."""
    n = 0
    if not recent.done:
        clock.now += took - 1 / per_s  # the first request starts now
    for _ in range(int(per_s * seconds)):
        clock.now += 1 / per_s
        recent.add(record(n, took, clock.now))
        n += 1
    return n


def test_little_s_law_from_finished_records() -> None:
    clock = Clock()
    recent = _Recent(total=10_000, clock=clock)
    assert recent.rates() == (0.0, 0.0)
    steady(recent, clock, per_s=1000, took=0.1, seconds=2.0)
    per_s, in_flight = recent.rates()
    assert per_s == pytest.approx(1000, rel=0.01)
    assert in_flight == pytest.approx(100, rel=0.01)  # 1000/s x 100 ms


def test_the_first_second_is_measured_from_the_first_request() -> None:
    """Before a whole window has passed, over the time since the first request started
    (not since the bar was made: an engine takes a while to open)."""
    clock = Clock()
    recent = _Recent(total=10_000, clock=clock)
    clock.now = 0.3  # the engine starting up: nothing counts yet
    steady(recent, clock, per_s=1000, took=0.05, seconds=0.5)
    per_s, in_flight = recent.rates()
    since = clock.now - (0.3 + 0.05 - 0.001 - 0.05)  # the first request began then
    assert per_s == pytest.approx(500 / since, rel=0.01)
    assert in_flight == pytest.approx(500 * 0.05 / since, rel=0.01)


def test_in_flight_is_capped_by_concurrency_and_what_is_left() -> None:
    clock = Clock()
    recent = _Recent(total=10_000, concurrency=20, clock=clock)
    steady(recent, clock, per_s=1000, took=0.1, seconds=1.0)
    assert recent.rates()[1] == 20
    clock = Clock()
    recent = _Recent(total=1000, clock=clock)
    done = steady(recent, clock, per_s=1000, took=0.1, seconds=0.99)
    assert 0 < 1000 - done < 100
    assert recent.rates()[1] == pytest.approx(1000 - done)  # capped by what is left
    for i in range(done, 1000):
        recent.add(record(i, 0.1, clock.now))
    assert recent.rates()[1] == 0  # everything is done


def test_rates_decay_when_nothing_finishes() -> None:
    clock = Clock()
    recent = _Recent(total=10_000, clock=clock)
    steady(recent, clock, per_s=500, took=0.2, seconds=1.0)
    clock.now += 0.5
    per_s, in_flight = recent.rates()
    assert per_s == pytest.approx(250, rel=0.02)  # half the window is empty
    clock.now += 1.0
    assert recent.rates() == (0.0, 0.0)


def test_the_bar_shows_rate_in_flight_and_failures() -> None:
    clock = Clock()
    terminal = Console(file=io.StringIO(), width=160)
    with progress_bar(
        300, "asyncio", enabled=True, concurrency=100, clock=clock, console=terminal
    ) as on_record:
        assert on_record is not None
        clock.now = 0.25 - 0.005  # the first answer comes 250 ms after the start
        for i in range(200):
            clock.now += 0.005  # 200 requests/s, each having taken 250 ms: 50 in flight
            on_record(record(i, 0.25, clock.now, ErrorKind.TIMEOUT if i % 50 == 0 else None))
        shown = Console(file=io.StringIO(), width=160, color_system=None)
        shown.print(on_record.progress)  # type: ignore[attr-defined]
        line = shown.file.getvalue()  # type: ignore[attr-defined]
    assert "asyncio" in line and "200/300" in line
    assert "200 req/s" in line and "~50 in flight" in line
    assert "4 failed" in line
    assert "0:00:01" in line  # elapsed, by the same clock


@pytest.mark.parametrize("width", [70, 80, 100])
def test_the_bar_is_one_line_on_a_narrow_terminal(width: int) -> None:
    """At 80 columns, the usual terminal, "in flight" wrapped onto a second line."""
    clock = Clock()
    terminal = Console(file=io.StringIO(), width=width)
    with progress_bar(
        3000, "threads", enabled=True, concurrency=200, clock=clock, console=terminal
    ) as on_record:
        assert on_record is not None
        clock.now = 0.1 - 0.0005  # the first answer comes 100 ms after the start
        for i in range(2400):
            clock.now += 0.0005  # 2,000 requests/s, each having taken 100 ms: 200 in flight
            on_record(record(i, 0.1, clock.now))
        shown = Console(file=io.StringIO(), width=width, color_system=None)
        shown.print(on_record.progress)  # type: ignore[attr-defined]
        lines = shown.file.getvalue().rstrip("\n").splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, lines
    assert "2400/3000" in lines[0] and "req/s  ~200 in flight" in lines[0]
    assert "0 failed" in lines[0]


def test_no_bar_when_disabled_or_empty() -> None:
    with progress_bar(10, "x", enabled=False) as on_record:
        assert on_record is None
    with progress_bar(0, "x", enabled=True) as on_record:
        assert on_record is None
