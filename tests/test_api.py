"""The Python front door: both jobs, any engine and its options, also inside a running loop."""

from __future__ import annotations

import asyncio

import pytest

import concur
from concur.errors import ConcurError, SpecError
from concur.experiment import book_urls
from mockserver.testing import RunningServer, serve


def test_fetch_takes_config_fields_and_engine_options(mockserver: RunningServer) -> None:
    urls = book_urls(mockserver.url, 12, "api", delay_ms=1)
    seen: list[object] = []
    result = concur.fetch(urls, engine="threads", concurrency=3, on_record=seen.append)
    assert result.engine == "threads" and result.config.concurrency == 3
    assert [r.url for r in result.records] == urls and result.ok == 12 and len(seen) == 12
    assert mockserver.timeline("api")["peak_in_flight"] <= 3
    uv = concur.fetch(urls[:3], engine="asyncio", loop="uvloop")
    assert uv.ok == 3


def test_bad_options_are_one_clear_error() -> None:
    with pytest.raises(SpecError, match="has no option 'transport'"):
        concur.fetch([], engine="threads", transport="pool")
    with pytest.raises(KeyError, match="unknown engine"):
        concur.get_engine("curl")
    assert issubclass(SpecError, ConcurError)


def test_follow_crawls_a_site_from_a_seed() -> None:
    with serve(mode="subprocess", site_pages=30, site_hosts=1) as server:
        result = concur.follow(server.url + "/", engine="uvloop", per_host=4, max_pages=20)
        truth = server.get_json("/__site?stats=1")
    assert result.extra["mode"] == "follow" and result.extra["admitted"] == 20
    assert len(result.records) == 20  # one record per admitted URL
    assert truth["stats"]["fetched_twice_count"] == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("engine", ["asyncio", "threads"])
async def test_the_api_works_inside_a_running_event_loop(
    engine: str, mockserver: RunningServer
) -> None:
    """As in a notebook cell: a loop is running, where asyncio.run() would refuse; the
    blocking call still works, the async engines running their loop aside."""
    asyncio.get_running_loop()  # the premise: this test body runs in pytest-asyncio's loop
    urls = book_urls(mockserver.url, 5, f"loop-{engine}", delay_ms=1)
    result = concur.fetch(urls, engine=engine)
    assert result.ok == 5
