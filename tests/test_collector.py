"""The collector's pacing during a run: set for the run, restored after, nested runs too."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from concur import collector
from concur.records import CrawlConfig
from mockserver.testing import RunningServer


@pytest.fixture(autouse=True)
def default_collector() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_a_run_is_paced_and_everything_is_put_back() -> None:
    with collector.paced(20_000):
        assert gc.get_threshold() == (20_000, 10, 10)
        assert gc.get_freeze_count() > 0  # what existed before the run: not walked in it
        with collector.paced(50_000):  # a nested run changes nothing
            assert gc.get_threshold() == (20_000, 10, 10)
        assert gc.get_threshold() == (20_000, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_a_program_that_turned_the_collector_off_or_up_keeps_it() -> None:
    gc.set_threshold(0)
    with collector.paced(20_000):
        assert gc.get_threshold()[0] == 0
    gc.set_threshold(100_000, 5, 5)
    with collector.paced(20_000):
        assert gc.get_threshold() == (100_000, 5, 5)
    assert gc.get_threshold() == (100_000, 5, 5)


def test_the_threshold_grows_with_concurrency_within_bounds() -> None:
    assert collector.threshold_for(1) == 700
    assert collector.threshold_for(100) == 2_500
    assert collector.threshold_for(2_000) == collector.THRESHOLD == 50_000
    assert collector.threshold_for(100_000) == 50_000


def test_an_engine_run_restores_the_collector(mockserver: RunningServer) -> None:
    from concur import get_engine

    urls = [f"{mockserver.url}/add?delay=0&id={i}" for i in range(20)]
    result = get_engine("asyncio").fetch(urls, CrawlConfig(concurrency=200))
    assert result.ok == 20
    assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0
