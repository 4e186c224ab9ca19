"""The per-page hook, on every engine that takes one, against the real mock server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import concur
from concur.engines import available_engines
from concur.errors import SpecError
from concur.report import ground_truth
from mockserver.testing import RunningServer, serve

HOSTS = ("127.0.0.2", "127.0.0.3")


@pytest.fixture(scope="module")
def site() -> Iterator[RunningServer]:
    with serve(mode="subprocess", site_pages=60, site_hosts=3, site_crawl_delay=0.0) as server:
        yield server


@pytest.mark.parametrize("engine", [e for e in available_engines() if e != "gevent"])
def test_the_hook_sees_every_answered_page_whole(engine: str, site: RunningServer) -> None:
    pages: list[concur.Page] = []
    result = concur.follow(
        site.url + "/", engine=engine, domains=HOSTS, on_page=pages.append, concurrency=4
    )
    answered = {r.url: r for r in result.records if r.status is not None}
    assert sorted(p.url for p in pages) == sorted(answered)  # each answered page, once
    truth = ground_truth(site.get_json("/__site"), site.get_json("/__site?stats=1"), result.records)
    assert truth["exact"]
    for page in pages:
        assert page.record == answered[page.url] and page.status == page.record.status
        names = [name.lower() for name, _ in page.headers]
        assert "content-type" in names and ("content-length" in names or "chunked" in str(page))
        if page.status == 200 and page.record.content_type.startswith("text/html"):
            assert page.body.lower().startswith(b"<!doctype html") and page.links
            assert len(page.links) == page.record.links and page.record.title


def test_a_hook_that_raises_does_not_stop_the_crawl(
    site: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(page: concur.Page) -> None:
        raise KeyError("a bug in the script")

    result = concur.follow(site.url + "/", domains=HOSTS, on_page=broken)
    answered = sum(1 for r in result.records if r.status is not None)
    assert result.extra["hook_errors"] == answered > 1
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and "KeyError" in said[0]


def test_gevent_and_url_lists_take_no_hook(site: RunningServer) -> None:
    if "gevent" in available_engines():
        with pytest.raises(SpecError, match="child process"):
            concur.follow(site.url + "/", engine="gevent", on_page=print)
    with pytest.raises(SpecError, match="on_record"):
        concur.get_engine("asyncio").run(("list", [site.url]), concur.CrawlConfig(), None, print)
