"""concur.budget: a fixed-delay run's wall time split into measured parts."""

from __future__ import annotations

import pytest

from concur.budget import budget, describe


def test_parts_of_a_made_up_run_add_up_to_wall_minus_ideal() -> None:
    # 2 in flight, 4 requests, 100 ms each; the client starts 5 ms before the first
    # arrival and ends 3 ms after the last answer.
    arrivals = [0.000, 0.002, 0.101, 0.106]  # wave 1 spread 2 ms; wave 2 ends 4 ms late
    last_end = 0.106 + 0.100 + 0.001  # the server answered 1 ms late
    wall = 0.005 + last_end + 0.003
    spent = budget(arrivals, last_end, wall, concurrency=2, delay_s=0.100)
    assert spent is not None
    assert spent.waves == 2
    assert spent.outside == pytest.approx(0.008)
    assert spent.wave0 == pytest.approx(0.002)
    assert spent.later == pytest.approx(0.004)
    assert spent.last == pytest.approx(0.001)
    assert spent.lost == pytest.approx(wall - 2 * 0.100)
    ms = spent.to_dict(scale=1e3)
    assert ms == {"waves": 2, "outside": 8.0, "wave0": 2.0, "later": 4.0, "last": 1.0, "lost": 15.0}
    assert describe(ms).startswith("15.0 ms over ideal: 8.0 ms before the first arrival")


def test_arrival_order_does_not_matter_and_an_empty_run_has_no_budget() -> None:
    arrivals = [0.3, 0.0, 0.2, 0.1]
    spent = budget(arrivals, 0.4, 0.45, concurrency=1, delay_s=0.1)
    assert spent is not None and spent.waves == 4
    assert spent.later == pytest.approx(0.0) and spent.last == pytest.approx(0.0)
    assert budget([], 0.0, 1.0, concurrency=10, delay_s=0.1) is None
